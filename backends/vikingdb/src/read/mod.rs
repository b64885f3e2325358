//! Turning the objects an export task wrote into record batches of the announced schema.

mod cursor;
mod json;
mod parquet;
mod vectors;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrowport_core::{Context, Result};
use futures::stream::{BoxStream, StreamExt};

use self::cursor::ObjectCursor;
use self::json::JsonObject;
use self::parquet::ParquetObject;
use crate::config::FileType;
use crate::tos::{ObjectInfo, TosClient};

/// Bytes per ranged GET when an object is read sequentially (JSON, gaps between row groups).
pub(crate) const CHUNK: u64 = 8 * 1024 * 1024;

/// Extensions that never hold exported rows (checksums, logs, markers, the other format).
const NOT_DATA: &[&str] = &[
    "txt", "md5", "crc", "csv", "log", "meta", "checksum", "sha256", "done", "success", "tmp",
];

/// Whether `key` is a marker rather than a file: `_SUCCESS`-style, hidden, or a directory.
pub fn is_marker(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or_default();
    key.ends_with('/') || name.starts_with('_') || name.starts_with('.')
}

/// Whether `object` holds exported rows of `file_type`. Markers (`_SUCCESS`, hidden files,
/// directory placeholders, empty objects), manifests and other formats do not.
pub fn is_data_object(object: &ObjectInfo, file_type: FileType) -> bool {
    let name = object
        .key
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if is_marker(&object.key) || object.size == 0 || name.contains("manifest") {
        return false;
    }
    let other = match file_type {
        FileType::Parquet => ["json", "jsonl", "ndjson"].as_slice(),
        FileType::Json => ["parquet", "parq", "pq"].as_slice(),
    };
    match name.rsplit_once('.') {
        Some((_, ext)) => !NOT_DATA.contains(&ext) && !other.contains(&ext),
        None => true,
    }
}

/// The batches of one data object, in file order. The object's size and CRC-64 are checked
/// once its last byte has been read; a mismatch ends the stream with an error.
pub fn read_object(
    tos: TosClient,
    bucket: String,
    object: ObjectInfo,
    file_type: FileType,
    target: SchemaRef,
    batch_size: usize,
    cx: Context,
) -> BoxStream<'static, Result<RecordBatch>> {
    let reader = ObjectReader::Unopened {
        cursor: Box::new(ObjectCursor::new(tos, bucket, object)),
        file_type,
        target,
        batch_size,
    };
    futures::stream::unfold((reader, cx), |(mut reader, cx)| async move {
        let item = reader.next(&cx).await?;
        Some((item, (reader, cx)))
    })
    .boxed()
}

#[derive(Debug)]
enum ObjectReader {
    Unopened {
        cursor: Box<ObjectCursor>,
        file_type: FileType,
        target: SchemaRef,
        batch_size: usize,
    },
    Parquet(Box<ParquetObject>),
    Json(Box<JsonObject>),
    Done,
}

impl ObjectReader {
    async fn next(&mut self, cx: &Context) -> Option<Result<RecordBatch>> {
        if let ObjectReader::Unopened { .. } = self {
            let ObjectReader::Unopened {
                cursor,
                file_type,
                target,
                batch_size,
            } = std::mem::replace(self, ObjectReader::Done)
            else {
                unreachable!("matched above")
            };
            let opened = match file_type {
                FileType::Parquet => ParquetObject::open(*cursor, target, batch_size, cx)
                    .await
                    .map(|p| ObjectReader::Parquet(Box::new(p))),
                FileType::Json => JsonObject::new(*cursor, target, batch_size)
                    .map(|j| ObjectReader::Json(Box::new(j))),
            };
            match opened {
                Ok(reader) => *self = reader,
                Err(e) => return Some(Err(e)),
            }
        }
        let item = match self {
            ObjectReader::Parquet(p) => p.next().await,
            ObjectReader::Json(j) => j.next(cx).await,
            ObjectReader::Unopened { .. } | ObjectReader::Done => None,
        };
        if !matches!(item, Some(Ok(_))) {
            *self = ObjectReader::Done;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, size: u64) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size,
            crc64: None,
        }
    }

    #[test]
    fn only_data_objects_are_read() {
        let parquet = |k: &str| is_data_object(&object(k, 10), FileType::Parquet);
        assert!(parquet("p/t1/part-00000.parquet"));
        assert!(parquet("p/t1/part-00000.snappy.parquet"));
        assert!(parquet("p/t1/part-00000"));
        for skipped in [
            "p/_SUCCESS",
            "p/.hidden",
            "p/dir/",
            "p/manifest.json",
            "p/x.md5",
            "p/a.json",
        ] {
            assert!(!parquet(skipped), "{skipped}");
        }
        assert!(!is_data_object(
            &object("p/part-1.parquet", 0),
            FileType::Parquet
        ));
        assert!(is_data_object(&object("p/part-1.jsonl", 5), FileType::Json));
        assert!(!is_data_object(
            &object("p/part-1.parquet", 5),
            FileType::Json
        ));
    }
}
