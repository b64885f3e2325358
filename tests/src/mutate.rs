//! Edits of valid encodings, for the decoders' property tests: random bytes rarely get past a
//! decoder's first check, edited valid ones reach every later one. Each crate passes the huge
//! lengths and counts in the encodings it reads (varints, decimal text, little-endian words).

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::RngSeed;

/// proptest's defaults (`PROPTEST_CASES`, 256 by default), with a fixed seed unless
/// `PROPTEST_RNG_SEED` picks one, so that a test run is repeatable, and no regression files.
pub fn config() -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(0x0a77_09a7);
    }
    config
}

/// One edit of a valid encoding.
#[derive(Debug, Clone)]
pub enum Edit {
    Flip(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    /// Overwrites bytes with a huge length or count, in one of the encodings in use.
    Huge(Index, Vec<u8>),
}

/// One to four edits, the huge values taken from `huge`.
pub fn edits(huge: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, bit)| Edit::Flip(at, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), select(huge)).prop_map(|(at, w)| Edit::Huge(at, w)),
    ];
    vec(edit, 1..5)
}

/// Applies `edits` in order; positions scale to the length at each step.
pub fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for edit in edits {
        let len = bytes.len();
        match edit {
            Edit::Insert(at, b) => bytes.insert(at.index(len + 1), *b),
            _ if len == 0 => {}
            Edit::Flip(at, bit) => bytes[at.index(len)] ^= 1 << (bit % 8),
            Edit::Delete(at) => drop(bytes.remove(at.index(len))),
            Edit::Truncate(at) => bytes.truncate(at.index(len)),
            Edit::Huge(at, word) => {
                let at = at.index(len);
                let end = (at + word.len()).min(len);
                bytes.splice(at..end, word.iter().copied());
            }
        }
    }
}
