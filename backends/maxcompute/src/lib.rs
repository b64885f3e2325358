//! arrowport-maxcompute: exports MaxCompute (ODPS) tables over the Table Tunnel.
//!
//! `maxcompute://<project>/<table>` reads the table's schema from the meta API, resolves the
//! `partition` option against the partitions that exist, opens one download session per
//! partition (a snapshot; `download_id=` joins one another process opened), and reads row
//! ranges of them in parallel — Arrow by default, the record format on request — verifying
//! every CRC and every row count, resuming a broken read after its last delivered row.
//!
//! The wire layers are pure and pinned byte for byte to PyODPS by the vectors in
//! `shared/testvectors` (see `shared/protocols/maxcompute-tunnel.md`): [`sign`] (v2/v4),
//! [`crc32c`], [`types`], [`compress`], [`record`], [`arrow_frame`], [`partition`], [`meta`].
#![forbid(unsafe_code)]

pub mod arrow_frame;
mod block_buffers;
pub mod catalog;
pub mod client;
pub mod compress;
mod config;
pub mod crc32c;
mod create;
mod error;
mod mapping;
pub mod meta;
pub mod partition;
mod read;
pub mod record;
mod scope;
pub mod session;
pub mod shared;
pub mod sign;
mod sink;
mod source;
pub mod types;
mod upload;

use arrowport_core::registry::SinkTarget;
use arrowport_core::{Error, ExportSource, Result, Sink, SinkSpec, SourceSpec};

pub use config::{BlockRange, Config, Format, Role, Signature};
pub use sink::MaxComputeSink;
pub use source::{MaxComputeSource, credentials};

/// The plugin's name and URL scheme.
const NAME: &str = "maxcompute";

arrowport_core::register_source!(arrowport_core::SourcePlugin {
    name: NAME,
    description: "A MaxCompute table (or some of its partitions), through Table Tunnel download sessions",
    docs: include_str!("docs.md"),
    options: arrowport_core::options::option_names::<Config>,
    build,
});

arrowport_core::register_sink!(arrowport_core::SinkPlugin {
    name: NAME,
    description: "A MaxCompute table (or partitions), through Table Tunnel upload sessions",
    docs: include_str!("docs.md"),
    extensions: &[],
    schemes: &[NAME],
    default_for: &[],
    options: arrowport_core::options::option_names::<Config>,
    build: build_sink,
});

/// Builds the source from `maxcompute://project/table?options`. Pure: no network, no
/// credentials.
fn build(spec: SourceSpec) -> Result<Box<dyn ExportSource>> {
    let config = Config::from_options(&spec.location, &spec.options)?;
    config.table()?;
    config.check_role(Role::Source)?;
    Ok(Box::new(MaxComputeSource::new(config)))
}

/// Builds the sink for `maxcompute://project/table`; `--overwrite` means `overwrite=true`.
fn build_sink(spec: SinkSpec) -> Result<Box<dyn Sink>> {
    let SinkTarget::Url { location, .. } = &spec.target else {
        return Err(Error::config(format!(
            "{NAME}: the sink is a table URL, `maxcompute://<project>/<table>`"
        )));
    };
    let mut config = Config::from_options(location, &spec.options)?;
    config.table()?;
    config.check_role(Role::Sink)?;
    config.overwrite |= spec.overwrite;
    Ok(Box::new(MaxComputeSink::new(config)))
}
