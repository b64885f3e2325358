//! The tunnel record stream (spec §3.1): a protobuf-style (but not protobuf) sequence of records,
//! each closed by a CRC-32C, and a footer with the record count and a checksum of checksums.
//!
//! * [`RecordReader`] decodes a stream from any [`Read`] (decompress first, see
//!   [`crate::compress`]) into Arrow [`RecordBatch`]es of the mapped schema, verifying every
//!   record CRC, the footer count and the stream checksum ([`ErrorKind::DataIntegrity`] on any
//!   mismatch, truncation or trailing bytes).
//! * [`RecordEncoder`] writes records from Arrow batches or from [`Value`] rows and closes the
//!   stream with its footer (checksums as ≤5-byte varints, like Java and pure-Python PyODPS).
//!
//! Decimals travel as text and are converted exactly (never via float). Checksum varints of up
//! to 10 bytes (PyODPS's Cython writer sign-extends) are accepted; the low 32 bits count.

use std::io::Read;
use std::sync::Arc;

use arrow::array::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Decimal256Builder, Float32Builder, Float64Builder, Int8Builder, Int16Builder, Int32Builder,
    Int64Builder, ListArray, MapArray, RecordBatch, RecordBatchOptions, StringBuilder, StructArray,
    TimestampMillisecondBuilder, TimestampNanosecondBuilder,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Decimal256Type, FieldRef, Fields, Float32Type,
    Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, SchemaRef, TimestampMillisecondType,
    TimestampNanosecondType, i256,
};
use arrowport_core::{Error, ErrorKind, Result};

use crate::compress::io_to_error;
use crate::crc32c::{Crc32c, crc32c};
use crate::types::{Column, OdpsType, TypeMapping, arrow_schema};

/// Field number closing a record (`80 c0 ff 7f`).
pub const END_RECORD: u32 = 33_553_408;
/// Field number of the footer's record count (`f0 ff ff 7f`).
pub const META_COUNT: u32 = 33_554_430;
/// Field number of the footer's stream checksum (`f8 ff ff 7f`).
pub const META_CHECKSUM: u32 = 33_554_431;
/// Field number closing the optional metrics block.
pub const END_METRICS: u32 = 33_554_176;
/// Field number of the optional metrics JSON in the footer.
pub const METRICS_FIELD: u32 = 1;

const WT_VARINT: u8 = 0;
const WT_FIXED64: u8 = 1;
const WT_LEN: u8 = 2;
const WT_FIXED32: u8 = 5;

/// Default rows per decoded batch.
pub const DEFAULT_BATCH_SIZE: usize = 8192;

/// The protobuf wire type that tags a column of type `ty`.
pub fn wire_type(ty: &OdpsType) -> u8 {
    match ty {
        OdpsType::TinyInt
        | OdpsType::SmallInt
        | OdpsType::Int
        | OdpsType::BigInt
        | OdpsType::Boolean
        | OdpsType::DateTime
        | OdpsType::Date
        | OdpsType::IntervalYearMonth => WT_VARINT,
        OdpsType::Double => WT_FIXED64,
        OdpsType::Float => WT_FIXED32,
        _ => WT_LEN,
    }
}

fn integrity(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::DataIntegrity, msg)
}

/// A `u32` checksum from its varint: the ≤5-byte form, or PyODPS Cython's sign-extended 10-byte
/// form (upper 32 bits all ones, bit 31 set). Anything else is corruption.
fn checksum_u32(v: u64) -> Result<u32> {
    match v >> 32 {
        0 => Ok(v as u32),
        0xFFFF_FFFF if v & 0x8000_0000 != 0 => Ok(v as u32),
        _ => Err(integrity(format!(
            "checksum varint {v:#x} is not a 32-bit value"
        ))),
    }
}

fn zigzag_decode64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn zigzag_decode32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

fn zigzag_encode64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn zigzag_encode32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

// ------------------------------------------------------------------------------------------------
// Input

/// A buffered byte source that tracks the stream offset.
struct Input<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    consumed: u64,
}

impl<R: Read> Input<R> {
    fn new(inner: R) -> Self {
        Input {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            consumed: 0,
        }
    }

    fn offset(&self) -> u64 {
        self.consumed + self.pos as u64
    }

    /// Refills the buffer; false at EOF.
    fn fill(&mut self) -> Result<bool> {
        self.consumed += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_to_error("cannot read the tunnel record stream", e)),
            }
        }
    }

    fn try_byte(&mut self) -> Result<Option<u8>> {
        if self.pos == self.len && !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(Some(b))
    }

    fn byte(&mut self) -> Result<u8> {
        self.try_byte()?.ok_or_else(|| self.truncated())
    }

    fn truncated(&self) -> Error {
        integrity(format!(
            "tunnel record stream truncated at byte {}",
            self.offset()
        ))
    }

    /// A varint of up to 10 bytes, or `None` at a clean EOF before its first byte.
    fn try_varint(&mut self) -> Result<Option<u64>> {
        let Some(first) = self.try_byte()? else {
            return Ok(None);
        };
        let mut value = u64::from(first & 0x7F);
        if first & 0x80 == 0 {
            return Ok(Some(value));
        }
        for shift in (7..70).step_by(7) {
            let b = self.byte()?;
            if shift == 63 && b > 1 {
                return Err(integrity(format!(
                    "varint overflows 64 bits at byte {}",
                    self.offset()
                )));
            }
            value |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(Some(value));
            }
        }
        Err(integrity(format!(
            "varint longer than 10 bytes at byte {}",
            self.offset()
        )))
    }

    fn varint(&mut self) -> Result<u64> {
        self.try_varint()?.ok_or_else(|| self.truncated())
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        if self.len - self.pos >= N {
            out.copy_from_slice(&self.buf[self.pos..self.pos + N]);
            self.pos += N;
        } else {
            for b in &mut out {
                *b = self.byte()?;
            }
        }
        Ok(out)
    }

    /// Reads a length-prefixed byte string into `out` (replacing its contents).
    fn len_bytes(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let n = self.varint()?;
        out.clear();
        let mut left = usize::try_from(n).map_err(|_| integrity("field length overflows"))?;
        while left > 0 {
            if self.pos == self.len && !self.fill()? {
                return Err(self.truncated());
            }
            let take = left.min(self.len - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
            left -= take;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------------
// Column builders

/// Accumulates one column; the variant mirrors the MaxCompute type, which fixes the wire format.
#[derive(Debug)]
enum Builder {
    Int8(Int8Builder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Utf8(StringBuilder),
    Binary(BinaryBuilder),
    Decimal128(Decimal128Builder, u8, u8),
    Decimal256(Decimal256Builder, u8, u8),
    Date32(Date32Builder),
    DateTime(TimestampMillisecondBuilder),
    Timestamp(TimestampNanosecondBuilder),
    List {
        field: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        child: Box<Builder>,
    },
    Map {
        field: FieldRef,
        offsets: Vec<i32>,
        nulls: NullBufferBuilder,
        keys: Box<Builder>,
        values: Box<Builder>,
    },
    Struct {
        fields: Fields,
        children: Vec<Builder>,
        nulls: NullBufferBuilder,
    },
}

impl Builder {
    fn new(ty: &OdpsType, dt: &DataType) -> Result<Builder> {
        let tz = |dt: &DataType| match dt {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        Ok(match ty {
            OdpsType::TinyInt => Builder::Int8(Int8Builder::new()),
            OdpsType::SmallInt => Builder::Int16(Int16Builder::new()),
            OdpsType::Int => Builder::Int32(Int32Builder::new()),
            OdpsType::BigInt => Builder::Int64(Int64Builder::new()),
            OdpsType::Float => Builder::Float32(Float32Builder::new()),
            OdpsType::Double => Builder::Float64(Float64Builder::new()),
            OdpsType::Boolean => Builder::Bool(BooleanBuilder::new()),
            OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
                Builder::Utf8(StringBuilder::new())
            }
            OdpsType::Binary => Builder::Binary(BinaryBuilder::new()),
            OdpsType::Decimal {
                precision, scale, ..
            } => {
                let (p, s) = (*precision, *scale);
                let err = |e: arrow::error::ArrowError| Error::schema(e.to_string());
                if p <= 38 {
                    Builder::Decimal128(
                        Decimal128Builder::new()
                            .with_precision_and_scale(p, s as i8)
                            .map_err(err)?,
                        p,
                        s,
                    )
                } else {
                    Builder::Decimal256(
                        Decimal256Builder::new()
                            .with_precision_and_scale(p, s as i8)
                            .map_err(err)?,
                        p,
                        s,
                    )
                }
            }
            OdpsType::Date => Builder::Date32(Date32Builder::new()),
            OdpsType::DateTime => {
                Builder::DateTime(TimestampMillisecondBuilder::new().with_timezone_opt(tz(dt)))
            }
            OdpsType::Timestamp | OdpsType::TimestampNtz => {
                Builder::Timestamp(TimestampNanosecondBuilder::new().with_timezone_opt(tz(dt)))
            }
            OdpsType::IntervalDayTime | OdpsType::IntervalYearMonth => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("cannot decode MaxCompute {ty} to Arrow"),
                ));
            }
            OdpsType::Array(elem) => {
                let DataType::List(field) = dt else {
                    return Err(Error::schema("array must map to List"));
                };
                Builder::List {
                    child: Box::new(Builder::new(elem, field.data_type())?),
                    field: field.clone(),
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                }
            }
            OdpsType::Map(k, v) => {
                let DataType::Map(field, _) = dt else {
                    return Err(Error::schema("map must map to Map"));
                };
                let DataType::Struct(kv) = field.data_type() else {
                    return Err(Error::schema("map entries"));
                };
                Builder::Map {
                    keys: Box::new(Builder::new(k, kv[0].data_type())?),
                    values: Box::new(Builder::new(v, kv[1].data_type())?),
                    field: field.clone(),
                    offsets: vec![0],
                    nulls: NullBufferBuilder::new(0),
                }
            }
            OdpsType::Struct(members) => {
                let DataType::Struct(fields) = dt else {
                    return Err(Error::schema("struct must map to Struct"));
                };
                let children = members
                    .iter()
                    .zip(fields.iter())
                    .map(|((_, t), f)| Builder::new(t, f.data_type()))
                    .collect::<Result<Vec<_>>>()?;
                Builder::Struct {
                    fields: fields.clone(),
                    children,
                    nulls: NullBufferBuilder::new(0),
                }
            }
        })
    }

    fn append_null(&mut self) {
        match self {
            Builder::Int8(b) => b.append_null(),
            Builder::Int16(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Utf8(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
            Builder::Decimal128(b, ..) => b.append_null(),
            Builder::Decimal256(b, ..) => b.append_null(),
            Builder::Date32(b) => b.append_null(),
            Builder::DateTime(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::List { offsets, nulls, .. } | Builder::Map { offsets, nulls, .. } => {
                offsets.push(*offsets.last().unwrap_or(&0));
                nulls.append_null();
            }
            Builder::Struct {
                children, nulls, ..
            } => {
                children.iter_mut().for_each(Builder::append_null);
                nulls.append_null();
            }
        }
    }

    /// Decodes one value (payload without tag) and appends it, feeding its leaf bytes to `crc`.
    fn decode<R: Read>(
        &mut self,
        input: &mut Input<R>,
        crc: &mut Crc32c,
        scratch: &mut Vec<u8>,
    ) -> Result<()> {
        fn int<R: Read>(input: &mut Input<R>, crc: &mut Crc32c) -> Result<i64> {
            let v = zigzag_decode64(input.varint()?);
            crc.update(&v.to_le_bytes());
            Ok(v)
        }
        fn narrow<T: TryFrom<i64>>(v: i64, what: &str) -> Result<T> {
            T::try_from(v)
                .map_err(|_| Error::schema(format!("value {v} does not fit MaxCompute {what}")))
        }
        match self {
            Builder::Int8(b) => b.append_value(narrow(int(input, crc)?, "tinyint")?),
            Builder::Int16(b) => b.append_value(narrow(int(input, crc)?, "smallint")?),
            Builder::Int32(b) => b.append_value(narrow(int(input, crc)?, "int")?),
            Builder::Int64(b) => b.append_value(int(input, crc)?),
            Builder::DateTime(b) => b.append_value(int(input, crc)?),
            Builder::Date32(b) => b.append_value(narrow(int(input, crc)?, "date")?),
            Builder::Bool(b) => {
                let v = match input.varint()? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(integrity(format!(
                            "boolean value {other} at byte {}",
                            input.offset()
                        )));
                    }
                };
                crc.update(&[u8::from(v)]);
                b.append_value(v);
            }
            Builder::Float64(b) => {
                let bytes = input.fixed::<8>()?;
                crc.update(&bytes);
                b.append_value(f64::from_le_bytes(bytes));
            }
            Builder::Float32(b) => {
                let bytes = input.fixed::<4>()?;
                crc.update(&bytes);
                b.append_value(f32::from_le_bytes(bytes));
            }
            Builder::Utf8(b) => {
                input.len_bytes(scratch)?;
                crc.update(scratch);
                let s = std::str::from_utf8(scratch)
                    .map_err(|e| Error::schema(format!("string value is not valid UTF-8: {e}")))?;
                b.append_value(s);
            }
            Builder::Binary(b) => {
                input.len_bytes(scratch)?;
                crc.update(scratch);
                b.append_value(&scratch[..]);
            }
            Builder::Decimal128(b, p, s) => {
                input.len_bytes(scratch)?;
                crc.update(scratch);
                let v = parse_decimal(scratch, *p, *s)?;
                b.append_value(
                    v.to_i128()
                        .ok_or_else(|| Error::schema("decimal overflows 128 bits"))?,
                );
            }
            Builder::Decimal256(b, p, s) => {
                input.len_bytes(scratch)?;
                crc.update(scratch);
                b.append_value(parse_decimal(scratch, *p, *s)?);
            }
            Builder::Timestamp(b) => {
                let secs = zigzag_decode64(input.varint()?);
                let nanos = zigzag_decode32(input.varint()?);
                crc.update(&secs.to_le_bytes());
                crc.update(&nanos.to_le_bytes());
                if nanos.unsigned_abs() >= 1_000_000_000 {
                    return Err(integrity(format!("timestamp nanos {nanos} out of range")));
                }
                let ns = secs
                    .checked_mul(1_000_000_000)
                    .and_then(|v| v.checked_add(i64::from(nanos)))
                    .ok_or_else(|| {
                        Error::schema(format!(
                            "timestamp {secs}s+{nanos}ns is outside the range of Arrow Timestamp(ns) (1677..2262)"
                        ))
                    })?;
                b.append_value(ns);
            }
            Builder::List {
                offsets,
                nulls,
                child,
                ..
            } => {
                let n = decode_elements(input, child, crc, scratch, "array")?;
                push_offset(offsets, n)?;
                nulls.append_non_null();
            }
            Builder::Map {
                offsets,
                nulls,
                keys,
                values,
                ..
            } => {
                let n = decode_elements(input, keys, crc, scratch, "map key")?;
                let m = decode_elements(input, values, crc, scratch, "map value")?;
                if n != m {
                    return Err(integrity(format!("map has {n} keys but {m} values")));
                }
                push_offset(offsets, n)?;
                nulls.append_non_null();
            }
            Builder::Struct {
                children, nulls, ..
            } => {
                for child in children.iter_mut() {
                    match input.varint()? {
                        0 => child.decode(input, crc, scratch)?,
                        1 => child.append_null(),
                        other => return Err(integrity(format!("struct null flag {other}"))),
                    }
                }
                nulls.append_non_null();
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef> {
        let err = |e: arrow::error::ArrowError| Error::new(ErrorKind::Schema, e.to_string());
        Ok(match self {
            Builder::Int8(b) => Arc::new(b.finish()),
            Builder::Int16(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::Decimal128(b, ..) => Arc::new(b.finish()),
            Builder::Decimal256(b, ..) => Arc::new(b.finish()),
            Builder::Date32(b) => Arc::new(b.finish()),
            Builder::DateTime(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::List {
                field,
                offsets,
                nulls,
                child,
            } => {
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(
                    ListArray::try_new(field.clone(), offsets, child.finish()?, nulls.finish())
                        .map_err(err)?,
                )
            }
            Builder::Map {
                field,
                offsets,
                nulls,
                keys,
                values,
            } => {
                let DataType::Struct(kv) = field.data_type() else {
                    unreachable!("checked in new")
                };
                let entries =
                    StructArray::try_new(kv.clone(), vec![keys.finish()?, values.finish()?], None)
                        .map_err(err)?;
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(
                    MapArray::try_new(field.clone(), offsets, entries, nulls.finish(), false)
                        .map_err(err)?,
                )
            }
            Builder::Struct {
                fields,
                children,
                nulls,
            } => {
                let arrays = children
                    .iter_mut()
                    .map(Builder::finish)
                    .collect::<Result<Vec<_>>>()?;
                Arc::new(StructArray::try_new(fields.clone(), arrays, nulls.finish()).map_err(err)?)
            }
        })
    }
}

fn decode_elements<R: Read>(
    input: &mut Input<R>,
    child: &mut Builder,
    crc: &mut Crc32c,
    scratch: &mut Vec<u8>,
    what: &str,
) -> Result<usize> {
    let n = input.varint()?;
    for _ in 0..n {
        match input.varint()? {
            0 => child.decode(input, crc, scratch)?,
            1 => child.append_null(),
            other => return Err(integrity(format!("{what} null flag {other}"))),
        }
    }
    usize::try_from(n).map_err(|_| integrity("element count overflows"))
}

fn push_offset(offsets: &mut Vec<i32>, n: usize) -> Result<()> {
    let last = *offsets.last().unwrap_or(&0);
    let next = i32::try_from(n)
        .ok()
        .and_then(|n| last.checked_add(n))
        .ok_or_else(|| Error::schema("nested column exceeds i32 offsets in one batch"))?;
    offsets.push(next);
    Ok(())
}

/// Parses decimal text (`-12.50`, `1E+3`, `-1E-18`) exactly into an unscaled integer at `scale`,
/// checking that it fits `precision` digits and loses no non-zero digit.
pub fn parse_decimal(text: &[u8], precision: u8, scale: u8) -> Result<i256> {
    let bad = || {
        Error::schema(format!(
            "invalid decimal text {:?}",
            String::from_utf8_lossy(text)
        ))
    };
    let (neg, rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp) = match rest.iter().position(|&c| c == b'e' || c == b'E') {
        Some(i) => {
            let e = std::str::from_utf8(&rest[i + 1..])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(bad)?;
            (&rest[..i], e)
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&c| c == b'.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad());
    }
    if !int_part.iter().chain(frac_part).all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // digits × 10^(exp - frac_len + scale)
    let mut digits: Vec<u8> = int_part.iter().chain(frac_part).map(|c| c - b'0').collect();
    let first_nonzero = digits.iter().position(|&d| d != 0);
    let Some(first_nonzero) = first_nonzero else {
        return Ok(i256::ZERO);
    };
    digits.drain(..first_nonzero);
    let mut shift = exp
        .checked_sub(frac_part.len() as i64)
        .and_then(|v| v.checked_add(i64::from(scale)))
        .ok_or_else(bad)?;
    while shift < 0 {
        if digits.pop() != Some(0) {
            return Err(Error::schema(format!(
                "decimal {:?} has more than {scale} fractional digits",
                String::from_utf8_lossy(text)
            )));
        }
        shift += 1;
    }
    // An exponent near i64::MAX must not wrap the digit count (or loop `shift` times below).
    let total = i64::try_from(digits.len())
        .ok()
        .and_then(|n| n.checked_add(shift));
    if total.is_none_or(|total| total > i64::from(precision)) {
        return Err(Error::schema(format!(
            "decimal {:?} does not fit decimal({precision},{scale})",
            String::from_utf8_lossy(text)
        )));
    }
    let ten = i256::from_i128(10);
    let mut v = i256::ZERO;
    for d in digits {
        v = v
            .wrapping_mul(ten)
            .wrapping_add(i256::from_i128(i128::from(d)));
    }
    for _ in 0..shift {
        v = v.wrapping_mul(ten);
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// Formats an unscaled decimal as plain text with exactly `scale` fractional digits
/// (Java `BigDecimal.toPlainString`).
pub fn format_decimal(unscaled: i256, scale: u8) -> String {
    let neg = unscaled < i256::ZERO;
    let digits = unscaled.to_string();
    let digits = digits.trim_start_matches('-');
    let scale = usize::from(scale);
    let mut out = String::with_capacity(digits.len() + scale + 3);
    if neg {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(digits);
    } else if digits.len() > scale {
        let (i, f) = digits.split_at(digits.len() - scale);
        out.push_str(i);
        out.push('.');
        out.push_str(f);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(digits);
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Reader

/// Options of a [`RecordReader`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Maximum rows per batch.
    pub batch_size: usize,
    /// Type mapping choices.
    pub mapping: TypeMapping,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            mapping: TypeMapping::default(),
        }
    }
}

/// Decodes a tunnel record stream into Arrow record batches; an iterator of batches.
///
/// `columns` are the columns on the wire in field-number order: the session's data columns, or
/// the requested `columns=` list in request order. The stream is fully verified: each record's
/// CRC, the footer count and stream checksum, the optional metrics block's CRC, and that nothing
/// follows the footer. A missing footer is a truncation error.
#[derive(Debug)]
pub struct RecordReader<R> {
    input: Input<R>,
    schema: SchemaRef,
    columns: Vec<Column>,
    builders: Vec<Builder>,
    expected_wt: Vec<u8>,
    seen: Vec<bool>,
    batch_size: usize,
    rows_in_batch: usize,
    records: u64,
    crc: Crc32c,
    crccrc: Crc32c,
    scratch: Vec<u8>,
    metrics: Option<Vec<u8>>,
    done: bool,
}

impl<R> std::fmt::Debug for Input<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("offset", &(self.consumed + self.pos as u64))
            .finish_non_exhaustive()
    }
}

impl<R: Read> RecordReader<R> {
    /// A reader of `input` (already decompressed) whose fields are `columns`.
    pub fn new(input: R, columns: &[Column], options: &ReadOptions) -> Result<Self> {
        let schema = Arc::new(arrow_schema(columns, &options.mapping)?);
        let builders = columns
            .iter()
            .zip(schema.fields().iter())
            .map(|(c, f)| Builder::new(&c.ty, f.data_type()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordReader {
            input: Input::new(input),
            expected_wt: columns.iter().map(|c| wire_type(&c.ty)).collect(),
            seen: vec![false; columns.len()],
            columns: columns.to_vec(),
            schema,
            builders,
            batch_size: options.batch_size.max(1),
            rows_in_batch: 0,
            records: 0,
            crc: Crc32c::new(),
            crccrc: Crc32c::new(),
            scratch: Vec::new(),
            metrics: None,
            done: false,
        })
    }

    /// The Arrow schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Records decoded (and verified) so far.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// The footer's metrics JSON, once the footer was read and if the server sent one.
    pub fn metrics(&self) -> Option<&[u8]> {
        self.metrics.as_deref()
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays = self
            .builders
            .iter_mut()
            .map(Builder::finish)
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows_in_batch));
        self.rows_in_batch = 0;
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|e| Error::schema(format!("cannot assemble a record batch: {e}")))
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut in_record = false;
        loop {
            let offset = self.input.offset();
            let Some(tag) = self.input.try_varint()? else {
                return Err(integrity(format!(
                    "tunnel record stream ended at byte {offset} without its footer (truncated)"
                )));
            };
            let field = tag >> 3;
            let wt = (tag & 7) as u8;
            match u32::try_from(field) {
                Ok(END_RECORD) if wt == WT_VARINT => {
                    let wire_crc = checksum_u32(self.input.varint()?)?;
                    let crc = self.crc.value();
                    if wire_crc != crc {
                        return Err(integrity(format!(
                            "record {} CRC-32C mismatch: stream says {wire_crc:#010x}, data gives {crc:#010x}",
                            self.records
                        )));
                    }
                    for (i, seen) in self.seen.iter_mut().enumerate() {
                        if !*seen {
                            if !self.columns[i].nullable {
                                return Err(Error::schema(format!(
                                    "record {}: NULL in non-nullable column {:?}",
                                    self.records, self.columns[i].name
                                )));
                            }
                            self.builders[i].append_null();
                        }
                        *seen = false;
                    }
                    self.crccrc.update(&crc.to_le_bytes());
                    self.crc.reset();
                    self.records += 1;
                    self.rows_in_batch += 1;
                    in_record = false;
                    if self.rows_in_batch >= self.batch_size {
                        return self.flush().map(Some);
                    }
                }
                Ok(META_COUNT) if wt == WT_VARINT => {
                    if in_record {
                        return Err(integrity("tunnel record stream footer inside a record"));
                    }
                    self.read_footer()?;
                    self.done = true;
                    return if self.rows_in_batch > 0 {
                        self.flush().map(Some)
                    } else {
                        Ok(None)
                    };
                }
                Ok(f) if f >= 1 && (f as usize) <= self.builders.len() => {
                    let i = f as usize - 1;
                    if wt != self.expected_wt[i] {
                        return Err(integrity(format!(
                            "field {f} ({}) has wire type {wt}, expected {}",
                            self.columns[i].ty, self.expected_wt[i]
                        )));
                    }
                    if std::mem::replace(&mut self.seen[i], true) {
                        return Err(integrity(format!(
                            "field {f} appears twice in record {}",
                            self.records
                        )));
                    }
                    in_record = true;
                    self.crc.update(&(f as i32).to_le_bytes());
                    self.builders[i].decode(&mut self.input, &mut self.crc, &mut self.scratch)?;
                }
                _ => {
                    return Err(integrity(format!(
                        "invalid tag {tag:#x} (field {field}, wire type {wt}) at byte {offset} for {} columns",
                        self.columns.len()
                    )));
                }
            }
        }
    }

    fn read_footer(&mut self) -> Result<()> {
        let count = zigzag_decode64(self.input.varint()?);
        if u64::try_from(count).ok() != Some(self.records) {
            return Err(integrity(format!(
                "tunnel record stream footer counts {count} records, {} were received",
                self.records
            )));
        }
        let mut tag = self.input.varint()?;
        if tag == (u64::from(METRICS_FIELD) << 3) | u64::from(WT_LEN) {
            let mut metrics = Vec::new();
            self.input.len_bytes(&mut metrics)?;
            if self.input.varint()? != u64::from(END_METRICS) << 3 {
                return Err(integrity("metrics block not closed by END_METRICS"));
            }
            let wire = checksum_u32(self.input.varint()?)?;
            let mut crc = Crc32c::new();
            crc.update(&(METRICS_FIELD as i32).to_le_bytes());
            crc.update(&metrics);
            if wire != crc.value() {
                return Err(integrity("tunnel metrics block CRC-32C mismatch"));
            }
            self.metrics = Some(metrics);
            tag = self.input.varint()?;
        }
        if tag != u64::from(META_CHECKSUM) << 3 {
            return Err(integrity(format!(
                "expected META_CHECKSUM, found tag {tag:#x}"
            )));
        }
        let wire = checksum_u32(self.input.varint()?)?;
        let crccrc = self.crccrc.value();
        if wire != crccrc {
            return Err(integrity(format!(
                "tunnel record stream checksum mismatch: footer says {wire:#010x}, records give {crccrc:#010x}"
            )));
        }
        if self.input.try_byte()?.is_some() {
            return Err(integrity(format!(
                "unexpected bytes after the footer at byte {}",
                self.input.offset() - 1
            )));
        }
        Ok(())
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(b) => b.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes a whole (decompressed) record stream.
pub fn decode_records(
    body: &[u8],
    columns: &[Column],
    options: &ReadOptions,
) -> Result<Vec<RecordBatch>> {
    RecordReader::new(body, columns, options)?.collect()
}

// ------------------------------------------------------------------------------------------------
// Encoder

/// A cell value for [`RecordEncoder::encode_row`]; its variant must suit the column type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// tinyint, smallint, int, bigint.
    Int(i64),
    /// boolean.
    Bool(bool),
    /// double.
    Double(f64),
    /// float.
    Float(f32),
    /// string, varchar, char, json (UTF-8) or binary.
    Bytes(Vec<u8>),
    /// decimal, as text written verbatim (plain digits recommended).
    Decimal(String),
    /// datetime: epoch milliseconds.
    DateTime(i64),
    /// date: epoch days.
    Date(i64),
    /// timestamp / timestamp_ntz: epoch seconds and nanoseconds.
    Timestamp {
        /// Seconds since the epoch.
        seconds: i64,
        /// Nanoseconds, normally in `[0, 1e9)`.
        nanos: i32,
    },
    /// array elements.
    Array(Vec<Option<Value>>),
    /// map entries in wire order.
    Map(Vec<(Option<Value>, Option<Value>)>),
    /// struct members in declared order.
    Struct(Vec<Option<Value>>),
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wt: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wt));
}

fn put_int(out: &mut Vec<u8>, crc: &mut Crc32c, v: i64) {
    put_varint(out, zigzag_encode64(v));
    crc.update(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, crc: &mut Crc32c, v: &[u8]) {
    put_varint(out, v.len() as u64);
    out.extend_from_slice(v);
    crc.update(v);
}

fn put_timestamp(out: &mut Vec<u8>, crc: &mut Crc32c, seconds: i64, nanos: i32) {
    put_varint(out, zigzag_encode64(seconds));
    put_varint(out, zigzag_encode32(nanos));
    crc.update(&seconds.to_le_bytes());
    crc.update(&nanos.to_le_bytes());
}

fn mismatch(ty: &OdpsType, got: &str) -> Error {
    Error::schema(format!("cannot write {got} into a MaxCompute {ty} column"))
}

fn put_value(out: &mut Vec<u8>, crc: &mut Crc32c, ty: &OdpsType, v: &Value) -> Result<()> {
    match (ty, v) {
        (
            OdpsType::TinyInt | OdpsType::SmallInt | OdpsType::Int | OdpsType::BigInt,
            Value::Int(i),
        ) => {
            let ok = match ty {
                OdpsType::TinyInt => i8::try_from(*i).is_ok(),
                OdpsType::SmallInt => i16::try_from(*i).is_ok(),
                OdpsType::Int => i32::try_from(*i).is_ok(),
                _ => true,
            };
            if !ok {
                return Err(Error::schema(format!(
                    "value {i} does not fit MaxCompute {ty}"
                )));
            }
            put_int(out, crc, *i);
        }
        (OdpsType::DateTime, Value::DateTime(ms)) => put_int(out, crc, *ms),
        (OdpsType::Date, Value::Date(d)) => put_int(out, crc, *d),
        (OdpsType::Boolean, Value::Bool(b)) => {
            put_varint(out, u64::from(*b));
            crc.update(&[u8::from(*b)]);
        }
        (OdpsType::Double, Value::Double(d)) => {
            out.extend_from_slice(&d.to_le_bytes());
            crc.update(&d.to_le_bytes());
        }
        (OdpsType::Float, Value::Float(f)) => {
            out.extend_from_slice(&f.to_le_bytes());
            crc.update(&f.to_le_bytes());
        }
        (
            OdpsType::String
            | OdpsType::Varchar(_)
            | OdpsType::Char(_)
            | OdpsType::Json
            | OdpsType::Binary,
            Value::Bytes(b),
        ) => {
            put_bytes(out, crc, b);
        }
        (OdpsType::Decimal { .. }, Value::Decimal(text)) => put_bytes(out, crc, text.as_bytes()),
        (OdpsType::Timestamp | OdpsType::TimestampNtz, Value::Timestamp { seconds, nanos }) => {
            put_timestamp(out, crc, *seconds, *nanos);
        }
        (OdpsType::Array(elem), Value::Array(items)) => {
            put_elements(out, crc, elem, items.iter().map(Option::as_ref))?
        }
        (OdpsType::Map(k, v), Value::Map(entries)) => {
            put_elements(out, crc, k, entries.iter().map(|(k, _)| k.as_ref()))?;
            put_elements(out, crc, v, entries.iter().map(|(_, v)| v.as_ref()))?;
        }
        (OdpsType::Struct(fields), Value::Struct(members)) => {
            if fields.len() != members.len() {
                return Err(Error::schema(format!(
                    "{ty} has {} fields, got {}",
                    fields.len(),
                    members.len()
                )));
            }
            for ((_, fty), m) in fields.iter().zip(members) {
                match m {
                    None => put_varint(out, 1),
                    Some(m) => {
                        put_varint(out, 0);
                        put_value(out, crc, fty, m)?;
                    }
                }
            }
        }
        (ty, v) => return Err(mismatch(ty, &format!("{v:?}"))),
    }
    Ok(())
}

fn put_elements<'a>(
    out: &mut Vec<u8>,
    crc: &mut Crc32c,
    ty: &OdpsType,
    items: impl ExactSizeIterator<Item = Option<&'a Value>>,
) -> Result<()> {
    put_varint(out, items.len() as u64);
    for item in items {
        match item {
            None => put_varint(out, 1),
            Some(v) => {
                put_varint(out, 0);
                put_value(out, crc, ty, v)?;
            }
        }
    }
    Ok(())
}

/// Writes the Arrow cell `array[i]` (known to be valid) as a value of `ty`.
fn put_arrow(
    out: &mut Vec<u8>,
    crc: &mut Crc32c,
    ty: &OdpsType,
    array: &dyn Array,
    i: usize,
) -> Result<()> {
    let dt = array.data_type();
    let bad = || mismatch(ty, &format!("Arrow {dt}"));
    match ty {
        OdpsType::TinyInt => put_int(
            out,
            crc,
            i64::from(
                array
                    .as_primitive_opt::<Int8Type>()
                    .ok_or_else(bad)?
                    .value(i),
            ),
        ),
        OdpsType::SmallInt => put_int(
            out,
            crc,
            i64::from(
                array
                    .as_primitive_opt::<Int16Type>()
                    .ok_or_else(bad)?
                    .value(i),
            ),
        ),
        OdpsType::Int => put_int(
            out,
            crc,
            i64::from(
                array
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(bad)?
                    .value(i),
            ),
        ),
        OdpsType::BigInt => put_int(
            out,
            crc,
            array
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(bad)?
                .value(i),
        ),
        OdpsType::DateTime => put_int(
            out,
            crc,
            array
                .as_primitive_opt::<TimestampMillisecondType>()
                .ok_or_else(bad)?
                .value(i),
        ),
        OdpsType::Date => put_int(
            out,
            crc,
            i64::from(
                array
                    .as_primitive_opt::<Date32Type>()
                    .ok_or_else(bad)?
                    .value(i),
            ),
        ),
        OdpsType::Boolean => {
            let b = array.as_boolean_opt().ok_or_else(bad)?.value(i);
            put_varint(out, u64::from(b));
            crc.update(&[u8::from(b)]);
        }
        OdpsType::Double => {
            let b = array
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(bad)?
                .value(i)
                .to_le_bytes();
            out.extend_from_slice(&b);
            crc.update(&b);
        }
        OdpsType::Float => {
            let b = array
                .as_primitive_opt::<Float32Type>()
                .ok_or_else(bad)?
                .value(i)
                .to_le_bytes();
            out.extend_from_slice(&b);
            crc.update(&b);
        }
        OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
            put_bytes(
                out,
                crc,
                array
                    .as_string_opt::<i32>()
                    .ok_or_else(bad)?
                    .value(i)
                    .as_bytes(),
            );
        }
        OdpsType::Binary => put_bytes(
            out,
            crc,
            array.as_binary_opt::<i32>().ok_or_else(bad)?.value(i),
        ),
        OdpsType::Decimal { scale, .. } => {
            let (v, s) = match dt {
                DataType::Decimal128(_, s) => (
                    i256::from_i128(array.as_primitive::<Decimal128Type>().value(i)),
                    *s,
                ),
                DataType::Decimal256(_, s) => (array.as_primitive::<Decimal256Type>().value(i), *s),
                _ => return Err(bad()),
            };
            if s != *scale as i8 {
                return Err(bad());
            }
            put_bytes(out, crc, format_decimal(v, *scale).as_bytes());
        }
        OdpsType::Timestamp | OdpsType::TimestampNtz => {
            let ns = array
                .as_primitive_opt::<TimestampNanosecondType>()
                .ok_or_else(bad)?
                .value(i);
            put_timestamp(
                out,
                crc,
                ns.div_euclid(1_000_000_000),
                ns.rem_euclid(1_000_000_000) as i32,
            );
        }
        OdpsType::Array(elem) => {
            let list = array.as_list_opt::<i32>().ok_or_else(bad)?;
            put_arrow_elements(out, crc, elem, list.value(i).as_ref())?;
        }
        OdpsType::Map(k, v) => {
            let map = array.as_map_opt().ok_or_else(bad)?;
            let entries = map.value(i);
            put_arrow_elements(out, crc, k, entries.column(0).as_ref())?;
            put_arrow_elements(out, crc, v, entries.column(1).as_ref())?;
        }
        OdpsType::Struct(fields) => {
            let st = array.as_struct_opt().ok_or_else(bad)?;
            if st.num_columns() != fields.len() {
                return Err(bad());
            }
            for ((_, fty), col) in fields.iter().zip(st.columns()) {
                if col.is_null(i) {
                    put_varint(out, 1);
                } else {
                    put_varint(out, 0);
                    put_arrow(out, crc, fty, col.as_ref(), i)?;
                }
            }
        }
        OdpsType::IntervalDayTime | OdpsType::IntervalYearMonth => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("cannot write MaxCompute {ty} from Arrow"),
            ));
        }
    }
    Ok(())
}

fn put_arrow_elements(
    out: &mut Vec<u8>,
    crc: &mut Crc32c,
    ty: &OdpsType,
    items: &dyn Array,
) -> Result<()> {
    put_varint(out, items.len() as u64);
    for j in 0..items.len() {
        if items.is_null(j) {
            put_varint(out, 1);
        } else {
            put_varint(out, 0);
            put_arrow(out, crc, ty, items, j)?;
        }
    }
    Ok(())
}

/// Encodes records into a tunnel record stream (one upload block or one download body).
///
/// Call [`encode_row`](Self::encode_row) / [`encode_batch`](Self::encode_batch) any number of
/// times, then [`finish`](Self::finish) once to append the footer. Field *i* is `columns[i-1]`;
/// NULL cells are omitted. Checksums are written as ≤5-byte varints.
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    columns: Vec<Column>,
    crc: Crc32c,
    crccrc: Crc32c,
    records: u64,
}

impl RecordEncoder {
    /// An encoder for `columns` (the wire columns, in field-number order).
    pub fn new(columns: &[Column]) -> Self {
        RecordEncoder {
            columns: columns.to_vec(),
            crc: Crc32c::new(),
            crccrc: Crc32c::new(),
            records: 0,
        }
    }

    /// Records written since the last footer.
    pub fn records(&self) -> u64 {
        self.records
    }

    fn end_record(&mut self, out: &mut Vec<u8>) {
        let crc = self.crc.value();
        put_tag(out, END_RECORD, WT_VARINT);
        put_varint(out, u64::from(crc));
        self.crccrc.update(&crc.to_le_bytes());
        self.crc.reset();
        self.records += 1;
    }

    /// Appends one record; `row[i]` is the value of column *i* (`None` = NULL).
    pub fn encode_row(&mut self, out: &mut Vec<u8>, row: &[Option<Value>]) -> Result<()> {
        if row.len() != self.columns.len() {
            return Err(Error::schema(format!(
                "row has {} cells, table has {} columns",
                row.len(),
                self.columns.len()
            )));
        }
        let start = out.len();
        let mut crc = self.crc;
        for (i, (col, cell)) in self.columns.iter().zip(row).enumerate() {
            let Some(v) = cell else {
                if !col.nullable {
                    out.truncate(start);
                    return Err(Error::schema(format!(
                        "NULL in non-nullable column {:?}",
                        col.name
                    )));
                }
                continue;
            };
            let field = i as u32 + 1;
            put_tag(out, field, wire_type(&col.ty));
            crc.update(&(field as i32).to_le_bytes());
            if let Err(e) = put_value(out, &mut crc, &col.ty, v) {
                out.truncate(start);
                return Err(e);
            }
        }
        self.crc = crc;
        self.end_record(out);
        Ok(())
    }

    /// Appends every row of `batch`, whose columns must match the encoder's columns in order and
    /// have their mapped Arrow types (decimals are written as plain text at the column scale).
    pub fn encode_batch(&mut self, out: &mut Vec<u8>, batch: &RecordBatch) -> Result<()> {
        if batch.num_columns() != self.columns.len() {
            return Err(Error::schema(format!(
                "batch has {} columns, table has {}",
                batch.num_columns(),
                self.columns.len()
            )));
        }
        for row in 0..batch.num_rows() {
            let start = out.len();
            let mut crc = self.crc;
            for (i, (col, array)) in self.columns.iter().zip(batch.columns()).enumerate() {
                if array.is_null(row) {
                    if !col.nullable {
                        out.truncate(start);
                        return Err(Error::schema(format!(
                            "NULL in non-nullable column {:?}",
                            col.name
                        )));
                    }
                    continue;
                }
                let field = i as u32 + 1;
                put_tag(out, field, wire_type(&col.ty));
                crc.update(&(field as i32).to_le_bytes());
                if let Err(e) = put_arrow(out, &mut crc, &col.ty, array.as_ref(), row) {
                    out.truncate(start);
                    return Err(Error::new(
                        e.kind(),
                        format!("column {:?}: {}", col.name, e.message()),
                    ));
                }
            }
            self.crc = crc;
            self.end_record(out);
        }
        Ok(())
    }

    /// Appends the footer (count and stream checksum) and resets for a new stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        put_tag(out, META_COUNT, WT_VARINT);
        put_varint(out, zigzag_encode64(self.records as i64));
        put_tag(out, META_CHECKSUM, WT_VARINT);
        put_varint(out, u64::from(self.crccrc.value()));
        self.crccrc.reset();
        self.crc.reset();
        self.records = 0;
    }
}

/// The CRC of a metrics block (`i32 LE(1)` then the metrics bytes).
pub fn metrics_crc(metrics: &[u8]) -> u32 {
    let mut buf = (METRICS_FIELD as i32).to_le_bytes().to_vec();
    buf.extend_from_slice(metrics);
    crc32c(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str, p: u8, sc: u8) -> Result<String> {
        parse_decimal(s.as_bytes(), p, sc).map(|v| format_decimal(v, sc))
    }

    #[test]
    fn decimal_text() {
        assert_eq!(dec("123.4500", 18, 4).unwrap(), "123.4500");
        assert_eq!(dec("0", 18, 4).unwrap(), "0.0000");
        assert_eq!(dec("-0.0001", 18, 4).unwrap(), "-0.0001");
        assert_eq!(dec("-1E-18", 54, 18).unwrap(), "-0.000000000000000001");
        assert_eq!(dec("1.5E+3", 10, 2).unwrap(), "1500.00");
        assert_eq!(dec("1.50000", 10, 2).unwrap(), "1.50");
        assert_eq!(dec("+.5", 10, 1).unwrap(), "0.5");
        assert_eq!(dec("7", 3, 0).unwrap(), "7");
        assert_eq!(
            dec("99999999999999.9999", 18, 4).unwrap(),
            "99999999999999.9999"
        );
        assert_eq!(dec("1.25", 10, 1).unwrap_err().kind(), ErrorKind::Schema);
        assert_eq!(dec("1000", 3, 0).unwrap_err().kind(), ErrorKind::Schema);
        for bad in ["", "-", ".", "1..2", "abc", "1e", "NaN", "1 "] {
            assert!(dec(bad, 10, 2).is_err(), "{bad}");
        }
        let max76 = "9".repeat(76);
        assert_eq!(dec(&max76, 76, 0).unwrap(), max76);
    }

    #[test]
    fn checksum_varints() {
        assert_eq!(checksum_u32(5).unwrap(), 5);
        assert_eq!(checksum_u32(0xFFFF_FFFF_C2A6_033B).unwrap(), 0xC2A6_033B);
        assert!(checksum_u32(0xFFFF_FFFF_42A6_033B).is_err());
        assert!(checksum_u32(1 << 34).is_err());
    }

    #[test]
    fn zigzag() {
        for v in [0i64, 1, -1, i64::MAX, i64::MIN, 300] {
            assert_eq!(zigzag_decode64(zigzag_encode64(v)), v);
        }
        for v in [0i32, -1, i32::MAX, i32::MIN] {
            assert_eq!(zigzag_decode32(zigzag_encode32(v)), v);
        }
    }

    #[test]
    fn metrics_footer_is_verified() {
        let cols = vec![Column::new("a", "bigint").unwrap()];
        let mut enc = RecordEncoder::new(&cols);
        let mut body = Vec::new();
        enc.encode_row(&mut body, &[Some(Value::Int(5))]).unwrap();
        let crccrc = enc.crccrc.value();
        put_tag(&mut body, META_COUNT, WT_VARINT);
        put_varint(&mut body, 2);
        let metrics = br#"{"ServerIOCost":1}"#;
        put_tag(&mut body, METRICS_FIELD, WT_LEN);
        put_varint(&mut body, metrics.len() as u64);
        body.extend_from_slice(metrics);
        put_tag(&mut body, END_METRICS, WT_VARINT);
        put_varint(&mut body, u64::from(metrics_crc(metrics)));
        put_tag(&mut body, META_CHECKSUM, WT_VARINT);
        put_varint(&mut body, u64::from(crccrc));
        let mut r = RecordReader::new(&body[..], &cols, &ReadOptions::default()).unwrap();
        assert_eq!(r.next().unwrap().unwrap().num_rows(), 1);
        assert!(r.next().is_none());
        assert_eq!(r.metrics(), Some(&metrics[..]));
    }
}

/// Property tests: streams from the encoder round-trip, and arbitrary or mutated streams end in
/// a clean error after bounded work. `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
pub(crate) mod fuzz {
    pub(crate) use arrowport_testkit::mutate::{Edit, apply, config};
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;

    use super::*;

    /// 2^31, 2^40, u32::MAX and u64::MAX as varints, big- and little-endian words.
    fn huge_words() -> Vec<Vec<u8>> {
        let mut words = Vec::new();
        for v in [1u64 << 31, 1 << 40, u64::from(u32::MAX), u64::MAX] {
            let mut varint = Vec::new();
            put_varint(&mut varint, v);
            words.push(varint);
            words.push((v as u32).to_be_bytes().to_vec());
            words.push((v as u32).to_le_bytes().to_vec());
            words.push(v.to_le_bytes().to_vec());
        }
        words
    }

    /// One to four edits, with the huge values of this crate's encodings.
    pub(crate) fn edits() -> impl Strategy<Value = Vec<Edit>> {
        arrowport_testkit::mutate::edits(huge_words())
    }

    /// Every type the decoder maps, nested ones included.
    const TYPES: [&str; 18] = [
        "bigint",
        "int",
        "smallint",
        "tinyint",
        "double",
        "float",
        "boolean",
        "string",
        "binary",
        "decimal(18,4)",
        "decimal(54,18)",
        "date",
        "datetime",
        "timestamp",
        "timestamp_ntz",
        "array<bigint>",
        "map<string,bigint>",
        "struct<a:int,b:array<string>>",
    ];

    /// One nullable column of each of [`TYPES`].
    pub(crate) fn columns() -> Vec<Column> {
        TYPES
            .iter()
            .enumerate()
            .map(|(i, ty)| Column::new(format!("c{i}"), ty).unwrap())
            .collect()
    }

    /// Values of `ty` that the encoder writes and the decoder takes back.
    fn value(ty: &OdpsType) -> BoxedStrategy<Value> {
        match ty {
            OdpsType::TinyInt => any::<i8>().prop_map(|v| Value::Int(v.into())).boxed(),
            OdpsType::SmallInt => any::<i16>().prop_map(|v| Value::Int(v.into())).boxed(),
            OdpsType::Int => any::<i32>().prop_map(|v| Value::Int(v.into())).boxed(),
            OdpsType::BigInt => any::<i64>().prop_map(Value::Int).boxed(),
            OdpsType::Double => any::<f64>().prop_map(Value::Double).boxed(),
            OdpsType::Float => any::<f32>().prop_map(Value::Float).boxed(),
            OdpsType::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
            OdpsType::String => any::<String>()
                .prop_map(|s| Value::Bytes(s.into_bytes()))
                .boxed(),
            OdpsType::Binary => vec(any::<u8>(), 0..16).prop_map(Value::Bytes).boxed(),
            OdpsType::Decimal {
                precision, scale, ..
            } => {
                let max = 10i128.pow(u32::from((*precision).min(38))) - 1;
                let scale = *scale;
                (-max..=max)
                    .prop_map(move |v| Value::Decimal(format_decimal(i256::from_i128(v), scale)))
                    .boxed()
            }
            OdpsType::Date => any::<i32>().prop_map(|d| Value::Date(d.into())).boxed(),
            OdpsType::DateTime => any::<i64>().prop_map(Value::DateTime).boxed(),
            OdpsType::Timestamp | OdpsType::TimestampNtz => {
                (-9_000_000_000i64..9_000_000_000, 0..1_000_000_000i32)
                    .prop_map(|(seconds, nanos)| Value::Timestamp { seconds, nanos })
                    .boxed()
            }
            OdpsType::Array(elem) => vec(option::of(value(elem)), 0..4)
                .prop_map(Value::Array)
                .boxed(),
            // Arrow map keys are never null.
            OdpsType::Map(k, v) => vec((value(k).prop_map(Some), option::of(value(v))), 0..4)
                .prop_map(Value::Map)
                .boxed(),
            OdpsType::Struct(members) => members
                .iter()
                .map(|(_, t)| option::of(value(t)))
                .collect::<Vec<_>>()
                .prop_map(Value::Struct)
                .boxed(),
            other => unreachable!("{other} is not in TYPES"),
        }
    }

    /// Up to four rows of [`columns`], NULLs included.
    pub(crate) fn rows() -> impl Strategy<Value = Vec<Vec<Option<Value>>>> {
        let row: Vec<_> = columns().iter().map(|c| option::of(value(&c.ty))).collect();
        vec(row, 0..5)
    }

    /// The record stream of `rows`, footer included.
    pub(crate) fn encode(rows: &[Vec<Option<Value>>]) -> Vec<u8> {
        let mut encoder = RecordEncoder::new(&columns());
        let mut body = Vec::new();
        for row in rows {
            encoder.encode_row(&mut body, row).unwrap();
        }
        encoder.finish(&mut body);
        body
    }

    fn options(batch_size: usize) -> ReadOptions {
        ReadOptions {
            batch_size,
            ..ReadOptions::default()
        }
    }

    /// Reads `body` to its end: every error is a data error, every item consumes input, and
    /// the field buffer never outgrows the input.
    fn check(body: &[u8], batch_size: usize) -> std::result::Result<(), TestCaseError> {
        let mut reader = RecordReader::new(body, &columns(), &options(batch_size)).unwrap();
        for _ in 0..=body.len() + 1 {
            match reader.next() {
                None => return Ok(()),
                Some(Ok(_)) => {}
                Some(Err(e)) => prop_assert!(
                    matches!(e.kind(), ErrorKind::DataIntegrity | ErrorKind::Schema),
                    "{e}"
                ),
            }
            prop_assert!(reader.scratch.capacity() <= 2 * body.len() + 16);
        }
        Err(TestCaseError::fail(
            "the reader yields more items than bytes",
        ))
    }

    proptest! {
        #![proptest_config(config())]

        /// Decoding inverts encoding, byte for byte once re-encoded.
        #[test]
        fn encoded_rows_round_trip(rows in rows(), batch_size in 1usize..4) {
            let body = encode(&rows);
            let batches = decode_records(&body, &columns(), &options(batch_size)).unwrap();
            let decoded: usize = batches.iter().map(RecordBatch::num_rows).sum();
            prop_assert_eq!(decoded, rows.len());
            let mut encoder = RecordEncoder::new(&columns());
            let mut again = Vec::new();
            for batch in &batches {
                encoder.encode_batch(&mut again, batch).unwrap();
            }
            encoder.finish(&mut again);
            prop_assert_eq!(again, body);
        }

        #[test]
        fn mutated_streams_fail_cleanly(
            rows in rows(),
            edits in edits(),
            batch_size in 1usize..4,
        ) {
            let mut body = encode(&rows);
            apply(&mut body, &edits);
            check(&body, batch_size)?;
        }

        #[test]
        fn random_bytes_fail_cleanly(body in vec(any::<u8>(), 0..512)) {
            check(&body, 2)?;
        }

        /// Exponents near both ends of `i64` included.
        #[test]
        fn decimal_text_never_panics(
            mantissa in "[-+]?[0-9]{0,40}(\\.[0-9]{0,40})?",
            exponent in option::of(prop_oneof![
                -100i64..100,
                any::<i64>(),
                i64::MAX - 100..=i64::MAX,
                i64::MIN..i64::MIN + 100,
            ]),
            (precision, scale) in (1u8..=76).prop_flat_map(|p| (Just(p), 0..=p)),
        ) {
            let text = match exponent {
                Some(e) => format!("{mantissa}E{e}"),
                None => mantissa,
            };
            if let Ok(v) = parse_decimal(text.as_bytes(), precision, scale) {
                // What parses formats back to the same number.
                let again = parse_decimal(format_decimal(v, scale).as_bytes(), precision, scale);
                prop_assert_eq!(again.unwrap(), v);
            }
        }
    }

    /// `body` with the varint at `at` replaced by `v`.
    fn with_varint(body: &[u8], at: usize, v: u64) -> Vec<u8> {
        let len = body[at..].iter().position(|b| b & 0x80 == 0).unwrap() + 1;
        let mut word = Vec::new();
        put_varint(&mut word, v);
        let mut out = body.to_vec();
        out.splice(at..at + len, word);
        out
    }

    fn decode_err(body: &[u8], columns: &[Column]) -> Error {
        decode_records(body, columns, &ReadOptions::default()).unwrap_err()
    }

    /// A valid stream whose length, count or footer fields say 2^31, 2^40 or u64::MAX is a
    /// data error, found without allocating for the stated size.
    #[test]
    fn huge_lengths_and_counts_are_errors() {
        let columns = [
            Column::new("s", "string").unwrap(),
            Column::new("a", "array<bigint>").unwrap(),
            Column::new("m", "map<string,bigint>").unwrap(),
        ];
        let row = [
            Some(Value::Bytes(b"abc".to_vec())),
            Some(Value::Array(vec![Some(Value::Int(1)), None])),
            Some(Value::Map(vec![(Some(Value::Bytes(b"k".to_vec())), None)])),
        ];
        let mut encoder = RecordEncoder::new(&columns);
        let mut body = Vec::new();
        encoder.encode_row(&mut body, &row).unwrap();
        // The footer's tag is 4 bytes, then its count.
        let footer_count = body.len() + 4;
        encoder.finish(&mut body);
        decode_records(&body, &columns, &ReadOptions::default()).unwrap();
        // tag, length 3, "abc"; tag, count 2, 3 bytes of elements; tag, key count 1, ...
        let string_len = 1;
        let array_count = 6;
        let map_keys = array_count + 5;
        assert_eq!(
            [body[string_len], body[array_count], body[map_keys]],
            [3, 2, 1]
        );
        for huge in [1u64 << 31, 1 << 40, u64::MAX] {
            for at in [string_len, array_count, map_keys, footer_count] {
                let err = decode_err(&with_varint(&body, at, huge), &columns);
                assert_eq!(
                    err.kind(),
                    ErrorKind::DataIntegrity,
                    "{huge} at {at}: {err}"
                );
            }
        }
        // A metrics block of a huge length.
        let mut body = Vec::new();
        put_tag(&mut body, META_COUNT, WT_VARINT);
        put_varint(&mut body, 0);
        put_tag(&mut body, METRICS_FIELD, WT_LEN);
        put_varint(&mut body, 1 << 40);
        body.extend_from_slice(b"{}");
        assert_eq!(decode_err(&body, &columns).kind(), ErrorKind::DataIntegrity);
    }

    /// Regression: a decimal exponent near `i64::MAX` overflowed the digit count, which panics
    /// in debug builds and, wrapped in release builds, loops about 2^63 times.
    #[test]
    fn huge_decimal_exponents_are_errors() {
        for text in [
            "1E9223372036854775807",
            "1E9223372036854775800",
            "1E2147483648",
            "1E-9223372036854775808",
            "0.1E9223372036854775807",
        ] {
            for (p, s) in [(38, 0), (76, 0), (18, 4)] {
                let err = parse_decimal(text.as_bytes(), p, s).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::Schema, "{text}: {err}");
            }
        }
        let columns = [Column::new("d", "decimal(38,0)").unwrap()];
        let mut encoder = RecordEncoder::new(&columns);
        let mut body = Vec::new();
        let row = [Some(Value::Decimal("1E9223372036854775807".into()))];
        encoder.encode_row(&mut body, &row).unwrap();
        encoder.finish(&mut body);
        assert_eq!(decode_err(&body, &columns).kind(), ErrorKind::Schema);
    }
}
