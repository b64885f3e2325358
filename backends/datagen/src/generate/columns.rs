//! Column kinds: the Arrow type each one announces and the array it generates for a row range.
//!
//! Arrays are assembled from plain vectors and buffers: one hash per cell, no builders, no
//! per-value allocation. Every nullable column is null in about one row in ten.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Decimal128Array, FixedSizeListArray, Float32Array,
    Int64Array, ListArray, MapArray, PrimitiveArray, StringArray, StructArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{
    ArrowPrimitiveType, ArrowTimestampType, DataType, Date32Type, Field, FieldRef, Fields,
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt64Type,
};
use arrowport_core::Result;

use super::hash::{below, cells, column_key, is_valid, sub, unit};
use super::text::{ByteColumn, TERMS};

/// 2100-01-01T00:00:00Z in seconds: timestamps stay in 1970..2100, which every reader handles.
const SECONDS_TO_2100: u64 = 4_102_444_800;

/// 2100-01-01 in days since the epoch.
const DAYS_TO_2100: u64 = 47_482;

/// Precision and scale of the decimal column: the widest Decimal128, with a real fraction.
pub(crate) const DECIMAL_PRECISION: u8 = 38;
pub(crate) const DECIMAL_SCALE: i8 = 10;

/// Longest generated list (`list_int64`) and binary value, in elements and bytes.
const MAX_INT_LIST: u64 = 5;
const MAX_BINARY: u64 = 16;

/// Of the 65 536 values of an element's low 16 bits, this many make a list element null: 5 %.
const ELEMENT_NULL_CUTOFF: u64 = 3277;

/// How one column's values are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    /// The row index as Int64; never null.
    Id,
    Int8,
    Int16,
    Int32,
    UInt64,
    Float32 {
        lo: f32,
        hi: f32,
    },
    Float64 {
        lo: f64,
        hi: f64,
    },
    Boolean,
    /// Utf8 of `min..=max` space-separated words from `table`.
    Words {
        table: &'static [&'static str],
        min: usize,
        max: usize,
    },
    /// 0 to 16 random bytes.
    Binary,
    /// Days in 1970..2100.
    Date32,
    /// Instants in 1970..2100, with an optional timezone.
    Timestamp(TimeUnit, Option<&'static str>),
    /// Decimal128(38, 10): mostly amounts below a million, one in eight near the type's limit.
    Decimal,
    /// List<Int64> of 0 to 5 elements, some of them null.
    ListInt64,
    /// List<Utf8> of 0 to `max` words from `table`.
    ListWords {
        table: &'static [&'static str],
        max: usize,
    },
    /// FixedSizeList<Float32, dim> with components in [-1, 1).
    Vector {
        dim: usize,
        nullable: bool,
    },
    /// Map<Utf8, Float32> of sorted unique terms to weights in (0, 1]; some maps are empty.
    Sparse,
    /// A struct of child columns, which are null wherever the struct is.
    Struct(&'static [ColumnSpec]),
}

/// A named column of a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ColumnSpec {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    /// Never null, nor are its list elements: for services that have defaults instead of
    /// nulls (VikingDB). Values are those of the nullable column wherever that one has any.
    required: bool,
}

impl ColumnSpec {
    pub(crate) const fn new(name: &'static str, kind: Kind) -> Self {
        ColumnSpec {
            name,
            kind,
            required: false,
        }
    }

    /// The same column without nulls at any level.
    pub(crate) const fn required(self) -> Self {
        ColumnSpec {
            required: true,
            ..self
        }
    }

    fn nullable(&self) -> bool {
        !self.required && self.kind.nullable()
    }

    pub(crate) fn field(&self) -> Field {
        Field::new(self.name, self.kind.data_type(), self.nullable())
    }
}

impl Kind {
    fn nullable(self) -> bool {
        !matches!(
            self,
            Kind::Id
                | Kind::Vector {
                    nullable: false,
                    ..
                }
        )
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Id => DataType::Int64,
            Kind::Int8 => DataType::Int8,
            Kind::Int16 => DataType::Int16,
            Kind::Int32 => DataType::Int32,
            Kind::UInt64 => DataType::UInt64,
            Kind::Float32 { .. } => DataType::Float32,
            Kind::Float64 { .. } => DataType::Float64,
            Kind::Boolean => DataType::Boolean,
            Kind::Words { .. } => DataType::Utf8,
            Kind::Binary => DataType::Binary,
            Kind::Date32 => DataType::Date32,
            Kind::Timestamp(unit, tz) => DataType::Timestamp(unit, tz.map(Into::into)),
            Kind::Decimal => DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE),
            Kind::ListInt64 => DataType::List(item(DataType::Int64)),
            Kind::ListWords { .. } => DataType::List(item(DataType::Utf8)),
            // Validated configs keep dim far below i32::MAX; saturate rather than wrap.
            Kind::Vector { dim, .. } => DataType::FixedSizeList(
                item(DataType::Float32),
                i32::try_from(dim).unwrap_or(i32::MAX),
            ),
            Kind::Sparse => DataType::Map(sparse_entries(), false),
            Kind::Struct(children) => {
                DataType::Struct(children.iter().map(ColumnSpec::field).collect())
            }
        }
    }
}

/// The element field of lists, as arrow-rs and pyarrow name it by default.
fn item(data_type: DataType) -> FieldRef {
    Arc::new(Field::new_list_field(data_type, true))
}

/// Arrow's standard map layout: a non-null `entries` struct of non-null `keys` and `values`.
fn sparse_entries() -> FieldRef {
    Arc::new(Field::new(
        "entries",
        DataType::Struct(sparse_fields()),
        false,
    ))
}

fn sparse_fields() -> Fields {
    Fields::from(vec![
        Field::new("keys", DataType::Utf8, false),
        Field::new("values", DataType::Float32, true),
    ])
}

/// Rows `start..start + len` of the column `spec`, keyed `key`. `parent` holds the nulls of an
/// enclosing struct: a child is null wherever its parent is, so no reader sees a value inside
/// a null struct.
pub(crate) fn array(
    spec: &ColumnSpec,
    key: u64,
    start: u64,
    len: usize,
    parent: Option<&NullBuffer>,
) -> Result<ArrayRef> {
    let kind = spec.kind;
    if kind == Kind::Id {
        // Callers keep start + len within i64 (see `Generator::batch`).
        return Ok(Arc::new(Int64Array::from_iter_values(
            (start..start + len as u64).map(|r| r as i64),
        )));
    }
    let cells = cells(key, start, len);
    let nulls = if spec.nullable() {
        let own = NullBuffer::new(BooleanBuffer::collect_bool(len, |i| is_valid(cells[i])));
        NullBuffer::union(Some(&own), parent)
    } else {
        parent.cloned()
    }
    .filter(|n| n.null_count() > 0);

    Ok(match kind {
        Kind::Id => unreachable!("handled above"),
        Kind::Int8 => primitive::<Int8Type>(&cells, nulls, |h| (h >> 56) as i8),
        Kind::Int16 => primitive::<Int16Type>(&cells, nulls, |h| (h >> 48) as i16),
        Kind::Int32 => primitive::<Int32Type>(&cells, nulls, |h| (h >> 32) as i32),
        // The low bits of a cell decide null; a fresh draw covers the whole u64 range.
        Kind::UInt64 => primitive::<UInt64Type>(&cells, nulls, |h| sub(h, 0)),
        Kind::Float32 { lo, hi } => {
            primitive::<Float32Type>(&cells, nulls, |h| lo + (hi - lo) * unit(h) as f32)
        }
        Kind::Float64 { lo, hi } => {
            primitive::<Float64Type>(&cells, nulls, |h| lo + (hi - lo) * unit(h))
        }
        Kind::Boolean => Arc::new(BooleanArray::new(
            BooleanBuffer::collect_bool(len, |i| cells[i] >> 63 == 1),
            nulls,
        )),
        Kind::Words { table, min, max } => words(table, min, max, &cells, nulls)?,
        Kind::Binary => binary(&cells, nulls)?,
        Kind::Date32 => primitive::<Date32Type>(&cells, nulls, |h| below(h, DAYS_TO_2100) as i32),
        Kind::Timestamp(unit, tz) => match unit {
            TimeUnit::Second => timestamp::<TimestampSecondType>(&cells, nulls, tz, 1),
            TimeUnit::Millisecond => {
                timestamp::<TimestampMillisecondType>(&cells, nulls, tz, 1_000)
            }
            TimeUnit::Microsecond => {
                timestamp::<TimestampMicrosecondType>(&cells, nulls, tz, 1_000_000)
            }
            TimeUnit::Nanosecond => {
                timestamp::<TimestampNanosecondType>(&cells, nulls, tz, 1_000_000_000)
            }
        },
        Kind::Decimal => {
            let values: ScalarBuffer<i128> = cells.iter().map(|&h| decimal(h)).collect();
            Arc::new(
                Decimal128Array::new(values, nulls)
                    .with_precision_and_scale(DECIMAL_PRECISION, DECIMAL_SCALE)?,
            )
        }
        Kind::ListInt64 => list_int64(&cells, nulls, !spec.required)?,
        Kind::ListWords { table, max } => list_words(table, max, &cells, nulls)?,
        Kind::Vector { dim, .. } => vector(dim, &cells, nulls)?,
        Kind::Sparse => sparse(&cells, nulls)?,
        Kind::Struct(children) => {
            let arrays = children
                .iter()
                .map(|c| array(c, column_key(key, c.name), start, len, nulls.as_ref()))
                .collect::<Result<Vec<_>>>()?;
            let fields: Fields = children.iter().map(ColumnSpec::field).collect();
            Arc::new(StructArray::try_new(fields, arrays, nulls)?)
        }
    })
}

fn primitive<T: ArrowPrimitiveType>(
    cells: &[u64],
    nulls: Option<NullBuffer>,
    value: impl Fn(u64) -> T::Native,
) -> ArrayRef {
    Arc::new(PrimitiveArray::<T>::new(
        cells.iter().map(|&h| value(h)).collect(),
        nulls,
    ))
}

fn timestamp<T: ArrowTimestampType>(
    cells: &[u64],
    nulls: Option<NullBuffer>,
    tz: Option<&'static str>,
    per_second: u64,
) -> ArrayRef {
    let values = cells
        .iter()
        .map(|&h| below(h, SECONDS_TO_2100 * per_second) as i64)
        .collect();
    Arc::new(PrimitiveArray::<T>::new(values, nulls).with_timezone_opt(tz))
}

/// A signed decimal with ten fractional digits: seven in eight below a million, the rest with
/// up to 28 integer digits, the most Decimal128(38, 10) holds.
fn decimal(h: u64) -> i128 {
    const FRACTION: i128 = 10_000_000_000;
    let magnitude = if below(sub(h, 0), 8) == 0 {
        i128::from(below(sub(h, 1), 1_000_000_000_000_000_000)) * FRACTION
            + i128::from(below(sub(h, 2), FRACTION as u64))
    } else {
        i128::from(below(sub(h, 1), 1_000_000 * FRACTION as u64))
    };
    if h >> 63 == 1 { -magnitude } else { magnitude }
}

fn is_set(nulls: Option<&NullBuffer>, i: usize) -> bool {
    nulls.is_none_or(|n| n.is_valid(i))
}

fn words(
    table: &'static [&'static str],
    min: usize,
    max: usize,
    cells: &[u64],
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    let average_word = table.iter().map(|w| w.len() + 1).sum::<usize>() / table.len();
    let mut out =
        ByteColumn::with_capacity(cells.len(), cells.len() * average_word * (min + max) / 2);
    let n = table.len() as u64;
    for (i, &h) in cells.iter().enumerate() {
        if !is_set(nulls.as_ref(), i) {
            out.end_value();
            continue;
        }
        let count = if min == max {
            min
        } else {
            min + below(sub(h, 0), (max - min + 1) as u64) as usize
        };
        // The first word comes from the cell itself: single-word columns need one hash a row.
        let pick = |w: usize| below(if w == 0 { h } else { sub(h, w as u64) }, n) as usize;
        out.push_words(table, (0..count).map(pick));
    }
    let (offsets, bytes) = out.finish()?;
    Ok(Arc::new(StringArray::try_new(offsets, bytes, nulls)?))
}

fn binary(cells: &[u64], nulls: Option<NullBuffer>) -> Result<ArrayRef> {
    let mut out = ByteColumn::with_capacity(cells.len(), cells.len() * MAX_BINARY as usize / 2);
    for (i, &h) in cells.iter().enumerate() {
        if is_set(nulls.as_ref(), i) {
            let len = below(sub(h, 0), MAX_BINARY + 1) as usize;
            for chunk in 0..len.div_ceil(8) {
                let bytes = sub(h, 1 + chunk as u64).to_le_bytes();
                out.extend(&bytes[..(len - chunk * 8).min(8)]);
            }
        }
        out.end_value();
    }
    let (offsets, bytes) = out.finish()?;
    Ok(Arc::new(BinaryArray::try_new(offsets, bytes, nulls)?))
}

/// Row lengths of a list column: 0 for null rows, else a draw in `0..=max`.
fn list_lengths(cells: &[u64], nulls: Option<&NullBuffer>, max: u64) -> Vec<usize> {
    cells
        .iter()
        .enumerate()
        .map(|(i, &h)| {
            if is_set(nulls, i) {
                below(sub(h, 0), max + 1) as usize
            } else {
                0
            }
        })
        .collect()
}

/// `element_nulls` makes about 5 % of the elements null.
fn list_int64(cells: &[u64], nulls: Option<NullBuffer>, element_nulls: bool) -> Result<ArrayRef> {
    let lengths = list_lengths(cells, nulls.as_ref(), MAX_INT_LIST);
    let total = lengths.iter().sum();
    let mut values = Vec::with_capacity(total);
    let mut valid = Vec::with_capacity(total);
    for (&h, &len) in cells.iter().zip(&lengths) {
        for j in 0..len {
            let e = sub(h, 1 + j as u64);
            values.push(below(e, 2_000_000_000) as i64 - 1_000_000_000);
            valid.push(!element_nulls || e & 0xFFFF >= ELEMENT_NULL_CUTOFF);
        }
    }
    let element_nulls = Some(NullBuffer::from(valid)).filter(|n| n.null_count() > 0);
    let values = Arc::new(Int64Array::new(values.into(), element_nulls));
    Ok(Arc::new(ListArray::try_new(
        item(DataType::Int64),
        OffsetBuffer::from_lengths(lengths),
        values,
        nulls,
    )?))
}

fn list_words(
    table: &'static [&'static str],
    max: usize,
    cells: &[u64],
    nulls: Option<NullBuffer>,
) -> Result<ArrayRef> {
    let lengths = list_lengths(cells, nulls.as_ref(), max as u64);
    let total = lengths.iter().sum();
    let mut out = ByteColumn::with_capacity(total, total * 6);
    for (&h, &len) in cells.iter().zip(&lengths) {
        for j in 0..len {
            out.push_words(
                table,
                std::iter::once(below(sub(h, 1 + j as u64), table.len() as u64) as usize),
            );
        }
    }
    let (offsets, bytes) = out.finish()?;
    let values = Arc::new(StringArray::try_new(offsets, bytes, None)?);
    Ok(Arc::new(ListArray::try_new(
        item(DataType::Utf8),
        OffsetBuffer::from_lengths(lengths),
        values,
        nulls,
    )?))
}

/// Components in [-1, 1), two per hash (a float32 mantissa needs only 24 bits). Null rows get
/// components too: a fixed-size list stores `dim` values for every row.
fn vector(dim: usize, cells: &[u64], nulls: Option<NullBuffer>) -> Result<ArrayRef> {
    let component = |bits: u32| (bits >> 8) as f32 * (2.0 / (1u32 << 24) as f32) - 1.0;
    let mut values = Vec::with_capacity(cells.len() * dim);
    for &h in cells {
        for k in 0..dim / 2 {
            let bits = sub(h, k as u64);
            values.push(component((bits >> 32) as u32));
            values.push(component(bits as u32));
        }
        if dim % 2 == 1 {
            values.push(component((sub(h, (dim / 2) as u64) >> 32) as u32));
        }
    }
    let size = i32::try_from(dim).map_err(|_| {
        arrowport_core::Error::config(format!("{}: vector dim {dim} is too large", crate::NAME))
    })?;
    Ok(Arc::new(FixedSizeListArray::try_new(
        item(DataType::Float32),
        size,
        Arc::new(Float32Array::from(values)),
        nulls,
    )?))
}

/// Each row picks a subset of [`TERMS`] (about one in eight each) in table order, so its keys
/// come out sorted and unique; one row in ten is an empty map.
fn sparse(cells: &[u64], nulls: Option<NullBuffer>) -> Result<ArrayRef> {
    let all_terms = u64::MAX >> (64 - TERMS.len());
    let mut lengths = Vec::with_capacity(cells.len());
    let mut keys = ByteColumn::with_capacity(cells.len() * 4, cells.len() * 4 * 8);
    let mut weights = Vec::with_capacity(cells.len() * 4);
    for (i, &h) in cells.iter().enumerate() {
        let mut mask = if is_set(nulls.as_ref(), i) && below(sub(h, 0), 10) != 0 {
            sub(h, 1) & sub(h, 2) & sub(h, 3) & all_terms
        } else {
            0
        };
        lengths.push(mask.count_ones() as usize);
        while mask != 0 {
            let term = mask.trailing_zeros();
            keys.push_words(TERMS, std::iter::once(term as usize));
            weights.push((1.0 - unit(sub(h, 4 + u64::from(term)))) as f32);
            mask &= mask - 1;
        }
    }
    let (offsets, bytes) = keys.finish()?;
    let entries = StructArray::try_new(
        sparse_fields(),
        vec![
            Arc::new(StringArray::try_new(offsets, bytes, None)?),
            Arc::new(Float32Array::from(weights)),
        ],
        None,
    )?;
    Ok(Arc::new(MapArray::try_new(
        sparse_entries(),
        OffsetBuffer::from_lengths(lengths),
        entries,
        nulls,
        false,
    )?))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::generate::text::{AWKWARD, TAGS};

    const N: usize = 2000;

    fn make(kind: Kind) -> ArrayRef {
        array(
            &ColumnSpec::new("test", kind),
            column_key(42, "test"),
            0,
            N,
            None,
        )
        .unwrap()
    }

    #[test]
    fn arrays_match_their_announced_types() {
        let kinds = [
            Kind::Int8,
            Kind::Decimal,
            Kind::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai")),
            Kind::Vector {
                dim: 3,
                nullable: false,
            },
            Kind::Sparse,
            Kind::ListWords {
                table: TAGS,
                max: 4,
            },
        ];
        for kind in kinds {
            let a = make(kind);
            assert_eq!(a.data_type(), &kind.data_type(), "{kind:?}");
            assert_eq!(a.len(), N);
            assert_eq!(a.null_count() > 0, kind.nullable(), "{kind:?}");
        }
    }

    #[test]
    fn timestamps_and_dates_stay_within_1970_to_2100() {
        let ns = make(Kind::Timestamp(TimeUnit::Nanosecond, None));
        let ns = ns.as_primitive::<TimestampNanosecondType>();
        assert!(
            ns.iter()
                .flatten()
                .all(|v| (0..4_102_444_800_000_000_000).contains(&v))
        );
        let days = make(Kind::Date32);
        assert!(
            days.as_primitive::<Date32Type>()
                .iter()
                .flatten()
                .all(|d| (0..47_482).contains(&d))
        );
    }

    #[test]
    fn decimals_have_fractions_and_some_are_large() {
        let a = make(Kind::Decimal);
        let values: Vec<i128> = a
            .as_primitive::<arrow::datatypes::Decimal128Type>()
            .iter()
            .flatten()
            .collect();
        let fraction = 10_i128.pow(10);
        // At most 28 integer digits plus 10 fractional ones: within precision 38.
        assert!(values.iter().all(|v| v.abs() < 10_i128.pow(38)));
        assert!(values.iter().any(|v| v % fraction != 0));
        assert!(values.iter().any(|v| v.abs() > 10_i128.pow(25)));
        assert!(values.iter().any(|v| *v < 0) && values.iter().any(|v| *v > 0));
    }

    #[test]
    fn sparse_keys_are_sorted_unique_and_some_maps_empty() {
        let a = make(Kind::Sparse);
        let map = a.as_map();
        let mut empty = 0;
        for i in 0..map.len() {
            if map.is_null(i) {
                continue;
            }
            let entry = map.value(i);
            let keys = entry.column(0).as_string::<i32>();
            let keys: Vec<&str> = keys.iter().map(Option::unwrap).collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
            let weights = entry.column(1).as_primitive::<Float32Type>();
            assert!(weights.values().iter().all(|w| *w > 0.0 && *w <= 1.0));
            empty += usize::from(keys.is_empty());
        }
        assert!(empty > 0);
    }

    #[test]
    fn lists_have_empty_rows_and_null_elements() {
        let a = make(Kind::ListInt64);
        let list = a.as_list::<i32>();
        assert!((0..N).any(|i| list.is_valid(i) && list.value_length(i) == 0));
        assert!(list.values().null_count() > 0);
        assert!(
            list.values()
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .all(|v| v.abs() <= 1_000_000_000)
        );
    }

    #[test]
    fn text_covers_empty_and_unicode() {
        let a = make(Kind::Words {
            table: AWKWARD,
            min: 0,
            max: 2,
        });
        let text = a.as_string::<i32>();
        assert!(text.iter().flatten().any(str::is_empty));
        assert!(text.iter().flatten().any(|s| s.contains("数据")));
        assert!(
            text.iter()
                .flatten()
                .any(|s| s.chars().any(|c| c as u32 >= 0x1F600))
        );
    }

    #[test]
    fn struct_children_are_null_where_the_struct_is() {
        const CHILDREN: &[ColumnSpec] = &[
            ColumnSpec::new("a", Kind::Int32),
            ColumnSpec::new(
                "b",
                Kind::ListWords {
                    table: TAGS,
                    max: 2,
                },
            ),
        ];
        let a = make(Kind::Struct(CHILDREN));
        let s = a.as_struct();
        assert!(s.null_count() > 0);
        for child in s.columns() {
            assert!((0..N).all(|i| s.is_valid(i) || child.is_null(i)));
            assert!(child.null_count() > s.null_count());
        }
    }

    #[test]
    fn required_columns_have_no_nulls_at_any_level_but_the_same_values() {
        for kind in [
            Kind::Words {
                table: AWKWARD,
                min: 0,
                max: 2,
            },
            Kind::ListInt64,
            Kind::ListWords {
                table: TAGS,
                max: 4,
            },
            Kind::Sparse,
            Kind::Boolean,
        ] {
            let spec = ColumnSpec::new("test", kind).required();
            assert!(!spec.field().is_nullable());
            let required = array(&spec, column_key(42, "test"), 0, N, None).unwrap();
            assert_eq!(required.data_type(), &kind.data_type());
            assert_eq!(required.logical_null_count(), 0, "{kind:?}");
            let nullable = make(kind);
            for i in (0..N).filter(|&i| nullable.is_valid(i)) {
                if kind != Kind::ListInt64 {
                    assert_eq!(
                        required.slice(i, 1).to_data(),
                        nullable.slice(i, 1).to_data(),
                        "{kind:?} row {i}"
                    );
                }
            }
        }
        let codes = array(
            &ColumnSpec::new("test", Kind::ListInt64).required(),
            column_key(42, "test"),
            0,
            N,
            None,
        )
        .unwrap();
        let codes = codes.as_list::<i32>();
        assert_eq!(codes.values().null_count(), 0);
        assert!(codes.values().len() > N);
        let nullable = make(Kind::ListInt64);
        let nullable = nullable.as_list::<i32>();
        for i in (0..N).filter(|&i| nullable.is_valid(i)) {
            assert_eq!(
                codes.value(i).as_primitive::<Int64Type>().values(),
                nullable.value(i).as_primitive::<Int64Type>().values()
            );
        }
    }

    #[test]
    fn odd_vector_widths_fill_every_component() {
        let a = make(Kind::Vector {
            dim: 5,
            nullable: false,
        });
        let v = a.as_fixed_size_list();
        assert_eq!(v.values().len(), 5 * N);
        let values = v.values().as_primitive::<Float32Type>();
        assert!(values.values().iter().all(|x| (-1.0..1.0).contains(x)));
    }
}
