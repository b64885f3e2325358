//! Golden vectors produced by PyODPS 0.13.2 (`shared/testvectors`): signing, CRC-32C, the record
//! stream (all compression and checksum variants) and the Arrow tunnel framing.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{
    Date32Type, Decimal128Type, Decimal256Type, Float32Type, Float64Type, Int8Type, Int16Type,
    Int32Type, Int64Type, TimestampMillisecondType, TimestampNanosecondType, i256,
};
use arrowport_core::ErrorKind;
use arrowport_maxcompute::arrow_frame::{self, ArrowFrameReader, FramedReader};
use arrowport_maxcompute::compress::Compression;
use arrowport_maxcompute::crc32c::crc32c;
use arrowport_maxcompute::record::{self, ReadOptions, RecordEncoder, RecordReader, Value};
use arrowport_maxcompute::sign::{self, Credentials, SignableRequest, SignatureVersion, Signer};
use arrowport_maxcompute::types::{Column, TypeMapping, arrow_schema};
use serde_json::Value as Json;

fn load(name: &str) -> Json {
    let path = format!(
        "{}/../../../shared/testvectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn s(v: &Json) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn unhex(v: &Json) -> Vec<u8> {
    hex::decode(s(v)).unwrap()
}

// ------------------------------------------------------------------------------------------------
// Signing

#[test]
fn odps_sign_vectors() {
    let doc = load("odps_sign.json");
    let creds = Credentials::new(s(&doc["access_id"]), s(&doc["secret_access_key"]));
    let signer = Signer::new(creds.clone(), SignatureVersion::V2);
    let vectors = doc["vectors"].as_array().unwrap();
    let mut checked = 0;
    for v in vectors {
        let name = s(&v["name"]);
        let headers: Vec<(String, String)> = v["all_request_headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
            .map(|(k, v)| (k.clone(), s(v).to_owned()))
            .collect();
        let req = SignableRequest::from_url(
            s(&v["method"]),
            s(&v["endpoint"]),
            s(&v["request_url_as_sent"]),
            headers,
        )
        .unwrap();
        assert_eq!(
            req.canonical_string(),
            s(&v["canonical_string"]),
            "{name}: canonical string"
        );
        // The path-and-query form gives the same canonical string.
        let req2 = SignableRequest::from_url(
            s(&v["method"]),
            s(&v["endpoint"]),
            s(&v["path_and_query_as_sent"]),
            req.headers.clone(),
        )
        .unwrap();
        assert_eq!(
            req2.canonical_string(),
            s(&v["canonical_string"]),
            "{name}: path form"
        );
        // Only the signed headers matter.
        let only_signed = SignableRequest {
            headers: v["headers_participating_in_signature"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), s(v).to_owned()))
                .collect(),
            ..req.clone()
        };
        assert_eq!(
            only_signed.canonical_string(),
            s(&v["canonical_string"]),
            "{name}: signed headers"
        );

        let sig = sign::base64_encode(&sign::hmac_sha1(
            s(&doc["secret_access_key"]).as_bytes(),
            s(&v["canonical_string"]).as_bytes(),
        ));
        assert_eq!(sig, s(&v["signature_v2_base64"]), "{name}: signature");
        let headers = signer.sign(&req).unwrap();
        assert_eq!(
            headers,
            vec![("Authorization", s(&v["authorization"]).to_owned())],
            "{name}: authorization"
        );
        assert_eq!(
            s(&v["all_request_headers"]["Authorization"]),
            s(&v["authorization"])
        );
        checked += 1;
    }
    assert_eq!(checked, 7, "every request vector must be checked");
    assert_eq!(checked, vectors.len());

    // v4
    let v4 = &doc["v4"];
    let key = sign::v4_signing_key(
        s(&doc["secret_access_key"]),
        s(&v4["utc_date"]),
        s(&v4["region"]),
    );
    assert_eq!(hex::encode(key), s(&v4["signing_key_hex"]));
    let signer4 = Signer::new(
        creds.clone(),
        SignatureVersion::V4 {
            region: s(&v4["region"]).to_owned(),
        },
    );
    let auth = signer4
        .authorization_for(s(&v4["canonical_string"]), s(&doc["fixed_date_header"]))
        .unwrap();
    assert_eq!(auth, s(&v4["authorization"]));
    assert_eq!(
        s(&v4["canonical_string"]),
        s(&vectors[0]["canonical_string"])
    );

    // Java SDK cross-check
    let j = &doc["java_cross_check"];
    let mac = sign::hmac_sha1(
        s(&j["secret"]).as_bytes(),
        s(&j["canonical_string"]).as_bytes(),
    );
    assert_eq!(hex::encode(mac), s(&j["hmac_sha1_hex"]));
    assert_eq!(sign::base64_encode(&mac), s(&j["signature_v2_base64"]));

    // STS token header
    let sts = Signer::new(creds.with_sts_token("tok"), SignatureVersion::V2);
    let req = SignableRequest {
        method: "GET".into(),
        resource: "/projects/p".into(),
        headers: vec![("Date".into(), s(&doc["fixed_date_header"]).into())],
        ..Default::default()
    };
    let h = sts.sign(&req).unwrap();
    assert_eq!(h[1], (sign::STS_TOKEN_HEADER, "tok".to_owned()));
    let no_date = SignableRequest {
        headers: vec![],
        ..req
    };
    assert_eq!(sts.sign(&no_date).unwrap_err().kind(), ErrorKind::Config);
}

// ------------------------------------------------------------------------------------------------
// Cell comparison following `cell_json_conventions`

/// A decimal as (negative, significant digits without leading/trailing zeros, exponent).
fn norm_decimal(text: &str) -> (bool, String, i64) {
    let (neg, t) = text.strip_prefix('-').map_or((false, text), |t| (true, t));
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().unwrap()),
        None => (t, 0),
    };
    let (ip, fp) = mant.split_once('.').unwrap_or((mant, ""));
    let mut digits = format!("{ip}{fp}");
    let mut exp = exp - fp.len() as i64;
    digits = digits.trim_start_matches('0').to_owned();
    while digits.ends_with('0') {
        digits.pop();
        exp += 1;
    }
    if digits.is_empty() {
        return (false, String::new(), 0);
    }
    (neg, digits, exp)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "2023-01-19 12:34:56.789000" → epoch milliseconds.
fn parse_naive_ms(t: &str) -> i64 {
    let (date, time) = t.split_once(' ').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let micros: i64 = format!("{frac:0<6}").parse().unwrap();
    (days_from_civil(d[0], d[1], d[2]) * 86_400 + h[0] * 3600 + h[1] * 60 + h[2]) * 1000
        + micros / 1000
}

fn decimal_at(array: &dyn Array, i: usize) -> String {
    use arrow::datatypes::DataType;
    match array.data_type() {
        DataType::Decimal128(_, sc) => record::format_decimal(
            i256::from_i128(array.as_primitive::<Decimal128Type>().value(i)),
            *sc as u8,
        ),
        DataType::Decimal256(_, sc) => {
            record::format_decimal(array.as_primitive::<Decimal256Type>().value(i), *sc as u8)
        }
        other => panic!("not a decimal: {other}"),
    }
}

/// Compares `array[i]` with a typed JSON cell of the record vectors.
fn check_cell(array: &dyn Array, i: usize, cell: &Json, at: &str) {
    if cell.is_null() {
        assert!(array.is_null(i), "{at}: expected NULL");
        return;
    }
    assert!(array.is_valid(i), "{at}: unexpected NULL, want {cell}");
    let ty = s(&cell["type"]);
    let base = ty.split(['(', '<']).next().unwrap();
    match base {
        "bigint" => assert_eq!(
            array.as_primitive::<Int64Type>().value(i),
            cell["value"].as_i64().unwrap(),
            "{at}"
        ),
        "int" => assert_eq!(
            i64::from(array.as_primitive::<Int32Type>().value(i)),
            cell["value"].as_i64().unwrap(),
            "{at}"
        ),
        "smallint" => assert_eq!(
            i64::from(array.as_primitive::<Int16Type>().value(i)),
            cell["value"].as_i64().unwrap(),
            "{at}"
        ),
        "tinyint" => assert_eq!(
            i64::from(array.as_primitive::<Int8Type>().value(i)),
            cell["value"].as_i64().unwrap(),
            "{at}"
        ),
        "double" => {
            let v = array.as_primitive::<Float64Type>().value(i);
            assert_eq!(hex::encode(v.to_le_bytes()), s(&cell["le_hex"]), "{at}");
            assert_eq!(v, cell["value"].as_f64().unwrap(), "{at}");
        }
        "float" => {
            let v = array.as_primitive::<Float32Type>().value(i);
            assert_eq!(hex::encode(v.to_le_bytes()), s(&cell["le_hex"]), "{at}");
            assert_eq!(f64::from(v), cell["value"].as_f64().unwrap(), "{at}");
        }
        "string" | "varchar" | "char" | "json" => {
            let v = array.as_string::<i32>().value(i);
            assert_eq!(v, s(&cell["value"]), "{at}");
            assert_eq!(hex::encode(v), s(&cell["utf8_hex"]), "{at}");
        }
        "binary" => assert_eq!(
            hex::encode(array.as_binary::<i32>().value(i)),
            s(&cell["value_hex"]),
            "{at}"
        ),
        "boolean" => assert_eq!(
            array.as_boolean().value(i),
            cell["value"].as_bool().unwrap(),
            "{at}"
        ),
        "decimal" => assert_eq!(
            norm_decimal(&decimal_at(array, i)),
            norm_decimal(s(&cell["value"])),
            "{at}"
        ),
        "datetime" => {
            assert_eq!(
                array.as_primitive::<TimestampMillisecondType>().value(i),
                cell["epoch_ms"].as_i64().unwrap(),
                "{at}"
            )
        }
        "date" => assert_eq!(
            i64::from(array.as_primitive::<Date32Type>().value(i)),
            cell["epoch_days"].as_i64().unwrap(),
            "{at}"
        ),
        "timestamp" | "timestamp_ntz" => {
            let want = cell["epoch_seconds"].as_i64().unwrap() * 1_000_000_000
                + cell["nanos"].as_i64().unwrap();
            assert_eq!(
                array.as_primitive::<TimestampNanosecondType>().value(i),
                want,
                "{at}"
            );
        }
        "array" => {
            let items = array.as_list::<i32>().value(i);
            let want = cell["value"].as_array().unwrap();
            assert_eq!(items.len(), want.len(), "{at}: array length");
            for (j, w) in want.iter().enumerate() {
                check_cell(items.as_ref(), j, w, &format!("{at}[{j}]"));
            }
        }
        "map" => {
            let entries = array.as_map().value(i);
            let want = cell["entries"].as_array().unwrap();
            assert_eq!(entries.len(), want.len(), "{at}: map length");
            for (j, kv) in want.iter().enumerate() {
                check_cell(
                    entries.column(0).as_ref(),
                    j,
                    &kv[0],
                    &format!("{at}.key[{j}]"),
                );
                check_cell(
                    entries.column(1).as_ref(),
                    j,
                    &kv[1],
                    &format!("{at}.value[{j}]"),
                );
            }
        }
        "struct" => {
            let st = array.as_struct();
            let want = cell["fields"].as_array().unwrap();
            assert_eq!(st.num_columns(), want.len(), "{at}");
            for (j, f) in want.iter().enumerate() {
                assert_eq!(st.fields()[j].name(), s(&f["name"]), "{at}");
                check_cell(
                    st.column(j).as_ref(),
                    i,
                    &f["value"],
                    &format!("{at}.{}", s(&f["name"])),
                );
            }
        }
        other => panic!("{at}: unknown cell type {other}"),
    }
}

/// The JSON cell as an encoder [`Value`] (decimal text kept verbatim).
fn to_value(cell: &Json) -> Option<Value> {
    if cell.is_null() {
        return None;
    }
    let ty = s(&cell["type"]);
    let base = ty.split(['(', '<']).next().unwrap();
    Some(match base {
        "bigint" | "int" | "smallint" | "tinyint" => Value::Int(cell["value"].as_i64().unwrap()),
        "double" => Value::Double(f64::from_le_bytes(
            unhex(&cell["le_hex"]).try_into().unwrap(),
        )),
        "float" => Value::Float(f32::from_le_bytes(
            unhex(&cell["le_hex"]).try_into().unwrap(),
        )),
        "string" | "varchar" | "char" | "json" => Value::Bytes(unhex(&cell["utf8_hex"])),
        "binary" => Value::Bytes(unhex(&cell["value_hex"])),
        "boolean" => Value::Bool(cell["value"].as_bool().unwrap()),
        "decimal" => Value::Decimal(s(&cell["value"]).to_owned()),
        "datetime" => Value::DateTime(cell["epoch_ms"].as_i64().unwrap()),
        "date" => Value::Date(cell["epoch_days"].as_i64().unwrap()),
        "timestamp" | "timestamp_ntz" => Value::Timestamp {
            seconds: cell["epoch_seconds"].as_i64().unwrap(),
            nanos: cell["nanos"].as_i64().unwrap() as i32,
        },
        "array" => Value::Array(
            cell["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(to_value)
                .collect(),
        ),
        "map" => Value::Map(
            cell["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (to_value(&kv[0]), to_value(&kv[1])))
                .collect(),
        ),
        "struct" => Value::Struct(
            cell["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| to_value(&f["value"]))
                .collect(),
        ),
        other => panic!("unknown cell type {other}"),
    })
}

fn columns_of(v: &Json) -> Vec<Column> {
    v["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut col = Column::new(s(&c["name"]), s(&c["type"])).unwrap();
            col.nullable = c["nullable"].as_bool().unwrap_or(true);
            col
        })
        .collect()
}

fn decode_all(
    body: &[u8],
    columns: &[Column],
    batch_size: usize,
) -> arrowport_core::Result<Vec<RecordBatch>> {
    let opts = ReadOptions {
        batch_size,
        ..Default::default()
    };
    record::decode_records(body, columns, &opts)
}

fn check_rows(batches: &[RecordBatch], rows: &[Json], what: &str) {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(total, rows.len(), "{what}: row count");
    let mut r = 0;
    for b in batches {
        for i in 0..b.num_rows() {
            for (c, col) in b.columns().iter().enumerate() {
                check_cell(
                    col.as_ref(),
                    i,
                    &rows[r][c],
                    &format!("{what} row {r} col {c}"),
                );
            }
            r += 1;
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Record stream

#[test]
fn crc32c_check_value() {
    let doc = load("odps_tunnel_records.json");
    let check = &doc["crc32c_check"];
    let want = u32::from_str_radix(
        s(&check["crc32c(\"123456789\")"]).trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert_eq!(crc32c(b"123456789"), want);
    let empty =
        u32::from_str_radix(s(&check["crc32c(\"\")"]).trim_start_matches("0x"), 16).unwrap();
    assert_eq!(crc32c(b""), empty);
}

#[test]
fn record_vectors_decode() {
    let doc = load("odps_tunnel_records.json");
    let vectors = doc["record_vectors"].as_array().unwrap();
    let (mut bodies, mut compressed, mut cython) = (0, 0, 0);
    for v in vectors {
        let name = s(&v["name"]);
        let columns = columns_of(v);
        let rows = v["rows"].as_array().unwrap();
        let raw = unhex(&v["raw_hex"]);
        assert_eq!(raw.len() as u64, v["raw_len"].as_u64().unwrap());

        for batch_size in [1, 2, 8192] {
            let batches = decode_all(&raw, &columns, batch_size).unwrap();
            assert!(batches.iter().all(|b| b.num_rows() <= batch_size));
            check_rows(&batches, rows, &format!("{name} raw (batch {batch_size})"));
        }
        let mut reader = RecordReader::new(&raw[..], &columns, &ReadOptions::default()).unwrap();
        for b in reader.by_ref() {
            b.unwrap();
        }
        assert_eq!(
            reader.records_read(),
            v["footer"]["count"].as_u64().unwrap(),
            "{name}"
        );
        bodies += 1;

        let variants = v["compressed"].as_object().unwrap();
        for (key, c) in variants {
            let codec = Compression::from_content_encoding(s(&c["content_encoding"])).unwrap();
            let body = unhex(&c["hex"]);
            assert_eq!(
                codec.decompress(&body).unwrap(),
                raw,
                "{name} {key}: decompresses to raw_hex"
            );
            // Streaming: decompressing reader straight into the record reader.
            let reader = RecordReader::new(
                codec.decoder(&body[..]).unwrap(),
                &columns,
                &ReadOptions::default(),
            )
            .unwrap();
            let batches = reader.collect::<arrowport_core::Result<Vec<_>>>().unwrap();
            check_rows(&batches, rows, &format!("{name} {key}"));
            // Our own compressor output decodes too.
            assert_eq!(
                codec.decompress(&codec.compress(&raw).unwrap()).unwrap(),
                raw
            );
            compressed += 1;
        }
        if name != "empty" {
            assert_eq!(variants.len(), 3, "{name}: deflate, zstd and lz4 variants");
        }

        if let Some(cy) = v.get("variant_pyodps_cython_writer") {
            let body = unhex(&cy["raw_hex"]);
            assert_eq!(body.len() as u64, cy["raw_len"].as_u64().unwrap());
            assert!(
                cy["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["crc_varint_len"] == 10)
            );
            check_rows(
                &decode_all(&body, &columns, 8192).unwrap(),
                rows,
                &format!("{name} cython"),
            );
            cython += 1;
        }
    }
    assert_eq!(vectors.len(), 3);
    assert_eq!(
        (bodies, compressed, cython),
        (3, 6, 2),
        "every record vector and variant must be checked"
    );
}

#[test]
fn record_encoder_reproduces_raw_hex() {
    let doc = load("odps_tunnel_records.json");
    let mut checked = 0;
    for v in doc["record_vectors"].as_array().unwrap() {
        let name = s(&v["name"]);
        let columns = columns_of(v);
        let raw = unhex(&v["raw_hex"]);
        let records = v["records"].as_array().unwrap();

        // Value path: byte-for-byte, record boundaries included.
        let mut enc = RecordEncoder::new(&columns);
        let mut out = Vec::new();
        for (row, rec) in v["rows"].as_array().unwrap().iter().zip(records) {
            let cells: Vec<Option<Value>> = row.as_array().unwrap().iter().map(to_value).collect();
            assert_eq!(out.len() as u64, rec["offset"].as_u64().unwrap(), "{name}");
            enc.encode_row(&mut out, &cells).unwrap();
            assert_eq!(out.len() as u64, rec["end"].as_u64().unwrap(), "{name}");
            let crc_len = rec["crc_varint_len"].as_u64().unwrap() as usize;
            let mut crc = 0u64;
            for (k, b) in out[out.len() - crc_len..].iter().enumerate() {
                crc |= u64::from(b & 0x7f) << (7 * k);
            }
            assert_eq!(
                crc,
                rec["record_crc32c"].as_u64().unwrap(),
                "{name}: record crc"
            );
        }
        assert_eq!(
            out.len() as u64,
            v["footer"]["footer_offset"].as_u64().unwrap()
        );
        enc.finish(&mut out);
        assert_eq!(
            hex::encode(&out),
            s(&v["raw_hex"]),
            "{name}: encoder output"
        );

        // Arrow path: round trip. Decimal text is written plain at the column scale (Java
        // style), so bytes equal raw_hex only where PyODPS's str(Decimal) already was.
        let batches = decode_all(&raw, &columns, 2).unwrap();
        let mut enc = RecordEncoder::new(&columns);
        let mut out = Vec::new();
        for b in &batches {
            enc.encode_batch(&mut out, b).unwrap();
        }
        enc.finish(&mut out);
        let again = decode_all(&out, &columns, 8192).unwrap();
        let schema = Arc::new(arrow_schema(&columns, &TypeMapping::default()).unwrap());
        assert_eq!(
            concat_batches(&schema, &batches).unwrap(),
            concat_batches(&schema, &again).unwrap(),
            "{name}: Arrow round trip"
        );
        if name == "empty" {
            assert_eq!(out, raw);
        }
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn record_corruption_is_data_integrity() {
    let doc = load("odps_tunnel_records.json");
    for v in doc["record_vectors"].as_array().unwrap() {
        let name = s(&v["name"]);
        let columns = columns_of(v);
        let raw = unhex(&v["raw_hex"]);
        // Every single-bit flip anywhere is detected; flips in values and checksums are
        // integrity errors.
        let mut integrity = 0;
        for pos in 0..raw.len() {
            for bit in [0x01u8, 0x40] {
                let mut bad = raw.clone();
                bad[pos] ^= bit;
                match decode_all(&bad, &columns, 8192) {
                    Ok(_) => panic!("{name}: flipping {bit:#x} at byte {pos} went undetected"),
                    Err(e) => integrity += usize::from(e.kind() == ErrorKind::DataIntegrity),
                }
            }
        }
        assert!(
            integrity > raw.len(),
            "{name}: mostly integrity errors ({integrity})"
        );
        // Flipping the CRC byte of each record and the footer fields.
        for rec in v["records"].as_array().unwrap() {
            let mut bad = raw.clone();
            bad[rec["end"].as_u64().unwrap() as usize - 1] ^= 0x01;
            assert_eq!(
                decode_all(&bad, &columns, 8192).unwrap_err().kind(),
                ErrorKind::DataIntegrity,
                "{name}"
            );
        }
        let footer = v["footer"]["footer_offset"].as_u64().unwrap() as usize;
        for pos in [footer + 4, raw.len() - 1] {
            let mut bad = raw.clone();
            bad[pos] ^= 0x02;
            assert_eq!(
                decode_all(&bad, &columns, 8192).unwrap_err().kind(),
                ErrorKind::DataIntegrity,
                "{name} {pos}"
            );
        }
        // Truncation anywhere and trailing garbage.
        for cut in 0..raw.len() {
            assert_eq!(
                decode_all(&raw[..cut], &columns, 8192).unwrap_err().kind(),
                ErrorKind::DataIntegrity,
                "{name} cut {cut}"
            );
        }
        let mut long = raw.clone();
        long.push(0);
        assert_eq!(
            decode_all(&long, &columns, 8192).unwrap_err().kind(),
            ErrorKind::DataIntegrity
        );
        // A field number beyond the column count.
        let mut fewer = columns.clone();
        fewer.pop();
        if !v["rows"].as_array().unwrap().is_empty() {
            assert_eq!(
                decode_all(&raw, &fewer, 8192).unwrap_err().kind(),
                ErrorKind::DataIntegrity
            );
        }
    }
}

#[test]
fn record_fields_in_any_order() {
    // Columns (a bigint, b string), record with field 2 before field 1.
    let columns = vec![
        Column::new("a", "bigint").unwrap(),
        Column::new("b", "string").unwrap(),
    ];
    let mut crc = arrowport_maxcompute::crc32c::Crc32c::new();
    let mut body = vec![0x12, 0x01, b'x', 0x08, 0x02];
    crc.update(&2i32.to_le_bytes());
    crc.update(b"x");
    crc.update(&1i32.to_le_bytes());
    crc.update(&1i64.to_le_bytes());
    let rc = crc.value();
    body.extend_from_slice(&[0x80, 0xc0, 0xff, 0x7f]);
    let mut v = u64::from(rc);
    while v >= 0x80 {
        body.push((v as u8) | 0x80);
        v >>= 7;
    }
    body.push(v as u8);
    body.extend_from_slice(&[0xf0, 0xff, 0xff, 0x7f, 0x02, 0xf8, 0xff, 0xff, 0x7f]);
    let mut v = u64::from(crc32c(&rc.to_le_bytes()));
    while v >= 0x80 {
        body.push((v as u8) | 0x80);
        v >>= 7;
    }
    body.push(v as u8);
    let b = &decode_all(&body, &columns, 10).unwrap()[0];
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 1);
    assert_eq!(b.column(1).as_string::<i32>().value(0), "x");
}

// ------------------------------------------------------------------------------------------------
// Arrow framing

fn check_pylist(batches: &[RecordBatch], rows: &[Json], what: &str) {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(total, rows.len(), "{what}");
    let mut r = 0;
    for b in batches {
        for i in 0..b.num_rows() {
            let row = &rows[r];
            let at = format!("{what} row {r}");
            let col = |n: &str| b.column_by_name(n).unwrap().clone();
            let null = |n: &str| row[n].is_null();
            let names = [
                "c_bigint",
                "c_double",
                "c_string",
                "c_bool",
                "c_datetime",
                "c_decimal",
                "c_array",
                "c_map",
            ];
            for n in names {
                assert_eq!(col(n).is_null(i), null(n), "{at} {n} null");
            }
            if null("c_bigint") {
                r += 1;
                continue;
            }
            assert_eq!(
                col("c_bigint").as_primitive::<Int64Type>().value(i),
                row["c_bigint"].as_i64().unwrap(),
                "{at}"
            );
            assert_eq!(
                col("c_double").as_primitive::<Float64Type>().value(i),
                row["c_double"].as_f64().unwrap(),
                "{at}"
            );
            assert_eq!(
                col("c_string").as_string::<i32>().value(i),
                s(&row["c_string"]),
                "{at}"
            );
            assert_eq!(
                col("c_bool").as_boolean().value(i),
                row["c_bool"].as_bool().unwrap(),
                "{at}"
            );
            assert_eq!(
                col("c_datetime")
                    .as_primitive::<TimestampMillisecondType>()
                    .value(i),
                parse_naive_ms(s(&row["c_datetime"])),
                "{at}"
            );
            assert_eq!(
                decimal_at(col("c_decimal").as_ref(), i),
                s(&row["c_decimal"]),
                "{at}"
            );
            let arr = col("c_array").as_list::<i32>().value(i);
            let want = row["c_array"].as_array().unwrap();
            assert_eq!(arr.len(), want.len(), "{at}");
            for (j, w) in want.iter().enumerate() {
                assert_eq!(arr.is_null(j), w.is_null(), "{at}");
                if !w.is_null() {
                    assert_eq!(
                        arr.as_primitive::<Int64Type>().value(j),
                        w.as_i64().unwrap(),
                        "{at}"
                    );
                }
            }
            let map = col("c_map").as_map().value(i);
            let want = row["c_map"].as_array().unwrap();
            assert_eq!(map.len(), want.len(), "{at}");
            for (j, kv) in want.iter().enumerate() {
                assert_eq!(map.column(0).as_string::<i32>().value(j), s(&kv[0]), "{at}");
                assert_eq!(map.column(1).is_null(j), kv[1].is_null(), "{at}");
                if !kv[1].is_null() {
                    assert_eq!(
                        map.column(1).as_primitive::<Int64Type>().value(j),
                        kv[1].as_i64().unwrap(),
                        "{at}"
                    );
                }
            }
            r += 1;
        }
    }
}

#[test]
fn arrow_vectors_decode() {
    let doc = load("odps_tunnel_records.json");
    let basic = &doc["record_vectors"][0];
    assert_eq!(s(&basic["name"]), "basic");
    let columns = columns_of(basic);
    let schema = Arc::new(arrow_schema(&columns, &TypeMapping::default()).unwrap());
    let vectors = doc["arrow_vectors"].as_array().unwrap();
    let mut checked = 0;
    for v in vectors {
        let name = s(&v["name"]);
        let framed = unhex(&v["framed_hex"]);
        let payload = unhex(&v["payload_hex"]);
        let chunk = v["chunk_size"].as_u64().unwrap() as u32;
        let chunks = v["chunks"].as_array().unwrap();
        assert_eq!(arrow_frame::unframe(&framed).unwrap(), payload, "{name}");
        assert_eq!(
            arrow_frame::frame(&payload, chunk),
            framed,
            "{name}: framing encoder"
        );

        let mut fr = FramedReader::new(&framed[..]);
        let mut unframed = Vec::new();
        while !fr.is_complete() {
            fr.next_frame_into(&mut unframed).unwrap();
        }
        assert_eq!(unframed, payload, "{name}: frame by frame");
        assert_eq!(fr.chunk_size(), chunk as usize);
        assert_eq!(
            fr.frames_verified(),
            chunks.len() as u64,
            "{name}: every chunk CRC checked"
        );

        // Chunk CRCs as listed, at their positions; flipping any of them is detected.
        let mut pos = 4usize;
        for (k, c) in chunks.iter().enumerate() {
            let len = c["data_len"].as_u64().unwrap() as usize;
            let crc_at = pos + len;
            let wire = u32::from_be_bytes(framed[crc_at..crc_at + 4].try_into().unwrap());
            assert_eq!(
                u64::from(wire),
                c["crc32c"].as_u64().unwrap(),
                "{name} chunk {k}"
            );
            let mut bad = framed.clone();
            bad[crc_at + 3] ^= 0x01;
            let err = arrow_frame::decode_arrow(&bad, schema.clone()).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::DataIntegrity,
                "{name} chunk {k}: {err}"
            );
            if len > 0 {
                let mut bad = framed.clone();
                bad[pos + len / 2] ^= 0x10;
                let err = arrow_frame::decode_arrow(&bad, schema.clone()).unwrap_err();
                assert_eq!(
                    err.kind(),
                    ErrorKind::DataIntegrity,
                    "{name} chunk {k} data: {err}"
                );
            }
            pos = crc_at + 4;
        }
        assert_eq!(pos, framed.len());

        let mut reader = ArrowFrameReader::new(&framed[..], schema.clone(), framed.len()).unwrap();
        let batches: Vec<RecordBatch> = reader
            .by_ref()
            .collect::<arrowport_core::Result<_>>()
            .unwrap();
        assert_eq!(reader.frames_verified(), chunks.len() as u64);
        let rows = v["decoded_pylist"].as_array().unwrap();
        check_pylist(&batches, rows, name);

        // Truncated bodies fail.
        for cut in [framed.len() - 1, framed.len() - 4, framed.len() / 2, 3] {
            let err = arrow_frame::decode_arrow(&framed[..cut], schema.clone()).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::DataIntegrity,
                "{name} cut {cut}: {err}"
            );
        }

        // An EOS marker is accepted; bytes after it are not.
        let mut with_eos = payload.clone();
        with_eos.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        let ok = arrow_frame::decode_arrow(&arrow_frame::frame(&with_eos, chunk), schema.clone())
            .unwrap();
        check_pylist(&ok, rows, name);
        with_eos.push(0);
        let err = arrow_frame::decode_arrow(&arrow_frame::frame(&with_eos, chunk), schema.clone())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{name}: {err}");

        // Encoder round trip (our IPC writer, same framing).
        let body = arrow_frame::encode_batches(&schema, &batches, chunk).unwrap();
        let again = arrow_frame::decode_arrow(&body, schema.clone()).unwrap();
        assert_eq!(
            concat_batches(&schema, &batches).unwrap(),
            concat_batches(&schema, &again).unwrap(),
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "every Arrow vector must be checked");
    assert_eq!(checked, vectors.len());
}

#[test]
fn arrow_and_record_rows_agree_except_documented_cell() {
    // The Arrow vectors claim "same rows as the record vector 'basic'", but row 2's c_bigint is
    // i64::MIN in the Arrow payload and i64::MAX in the record stream. Pin that discrepancy so
    // a regenerated vector file is noticed.
    let doc = load("odps_tunnel_records.json");
    let rec = &doc["record_vectors"][0]["rows"][2][0]["value"];
    let arrow = &doc["arrow_vectors"][0]["decoded_pylist"][2]["c_bigint"];
    assert_eq!(rec.as_i64(), Some(i64::MAX));
    assert_eq!(arrow.as_i64(), Some(i64::MIN));
}
