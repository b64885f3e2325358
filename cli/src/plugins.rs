//! The plugins this binary links. A crate that is not referenced is not linked, and its
//! `inventory::submit!` would silently never run: one line per plugin, on purpose.

use arrowport_datagen as _;
use arrowport_files as _;
use arrowport_maxcompute as _;
use arrowport_sinks as _;
use arrowport_vikingdb as _;

#[cfg(test)]
mod tests {
    use arrowport_core::registry::{sink_plugins, source_plugins};

    #[test]
    fn registered_plugin_set() {
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
