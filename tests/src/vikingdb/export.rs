//! What an export task computes: the rows its filter matches, a sample of them, and its part
//! files. Blocking work, run on tokio's blocking threads.
//!
//! Part files hold the filtered rows in id order, `rows_per_part` each. The `vector` field is
//! written as `List<Float32>`, not as the collection's `FixedSizeList`: the real export's
//! physical type is unknown, and the client must cast. Parquet files carry no Arrow schema
//! (as a non-Arrow writer's would not), so readers see only Parquet's own types.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::json::{ArrayWriter, LineDelimitedWriter};
use arrowport_datagen::{Config as DatagenConfig, generate_batch, schema_of};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde_json::Value;

use super::JsonLayout;
use super::filter::Filter;

/// Rows shown in `process_info.sampled_data`.
const SAMPLE_ROWS: usize = 5;

/// The export file formats of `task_params.file_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileType {
    Parquet,
    Json,
}

impl FileType {
    pub(crate) fn parse(name: &str) -> Option<FileType> {
        match name {
            "parquet" => Some(FileType::Parquet),
            "json" => Some(FileType::Json),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            FileType::Parquet => "parquet",
            FileType::Json => "json",
        }
    }
}

/// One export's files.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) data: DatagenConfig,
    /// `None` exports every row.
    pub(crate) filter: Option<Filter>,
    pub(crate) file_type: FileType,
    pub(crate) layout: JsonLayout,
    pub(crate) rows_per_part: u64,
    pub(crate) row_group_rows: usize,
    /// Key prefix of the files, ending in `/`.
    pub(crate) prefix: String,
}

/// What `task/info` reports before the files exist.
#[derive(Debug)]
pub(crate) struct Scan {
    /// Rows the filter matches.
    pub(crate) matched: u64,
    /// The first matching rows as JSON objects.
    pub(crate) sample: Vec<Value>,
}

/// Counts the matching rows, generating only the filtered columns.
pub(crate) fn scan(data: &DatagenConfig, filter: Option<&Filter>) -> Result<Scan, String> {
    let mut matched = 0;
    let mut first = Vec::new();
    match filter {
        None => {
            matched = data.rows;
            first.extend(0..data.rows.min(SAMPLE_ROWS as u64));
        }
        Some(filter) => {
            let mut names = BTreeSet::new();
            filter.columns(&mut names);
            let schema = schema_of(data.profile, data.dim);
            let projection = names
                .iter()
                .map(|n| schema.index_of(n).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            for (start, len) in chunks(data) {
                let batch = generate_batch(data, start, len, Some(&projection))
                    .map_err(|e| e.to_string())?;
                let mask = filter.evaluate(&batch);
                for (i, keep) in mask.values().iter().enumerate() {
                    if keep {
                        matched += 1;
                        if first.len() < SAMPLE_ROWS {
                            first.push(start + i as u64);
                        }
                    }
                }
            }
        }
    }
    Ok(Scan {
        matched,
        sample: sample(data, &first)?,
    })
}

/// The given rows as the JSON export writes them.
fn sample(data: &DatagenConfig, ids: &[u64]) -> Result<Vec<Value>, String> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = ids
        .iter()
        .map(|&id| generate_batch(data, id, 1, None).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let batch = concat_batches(&rows[0].schema(), &rows).map_err(|e| e.to_string())?;
    let mut writer = ArrayWriter::new(Vec::new());
    writer
        .write(&exported(&batch)?)
        .and_then(|()| writer.finish())
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&writer.into_inner()).map_err(|e| e.to_string())
}

/// Writes every part file, then the `_SUCCESS` marker. Stops with an error as soon as
/// `cancel` is set.
pub(crate) fn write(job: &Job, cancel: &AtomicBool) -> Result<Vec<(String, Bytes)>, String> {
    let schema = export_schema(&schema_of(job.data.profile, job.data.dim));
    let mut files = Vec::new();
    let mut part: Option<Part> = None;
    let mut in_part = 0u64;
    for (start, len) in chunks(&job.data) {
        if cancel.load(Ordering::Relaxed) {
            return Err("the export was cancelled".into());
        }
        let batch = generate_batch(&job.data, start, len, None).map_err(|e| e.to_string())?;
        let batch = match &job.filter {
            Some(filter) => {
                filter_record_batch(&batch, &filter.evaluate(&batch)).map_err(|e| e.to_string())?
            }
            None => batch,
        };
        let batch = exported(&batch)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            let writer = match &mut part {
                Some(writer) => writer,
                None => part.insert(Part::new(job, schema.clone())?),
            };
            let take = ((job.rows_per_part - in_part) as usize).min(batch.num_rows() - offset);
            writer.write(&batch.slice(offset, take))?;
            offset += take;
            in_part += take as u64;
            if in_part == job.rows_per_part {
                let done = part.take().expect("the part being written");
                files.push((part_key(job, files.len()), done.finish()?));
                in_part = 0;
            }
        }
    }
    if let Some(last) = part {
        files.push((part_key(job, files.len()), last.finish()?));
    }
    files.push((format!("{}_SUCCESS", job.prefix), Bytes::new()));
    Ok(files)
}

fn part_key(job: &Job, index: usize) -> String {
    format!(
        "{}part-{index:05}.{}",
        job.prefix,
        job.file_type.extension()
    )
}

/// `(start, len)` of the generation batches covering the collection.
fn chunks(data: &DatagenConfig) -> impl Iterator<Item = (u64, usize)> {
    let step = data.batch_size as u64;
    let rows = data.rows;
    (0..rows.div_ceil(step)).map(move |i| {
        let start = i * step;
        (start, (rows - start).min(step) as usize)
    })
}

/// The collection's schema with `vector` as a variable-size list.
fn export_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::FixedSizeList(item, _) => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::List(item.clone())),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<Field>>(),
    ))
}

/// A collection batch as the export files hold it.
fn exported(batch: &RecordBatch) -> Result<RecordBatch, String> {
    let schema = export_schema(&batch.schema());
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| cast(column, field.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// A part file being written in memory.
enum Part {
    Parquet(ArrowWriter<Vec<u8>>),
    Lines(LineDelimitedWriter<Vec<u8>>),
    Array(ArrayWriter<Vec<u8>>),
}

impl Part {
    fn new(job: &Job, schema: SchemaRef) -> Result<Part, String> {
        Ok(match (job.file_type, job.layout) {
            (FileType::Parquet, _) => {
                let properties = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    // Random floats never fit a dictionary; trying one costs time.
                    .set_column_dictionary_enabled(
                        ColumnPath::from(vec!["vector".into(), "list".into(), "item".into()]),
                        false,
                    )
                    .set_max_row_group_row_count(Some(job.row_group_rows))
                    .build();
                let options = ArrowWriterOptions::new()
                    .with_properties(properties)
                    .with_skip_arrow_metadata(true);
                Part::Parquet(
                    ArrowWriter::try_new_with_options(Vec::new(), schema, options)
                        .map_err(|e| e.to_string())?,
                )
            }
            (FileType::Json, JsonLayout::Lines) => {
                Part::Lines(LineDelimitedWriter::new(Vec::new()))
            }
            (FileType::Json, JsonLayout::Array) => Part::Array(ArrayWriter::new(Vec::new())),
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        match self {
            Part::Parquet(w) => w.write(batch).map_err(|e| e.to_string()),
            Part::Lines(w) => w.write(batch).map_err(|e| e.to_string()),
            Part::Array(w) => w.write(batch).map_err(|e| e.to_string()),
        }
    }

    fn finish(self) -> Result<Bytes, String> {
        let bytes = match self {
            Part::Parquet(w) => w.into_inner().map_err(|e| e.to_string())?,
            Part::Lines(mut w) => {
                w.finish().map_err(|e| e.to_string())?;
                w.into_inner()
            }
            Part::Array(mut w) => {
                w.finish().map_err(|e| e.to_string())?;
                w.into_inner()
            }
        };
        Ok(bytes.into())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;
    use arrowport_datagen::Profile;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;

    use super::*;

    fn data(rows: u64) -> DatagenConfig {
        DatagenConfig {
            rows,
            seed: 42,
            batch_size: 64,
            profile: Profile::Vikingdb,
            dim: Some(8),
        }
    }

    fn job(rows: u64, file_type: FileType, filter: Option<Filter>) -> Job {
        Job {
            data: data(rows),
            filter,
            file_type,
            layout: JsonLayout::Lines,
            rows_per_part: 100,
            row_group_rows: 30,
            prefix: "dir/task/".into(),
        }
    }

    #[test]
    fn parquet_parts_hold_the_rows_in_order_with_list_vectors() {
        let files = write(&job(250, FileType::Parquet, None), &AtomicBool::new(false)).unwrap();
        let keys: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "dir/task/part-00000.parquet",
                "dir/task/part-00001.parquet",
                "dir/task/part-00002.parquet",
                "dir/task/_SUCCESS"
            ]
        );
        assert!(files[3].1.is_empty());
        let mut ids: Vec<i64> = Vec::new();
        for (key, bytes) in &files[..3] {
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
            let groups: Vec<i64> = builder
                .metadata()
                .row_groups()
                .iter()
                .map(|g| g.num_rows())
                .collect();
            assert!(groups.iter().all(|&n| n <= 30), "{key}: {groups:?}");
            let schema = builder.schema().clone();
            assert!(
                matches!(
                    schema.field_with_name("vector").unwrap().data_type(),
                    DataType::List(_)
                ),
                "{schema:?}"
            );
            assert!(schema.metadata().is_empty());
            for batch in builder.build().unwrap() {
                let batch = batch.unwrap();
                ids.extend(batch.column(0).as_primitive::<Int64Type>().values().iter());
            }
        }
        assert_eq!(ids, (0..250).collect::<Vec<_>>());
    }

    #[test]
    fn filtered_json_parts_hold_only_matching_rows() {
        let filter = Filter::from_conds(
            json!([{"op": "range", "field": "id", "gte": 5, "lt": 215}])
                .as_array()
                .unwrap(),
        )
        .unwrap();
        let mut job = job(300, FileType::Json, Some(filter.clone()));
        let files = write(&job, &AtomicBool::new(false)).unwrap();
        assert_eq!(files.len(), 4);
        let lines: Vec<Value> = files[..3]
            .iter()
            .flat_map(|(_, b)| {
                std::str::from_utf8(b)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(lines.len(), 210);
        assert_eq!(lines[0]["id"], 5);
        assert_eq!(lines[0]["vector"].as_array().unwrap().len(), 8);
        assert!(
            lines
                .iter()
                .all(|l| l["sparse"].is_object() && l["tags"].is_array())
        );

        job.layout = JsonLayout::Array;
        let files = write(&job, &AtomicBool::new(false)).unwrap();
        let rows: Vec<Value> = serde_json::from_slice(&files[0].1).unwrap();
        assert_eq!(rows.len(), 100);
        assert_eq!(rows[..], lines[..100]);

        let scan = scan(&job.data, Some(&filter)).unwrap();
        assert_eq!(scan.matched, 210);
        assert_eq!(scan.sample[..], lines[..5]);
    }

    #[test]
    fn nothing_matched_is_only_a_marker_and_cancel_stops() {
        let filter = Filter::from_conds(
            json!([{"op": "range", "field": "id", "lt": 0}])
                .as_array()
                .unwrap(),
        )
        .unwrap();
        let job = job(100, FileType::Parquet, Some(filter.clone()));
        let files = write(&job, &AtomicBool::new(false)).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "dir/task/_SUCCESS");
        let scan = scan(&job.data, Some(&filter)).unwrap();
        assert_eq!((scan.matched, scan.sample.len()), (0, 0));
        assert!(write(&job, &AtomicBool::new(true)).is_err());
    }

    #[test]
    fn exported_batches_keep_values() {
        let batch = generate_batch(&data(10), 0, 10, None).unwrap();
        let out = exported(&batch).unwrap();
        let vector = out.column_by_name("vector").unwrap().as_list::<i32>();
        assert_eq!(
            vector.values().to_data(),
            batch
                .column_by_name("vector")
                .unwrap()
                .as_fixed_size_list()
                .values()
                .to_data()
        );
        assert_eq!(vector.len(), 10);
    }
}
