//! The codecs against the golden vectors, and the emulator over loopback driven by a minimal
//! signed HTTP client of its own.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, Int64Builder,
    ListArray, MapBuilder, StringArray, StringBuilder, StructArray, TimestampMillisecondArray,
    TimestampNanosecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int64Type, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::arrow_frame::{ArrowEncoder, Framer};
use super::auth::{Received, Rejection, base64, canonical_string, sign_v2, v4_key};
use super::record::{CRC32C, RecordEncoder, decimal_text};
use super::tables::arrow_type;
use super::*;

const DATE: &str = "Thu, 19 Jan 2023 12:34:56 GMT";

fn vectors(file: &str) -> Value {
    let path = format!(
        "{}/../../shared/testvectors/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

// ---------------------------------------------------------------------------------------
// Signatures

fn header_map(headers: &Value) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.as_object().unwrap() {
        map.insert(
            HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    map
}

fn vector_verifier(file: &Value) -> Verifier {
    Verifier {
        access_id: file["access_id"].as_str().unwrap().into(),
        secret: file["secret_access_key"].as_str().unwrap().into(),
        region: "cn-hangzhou".into(),
    }
}

/// The resource prefix of a vector's endpoint: `/api` for the meta API, none for the tunnel.
fn endpoint_path(endpoint: &str) -> &str {
    let rest = endpoint.strip_prefix("http://").unwrap();
    rest.find('/').map_or("", |i| &rest[i..])
}

#[test]
fn every_pyodps_request_vector_verifies() {
    let file = vectors("odps_sign.json");
    let verifier = vector_verifier(&file);
    let list = file["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 7);
    for v in list {
        let name = v["name"].as_str().unwrap();
        let (path, query) = v["path_and_query_as_sent"]
            .as_str()
            .unwrap()
            .split_once('?')
            .unwrap();
        let mut headers = header_map(&v["all_request_headers"]);
        let prefix = endpoint_path(v["endpoint"].as_str().unwrap());
        let method = v["method"].as_str().unwrap();
        let req = Received {
            method,
            path,
            query,
            headers: &headers,
        };
        assert_eq!(
            canonical_string(&req, prefix).unwrap(),
            v["canonical_string"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(verifier.verify(&req, prefix), Ok(()), "{name}");
        // A signed header changed on the way is a mismatch.
        headers.insert("x-odps-user-agent", HeaderValue::from_static("tampered"));
        let req = Received {
            method,
            path,
            query,
            headers: &headers,
        };
        assert!(
            matches!(verifier.verify(&req, prefix), Err(Rejection::Mismatch(_))),
            "{name}"
        );
    }
}

#[test]
fn unknown_ids_and_missing_credentials_are_unauthorized() {
    let file = vectors("odps_sign.json");
    let v = &file["vectors"][0];
    let headers = header_map(&v["all_request_headers"]);
    let req = Received {
        method: "GET",
        path: "/api/projects/test_proj/tables/test_table",
        query: "curr_project=test_proj",
        headers: &headers,
    };
    let other = Verifier {
        access_id: "someone-else".into(),
        ..vector_verifier(&file)
    };
    assert!(matches!(
        other.verify(&req, "/api"),
        Err(Rejection::Unauthorized(m)) if m.contains("test_access_id")
    ));
    let empty = HeaderMap::new();
    let req = Received {
        headers: &empty,
        ..req
    };
    assert!(matches!(
        vector_verifier(&file).verify(&req, "/api"),
        Err(Rejection::Unauthorized(_))
    ));
}

#[test]
fn v4_signatures_verify_for_the_configured_region_only() {
    let file = vectors("odps_sign.json");
    let v4 = &file["v4"];
    let secret = file["secret_access_key"].as_str().unwrap();
    let key = v4_key(secret, "20230119", "cn-hangzhou");
    assert_eq!(hex::encode(&key), v4["signing_key_hex"].as_str().unwrap());
    // The v4 vector signs the first request vector's canonical string.
    let v = &file["vectors"][0];
    assert_eq!(v4["canonical_string"], v["canonical_string"]);
    let mut headers = header_map(&v["all_request_headers"]);
    headers.insert(
        "authorization",
        HeaderValue::from_str(v4["authorization"].as_str().unwrap()).unwrap(),
    );
    let req = Received {
        method: "GET",
        path: "/api/projects/test_proj/tables/test_table",
        query: "curr_project=test_proj",
        headers: &headers,
    };
    let verifier = vector_verifier(&file);
    assert_eq!(verifier.verify(&req, "/api"), Ok(()));
    let elsewhere = Verifier {
        region: "cn-shanghai".into(),
        ..verifier
    };
    assert!(matches!(
        elsewhere.verify(&req, "/api"),
        Err(Rejection::Mismatch(m)) if m.contains("cn-hangzhou")
    ));
}

#[test]
fn the_java_sdk_hmac_vector_and_base64_agree() {
    let file = vectors("odps_sign.json");
    let java = &file["java_cross_check"];
    assert_eq!(
        sign_v2(
            java["secret"].as_str().unwrap(),
            java["canonical_string"].as_str().unwrap()
        ),
        java["signature_v2_base64"].as_str().unwrap()
    );
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
}

// ---------------------------------------------------------------------------------------
// Record stream and Arrow framing

#[test]
fn crc32c_is_castagnoli() {
    assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
    assert_eq!(CRC32C.checksum(b""), 0);
}

#[test]
fn decimals_are_plain_and_padded_to_the_scale() {
    assert_eq!(decimal_text(1_234_500, 4), "123.4500");
    assert_eq!(decimal_text(-1, 4), "-0.0001");
    assert_eq!(decimal_text(0, 4), "0.0000");
    assert_eq!(decimal_text(-120, 2), "-1.20");
    assert_eq!(decimal_text(42, 0), "42");
    assert_eq!(decimal_text(i128::MIN + 1, 0), (i128::MIN + 1).to_string());
}

/// The vector's bytes for `rows`, with a footer for just those rows built from the vector's
/// own record CRCs.
fn expected_records(vector: &Value, rows: &[usize]) -> Vec<u8> {
    let raw = unhex(vector["raw_hex"].as_str().unwrap());
    let records = vector["records"].as_array().unwrap();
    let mut out = Vec::new();
    let mut crcs = Vec::new();
    for &r in rows {
        let record = &records[r];
        let (from, to) = (
            record["offset"].as_u64().unwrap() as usize,
            record["end"].as_u64().unwrap() as usize,
        );
        out.extend_from_slice(&raw[from..to]);
        crcs.extend_from_slice(&(record["record_crc32c"].as_u64().unwrap() as u32).to_le_bytes());
    }
    out.extend_from_slice(&[0xf0, 0xff, 0xff, 0x7f, rows.len() as u8 * 2]);
    out.extend_from_slice(&[0xf8, 0xff, 0xff, 0x7f]);
    let mut crc = u64::from(CRC32C.checksum(&crcs));
    while crc >= 0x80 {
        out.push(crc as u8 | 0x80);
        crc >>= 7;
    }
    out.push(crc as u8);
    out
}

fn encode_records(batch: &RecordBatch) -> Vec<u8> {
    let mut encoder = RecordEncoder::new(false);
    let mut out = Vec::new();
    encoder.encode(batch, &mut out).unwrap();
    encoder.finish(&mut out);
    out
}

fn batch_of(columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_from_iter(
        columns
            .into_iter()
            .enumerate()
            .map(|(i, c)| (format!("c{i}"), c)),
    )
    .unwrap()
}

#[test]
fn records_match_the_basic_vector() {
    let file = vectors("odps_tunnel_records.json");
    let basic = &file["record_vectors"][0];
    assert_eq!(basic["name"], "basic");
    // Rows 0, 1, 3 and 4 of the vector. Row 2 holds the decimal `0`, which PyODPS's writer
    // spells `0` and a Decimal128(18,4) (like Java's toPlainString) `0.0000`.
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    map.keys().append_value("a");
    map.values().append_value(1);
    map.keys().append_value("b");
    map.values().append_null();
    map.append(true).unwrap();
    map.append(true).unwrap();
    map.append(false).unwrap();
    map.keys().append_value("k");
    map.values().append_value(300);
    map.append(true).unwrap();
    let batch = batch_of(vec![
        Arc::new(Int64Array::from(vec![Some(1), Some(-1), None, Some(0)])),
        Arc::new(Float64Array::from(vec![
            Some(1.5),
            Some(-0.25),
            None,
            Some(0.0),
        ])),
        Arc::new(StringArray::from(vec![
            Some("hello"),
            Some("中文测试"),
            None,
            Some("x"),
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(false),
        ])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_674_131_696_789),
            Some(-1),
            None,
            Some(951_782_400_001),
        ])),
        Arc::new(
            Decimal128Array::from(vec![
                Some(1_234_500),
                Some(-1),
                None,
                Some(999_999_999_999_999_999),
            ])
            .with_precision_and_scale(18, 4)
            .unwrap(),
        ),
        Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2), None, Some(-3)]),
            Some(vec![]),
            None,
            Some(vec![None]),
        ])),
        Arc::new(map.finish()),
    ]);
    assert_eq!(
        hex::encode(encode_records(&batch)),
        hex::encode(expected_records(basic, &[0, 1, 3, 4]))
    );
}

#[test]
fn records_match_the_extended_vector() {
    let file = vectors("odps_tunnel_records.json");
    let extended = &file["record_vectors"][1];
    assert_eq!(extended["name"], "extended");
    // Rows 0 and 1; the legacy `decimal` column is written from a Decimal128(38,5), which
    // spells its `3.14159` the same way.
    let struct_fields = Fields::from(vec![
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Utf8, true),
    ]);
    let mut map = MapBuilder::new(
        None,
        Int64Builder::new(),
        arrow::array::Float64Builder::new(),
    );
    map.keys().append_value(1);
    map.values().append_value(1.25);
    map.keys().append_value(-2);
    map.values().append_null();
    map.append(true).unwrap();
    map.append(false).unwrap();
    let batch = batch_of(vec![
        Arc::new(Int8Array::from(vec![Some(-128), None])),
        Arc::new(Int16Array::from(vec![Some(32767), None])),
        Arc::new(Int32Array::from(vec![Some(i32::MIN), None])),
        Arc::new(Float32Array::from(vec![Some(0.5), None])),
        Arc::new(Date32Array::from(vec![Some(19782), None])),
        Arc::new(TimestampNanosecondArray::from(vec![
            Some(1_674_131_696_123_456_789),
            None,
        ])),
        Arc::new(BinaryArray::from(vec![
            Some(&[0u8, 1, 0x7f, 0x61, 0x62][..]),
            None,
        ])),
        Arc::new(StringArray::from(vec![Some("varchar"), None])),
        Arc::new(StringArray::from(vec![Some("ch"), None])),
        Arc::new(
            Decimal128Array::from(vec![Some(314_159), None])
                .with_precision_and_scale(38, 5)
                .unwrap(),
        ),
        Arc::new(StructArray::new(
            struct_fields,
            vec![
                Arc::new(Int64Array::from(vec![Some(7), None])),
                Arc::new(StringArray::from(vec![Some("值"), None])),
            ],
            Some(vec![true, false].into()),
        )),
        // array<string> with a null element and an empty string.
        Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(DataType::Utf8, true)),
            OffsetBuffer::from_lengths([3, 0]),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("")])),
            Some(vec![true, false].into()),
        )),
        Arc::new(map.finish()),
    ]);
    assert_eq!(
        hex::encode(encode_records(&batch)),
        hex::encode(expected_records(extended, &[0, 1]))
    );
}

#[test]
fn an_empty_stream_is_just_the_footer() {
    let file = vectors("odps_tunnel_records.json");
    let empty = &file["record_vectors"][2];
    assert_eq!(empty["name"], "empty");
    let mut out = Vec::new();
    RecordEncoder::new(false).finish(&mut out);
    assert_eq!(hex::encode(out), empty["raw_hex"].as_str().unwrap());
}

#[test]
fn arrow_framing_matches_every_vector_however_the_payload_arrives() {
    let file = vectors("odps_tunnel_records.json");
    for v in file["arrow_vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let chunk = match &v["chunk_size"] {
            Value::String(s) => s.parse().unwrap(),
            n => n.as_u64().unwrap() as usize,
        };
        let payload = unhex(v["payload_hex"].as_str().unwrap());
        for piece in [payload.len(), 7, 64, 1000] {
            let mut framer = Framer::new(chunk, false);
            let mut out = Vec::new();
            for part in payload.chunks(piece) {
                framer.push(part, &mut out);
            }
            framer.finish(&mut out);
            assert_eq!(
                hex::encode(&out),
                v["framed_hex"].as_str().unwrap(),
                "{name}, {piece}"
            );
        }
    }
}

/// The payload of a framed Arrow body, every frame's CRC checked.
fn unframe(body: &[u8]) -> Result<Vec<u8>, String> {
    let u32be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    let chunk = u32be(&body[..4]) as usize;
    let (mut payload, mut at) = (Vec::new(), 4);
    loop {
        let rest = &body[at..];
        if rest.len() >= chunk + 4 {
            let (data, crc) = (&rest[..chunk], u32be(&rest[chunk..chunk + 4]));
            if CRC32C.checksum(data) != crc {
                return Err(format!("frame at {at}: CRC mismatch"));
            }
            payload.extend_from_slice(data);
            at += chunk + 4;
        } else {
            let (data, crc) = rest.split_at(rest.len() - 4);
            payload.extend_from_slice(data);
            if CRC32C.checksum(&payload) != u32be(crc) {
                return Err("last frame: CRC mismatch".into());
            }
            return Ok(payload);
        }
    }
}

/// Decodes an Arrow body as PyODPS does: the client's schema message, then the payload.
fn decode_arrow(body: &[u8], schema: &SchemaRef) -> Result<Vec<RecordBatch>, String> {
    let mut stream = StreamWriter::try_new(Vec::new(), schema)
        .unwrap()
        .into_inner()
        .unwrap();
    // `into_inner` ends the stream; what PyODPS prepends is the schema message alone.
    let eos = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert!(stream.ends_with(&eos));
    stream.truncate(stream.len() - eos.len());
    stream.extend(unframe(body)?);
    StreamReader::try_new(stream.as_slice(), None)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

#[test]
fn arrow_bodies_decode_to_the_batches_they_were_made_of() {
    let config = MaxComputeConfig {
        rows: 300,
        ..MaxComputeConfig::default()
    };
    let table = tables::fixtures(&config)
        .into_iter()
        .find(|t| t.name == "all_types")
        .unwrap();
    let all: Vec<usize> = (0..table.columns.len()).collect();
    let batches: Vec<_> = [(0, 100), (100, 200)]
        .map(|(start, len)| {
            table
                .batch(&table.snapshot(None), None, start, len, &all)
                .unwrap()
        })
        .into();
    let mut encoder = ArrowEncoder::new(false);
    let mut body = Vec::new();
    for batch in &batches {
        encoder.encode(batch, &mut body).unwrap();
    }
    encoder.finish(&mut body);
    assert!(body.len() > 65536 + 8, "several frames");
    assert_eq!(decode_arrow(&body, &table.schema()).unwrap(), batches);
}

// ---------------------------------------------------------------------------------------
// Fixtures

#[test]
fn types_map_as_pyodps_maps_them() {
    use arrow::datatypes::TimeUnit;
    assert_eq!(arrow_type("BIGINT"), Some(DataType::Int64));
    assert_eq!(
        arrow_type("datetime"),
        Some(DataType::Timestamp(TimeUnit::Millisecond, None))
    );
    assert_eq!(
        arrow_type("timestamp_ntz"),
        Some(DataType::Timestamp(TimeUnit::Nanosecond, None))
    );
    assert_eq!(
        arrow_type("decimal(18,4)"),
        Some(DataType::Decimal128(18, 4))
    );
    assert_eq!(arrow_type("varchar(64)"), Some(DataType::Utf8));
    let Some(DataType::List(element)) = arrow_type("array<map<string,array<bigint>>>") else {
        panic!("nested types parse")
    };
    assert_eq!(
        Some(element.data_type().clone()),
        arrow_type("map<string,array<bigint>>")
    );
    let DataType::Map(entries, false) = arrow_type("map<string,bigint>").unwrap() else {
        panic!("a map")
    };
    let DataType::Struct(kv) = entries.data_type() else {
        panic!("entries are a struct")
    };
    assert_eq!(
        (
            entries.name().as_str(),
            kv[0].name().as_str(),
            kv[1].name().as_str()
        ),
        ("entries", "key", "value")
    );
    assert!(!kv[0].is_nullable() && kv[1].is_nullable());
    assert_eq!(
        arrow_type("struct<a:bigint, b:string>"),
        Some(DataType::Struct(Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ])))
    );
    for unknown in [
        "decimal",
        "json",
        "interval_day_time",
        "array<>",
        "decimal(54,18)",
    ] {
        assert_eq!(arrow_type(unknown), None, "{unknown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_data_follows_its_rules() {
    let emu = start(MaxComputeConfig::default()).await;
    let all_types = concat(&emu.table_batches("all_types", None));
    assert_eq!(all_types.schema(), emu.table_schema("all_types"));
    let ids: Vec<i64> = all_types
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    for (field, column) in all_types
        .schema()
        .fields()
        .iter()
        .zip(all_types.columns())
        .skip(1)
    {
        assert!(column.null_count() > 0, "{} has NULLs", field.name());
        assert!(
            column.null_count() < column.len(),
            "{} has values",
            field.name()
        );
    }
    let strings = all_types
        .column_by_name("c_string")
        .unwrap()
        .as_string::<i32>();
    assert!(strings.iter().any(|s| s == Some("")));
    assert!(strings.iter().any(|s| s.is_some_and(|s| !s.is_ascii())));
    let sales = emu.table_batches("sales", Some("pt=b,dt=20230119"));
    assert_eq!(
        concat(&sales)
            .column(0)
            .as_primitive::<Int64Type>()
            .value(0),
        200
    );
    assert!(
        emu.table_batches("sales", Some("dt=20230120,pt=b"))
            .is_empty()
    );
    assert_eq!(
        emu.table_batches("sales", None)
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        300
    );
    assert!(emu.table_batches("empty", None).is_empty());
    assert_eq!(emu.table_schema("narrow").fields().len(), 5);
    let debug = format!("{:?}", emu.config());
    assert!(debug.contains("<redacted>") && !debug.contains(&emu.config().secret_access_key));
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).unwrap()
}

// ---------------------------------------------------------------------------------------
// Over loopback

async fn start(config: MaxComputeConfig) -> MaxComputeEmulator {
    MaxComputeEmulator::start(config).await.unwrap()
}

/// What came back: status, headers, the body bytes received and the error reading broke off
/// with, if any.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    error: Option<hyper::Error>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The tunnel's JSON or the meta API's XML error code.
    fn code(&self) -> String {
        let text = self.text();
        match text.split_once("<Code>") {
            Some((_, rest)) => rest.split_once("</Code>").unwrap().0.to_string(),
            None => self.json()["Code"].as_str().unwrap().to_string(),
        }
    }
}

/// A signed request: `target` is path and query as sent to `service`'s listener.
async fn call(
    emu: &MaxComputeEmulator,
    service: Service,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
) -> Reply {
    call_as(
        emu,
        &emu.config().secret_access_key,
        service,
        method,
        target,
        extra,
    )
    .await
}

/// A signed GET of the meta API path `path` (below the project).
async fn get_meta(emu: &MaxComputeEmulator, path: &str) -> Reply {
    call(emu, Service::Meta, "GET", &meta_path(emu, path), &[]).await
}

async fn call_as(
    emu: &MaxComputeEmulator,
    secret: &str,
    service: Service,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
) -> Reply {
    call_with_body(emu, secret, service, method, target, extra, empty_body()).await
}

type TestBody = BoxBody<Bytes, std::convert::Infallible>;

fn empty_body() -> TestBody {
    Empty::<Bytes>::new().boxed()
}

/// A body with a `Content-Length`.
fn sized_body(bytes: Vec<u8>) -> TestBody {
    Full::new(Bytes::from(bytes)).boxed()
}

/// A body of unknown length, sent with `Transfer-Encoding: chunked` in pieces of 1000 bytes,
/// as PyODPS streams blocks.
fn chunked_body(bytes: Vec<u8>) -> TestBody {
    let pieces: Vec<Result<hyper::body::Frame<Bytes>, std::convert::Infallible>> = bytes
        .chunks(1000)
        .map(|c| Ok(hyper::body::Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    StreamBody::new(futures::stream::iter(pieces)).boxed()
}

async fn call_with_body(
    emu: &MaxComputeEmulator,
    secret: &str,
    service: Service,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    body: TestBody,
) -> Reply {
    let (root, prefix) = match service {
        Service::Meta => (
            emu.endpoint().strip_suffix("/api").unwrap().to_string(),
            "/api",
        ),
        Service::Tunnel => (emu.tunnel_endpoint(), ""),
    };
    let mut headers = HeaderMap::new();
    headers.insert("date", HeaderValue::from_static(DATE));
    headers.insert(
        "x-odps-user-agent",
        HeaderValue::from_static("arrowport-testkit"),
    );
    for (name, value) in extra {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let canonical = canonical_string(
        &Received {
            method,
            path,
            query,
            headers: &headers,
        },
        prefix,
    )
    .unwrap();
    let authorization = format!(
        "ODPS {}:{}",
        emu.config().access_id,
        sign_v2(secret, &canonical)
    );
    headers.insert(
        "authorization",
        HeaderValue::from_str(&authorization).unwrap(),
    );
    send_body(&root, method, target, headers, body).await
}

async fn send(root: &str, method: &str, target: &str, headers: HeaderMap) -> Reply {
    send_body(root, method, target, headers, empty_body()).await
}

async fn send_body(
    root: &str,
    method: &str,
    target: &str,
    headers: HeaderMap,
    body: TestBody,
) -> Reply {
    let stream = TcpStream::connect(root.strip_prefix("http://").unwrap())
        .await
        .unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    let mut tasks = JoinSet::new();
    tasks.spawn(async move {
        let _ = connection.await;
    });
    let mut request = Request::builder().method(method).uri(target);
    *request.headers_mut().unwrap() = headers;
    let response = sender
        .send_request(request.body(body).unwrap())
        .await
        .unwrap();
    let (parts, mut body) = response.into_parts();
    let (mut bytes, mut error) = (Vec::new(), None);
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes.extend_from_slice(&frame.into_data().unwrap_or_default()),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: bytes,
        error,
    }
}

fn table_path(emu: &MaxComputeEmulator, table: &str) -> String {
    format!("/projects/{}/tables/{table}", emu.config().project)
}

fn meta_path(emu: &MaxComputeEmulator, rest: &str) -> String {
    format!("/api/projects/{}{rest}", emu.config().project)
}

/// Creates a download session (not async) and returns its id.
async fn session(emu: &MaxComputeEmulator, table: &str, partition: Option<&str>) -> String {
    let partition = partition
        .map(|p| format!("&partition={p}"))
        .unwrap_or_default();
    let reply = call(
        emu,
        Service::Tunnel,
        "POST",
        &format!("{}?downloads{partition}", table_path(emu, table)),
        &[],
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["DownloadID"].as_str().unwrap().to_string()
}

async fn read(
    emu: &MaxComputeEmulator,
    table: &str,
    id: &str,
    extra_query: &str,
    headers: &[(&str, &str)],
) -> Reply {
    call(
        emu,
        Service::Tunnel,
        "GET",
        &format!(
            "{}?data&downloadid={id}{extra_query}",
            table_path(emu, table)
        ),
        headers,
    )
    .await
}

/// The record count of a record stream's footer (`META_COUNT` … `META_CHECKSUM` at its end).
fn footer_count(body: &[u8]) -> u64 {
    const META_COUNT: [u8; 4] = [0xf0, 0xff, 0xff, 0x7f];
    let at = body
        .windows(4)
        .rposition(|w| w == META_COUNT)
        .expect("a footer");
    let (mut value, mut shift, mut i) = (0u64, 0, at + 4);
    loop {
        let b = body[i];
        value |= u64::from(b & 0x7f) << shift;
        shift += 7;
        i += 1;
        if b < 0x80 {
            break;
        }
    }
    assert_eq!(
        &body[i..i + 4],
        &[0xf8, 0xff, 0xff, 0x7f],
        "checksum follows the count"
    );
    (value >> 1) ^ (value & 1).wrapping_neg()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_api_describes_tables_and_partitions() {
    let emu = start(MaxComputeConfig::default()).await;
    let table = get_meta(&emu, "/tables/all_types").await;
    assert_eq!(table.status, 200);
    assert!(table.header("x-odps-request-id").is_some());
    let text = table.text();
    let json = text
        .split("<![CDATA[")
        .nth(1)
        .unwrap()
        .split("]]>")
        .next()
        .unwrap();
    let schema: Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        schema["columns"][0],
        serde_json::json!({
            "name": "id", "type": "bigint", "comment": "", "label": "", "isNullable": false
        })
    );
    assert_eq!(schema["columns"][21]["type"], "struct<a:bigint,b:string>");
    assert!(schema.get("PhysicalSize").is_none());
    let extended = get_meta(&emu, "/tables/empty?extended").await.text();
    assert!(extended.contains("\"PhysicalSize\":0") && extended.contains("\"Reserved\":\"{"));
    assert!(!extended.contains("Transactional"));

    let partition = |spec: &'static str, extended: bool| {
        let emu = &emu;
        async move {
            let extended = if extended { "&extended" } else { "" };
            let path = meta_path(emu, &format!("/tables/sales?partition={spec}{extended}"));
            call(emu, Service::Meta, "GET", &path, &[]).await
        }
    };
    let found = partition("pt%3D%27a%27%2Cdt%3D%2720230118%27", true).await;
    assert_eq!(found.status, 200);
    assert!(
        found.text().contains("\"PhysicalSize\":3200"),
        "{}",
        found.text()
    );
    let empty = partition("pt='b',dt='20230120'", true).await;
    assert!(empty.text().contains("\"PhysicalSize\":0"));
    let missing = partition("pt='b',dt='20990101'", false).await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (404, "NoSuchPartition".into())
    );
    let bad = partition("region='x'", false).await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "InvalidPartitionSpec".into())
    );

    let tunnel = get_meta(&emu, "/tunnel?service").await;
    assert_eq!(format!("http://{}", tunnel.text()), emu.tunnel_endpoint());
    let no_table = get_meta(&emu, "/tables/nope").await;
    assert_eq!(
        (no_table.status.as_u16(), no_table.code()),
        (404, "NoSuchObject".into())
    );
    assert!(no_table.text().contains("<RequestId>"));
    let no_project = call(
        &emu,
        Service::Meta,
        "GET",
        "/api/projects/other/tables/all_types",
        &[],
    )
    .await;
    assert_eq!(
        (no_project.status.as_u16(), no_project.code()),
        (404, "NoSuchProject".into())
    );
    let logview = call(&emu, Service::Meta, "GET", "/api/logview/host", &[]).await;
    assert_eq!(logview.status, 404);
}

/// Walks a listing's pages, returning the names on each page.
async fn pages(emu: &MaxComputeEmulator, path: &str, element: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut marker = String::new();
    loop {
        let reply = call(
            emu,
            Service::Meta,
            "GET",
            &format!("{path}&marker={marker}"),
            &[],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let text = reply.text();
        let names = text
            .split(&format!("<{element}>"))
            .skip(1)
            .map(|item| match element {
                "Table" => item
                    .split("<Name>")
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .into(),
                _ => item
                    .split("Value=\"")
                    .skip(1)
                    .map(|v| v.split('"').next().unwrap())
                    .collect::<Vec<_>>()
                    .join("/"),
            })
            .collect();
        pages.push(names);
        marker = text
            .split("<Marker>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .into();
        if marker.is_empty() {
            return pages;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_by_marker() {
    let emu = start(MaxComputeConfig {
        table_page_size: 3,
        partition_page_size: 2,
        ..MaxComputeConfig::default()
    })
    .await;
    let tables = meta_path(&emu, "/tables?expectmarker=true");
    assert_eq!(
        pages(&emu, &tables, "Table").await,
        [
            vec!["all_types", "empty", "narrow"],
            vec!["narrow_sink", "sales", "sink_parts"],
            vec!["sink_target", "vectors"]
        ]
    );
    assert_eq!(
        pages(&emu, &format!("{tables}&maxitems=1&name=e"), "Table").await,
        [vec!["empty"]]
    );
    let partitions = meta_path(&emu, "/tables/sales?partitions&expectmarker=true");
    assert_eq!(
        pages(&emu, &partitions, "Partition").await,
        [
            vec!["a/20230118", "a/20230119"],
            vec!["b/20230119", "b/20230120"]
        ]
    );
    assert_eq!(
        pages(
            &emu,
            &format!("{partitions}&partition=pt%3D%27b%27"),
            "Partition"
        )
        .await,
        [vec!["b/20230119", "b/20230120"]]
    );
    assert_eq!(
        pages(
            &emu,
            &format!("{partitions}&reverse&maxitems=3"),
            "Partition"
        )
        .await,
        [
            vec!["b/20230120", "b/20230119"],
            vec!["a/20230119", "a/20230118"]
        ]
    );
    let bad = call(
        &emu,
        Service::Meta,
        "GET",
        &format!("{tables}&marker=zz"),
        &[],
    )
    .await;
    assert_eq!(
        (bad.status.as_u16(), bad.code()),
        (400, "InvalidArgument".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_services_reject_bad_signatures() {
    let emu = start(MaxComputeConfig::default()).await;
    let meta = call_as(
        &emu,
        "wrong",
        Service::Meta,
        "GET",
        &meta_path(&emu, "/tables/empty"),
        &[],
    )
    .await;
    assert_eq!(
        (meta.status.as_u16(), meta.code()),
        (401, "SignatureNotMatch".into())
    );
    let tunnel = call_as(
        &emu,
        "wrong",
        Service::Tunnel,
        "POST",
        &format!("{}?downloads", table_path(&emu, "empty")),
        &[],
    )
    .await;
    assert_eq!(
        (tunnel.status.as_u16(), tunnel.code()),
        (401, "SignatureNotMatch".into())
    );
    assert!(tunnel.json()["RequestId"].is_string());
    // STS tokens ride along unsigned.
    let sts = call(
        &emu,
        Service::Meta,
        "GET",
        &meta_path(&emu, "/tables/empty"),
        &[("authorization-sts-token", "token")],
    )
    .await;
    assert_eq!(sts.status, 200);
    let unsigned = send(
        &emu.tunnel_endpoint(),
        "GET",
        "/projects/p/tables/t",
        HeaderMap::new(),
    )
    .await;
    assert_eq!(unsigned.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_initiate_then_serve_ranges() {
    let emu = start(MaxComputeConfig::default()).await;
    let path = table_path(&emu, "all_types");
    let created = call(
        &emu,
        Service::Tunnel,
        "POST",
        &format!("{path}?downloads=&asyncmode=true"),
        &[],
    )
    .await;
    assert_eq!(created.status, 201);
    let session = created.json();
    assert_eq!(session["Status"], "initiating");
    assert_eq!(session["RecordCount"], 1000);
    assert_eq!(
        session["Schema"]["columns"][3],
        serde_json::json!({
            "name": "c_int", "type": "int", "comment": "", "nullable": true, "column_id": "3"
        })
    );
    let id = session["DownloadID"].as_str().unwrap();
    let early = read(&emu, "all_types", id, "&rowrange=(0,10)", &[]).await;
    assert_eq!(
        (early.status.as_u16(), early.code()),
        (409, "StatusConflict".into())
    );
    let reloaded = call(
        &emu,
        Service::Tunnel,
        "GET",
        &format!("{path}?downloadid={id}"),
        &[],
    )
    .await;
    assert_eq!(reloaded.json()["Status"], "normal");

    // Arrow: projected columns come in table order, whatever the request's order.
    let arrow = read(
        &emu,
        "all_types",
        id,
        "&arrow&rowrange=(990,10)&columns=c_string,id",
        &[],
    )
    .await;
    assert_eq!(arrow.status, 200);
    assert_eq!(
        arrow.header("content-type"),
        Some("application/octet-stream")
    );
    let schema = Arc::new(emu.table_schema("all_types").project(&[0, 8]).unwrap());
    let batches = decode_arrow(&arrow.body, &schema).unwrap();
    let expected = concat(&emu.table_batches("all_types", None)).slice(990, 10);
    assert_eq!(concat(&batches), expected.project(&[0, 8]).unwrap());

    // Records: in request order; one record per row.
    let records = read(
        &emu,
        "all_types",
        id,
        "&rowrange=(5,20)&columns=c_string,id",
        &[],
    )
    .await;
    assert_eq!(records.status, 200);
    assert_eq!(footer_count(&records.body), 20);
    let expected = expected_bytes(&emu, "all_types", 5, 20, &[8, 0]);
    assert_eq!(records.body, expected);

    let unknown = read(&emu, "all_types", id, "&rowrange=(0,1)&columns=nope", &[]).await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.code()),
        (400, "InvalidArgument".into())
    );
    let no_session = read(&emu, "all_types", "nope", "&rowrange=(0,1)", &[]).await;
    assert_eq!(
        (no_session.status.as_u16(), no_session.code()),
        (404, "NoSuchDownload".into())
    );
    let other_table = read(&emu, "narrow", id, "&rowrange=(0,1)", &[]).await;
    assert_eq!(other_table.status, 404);
}

/// The record body the emulator should send for rows `start..start + len` of `projection`.
fn expected_bytes(
    emu: &MaxComputeEmulator,
    table: &str,
    start: usize,
    len: usize,
    projection: &[usize],
) -> Vec<u8> {
    let all = concat(&emu.table_batches(table, None));
    encode_records(&all.slice(start, len).project(projection).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_ranges_are_strict_unless_clamped() {
    let emu = start(MaxComputeConfig::default()).await;
    let id = session(&emu, "narrow", None).await;
    for range in ["(999,2)", "(1000,1)", "(0,0)", "(-1,5)", "0,5", "(1,2,3)"] {
        let reply = read(&emu, "narrow", &id, &format!("&rowrange={range}"), &[]).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (400, "InvalidRowRange".into()),
            "{range}"
        );
    }
    let last = read(&emu, "narrow", &id, "&rowrange=(999,1)", &[]).await;
    assert_eq!(footer_count(&last.body), 1);

    let clamping = start(MaxComputeConfig {
        clamp_row_range: true,
        ..MaxComputeConfig::default()
    })
    .await;
    let id = session(&clamping, "narrow", None).await;
    for (range, rows) in [
        ("(995,10)", 5),
        ("(1000,1)", 0),
        ("(5000,1)", 0),
        ("(0,0)", 0),
    ] {
        let reply = read(&clamping, "narrow", &id, &format!("&rowrange={range}"), &[]).await;
        assert_eq!(reply.status, 200, "{range}: {}", reply.text());
        assert_eq!(footer_count(&reply.body), rows, "{range}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_tables_need_an_existing_partition() {
    let emu = start(MaxComputeConfig::default()).await;
    let path = table_path(&emu, "sales");
    let create = |query: &'static str| {
        let (emu, path) = (&emu, &path);
        async move {
            call(
                emu,
                Service::Tunnel,
                "POST",
                &format!("{path}?downloads{query}"),
                &[],
            )
            .await
        }
    };
    let missing = create("").await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (400, "MissingPartitionSpec".into())
    );
    let absent = create("&partition=pt%3Dz%2Cdt%3D20230118").await;
    assert_eq!(
        (absent.status.as_u16(), absent.code()),
        (404, "NoSuchPartition".into())
    );
    let partial = create("&partition=pt%3Da").await;
    assert_eq!(
        (partial.status.as_u16(), partial.code()),
        (400, "InvalidPartitionSpec".into())
    );
    let empty = create("&partition=pt%3Db%2Cdt%3D20230120").await;
    assert_eq!(empty.json()["RecordCount"], 0);
    assert_eq!(empty.json()["Schema"]["partitionKeys"][1]["name"], "dt");

    let id = session(&emu, "sales", Some("dt%3D20230119%2Cpt%3Da")).await;
    let rows = read(
        &emu,
        "sales",
        &id,
        "&arrow&rowrange=(0,100)&partition=pt%3Da%2Cdt%3D20230119",
        &[],
    )
    .await;
    assert_eq!(
        concat(&decode_arrow(&rows.body, &emu.table_schema("sales")).unwrap()),
        concat(&emu.table_batches("sales", Some("pt=a,dt=20230119")))
    );
    // Data requests name the session's partition too.
    let elsewhere = read(
        &emu,
        "sales",
        &id,
        "&rowrange=(0,1)&partition=pt%3Da%2Cdt%3D20230118",
        &[],
    )
    .await;
    assert_eq!(
        (elsewhere.status.as_u16(), elsewhere.code()),
        (404, "NoSuchDownload".into())
    );
    let unnamed = read(&emu, "sales", &id, "&rowrange=(0,1)", &[]).await;
    assert_eq!(unnamed.code(), "MissingPartitionSpec");
}

fn decompress(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "deflate" => {
            flate2::read::ZlibDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::decode_all(body).unwrap(),
        _ => {
            lz4_flex::frame::FrameDecoder::new(body)
                .read_to_end(&mut out)
                .unwrap();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_compressed_as_accepted() {
    let emu = start(MaxComputeConfig {
        narrow_rows: 30_000,
        ..MaxComputeConfig::default()
    })
    .await;
    let id = session(&emu, "narrow", None).await;
    for format in ["", "&arrow"] {
        let query = format!("{format}&rowrange=(100,25000)");
        let plain = read(
            &emu,
            "narrow",
            &id,
            &query,
            &[("accept-encoding", "identity")],
        )
        .await;
        assert_eq!(plain.header("content-encoding"), None);
        for (accept, encoding) in [
            ("deflate", "deflate"),
            ("zstd", "zstd"),
            ("x-odps-lz4-frame", "x-odps-lz4-frame"),
            ("gzip, x-lz4-frame;q=0.5", "x-lz4-frame"),
        ] {
            let reply = read(&emu, "narrow", &id, &query, &[("accept-encoding", accept)]).await;
            assert_eq!(reply.header("content-encoding"), Some(encoding), "{accept}");
            assert!(reply.body.len() < plain.body.len(), "{accept}");
            assert_eq!(
                decompress(encoding, &reply.body),
                plain.body,
                "{accept}{format}"
            );
        }
    }
    let log = emu.requests();
    let last = log.last().unwrap();
    assert_eq!(last.service, Service::Tunnel);
    assert_eq!(
        last.accept_encoding.as_deref(),
        Some("gzip, x-lz4-frame;q=0.5")
    );
    assert_eq!(last.param("rowrange").as_deref(), Some("(100,25000)"));
    assert_eq!(last.param("arrow").as_deref(), Some(""));
    assert_eq!(last.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counted_faults_fail_data_requests_one_at_a_time() {
    let emu = start(MaxComputeConfig::default()).await;
    let id = session(&emu, "narrow", None).await;
    let range = "&rowrange=(0,100)";
    emu.faults().server_errors(1);
    emu.faults().flow_exceeded(1);
    let first = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!(
        (first.status.as_u16(), first.code()),
        (500, "InternalServerError".into())
    );
    let second = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!(
        (second.status.as_u16(), second.code()),
        (429, "FlowExceeded".into())
    );
    let clean = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!(clean.status, 200);

    emu.faults().short_data(1);
    let short = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!(footer_count(&short.body), 50);
    assert_eq!(
        short.body,
        expected_bytes(&emu, "narrow", 0, 50, &[0, 1, 2, 3, 4])
    );

    emu.faults().corrupt_data(1);
    let corrupt = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!(corrupt.body.len(), clean.body.len());
    let differing = corrupt
        .body
        .iter()
        .zip(&clean.body)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 1);
    emu.faults().corrupt_data(1);
    let corrupt = read(&emu, "narrow", &id, &format!("&arrow{range}"), &[]).await;
    assert!(
        decode_arrow(&corrupt.body, &emu.table_schema("narrow"))
            .unwrap_err()
            .contains("CRC")
    );
    let arrow = read(&emu, "narrow", &id, &format!("&arrow{range}"), &[]).await;
    assert!(decode_arrow(&arrow.body, &emu.table_schema("narrow")).is_ok());

    emu.faults().reset_data(1, 1000);
    let cut = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!((cut.status.as_u16(), cut.body.len()), (200, 1000));
    assert!(cut.error.is_some());
    emu.faults().reset_data(1, usize::MAX);
    let cut = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!(cut.body.len(), clean.body.len() - 1, "the cut always bites");
    assert!(cut.error.is_some());
    let whole = read(&emu, "narrow", &id, range, &[]).await;
    assert_eq!((whole.body, whole.error.is_none()), (clean.body, true));

    emu.faults().meta_server_errors(1);
    let meta = get_meta(&emu, "/tables/narrow").await;
    assert_eq!(meta.status, 503);
    let meta = get_meta(&emu, "/tables/narrow").await;
    assert_eq!(meta.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_conflict_and_new_ones_work() {
    let emu = start(MaxComputeConfig::default()).await;
    let old = session(&emu, "narrow", None).await;
    emu.faults().expire_sessions();
    let path = table_path(&emu, "narrow");
    for reply in [
        read(&emu, "narrow", &old, "&rowrange=(0,1)", &[]).await,
        call(
            &emu,
            Service::Tunnel,
            "GET",
            &format!("{path}?downloadid={old}"),
            &[],
        )
        .await,
    ] {
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (409, "StatusConflict".into())
        );
    }
    let new = session(&emu, "narrow", None).await;
    assert_eq!(
        read(&emu, "narrow", &new, "&rowrange=(0,1)", &[])
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delays_hold_tunnel_answers() {
    let emu = start(MaxComputeConfig::default()).await;
    emu.faults().delay(Duration::from_millis(50));
    let started = Instant::now();
    session(&emu, "empty", None).await;
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_ranges_stream_in_many_pieces() {
    let emu = start(MaxComputeConfig {
        narrow_rows: 40_000,
        ..MaxComputeConfig::default()
    })
    .await;
    let id = session(&emu, "narrow", None).await;
    let reply = read(&emu, "narrow", &id, "&arrow&rowrange=(1,39999)", &[]).await;
    let batches = decode_arrow(&reply.body, &emu.table_schema("narrow")).unwrap();
    assert_eq!(batches.len(), 5, "one IPC message per 8192-row chunk");
    let got = concat(&batches);
    assert_eq!(
        got,
        concat(&emu.table_batches("narrow", None)).slice(1, 39_999)
    );
    let values = got.column(1).as_primitive::<Float64Type>();
    assert!(values.null_count() > 0);
}

// ---------------------------------------------------------------------------------------
// Uploads: the record decoder

/// A batch of `schema` from JSON lines (arrow-json types them: decimals from strings,
/// timestamps from integers in the column's unit, maps from objects in text order).
fn batch_from_json(schema: &SchemaRef, lines: &str) -> RecordBatch {
    let reader = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(100_000)
        .build(std::io::Cursor::new(lines.as_bytes().to_vec()))
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    if batches.is_empty() {
        return RecordBatch::new_empty(schema.clone());
    }
    concat_batches(schema, &batches).unwrap()
}

/// The schema of a vector's tunnel schema, by the emulator's type mapping; the legacy
/// `decimal` (no precision) as decimal(38,18).
fn vector_schema(vector: &Value) -> SchemaRef {
    let fields: Vec<Field> = vector["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let odps = c["type"].as_str().unwrap();
            let data_type = match odps {
                "decimal" => DataType::Decimal128(38, 18),
                other => arrow_type(other).unwrap(),
            };
            Field::new(c["name"].as_str().unwrap(), data_type, true)
        })
        .collect();
    Arc::new(arrow::datatypes::Schema::new(fields))
}

#[test]
fn record_blocks_decode_as_the_vectors_say() {
    let file = vectors("odps_tunnel_records.json");
    let basic = &file["record_vectors"][0];
    let schema = vector_schema(basic);
    let expected = batch_from_json(
        &schema,
        r#"{"c_bigint":1,"c_double":1.5,"c_string":"hello","c_bool":true,"c_datetime":1674131696789,"c_decimal":"123.4500","c_array":[1,2,null,-3],"c_map":{"a":1,"b":null}}
{"c_bigint":-1,"c_double":-0.25,"c_string":"中文测试","c_bool":false,"c_datetime":-1,"c_decimal":"-0.0001","c_array":[],"c_map":{}}
{"c_bigint":9223372036854775807,"c_double":1e300,"c_string":"","c_bool":true,"c_datetime":0,"c_decimal":"0","c_array":[-9223372036854775808],"c_map":{"中":-1,"":0}}
{}
{"c_bigint":0,"c_double":0.0,"c_string":"x","c_bool":false,"c_datetime":951782400001,"c_decimal":"99999999999999.9999","c_array":[null],"c_map":{"k":300}}
"#,
    );
    let mut bodies = vec![
        unhex(basic["raw_hex"].as_str().unwrap()),
        // Checksums ≥ 2³¹ as 10-byte sign-extended varints.
        unhex(
            basic["variant_pyodps_cython_writer"]["raw_hex"]
                .as_str()
                .unwrap(),
        ),
    ];
    for (encoding, variant) in basic["compressed"].as_object().unwrap() {
        bodies.push(decompress(
            encoding,
            &unhex(variant["hex"].as_str().unwrap()),
        ));
    }
    for body in &bodies {
        assert_eq!(record_decode::decode(body, &schema).unwrap(), expected);
    }

    let extended = &file["record_vectors"][1];
    let schema = vector_schema(extended);
    let lines = r#"{"c_tinyint":-128,"c_smallint":32767,"c_int":-2147483648,"c_float":0.5,"c_date":19782,"c_timestamp":1674131696123456789,"c_binary":"AAF/YWI=","c_varchar":"varchar","c_char":"ch","c_legacy_decimal":"3.14159","c_struct":{"x":7,"y":"值"},"c_array_str":["a",null,""],"c_map_bd":[]}
{}
{"c_tinyint":127,"c_smallint":-32768,"c_int":2147483647,"c_float":-1.5,"c_date":-1,"c_timestamp":-1000000000,"c_binary":"","c_varchar":"","c_char":"","c_legacy_decimal":"-0.000000000000000001","c_struct":{"x":null,"y":null},"c_array_str":[],"c_map_bd":[]}
"#
        .replace(r#""c_binary":"AAF/YWI=","#, "")
        .replace(r#""c_binary":"","#, "")
        .replace(r#","c_map_bd":[]"#, "");
    let expected = batch_from_json(&schema, &lines);
    for body in [
        unhex(extended["raw_hex"].as_str().unwrap()),
        unhex(
            extended["variant_pyodps_cython_writer"]["raw_hex"]
                .as_str()
                .unwrap(),
        ),
    ] {
        let got = record_decode::decode(&body, &schema).unwrap();
        // Binary and map<bigint,double> are not JSON-friendly: checked apart.
        let (binary, map) = (6, 12);
        let others: Vec<usize> = (0..13).filter(|&i| i != binary && i != map).collect();
        assert_eq!(
            got.project(&others).unwrap(),
            expected.project(&others).unwrap()
        );
        let bytes = got.column(binary).as_binary::<i32>();
        assert_eq!(
            (bytes.value(0), bytes.is_null(1), bytes.value(2)),
            (&[0u8, 1, 0x7f, 0x61, 0x62][..], true, &[][..])
        );
        let maps = got.column(map).as_map();
        let keys = maps.keys().as_primitive::<Int64Type>();
        let values = maps.values().as_primitive::<Float64Type>();
        assert_eq!(maps.value_offsets(), &[0, 2, 2, 2]);
        assert_eq!((keys.value(0), keys.value(1)), (1, -2));
        assert_eq!((values.value(0), values.is_null(1)), (1.25, true));
        assert!(maps.is_null(1) && maps.is_valid(2));
    }

    let empty = &file["record_vectors"][2];
    let batch = record_decode::decode(
        &unhex(empty["raw_hex"].as_str().unwrap()),
        &vector_schema(empty),
    )
    .unwrap();
    assert_eq!(batch.num_rows(), 0);
}

#[test]
fn record_blocks_decode_to_the_batches_they_were_made_of() {
    let config = MaxComputeConfig {
        rows: 500,
        ..MaxComputeConfig::default()
    };
    for table in tables::fixtures(&config) {
        if table.is_partitioned() {
            continue;
        }
        let batches = table.section_batches(None).unwrap();
        let Some(batch) = batches.first() else {
            continue;
        };
        let decoded = record_decode::decode(&encode_records(batch), &table.schema()).unwrap();
        assert_eq!(&decoded, batch, "{}", table.name);
    }
    // NaN and infinities survive, and so do a map's order and repeated keys.
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        Field::new("d", DataType::Float64, true),
        Field::new("m", arrow_type("map<string,bigint>").unwrap(), true),
    ]));
    let mut map = MapBuilder::new(
        Some(arrow::array::MapFieldNames {
            entry: "entries".into(),
            key: "key".into(),
            value: "value".into(),
        }),
        StringBuilder::new(),
        Int64Builder::new(),
    );
    for (k, v) in [("z", 1), ("a", 2), ("z", 3)] {
        map.keys().append_value(k);
        map.values().append_value(v);
    }
    map.append(true).unwrap();
    map.append(true).unwrap();
    map.append(true).unwrap();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Float64Array::from(vec![
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ])),
            Arc::new(map.finish()),
        ],
    )
    .unwrap();
    let decoded = record_decode::decode(&encode_records(&batch), &schema).unwrap();
    let d = decoded.column(0).as_primitive::<Float64Type>();
    assert!(d.value(0).is_nan() && d.value(1) == f64::INFINITY && d.value(2) < 0.0);
    assert_eq!(decoded.column(1), batch.column(1));
}

#[test]
fn decimal_text_parses_exactly() {
    use record_decode::parse_decimal;
    for (text, p, s, want) in [
        ("123.4500", 18, 4, 1_234_500),
        ("123.45", 18, 4, 1_234_500),
        ("-0.0001", 18, 4, -1),
        ("0", 18, 4, 0),
        ("-0", 18, 2, 0),
        ("+7.", 18, 2, 700),
        (".5", 18, 2, 50),
        ("-1E-18", 38, 18, -1),
        ("1e3", 10, 0, 1000),
        ("1.5E+2", 10, 1, 1500),
        ("1.005", 10, 2, 101),
        ("-1.005", 10, 2, -101),
        ("1.004999", 10, 2, 100),
        ("0.000001", 10, 2, 0),
        ("0E-30", 10, 2, 0),
        ("99999999999999.9999", 18, 4, 999_999_999_999_999_999),
        (" 42 ", 5, 0, 42),
    ] {
        assert_eq!(parse_decimal(text, p, s), Ok(want), "{text}");
    }
    for (text, p, s) in [
        ("100000000000000.0000", 18, 4),
        ("9.995", 3, 2),
        ("1e40", 38, 0),
        ("", 18, 2),
        (".", 18, 2),
        ("-", 18, 2),
        ("1.2.3", 18, 2),
        ("1,5", 18, 2),
        ("NaN", 18, 2),
        ("1e", 18, 2),
        ("0x10", 18, 2),
    ] {
        assert!(parse_decimal(text, p, s).is_err(), "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Uploads over loopback

/// Rows `range` shaped like `sink_target`: nulls in every nullable column, non-ASCII text,
/// negative decimals, pre-epoch datetimes, NULL elements and map values, and map keys out
/// of order.
fn sink_rows(emu: &MaxComputeEmulator, range: std::ops::Range<i64>) -> RecordBatch {
    let mut lines = String::new();
    for i in range {
        let mut row = serde_json::Map::new();
        row.insert("id".into(), i.into());
        if i % 4 != 1 {
            row.insert("name".into(), format!("name {i} ✓").into());
        }
        if i % 5 != 2 {
            let sign = if i % 2 == 0 { "" } else { "-" };
            row.insert("amount".into(), format!("{sign}{i}.{:02}", i % 100).into());
        }
        if i % 7 != 3 {
            row.insert(
                "ts".into(),
                (1_674_131_696_789 - 86_400_000 * 20_000 + i).into(),
            );
        }
        if i % 6 != 4 {
            row.insert(
                "vec".into(),
                serde_json::json!([i as f64 / 2.0, null, -1.5]),
            );
        }
        lines.push_str(&Value::Object(row).to_string());
        if i % 3 != 0 {
            // serde_json sorts object keys: the map goes in as text, `z` before `a`.
            lines.truncate(lines.len() - 1);
            lines.push_str(&format!(r#","tags":{{"z":{i},"a":null,"k{i}":-{i}}}}}"#));
        }
        lines.push('\n');
    }
    batch_from_json(&emu.table_schema("sink_target"), &lines)
}

fn arrow_block(batch: &RecordBatch) -> Vec<u8> {
    let mut encoder = ArrowEncoder::new(false);
    let mut out = Vec::new();
    encoder.encode(batch, &mut out).unwrap();
    encoder.finish(&mut out);
    out
}

fn compress(encoding: super::compress::Encoding, raw: Vec<u8>) -> Vec<u8> {
    super::compress::Compressor::new(encoding)
        .unwrap()
        .finish(raw)
        .unwrap()
}

/// `POST ?uploads` with `query` (`&partition=..`…); the reply.
async fn create_upload(emu: &MaxComputeEmulator, table: &str, query: &str) -> Reply {
    call(
        emu,
        Service::Tunnel,
        "POST",
        &format!("{}?uploads=1{query}", table_path(emu, table)),
        &[],
    )
    .await
}

/// A new upload session's id.
async fn upload_id(emu: &MaxComputeEmulator, table: &str, query: &str) -> String {
    let reply = create_upload(emu, table, query).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["UploadID"].as_str().unwrap().to_string()
}

/// `PUT ?uploadid=ID&blockid=B{query}` with `body`.
async fn put_block(
    emu: &MaxComputeEmulator,
    table: &str,
    id: &str,
    block: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: TestBody,
) -> Reply {
    let mut all = vec![("content-type", "application/octet-stream")];
    all.extend_from_slice(headers);
    call_with_body(
        emu,
        &emu.config().secret_access_key,
        Service::Tunnel,
        "PUT",
        &format!(
            "{}?uploadid={id}&blockid={block}{query}",
            table_path(emu, table)
        ),
        &all,
        body,
    )
    .await
}

/// `GET ?uploadid=ID` (`reload=True` as PyODPS sends it) or `POST ?uploadid=ID` (commit).
async fn upload_call(
    emu: &MaxComputeEmulator,
    method: &str,
    table: &str,
    id: &str,
    query: &str,
) -> Reply {
    let reload = if method == "GET" { "reload=True&" } else { "" };
    call(
        emu,
        Service::Tunnel,
        method,
        &format!("{}?{reload}uploadid={id}{query}", table_path(emu, table)),
        &[],
    )
    .await
}

/// The one table's metadata JSON (`?extended`), or a partition's.
async fn meta_json(emu: &MaxComputeEmulator, table: &str, query: &str) -> Reply {
    call(
        emu,
        Service::Meta,
        "GET",
        &meta_path(emu, &format!("/tables/{table}?extended{query}")),
        &[],
    )
    .await
}

fn cdata_json(reply: &Reply) -> Value {
    let text = reply.text();
    let json = text
        .split_once("<![CDATA[")
        .and_then(|(_, rest)| rest.split_once("]]>"))
        .unwrap_or_else(|| panic!("no CDATA in {text}"))
        .0;
    serde_json::from_str(json).unwrap()
}

fn code_of(reply: &Reply) -> (u16, String) {
    (reply.status.as_u16(), reply.code())
}

/// Every row of `table` (`partition` or all) as one batch.
fn stored(emu: &MaxComputeEmulator, table: &str, partition: Option<&str>) -> RecordBatch {
    let batches = emu.table_batches(table, partition);
    if batches.is_empty() {
        return RecordBatch::new_empty(emu.table_schema(table));
    }
    concat(&batches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_sessions_commit_their_blocks_in_block_order() {
    let emu = start(MaxComputeConfig::default()).await;
    let created = create_upload(&emu, "sink_target", "&reload=False").await;
    assert_eq!(created.status, 201);
    let reply = created.json();
    assert_eq!(reply["Status"], "normal");
    assert_eq!(reply["UploadedBlockList"], serde_json::json!([]));
    assert_eq!(reply["MaxFieldSize"], 8_388_608);
    assert_eq!(reply["QuotaName"], "");
    let columns: Vec<(&str, &str, bool)> = reply["Schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "bigint", false),
            ("name", "string", true),
            ("amount", "decimal(18,2)", true),
            ("ts", "datetime", true),
            ("vec", "array<float>", true),
            ("tags", "map<string,bigint>", true),
        ]
    );
    let id = reply["UploadID"].as_str().unwrap().to_string();

    // Blocks in any order, sized or chunked, records or Arrow; a re-PUT replaces.
    let put = put_block(
        &emu,
        "sink_target",
        &id,
        "3",
        "",
        &[],
        sized_body(encode_records(&sink_rows(&emu, 10..30))),
    )
    .await;
    assert_eq!((put.status.as_u16(), put.body.len()), (200, 0));
    let put = put_block(
        &emu,
        "sink_target",
        &id,
        "0",
        "&arrow",
        &[],
        chunked_body(arrow_block(&sink_rows(&emu, 0..10))),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text());
    for rows in [900..999, 30..35] {
        let put = put_block(
            &emu,
            "sink_target",
            &id,
            "7",
            "",
            &[],
            chunked_body(encode_records(&sink_rows(&emu, rows))),
        )
        .await;
        assert_eq!(put.status, 200);
    }
    let status = upload_call(&emu, "GET", "sink_target", &id, "").await;
    assert_eq!(status.status, 200);
    let status = status.json();
    assert_eq!(status["Status"], "normal");
    let blocks: Vec<(u64, u64, u64)> = status["UploadedBlockList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert!(b["CreateTime"].is_u64() && b["FileName"].is_string());
            (
                b["BlockID"].as_u64().unwrap(),
                b["RecordCount"].as_u64().unwrap(),
                b["Version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(blocks, [(0, 10, 0), (3, 20, 0), (7, 5, 0)]);

    // Nothing is visible before the commit.
    assert_eq!(stored(&emu, "sink_target", None).num_rows(), 0);
    assert_eq!(
        cdata_json(&meta_json(&emu, "sink_target", "").await)["recordNum"],
        0
    );
    assert_eq!(emu.commits(), 0);

    let committed = upload_call(&emu, "POST", "sink_target", &id, "").await;
    assert_eq!(committed.status, 200, "{}", committed.text());
    assert_eq!(committed.json()["Status"], "closed");
    assert_eq!(emu.commits(), 1);
    let expected = sink_rows(&emu, 0..35);
    assert_eq!(stored(&emu, "sink_target", None), expected);

    // The meta API and new download sessions see the rows.
    let meta = cdata_json(&meta_json(&emu, "sink_target", "").await);
    assert_eq!(meta["recordNum"], 35);
    assert!(meta["PhysicalSize"].as_u64().unwrap() > 0);
    let download = session(&emu, "sink_target", None).await;
    let records = read(&emu, "sink_target", &download, "&rowrange=(0,35)", &[]).await;
    assert_eq!(records.body, encode_records(&expected));
    let arrow = read(
        &emu,
        "sink_target",
        &download,
        "&arrow&rowrange=(5,30)",
        &[],
    )
    .await;
    assert_eq!(
        concat(&decode_arrow(&arrow.body, &emu.table_schema("sink_target")).unwrap()),
        expected.slice(5, 30)
    );

    // One commit per session; nothing else after it.
    for reply in [
        upload_call(&emu, "POST", "sink_target", &id, "").await,
        upload_call(&emu, "GET", "sink_target", &id, "").await,
        put_block(
            &emu,
            "sink_target",
            &id,
            "8",
            "",
            &[],
            sized_body(encode_records(&sink_rows(&emu, 0..1))),
        )
        .await,
    ] {
        assert_eq!(code_of(&reply), (409, "StatusConflict".into()));
    }
    assert_eq!(emu.commits(), 1);
    assert_eq!(stored(&emu, "sink_target", None).num_rows(), 35);

    let uploads = emu.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        uploads[0],
        UploadSummary {
            id: id.clone(),
            table: "sink_target".into(),
            partition: None,
            overwrite: false,
            create_partition: false,
            blocks: vec![(0, 10), (3, 20), (7, 5)],
            committed: true,
            expired: false,
        }
    );
    let puts: Vec<(Option<String>, Option<String>, u16)> = emu
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| (r.param("blockid"), r.param("arrow"), r.status))
        .collect();
    assert_eq!(
        puts[..2],
        [
            (Some("3".into()), None, 200),
            (Some("0".into()), Some(String::new()), 200)
        ]
    );

    // Unknown sessions, and sessions of another table.
    for reply in [
        upload_call(&emu, "GET", "sink_target", "nope", "").await,
        upload_call(&emu, "POST", "sink_target", "nope", "").await,
        upload_call(&emu, "GET", "narrow_sink", &id, "").await,
    ] {
        assert_eq!(code_of(&reply), (404, "NoSuchUpload".into()));
    }
    let no_id = upload_call(&emu, "GET", "sink_target", "", "").await;
    assert_eq!(code_of(&no_id), (400, "InvalidArgument".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_blocks_may_be_compressed() {
    use super::compress::Encoding;
    let emu = start(MaxComputeConfig::default()).await;
    let id = upload_id(&emu, "sink_target", "").await;
    let cases = [
        (Encoding::Deflate, "deflate", false),
        (Encoding::Zstd, "zstd", false),
        (Encoding::Lz4("x-lz4-frame"), "x-lz4-frame", false),
        (Encoding::Lz4("x-odps-lz4-frame"), "x-odps-lz4-frame", true),
        (Encoding::Deflate, "deflate", true),
        (Encoding::Zstd, "zstd", true),
    ];
    for (block, (encoding, name, arrow)) in cases.into_iter().enumerate() {
        let rows = sink_rows(&emu, block as i64 * 10..block as i64 * 10 + 10);
        let raw = if arrow {
            arrow_block(&rows)
        } else {
            encode_records(&rows)
        };
        let put = put_block(
            &emu,
            "sink_target",
            &id,
            &block.to_string(),
            if arrow { "&arrow" } else { "" },
            &[("content-encoding", name)],
            chunked_body(compress(encoding, raw)),
        )
        .await;
        assert_eq!(put.status, 200, "{name}: {}", put.text());
    }
    let gzip = put_block(
        &emu,
        "sink_target",
        &id,
        "9",
        "",
        &[("content-encoding", "gzip")],
        sized_body(encode_records(&sink_rows(&emu, 0..1))),
    )
    .await;
    assert_eq!(code_of(&gzip), (400, "InvalidArgument".into()));
    let not_deflate = put_block(
        &emu,
        "sink_target",
        &id,
        "9",
        "",
        &[("content-encoding", "deflate")],
        sized_body(encode_records(&sink_rows(&emu, 0..1))),
    )
    .await;
    assert_eq!(code_of(&not_deflate), (400, "CorruptedDataStream".into()));
    assert_eq!(
        upload_call(&emu, "POST", "sink_target", &id, "")
            .await
            .status,
        200
    );
    assert_eq!(stored(&emu, "sink_target", None), sink_rows(&emu, 0..60));
    let encodings: Vec<Option<String>> = emu
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.content_encoding.clone())
        .collect();
    assert_eq!(
        encodings,
        [
            "deflate",
            "zstd",
            "x-lz4-frame",
            "x-odps-lz4-frame",
            "deflate",
            "zstd",
            "gzip",
            "deflate"
        ]
        .map(|e| Some(e.to_string()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_blocks_are_corrupted_data_streams() {
    let emu = start(MaxComputeConfig::default()).await;
    let id = upload_id(&emu, "sink_target", "").await;
    let rows = sink_rows(&emu, 0..20);
    let good = encode_records(&rows);
    let corrupt = |body: Vec<u8>, query: &'static str| {
        let (emu, id) = (&emu, &id);
        async move {
            let reply = put_block(emu, "sink_target", id, "1", query, &[], sized_body(body)).await;
            assert_eq!(code_of(&reply), (400, "CorruptedDataStream".into()));
            reply.json()["Message"].as_str().unwrap().to_string()
        }
    };

    // One flipped bit: the record's CRC no longer matches.
    let mut flipped = Vec::new();
    let mut encoder = RecordEncoder::new(true);
    encoder.encode(&rows, &mut flipped).unwrap();
    encoder.finish(&mut flipped);
    assert!(corrupt(flipped, "").await.contains("CRC"));
    // Cut short, anywhere.
    for keep in [good.len() - 1, good.len() / 2, 3, 0] {
        corrupt(good[..keep].to_vec(), "").await;
    }
    // A footer counting one record too many.
    let mut miscounted = good.clone();
    let at = miscounted
        .windows(4)
        .rposition(|w| w == [0xf0, 0xff, 0xff, 0x7f])
        .unwrap();
    miscounted[at + 4] += 2;
    assert!(corrupt(miscounted, "").await.contains("footer counts 21"));
    // Bytes after the footer.
    let mut trailing = good.clone();
    trailing.push(0);
    corrupt(trailing, "").await;
    // Values of the wrong types, an unknown field, a NULL id, a decimal too wide.
    let narrow = MaxComputeEmulator::start(MaxComputeConfig::default())
        .await
        .unwrap();
    corrupt(encode_records(&stored(&narrow, "narrow", None)), "").await;
    let wide = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("name", Arc::new(StringArray::from(vec!["a"]))),
        (
            "amount",
            Arc::new(
                Decimal128Array::from(vec![10i128.pow(20)])
                    .with_precision_and_scale(38, 2)
                    .unwrap(),
            ),
        ),
    ])
    .unwrap();
    assert!(
        corrupt(encode_records(&wide), "")
            .await
            .contains("does not fit decimal(18,2)")
    );
    // Field 7 of a table of six columns (the NULL fields before it are not sent).
    let seven = RecordBatch::try_from_iter((0..7).map(|i| {
        let value = (i == 6).then_some(1i64);
        (
            format!("c{i}"),
            Arc::new(Int64Array::from(vec![value])) as ArrayRef,
        )
    }))
    .unwrap();
    assert!(
        corrupt(encode_records(&seven), "")
            .await
            .contains("invalid field number 7")
    );
    let null_id = RecordBatch::try_from_iter([(
        "id",
        Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
    )])
    .unwrap();
    assert!(
        corrupt(encode_records(&null_id), "")
            .await
            .contains("non-nullable")
    );
    // Arrow: a flipped bit (frame CRC), a cut, rows of another table, no framing at all.
    let mut encoder = ArrowEncoder::new(true);
    let mut body = Vec::new();
    encoder
        .encode(&sink_rows(&emu, 0..2000), &mut body)
        .unwrap();
    encoder.finish(&mut body);
    assert!(corrupt(body, "&arrow").await.contains("CRC"));
    let framed = arrow_block(&rows);
    corrupt(framed[..framed.len() - 1].to_vec(), "&arrow").await;
    corrupt(arrow_block(&stored(&narrow, "narrow", None)), "&arrow").await;
    corrupt(good.clone(), "&arrow").await;
    corrupt(vec![0, 0, 0, 0, 1, 2, 3, 4], "&arrow").await;
    // Arrow buffers hold any 128-bit value: a decimal(18,2) beyond 18 digits is refused.
    let mut columns = rows.columns().to_vec();
    columns[2] = Arc::new(
        Decimal128Array::from(vec![Some(10i128.pow(20)); rows.num_rows()])
            .with_precision_and_scale(18, 2)
            .unwrap(),
    );
    let too_wide = RecordBatch::try_new(rows.schema(), columns).unwrap();
    assert!(
        corrupt(arrow_block(&too_wide), "&arrow")
            .await
            .contains("`amount`")
    );

    // Block ids: 0..=19999.
    for block in ["20000", "-1", "x", "", "99999999999999999999"] {
        let reply = put_block(
            &emu,
            "sink_target",
            &id,
            block,
            "",
            &[],
            sized_body(good.clone()),
        )
        .await;
        assert_eq!(code_of(&reply), (400, "InvalidBlockID".into()), "{block}");
    }
    let last = put_block(
        &emu,
        "sink_target",
        &id,
        "19999",
        "",
        &[],
        sized_body(good.clone()),
    )
    .await;
    assert_eq!(last.status, 200);
    assert_eq!(emu.uploads()[0].blocks, [(19_999, 20)]);
}

/// Creates an upload session on `table` with `query`, puts `rows` as block 0 (none if
/// empty) and commits it; the commit's reply.
async fn upload_rows(
    emu: &MaxComputeEmulator,
    table: &str,
    query: &str,
    rows: Option<&RecordBatch>,
) -> Reply {
    let id = upload_id(emu, table, query).await;
    let partition = query
        .split('&')
        .find(|p| p.starts_with("partition="))
        .map(|p| format!("&{p}"))
        .unwrap_or_default();
    if let Some(rows) = rows {
        let put = put_block(
            emu,
            table,
            &id,
            "0",
            &partition,
            &[],
            sized_body(encode_records(rows)),
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.text());
    }
    upload_call(emu, "POST", table, &id, &partition).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_append_or_overwrite_and_may_be_empty() {
    let emu = start(MaxComputeConfig::default()).await;
    let rows = |r| sink_rows(&emu, r);
    for (query, batch, expected) in [
        ("", Some(rows(0..5)), rows(0..5)),
        ("", Some(rows(5..8)), rows(0..8)),
        // No blocks and no overwrite: nothing changes.
        ("", None, rows(0..8)),
        ("&overwrite=true", Some(rows(100..102)), rows(100..102)),
        ("", Some(rows(7..8)), concat(&[rows(100..102), rows(7..8)])),
    ] {
        let reply = upload_rows(&emu, "sink_target", query, batch.as_ref()).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(stored(&emu, "sink_target", None), expected);
    }
    assert_eq!(emu.commits(), 5);

    // A download session keeps what it saw; reading it after a commit is refused unless the
    // client asks not to check.
    let before = session(&emu, "sink_target", None).await;
    // Overwriting with no blocks empties the table.
    let emptied = upload_rows(&emu, "sink_target", "&overwrite=true", None).await;
    assert_eq!(emptied.status, 200);
    assert_eq!(stored(&emu, "sink_target", None).num_rows(), 0);
    let meta = cdata_json(&meta_json(&emu, "sink_target", "").await);
    assert_eq!(
        (meta["recordNum"].as_u64(), meta["PhysicalSize"].as_u64()),
        (Some(0), Some(0))
    );
    let stale = read(&emu, "sink_target", &before, "&rowrange=(0,3)", &[]).await;
    assert_eq!(code_of(&stale), (409, "TableModified".into()));
    let unchecked = read(
        &emu,
        "sink_target",
        &before,
        "&rowrange=(0,3)&disable_modified_check=true",
        &[],
    )
    .await;
    assert_eq!(unchecked.status, 200);
    assert_eq!(
        unchecked.body,
        encode_records(&concat(&[rows(100..102), rows(7..8)]))
    );
    let after = session(&emu, "sink_target", None).await;
    let reloaded = call(
        &emu,
        Service::Tunnel,
        "GET",
        &format!("{}?downloadid={after}", table_path(&emu, "sink_target")),
        &[],
    )
    .await;
    assert_eq!(reloaded.json()["RecordCount"], 0);

    // A fixture with generated rows takes uploads too: appended after them, or replacing them.
    let narrow = emu.table_schema("narrow");
    let generated = stored(&emu, "narrow", None);
    let extra = generated.slice(0, 3);
    assert_eq!(extra.schema(), narrow);
    upload_rows(&emu, "narrow", "", Some(&extra)).await;
    assert_eq!(
        stored(&emu, "narrow", None),
        concat(&[generated, extra.clone()])
    );
    upload_rows(&emu, "narrow", "&overwrite=true", Some(&extra)).await;
    assert_eq!(stored(&emu, "narrow", None), extra);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_into_partitions() {
    let emu = start(MaxComputeConfig::default()).await;
    let schema = emu.table_schema("sink_parts");
    let rows = |ids: std::ops::Range<i64>| {
        let lines: String = ids
            .map(|i| format!("{{\"id\":{i},\"name\":\"n{i}\"}}\n"))
            .collect();
        batch_from_json(&schema, &lines)
    };
    let missing = create_upload(&emu, "sink_parts", "").await;
    assert_eq!(code_of(&missing), (400, "MissingPartitionSpec".into()));
    let absent = create_upload(&emu, "sink_parts", "&partition=pt=new").await;
    assert_eq!(code_of(&absent), (404, "NoSuchPartition".into()));
    let unknown_key = create_upload(&emu, "sink_parts", "&partition=dt=new").await;
    assert_eq!(code_of(&unknown_key), (400, "InvalidPartitionSpec".into()));
    let not_partitioned = create_upload(&emu, "sink_target", "&partition=pt=new").await;
    assert_eq!(
        code_of(&not_partitioned),
        (400, "InvalidPartitionSpec".into())
    );

    // `create_partition=true` (PyODPS): the partition appears with the commit, not before.
    let id = upload_id(
        &emu,
        "sink_parts",
        "&partition=pt=new&create_partition=true",
    )
    .await;
    let put = put_block(
        &emu,
        "sink_parts",
        &id,
        "0",
        "&partition=pt=new",
        &[],
        sized_body(encode_records(&rows(0..4))),
    )
    .await;
    assert_eq!(put.status, 200);
    let elsewhere = put_block(
        &emu,
        "sink_parts",
        &id,
        "1",
        "&partition=pt=existing",
        &[],
        sized_body(encode_records(&rows(0..4))),
    )
    .await;
    assert_eq!(code_of(&elsewhere), (400, "InvalidPartitionSpec".into()));
    let before = meta_json(&emu, "sink_parts", "&partition=pt='new'").await;
    assert_eq!(code_of(&before), (404, "NoSuchPartition".into()));
    let committed = upload_call(&emu, "POST", "sink_parts", &id, "&partition=pt=new").await;
    assert_eq!(committed.status, 200);
    let after = cdata_json(&meta_json(&emu, "sink_parts", "&partition=pt='new'").await);
    assert_eq!(after["partitionRecordNum"], 4);
    assert!(after["PhysicalSize"].as_u64().unwrap() > 0);
    assert_eq!(stored(&emu, "sink_parts", Some("pt=new")), rows(0..4));

    // A bare `create_partition` (Java) works too; listings stay sorted by value.
    let reply = upload_rows(
        &emu,
        "sink_parts",
        "&partition=pt=aaa&create_partition",
        Some(&rows(10..12)),
    )
    .await;
    assert_eq!(reply.status, 200);
    let listing = get_meta(&emu, "/tables/sink_parts?partitions&expectmarker=true")
        .await
        .text();
    let values: Vec<&str> = listing
        .split("Value=\"")
        .skip(1)
        .map(|v| v.split('"').next().unwrap())
        .collect();
    assert_eq!(values, ["aaa", "existing", "new"]);
    assert_eq!(
        stored(&emu, "sink_parts", None),
        concat(&[rows(10..12), rows(0..4)])
    );

    // Overwriting one partition leaves the others alone; a second create_partition session
    // for a partition that exists by now just writes into it.
    upload_rows(
        &emu,
        "sink_parts",
        "&partition=pt=new&overwrite=true&create_partition=true",
        Some(&rows(20..21)),
    )
    .await;
    assert_eq!(stored(&emu, "sink_parts", Some("pt=new")), rows(20..21));
    assert_eq!(stored(&emu, "sink_parts", Some("pt=aaa")), rows(10..12));
    let summaries = emu.uploads();
    assert_eq!(
        summaries
            .iter()
            .map(|u| (u.partition.as_deref(), u.create_partition, u.overwrite))
            .collect::<Vec<_>>(),
        [
            (Some("pt=new"), true, false),
            (Some("pt=aaa"), true, false),
            (Some("pt=new"), true, true)
        ]
    );

    // A session never committed creates nothing.
    upload_id(
        &emu,
        "sink_parts",
        "&partition=pt=zzz&create_partition=true",
    )
    .await;
    let never = meta_json(&emu, "sink_parts", "&partition=pt='zzz'").await;
    assert_eq!(never.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_faults_fail_blocks_and_commits() {
    let emu = start(MaxComputeConfig::default()).await;
    let rows = sink_rows(&emu, 0..10);
    let id = upload_id(&emu, "sink_target", "").await;
    let put = |block: &'static str| {
        let (emu, id, body) = (&emu, id.clone(), encode_records(&rows));
        async move { put_block(emu, "sink_target", &id, block, "", &[], sized_body(body)).await }
    };

    // Block errors: counted, after the body is read, nothing stored.
    emu.faults().block_errors(2);
    for block in ["0", "1"] {
        assert_eq!(
            code_of(&put(block).await),
            (500, "InternalServerError".into())
        );
    }
    assert_eq!(put("1").await.status, 200);
    assert_eq!(emu.uploads()[0].blocks, [(1, 10)]);

    // Commit conflicts: counted, nothing committed, the session stays usable.
    emu.faults().commit_conflicts(1);
    let conflict = upload_call(&emu, "POST", "sink_target", &id, "").await;
    assert_eq!(code_of(&conflict), (409, "StatusConflict".into()));
    assert_eq!(emu.commits(), 0);
    assert_eq!(stored(&emu, "sink_target", None).num_rows(), 0);
    let status = upload_call(&emu, "GET", "sink_target", &id, "").await;
    assert_eq!(status.json()["Status"], "normal");
    assert_eq!(
        upload_call(&emu, "POST", "sink_target", &id, "")
            .await
            .status,
        200
    );
    assert_eq!(emu.commits(), 1);
    assert_eq!(stored(&emu, "sink_target", None), rows);

    // Expiring upload sessions leaves download sessions alone.
    let upload = upload_id(&emu, "sink_target", "").await;
    let download = session(&emu, "sink_target", None).await;
    emu.faults().expire_upload_sessions();
    for reply in [
        put_block(
            &emu,
            "sink_target",
            &upload,
            "0",
            "",
            &[],
            sized_body(encode_records(&rows)),
        )
        .await,
        upload_call(&emu, "GET", "sink_target", &upload, "").await,
        upload_call(&emu, "POST", "sink_target", &upload, "").await,
    ] {
        assert_eq!(code_of(&reply), (409, "StatusConflict".into()));
    }
    let read_back = read(&emu, "sink_target", &download, "&rowrange=(0,10)", &[]).await;
    assert_eq!(read_back.body, encode_records(&rows));
    // New upload sessions work; `expire_sessions` expires upload sessions too.
    let fresh = upload_id(&emu, "sink_target", "").await;
    assert_eq!(
        upload_call(&emu, "GET", "sink_target", &fresh, "")
            .await
            .status,
        200
    );
    emu.faults().expire_sessions();
    let expired = upload_call(&emu, "POST", "sink_target", &fresh, "").await;
    assert_eq!(code_of(&expired), (409, "StatusConflict".into()));
    assert_eq!(emu.commits(), 1);
    let summaries = emu.uploads();
    assert_eq!(
        summaries
            .iter()
            .map(|u| (u.committed, u.expired))
            .collect::<Vec<_>>(),
        [(true, true), (false, true), (false, true)]
    );
}

/// A job XML as PyODPS 0.13.2 submits it for `sql`.
fn sql_job(task: &str, sql: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Instance>\n  <Job>\n    \
         <Priority>9</Priority>\n    <Tasks>\n      <SQL>\n        <Name>{task}</Name>\n        \
         <Config>\n          <Property>\n            <Name>settings</Name>\n            \
         <Value>{{\"odps.sql.submit.mode\": \"\"}}</Value>\n          </Property>\n        \
         </Config>\n        <Query><![CDATA[{sql}]]></Query>\n      </SQL>\n    </Tasks>\n    \
         <DAG>\n      <RunMode>Sequence</RunMode>\n    </DAG>\n  </Job>\n</Instance>\n"
    )
    .into_bytes()
}

/// Submits `sql`; returns the instance id and its task status and result.
async fn run_sql(emu: &MaxComputeEmulator, sql: &str) -> (String, String, String) {
    let submitted = call_with_body(
        emu,
        &emu.config().secret_access_key,
        Service::Meta,
        "POST",
        &meta_path(emu, "/instances?curr_project=emu_project"),
        &[("content-type", "application/xml")],
        sized_body(sql_job("SQLAddPartitionTask", sql)),
    )
    .await;
    assert_eq!(submitted.status, 201, "{}", submitted.text());
    assert!(submitted.body.is_empty());
    let location = submitted.header("location").unwrap().to_string();
    let id = location.rsplit('/').next().unwrap().to_string();
    assert!(location.starts_with(&format!(
        "{}/projects/emu_project/instances/",
        emu.endpoint()
    )));
    let instance = meta_path(emu, &format!("/instances/{id}"));
    let status = call(
        emu,
        Service::Meta,
        "GET",
        &format!("{instance}?instancestatus"),
        &[],
    )
    .await;
    assert!(status.text().contains("<Status>Terminated</Status>"));
    assert!(status.header("x-odps-start-time").is_some());
    let tasks = call(
        emu,
        Service::Meta,
        "GET",
        &format!("{instance}?taskstatus"),
        &[],
    )
    .await
    .text();
    assert!(
        tasks.contains("<Name>SQLAddPartitionTask</Name>"),
        "{tasks}"
    );
    let task_status = tasks
        .rsplit_once("<Status>")
        .unwrap()
        .1
        .split_once("</Status>")
        .unwrap()
        .0
        .to_string();
    let result = call(
        emu,
        Service::Meta,
        "GET",
        &format!("{instance}?result"),
        &[],
    )
    .await
    .text();
    let result = result
        .split_once("<![CDATA[")
        .unwrap()
        .1
        .split_once("]]>")
        .unwrap()
        .0
        .to_string();
    (id, task_status, result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_instances_add_partitions() {
    let emu = start(MaxComputeConfig::default()).await;
    let exists = |spec: &'static str| {
        let emu = &emu;
        async move {
            meta_json(emu, "sink_parts", &format!("&partition={spec}"))
                .await
                .status
                == 200
        }
    };
    assert!(!exists("pt='x'").await);
    let (_, status, result) = run_sql(
        &emu,
        "ALTER TABLE emu_project.`sink_parts` ADD IF NOT EXISTS PARTITION (pt='x');",
    )
    .await;
    assert_eq!((status.as_str(), result.as_str()), ("Success", "OK"));
    assert!(exists("pt='x'").await);
    assert_eq!(stored(&emu, "sink_parts", Some("pt=x")).num_rows(), 0);
    // Then the tunnel takes uploads into it without create_partition.
    assert_eq!(
        create_upload(&emu, "sink_parts", "&partition=pt=x")
            .await
            .status,
        201
    );

    for (sql, want_status, want_in_result) in [
        (
            "ALTER TABLE sink_parts ADD PARTITION (pt='x')",
            "Failed",
            "ODPS-0130111",
        ),
        (
            "alter table `emu_project`.`sink_parts` add if not exists partition(pt=\"x\")",
            "Success",
            "OK",
        ),
        (
            "ALTER TABLE sink_parts ADD PARTITION (pt='y') PARTITION (pt='z')",
            "Success",
            "OK",
        ),
        (
            "ALTER TABLE no_such ADD PARTITION (pt='x')",
            "Failed",
            "ODPS-0130131",
        ),
        (
            "ALTER TABLE other.sink_parts ADD PARTITION (pt='w')",
            "Failed",
            "ODPS-0130131",
        ),
        (
            "ALTER TABLE sink_target ADD PARTITION (pt='x')",
            "Failed",
            "not partitioned",
        ),
        (
            "ALTER TABLE sink_parts ADD PARTITION (dt='x')",
            "Failed",
            "ODPS-0130071",
        ),
        ("SELECT 1", "Failed", "ODPS-0130161"),
        (
            "ALTER TABLE sink_parts DROP PARTITION (pt='x')",
            "Failed",
            "ODPS-0130161",
        ),
    ] {
        let (_, status, result) = run_sql(&emu, sql).await;
        assert_eq!(status, want_status, "{sql}");
        assert!(result.contains(want_in_result), "{sql}: {result}");
    }
    assert!(exists("pt='y'").await && exists("pt='z'").await && !exists("pt='w'").await);

    let unknown = get_meta(&emu, "/instances/nope?taskstatus").await;
    assert_eq!(code_of(&unknown), (404, "NoSuchObject".into()));
    let not_sql = call_with_body(
        &emu,
        &emu.config().secret_access_key,
        Service::Meta,
        "POST",
        &meta_path(&emu, "/instances"),
        &[("content-type", "application/xml")],
        sized_body(b"<Instance><Job><Tasks><SQLCost/></Tasks></Job></Instance>".to_vec()),
    )
    .await;
    assert_eq!(code_of(&not_sql), (400, "InvalidArgument".into()));
    let other_post = call(
        &emu,
        Service::Meta,
        "POST",
        &meta_path(&emu, "/tables/sink_parts"),
        &[],
    )
    .await;
    assert_eq!(other_post.status, 405);
    // A request signed with the wrong secret runs nothing.
    let forged = call_with_body(
        &emu,
        "wrong-secret",
        Service::Meta,
        "POST",
        &meta_path(&emu, "/instances"),
        &[("content-type", "application/xml")],
        sized_body(sql_job(
            "t",
            "ALTER TABLE sink_parts ADD PARTITION (pt='v')",
        )),
    )
    .await;
    assert_eq!(code_of(&forged), (401, "SignatureNotMatch".into()));
    assert!(!exists("pt='v'").await);
}
