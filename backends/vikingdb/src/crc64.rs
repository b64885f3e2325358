//! CRC-64/XZ, the checksum TOS reports as `x-tos-hash-crc64ecma` (and `HashCrc64ecma` in
//! listings), as a decimal `u64`.
//!
//! Parameters: polynomial `0x42F0E1EBA9EA3693` (ECMA-182), reflected input and output, register
//! initialised to all ones and the result XORed with all ones; the check value for `"123456789"`
//! is `0x995DC9BBDF1939FA`. (The `tos` SDK writes this as crcmod `initCrc=0`, because crcmod
//! XORs the initial value with `xorOut` first.)
//!
//! The implementation is table-driven, slicing-by-8 (eight 256-entry tables built at compile
//! time), since every downloaded byte goes through it.

/// The reflected form of the ECMA-182 polynomial `0x42F0E1EBA9EA3693`.
const POLY_REFLECTED: u64 = 0xC96C_5795_D787_0F42;

/// `TABLES[0]` is the classic byte-at-a-time table; `TABLES[k][b]` is the CRC contribution of
/// byte `b` followed by `k` zero bytes.
static TABLES: [[u64; 256]; 8] = build_tables();

const fn build_tables() -> [[u64; 256]; 8] {
    let mut tables = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev >> 8) ^ tables[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

/// Advances the (pre-inverted) register over `data`.
fn update(mut crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let word: [u8; 8] = chunk.try_into().expect("chunks_exact yields 8 bytes");
        let v = crc ^ u64::from_le_bytes(word);
        crc = t[7][(v & 0xff) as usize]
            ^ t[6][((v >> 8) & 0xff) as usize]
            ^ t[5][((v >> 16) & 0xff) as usize]
            ^ t[4][((v >> 24) & 0xff) as usize]
            ^ t[3][((v >> 32) & 0xff) as usize]
            ^ t[2][((v >> 40) & 0xff) as usize]
            ^ t[1][((v >> 48) & 0xff) as usize]
            ^ t[0][(v >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// An incremental CRC-64/XZ: feed chunks with [`Crc64::update`], read with [`Crc64::finish`].
///
/// ```
/// use arrowport_vikingdb::crc64::{Crc64, crc64};
/// let mut h = Crc64::new();
/// h.update(b"1234");
/// h.update(b"56789");
/// assert_eq!(h.finish(), 0x995D_C9BB_DF19_39FA);
/// assert_eq!(h.finish(), crc64(b"123456789"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc64 {
    /// The register, kept inverted between calls (init all ones).
    state: u64,
    /// Bytes fed so far.
    len: u64,
}

impl Crc64 {
    /// A fresh hasher (the CRC of no bytes is 0).
    pub const fn new() -> Self {
        Crc64 {
            state: u64::MAX,
            len: 0,
        }
    }

    /// Feeds the next chunk.
    pub fn update(&mut self, data: &[u8]) {
        self.state = update(self.state, data);
        self.len += data.len() as u64;
    }

    /// The CRC of everything fed so far. The hasher stays usable.
    pub const fn finish(&self) -> u64 {
        !self.state
    }

    /// How many bytes have been fed (handy to compare with `Content-Length`).
    pub const fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been fed yet.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

/// The CRC-64/XZ of `data` in one call.
pub fn crc64(data: &[u8]) -> u64 {
    !update(u64::MAX, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference straight from the parameters.
    fn reference(data: &[u8]) -> u64 {
        let mut crc = u64::MAX;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn polynomial_is_the_reflected_ecma_182() {
        assert_eq!(0x42F0_E1EB_A9EA_3693u64.reverse_bits(), POLY_REFLECTED);
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(reference(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(crc64(b""), 0);
        assert_eq!(crc64(b"hello world"), 5_981_764_153_023_615_706);
    }

    #[test]
    fn table_matches_reference_for_every_length_and_alignment() {
        let data = bytes(300, 7);
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(
                    crc64(&data[start..end]),
                    reference(&data[start..end]),
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn incremental_equals_one_shot_for_any_split() {
        let data = bytes(4096 + 13, 42);
        let whole = crc64(&data);
        for chunk in [1, 3, 7, 8, 9, 64, 1000, 4096, 10_000] {
            let mut h = Crc64::new();
            for c in data.chunks(chunk) {
                h.update(c);
            }
            assert_eq!(h.finish(), whole, "chunk {chunk}");
            assert_eq!(h.len(), data.len() as u64);
        }
        let mut h = Crc64::default();
        assert!(h.is_empty());
        assert_eq!(h.finish(), 0);
        h.update(&[]);
        assert_eq!(h.finish(), 0);
        h.update(&data[..5]);
        let mid = h.finish();
        h.update(&data[5..]);
        assert_eq!(mid, crc64(&data[..5]));
        assert_eq!(h.finish(), whole);
        assert!(!h.is_empty());
    }
}
