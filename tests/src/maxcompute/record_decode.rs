//! Reading uploaded record-stream blocks (spec §3.1), independently of arrowport's decoder:
//! each record's fields are decoded by the column's MaxCompute type and checked against the
//! record CRC, the footer's count and checksum are checked, and the rows become an Arrow batch
//! of the table's layout by way of JSON (arrow-json does the typing). Covers the types of the
//! writable fixtures: integers, float, double, boolean, string-like, decimal, datetime,
//! timestamp(_ntz), and arrays, maps and structs of them.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use crc::Digest;
use serde_json::{Map, Value};

use super::record::CRC32C;
use super::tables::split_top_level;

const END_RECORD: u64 = 33_553_408;
const META_COUNT: u64 = 33_554_430;
const META_CHECKSUM: u64 = 33_554_431;

type Crc = Digest<'static, u32, crc::Table<16>>;

/// Decodes a whole block of `columns` (name, MaxCompute type) into a batch of `schema`.
pub(crate) fn decode(
    block: &[u8],
    columns: &[(&str, &str)],
    schema: &SchemaRef,
) -> Result<RecordBatch, String> {
    let mut input = Input {
        bytes: block,
        at: 0,
    };
    let mut rows: Vec<Value> = Vec::new();
    let mut crccrc = CRC32C.digest();
    let mut record = Map::new();
    let mut crc = CRC32C.digest();
    loop {
        let tag = input.varint()?;
        match tag >> 3 {
            END_RECORD => {
                let got = input.varint()? as u32;
                let want = std::mem::replace(&mut crc, CRC32C.digest()).finalize();
                if got != want {
                    return Err(format!("record {} CRC mismatch", rows.len()));
                }
                crccrc.update(&want.to_le_bytes());
                rows.push(Value::Object(std::mem::take(&mut record)));
            }
            META_COUNT => {
                let count = zigzag(input.varint()?);
                if count != rows.len() as i64 || !record.is_empty() {
                    return Err(format!(
                        "footer counts {count} records, the block holds {}",
                        rows.len()
                    ));
                }
                if input.varint()? != META_CHECKSUM << 3 {
                    return Err("no META_CHECKSUM after the count".into());
                }
                if input.varint()? as u32 != crccrc.finalize() {
                    return Err("stream checksum mismatch".into());
                }
                if input.at != block.len() {
                    return Err("bytes after the footer".into());
                }
                break;
            }
            f if f >= 1 && (f as usize) <= columns.len() => {
                let (name, ty) = columns[f as usize - 1];
                crc.update(&(f as i32).to_le_bytes());
                let value = input.value(ty, &mut crc)?;
                record.insert(name.to_string(), value);
            }
            other => return Err(format!("invalid field number {other}")),
        }
    }
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(rows.len().max(1))
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(&rows).map_err(|e| e.to_string())?;
    decoder
        .flush()
        .map_err(|e| e.to_string())?
        .map_or_else(|| Ok(RecordBatch::new_empty(schema.clone())), Ok)
}

struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or("the block ends inside a varint")?;
            self.at += 1;
            v |= u64::from(b & 0x7f) << shift.min(63);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or("the block ends inside a value")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// One value of type `ty`, fed to `crc` as the spec's table says.
    fn value(&mut self, ty: &str, crc: &mut Crc) -> Result<Value, String> {
        let ty = ty.trim().to_ascii_lowercase();
        let (head, args) = match ty.split_once('<') {
            Some((h, rest)) => (
                h.trim().to_string(),
                rest.strip_suffix('>').unwrap_or(rest).to_string(),
            ),
            None => (
                ty.split('(').next().unwrap_or_default().to_string(),
                String::new(),
            ),
        };
        Ok(match head.as_str() {
            "bigint" | "int" | "smallint" | "tinyint" | "datetime" | "date" => {
                let v = zigzag(self.varint()?);
                crc.update(&v.to_le_bytes());
                Value::from(v)
            }
            "boolean" => {
                let v = self.varint()? != 0;
                crc.update(&[u8::from(v)]);
                Value::from(v)
            }
            "double" => {
                let b = self.take(8)?;
                crc.update(b);
                Value::from(f64::from_le_bytes(b.try_into().expect("8 bytes")))
            }
            "float" => {
                let b = self.take(4)?;
                crc.update(b);
                Value::from(f64::from(f32::from_le_bytes(
                    b.try_into().expect("4 bytes"),
                )))
            }
            "string" | "varchar" | "char" | "json" | "decimal" => {
                let n = self.varint()? as usize;
                let b = self.take(n)?;
                crc.update(b);
                Value::from(String::from_utf8(b.to_vec()).map_err(|e| e.to_string())?)
            }
            "timestamp" | "timestamp_ntz" => {
                let secs = zigzag(self.varint()?);
                let nanos = zigzag32(self.varint()?);
                crc.update(&secs.to_le_bytes());
                crc.update(&nanos.to_le_bytes());
                Value::from(secs * 1_000_000_000 + i64::from(nanos))
            }
            "array" => Value::Array(self.list(&args, crc)?),
            "map" => {
                let parts = split_top_level(&args);
                let [k, v] = parts.as_slice() else {
                    return Err(format!("map<{args}> is not map<K,V>"));
                };
                let keys = self.list(k, crc)?;
                let values = self.list(v, crc)?;
                if keys.len() != values.len() {
                    return Err("a map with more keys than values".into());
                }
                let mut map = Map::new();
                for (k, v) in keys.into_iter().zip(values) {
                    let key = match k {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, v);
                }
                Value::Object(map)
            }
            "struct" => {
                let mut object = Map::new();
                for field in split_top_level(&args) {
                    let (name, t) = field
                        .split_once(':')
                        .ok_or("a struct field without a type")?;
                    let value = if self.varint()? == 1 {
                        Value::Null
                    } else {
                        self.value(t, crc)?
                    };
                    object.insert(name.trim().to_string(), value);
                }
                Value::Object(object)
            }
            other => return Err(format!("the emulator cannot read `{other}` values")),
        })
    }

    fn list(&mut self, element: &str, crc: &mut Crc) -> Result<Vec<Value>, String> {
        let n = self.varint()? as usize;
        (0..n)
            .map(|_| {
                if self.varint()? == 1 {
                    Ok(Value::Null)
                } else {
                    self.value(element, crc)
                }
            })
            .collect()
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}
