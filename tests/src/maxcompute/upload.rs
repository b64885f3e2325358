//! The Table Tunnel's upload side (spec §1.3): `POST ?uploads` creates a session, `PUT
//! ?uploadid=&blockid=` stores one block (decoded completely, every CRC checked; a re-PUT
//! replaces it), `GET ?uploadid=` lists the blocks held, `POST ?uploadid=` commits them in block
//! order, once. Until the commit nothing is visible; a session that is never committed changes
//! nothing. `create_partition` creates a missing partition at commit, with the data.
//!
//! Errors: 404 `NoSuchPartition` (missing partition without `create_partition`), 400
//! `MissingPartitionSpec` / `InvalidPartitionSpec`, 404 `NoSuchUpload` (unknown id, or one of
//! another table), 400 `InvalidBlockID` (not 0..=19999), 400 `CorruptedDataStream` (a block
//! that does not decode, fails a CRC, or breaks the table's types), 400 `InvalidArgument` (an
//! unknown `Content-Encoding`), 409 `StatusConflict` (expired or already committed session).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Decimal128Type};
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};

use super::record_decode;
use super::tables::{Section, TableDef, parse_spec};
use super::{Shared, lock};
use crate::http::Body;

type Query = BTreeMap<String, String>;

/// Block ids the tunnel accepts.
const MAX_BLOCK_ID: u64 = 19_999;

/// The Arrow IPC end-of-stream marker: a continuation and a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];

/// A failed request: HTTP status, tunnel error code and message.
pub(crate) struct Failure(pub(crate) u16, pub(crate) &'static str, pub(crate) String);

/// Every upload session created and its state.
#[derive(Default)]
pub(crate) struct Uploads {
    sessions: std::sync::Mutex<HashMap<String, Upload>>,
}

struct Upload {
    /// Creation order, for [`summaries`].
    serial: u64,
    table: Arc<TableDef>,
    /// The partition, by values in key order (`None` for an unpartitioned table).
    partition: Option<Vec<String>>,
    overwrite: bool,
    create_partition: bool,
    blocks: BTreeMap<u64, Vec<RecordBatch>>,
    committed: bool,
    /// The fault generations (all sessions, upload sessions) it was created in; an older
    /// one than the current means expired.
    generation: (u64, u64),
}

/// One upload session as [`MaxComputeEmulator::uploads`] reports it.
///
/// [`MaxComputeEmulator::uploads`]: super::MaxComputeEmulator::uploads
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSummary {
    pub id: String,
    pub table: String,
    /// `pt=a,dt=b`, unquoted, keys in the table's order.
    pub partition: Option<String>,
    pub overwrite: bool,
    pub create_partition: bool,
    /// The blocks held, by id, with their record counts.
    pub blocks: Vec<(u64, u64)>,
    pub committed: bool,
    /// Expired by a fault (`expire_sessions`, `expire_upload_sessions`).
    pub expired: bool,
}

/// Every upload session in creation order.
pub(crate) fn summaries(shared: &Shared) -> Vec<UploadSummary> {
    let sessions = lock(&shared.uploads.sessions);
    let mut all: Vec<(&String, &Upload)> = sessions.iter().collect();
    all.sort_by_key(|(_, u)| u.serial);
    all.into_iter()
        .map(|(id, u)| UploadSummary {
            id: id.clone(),
            table: u.table.name.to_string(),
            partition: u.partition.as_ref().map(|values| {
                u.table
                    .partition_keys
                    .iter()
                    .zip(values)
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            overwrite: u.overwrite,
            create_partition: u.create_partition,
            blocks: u
                .blocks
                .iter()
                .map(|(&id, batches)| (id, rows(batches)))
                .collect(),
            committed: u.committed,
            expired: expired(shared, u),
        })
        .collect()
}

/// `POST ?uploads[&partition=..][&overwrite=true][&create_partition=true]`.
pub(crate) fn create(
    shared: &Shared,
    table: &Arc<TableDef>,
    query: &Query,
) -> Result<Response<Body>, Failure> {
    let create_partition = flag(query, "create_partition");
    let partition = partition_values(table, query)?;
    if let Some(values) = &partition {
        let exists = section_of(table, values).is_some();
        if !exists && !create_partition {
            return Err(Failure(
                404,
                "NoSuchPartition",
                format!(
                    "partition `{}` of table `{}` does not exist",
                    query["partition"], table.name
                ),
            ));
        }
    }
    let serial = shared.next_id();
    let id = format!("20230119upload{serial:016x}");
    let upload = Upload {
        serial,
        table: table.clone(),
        partition,
        overwrite: flag(query, "overwrite"),
        create_partition,
        blocks: BTreeMap::new(),
        committed: false,
        generation: shared.faults.generations(),
    };
    let body = session_json(&id, &upload);
    lock(&shared.uploads.sessions).insert(id, upload);
    Ok(json_response(201, &body))
}

/// `PUT ?uploadid=ID&blockid=N[&arrow]`: decodes and stores the block.
pub(crate) fn put_block(
    shared: &Shared,
    table: &Arc<TableDef>,
    query: &Query,
    body: &Bytes,
    content_encoding: Option<&str>,
) -> Result<Response<Body>, Failure> {
    let id = upload_id(query)?;
    with_session(shared, table, query, &id, |_| Ok(()))?;
    let block: u64 = query
        .get("blockid")
        .and_then(|b| b.parse().ok())
        .filter(|&b| b <= MAX_BLOCK_ID)
        .ok_or_else(|| {
            Failure(
                400,
                "InvalidBlockID",
                format!(
                    "the specified block id is not valid: must be 0..={MAX_BLOCK_ID}, got {:?}",
                    query.get("blockid").map(String::as_str).unwrap_or_default()
                ),
            )
        })?;
    if shared.faults.take_block_error() {
        return Err(Failure(
            500,
            "InternalServerError",
            format!("internal server error storing block {block} (emulator fault)"),
        ));
    }
    let body = shared.faults.damage_block(body);
    let raw = decompress(&body, content_encoding)?;
    let batches = if query.contains_key("arrow") {
        decode_arrow(table, &raw)?
    } else {
        let batch = record_decode::decode(&raw, &table.schema()).map_err(|m| {
            Failure(
                400,
                "CorruptedDataStream",
                format!("block {block} is not a valid record stream: {m}"),
            )
        })?;
        vec![batch]
    };
    // Checked again: the session may have been committed while the block was decoded.
    with_session(shared, table, query, &id, |upload| {
        upload.blocks.insert(block, batches);
        Ok(())
    })?;
    Ok(Response::builder()
        .status(200)
        .body(crate::http::empty())
        .expect("a valid response"))
}

/// `GET ?uploadid=ID`: the session with its block list.
pub(crate) fn status(
    shared: &Shared,
    table: &Arc<TableDef>,
    query: &Query,
) -> Result<Response<Body>, Failure> {
    let id = upload_id(query)?;
    let body = with_session(shared, table, query, &id, |upload| {
        Ok(session_json(&id, upload))
    })?;
    Ok(json_response(200, &body))
}

/// `POST ?uploadid=ID`: makes every block visible, in block order, once.
pub(crate) fn commit(
    shared: &Shared,
    table: &Arc<TableDef>,
    query: &Query,
) -> Result<Response<Body>, Failure> {
    let id = upload_id(query)?;
    let body = with_session(shared, table, query, &id, |upload| {
        if shared.faults.take_commit_conflict() {
            return Err(Failure(
                409,
                "StatusConflict",
                format!("upload session `{id}` cannot be committed now (emulator fault)"),
            ));
        }
        let section: Section = match &upload.partition {
            None => None,
            Some(values) => Some(match section_of(table, values) {
                Some(p) => p,
                None if upload.create_partition => table.create_partition(values.clone()),
                None => {
                    return Err(Failure(
                        404,
                        "NoSuchPartition",
                        "the session's partition no longer exists".into(),
                    ));
                }
            }),
        };
        let batches: Vec<RecordBatch> = upload.blocks.values().flatten().cloned().collect();
        table.commit(section, batches, upload.overwrite);
        upload.committed = true;
        shared.count_commit();
        Ok(session_json(&id, upload))
    })?;
    Ok(json_response(200, &body))
}

/// Runs `f` on the session `uploadid` names, under the sessions' lock, once it is checked
/// against the table, partition, expiry and commit.
fn with_session<T>(
    shared: &Shared,
    table: &TableDef,
    query: &Query,
    id: &str,
    f: impl FnOnce(&mut Upload) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let partition = partition_values(table, query)?;
    let mut sessions = lock(&shared.uploads.sessions);
    let Some(upload) = sessions.get_mut(id).filter(|u| u.table.name == table.name) else {
        return Err(Failure(
            404,
            "NoSuchUpload",
            format!(
                "upload session `{id}` does not exist for table `{}`",
                table.name
            ),
        ));
    };
    if upload.partition != partition {
        return Err(Failure(
            400,
            "InvalidPartitionSpec",
            format!("upload session `{id}` is for another partition"),
        ));
    }
    if expired(shared, upload) {
        return Err(Failure(
            409,
            "StatusConflict",
            format!("the upload session `{id}` is expired"),
        ));
    }
    if upload.committed {
        return Err(Failure(
            409,
            "StatusConflict",
            format!("upload session `{id}` is already committed"),
        ));
    }
    f(upload)
}

fn expired(shared: &Shared, upload: &Upload) -> bool {
    let (all, uploads) = shared.faults.generations();
    upload.generation.0 < all || upload.generation.1 < uploads
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

fn upload_id(query: &Query) -> Result<String, Failure> {
    query
        .get("uploadid")
        .filter(|id| !id.is_empty())
        .cloned()
        .ok_or_else(|| {
            Failure(
                400,
                "InvalidArgument",
                "the request names no upload session".into(),
            )
        })
}

/// A switch: `key=true` (PyODPS) or a bare `key` (Java's `create_partition`).
fn flag(query: &Query, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| v.is_empty() || v.eq_ignore_ascii_case("true"))
}

/// The partition's values in key order, from `partition=`; `None` for unpartitioned tables.
fn partition_values(table: &TableDef, query: &Query) -> Result<Option<Vec<String>>, Failure> {
    let spec = parse_spec(query.get("partition").map_or("", String::as_str));
    match (table.is_partitioned(), spec.is_empty()) {
        (false, true) => Ok(None),
        (false, false) => Err(Failure(
            400,
            "InvalidPartitionSpec",
            format!("table `{}` is not partitioned", table.name),
        )),
        (true, true) => Err(Failure(
            400,
            "MissingPartitionSpec",
            format!("table `{}` is partitioned; name a partition", table.name),
        )),
        (true, false) => {
            let mut values = Vec::new();
            for key in &table.partition_keys {
                let Some((_, v)) = spec.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
                    return Err(Failure(
                        400,
                        "InvalidPartitionSpec",
                        format!(
                            "the partition spec must give every key ({})",
                            table.partition_keys.join(", ")
                        ),
                    ));
                };
                values.push(v.clone());
            }
            if spec.len() != values.len() {
                return Err(Failure(
                    400,
                    "InvalidPartitionSpec",
                    "unknown partition keys".into(),
                ));
            }
            Ok(Some(values))
        }
    }
}

fn section_of(table: &TableDef, values: &[String]) -> Option<usize> {
    let spec: Vec<(String, String)> = table
        .partition_keys
        .iter()
        .map(|k| k.to_string())
        .zip(values.iter().cloned())
        .collect();
    table.find_partition(&spec).ok().flatten()
}

/// The block's raw bytes: the body itself when it is not compressed.
fn decompress<'a>(body: &'a Bytes, encoding: Option<&str>) -> Result<Cow<'a, [u8]>, Failure> {
    let corrupt = |e: std::io::Error| {
        Failure(
            400,
            "CorruptedDataStream",
            format!("cannot decompress the block: {e}"),
        )
    };
    let mut out = Vec::new();
    match encoding.map(str::to_ascii_lowercase).as_deref() {
        None | Some("identity") => return Ok(Cow::Borrowed(body)),
        Some("deflate") => flate2::read::ZlibDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        Some("zstd") => zstd::stream::read::Decoder::new(&body[..])
            .map_err(corrupt)?
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        Some("x-lz4-frame" | "x-odps-lz4-frame") => lz4_flex::frame::FrameDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        Some(other) => {
            return Err(Failure(
                400,
                "InvalidArgument",
                format!("unsupported Content-Encoding `{other}`"),
            ));
        }
    };
    Ok(Cow::Owned(out))
}

/// An Arrow block: `u32be(CHUNK)`, frames of CHUNK bytes each followed by its CRC32C, then the
/// rest followed by the CRC32C of the whole payload; the payload is IPC record batch messages
/// in the table's data columns (the server knows the schema). The payload is copied once,
/// behind the schema message, and the batches decoded from that buffer without copying again.
fn decode_arrow(table: &TableDef, framed: &[u8]) -> Result<Vec<RecordBatch>, Failure> {
    let corrupt = |m: String| Failure(400, "CorruptedDataStream", m);
    if framed.len() < 8 {
        return Err(corrupt(
            "the Arrow block is shorter than its framing".into(),
        ));
    }
    let chunk = u32::from_be_bytes(framed[..4].try_into().expect("4 bytes")) as usize;
    if chunk == 0 {
        return Err(corrupt("chunk size 0".into()));
    }
    let schema = table.schema();
    let mut stream = StreamWriter::try_new(Vec::new(), &schema)
        .map_err(|e| Failure(500, "InternalServerError", e.to_string()))?
        .into_inner()
        .map_err(|e| Failure(500, "InternalServerError", e.to_string()))?;
    // `into_inner` finished the writer with an end marker after the schema: drop it.
    stream.truncate(stream.len() - 8);
    let payload_at = stream.len();
    stream.reserve(framed.len());
    let mut rest = &framed[4..];
    while rest.len() >= chunk + 4 {
        let (data, tail) = rest.split_at(chunk);
        let crc = u32::from_be_bytes(tail[..4].try_into().expect("4 bytes"));
        if crc32c::crc32c(data) != crc {
            return Err(corrupt(format!(
                "chunk CRC mismatch after {} bytes",
                stream.len() - payload_at
            )));
        }
        stream.extend_from_slice(data);
        rest = &tail[4..];
    }
    // The last frame: fewer than CHUNK bytes, then the CRC of everything.
    if rest.len() < 4 || rest.len() > chunk + 4 {
        return Err(corrupt("the Arrow block's last frame is malformed".into()));
    }
    let (data, crc) = rest.split_at(rest.len() - 4);
    stream.extend_from_slice(data);
    if crc32c::crc32c(&stream[payload_at..]) != u32::from_be_bytes(crc.try_into().expect("4 bytes"))
    {
        return Err(corrupt("the Arrow block's final CRC does not match".into()));
    }
    // An end marker, unless the writer sent one (PyODPS does not): the decoder then reaches
    // the end of the stream even after a message without a body (the schema of an empty block).
    if !stream.ends_with(&END_OF_STREAM) {
        stream.extend_from_slice(&END_OF_STREAM);
    }
    let mut buffer = Buffer::from_vec(stream);
    let mut decoder = StreamDecoder::new();
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        if let Some(batch) = decoder
            .decode(&mut buffer)
            .map_err(|e| corrupt(format!("bad Arrow record batch: {e}")))?
        {
            batches.push(batch);
        }
    }
    decoder
        .finish()
        .map_err(|e| corrupt(format!("not an Arrow stream: {e}")))?;
    // The IPC decoder checks layouts and nullability, not decimal precision.
    for batch in &batches {
        for (column, field) in batch.columns().iter().zip(schema.fields()) {
            if let DataType::Decimal128(precision, _) = field.data_type() {
                column
                    .as_primitive::<Decimal128Type>()
                    .validate_decimal_precision(*precision)
                    .map_err(|e| corrupt(format!("column `{}`: {e}", field.name())))?;
            }
        }
    }
    Ok(batches)
}

fn session_json(id: &str, upload: &Upload) -> Value {
    let blocks: Vec<Value> = upload
        .blocks
        .iter()
        .map(|(id, batches)| {
            json!({
                "BlockID": id,
                "RecordCount": rows(batches),
                "Version": 0,
                "CreateTime": 1_674_131_696,
                "FileName": format!("block_{id}"),
            })
        })
        .collect();
    json!({
        "UploadID": id,
        "Status": if upload.committed { "closed" } else { "normal" },
        "Schema": super::tunnel::schema_json(&upload.table),
        "UploadedBlockList": blocks,
        "MaxFieldSize": 8_388_608,
        "QuotaName": "",
    })
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(crate::http::full(body.to_string()))
        .expect("a valid response")
}
