//! The tunnel's record stream (spec §3.1), written from Arrow batches: per record the present
//! fields (tag = field number and wire type, then the payload), `END_RECORD` and the record's
//! CRC32C; after the last record a footer with the record count and the CRC32C of all record
//! CRCs. Checksums are plain ≤5-byte varints, as Java and the pure-Python writer emit them.

use arrow::array::{
    Array, AsArray, BinaryArray, BooleanArray, Decimal128Array, Float32Array, Float64Array,
    GenericListArray, MapArray, PrimitiveArray, RecordBatch, StringArray, StructArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Int8Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMillisecondType, TimestampNanosecondType,
};
use crc::{CRC_32_ISCSI, Crc, Digest, Table};

use crate::http::BoxError;

/// CRC32C (Castagnoli), as the record stream and the Arrow framing use it.
pub(crate) static CRC32C: Crc<u32, Table<16>> = Crc::<u32, Table<16>>::new(&CRC_32_ISCSI);

const END_RECORD: u64 = 33_553_408;
const META_COUNT: u64 = 33_554_430;
const META_CHECKSUM: u64 = 33_554_431;

/// Encodes one body: any number of batches, then the footer.
pub(crate) struct RecordEncoder {
    /// CRC32C over every record's `u32 LE` CRC.
    crccrc: Digest<'static, u32, Table<16>>,
    count: u64,
    /// Flip one bit of the first corruptible value, keeping its CRC (the corrupt-data fault).
    corrupt: bool,
}

impl RecordEncoder {
    pub(crate) fn new(corrupt: bool) -> Self {
        RecordEncoder {
            crccrc: CRC32C.digest(),
            count: 0,
            corrupt,
        }
    }

    /// Appends one record per row; field *i* is the batch's column *i - 1*.
    pub(crate) fn encode(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
    ) -> Result<(), BoxError> {
        let columns = batch
            .columns()
            .iter()
            .map(|c| Column::of(c.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let mut crc = CRC32C.digest();
            for (i, column) in columns.iter().enumerate() {
                if column.is_null(row) {
                    continue;
                }
                let field = i as u32 + 1;
                varint(out, u64::from(field << 3 | column.wire_type()));
                crc.update(&field.to_le_bytes());
                let at = out.len();
                column.write(row, out, &mut crc);
                if self.corrupt
                    && let Some(byte) = column.corruptible_byte(at, out.len())
                {
                    out[byte] ^= 1;
                    self.corrupt = false;
                }
            }
            let crc = crc.finalize();
            varint(out, END_RECORD << 3);
            varint(out, u64::from(crc));
            self.crccrc.update(&crc.to_le_bytes());
            self.count += 1;
        }
        Ok(())
    }

    /// The footer: record count and the checksum of checksums.
    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        varint(out, META_COUNT << 3);
        varint(out, zigzag(self.count as i64));
        varint(out, META_CHECKSUM << 3);
        varint(out, u64::from(self.crccrc.finalize()));
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn zigzag32(v: i32) -> u64 {
    u64::from(((v << 1) ^ (v >> 31)) as u32)
}

/// A column, downcast once per batch.
struct Column<'a> {
    nulls: Option<&'a NullBuffer>,
    kind: Kind<'a>,
}

enum Kind<'a> {
    Int8(&'a PrimitiveArray<Int8Type>),
    Int16(&'a PrimitiveArray<Int16Type>),
    Int32(&'a PrimitiveArray<Int32Type>),
    Int64(&'a PrimitiveArray<Int64Type>),
    Boolean(&'a BooleanArray),
    Float(&'a Float32Array),
    Double(&'a Float64Array),
    Utf8(&'a StringArray),
    Binary(&'a BinaryArray),
    Date(&'a PrimitiveArray<Date32Type>),
    Datetime(&'a PrimitiveArray<TimestampMillisecondType>),
    Timestamp(&'a PrimitiveArray<TimestampNanosecondType>),
    Decimal(&'a Decimal128Array, i8),
    Array(&'a GenericListArray<i32>, Box<Column<'a>>),
    Map(&'a MapArray, Box<Column<'a>>, Box<Column<'a>>),
    Struct(Vec<Column<'a>>),
}

impl<'a> Column<'a> {
    fn of(array: &'a dyn Array) -> Result<Self, BoxError> {
        let kind = match array.data_type() {
            DataType::Int8 => Kind::Int8(array.as_primitive()),
            DataType::Int16 => Kind::Int16(array.as_primitive()),
            DataType::Int32 => Kind::Int32(array.as_primitive()),
            DataType::Int64 => Kind::Int64(array.as_primitive()),
            DataType::Boolean => Kind::Boolean(array.as_boolean()),
            DataType::Float32 => Kind::Float(array.as_primitive()),
            DataType::Float64 => Kind::Double(array.as_primitive()),
            DataType::Utf8 => Kind::Utf8(array.as_string()),
            DataType::Binary => Kind::Binary(array.as_binary()),
            DataType::Date32 => Kind::Date(array.as_primitive()),
            DataType::Timestamp(TimeUnit::Millisecond, None) => {
                Kind::Datetime(array.as_primitive())
            }
            DataType::Timestamp(TimeUnit::Nanosecond, None) => {
                Kind::Timestamp(array.as_primitive())
            }
            &DataType::Decimal128(_, scale) => Kind::Decimal(array.as_primitive(), scale),
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                Kind::Array(list, Box::new(Column::of(list.values().as_ref())?))
            }
            DataType::Map(_, _) => {
                let map = array.as_map();
                Kind::Map(
                    map,
                    Box::new(Column::of(map.keys().as_ref())?),
                    Box::new(Column::of(map.values().as_ref())?),
                )
            }
            DataType::Struct(_) => {
                let s: &StructArray = array.as_struct();
                Kind::Struct(
                    s.columns()
                        .iter()
                        .map(|c| Column::of(c.as_ref()))
                        .collect::<Result<_, _>>()?,
                )
            }
            other => return Err(format!("no MaxCompute record encoding for {other}").into()),
        };
        Ok(Column {
            nulls: array.nulls(),
            kind,
        })
    }

    fn is_null(&self, i: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(i))
    }

    fn wire_type(&self) -> u32 {
        match self.kind {
            Kind::Int8(_)
            | Kind::Int16(_)
            | Kind::Int32(_)
            | Kind::Int64(_)
            | Kind::Boolean(_)
            | Kind::Date(_)
            | Kind::Datetime(_) => 0,
            Kind::Double(_) => 1,
            Kind::Float(_) => 5,
            _ => 2,
        }
    }

    /// The payload of value `i` (no tag), and its bytes for the CRC.
    fn write(&self, i: usize, out: &mut Vec<u8>, crc: &mut Digest<'_, u32, Table<16>>) {
        match &self.kind {
            Kind::Int8(a) => long(out, crc, a.value(i).into()),
            Kind::Int16(a) => long(out, crc, a.value(i).into()),
            Kind::Int32(a) => long(out, crc, a.value(i).into()),
            Kind::Int64(a) => long(out, crc, a.value(i)),
            Kind::Date(a) => long(out, crc, a.value(i).into()),
            Kind::Datetime(a) => long(out, crc, a.value(i)),
            Kind::Boolean(a) => {
                let b = u8::from(a.value(i));
                out.push(b);
                crc.update(&[b]);
            }
            Kind::Float(a) => {
                let bytes = a.value(i).to_le_bytes();
                out.extend_from_slice(&bytes);
                crc.update(&bytes);
            }
            Kind::Double(a) => {
                let bytes = a.value(i).to_le_bytes();
                out.extend_from_slice(&bytes);
                crc.update(&bytes);
            }
            Kind::Utf8(a) => bytes(out, crc, a.value(i).as_bytes()),
            Kind::Binary(a) => bytes(out, crc, a.value(i)),
            Kind::Decimal(a, scale) => bytes(out, crc, decimal_text(a.value(i), *scale).as_bytes()),
            Kind::Timestamp(a) => {
                let ns = a.value(i);
                let (seconds, nanos) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
                varint(out, zigzag(seconds));
                varint(out, zigzag32(nanos as i32));
                crc.update(&seconds.to_le_bytes());
                crc.update(&(nanos as i32).to_le_bytes());
            }
            Kind::Array(list, element) => {
                let range = list.value_offsets()[i] as usize..list.value_offsets()[i + 1] as usize;
                element.write_elements(range, out, crc);
            }
            Kind::Map(map, keys, values) => {
                let range = map.value_offsets()[i] as usize..map.value_offsets()[i + 1] as usize;
                keys.write_elements(range.clone(), out, crc);
                values.write_elements(range, out, crc);
            }
            Kind::Struct(fields) => {
                for field in fields {
                    field.write_nullable(i, out, crc);
                }
            }
        }
    }

    /// `n`, then per element a null flag and, if present, the payload.
    fn write_elements(
        &self,
        range: std::ops::Range<usize>,
        out: &mut Vec<u8>,
        crc: &mut Digest<'_, u32, Table<16>>,
    ) {
        varint(out, range.len() as u64);
        for j in range {
            self.write_nullable(j, out, crc);
        }
    }

    fn write_nullable(&self, i: usize, out: &mut Vec<u8>, crc: &mut Digest<'_, u32, Table<16>>) {
        if self.is_null(i) {
            out.push(1);
        } else {
            out.push(0);
            self.write(i, out, crc);
        }
    }

    /// Which byte of the payload at `start..end` can flip without breaking the stream's
    /// structure: the first byte of a varint or fixed-width value (it stays a valid
    /// varint byte), or the last byte of non-empty text or binary (it stays valid UTF-8).
    /// Decimals and nested values are not corrupted: their text or flags would fail to
    /// parse before the CRC is checked.
    fn corruptible_byte(&self, start: usize, end: usize) -> Option<usize> {
        match self.kind {
            Kind::Utf8(_) | Kind::Binary(_) => {
                // The payload is varint(len) + bytes; a length of zero is one 0 byte.
                (end - start > 1).then_some(end - 1)
            }
            Kind::Decimal(..) | Kind::Array(..) | Kind::Map(..) | Kind::Struct(_) => None,
            _ => Some(start),
        }
    }
}

/// Every integer width, dates and datetimes: a zigzag varint, hashed as `i64 LE`.
fn long(out: &mut Vec<u8>, crc: &mut Digest<'_, u32, Table<16>>, v: i64) {
    varint(out, zigzag(v));
    crc.update(&v.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, crc: &mut Digest<'_, u32, Table<16>>, value: &[u8]) {
    varint(out, value.len() as u64);
    out.extend_from_slice(value);
    crc.update(value);
}

/// Plain decimal notation padded to the scale, as Java's `BigDecimal.toPlainString()`
/// writes it: `123.4500`, `-0.0001`, `0.0000`.
pub(crate) fn decimal_text(unscaled: i128, scale: i8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale <= 0 {
        let zeros = if unscaled == 0 {
            0
        } else {
            scale.unsigned_abs() as usize
        };
        return format!("{sign}{digits}{}", "0".repeat(zeros));
    }
    let scale = scale as usize;
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{sign}{int}.{frac}")
}
