//! arrowport-datagen: a deterministic, seeded synthetic source.
//!
//! `datagen://?rows=N&seed=S&batch_size=B&profile=all|narrow|vectors|vikingdb` generates a table whose
//! every cell is a pure function of (seed, column name, row index). The same URL therefore gives
//! the same data whatever the batch size, split count or parallelism, which is what demos,
//! conformance tests and benchmarks need. The `all` profile covers every Arrow type arrowport
//! maps (nulls, unicode, decimals, timestamps with and without timezone, lists, maps, structs,
//! vectors); `narrow` is a fast benchmark table; `vectors` looks like a vector collection;
//! `vikingdb` has one non-null column per VikingDB field type (the testkit's emulated collection).
#![forbid(unsafe_code)]

mod config;
mod generate;
mod source;

use arrowport_core::{Error, ExportSource, Result, SourceSpec};

pub use config::{Config, DEFAULT_DIM, MAX_BATCH_SIZE, MAX_DIM, Profile, VIKINGDB_DEFAULT_DIM};
pub use generate::{generate_batch, schema_of};
pub use source::DatagenSource;

/// The plugin's name and URL scheme.
const NAME: &str = "datagen";

arrowport_core::register_source!(arrowport_core::SourcePlugin {
    name: NAME,
    description: "Deterministic seeded synthetic data: every mapped Arrow type, or a fast narrow \
                  table, or vectors, or a VikingDB collection",
    docs: include_str!("docs.md"),
    options: arrowport_core::options::option_names::<Config>,
    build,
});

/// Builds the source from `datagen://?options`. Pure: parses and validates, generates nothing.
fn build(spec: SourceSpec) -> Result<Box<dyn ExportSource>> {
    if !spec.location.is_empty() {
        return Err(Error::config(format!(
            "{NAME}: the URL takes no location (got `{}`); pass everything as options, for \
             example `datagen://?profile=narrow&rows=1000`",
            spec.location
        ))
        .with_context("plugin", NAME));
    }
    Ok(Box::new(DatagenSource::new(Config::from_options(
        &spec.options,
    )?)))
}
