//! The built-in plugins. A crate that is not referenced is not linked, and its
//! `inventory::submit!` would silently never run: a front end (the CLI, the Flight server,
//! the Python module) calls [`link`] once, and this crate names each plugin on purpose.

use arrowport_datagen as _;
use arrowport_files as _;
use arrowport_maxcompute as _;
use arrowport_sinks as _;
use arrowport_vikingdb as _;

/// Makes sure the built-in plugins are linked into the calling binary. Registration itself
/// happens before `main`; this only gives the linker a reason to keep them.
pub fn link() {}

#[cfg(test)]
mod tests {
    use arrowport_core::registry::{sink_plugins, source_plugins};

    #[test]
    fn registered_plugin_set() {
        super::link();
        let sources: Vec<_> = source_plugins().iter().map(|p| p.name).collect();
        assert_eq!(sources, ["datagen", "file", "maxcompute", "vikingdb"]);
        let sinks: Vec<_> = sink_plugins().iter().map(|p| p.name).collect();
        assert_eq!(
            sinks,
            [
                "arrow",
                "arrows",
                "csv",
                "json",
                "maxcompute",
                "ndjson",
                "parquet"
            ]
        );
    }
}
