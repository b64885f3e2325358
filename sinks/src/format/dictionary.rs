//! Whether a leaf's dictionary earned its keep in a closed row group, so that the row groups
//! after it write the leaf plain instead of hashing every value again for nothing.
//!
//! Two verdicts decline it. Either the dictionary outgrew its page limit and parquet-rs fell
//! back to plain pages (unique ids, timestamps or measurements in a large row group), or, as
//! parquet-mr decides, the dictionary and its indices came to more than the values plainly
//! encoded (the same columns in row groups small enough for their dictionary to fit, as wide
//! rows make them: a vector collection's row groups hold some 60,000 rows).

use arrowport_core::arrow::array::{Array, ArrayRef, AsArray};
use arrowport_core::arrow::datatypes::DataType;
use parquet::arrow::arrow_writer::ArrowColumnChunk;
use parquet::basic::{Encoding, PageType, Type as PhysicalType};
use parquet::schema::types::ColumnDescriptor;

/// How much bigger than the plain values a dictionary-encoded chunk must be to decline its
/// dictionary, in eighths: the chunk's size also counts its levels and page headers, up to
/// an eighth of the values for list leaves, which plain pages would carry as well.
const DECLINE_AT_EIGHTHS: u64 = 9;

/// The PLAIN-encoded size of the values a leaf received in the open row group, when known.
#[derive(Debug)]
pub(crate) struct PlainSize {
    width: Width,
    bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
enum Width {
    Fixed(u64),
    /// Byte arrays: a 4-byte length and the bytes.
    Variable,
    /// Not measured: booleans, which parquet never dictionary-encodes, and leaves written
    /// plain in this row group.
    Unknown,
}

impl PlainSize {
    /// Measures the leaf `column` when its dictionary is `attempted` in this row group;
    /// otherwise there is no verdict to reach.
    pub(crate) fn new(column: &ColumnDescriptor, attempted: bool) -> Self {
        let width = match column.physical_type() {
            _ if !attempted => Width::Unknown,
            PhysicalType::INT32 | PhysicalType::FLOAT => Width::Fixed(4),
            PhysicalType::INT64 | PhysicalType::DOUBLE => Width::Fixed(8),
            PhysicalType::INT96 => Width::Fixed(12),
            PhysicalType::FIXED_LEN_BYTE_ARRAY => {
                Width::Fixed(u64::try_from(column.type_length()).unwrap_or(0))
            }
            PhysicalType::BYTE_ARRAY => Width::Variable,
            PhysicalType::BOOLEAN => Width::Unknown,
        };
        PlainSize {
            width,
            bytes: Some(0),
        }
    }

    /// Whether [`PlainSize::add`] needs the leaf's values.
    pub(crate) fn measures(&self) -> bool {
        !matches!(self.width, Width::Unknown)
    }

    /// Counts the values of `leaf`, the array that becomes this leaf (`None`: not known, and
    /// the size stays unknown for the row group).
    pub(crate) fn add(&mut self, leaf: Option<&ArrayRef>) {
        let size = leaf.and_then(|array| plain_size(array.as_ref(), self.width));
        self.bytes = self.bytes.zip(size).map(|(sum, more)| sum + more);
    }

    /// Whether `chunk`, this leaf's closed chunk, started with a dictionary that did not pay.
    pub(crate) fn declines(&self, chunk: &ArrowColumnChunk) -> bool {
        let metadata = &chunk.close().metadata;
        let Some(stats) = metadata.page_encoding_stats() else {
            return false;
        };
        if !stats
            .iter()
            .any(|s| s.page_type == PageType::DICTIONARY_PAGE)
        {
            return false;
        }
        let overflowed = stats.iter().any(|s| {
            matches!(s.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2)
                && !matches!(
                    s.encoding,
                    Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY
                )
        });
        let encoded = u64::try_from(metadata.uncompressed_size()).unwrap_or(0);
        overflowed
            || self
                .bytes
                .is_some_and(|plain| plain > 0 && encoded * 8 >= plain * DECLINE_AT_EIGHTHS)
    }
}

/// The PLAIN size of `array`'s non-null values; nulls inside a null parent list are counted
/// too, which errs towards keeping a dictionary.
fn plain_size(array: &dyn Array, width: Width) -> Option<u64> {
    let values = (array.len() - array.null_count()) as u64;
    match width {
        Width::Fixed(bytes) => Some(values * bytes),
        Width::Unknown => None,
        Width::Variable => {
            let bytes = match array.data_type() {
                DataType::Utf8 => offset_span(array.as_string::<i32>().offsets()),
                DataType::LargeUtf8 => offset_span(array.as_string::<i64>().offsets()),
                DataType::Binary => offset_span(array.as_binary::<i32>().offsets()),
                DataType::LargeBinary => offset_span(array.as_binary::<i64>().offsets()),
                DataType::Utf8View => array.as_string_view().lengths().map(u64::from).sum(),
                DataType::BinaryView => array.as_binary_view().lengths().map(u64::from).sum(),
                _ => return None,
            };
            Some(values * 4 + bytes)
        }
    }
}

fn offset_span<O: Copy + Into<i64>>(offsets: &[O]) -> u64 {
    match (offsets.first(), offsets.last()) {
        (Some(&first), Some(&last)) => u64::try_from(last.into() - first.into()).unwrap_or(0),
        _ => 0,
    }
}

/// The arrays that become `array`'s Parquet leaves, in leaf order, as far as their values go
/// (lists cut to the span their offsets cover); `None` for shapes this does not follow.
pub(crate) fn leaf_arrays(array: &ArrayRef) -> Option<Vec<ArrayRef>> {
    let mut leaves = Vec::new();
    collect_leaves(array, &mut leaves).then_some(leaves)
}

fn collect_leaves(array: &ArrayRef, out: &mut Vec<ArrayRef>) -> bool {
    match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let (start, end) = span(list.offsets());
            collect_leaves(&list.values().slice(start, end - start), out)
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            let (start, end) = span(list.offsets());
            collect_leaves(&list.values().slice(start, end - start), out)
        }
        DataType::FixedSizeList(..) => collect_leaves(array.as_fixed_size_list().values(), out),
        DataType::Map(..) => {
            let map = array.as_map();
            let (start, end) = span(map.offsets());
            let entries = map.entries().slice(start, end - start);
            entries.columns().iter().all(|c| collect_leaves(c, out))
        }
        DataType::Struct(_) => array
            .as_struct()
            .columns()
            .iter()
            .all(|c| collect_leaves(c, out)),
        DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::RunEndEncoded(..)
        | DataType::Union(..) => false,
        DataType::Dictionary(_, values) if values.is_nested() => false,
        _ => {
            out.push(array.clone());
            true
        }
    }
}

fn span<O: Copy + TryInto<usize>>(offsets: &[O]) -> (usize, usize) {
    let at = |o: Option<&O>| o.and_then(|&o| o.try_into().ok()).unwrap_or(0);
    (at(offsets.first()), at(offsets.last()))
}
