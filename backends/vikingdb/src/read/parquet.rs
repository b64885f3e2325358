//! Parquet objects read through ranged GETs: the footer first, then one GET per row group
//! (in file order, so the cursor checksums every byte), decoding only the projected columns.
//! Memory holds one row group's compressed bytes and one decoded batch per object.
//!
//! Vectors are stored as Parquet lists. Decoded as lists, every value's levels build offsets
//! that are then checked and dropped for a fixed-size list: most of the decoding time of a
//! vector collection. So they are decoded straight into fixed-size lists of the collection's
//! dimension; should a row group hold a vector of another length, it is decoded again from
//! the row reached, as lists, and [`conform`] names the row.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrowport_core::{Context, Error, ErrorKind, Result};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::file::metadata::ParquetMetaDataReader;
use parquet::file::reader::{ChunkReader, Length};

use super::cursor::ObjectCursor;
use crate::conform::conform;
use crate::error::integrity;

/// First guess of the footer's size; a larger footer costs one more GET.
const FOOTER_GUESS: u64 = 64 * 1024;

#[derive(Debug)]
pub(crate) struct ParquetObject {
    cursor: Option<ObjectCursor>,
    layout: Layout,
    next_group: usize,
    reader: Option<GroupReader>,
    target: SchemaRef,
    batch_size: usize,
    rows: u64,
}

impl ParquetObject {
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
        let layout = Layout::parse(meta_bytes, &target, cursor.size(), &key)?;
        Ok(ParquetObject {
            cursor: Some(cursor),
            layout,
            next_group: 0,
            reader: None,
            target,
            batch_size,
            rows: 0,
        })
    }

    /// The next batch, `None` after the last one once the object checked out whole.
    pub(crate) async fn next(&mut self, cx: &Context) -> Option<Result<RecordBatch>> {
        loop {
            let cursor = self.cursor.as_mut()?;
            if let Some(group) = &mut self.reader {
                match group.next(&self.layout, self.batch_size, cursor.key()) {
                    Ok(Some(batch)) => {
                        self.rows += batch.num_rows() as u64;
                        return Some(conform(&batch, &self.target, cursor.key()));
                    }
                    Err(e) => {
                        self.cursor = None;
                        self.reader = None;
                        return Some(Err(e));
                    }
                    Ok(None) => self.reader = None,
                }
            }
            let Some(&(index, end)) = self.layout.row_groups.get(self.next_group) else {
                let cursor = self.cursor.take()?;
                return finish(cursor, self.rows, self.layout.rows(), cx)
                    .await
                    .err()
                    .map(Err);
            };
            self.next_group += 1;
            let bytes = match cursor.read_to(end, cx).await {
                Ok(b) => b,
                Err(e) => {
                    self.cursor = None;
                    return Some(Err(e));
                }
            };
            let chunk = RangeBytes {
                start: end - bytes.len() as u64,
                bytes,
                file_len: cursor.size(),
            };
            match self
                .layout
                .reader(index, chunk, self.batch_size, cursor.key())
            {
                Ok(reader) => self.reader = Some(reader),
                Err(e) => {
                    self.cursor = None;
                    return Some(Err(e));
                }
            }
        }
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
    mask: ProjectionMask,
    row_groups: Vec<(usize, u64)>,
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
        let mask = ProjectionMask::roots(metadata.parquet_schema(), roots);
        let fixed_vectors = fixed_vectors(&metadata, target);

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
            mask,
            row_groups: row_groups.into_iter().map(|(i, _, end)| (i, end)).collect(),
        })
    }

    /// The rows the footer counts.
    fn rows(&self) -> u64 {
        self.metadata.metadata().file_metadata().num_rows() as u64
    }

    /// A reader of row group `index` over its fetched bytes, vectors as fixed-size lists.
    fn reader(
        &self,
        index: usize,
        chunk: RangeBytes,
        batch_size: usize,
        key: &str,
    ) -> Result<GroupReader> {
        let metadata = self.fixed_vectors.as_ref().unwrap_or(&self.metadata);
        let reader = self.build(metadata, index, chunk.clone(), 0, batch_size, key)?;
        Ok(GroupReader {
            reader,
            index,
            chunk,
            rows_read: 0,
            vectors_fixed: self.fixed_vectors.is_some(),
        })
    }

    /// The rest of `group` read again with vectors as plain lists.
    fn plain_reader(
        &self,
        group: &GroupReader,
        batch_size: usize,
        key: &str,
    ) -> Result<GroupReader> {
        let (index, chunk) = (group.index, group.chunk.clone());
        let reader = self.build(
            &self.metadata,
            index,
            chunk.clone(),
            group.rows_read,
            batch_size,
            key,
        )?;
        Ok(GroupReader {
            reader,
            index,
            chunk,
            rows_read: group.rows_read,
            vectors_fixed: false,
        })
    }

    fn build(
        &self,
        metadata: &ArrowReaderMetadata,
        index: usize,
        chunk: RangeBytes,
        offset: usize,
        batch_size: usize,
        key: &str,
    ) -> Result<ParquetRecordBatchReader> {
        ParquetRecordBatchReaderBuilder::new_with_metadata(chunk, metadata.clone())
            .with_row_groups(vec![index])
            .with_projection(self.mask.clone())
            .with_offset(offset)
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| integrity(format!("cannot read `{key}`: {e}"), key))
    }
}

/// The reader of one row group, and where it is.
#[derive(Debug)]
struct GroupReader {
    reader: ParquetRecordBatchReader,
    index: usize,
    chunk: RangeBytes,
    rows_read: usize,
    /// Whether vectors are decoded as fixed-size lists (a failure is retried as lists).
    vectors_fixed: bool,
}

impl GroupReader {
    /// The next batch; a failure of the fixed-size decoding is retried as lists from the
    /// same row, so that a vector of another length is named by [`conform`] (and a corrupt
    /// page fails the plain reader too).
    fn next(
        &mut self,
        layout: &Layout,
        batch_size: usize,
        key: &str,
    ) -> Result<Option<RecordBatch>> {
        let next = match next_batch(&mut self.reader, key) {
            Err(_) if self.vectors_fixed => {
                *self = layout.plain_reader(self, batch_size, key)?;
                next_batch(&mut self.reader, key)
            }
            next => next,
        };
        if let Ok(Some(batch)) = &next {
            self.rows_read += batch.num_rows();
        }
        next
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

/// Reads the rest of the object for its checksum and compares the rows decoded with the
/// footer's count.
async fn finish(cursor: ObjectCursor, rows: u64, footer_rows: u64, cx: &Context) -> Result<()> {
    let key = cursor.key().to_string();
    cursor.finish(cx).await?;
    if rows != footer_rows {
        return Err(integrity(
            format!("`{key}` decoded to {rows} rows, its footer says {footer_rows}"),
            &key,
        ));
    }
    Ok(())
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
    use parquet::file::properties::WriterProperties;
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

    /// `rows` as a Parquet file, with row groups of `group` rows and pages of `page` rows.
    fn file(
        rows: &[Row],
        group: usize,
        page: usize,
        codec: Compression,
        dictionary: bool,
    ) -> Vec<u8> {
        let (batch, _) = batch(rows);
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group))
            .set_data_page_row_count_limit(page)
            .set_write_batch_size(page)
            .set_compression(codec)
            .set_dictionary_enabled(dictionary)
            .build();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
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

    fn layouts() -> impl Strategy<Value = (usize, usize, Compression, bool)> {
        (1usize..5, 1usize..4, select(codecs()), any::<bool>())
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn parquet_rows_round_trip(
            rows in rows(),
            (group, page, codec, dictionary) in layouts(),
            batch_size in 1usize..4,
        ) {
            let (batch, target) = batch(&rows);
            let decoded = read(&file(&rows, group, page, codec, dictionary), &target, batch_size).unwrap();
            let expected = conform(&batch, &target, "k").unwrap();
            prop_assert_eq!(concat_batches(&target, &decoded).unwrap(), expected);
        }

        #[test]
        fn mutated_parquet_fails_cleanly(
            rows in rows(),
            (group, page, codec, dictionary) in layouts(),
            edits in edits(),
        ) {
            let target = batch(&rows).1;
            let mut file = file(&rows, group, page, codec, dictionary);
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
        assert!(reader.vectors_fixed);
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
            !reader.vectors_fixed,
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

    /// Regression: a data page whose header says version 2 but holds a version-1 header made
    /// parquet-rs unwrap `None` (a panic) when it peeked at the next page of a list column.
    #[test]
    fn a_page_without_its_header_is_an_error() {
        let tagged = |i: i64| (i, None, None, None, Some(vec!["a".into()]), [1.0; 3], None);
        let rows: Vec<Row> = (0..3).map(tagged).collect();
        let (_, target) = batch(&rows);
        let mut file = file(&rows, 10, 1, Compression::UNCOMPRESSED, false);
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
        let valid = file(&rows, 10, 10, Compression::UNCOMPRESSED, false);
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
