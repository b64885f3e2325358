//! The profiles (which columns, of which kinds) and the generator that turns any row range of a
//! projected profile into a record batch. Generation is a pure function of the config and the
//! row range, so batches can be made in any order, on any thread, and still agree.

mod columns;
mod hash;
mod text;

use std::sync::Arc;

use arrow::array::{RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Schema, SchemaRef, TimeUnit};
use arrowport_core::{Error, Result};

use self::columns::{ColumnSpec, Kind};
use self::text::{AWKWARD, CATEGORIES, SOURCES, TAGS, WORDS};
use crate::config::{Config, MAX_BATCH_SIZE, MAX_DIM, Profile};

/// Width of the `embedding` column of the `all` profile.
const ALL_EMBEDDING_DIM: usize = 128;

const ID: ColumnSpec = ColumnSpec::new("id", Kind::Id);

/// `category` means the same 16 labels (and, keyed by name, the same values) in every profile.
const CATEGORY: ColumnSpec = ColumnSpec::new(
    "category",
    Kind::Words {
        table: CATEGORIES,
        min: 1,
        max: 1,
    },
);

const FLAG: ColumnSpec = ColumnSpec::new("flag", Kind::Boolean);

/// Children of the `meta` struct of the `all` profile.
const META: &[ColumnSpec] = &[
    ColumnSpec::new(
        "source",
        Kind::Words {
            table: SOURCES,
            min: 1,
            max: 1,
        },
    ),
    ColumnSpec::new("score", Kind::Float64 { lo: 0.0, hi: 1.0 }),
    ColumnSpec::new(
        "tags",
        Kind::ListWords {
            table: TAGS,
            max: 4,
        },
    ),
];

/// One column per Arrow type arrowport maps.
const ALL: &[ColumnSpec] = &[
    ID,
    ColumnSpec::new("int8", Kind::Int8),
    ColumnSpec::new("int16", Kind::Int16),
    ColumnSpec::new("int32", Kind::Int32),
    ColumnSpec::new("uint64", Kind::UInt64),
    ColumnSpec::new(
        "float32",
        Kind::Float32 {
            lo: -1000.0,
            hi: 1000.0,
        },
    ),
    ColumnSpec::new(
        "float64",
        Kind::Float64 {
            lo: -1.0e6,
            hi: 1.0e6,
        },
    ),
    FLAG,
    ColumnSpec::new(
        "text",
        Kind::Words {
            table: AWKWARD,
            min: 0,
            max: 2,
        },
    ),
    CATEGORY,
    ColumnSpec::new("binary", Kind::Binary),
    ColumnSpec::new("date", Kind::Date32),
    ColumnSpec::new("ts_ms", Kind::Timestamp(TimeUnit::Millisecond, None)),
    ColumnSpec::new(
        "ts_us_utc",
        Kind::Timestamp(TimeUnit::Microsecond, Some("UTC")),
    ),
    ColumnSpec::new(
        "ts_ns_shanghai",
        Kind::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai")),
    ),
    ColumnSpec::new("ts_ns", Kind::Timestamp(TimeUnit::Nanosecond, None)),
    ColumnSpec::new("decimal", Kind::Decimal),
    ColumnSpec::new("list_int64", Kind::ListInt64),
    ColumnSpec::new(
        "list_utf8",
        Kind::ListWords {
            table: TAGS,
            max: 4,
        },
    ),
    ColumnSpec::new(
        "embedding",
        Kind::Vector {
            dim: ALL_EMBEDDING_DIM,
            nullable: true,
        },
    ),
    ColumnSpec::new("sparse", Kind::Sparse),
    ColumnSpec::new("meta", Kind::Struct(META)),
];

/// A few cheap scalar columns for benchmarks.
const NARROW: &[ColumnSpec] = &[
    ID,
    ColumnSpec::new(
        "value",
        Kind::Float64 {
            lo: 0.0,
            hi: 1000.0,
        },
    ),
    CATEGORY,
    ColumnSpec::new("ts", Kind::Timestamp(TimeUnit::Microsecond, None)),
    FLAG,
];

/// The columns of a profile; `dim` is the vector width of the `vectors` and `vikingdb`
/// profiles.
fn columns(profile: Profile, dim: usize) -> Vec<ColumnSpec> {
    match profile {
        Profile::All => ALL.to_vec(),
        Profile::Narrow => NARROW.to_vec(),
        Profile::Vectors => vec![
            ID,
            ColumnSpec::new(
                "text",
                Kind::Words {
                    table: WORDS,
                    min: 4,
                    max: 12,
                },
            ),
            ColumnSpec::new(
                "vector",
                Kind::Vector {
                    dim,
                    nullable: false,
                },
            ),
        ],
        Profile::Vikingdb => vikingdb(dim),
    }
}

/// A VikingDB collection: one column per VikingDB field type (`body` is the `text` one).
/// VikingDB stores defaults, never nulls, so no column holds a null at any level.
fn vikingdb(dim: usize) -> Vec<ColumnSpec> {
    vec![
        ID,
        ColumnSpec::new(
            "title",
            Kind::Words {
                table: WORDS,
                min: 1,
                max: 4,
            },
        )
        .required(),
        // Awkward text: quotes, newlines and tabs that the JSON export must escape.
        ColumnSpec::new(
            "body",
            Kind::Words {
                table: AWKWARD,
                min: 1,
                max: 3,
            },
        )
        .required(),
        CATEGORY.required(),
        ColumnSpec::new("score", Kind::Float32 { lo: 0.0, hi: 1.0 }).required(),
        FLAG.required(),
        ColumnSpec::new(
            "tags",
            Kind::ListWords {
                table: TAGS,
                max: 4,
            },
        )
        .required(),
        ColumnSpec::new("codes", Kind::ListInt64).required(),
        ColumnSpec::new(
            "vector",
            Kind::Vector {
                dim,
                nullable: false,
            },
        ),
        ColumnSpec::new("sparse", Kind::Sparse).required(),
    ]
}

/// The schema of a profile. `dim` is the vector width of the `vectors` and `vikingdb` profiles
/// (default [`Profile::default_dim`], clamped to `1..=65536` as [`Config::validate`] requires)
/// and is ignored by the others.
pub fn schema_of(profile: Profile, dim: Option<usize>) -> SchemaRef {
    let dim = dim.unwrap_or(profile.default_dim()).clamp(1, MAX_DIM);
    Arc::new(Schema::new(
        columns(profile, dim)
            .iter()
            .map(ColumnSpec::field)
            .collect::<Vec<_>>(),
    ))
}

/// Rows `start_row..start_row + len` of `config`'s profile, restricted to the columns at
/// `projection` (indices into [`schema_of`], in the order given).
///
/// Every cell depends only on the seed, the column name and the row index, so any split of a
/// row range into calls gives the same data. Rows past `config.rows` are generated too: the
/// caller decides where the table ends.
pub fn generate_batch(
    config: &Config,
    start_row: u64,
    len: usize,
    projection: Option<&[usize]>,
) -> Result<RecordBatch> {
    Generator::new(config, projection)?.batch(start_row, len)
}

/// A validated, projected profile, ready to generate any row range.
#[derive(Debug)]
pub(crate) struct Generator {
    schema: SchemaRef,
    /// Each column with its key (derived from the seed and its name).
    columns: Vec<(ColumnSpec, u64)>,
}

impl Generator {
    pub(crate) fn new(config: &Config, projection: Option<&[usize]>) -> Result<Self> {
        config.validate()?;
        let all = columns(config.profile, config.vector_dim());
        let picked = match projection {
            None => all,
            Some(indices) => indices
                .iter()
                .map(|&i| {
                    all.get(i).copied().ok_or_else(|| {
                        Error::config(format!(
                            "{}: column index {i} is out of range: profile {} has {} columns",
                            crate::NAME,
                            config.profile,
                            all.len()
                        ))
                    })
                })
                .collect::<Result<_>>()?,
        };
        let schema = Arc::new(Schema::new(
            picked.iter().map(ColumnSpec::field).collect::<Vec<_>>(),
        ));
        let columns = picked
            .into_iter()
            .map(|c| (c, hash::column_key(config.seed, c.name)))
            .collect();
        Ok(Generator { schema, columns })
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub(crate) fn batch(&self, start: u64, len: usize) -> Result<RecordBatch> {
        if len > MAX_BATCH_SIZE {
            return Err(Error::config(format!(
                "{}: a batch of {len} rows is more than the {MAX_BATCH_SIZE} allowed",
                crate::NAME
            )));
        }
        // Row indices are the Int64 `id` column.
        if start
            .checked_add(len as u64)
            .is_none_or(|end| end > i64::MAX as u64)
        {
            return Err(Error::config(format!(
                "{}: rows {start}..+{len} go past the last row index an Int64 id can hold",
                crate::NAME
            )));
        }
        let arrays = self
            .columns
            .iter()
            .map(|(spec, key)| columns::array(spec, *key, start, len, None))
            .collect::<Result<Vec<_>>>()?;
        // The row count matters for an empty projection, which has no column to carry it.
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &options,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Array;
    use arrow::compute::concat_batches;
    use arrow::datatypes::DataType;

    use super::*;

    fn config(profile: Profile) -> Config {
        Config {
            rows: 1000,
            profile,
            ..Config::default()
        }
    }

    #[test]
    fn batches_do_not_depend_on_how_rows_are_cut() {
        for profile in [
            Profile::All,
            Profile::Narrow,
            Profile::Vectors,
            Profile::Vikingdb,
        ] {
            let cfg = config(profile);
            let whole = generate_batch(&cfg, 0, 1000, None).unwrap();
            let parts: Vec<_> = [(0, 1), (1, 332), (333, 600), (933, 67)]
                .into_iter()
                .map(|(s, n)| generate_batch(&cfg, s, n, None).unwrap())
                .collect();
            assert_eq!(
                concat_batches(&whole.schema(), &parts).unwrap(),
                whole,
                "{profile}"
            );
        }
    }

    #[test]
    fn seeds_change_values_but_not_ids() {
        let a = generate_batch(&config(Profile::Narrow), 0, 100, None).unwrap();
        let b = generate_batch(
            &Config {
                seed: 7,
                ..config(Profile::Narrow)
            },
            0,
            100,
            None,
        )
        .unwrap();
        assert_eq!(a.column(0), b.column(0));
        assert_ne!(a.column(1), b.column(1));
    }

    #[test]
    fn projection_picks_and_orders_without_changing_values() {
        let cfg = config(Profile::All);
        let full = generate_batch(&cfg, 10, 50, None).unwrap();
        let some = generate_batch(&cfg, 10, 50, Some(&[21, 0, 8])).unwrap();
        let names: Vec<_> = some
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["meta", "id", "text"]);
        assert_eq!(some.column(0), full.column(21));
        assert_eq!(some.column(2), full.column(8));
        let none = generate_batch(&cfg, 0, 5, Some(&[])).unwrap();
        assert_eq!((none.num_columns(), none.num_rows()), (0, 5));
        assert!(generate_batch(&cfg, 0, 5, Some(&[99])).is_err());
    }

    #[test]
    fn shared_columns_agree_across_profiles() {
        let all = generate_batch(&config(Profile::All), 0, 200, None).unwrap();
        let narrow = generate_batch(&config(Profile::Narrow), 0, 200, None).unwrap();
        for name in ["id", "category", "flag"] {
            assert_eq!(
                all.column_by_name(name),
                narrow.column_by_name(name),
                "{name}"
            );
        }
        // Required columns fill the nullable ones' nulls and keep their values.
        let viking = generate_batch(&config(Profile::Vikingdb), 0, 200, None).unwrap();
        for name in ["id", "category", "flag"] {
            let (nullable, required) = (
                all.column_by_name(name).unwrap(),
                viking.column_by_name(name).unwrap(),
            );
            assert_eq!(required.null_count(), 0);
            for i in (0..200).filter(|&i| nullable.is_valid(i)) {
                assert_eq!(
                    nullable.slice(i, 1).to_data(),
                    required.slice(i, 1).to_data(),
                    "{name} {i}"
                );
            }
        }
    }

    #[test]
    fn vector_width_follows_dim() {
        let cfg = Config {
            profile: Profile::Vectors,
            dim: Some(7),
            ..config(Profile::Vectors)
        };
        let batch = generate_batch(&cfg, 0, 3, None).unwrap();
        assert!(matches!(
            batch.schema().field(2).data_type(),
            DataType::FixedSizeList(_, 7)
        ));
        assert_eq!(batch.schema(), schema_of(Profile::Vectors, Some(7)));
    }

    #[test]
    fn out_of_range_rows_are_errors_not_panics() {
        let cfg = config(Profile::Narrow);
        assert!(generate_batch(&cfg, i64::MAX as u64 - 1, 2, None).is_err());
        assert!(generate_batch(&cfg, u64::MAX, 1, None).is_err());
        assert!(generate_batch(&cfg, 0, MAX_BATCH_SIZE + 1, None).is_err());
        let last = generate_batch(&cfg, i64::MAX as u64 - 1, 1, Some(&[0])).unwrap();
        assert_eq!(last.num_rows(), 1);
    }
}
