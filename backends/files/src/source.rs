//! The file [`ExportSource`]: a table of files, cut into splits (row groups, record batches,
//! byte ranges), read on `parallelism` workers and delivered in path and split order.

use std::path::PathBuf;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::{Schema, SchemaRef};
use arrowport_core::options::closest;
use arrowport_core::stream::ordered_parallel;
use arrowport_core::{
    Context, Error, ErrorKind, ExportSource, ProgressEvent, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, SourceCapabilities, Split, SplitToken, async_trait,
};
use tokio::sync::OnceCell;

use crate::NAME;
use crate::config::{Config, Format, MAX_BATCH_SIZE};
use crate::location::Location;
use crate::read::{self, text::TextSpec};
use crate::table::{Layout, Table, TableFile, resolve};
use crate::token::{Column, Part, Token};

/// Batches a running split may read ahead of the consumer.
const BUFFER: usize = 2;

/// Local files read as one table. Building it touches nothing; the files are listed and
/// their schemas read once, when the schema or a plan is first asked for, and that listing
/// is the snapshot every later plan of this source reads (build a new source to see new
/// files). Every split token names its file's size and modification time, so a file that
/// changes afterwards fails its read instead of giving other rows.
#[derive(Debug)]
pub struct FilesSource {
    config: Config,
    location: Location,
    table: OnceCell<Arc<Table>>,
}

impl FilesSource {
    /// A source of the files at `location` (a path, a directory or a glob).
    pub fn new(location: &str, config: Config) -> Result<Self> {
        config.validate()?;
        Ok(FilesSource {
            config,
            location: Location::parse(location)?,
            table: OnceCell::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The listed table, resolved on the blocking pool the first time.
    async fn table(&self) -> Result<Arc<Table>> {
        self.table
            .get_or_try_init(|| async {
                let (location, config) = (self.location.clone(), self.config.clone());
                tokio::task::spawn_blocking(move || resolve(&location, &config))
                    .await
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Unexpected,
                            format!("{NAME}: listing failed: {e}"),
                        )
                    })?
                    .map(Arc::new)
            })
            .await
            .cloned()
    }

    fn tokens(&self, table: &Table, scan: &Scan) -> Result<Vec<(Split, Token)>> {
        let indices: Vec<usize> = match &scan.columns {
            Some(names) => names
                .iter()
                .map(|n| column_index(&table.schema, n))
                .collect::<Result<_>>()?,
            None => (0..table.schema.fields().len()).collect(),
        };
        let columns: Vec<Column> = indices
            .iter()
            .map(|&i| Column::of(table.schema.field(i)))
            .collect();
        let batch_size = scan
            .batch_size
            .unwrap_or(self.config.batch_size)
            .clamp(1, MAX_BATCH_SIZE);
        let dialect = self.config.dialect()?;
        let mut out = Vec::new();
        for file in &table.files {
            let partition: Vec<(String, Option<String>)> = table
                .partition_names
                .iter()
                .cloned()
                .zip(file.partition.iter().cloned())
                .collect();
            let text = file.format.is_text().then(|| TextSpec {
                dialect: (file.format == Format::Csv).then_some(dialect),
                file_columns: file
                    .csv_columns
                    .as_ref()
                    .map(|(c, _)| c.clone())
                    .unwrap_or_default(),
                check_names: file.csv_columns.as_ref().is_some_and(|(_, check)| *check),
                strict: file.format == Format::Ndjson
                    && self.config.schema.is_none()
                    && scan.columns.is_none(),
                bad_rows: self.config.on_bad_rows,
            });
            for (part, rows, bytes) in self.parts(file) {
                let description = describe(&file.found.rel, &part);
                let token = Token {
                    path: file.found.rel.clone(),
                    size: file.found.size,
                    mtime_ns: file.found.mtime_ns,
                    format: file.format,
                    part,
                    columns: columns.clone(),
                    partition: partition.clone(),
                    batch_size,
                    text: text.clone(),
                    verify: file.verify.clone(),
                };
                let mut split = Split::new(out.len(), description, SplitToken::new(NAME, &token)?)
                    .with_bytes(bytes);
                if let Some(rows) = rows {
                    split = split.with_rows(rows);
                }
                out.push((split, token));
            }
        }
        Ok(out)
    }

    /// A file's parts, each with its rows (when known before reading) and bytes.
    fn parts(&self, file: &TableFile) -> Vec<(Part, Option<u64>, u64)> {
        let size = file.found.size;
        let target = self.config.split_size;
        if let Some(v) = &file.verify {
            return vec![(Part::Whole, Some(v.rows), size)];
        }
        match &file.layout {
            Layout::RowGroups(groups) => group(groups, target)
                .into_iter()
                .map(|(first, count, rows, bytes)| {
                    (Part::RowGroups { first, count }, Some(rows), bytes)
                })
                .collect(),
            Layout::Batches(batches) => group(batches, target)
                .into_iter()
                .map(|(first, count, rows, bytes)| {
                    (Part::Batches { first, count }, Some(rows), bytes)
                })
                .collect(),
            Layout::Stream => vec![(Part::Whole, None, size)],
            Layout::Text if size == 0 => Vec::new(),
            Layout::Text => {
                let cut = file.format == Format::Ndjson || self.config.csv_split;
                let step = if cut { target } else { size };
                (0..size.div_ceil(step))
                    .map(|i| {
                        let start = i * step;
                        let end = (start + step).min(size);
                        (Part::Bytes { start, end }, None, end - start)
                    })
                    .collect()
            }
        }
    }

    /// Tells the pipeline, the progress display and the manifest what will be read.
    fn record(&self, cx: &Context, table: &Table, splits: &[Split]) {
        let rows: Option<u64> = splits.iter().map(|s| s.rows).sum();
        let bytes: u64 = splits.iter().filter_map(|s| s.bytes).sum();
        if let Some(rows) = rows {
            cx.report().promise_rows(rows);
        }
        cx.report().set_info(
            "files",
            serde_json::json!({
                "plugin": NAME,
                "location": self.location.to_string(),
                "files": table.files.len(),
                "bytes": table.files.iter().map(|f| f.found.size).sum::<u64>(),
            }),
        );
        cx.emit(ProgressEvent::Total {
            rows,
            bytes: Some(bytes),
        });
    }

    /// The split's token, after checking it names a file of this location.
    fn token_of(&self, token: &SplitToken) -> Result<(PathBuf, Token)> {
        let t: Token = token.decode(NAME)?;
        let root = self.location.root()?;
        if !self.location.admits(&root, &t.path) {
            return Err(Error::config(format!(
                "{NAME}: the split token names `{}`, which is not a file of `{}`",
                t.path, self.location
            ))
            .with_context("plugin", NAME));
        }
        if t.batch_size == 0 || t.batch_size > MAX_BATCH_SIZE {
            return Err(Error::config(format!(
                "{NAME}: the split token's batch size {} is out of range",
                t.batch_size
            )));
        }
        Ok((self.location.base(&root), t))
    }
}

/// Runs of consecutive parts (rows, bytes) up to `target` bytes each, at least one part per
/// run: `(first, count, rows, bytes)`.
fn group(parts: &[(u64, u64)], target: u64) -> Vec<(usize, usize, u64, u64)> {
    let mut runs = Vec::new();
    let mut first = 0;
    while first < parts.len() {
        let (mut count, mut rows, mut bytes) = (0, 0, 0);
        while let Some(&(r, b)) = parts.get(first + count) {
            if count > 0 && bytes + b > target {
                break;
            }
            rows += r;
            bytes += b;
            count += 1;
        }
        runs.push((first, count, rows, bytes));
        first += count;
    }
    runs
}

fn describe(rel: &str, part: &Part) -> String {
    match part {
        Part::RowGroups { first, count } => {
            format!("{rel} row groups {first}..{}", first + count)
        }
        Part::Batches { first, count } => format!("{rel} batches {first}..{}", first + count),
        Part::Bytes { start, end } => format!("{rel} bytes {start}..{end}"),
        Part::Whole => rel.to_string(),
    }
}

/// The index of a column, or a configuration error with the closest name.
fn column_index(schema: &Schema, name: &str) -> Result<usize> {
    schema.index_of(name).map_err(|_| {
        let known: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let hint = closest(name, known.iter().copied())
            .map(|c| format!("did you mean `{c}`? "))
            .unwrap_or_default();
        Error::config(format!(
            "{NAME}: unknown column `{name}`; {hint}the files have: {}",
            known.join(", ")
        ))
    })
}

/// The batches of `tokens`, read on `parallelism` workers and delivered in order.
fn read_all(
    base: PathBuf,
    tokens: Vec<Token>,
    parallelism: usize,
    cx: &Context,
) -> futures::stream::BoxStream<'static, Result<arrowport_core::arrow::record_batch::RecordBatch>> {
    let cx = cx.clone();
    ordered_parallel(tokens, parallelism, BUFFER, move |token| {
        read::blocking(read::split(&base, token, cx.clone()))
    })
}

#[async_trait]
impl ExportSource for FilesSource {
    async fn schema(&self, _cx: &Context) -> Result<SchemaRef> {
        Ok(self.table().await?.schema.clone())
    }

    async fn plan(&self, scan: &Scan, _cx: &Context) -> Result<Vec<Split>> {
        let table = self.table().await?;
        Ok(self
            .tokens(&table, scan)?
            .into_iter()
            .map(|(s, _)| s)
            .collect())
    }

    async fn open(&self, scan: &Scan, cx: &Context) -> Result<SendableRecordBatchStream> {
        let table = self.table().await?;
        let (splits, tokens): (Vec<Split>, Vec<Token>) =
            self.tokens(&table, scan)?.into_iter().unzip();
        self.record(cx, &table, &splits);
        let schema = match &scan.columns {
            Some(names) => {
                let indices = names
                    .iter()
                    .map(|n| column_index(&table.schema, n))
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(table.schema.project(&indices)?)
            }
            None => table.schema.clone(),
        };
        let stream = read_all(table.base.clone(), tokens, scan.parallelism_or(cx), cx);
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    async fn open_split(
        &self,
        token: &SplitToken,
        cx: &Context,
    ) -> Result<SendableRecordBatchStream> {
        let (base, token) = self.token_of(token)?;
        let schema = token.schema()?;
        let stream = read_all(base, vec![token], 1, cx);
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    fn capabilities(&self) -> SourceCapabilities {
        SourceCapabilities::new(true, false)
    }
}
