//! Reading uploaded record-stream blocks (spec §3.1), written from the spec independently of
//! arrowport's decoder. Values are decoded by the Arrow type of their column (the layout
//! [`arrow_type`] gives a MaxCompute type, so the type decides the wire form: `Timestamp(ms)`
//! is a `datetime` varint, `Timestamp(ns)` a `timestamp` seconds-and-nanos pair, `Decimal128`
//! decimal text) straight into column builders. Every tag's wire type, every record's CRC32C,
//! the footer's count and the checksum of checksums are checked; so are integer widths,
//! UTF-8, decimal precision and the nullability of the table's columns. Checksum varints may
//! take the 10-byte sign-extended form PyODPS's Cython writer emits.
//!
//! [`arrow_type`]: super::tables::arrow_type

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Decimal128Array, Float32Array, Float64Array, ListArray,
    MapArray, PrimitiveArray, RecordBatch, RecordBatchOptions, StringArray, StructArray,
};
use arrow::buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, FieldRef, Fields, Int8Type, Int16Type,
    Int32Type, Int64Type, SchemaRef, TimeUnit, TimestampMillisecondType, TimestampNanosecondType,
};
use crc::Digest;

use super::record::CRC32C;

const END_RECORD: u64 = 33_553_408;
const META_COUNT: u64 = 33_554_430;
const META_CHECKSUM: u64 = 33_554_431;

type Crc = Digest<'static, u32, crc::Table<16>>;

/// Decodes one whole block whose field *i* is `schema`'s column *i - 1*.
pub(crate) fn decode(block: &[u8], schema: &SchemaRef) -> Result<RecordBatch, String> {
    let mut columns = schema
        .fields()
        .iter()
        .map(|f| Column::new(f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut input = Input {
        bytes: block,
        at: 0,
    };
    let mut crccrc = CRC32C.digest();
    let mut crc = CRC32C.digest();
    let mut present = vec![false; columns.len()];
    let mut rows = 0u64;
    loop {
        if input.at == block.len() {
            return Err(format!(
                "the block ends after {rows} records without its footer"
            ));
        }
        let tag = input.varint()?;
        let (field, wire) = (tag >> 3, (tag & 7) as u8);
        match field {
            END_RECORD => {
                let got = input.varint()? as u32;
                let want = std::mem::replace(&mut crc, CRC32C.digest()).finalize();
                if got != want {
                    return Err(format!(
                        "record {rows}: CRC {got:#010x} sent, the values give {want:#010x}"
                    ));
                }
                crccrc.update(&want.to_le_bytes());
                for (column, seen) in columns.iter_mut().zip(present.iter_mut()) {
                    if !std::mem::take(seen) {
                        column.push_null();
                    }
                }
                rows += 1;
            }
            META_COUNT => {
                if present.iter().any(|&p| p) {
                    return Err(format!("record {rows} has no END_RECORD before the footer"));
                }
                let count = zigzag(input.varint()?);
                if u64::try_from(count) != Ok(rows) {
                    return Err(format!(
                        "the footer counts {count} records, the block holds {rows}"
                    ));
                }
                if input.varint()? != META_CHECKSUM << 3 {
                    return Err("the footer's count is not followed by META_CHECKSUM".into());
                }
                let got = input.varint()? as u32;
                let want = crccrc.finalize();
                if got != want {
                    return Err(format!(
                        "stream checksum {got:#010x} sent, the records give {want:#010x}"
                    ));
                }
                if input.at != block.len() {
                    return Err(format!(
                        "{} bytes follow the footer",
                        block.len() - input.at
                    ));
                }
                break;
            }
            f if f >= 1 && f <= columns.len() as u64 => {
                let i = f as usize - 1;
                if std::mem::replace(&mut present[i], true) {
                    return Err(format!("record {rows} gives field {f} twice"));
                }
                let column = &mut columns[i];
                if wire != column.wire_type() {
                    return Err(format!(
                        "record {rows} field {f}: wire type {wire}, column `{}` ({}) takes {}",
                        schema.field(i).name(),
                        schema.field(i).data_type(),
                        column.wire_type()
                    ));
                }
                crc.update(&(f as i32).to_le_bytes());
                column
                    .push(&mut input, &mut crc)
                    .map_err(|e| format!("record {rows} field {f}: {e}"))?;
            }
            other => {
                return Err(format!(
                    "invalid field number {other} (the table has {} columns)",
                    columns.len()
                ));
            }
        }
    }
    let arrays = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            c.finish()
                .map_err(|e| format!("column `{}`: {e}", f.name()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows as usize));
    RecordBatch::try_new_with_options(schema.clone(), arrays, &options).map_err(|e| e.to_string())
}

struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Input<'_> {
    /// A base-128 varint of at most 10 bytes; bits past 64 are dropped (the sign-extended
    /// checksums keep their low 32 bits).
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self
                .bytes
                .get(self.at)
                .ok_or("the block ends inside a varint")?;
            self.at += 1;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("the block ends inside a value")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    /// `varint(len)` and that many bytes.
    fn bytes(&mut self) -> Result<&[u8], String> {
        let n = usize::try_from(self.varint()?).map_err(|e| e.to_string())?;
        self.take(n)
    }

    /// A nested element's or struct field's null flag: 1 NULL, 0 present.
    fn is_null(&mut self) -> Result<bool, String> {
        match self.varint()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("null flag {other}, not 0 or 1")),
        }
    }
}

/// One column (or nested child) being built: its type, validity and values.
struct Column {
    data_type: DataType,
    valid: Vec<bool>,
    values: Values,
}

enum Values {
    /// Every integer width, `date` days and `datetime` milliseconds, as sent (widths are
    /// checked when the column is finished).
    Int(Vec<i64>),
    Bool(Vec<bool>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    /// `string`-like and `binary`: concatenated bytes and end offsets.
    Bytes(Vec<u8>, Vec<i32>),
    /// Unscaled values of the column's scale.
    Decimal(Vec<i128>, u8, i8),
    /// `timestamp` nanoseconds.
    Nanos(Vec<i64>),
    List(Vec<i32>, Box<Column>),
    Map(Vec<i32>, Box<Column>, Box<Column>),
    Struct(Vec<Column>),
}

impl Column {
    fn new(data_type: &DataType) -> Result<Self, String> {
        let values = match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Date32
            | DataType::Timestamp(TimeUnit::Millisecond, _) => Values::Int(Vec::new()),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => Values::Nanos(Vec::new()),
            DataType::Boolean => Values::Bool(Vec::new()),
            DataType::Float32 => Values::F32(Vec::new()),
            DataType::Float64 => Values::F64(Vec::new()),
            DataType::Utf8 | DataType::Binary => Values::Bytes(Vec::new(), vec![0]),
            &DataType::Decimal128(p, s) => Values::Decimal(Vec::new(), p, s),
            DataType::List(element) => {
                Values::List(vec![0], Box::new(Column::new(element.data_type())?))
            }
            DataType::Map(entries, _) => {
                let (key, value) = map_fields(entries)?;
                Values::Map(
                    vec![0],
                    Box::new(Column::new(key.data_type())?),
                    Box::new(Column::new(value.data_type())?),
                )
            }
            DataType::Struct(fields) => Values::Struct(
                fields
                    .iter()
                    .map(|f| Column::new(f.data_type()))
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(format!("the emulator cannot read {other} columns")),
        };
        Ok(Column {
            data_type: data_type.clone(),
            valid: Vec::new(),
            values,
        })
    }

    /// The wire type of a tag carrying this column.
    fn wire_type(&self) -> u8 {
        match self.values {
            Values::Int(_) | Values::Bool(_) => 0,
            Values::F64(_) => 1,
            Values::F32(_) => 5,
            _ => 2,
        }
    }

    fn push_null(&mut self) {
        self.valid.push(false);
        match &mut self.values {
            Values::Int(v) | Values::Nanos(v) => v.push(0),
            Values::Bool(v) => v.push(false),
            Values::F32(v) => v.push(0.0),
            Values::F64(v) => v.push(0.0),
            Values::Bytes(bytes, ends) => ends.push(bytes.len() as i32),
            Values::Decimal(v, ..) => v.push(0),
            Values::List(ends, _) | Values::Map(ends, ..) => {
                let last = *ends.last().expect("starts with 0");
                ends.push(last);
            }
            Values::Struct(fields) => fields.iter_mut().for_each(Column::push_null),
        }
    }

    /// Reads one present value (its payload, no tag), feeding `crc` as the spec's table says.
    fn push(&mut self, input: &mut Input<'_>, crc: &mut Crc) -> Result<(), String> {
        match &mut self.values {
            Values::Int(v) => {
                let value = zigzag(input.varint()?);
                crc.update(&value.to_le_bytes());
                v.push(value);
            }
            Values::Bool(v) => {
                let value = match input.varint()? {
                    0 => false,
                    1 => true,
                    other => return Err(format!("boolean {other}, not 0 or 1")),
                };
                crc.update(&[u8::from(value)]);
                v.push(value);
            }
            Values::F32(v) => {
                let bytes = input.take(4)?;
                crc.update(bytes);
                v.push(f32::from_le_bytes(bytes.try_into().expect("4 bytes")));
            }
            Values::F64(v) => {
                let bytes = input.take(8)?;
                crc.update(bytes);
                v.push(f64::from_le_bytes(bytes.try_into().expect("8 bytes")));
            }
            Values::Bytes(all, ends) => {
                let bytes = input.bytes()?;
                crc.update(bytes);
                all.extend_from_slice(bytes);
                ends.push(i32::try_from(all.len()).map_err(|_| "more than 2 GiB of text")?);
            }
            Values::Decimal(v, precision, scale) => {
                let bytes = input.bytes()?;
                crc.update(bytes);
                let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
                v.push(parse_decimal(text, *precision, *scale)?);
            }
            Values::Nanos(v) => {
                let seconds = zigzag(input.varint()?);
                let nanos = zigzag32(input.varint()?);
                crc.update(&seconds.to_le_bytes());
                crc.update(&nanos.to_le_bytes());
                if !(0..1_000_000_000).contains(&nanos) {
                    return Err(format!("timestamp nanos {nanos} outside 0..1e9"));
                }
                let value = seconds
                    .checked_mul(1_000_000_000)
                    .and_then(|s| s.checked_add(i64::from(nanos)))
                    .ok_or_else(|| format!("timestamp {seconds}s is out of the ns range"))?;
                v.push(value);
            }
            Values::List(ends, element) => {
                let n = elements(input, element, crc)?;
                let last = *ends.last().expect("starts with 0");
                ends.push(last + n);
            }
            Values::Map(ends, keys, values) => {
                let n = elements(input, keys, crc)?;
                let m = elements(input, values, crc)?;
                if n != m {
                    return Err(format!("a map with {n} keys and {m} values"));
                }
                let last = *ends.last().expect("starts with 0");
                ends.push(last + n);
            }
            Values::Struct(fields) => {
                for field in fields {
                    if input.is_null()? {
                        field.push_null();
                    } else {
                        field.push(input, crc)?;
                    }
                }
            }
        }
        self.valid.push(true);
        Ok(())
    }

    fn finish(self) -> Result<ArrayRef, String> {
        let nulls = (self.valid.contains(&false)).then(|| NullBuffer::from(self.valid));
        let err = |e: arrow::error::ArrowError| e.to_string();
        Ok(match (self.values, &self.data_type) {
            (Values::Int(v), DataType::Int8) => ints::<Int8Type>(v, nulls)?,
            (Values::Int(v), DataType::Int16) => ints::<Int16Type>(v, nulls)?,
            (Values::Int(v), DataType::Int32) => ints::<Int32Type>(v, nulls)?,
            (Values::Int(v), DataType::Date32) => ints::<Date32Type>(v, nulls)?,
            (Values::Int(v), DataType::Int64) => {
                Arc::new(PrimitiveArray::<Int64Type>::new(v.into(), nulls))
            }
            (Values::Int(v), DataType::Timestamp(_, zone)) => Arc::new(
                PrimitiveArray::<TimestampMillisecondType>::new(v.into(), nulls)
                    .with_timezone_opt(zone.clone()),
            ),
            (Values::Nanos(v), DataType::Timestamp(_, zone)) => Arc::new(
                PrimitiveArray::<TimestampNanosecondType>::new(v.into(), nulls)
                    .with_timezone_opt(zone.clone()),
            ),
            (Values::Bool(v), _) => Arc::new(BooleanArray::new(v.into(), nulls)),
            (Values::F32(v), _) => Arc::new(Float32Array::new(v.into(), nulls)),
            (Values::F64(v), _) => Arc::new(Float64Array::new(v.into(), nulls)),
            (Values::Bytes(bytes, ends), DataType::Utf8) => Arc::new(
                StringArray::try_new(offsets(ends), Buffer::from_vec(bytes), nulls)
                    .map_err(|e| format!("not UTF-8 text: {e}"))?,
            ),
            (Values::Bytes(bytes, ends), _) => Arc::new(
                BinaryArray::try_new(offsets(ends), Buffer::from_vec(bytes), nulls).map_err(err)?,
            ),
            (Values::Decimal(v, p, s), _) => Arc::new(
                Decimal128Array::new(ScalarBuffer::from(v), nulls)
                    .with_precision_and_scale(p, s)
                    .map_err(err)?,
            ),
            (Values::List(ends, element), DataType::List(field)) => Arc::new(
                ListArray::try_new(field.clone(), offsets(ends), element.finish()?, nulls)
                    .map_err(err)?,
            ),
            (Values::Map(ends, keys, values), DataType::Map(entries, sorted)) => {
                let (key, value) = map_fields(entries)?;
                let entry_fields = Fields::from(vec![key.clone(), value.clone()]);
                let entries_array = StructArray::try_new(
                    entry_fields,
                    vec![keys.finish()?, values.finish()?],
                    None,
                )
                .map_err(|e| format!("map entries: {e}"))?;
                Arc::new(
                    MapArray::try_new(
                        entries.clone(),
                        offsets(ends),
                        entries_array,
                        nulls,
                        *sorted,
                    )
                    .map_err(err)?,
                )
            }
            (Values::Struct(columns), DataType::Struct(fields)) => {
                let children = columns
                    .into_iter()
                    .map(Column::finish)
                    .collect::<Result<Vec<_>, _>>()?;
                Arc::new(StructArray::try_new(fields.clone(), children, nulls).map_err(err)?)
            }
            (_, other) => unreachable!("Column::new made no builder like this for {other}"),
        })
    }
}

/// `n`, then per element a null flag and, if present, the payload; returns `n`.
fn elements(input: &mut Input<'_>, column: &mut Column, crc: &mut Crc) -> Result<i32, String> {
    let n = input.varint()?;
    let n = i32::try_from(n).map_err(|_| format!("{n} elements"))?;
    for _ in 0..n {
        if input.is_null()? {
            column.push_null();
        } else {
            column.push(input, crc)?;
        }
    }
    Ok(n)
}

fn map_fields(entries: &FieldRef) -> Result<(&Field, &Field), String> {
    match entries.data_type() {
        DataType::Struct(fields) if fields.len() == 2 => Ok((&fields[0], &fields[1])),
        other => Err(format!("map entries of type {other}")),
    }
}

fn offsets(ends: Vec<i32>) -> OffsetBuffer<i32> {
    OffsetBuffer::new(ScalarBuffer::from(ends))
}

/// The widened integers of a narrower column, each checked to fit.
fn ints<T>(values: Vec<i64>, nulls: Option<NullBuffer>) -> Result<ArrayRef, String>
where
    T: ArrowPrimitiveType,
    T::Native: TryFrom<i64>,
{
    let narrowed = values
        .iter()
        .map(|&v| T::Native::try_from(v).map_err(|_| format!("{v} does not fit {}", T::DATA_TYPE)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(PrimitiveArray::<T>::new(narrowed.into(), nulls)))
}

/// Decimal text (`123.45`, `-0.0001`, `1E-18`, `+7.`) as an unscaled value of `scale`
/// digits, rounded half away from zero when it has more; at most `precision` digits.
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let bad = || format!("`{text}` is not a decimal");
    let (negative, rest) = match text.trim().as_bytes().first() {
        Some(b'-') => (true, &text.trim()[1..]),
        Some(b'+') => (false, &text.trim()[1..]),
        _ => (false, text.trim()),
    };
    let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad())?),
        None => (rest, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    // value = digits × 10^(exponent - frac.len()); unscaled = value × 10^scale.
    let shift = i64::from(exponent) - frac.len() as i64 + i64::from(scale);
    let significant: Vec<u8> = {
        let first = digits
            .iter()
            .position(|&d| d != b'0')
            .unwrap_or(digits.len());
        digits[first..].to_vec()
    };
    let overflow = || format!("`{text}` does not fit decimal({precision},{scale})");
    let to_int = |ds: &[u8]| -> Result<i128, String> {
        ds.iter().try_fold(0i128, |acc, &d| {
            acc.checked_mul(10)
                .and_then(|a| a.checked_add(i128::from(d - b'0')))
                .ok_or_else(overflow)
        })
    };
    let unscaled = if shift >= 0 {
        let base = to_int(&significant)?;
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10i128.checked_pow(s))
            .filter(|_| base != 0);
        match factor {
            Some(f) => base.checked_mul(f).ok_or_else(overflow)?,
            None if base == 0 => 0,
            None => return Err(overflow()),
        }
    } else {
        let drop = usize::try_from(-shift).unwrap_or(usize::MAX);
        if drop > significant.len() {
            0
        } else {
            let keep = significant.len() - drop;
            let kept = to_int(&significant[..keep])?;
            let round_up = significant.get(keep).is_some_and(|&d| d >= b'5');
            kept + i128::from(round_up)
        }
    };
    let limit = 10i128
        .checked_pow(u32::from(precision))
        .unwrap_or(i128::MAX);
    if unscaled >= limit {
        return Err(overflow());
    }
    Ok(if negative { -unscaled } else { unscaled })
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn zigzag32(v: u64) -> i32 {
    let v = v as u32;
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}
