//! Vector columns decoded page by page without parquet-rs's level machinery.
//!
//! A vector is a Parquet list of floats: every value carries a repetition and a definition
//! level, which parquet-rs unpacks one by one into buffers and walks to build the list
//! structure. For a fixed-size list without nulls that structure is known in advance (a new
//! row every `dim` values, every value present), so here the levels are only checked, run by
//! run (a run-length encoded run is one comparison), and the PLAIN values are copied out.
//! Anything else (a null, a vector of another length, a dictionary, another encoding) is
//! [`Unsupported`], and the caller decodes from the same row on with parquet-rs.

use std::sync::Arc;

use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array};
use arrow::buffer::ScalarBuffer;
use arrow::datatypes::FieldRef;
use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::reader::ChunkReader;
use parquet::file::serialized_reader::SerializedPageReader;
use parquet::schema::types::ColumnDescriptor;

/// The pages of a vector column chunk hold something this decoder does not read.
#[derive(Debug)]
pub(super) struct Unsupported;

/// One vector column of one row group, read forward.
pub(super) struct VectorColumn<R: ChunkReader> {
    pages: SerializedPageReader<R>,
    item: FieldRef,
    dim: usize,
    max_def: u64,
    /// The PLAIN values of the current page not handed out yet.
    values: Bytes,
    /// Index, across the chunk, of the next level: a row starts at every multiple of `dim`.
    level: u64,
}

impl<R: ChunkReader> std::fmt::Debug for VectorColumn<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorColumn")
            .field("dim", &self.dim)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

impl<R: ChunkReader + 'static> VectorColumn<R> {
    /// The reader of a leaf `descr` as fixed-size lists of `dim` `item`s, if its shape fits:
    /// floats, one level of repetition.
    pub(super) fn new(
        chunk: Arc<R>,
        meta: &ColumnChunkMetaData,
        descr: &ColumnDescriptor,
        rows: usize,
        item: FieldRef,
        dim: usize,
    ) -> Option<Self> {
        let fits = descr.physical_type() == PhysicalType::FLOAT
            && descr.max_rep_level() == 1
            && descr.max_def_level() >= 1
            && dim > 0;
        if !fits {
            return None;
        }
        Some(VectorColumn {
            pages: SerializedPageReader::new(chunk, meta, rows, None).ok()?,
            item,
            dim,
            max_def: descr.max_def_level() as u64,
            values: Bytes::new(),
            level: 0,
        })
    }

    /// The next `rows` vectors. With `last`, the chunk must end right after them.
    pub(super) fn take(&mut self, rows: usize, last: bool) -> Result<ArrayRef, Unsupported> {
        let want = rows * self.dim;
        let mut out: Vec<f32> = Vec::with_capacity(want);
        while out.len() < want {
            if self.values.is_empty() {
                self.next_page()?;
            }
            let n = (want - out.len()).min(self.values.len() / 4);
            out.extend(
                self.values[..n * 4]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
            self.values = self.values.slice(n * 4..);
        }
        if last && (!self.values.is_empty() || self.has_more_values()?) {
            return Err(Unsupported);
        }
        let values = Float32Array::new(ScalarBuffer::from(out), None);
        FixedSizeListArray::try_new(self.item.clone(), self.dim as i32, Arc::new(values), None)
            .map(|a| Arc::new(a) as ArrayRef)
            .map_err(|_| Unsupported)
    }

    /// Whether a page with values follows.
    fn has_more_values(&mut self) -> Result<bool, Unsupported> {
        match self.pages.get_next_page() {
            Ok(None) => Ok(false),
            Ok(Some(page)) => Ok(page.num_values() > 0),
            Err(_) => Err(Unsupported),
        }
    }

    /// Loads the next data page with values, its levels checked.
    fn next_page(&mut self) -> Result<(), Unsupported> {
        loop {
            let page = self.pages.get_next_page().map_err(|_| Unsupported)?;
            // Where the repetition levels and definition levels are, where the values start.
            let (buf, rep, def, values_at, n) = match page.ok_or(Unsupported)? {
                Page::DataPage {
                    buf,
                    num_values,
                    encoding: Encoding::PLAIN,
                    def_level_encoding: Encoding::RLE,
                    rep_level_encoding: Encoding::RLE,
                    ..
                } => {
                    let rep_len = prefix(&buf, 0)?;
                    let def_len = prefix(&buf, 4 + rep_len)?;
                    let values_at = 8 + rep_len + def_len;
                    let (rep, def) = (4..4 + rep_len, 8 + rep_len..values_at);
                    (buf, rep, def, values_at, num_values)
                }
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding: Encoding::PLAIN,
                    num_nulls: 0,
                    def_levels_byte_len,
                    rep_levels_byte_len,
                    ..
                } => {
                    let def_at = rep_levels_byte_len as usize;
                    let values_at = def_at + def_levels_byte_len as usize;
                    (buf, 0..def_at, def_at..values_at, values_at, num_values)
                }
                _ => return Err(Unsupported),
            };
            let n = n as usize;
            let rep = buf.get(rep).ok_or(Unsupported)?;
            let def = buf.get(def).ok_or(Unsupported)?;
            self.check_levels(rep, def, n)?;
            if buf.len() < values_at + n * 4 {
                return Err(Unsupported);
            }
            self.values = buf.slice(values_at..values_at + n * 4);
            if n > 0 {
                return Ok(());
            }
        }
    }

    /// Every definition level is the maximum (no nulls), and the repetition levels start a
    /// row every `dim` values.
    fn check_levels(&mut self, rep: &[u8], def: &[u8], n: usize) -> Result<(), Unsupported> {
        let max_def = self.max_def;
        let all_present = for_each_run(def, bit_width(max_def), n, |run| match run {
            Run::Repeat { value, .. } => value == max_def,
            Run::Packed(packed) => (0..packed.len).all(|i| packed.get(i) == max_def),
        });
        let (dim, mut level) = (self.dim as u64, self.level);
        let rows_fit = for_each_run(rep, 1, n, |run| {
            let ok = match run {
                Run::Repeat { value: 1, len } => {
                    let at = level % dim;
                    at != 0 && at + len as u64 <= dim
                }
                Run::Repeat { value: 0, len } => {
                    dim == 1 || (len == 1 && level.is_multiple_of(dim))
                }
                Run::Repeat { .. } => false,
                Run::Packed(packed) => (0..packed.len)
                    .all(|i| packed.get(i) == u64::from(!(level + i as u64).is_multiple_of(dim))),
            };
            level += run.len() as u64;
            ok
        });
        if !(all_present && rows_fit) {
            return Err(Unsupported);
        }
        self.level = level;
        Ok(())
    }
}

/// The length of a v1 page's level section at `at`: 4 bytes, little-endian, before it.
fn prefix(buf: &[u8], at: usize) -> Result<usize, Unsupported> {
    let len = buf.get(at..at + 4).ok_or(Unsupported)?;
    Ok(u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize)
}

/// Bits per level for levels up to `max`.
fn bit_width(max: u64) -> u8 {
    (u64::BITS - max.leading_zeros()) as u8
}

/// A run of the RLE / bit-packing hybrid encoding.
#[derive(Debug, Clone, Copy)]
enum Run<'a> {
    Repeat { value: u64, len: usize },
    Packed(Packed<'a>),
}

impl Run<'_> {
    fn len(&self) -> usize {
        match self {
            Run::Repeat { len, .. } => *len,
            Run::Packed(p) => p.len,
        }
    }
}

/// Bit-packed values, least significant bit first.
#[derive(Debug, Clone, Copy)]
struct Packed<'a> {
    bytes: &'a [u8],
    width: u8,
    len: usize,
}

impl Packed<'_> {
    fn get(&self, i: usize) -> u64 {
        let mut value = 0;
        for bit in 0..usize::from(self.width) {
            let at = i * usize::from(self.width) + bit;
            let set = (self.bytes[at / 8] >> (at % 8)) & 1;
            value |= u64::from(set) << bit;
        }
        value
    }
}

/// Calls `f` on the runs holding the first `n` levels (the last run cut to fit) while it
/// returns true; false if `f` refused one or the data ends early.
fn for_each_run(mut data: &[u8], width: u8, n: usize, mut f: impl FnMut(Run<'_>) -> bool) -> bool {
    let mut left = n;
    while left > 0 {
        let Some((header, rest)) = uleb128(data) else {
            return false;
        };
        data = rest;
        let run = if header & 1 == 0 {
            let value_bytes = usize::from(width).div_ceil(8);
            let Some(bytes) = data.get(..value_bytes) else {
                return false;
            };
            let value = bytes
                .iter()
                .rev()
                .fold(0u64, |v, &b| (v << 8) | u64::from(b));
            data = &data[value_bytes..];
            let len = (header >> 1) as usize;
            if len == 0 {
                return false;
            }
            Run::Repeat {
                value,
                len: len.min(left),
            }
        } else {
            let groups = (header >> 1) as usize;
            let Some(bytes) = data.get(..groups * usize::from(width)) else {
                return false;
            };
            data = &data[bytes.len()..];
            if groups == 0 {
                return false;
            }
            Run::Packed(Packed {
                bytes,
                width,
                len: (groups * 8).min(left),
            })
        };
        left -= run.len();
        if !f(run) {
            return false;
        }
    }
    true
}

/// An unsigned LEB128 varint (at most 5 bytes, a `u32`) and what follows it.
fn uleb128(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(5) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &data[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs as (kind, value or values).
    fn runs(data: &[u8], width: u8, n: usize) -> Option<Vec<Vec<u64>>> {
        let mut out = Vec::new();
        let ok = for_each_run(data, width, n, |run| {
            out.push(match run {
                Run::Repeat { value, len } => vec![value; len],
                Run::Packed(p) => (0..p.len).map(|i| p.get(i)).collect(),
            });
            true
        });
        ok.then_some(out)
    }

    #[test]
    fn hybrid_runs_decode() {
        // Levels of 3 bits. RLE: 5 × 3; then one bit-packed group of the values 0..8, least
        // significant bit first (0 000, 1 001, 2 010, ... across the bytes 0x88, 0xC6, 0xFA).
        let data = [5 << 1, 3, (1 << 1) | 1, 0x88, 0xC6, 0xFA];
        assert_eq!(runs(&data, 3, 13), Some(vec![vec![3; 5], (0..8).collect()]));
        // Cut to the levels asked for; an early end is a refusal.
        assert_eq!(runs(&data, 3, 7), Some(vec![vec![3; 5], vec![0, 1]]));
        assert_eq!(runs(&data[..1], 3, 5), None);
        assert_eq!(uleb128(&[0x80, 0x01]), Some((128, &[][..])));
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(3), 2);
        assert_eq!(bit_width(4), 3);
    }
}
