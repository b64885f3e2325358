//! Counter-based randomness: every cell's bits are a pure function of (seed, column, row), so
//! any row range can be generated on its own and the output never depends on batch size,
//! split count or parallelism. A sequential RNG would tie each value to everything generated
//! before it.

/// The splitmix64 increment (2^64 / golden ratio); odd, so multiplying by it is a bijection.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A second odd constant, so sub-values of a cell do not line up with neighbouring rows.
const GAMMA_SUB: u64 = 0xD1B5_4A32_D192_ED03;

/// Of the 65 536 values of a cell's low 16 bits, this many mean null: 10 %.
const NULL_CUTOFF: u64 = 6554;

/// The splitmix64 finalizer: a bijection with full avalanche, so neighbouring inputs give
/// unrelated outputs.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key of a named column under `parent` (the seed, or the key of an enclosing struct).
/// Keyed by name rather than position, so projecting or reordering columns leaves values alone
/// and a column means the same data in every profile.
pub(crate) fn column_key(parent: u64, name: &str) -> u64 {
    // FNV-1a, then mixed: stable across platforms and Rust versions, unlike `std::hash`.
    let fnv = name.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    mix(parent ^ mix(fnv))
}

/// The bits of one cell. The low 16 bits decide null ([`is_valid`]); values draw on the high
/// bits ([`below`], [`unit`]) so the two stay independent.
pub(crate) fn cell(key: u64, row: u64) -> u64 {
    mix(key ^ row.wrapping_mul(GAMMA))
}

/// The hashes of rows `start..start + len` of one column.
pub(crate) fn cells(key: u64, start: u64, len: usize) -> Vec<u64> {
    (start..start + len as u64)
        .map(|row| cell(key, row))
        .collect()
}

/// Further independent bits of a cell, for values that need more than one draw (list
/// elements, vector components, decimal digits).
pub(crate) fn sub(cell: u64, index: u64) -> u64 {
    mix(cell ^ index.wrapping_add(1).wrapping_mul(GAMMA_SUB))
}

/// Whether a cell of a nullable column holds a value (about 90 % do).
pub(crate) fn is_valid(cell: u64) -> bool {
    cell & 0xFFFF >= NULL_CUTOFF
}

/// A value in `0..n` from the high bits (Lemire's multiply-shift: no division, no modulo bias
/// worth speaking of).
pub(crate) fn below(bits: u64, n: u64) -> u64 {
    ((u128::from(bits) * u128::from(n)) >> 64) as u64
}

/// A float in `[0, 1)` from the high 48 bits.
pub(crate) fn unit(bits: u64) -> f64 {
    (bits >> 16) as f64 * (1.0 / (1u64 << 48) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_pure_functions_of_key_and_row() {
        let key = column_key(42, "value");
        assert_eq!(
            cells(key, 10, 5),
            (10..15).map(|r| cell(key, r)).collect::<Vec<_>>()
        );
        assert_eq!(cells(key, 0, 20)[10..15], cells(key, 10, 5)[..]);
        assert_ne!(column_key(42, "value"), column_key(43, "value"));
        assert_ne!(column_key(42, "value"), column_key(42, "values"));
    }

    #[test]
    fn about_ten_percent_are_null() {
        let key = column_key(1, "x");
        let nulls = (0..100_000).filter(|&r| !is_valid(cell(key, r))).count();
        assert!((9_000..11_000).contains(&nulls), "{nulls}");
    }

    #[test]
    fn ranges_are_respected_and_covered() {
        let key = column_key(3, "y");
        let mut seen = [false; 7];
        for r in 0..10_000 {
            let h = cell(key, r);
            seen[below(h, 7) as usize] = true;
            assert!((0.0..1.0).contains(&unit(h)));
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(0, 10), 0);
    }
}
