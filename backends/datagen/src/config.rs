//! The one typed configuration of the datagen source, fed by URL queries, `-o` flags and job
//! files alike (all reduce to an [`OptionMap`]). Parsing and validation are pure.

use std::fmt;

use arrowport_core::{Error, OptionMap, Result};
use serde::{Deserialize, Serialize};

/// Largest accepted `batch_size`. Generation builds whole batches in memory, and string
/// offsets are 32-bit, so an unbounded batch could overflow them; four million rows is far
/// beyond what any sink wants per batch.
pub const MAX_BATCH_SIZE: usize = 1 << 22;

/// Largest accepted vector width: well above any embedding model, small enough that a batch
/// of vectors stays addressable with 32-bit sizes.
pub const MAX_DIM: usize = 1 << 16;

/// Vector width of the `vectors` profile when `dim` is not given.
pub const DEFAULT_DIM: usize = 768;

/// Vector width of the `vikingdb` profile when `dim` is not given: small, so emulated
/// collections stay cheap, and a multiple of 4 as VikingDB requires.
pub const VIKINGDB_DEFAULT_DIM: usize = 128;

/// Which set of columns to generate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// One column per Arrow type arrowport maps, with nulls, unicode, nested types and vectors.
    #[default]
    All,
    /// A few scalar columns, generated fast, for benchmarks.
    Narrow,
    /// An id, a text and a dense vector per row, like a vector database collection.
    Vectors,
    /// One non-null column per VikingDB field type, as a VikingDB collection holds them.
    Vikingdb,
}

impl Profile {
    /// The name used in options and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::All => "all",
            Profile::Narrow => "narrow",
            Profile::Vectors => "vectors",
            Profile::Vikingdb => "vikingdb",
        }
    }

    /// Vector width when `dim` is not given: [`DEFAULT_DIM`], or [`VIKINGDB_DEFAULT_DIM`] for
    /// `vikingdb`. Profiles without a `dim` ignore it.
    pub fn default_dim(self) -> usize {
        match self {
            Profile::Vikingdb => VIKINGDB_DEFAULT_DIM,
            Profile::All | Profile::Narrow | Profile::Vectors => DEFAULT_DIM,
        }
    }

    /// Whether the `dim` option applies.
    fn has_dim(self) -> bool {
        matches!(self, Profile::Vectors | Profile::Vikingdb)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of `datagen://?rows=N&seed=S&batch_size=B&profile=P&dim=D`.
///
/// Every field has a default, so `Config { rows: 10, ..Default::default() }` works; call
/// [`Config::validate`] (or build through [`Config::from_options`]) before generating.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Rows to generate.
    pub rows: u64,
    /// Seed of every value; the same seed always gives the same data.
    pub seed: u64,
    /// Rows per batch when the scan does not ask for a size.
    pub batch_size: usize,
    /// The column set.
    pub profile: Profile,
    /// Vector width of the `vectors` and `vikingdb` profiles (default
    /// [`Profile::default_dim`]).
    pub dim: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rows: 100_000,
            seed: 42,
            batch_size: 8192,
            profile: Profile::All,
            dim: None,
        }
    }
}

impl Config {
    /// Deserializes and validates an option map.
    pub fn from_options(options: &OptionMap) -> Result<Self> {
        let config: Config = options.deserialize(crate::NAME)?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects values the generator cannot honour, naming the option at fault.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(invalid(format!(
                "option `batch_size` must be between 1 and {MAX_BATCH_SIZE}, got {}",
                self.batch_size
            )));
        }
        // Row indices become the non-null Int64 `id` column.
        if self.rows > i64::MAX as u64 {
            return Err(invalid(format!(
                "option `rows` must be at most {}, got {}",
                i64::MAX,
                self.rows
            )));
        }
        match self.dim {
            Some(_) if !self.profile.has_dim() => Err(invalid(format!(
                "option `dim` only applies to profile=vectors and profile=vikingdb, not \
                 profile={}",
                self.profile
            ))),
            Some(dim) if dim == 0 || dim > MAX_DIM => Err(invalid(format!(
                "option `dim` must be between 1 and {MAX_DIM}, got {dim}"
            ))),
            _ => Ok(()),
        }
    }

    /// The vector width of the `vectors` and `vikingdb` profiles.
    pub fn vector_dim(&self) -> usize {
        self.dim.unwrap_or(self.profile.default_dim())
    }
}

fn invalid(message: String) -> Error {
    Error::config(format!("{}: {message}", crate::NAME)).with_context("plugin", crate::NAME)
}

#[cfg(test)]
mod tests {
    use arrowport_core::ErrorKind;

    use super::*;

    fn options(pairs: &[(&str, &str)]) -> OptionMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn empty_options_give_the_defaults() {
        let config = Config::from_options(&OptionMap::new()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(
            (config.rows, config.seed, config.batch_size, config.profile),
            (100_000, 42, 8192, Profile::All)
        );
        assert_eq!(config.vector_dim(), DEFAULT_DIM);
    }

    #[test]
    fn parses_every_option() {
        let config = Config::from_options(&options(&[
            ("rows", "10"),
            ("seed", "7"),
            ("batch_size", "3"),
            ("profile", "vectors"),
            ("dim", "16"),
        ]))
        .unwrap();
        assert_eq!(
            config,
            Config {
                rows: 10,
                seed: 7,
                batch_size: 3,
                profile: Profile::Vectors,
                dim: Some(16)
            }
        );
    }

    #[test]
    fn unknown_options_and_profiles_are_rejected() {
        let err = Config::from_options(&options(&[("seeed", "1")])).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.message(),
            "datagen: unknown option `seeed`; did you mean `seed`?"
        );
        let err = Config::from_options(&options(&[("profile", "wide")])).unwrap_err();
        assert_eq!(
            err.message(),
            "datagen: option `profile`: `wide` is not one of all, narrow, vectors, vikingdb"
        );
    }

    #[test]
    fn validation_names_the_option() {
        let cases = [
            (
                Config {
                    batch_size: 0,
                    ..Config::default()
                },
                "batch_size",
            ),
            (
                Config {
                    batch_size: MAX_BATCH_SIZE + 1,
                    ..Config::default()
                },
                "batch_size",
            ),
            (
                Config {
                    rows: u64::MAX,
                    ..Config::default()
                },
                "rows",
            ),
            (
                Config {
                    profile: Profile::Vectors,
                    dim: Some(0),
                    ..Config::default()
                },
                "dim",
            ),
            (
                Config {
                    profile: Profile::Narrow,
                    dim: Some(8),
                    ..Config::default()
                },
                "dim",
            ),
        ];
        for (config, option) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(
                err.message().contains(&format!("`{option}`")),
                "{}",
                err.message()
            );
        }
        for profile in [Profile::Vectors, Profile::Vikingdb] {
            let ok = Config {
                profile,
                dim: Some(MAX_DIM),
                ..Config::default()
            };
            ok.validate().unwrap();
        }
        let viking = Config {
            profile: Profile::Vikingdb,
            ..Config::default()
        };
        assert_eq!(viking.vector_dim(), VIKINGDB_DEFAULT_DIM);
    }
}
