//! The datagen [`ExportSource`]: row ranges generated in parallel, delivered in order.

use std::ops::Range;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::options::closest;
use arrowport_core::split::foreign_token;
use arrowport_core::stream::ordered_parallel;
use arrowport_core::{
    Context, Error, ExportSource, ProgressEvent, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, SourceCapabilities, Split, SplitToken, async_trait,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

use crate::config::{Config, MAX_BATCH_SIZE, Profile};
use crate::generate::{Generator, schema_of};

/// Splits per worker the plan aims for. A split can be generated on its own, anywhere; `open`
/// cuts splits further into parts of `BUFFER` batches to keep every worker busy.
const SPLITS_PER_WORKER: u64 = 4;

/// Splits never grow much beyond this many rows, so `plan` stays informative for big tables.
const ROWS_PER_SPLIT: u64 = 1 << 20;

/// Upper bound on the split count, so planning a near-endless table stays cheap.
const MAX_SPLITS: u64 = 4096;

/// Batches a running part may produce ahead of the consumer, and batches per part.
///
/// `ordered_parallel` delivers parts in order and lets each run only this far ahead, so a
/// part longer than the buffer would stall until the consumer reaches it: big parts would
/// leave all but one core idle. Parts of exactly this many batches run to completion at once.
const BUFFER: usize = 2;

/// Parts handed to one `ordered_parallel` call. Parts are cut lazily, a wave at a time, so a
/// near-endless table never materializes its part list.
const WAVE: usize = 1024;

/// A deterministic synthetic table. Cheap to build and to clone; nothing happens until a
/// stream is polled.
#[derive(Debug, Clone)]
pub struct DatagenSource {
    config: Config,
}

/// What a scan resolves to: the projected generator, the batch size and the row ranges.
struct Read {
    generator: Generator,
    columns: Option<Vec<String>>,
    batch_size: usize,
    rows: u64,
    splits: Vec<Range<u64>>,
}

/// A split's token: the table it belongs to (every option that decides a value), the
/// batch size and columns it was planned with, and its rows.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    profile: Profile,
    seed: u64,
    rows: u64,
    dim: Option<usize>,
    batch_size: usize,
    columns: Option<Vec<String>>,
    start: u64,
    end: u64,
}

impl DatagenSource {
    pub fn new(config: Config) -> Self {
        DatagenSource { config }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn read(&self, scan: &Scan, cx: &Context) -> Result<Read> {
        let projection = match &scan.columns {
            Some(names) => Some(self.column_indices(names)?),
            None => None,
        };
        let generator = Generator::new(&self.config, projection.as_deref())?;
        // `Scan::batch_size` is a preference: honour it within what one batch may hold.
        let batch_size = scan
            .batch_size
            .unwrap_or(self.config.batch_size)
            .clamp(1, MAX_BATCH_SIZE);
        let rows = scan
            .limit
            .map_or(self.config.rows, |limit| limit.min(self.config.rows));
        let splits = split_ranges(rows, batch_size as u64, scan.parallelism_or(cx));
        Ok(Read {
            generator,
            columns: scan.columns.clone(),
            batch_size,
            rows,
            splits,
        })
    }

    fn token(&self, read: &Read, range: &Range<u64>) -> Result<SplitToken> {
        let token = Token {
            profile: self.config.profile,
            seed: self.config.seed,
            rows: self.config.rows,
            dim: self.config.dim,
            batch_size: read.batch_size,
            columns: read.columns.clone(),
            start: range.start,
            end: range.end,
        };
        SplitToken::new(crate::NAME, &token)
    }

    /// The token's split, after checking that it belongs to this table: a token of another
    /// seed, profile or size would silently yield other rows.
    fn split_of(&self, token: &SplitToken) -> Result<Token> {
        let t: Token = token.decode(crate::NAME)?;
        let c = &self.config;
        let ours = (c.profile, c.seed, c.rows, c.dim);
        if (t.profile, t.seed, t.rows, t.dim) != ours {
            let table = |(profile, seed, rows, _): (Profile, u64, u64, Option<usize>)| {
                format!("the table profile={profile} seed={seed} rows={rows}")
            };
            let theirs = (t.profile, t.seed, t.rows, t.dim);
            return Err(foreign_token(crate::NAME, &table(theirs), &table(ours)));
        }
        if t.start > t.end || t.end > t.rows || t.batch_size == 0 || t.batch_size > MAX_BATCH_SIZE {
            return Err(Error::config(format!(
                "{}: the split token's rows {}..{} or batch size {} do not fit the table",
                crate::NAME,
                t.start,
                t.end,
                t.batch_size
            )));
        }
        Ok(t)
    }

    /// Resolves column names against the profile. The pipeline validates them before `open`,
    /// but direct callers get the same error.
    fn column_indices(&self, names: &[String]) -> Result<Vec<usize>> {
        let schema = schema_of(self.config.profile, Some(self.config.vector_dim()));
        let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        names
            .iter()
            .map(|name| {
                schema.index_of(name).map_err(|_| {
                    let hint = closest(name, known.iter().copied())
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default();
                    Error::config(format!(
                        "{}: unknown column `{name}`; {hint}profile {} has: {}",
                        crate::NAME,
                        self.config.profile,
                        known.join(", ")
                    ))
                })
            })
            .collect()
    }
}

/// Cuts `0..rows` into contiguous ranges that start on multiples of `batch_size`, so batches
/// fall on the same row boundaries whatever the parallelism. Aims for `SPLITS_PER_WORKER`
/// splits per worker, or about `ROWS_PER_SPLIT` rows each for big tables; never empty.
fn split_ranges(rows: u64, batch_size: u64, parallelism: usize) -> Vec<Range<u64>> {
    if rows == 0 {
        return Vec::new();
    }
    let wanted = (parallelism as u64 * SPLITS_PER_WORKER)
        .max(rows.div_ceil(ROWS_PER_SPLIT))
        .clamp(1, MAX_SPLITS);
    let per_split = rows.div_ceil(batch_size).div_ceil(wanted) * batch_size;
    let mut splits = Vec::new();
    let mut start = 0;
    while start < rows {
        let end = start.saturating_add(per_split).min(rows);
        splits.push(start..end);
        start = end;
    }
    splits
}

/// Consecutive pieces of `range` of `step` rows each (the last may be shorter).
fn pieces(range: Range<u64>, step: u64) -> impl Iterator<Item = Range<u64>> {
    (0..(range.end - range.start).div_ceil(step)).map(move |i| {
        let start = range.start + i * step;
        start..range.end.min(start + step)
    })
}

impl DatagenSource {
    /// Tells the pipeline and the manifest what will be generated.
    fn record(&self, cx: &Context, rows: u64) {
        cx.report().promise_rows(rows);
        self.record_info(cx);
        cx.emit(ProgressEvent::Total {
            rows: Some(rows),
            bytes: None,
        });
    }

    /// The table's identity, for the manifest.
    fn record_info(&self, cx: &Context) {
        cx.report().set_info(
            "generator",
            serde_json::json!({
                "plugin": crate::NAME,
                "profile": self.config.profile.as_str(),
                "seed": self.config.seed,
                "rows": self.config.rows,
            }),
        );
    }
}

/// The batches of `splits`, generated on `parallelism` workers and delivered in order.
///
/// Split starts are multiples of the batch size, so parts and batches are too: batch
/// boundaries are the same whatever the split count, and a split read alone yields the
/// batches a whole read yields for its rows. Nothing runs until the stream is polled, and
/// dropping it aborts the running wave's tasks.
fn generate(
    generator: Arc<Generator>,
    splits: impl IntoIterator<Item = Range<u64>, IntoIter: Send + 'static>,
    batch_size: usize,
    parallelism: usize,
) -> BoxStream<'static, Result<arrowport_core::arrow::record_batch::RecordBatch>> {
    let batch = batch_size as u64;
    // One part: BUFFER batches, generated on a worker.
    let produce = move |part: Range<u64>| {
        let generator = generator.clone();
        futures::stream::iter(pieces(part, batch))
            .map(move |b| generator.batch(b.start, (b.end - b.start) as usize))
    };
    let parts = splits
        .into_iter()
        .flat_map(move |split| pieces(split, batch * BUFFER as u64));
    futures::stream::iter(parts)
        .chunks(WAVE)
        .flat_map(move |wave| ordered_parallel(wave, parallelism, BUFFER, produce.clone()))
        .boxed()
}

#[async_trait]
impl ExportSource for DatagenSource {
    async fn schema(&self, _cx: &Context) -> Result<SchemaRef> {
        self.config.validate()?;
        Ok(schema_of(self.config.profile, self.config.dim))
    }

    async fn plan(&self, scan: &Scan, cx: &Context) -> Result<Vec<Split>> {
        let read = self.read(scan, cx)?;
        self.record_info(cx);
        read.splits
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let split = Split::new(
                    i,
                    format!("rows {}..{}", r.start, r.end),
                    self.token(&read, r)?,
                );
                Ok(split.with_rows(r.end - r.start))
            })
            .collect()
    }

    async fn open(&self, scan: &Scan, cx: &Context) -> Result<SendableRecordBatchStream> {
        let Read {
            generator,
            batch_size,
            rows,
            splits,
            ..
        } = self.read(scan, cx)?;
        self.record(cx, rows);
        let schema = generator.schema();
        let stream = generate(
            Arc::new(generator),
            splits,
            batch_size,
            scan.parallelism_or(cx),
        );
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    async fn open_split(
        &self,
        token: &SplitToken,
        cx: &Context,
    ) -> Result<SendableRecordBatchStream> {
        let split = self.split_of(token)?;
        let projection = match &split.columns {
            Some(names) => Some(self.column_indices(names)?),
            None => None,
        };
        let generator = Generator::new(&self.config, projection.as_deref())?;
        let schema = generator.schema();
        let stream = generate(
            Arc::new(generator),
            std::iter::once(split.start..split.end),
            split.batch_size,
            cx.parallelism(),
        );
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    fn capabilities(&self) -> SourceCapabilities {
        SourceCapabilities::new(true, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row in exactly one split, in order, splits aligned to batches and never empty.
    fn assert_tiles(rows: u64, batch: u64, splits: &[Range<u64>]) {
        let mut next = 0;
        for s in splits {
            assert_eq!(s.start, next);
            assert!(s.end > s.start);
            assert_eq!(s.start % batch, 0);
            next = s.end;
        }
        assert_eq!(next, rows);
    }

    #[test]
    fn splits_tile_the_rows() {
        for (rows, batch, par) in [
            (1, 8192, 2),
            (100_000, 8192, 2),
            (100_000, 1, 2),
            (8192 * 3, 8192, 16),
            (10_000_000, 8192, 2),
            (999_999, 1000, 3),
        ] {
            let splits = split_ranges(rows, batch, par);
            assert_tiles(rows, batch, &splits);
            let wanted = (par as u64 * SPLITS_PER_WORKER).max(rows.div_ceil(ROWS_PER_SPLIT));
            assert!(
                splits.len() as u64 <= wanted,
                "{rows} {batch} {par}: {}",
                splits.len()
            );
        }
        assert!(split_ranges(0, 10, 2).is_empty());
        assert_eq!(split_ranges(100_000, 8192, 2).len(), 7);
    }

    #[test]
    fn huge_tables_get_a_bounded_plan() {
        let rows = i64::MAX as u64;
        let splits = split_ranges(rows, 8192, 2);
        assert!(splits.len() as u64 <= MAX_SPLITS);
        assert_tiles(rows, 8192, &splits);
    }

    #[test]
    fn pieces_cover_a_range() {
        let got: Vec<_> = pieces(16..41, 10).collect();
        assert_eq!(got, [16..26, 26..36, 36..41]);
        assert_eq!(pieces(0..0, 10).count(), 0);
    }
}
