//! CRC-32C (Castagnoli): reflected polynomial `0x82F63B78`, init and xorout `0xFFFFFFFF`.
//!
//! The tunnel uses it for per-record checksums and the stream checksum of the record protocol
//! (spec §3.1) and for the chunk checksums of the Arrow framing (spec §3.2). The implementation is
//! table-driven with slicing-by-8; the tables are built at compile time.

const POLY: u32 = 0x82F6_3B78;

const fn make_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut t = 1;
    while t < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[t - 1][i];
            tables[t][i] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            i += 1;
        }
        t += 1;
    }
    tables
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Feeds `data` into a raw (pre-inverted) CRC register.
fn update_raw(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = TABLES[7][(lo & 0xFF) as usize]
            ^ TABLES[6][((lo >> 8) & 0xFF) as usize]
            ^ TABLES[5][((lo >> 16) & 0xFF) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xFF) as usize]
            ^ TABLES[2][((hi >> 8) & 0xFF) as usize]
            ^ TABLES[1][((hi >> 16) & 0xFF) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = (crc >> 8) ^ TABLES[0][((crc ^ u32::from(b)) & 0xFF) as usize];
    }
    crc
}

/// CRC-32C of `data` in one call.
pub fn crc32c(data: &[u8]) -> u32 {
    !update_raw(!0, data)
}

/// Incremental CRC-32C hasher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32c {
    state: u32,
}

impl Default for Crc32c {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32c {
    /// A hasher over no bytes yet (its value is 0).
    pub const fn new() -> Self {
        Crc32c { state: !0 }
    }

    /// Feeds more bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.state = update_raw(self.state, data);
    }

    /// The CRC of every byte fed so far; the hasher can keep going.
    pub fn value(&self) -> u32 {
        !self.state
    }

    /// Starts over, as if freshly created.
    pub fn reset(&mut self) {
        self.state = !0;
    }
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
    fn slicing_matches_bitwise_and_incremental() {
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
            }
        }
        let mut h = Crc32c::new();
        h.update(b"junk");
        h.reset();
        h.update(b"123456789");
        assert_eq!(h.value(), 0xE306_9283);
    }
}
