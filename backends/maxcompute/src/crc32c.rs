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

#[cfg(test)]
mod tests {
    use super::*;

    const POLY: u32 = 0x82F6_3B78;

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
}
