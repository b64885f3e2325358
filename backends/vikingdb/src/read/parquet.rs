//! Parquet objects read through ranged GETs: the footer first, then one GET per row group
//! (in file order, so the cursor checksums every byte), decoding only the projected columns.
//! Batches come out in file order, but the row groups decode in parallel: the consumer waits
//! for one group while the next ones are already decoding, each by its own task into a small
//! bounded channel. Memory holds, per object, the compressed bytes and [`GROUP_BUFFER`]
//! decoded batches of each of the (parallelism) groups in flight.
//!
//! Vectors are stored as Parquet lists. Decoded as lists, every value's levels build offsets
//! that are then checked and dropped for a fixed-size list: most of the decoding time of a
//! vector collection. So float vectors are decoded by [`VectorColumn`], which only checks
//! the levels, run by run; what it cannot read, parquet-rs decodes from the same row straight
//! into fixed-size lists of the collection's dimension; and should a row group hold a vector
//! of another length, it is decoded again from the row reached, as lists, and [`conform`]
//! names the row.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrowport_core::{Context, Error, ErrorKind, Result};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::{ChunkReader, Length};
use tokio::sync::mpsc;

use super::cursor::ObjectCursor;
use super::vectors::{Unsupported, VectorColumn};
use crate::conform::conform;
use crate::error::integrity;

/// First guess of the footer's size; a larger footer costs one more GET.
const FOOTER_GUESS: u64 = 64 * 1024;

/// Decoded batches a row group may hold ahead of the consumer: a whole group of the
/// emulator's (16,384 rows at 2,048 a batch), a bound on a bigger one.
const GROUP_BUFFER: usize = 8;

#[derive(Debug)]
pub(crate) struct ParquetObject {
    /// The row groups, fetched in file order by the fetcher, each decoding in its own task.
    groups: mpsc::Receiver<Fetched>,
    /// The group whose batches come out now.
    current: Option<mpsc::Receiver<Result<RecordBatch>>>,
    fetcher: tokio::task::JoinHandle<()>,
    key: String,
    footer_rows: u64,
    rows: u64,
    /// Whether the object checked out or failed: nothing more comes.
    ended: bool,
}

/// What the fetcher hands over, in file order.
#[derive(Debug)]
enum Fetched {
    /// The batches of the next row group.
    Group(mpsc::Receiver<Result<RecordBatch>>),
    /// Every byte read and its checksum checked; an error instead ends the object.
    Checked(Result<()>),
}

impl ParquetObject {
    /// Reads the footer, then starts the fetcher, which reads the row groups ahead, as many
    /// decoding at once as the context's parallelism.
    pub(crate) async fn open(
        mut cursor: ObjectCursor,
        target: SchemaRef,
        batch_size: usize,
        cx: &Context,
    ) -> Result<Self> {
        let key = cursor.key().to_string();
        if cursor.size() < 12 {
            return Err(not_parquet(&key, "too short"));
        }
        let mut tail = cursor.read_tail(FOOTER_GUESS, cx).await?;
        let meta_len = footer_len(&tail, cursor.size(), &key)?;
        if meta_len + 8 > tail.len() as u64 {
            tail = cursor.read_tail(meta_len + 8, cx).await?;
        }
        let meta_bytes = &tail[tail.len() - 8 - meta_len as usize..tail.len() - 8];
        let layout = Arc::new(Layout::parse(meta_bytes, &target, cursor.size(), &key)?);
        let depth = cx.parallelism().max(1);
        // Fetched: the current group and `depth - 1` queued (a group is fetched once there
        // is room for it); one more buffer to refill while the oldest is still held.
        cursor.keep_buffers(depth + 1);
        let (tx, groups) = mpsc::channel((depth - 1).max(1));
        let footer_rows = layout.rows();
        let fetcher = Fetcher {
            cursor,
            layout,
            target,
            batch_size,
            cx: cx.clone(),
        };
        Ok(ParquetObject {
            groups,
            current: None,
            fetcher: tokio::spawn(fetcher.run(tx)),
            key,
            footer_rows,
            rows: 0,
            ended: false,
        })
    }

    /// The next batch, `None` after the last one once the object checked out whole.
    pub(crate) async fn next(&mut self) -> Option<Result<RecordBatch>> {
        loop {
            if let Some(group) = &mut self.current {
                match group.recv().await {
                    Some(Ok(batch)) => {
                        self.rows += batch.num_rows() as u64;
                        return Some(Ok(batch));
                    }
                    Some(Err(e)) => return Some(Err(self.stop(e))),
                    None => self.current = None,
                }
            }
            let Some(fetched) = self.groups.recv().await else {
                // The fetcher never leaves without its last word, unless it panicked.
                let e = integrity(format!("the read of `{}` broke off", self.key), &self.key);
                return (!self.ended).then(|| Err(self.stop(e)));
            };
            match fetched {
                Fetched::Group(group) => self.current = Some(group),
                Fetched::Checked(Err(e)) => return Some(Err(self.stop(e))),
                Fetched::Checked(Ok(())) if self.rows != self.footer_rows => {
                    let e = integrity(
                        format!(
                            "`{}` decoded to {} rows, its footer says {}",
                            self.key, self.rows, self.footer_rows
                        ),
                        &self.key,
                    );
                    return Some(Err(self.stop(e)));
                }
                Fetched::Checked(Ok(())) => {
                    self.ended = true;
                    return None;
                }
            }
        }
    }

    /// Ends the object with `e`: the fetcher stops, and the decoding tasks at their next
    /// batch (their channels are gone).
    fn stop(&mut self, e: Error) -> Error {
        self.ended = true;
        self.fetcher.abort();
        self.current = None;
        self.groups.close();
        while self.groups.try_recv().is_ok() {}
        e
    }
}

impl Drop for ParquetObject {
    /// A dropped stream fetches nothing more.
    fn drop(&mut self) {
        self.fetcher.abort();
    }
}

/// Reads an object's row groups in file order, so that the cursor checksums every byte, and
/// starts each one's decoding as soon as its bytes are in.
struct Fetcher {
    cursor: ObjectCursor,
    layout: Arc<Layout>,
    target: SchemaRef,
    batch_size: usize,
    cx: Context,
}

impl Fetcher {
    async fn run(mut self, tx: mpsc::Sender<Fetched>) {
        let checked = self.fetch_all(&tx).await;
        if !tx.is_closed() {
            let checked = match checked {
                Ok(()) => self.cursor.finish(&self.cx).await,
                Err(e) => Err(e),
            };
            let _ = tx.send(Fetched::Checked(checked)).await;
        }
    }

    /// Every row group, fetched once there is room for it in the queue and handed over;
    /// stops early if the reader is gone.
    async fn fetch_all(&mut self, tx: &mpsc::Sender<Fetched>) -> Result<()> {
        for &(index, end) in &self.layout.row_groups {
            let Ok(room) = tx.reserve().await else {
                return Ok(());
            };
            let bytes = self.cursor.read_to(end, &self.cx).await?;
            let group = Group {
                layout: self.layout.clone(),
                index,
                chunk: RangeBytes {
                    start: end - bytes.len() as u64,
                    bytes,
                    file_len: self.cursor.size(),
                },
                batch_size: self.batch_size,
                target: self.target.clone(),
                key: self.cursor.key().to_string(),
            };
            room.send(Fetched::Group(group.spawn()));
        }
        Ok(())
    }
}

/// One fetched row group, to be decoded by a task of its own.
struct Group {
    layout: Arc<Layout>,
    index: usize,
    chunk: RangeBytes,
    batch_size: usize,
    target: SchemaRef,
    key: String,
}

impl Group {
    /// Decodes the group into a channel of [`GROUP_BUFFER`] batches, conformed to the target;
    /// an error is the last item. The task ends when the receiver is dropped.
    fn spawn(self) -> mpsc::Receiver<Result<RecordBatch>> {
        let (tx, rx) = mpsc::channel(GROUP_BUFFER);
        tokio::spawn(async move {
            let Group {
                layout,
                index,
                chunk,
                batch_size,
                target,
                key,
            } = self;
            let mut reader = match layout.reader(index, chunk, batch_size, &key) {
                Ok(reader) => reader,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            loop {
                let item = match reader.next(&layout, batch_size, &key) {
                    Ok(Some(batch)) => conform(&batch, &target, &key),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let last = item.is_err();
                if tx.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        rx
    }
}

/// The next batch of a row group. parquet-rs checks page headers with `unwrap` (a data page
/// header missing from a corrupt page is a panic, not an error), so a panic while decoding is
/// this object's integrity error; the reader is not used again.
fn next_batch(reader: &mut ParquetRecordBatchReader, key: &str) -> Result<Option<RecordBatch>> {
    let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next()));
    match next {
        Ok(next) => next
            .transpose()
            .map_err(|e| integrity(format!("cannot decode `{key}`: {e}"), key)),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("no message");
            Err(integrity(
                format!("cannot decode `{key}`: the Parquet decoder failed on it ({why})"),
                key,
            ))
        }
    }
}

fn not_parquet(key: &str, why: &str) -> Error {
    integrity(format!("`{key}` is not a valid Parquet file: {why}"), key)
}

/// The length of the footer's metadata, from `tail`, the last bytes of an object of `size`
/// bytes (at least 12).
fn footer_len(tail: &[u8], size: u64, key: &str) -> Result<u64> {
    let footer: [u8; 8] = tail[tail.len() - 8..].try_into().expect("8 bytes");
    if &footer[4..] != b"PAR1" {
        return Err(not_parquet(key, "no PAR1 magic at its end (truncated?)"));
    }
    let meta_len = u64::from(u32::from_le_bytes(footer[..4].try_into().expect("4 bytes")));
    if meta_len + 12 > size {
        return Err(not_parquet(key, "its footer is longer than the file"));
    }
    Ok(meta_len)
}

/// What a footer says: the metadata, the target's columns in it, and the row groups in file
/// order, each with its index and the offset where it ends.
#[derive(Debug)]
struct Layout {
    metadata: ArrowReaderMetadata,
    /// The metadata with vectors read as fixed-size lists, if the file has any.
    fixed_vectors: Option<ArrowReaderMetadata>,
    /// How float vectors decode without parquet-rs's levels, if the file has any.
    fast: Option<FastLayout>,
    mask: ProjectionMask,
    row_groups: Vec<(usize, u64)>,
}

/// The projected columns split for [`FastGroup`]: float vectors, and the rest.
#[derive(Debug)]
struct FastLayout {
    /// The projected columns in file order, vectors as fixed-size lists: the batches' schema.
    schema: SchemaRef,
    /// The other columns, decoded by parquet-rs; `None` if every column is a vector.
    others: Option<ProjectionMask>,
    /// Each vector's position in `schema`, its leaf column, item field and dimension.
    vectors: Vec<(usize, usize, FieldRef, usize)>,
}

impl FastLayout {
    /// The split of `roots` (file columns) of `fixed` (vectors as fixed-size lists); `None`
    /// without a float vector among them.
    fn new(fixed: &ArrowReaderMetadata, roots: &[usize]) -> Option<FastLayout> {
        let (file, parquet) = (fixed.schema(), fixed.parquet_schema());
        let mut roots = roots.to_vec();
        roots.sort_unstable();
        roots.dedup();
        let (mut vectors, mut others) = (Vec::new(), Vec::new());
        for (position, &root) in roots.iter().enumerate() {
            let leaves: Vec<usize> = (0..parquet.num_columns())
                .filter(|&leaf| parquet.get_column_root_idx(leaf) == root)
                .collect();
            match (file.field(root).data_type(), leaves.as_slice()) {
                (DataType::FixedSizeList(item, dim), &[leaf])
                    if item.data_type() == &DataType::Float32 && *dim > 0 =>
                {
                    vectors.push((position, leaf, item.clone(), *dim as usize));
                }
                _ => others.push(root),
            }
        }
        if vectors.is_empty() {
            return None;
        }
        let fields: Vec<FieldRef> = roots.iter().map(|&r| file.fields()[r].clone()).collect();
        Some(FastLayout {
            schema: Arc::new(Schema::new(fields)),
            others: (!others.is_empty()).then(|| ProjectionMask::roots(parquet, others)),
            vectors,
        })
    }
}

impl Layout {
    /// Parses the footer's metadata of an object of `size` bytes for reading `target`.
    fn parse(meta_bytes: &[u8], target: &SchemaRef, size: u64, key: &str) -> Result<Layout> {
        let metadata = ParquetMetaDataReader::decode_metadata(meta_bytes)
            .map_err(|e| not_parquet(key, &e.to_string()))?;
        let metadata = ArrowReaderMetadata::try_new(Arc::new(metadata), ArrowReaderOptions::new())
            .map_err(|e| not_parquet(key, &e.to_string()))?;

        let file_schema = metadata.schema();
        let roots = target
            .fields()
            .iter()
            .map(|f| {
                file_schema.index_of(f.name()).map_err(|_| {
                    Error::new(
                        ErrorKind::Schema,
                        format!(
                            "{}: exported object `{key}` has no column `{}` (it has: {})",
                            crate::NAME,
                            f.name(),
                            file_schema
                                .fields()
                                .iter()
                                .map(|f| f.name().as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let fixed_vectors = fixed_vectors(&metadata, target);
        let fast = fixed_vectors
            .as_ref()
            .and_then(|fixed| FastLayout::new(fixed, &roots));
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);

        let mut row_groups = Vec::new();
        for (i, rg) in metadata.metadata().row_groups().iter().enumerate() {
            let mut span: Option<(u64, u64)> = None;
            for column in rg.columns() {
                // `byte_range` asserts what a corrupt footer may break.
                let start = column
                    .dictionary_page_offset()
                    .unwrap_or(column.data_page_offset());
                let (Ok(start), Ok(len)) = (
                    u64::try_from(start),
                    u64::try_from(column.compressed_size()),
                ) else {
                    return Err(not_parquet(
                        key,
                        "a column chunk has a negative offset or size",
                    ));
                };
                let end = start.saturating_add(len);
                span = Some(span.map_or((start, end), |(s, e)| (s.min(start), e.max(end))));
            }
            let (start, end) = span.unwrap_or((0, 0));
            row_groups.push((i, start, end));
        }
        row_groups.sort_by_key(|&(_, start, _)| start);
        let overlapping = row_groups.windows(2).any(|w| w[1].1 < w[0].2);
        if overlapping || row_groups.last().is_some_and(|&(_, _, end)| end > size) {
            return Err(not_parquet(
                key,
                "its row groups overlap or run past its end",
            ));
        }
        Ok(Layout {
            metadata,
            fixed_vectors,
            fast,
            mask,
            row_groups: row_groups.into_iter().map(|(i, _, end)| (i, end)).collect(),
        })
    }

    /// The rows the footer counts.
    fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows() as u64
    }

    /// A reader of row group `index` over its fetched bytes, vectors as fixed-size lists:
    /// decoded by [`FastGroup`] where they can be.
    fn reader(
        &self,
        index: usize,
        chunk: RangeBytes,
        batch_size: usize,
        key: &str,
    ) -> Result<GroupReader> {
        if let Some(fast) = self.fast_group(index, &chunk, batch_size) {
            return Ok(GroupReader {
                decoder: Decoder::Fast(Box::new(fast)),
                index,
                chunk,
                rows_read: 0,
            });
        }
        self.arrow_reader(
            index,
            chunk,
            0,
            self.fixed_vectors.is_some(),
            batch_size,
            key,
        )
    }

    /// A parquet-rs reader of row group `index` from row `offset` on, vectors as fixed-size
    /// lists or, if not `fixed`, as plain lists.
    fn arrow_reader(
        &self,
        index: usize,
        chunk: RangeBytes,
        offset: usize,
        fixed: bool,
        batch_size: usize,
        key: &str,
    ) -> Result<GroupReader> {
        let metadata = match &self.fixed_vectors {
            Some(fixed_vectors) if fixed => fixed_vectors,
            _ => &self.metadata,
        };
        let reader = group_reader(
            metadata,
            self.mask.clone(),
            index,
            chunk.clone(),
            offset,
            batch_size,
        )
        .map_err(|e| integrity(format!("cannot read `{key}`: {e}"), key))?;
        Ok(GroupReader {
            decoder: Decoder::Arrow {
                reader,
                vectors_fixed: fixed && self.fixed_vectors.is_some(),
            },
            index,
            chunk,
            rows_read: offset,
        })
    }

    /// The fast decoder of row group `index`, if its vectors' columns fit it.
    fn fast_group(&self, index: usize, chunk: &RangeBytes, batch_size: usize) -> Option<FastGroup> {
        let fast = self.fast.as_ref()?;
        let group = self.metadata.metadata().row_groups().get(index)?;
        let rows = usize::try_from(group.num_rows()).ok()?;
        let shared = Arc::new(chunk.clone());
        let mut vectors = Vec::with_capacity(fast.vectors.len());
        for (position, leaf, item, dim) in &fast.vectors {
            let descr = group.schema_descr().column(*leaf);
            let column = group.columns().get(*leaf)?;
            let reader =
                VectorColumn::new(shared.clone(), column, &descr, rows, item.clone(), *dim)?;
            vectors.push((*position, reader));
        }
        let others = match &fast.others {
            Some(mask) => {
                let reader = group_reader(
                    &self.metadata,
                    mask.clone(),
                    index,
                    chunk.clone(),
                    0,
                    batch_size,
                );
                Some(reader.ok()?)
            }
            None => None,
        };
        Some(FastGroup {
            schema: fast.schema.clone(),
            others,
            vectors,
            rows,
            batch_size,
        })
    }
}

/// parquet-rs's reader of the `mask` columns of row group `index` from row `offset` on.
fn group_reader(
    metadata: &ArrowReaderMetadata,
    mask: ProjectionMask,
    index: usize,
    chunk: RangeBytes,
    offset: usize,
    batch_size: usize,
) -> parquet::errors::Result<ParquetRecordBatchReader> {
    ParquetRecordBatchReaderBuilder::new_with_metadata(chunk, metadata.clone())
        .with_row_groups(vec![index])
        .with_projection(mask)
        .with_offset(offset)
        .with_batch_size(batch_size)
        .build()
}

/// The reader of one row group, and where it is.
#[derive(Debug)]
struct GroupReader {
    decoder: Decoder,
    index: usize,
    chunk: RangeBytes,
    rows_read: usize,
}

#[derive(Debug)]
enum Decoder {
    /// Vectors by [`VectorColumn`], the other columns by parquet-rs.
    Fast(Box<FastGroup>),
    /// Every column by parquet-rs.
    Arrow {
        reader: ParquetRecordBatchReader,
        /// Whether vectors are decoded as fixed-size lists (a failure is retried as lists).
        vectors_fixed: bool,
    },
}

impl GroupReader {
    /// The next batch. Whatever the fast decoder cannot read is read by parquet-rs from the
    /// same row, as fixed-size lists; a failure of that is retried as lists from the same
    /// row, so that a vector of another length is named by [`conform`] (and a corrupt page
    /// fails the plain reader too).
    fn next(
        &mut self,
        layout: &Layout,
        batch_size: usize,
        key: &str,
    ) -> Result<Option<RecordBatch>> {
        if let Decoder::Fast(fast) = &mut self.decoder {
            let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                fast.next(self.rows_read, key)
            }));
            match next {
                Ok(Ok(next)) => {
                    self.rows_read += next.as_ref().map_or(0, RecordBatch::num_rows);
                    return Ok(next);
                }
                Ok(Err(Unsupported)) | Err(_) => {
                    let (index, chunk) = (self.index, self.chunk.clone());
                    *self =
                        layout.arrow_reader(index, chunk, self.rows_read, true, batch_size, key)?;
                }
            }
        }
        let Decoder::Arrow {
            reader,
            vectors_fixed,
        } = &mut self.decoder
        else {
            unreachable!("the fast decoder returned above")
        };
        let next = match next_batch(reader, key) {
            Err(_) if *vectors_fixed => {
                let (index, chunk) = (self.index, self.chunk.clone());
                *self =
                    layout.arrow_reader(index, chunk, self.rows_read, false, batch_size, key)?;
                let Decoder::Arrow { reader, .. } = &mut self.decoder else {
                    unreachable!("an arrow reader was just made")
                };
                next_batch(reader, key)
            }
            next => next,
        };
        if let Ok(Some(batch)) = &next {
            self.rows_read += batch.num_rows();
        }
        next
    }
}

/// A row group whose float vectors decode by [`VectorColumn`], in step with parquet-rs's
/// batches of the other columns.
#[derive(Debug)]
struct FastGroup {
    schema: SchemaRef,
    others: Option<ParquetRecordBatchReader>,
    vectors: Vec<(usize, VectorColumn<RangeBytes>)>,
    rows: usize,
    batch_size: usize,
}

impl FastGroup {
    /// The batch after `rows_read` rows, as many rows as the other columns' batch (or a
    /// batch size's worth when there are none).
    fn next(&mut self, rows_read: usize, key: &str) -> Result<Option<RecordBatch>, Unsupported> {
        let left = self.rows.checked_sub(rows_read).ok_or(Unsupported)?;
        let (others, rows) = match &mut self.others {
            Some(reader) => match next_batch(reader, key) {
                Ok(Some(batch)) => {
                    let rows = batch.num_rows();
                    (Some(batch), rows)
                }
                Ok(None) if left == 0 => return Ok(None),
                Ok(None) | Err(_) => return Err(Unsupported),
            },
            None if left == 0 => return Ok(None),
            None => (None, left.min(self.batch_size)),
        };
        if rows == 0 || rows > left {
            return Err(Unsupported);
        }
        let mut vectors = Vec::with_capacity(self.vectors.len());
        for (position, column) in &mut self.vectors {
            vectors.push((*position, column.take(rows, rows == left)?));
        }
        let mut others = others
            .map(|b| b.columns().to_vec())
            .unwrap_or_default()
            .into_iter();
        let mut vectors = vectors.into_iter().peekable();
        let columns: Vec<ArrayRef> = (0..self.schema.fields().len())
            .map(|i| match vectors.next_if(|(p, _)| *p == i) {
                Some((_, array)) => Some(array),
                None => others.next(),
            })
            .collect::<Option<_>>()
            .ok_or(Unsupported)?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
            .map(Some)
            .map_err(|_| Unsupported)
    }
}

/// `metadata` with every list column that `target` wants as a fixed-size list read as one,
/// its items as the file has them; `None` if there is no such column or the reader refuses.
fn fixed_vectors(
    metadata: &ArrowReaderMetadata,
    target: &SchemaRef,
) -> Option<ArrowReaderMetadata> {
    let file = metadata.schema();
    let mut changed = false;
    let fields: Vec<Field> = file
        .fields()
        .iter()
        .map(|field| {
            let wanted = target.field_with_name(field.name()).map(|f| f.data_type());
            match (field.data_type(), wanted) {
                (DataType::List(item), Ok(DataType::FixedSizeList(_, dim))) => {
                    changed = true;
                    let fixed = DataType::FixedSizeList(item.clone(), *dim);
                    field.as_ref().clone().with_data_type(fixed)
                }
                _ => field.as_ref().clone(),
            }
        })
        .collect();
    if !changed {
        return None;
    }
    let hint = Arc::new(Schema::new_with_metadata(fields, file.metadata().clone()));
    let options = ArrowReaderOptions::new().with_schema(hint);
    ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).ok()
}

/// One fetched span of a Parquet file, addressed by file offsets (cloning shares the bytes).
#[derive(Debug, Clone)]
struct RangeBytes {
    start: u64,
    bytes: Bytes,
    file_len: u64,
}

impl RangeBytes {
    fn slice(&self, start: u64, len: usize) -> parquet::errors::Result<Bytes> {
        let from = start.checked_sub(self.start).map(|o| o as usize);
        match from {
            Some(from) if from + len <= self.bytes.len() => Ok(self.bytes.slice(from..from + len)),
            _ => Err(parquet::errors::ParquetError::General(format!(
                "read of {len} bytes at {start} falls outside the fetched row group"
            ))),
        }
    }
}

impl Length for RangeBytes {
    fn len(&self) -> u64 {
        self.file_len
    }
}

impl ChunkReader for RangeBytes {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let end = self.start + self.bytes.len() as u64;
        use bytes::Buf;
        Ok(self
            .slice(start, end.saturating_sub(start) as usize)?
            .reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.slice(start, length)
    }
}

/// Property tests: files written by parquet-rs (row groups, pages, codecs and dictionaries
/// varied) decode to their rows, and mutated or random files end in a clean error after
/// bounded work. `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
mod fuzz {
    use arrow::compute::concat_batches;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, GzipLevel, ZstdLevel};
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;
    use crate::read::json::fuzz::{Row, batch, rows};
    use crate::tos::fuzz::{apply, config, edits};

    fn codecs() -> Vec<Compression> {
        vec![
            Compression::UNCOMPRESSED,
            Compression::SNAPPY,
            Compression::LZ4_RAW,
            Compression::ZSTD(ZstdLevel::default()),
            Compression::GZIP(GzipLevel::default()),
        ]
    }

    /// How a test file is written: rows per row group and per page, codec, dictionaries,
    /// data pages of format version 2.
    type Shape = (usize, usize, Compression, bool, bool);

    /// `rows` as a Parquet file of `shape`.
    fn file(rows: &[Row], shape: Shape) -> Vec<u8> {
        write(&batch(rows).0, shape)
    }

    /// `batch` as a Parquet file of `shape`.
    fn write(batch: &RecordBatch, (group, page, codec, dictionary, v2): Shape) -> Vec<u8> {
        let version = if v2 {
            WriterVersion::PARQUET_2_0
        } else {
            WriterVersion::PARQUET_1_0
        };
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .set_data_page_row_count_limit(page)
            .set_write_batch_size(page)
            .set_compression(codec)
            .set_dictionary_enabled(dictionary)
            .set_writer_version(version)
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        out
    }

    /// Reads a whole file as [`ParquetObject`] does over ranged GETs: the footer, then each row
    /// group from where the previous one ended.
    fn read(file: &[u8], target: &SchemaRef, batch_size: usize) -> Result<Vec<RecordBatch>> {
        let size = file.len() as u64;
        if size < 12 {
            return Err(not_parquet("k", "too short"));
        }
        let tail = &file[file.len() - (FOOTER_GUESS as usize).min(file.len())..];
        let meta_len = footer_len(tail, size, "k")? as usize;
        let meta_bytes = &file[file.len() - 8 - meta_len..file.len() - 8];
        let layout = Layout::parse(meta_bytes, target, size, "k")?;
        let (mut pos, mut rows, mut batches) = (0, 0, Vec::new());
        for &(index, end) in &layout.row_groups {
            let end = end as usize;
            let bytes = Bytes::copy_from_slice(&file[pos.min(end)..end]);
            pos = pos.max(end);
            let chunk = RangeBytes {
                start: (end - bytes.len()) as u64,
                bytes,
                file_len: size,
            };
            let mut reader = layout.reader(index, chunk, batch_size, "k")?;
            while let Some(batch) = reader.next(&layout, batch_size, "k")? {
                rows += batch.num_rows() as u64;
                batches.push(conform(&batch, target, "k")?);
                assert!(batches.len() <= file.len(), "more batches than bytes");
            }
        }
        if rows != layout.rows() {
            return Err(integrity(
                format!("{rows} rows, the footer says {}", layout.rows()),
                "k",
            ));
        }
        Ok(batches)
    }

    fn check(file: &[u8], target: &SchemaRef) -> std::result::Result<(), TestCaseError> {
        if let Err(e) = read(file, target, 2) {
            prop_assert!(
                matches!(e.kind(), ErrorKind::DataIntegrity | ErrorKind::Schema),
                "{}",
                e
            );
        }
        Ok(())
    }

    fn layouts() -> impl Strategy<Value = Shape> {
        (
            1usize..5,
            1usize..4,
            select(codecs()),
            any::<bool>(),
            any::<bool>(),
        )
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn parquet_rows_round_trip(
            rows in rows(),
            shape in layouts(),
            batch_size in 1usize..4,
        ) {
            let (batch, target) = batch(&rows);
            let decoded = read(&file(&rows, shape), &target, batch_size).unwrap();
            let expected = conform(&batch, &target, "k").unwrap();
            prop_assert_eq!(concat_batches(&target, &decoded).unwrap(), expected);
        }

        #[test]
        fn mutated_parquet_fails_cleanly(
            rows in rows(),
            shape in layouts(),
            edits in edits(),
        ) {
            let target = batch(&rows).1;
            let mut file = file(&rows, shape);
            apply(&mut file, &edits);
            check(&file, &target)?;
        }

        #[test]
        fn random_parquet_fails_cleanly(body in vec(any::<u8>(), 0..256)) {
            let mut file = b"PAR1".to_vec();
            file.extend_from_slice(&body);
            file.extend_from_slice(&(body.len() as u32).to_le_bytes());
            file.extend_from_slice(b"PAR1");
            check(&file, &batch(&[]).1)?;
        }
    }

    /// Vectors decode straight into fixed-size lists; a vector of another length makes the
    /// row group decode again as lists from the row reached, so the batches before it come
    /// out and the error names the row, as for any other file.
    #[test]
    fn vectors_decode_as_fixed_size_lists_and_a_wrong_length_is_named() {
        use arrow::array::{ArrayRef, AsArray, Int64Array, ListArray};
        use arrow::datatypes::{Float32Type, Int64Type};

        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let target = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("vector", DataType::FixedSizeList(item, 3), true),
        ]));
        let write = |lengths: &[usize]| {
            let vectors = ListArray::from_iter_primitive::<Float32Type, _, _>(
                lengths
                    .iter()
                    .map(|&n| Some((0..n).map(|v| Some(v as f32)))),
            );
            let ids = Int64Array::from_iter_values(0..lengths.len() as i64);
            let batch = RecordBatch::try_from_iter([
                ("id", Arc::new(ids) as ArrayRef),
                ("vector", Arc::new(vectors) as ArrayRef),
            ])
            .unwrap();
            let mut out = Vec::new();
            let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();
            out
        };
        let open = |file: &[u8]| {
            let size = file.len() as u64;
            let meta_len = footer_len(file, size, "k").unwrap() as usize;
            let layout = Layout::parse(&file[file.len() - 8 - meta_len..], &target, size, "k");
            let layout = layout.unwrap();
            let chunk = RangeBytes {
                start: 0,
                bytes: Bytes::copy_from_slice(file),
                file_len: size,
            };
            let reader = layout.reader(0, chunk, 2, "k").unwrap();
            (layout, reader)
        };

        let (layout, mut reader) = open(&write(&[3; 5]));
        assert!(matches!(reader.decoder, Decoder::Fast(_)));
        let batch = reader.next(&layout, 2, "k").unwrap().unwrap();
        assert!(matches!(
            batch.column(1).data_type(),
            DataType::FixedSizeList(_, 3)
        ));

        let (layout, mut reader) = open(&write(&[3, 3, 3, 2, 3]));
        let first = reader.next(&layout, 2, "k").unwrap().unwrap();
        let second = reader.next(&layout, 2, "k").unwrap().unwrap();
        let ids = |b: &RecordBatch| b.column(0).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!((ids(&first), ids(&second)), (vec![0, 1], vec![2, 3]));
        assert!(
            matches!(
                reader.decoder,
                Decoder::Arrow {
                    vectors_fixed: false,
                    ..
                }
            ),
            "the second batch came from the plain reader"
        );
        conform(&first, &target, "k").unwrap();
        let err = conform(&second, &target, "k").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema);
        assert!(
            err.to_string().contains("row 1 holds a vector of 2 values"),
            "{err}"
        );
    }

    /// Float vectors over many pages of either format version decode by [`VectorColumn`]
    /// to the end of the group; a null vector hands the group over to parquet-rs at the
    /// batch that holds it, and the rows still come out whole.
    #[test]
    fn fast_vectors_read_every_page_format_and_hand_over_at_a_null() {
        use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array};
        use arrow::compute::cast;

        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let fixed = DataType::FixedSizeList(item.clone(), 3);
        let target = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("vector", fixed.clone(), true),
        ]));
        let rows = 200;
        let batch_of = |null_at: Option<usize>| {
            let values = Float32Array::from_iter_values((0..rows * 3).map(|v| v as f32 * 0.5));
            let nulls = null_at.map(|at| (0..rows).map(|r| r != at).collect());
            let vectors = FixedSizeListArray::new(item.clone(), 3, Arc::new(values), nulls);
            let lists = cast(&vectors, &DataType::List(item.clone())).unwrap();
            let ids = Int64Array::from_iter_values(0..rows as i64);
            let file_batch = RecordBatch::try_from_iter([
                ("id", Arc::new(ids.clone()) as ArrayRef),
                ("vector", lists),
            ])
            .unwrap();
            let expected =
                RecordBatch::try_new(target.clone(), vec![Arc::new(ids), Arc::new(vectors)])
                    .unwrap();
            (file_batch, expected)
        };
        for v2 in [false, true] {
            for null_at in [None, Some(150)] {
                let (batch, expected) = batch_of(null_at);
                let file = write(&batch, (rows, 7, Compression::SNAPPY, false, v2));

                let size = file.len() as u64;
                let meta_len = footer_len(&file, size, "k").unwrap() as usize;
                let meta = &file[file.len() - 8 - meta_len..file.len() - 8];
                let layout = Layout::parse(meta, &target, size, "k").unwrap();
                let chunk = RangeBytes {
                    start: 0,
                    bytes: Bytes::from(file),
                    file_len: size,
                };
                let mut reader = layout.reader(0, chunk, 64, "k").unwrap();
                let mut batches = Vec::new();
                let mut fast_rows = 0;
                while let Some(batch) = reader.next(&layout, 64, "k").unwrap() {
                    if matches!(reader.decoder, Decoder::Fast(_)) {
                        fast_rows += batch.num_rows();
                    }
                    batches.push(conform(&batch, &target, "k").unwrap());
                }
                let got = concat_batches(&target, &batches).unwrap();
                assert_eq!(got, expected, "v2 {v2}, null at {null_at:?}");
                let wanted = if null_at.is_some() { 128 } else { rows };
                assert_eq!(fast_rows, wanted, "v2 {v2}, null at {null_at:?}");
            }
        }
    }

    /// Regression: a data page whose header says version 2 but holds a version-1 header made
    /// parquet-rs unwrap `None` (a panic) when it peeked at the next page of a list column.
    #[test]
    fn a_page_without_its_header_is_an_error() {
        let tagged = |i: i64| (i, None, None, None, Some(vec!["a".into()]), [1.0; 3], None);
        let rows: Vec<Row> = (0..3).map(tagged).collect();
        let (_, target) = batch(&rows);
        let mut file = file(&rows, (10, 1, Compression::UNCOMPRESSED, false, false));
        read(&file, &target, 2).unwrap();
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&Bytes::from(file.clone()))
            .unwrap();
        let tags = metadata.row_group(0).column(4);
        assert_eq!(tags.column_path().string(), "tags.list.item");
        // A page header starts with fields 1 (type: zigzag(DATA_PAGE) = 0) and 2, both i32
        // (0x15); the pages after the first get zigzag(DATA_PAGE_V2) = 6.
        let (start, len) = (
            tags.data_page_offset() as usize,
            tags.compressed_size() as usize,
        );
        let headers: Vec<usize> = (start..start + len - 2)
            .filter(|&i| file[i..i + 3] == [0x15, 0x00, 0x15])
            .collect();
        assert!(headers.len() >= 2, "{headers:?}");
        for &at in &headers[1..] {
            file[at + 1] = 0x06;
        }
        let err = read(&file, &target, 2).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{err}");
    }

    /// A footer length of 2^31 or all ones, or a column chunk offset or size of 2^40 or -1, is
    /// a data error found without allocating for it.
    #[test]
    fn huge_lengths_are_errors() {
        let rows: Vec<Row> = vec![(
            1,
            Some(0.5),
            Some("a".into()),
            None,
            None,
            [1.0, 2.0, 3.0],
            None,
        )];
        let (_, target) = batch(&rows);
        let valid = file(&rows, (10, 10, Compression::UNCOMPRESSED, false, false));
        read(&valid, &target, 2).unwrap();
        let n = valid.len();
        for huge in [1u32 << 31, u32::MAX] {
            let mut edited = valid.clone();
            edited[n - 8..n - 4].copy_from_slice(&huge.to_le_bytes());
            let err = read(&edited, &target, 2).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{huge}: {err}");
        }
    }
}
