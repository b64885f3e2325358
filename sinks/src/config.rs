//! The one typed configuration of every format sink, and the check that each given option
//! applies to the chosen format and destination.
//!
//! Options are `Option`s so that validation can tell "given" from "defaulted": an option that
//! does not apply (a parquet codec for a CSV file, rotation for a single file) is a
//! configuration error rather than silently ignored.

use arrowport_core::{Error, Result, SinkTarget};
use serde::Deserialize;

use crate::format::Format;

/// Rows per parquet row group when not configured; pyarrow's default.
pub(crate) const DEFAULT_ROW_GROUP_SIZE: usize = 1_048_576;
/// Partition writers kept open at once when not configured.
pub(crate) const DEFAULT_MAX_OPEN_FILES: usize = 64;
/// Output bytes between the durable points of a resumable text or Arrow file when
/// not configured: each costs an fsync, and a resume redoes at most this much.
pub(crate) const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;

/// Options of the format sinks (`-o key=value`, URL query, job file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Parquet codec: `zstd` (default), `snappy`, `lz4`, `gzip` or `none`.
    pub compression: Option<Compression>,
    /// Parquet codec level: zstd 1–22 (default 1), gzip 0–9 (default 6).
    pub compression_level: Option<i32>,
    /// Rows per parquet row group (default 1 048 576, as pyarrow).
    pub row_group_size: Option<usize>,
    /// Whether parquet gets min/max/null-count statistics per column chunk, as pyarrow writes
    /// them (default true).
    pub statistics: Option<bool>,
    /// Directory output: start a new part file after this many rows.
    pub max_rows_per_file: Option<u64>,
    /// Directory output: start a new part file once a file reaches this many bytes.
    pub max_bytes_per_file: Option<u64>,
    /// Directory output: hive-style `col=value/` subdirectories by these columns.
    pub partition_by: Vec<String>,
    /// Directory output: partition files open at once (default 64).
    pub max_open_files: Option<usize>,
    /// CSV field delimiter: one ASCII character, or `tab` (default `,`).
    pub delimiter: Option<String>,
    /// CSV: write a header line (default true).
    pub header: Option<bool>,
    /// With `--resume`: output bytes between durable points of an NDJSON, JSON, CSV or
    /// Arrow file (default 64 MiB). Parquet's durable points are its row groups.
    pub checkpoint_bytes: Option<u64>,
}

/// A parquet compression codec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Zstd,
    Snappy,
    /// LZ4 in the `LZ4_RAW` framing, as pyarrow writes it.
    Lz4,
    Gzip,
    None,
}

/// Encoder settings after defaults and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WriterOptions {
    pub compression: Compression,
    pub compression_level: Option<i32>,
    pub row_group_size: usize,
    pub statistics: bool,
    pub delimiter: u8,
    pub header: bool,
    pub checkpoint_bytes: u64,
    /// Set by resumable writes: parquet syncs each row group and reports it as a durable
    /// point (see `FormatWriter::durable`).
    pub durable_points: bool,
}

/// Directory layout settings after defaults and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LayoutOptions {
    pub max_rows_per_file: Option<u64>,
    pub max_bytes_per_file: Option<u64>,
    pub partition_by: Vec<String>,
    pub max_open_files: usize,
}

/// Everything a [`crate::FileSink`] needs from its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Settings {
    pub writer: WriterOptions,
    pub layout: LayoutOptions,
}

impl Config {
    /// Checks that every given option applies to `format` writing to `target`, and that values
    /// are in range, and fills in the defaults.
    pub(crate) fn validate(&self, format: Format, target: &SinkTarget) -> Result<Settings> {
        let fail =
            |message: String| Err(Error::config(message).with_context("plugin", format.name()));
        let given = |name: &'static str, set: bool| set.then_some(name);

        let parquet_only = [
            given("compression", self.compression.is_some()),
            given("compression_level", self.compression_level.is_some()),
            given("row_group_size", self.row_group_size.is_some()),
            given("statistics", self.statistics.is_some()),
        ];
        if format != Format::Parquet
            && let Some(name) = parquet_only.into_iter().flatten().next()
        {
            return fail(format!(
                "`{name}` applies only to parquet, not {}",
                format.name()
            ));
        }
        let csv_only = [
            given("delimiter", self.delimiter.is_some()),
            given("header", self.header.is_some()),
        ];
        if format != Format::Csv
            && let Some(name) = csv_only.into_iter().flatten().next()
        {
            return fail(format!(
                "`{name}` applies only to csv, not {}",
                format.name()
            ));
        }
        let directory_only = [
            given("partition_by", !self.partition_by.is_empty()),
            given("max_rows_per_file", self.max_rows_per_file.is_some()),
            given("max_bytes_per_file", self.max_bytes_per_file.is_some()),
            given("max_open_files", self.max_open_files.is_some()),
        ];
        if matches!(target, SinkTarget::Stdout) && self.checkpoint_bytes.is_some() {
            return fail(
                "`checkpoint_bytes` applies to resumable file and directory outputs, not to \
                 standard output"
                    .into(),
            );
        }
        if !matches!(target, SinkTarget::Directory(_))
            && let Some(name) = directory_only.into_iter().flatten().next()
        {
            return fail(format!(
                "`{name}` needs a directory output ending in / (the output is {target})"
            ));
        }

        for (name, value) in [
            ("row_group_size", self.row_group_size.map(|v| v as u64)),
            ("max_rows_per_file", self.max_rows_per_file),
            ("max_bytes_per_file", self.max_bytes_per_file),
            ("max_open_files", self.max_open_files.map(|v| v as u64)),
            ("checkpoint_bytes", self.checkpoint_bytes),
        ] {
            if value == Some(0) {
                return fail(format!("`{name}` must be at least 1"));
            }
        }

        let compression = self.compression.unwrap_or_default();
        if let Some(level) = self.compression_level {
            let range = match compression {
                Compression::Zstd => 1..=22,
                Compression::Gzip => 0..=9,
                other => {
                    return fail(format!(
                        "`compression_level` does not apply to {} compression; it sets the level \
                         of zstd (1-22) or gzip (0-9)",
                        compression_name(other)
                    ));
                }
            };
            if !range.contains(&level) {
                return fail(format!(
                    "`compression_level` {level} is out of range for {}: use {}-{}",
                    compression_name(compression),
                    range.start(),
                    range.end()
                ));
            }
        }

        let mut partition_by: Vec<String> = Vec::with_capacity(self.partition_by.len());
        for column in &self.partition_by {
            if partition_by.contains(column) {
                return fail(format!("`partition_by` names column `{column}` twice"));
            }
            partition_by.push(column.clone());
        }

        let delimiter = match self.delimiter.as_deref() {
            None => b',',
            Some(text) => match parse_delimiter(text) {
                Some(d) => d,
                None => {
                    return fail(format!(
                        "`delimiter` must be one ASCII character other than a quote or line \
                         break, or `tab`; got `{text}`"
                    ));
                }
            },
        };

        Ok(Settings {
            writer: WriterOptions {
                compression,
                compression_level: self.compression_level,
                row_group_size: self.row_group_size.unwrap_or(DEFAULT_ROW_GROUP_SIZE),
                statistics: self.statistics.unwrap_or(true),
                delimiter,
                header: self.header.unwrap_or(true),
                checkpoint_bytes: self.checkpoint_bytes.unwrap_or(DEFAULT_CHECKPOINT_BYTES),
                durable_points: false,
            },
            layout: LayoutOptions {
                max_rows_per_file: self.max_rows_per_file,
                max_bytes_per_file: self.max_bytes_per_file,
                partition_by,
                max_open_files: self.max_open_files.unwrap_or(DEFAULT_MAX_OPEN_FILES),
            },
        })
    }
}

fn compression_name(c: Compression) -> &'static str {
    match c {
        Compression::Zstd => "zstd",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Gzip => "gzip",
        Compression::None => "no",
    }
}

/// A CSV delimiter: one ASCII byte that cannot be confused with quoting or line structure.
fn parse_delimiter(text: &str) -> Option<u8> {
    if text == "tab" || text == "\\t" {
        return Some(b'\t');
    }
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_ascii() && !matches!(c, '"' | '\n' | '\r') => Some(c as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use arrowport_core::{ErrorKind, OptionMap};

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config> {
        let map: OptionMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        map.deserialize("test")
    }

    fn file() -> SinkTarget {
        SinkTarget::File(PathBuf::from("out.x"))
    }

    fn dir() -> SinkTarget {
        SinkTarget::Directory(PathBuf::from("out"))
    }

    fn message(r: Result<Settings>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        e.message().to_string()
    }

    #[test]
    fn defaults_follow_pyarrow() {
        let s = config(&[])
            .unwrap()
            .validate(Format::Parquet, &file())
            .unwrap();
        assert_eq!(s.writer.compression, Compression::Zstd);
        assert_eq!(s.writer.row_group_size, 1_048_576);
        assert!(s.writer.statistics);
        assert_eq!(s.layout.max_open_files, 64);
    }

    #[test]
    fn parses_every_option() {
        let c = config(&[
            ("compression", "gzip"),
            ("compression_level", "9"),
            ("row_group_size", "1000"),
            ("statistics", "false"),
            ("max_rows_per_file", "10"),
            ("max_bytes_per_file", "2048"),
            ("partition_by", "a,b"),
            ("max_open_files", "3"),
        ])
        .unwrap();
        let s = c.validate(Format::Parquet, &dir()).unwrap();
        assert_eq!(s.writer.compression, Compression::Gzip);
        assert_eq!(s.writer.compression_level, Some(9));
        assert_eq!(s.layout.partition_by, ["a", "b"]);
        let csv = config(&[("delimiter", "tab"), ("header", "false")]).unwrap();
        let s = csv.validate(Format::Csv, &file()).unwrap();
        assert_eq!((s.writer.delimiter, s.writer.header), (b'\t', false));
    }

    #[test]
    fn rejects_options_of_other_formats_and_destinations() {
        let c = config(&[("row_group_size", "5")]).unwrap();
        assert_eq!(
            message(c.validate(Format::Csv, &file())),
            "`row_group_size` applies only to parquet, not csv"
        );
        let c = config(&[("delimiter", ";")]).unwrap();
        assert!(message(c.validate(Format::Parquet, &file())).contains("applies only to csv"));
        let c = config(&[("partition_by", "a")]).unwrap();
        assert!(
            message(c.validate(Format::Parquet, &file()))
                .starts_with("`partition_by` needs a directory output ending in /")
        );
        let c = config(&[("max_rows_per_file", "5")]).unwrap();
        assert!(message(c.validate(Format::Ndjson, &SinkTarget::Stdout)).contains("directory"));
    }

    #[test]
    fn rejects_bad_values() {
        let c = config(&[("compression", "snappy"), ("compression_level", "3")]).unwrap();
        assert!(message(c.validate(Format::Parquet, &file())).contains("does not apply to snappy"));
        let c = config(&[("compression_level", "30")]).unwrap();
        assert!(message(c.validate(Format::Parquet, &file())).contains("out of range for zstd"));
        let c = config(&[("max_rows_per_file", "0")]).unwrap();
        assert!(message(c.validate(Format::Parquet, &dir())).contains("at least 1"));
        let c = config(&[("delimiter", "ab")]).unwrap();
        assert!(message(c.validate(Format::Csv, &file())).contains("one ASCII character"));
        let c = config(&[("partition_by", "a,a")]).unwrap();
        assert!(message(c.validate(Format::Csv, &dir())).contains("twice"));
        assert!(config(&[("compression", "brotli")]).is_err());
        assert!(
            config(&[("row_group", "5")])
                .unwrap_err()
                .message()
                .contains("row_group_size")
        );
    }
}
