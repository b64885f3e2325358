//! CRC-32C (Castagnoli): reflected polynomial `0x82F63B78`, init and xorout `0xFFFFFFFF`.
//!
//! The tunnel uses it for per-record checksums and the stream checksum of the record protocol
//! (spec §3.1) and for the chunk checksums of the Arrow framing (spec §3.2), so every byte of a
//! download passes through it: the `crc32c` crate computes it with the CPU's CRC instructions
//! (SSE 4.2, ARMv8) where they exist.

/// CRC-32C of `data` in one call.
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// The CRC-32C of `a ++ data`, given the CRC-32C of `a`.
pub fn append(crc_a: u32, data: &[u8]) -> u32 {
    ::crc32c::crc32c_append(crc_a, data)
}

/// Incremental CRC-32C hasher.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crc32c {
    value: u32,
}

impl Crc32c {
    /// A hasher over no bytes yet (its value is 0).
    pub const fn new() -> Self {
        Crc32c { value: 0 }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.value = append(self.value, data);
    }

    /// The CRC of every byte fed so far; the hasher can keep going.
    pub fn value(&self) -> u32 {
        self.value
    }

    /// Starts over, as if freshly created.
    pub fn reset(&mut self) {
        self.value = 0;
    }
}

/// Joins CRCs of pieces of one fixed length: `crc32c(a ++ b)` from `crc32c(a)` and
/// `crc32c(b)` when `b` is `len` bytes long, in a few dozen operations. The framing checks and
/// writes a CRC per chunk and one over the whole payload; joining the chunks' CRCs spares a
/// second pass over every byte (the `crc32c` crate's general combine rebuilds its operator on
/// every call and costs more than that pass).
#[derive(Debug, Clone)]
pub struct Concat {
    /// Columns of the GF(2) matrix that feeds `len` zero bytes through the CRC register.
    zeros: [u32; 32],
}

impl Concat {
    /// The joiner for pieces of `len` bytes.
    pub fn new(len: usize) -> Self {
        // One zero bit: the register shifts right, the polynomial enters where bit 0 left.
        let mut bit = [0u32; 32];
        bit[0] = POLY;
        for (n, column) in bit.iter_mut().enumerate().skip(1) {
            *column = 1 << (n - 1);
        }
        let mut byte = square(&square(&square(&bit)));
        let mut zeros = identity();
        let mut rest = len;
        while rest > 0 {
            if rest & 1 == 1 {
                zeros = multiply(&byte, &zeros);
            }
            byte = square(&byte);
            rest >>= 1;
        }
        Concat { zeros }
    }

    /// `crc32c(a ++ b)`, `b` being of the length this joiner was made for.
    pub fn join(&self, crc_a: u32, crc_b: u32) -> u32 {
        times(&self.zeros, crc_a) ^ crc_b
    }
}

/// The reflected CRC-32C polynomial.
const POLY: u32 = 0x82F6_3B78;

fn times(matrix: &[u32; 32], vector: u32) -> u32 {
    (0..32)
        .filter(|bit| vector >> bit & 1 == 1)
        .fold(0, |sum, bit| sum ^ matrix[bit])
}

fn multiply(a: &[u32; 32], b: &[u32; 32]) -> [u32; 32] {
    b.map(|column| times(a, column))
}

fn square(matrix: &[u32; 32]) -> [u32; 32] {
    multiply(matrix, matrix)
}

fn identity() -> [u32; 32] {
    std::array::from_fn(|n| 1 << n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bitwise(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn matches_bitwise_and_incremental() {
        let data: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 999, 1000] {
            let want = bitwise(&data[..len]);
            assert_eq!(crc32c(&data[..len]), want, "len {len}");
            for split in [0, 1, 3, len / 2, len] {
                let split = split.min(len);
                let mut h = Crc32c::new();
                h.update(&data[..split]);
                h.update(&data[split..len]);
                assert_eq!(h.value(), want, "len {len} split {split}");
                let joined = append(crc32c(&data[..split]), &data[split..len]);
                assert_eq!(joined, want, "len {len} split {split}");
            }
        }
        let mut h = Crc32c::new();
        h.update(b"junk");
        h.reset();
        h.update(b"123456789");
        assert_eq!(h.value(), 0xE306_9283);
    }

    #[test]
    fn joined_crcs_are_the_crc_of_the_concatenation() {
        let data: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        for (a, b) in [
            (0, 0),
            (0, 5),
            (5, 0),
            (1, 1),
            (13, 64),
            (1000, 65_536),
            (3, 4096),
        ] {
            let (head, tail) = (&data[..a], &data[a..a + b]);
            let joined = Concat::new(b).join(crc32c(head), crc32c(tail));
            assert_eq!(joined, crc32c(&data[..a + b]), "{a} + {b}");
            assert_eq!(
                joined,
                ::crc32c::crc32c_combine(crc32c(head), crc32c(tail), b)
            );
        }
    }
}
