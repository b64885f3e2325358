//! The one typed configuration of the file source, fed by URL queries, `-o` flags and job
//! files alike (all reduce to an [`OptionMap`]). Parsing and validation are pure: nothing here
//! touches the file system.

use std::fmt;

use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::{Error, OptionMap, Result};
use serde::{Deserialize, Serialize};

use crate::ddl;

/// Largest accepted `batch_size`: batches are built whole in memory, and string offsets are
/// 32-bit.
pub const MAX_BATCH_SIZE: usize = 1 << 22;

/// A file format the source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Parquet,
    /// Arrow IPC file (random access, with a footer).
    Arrow,
    /// Arrow IPC stream.
    Arrows,
    Ndjson,
    Csv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
            Format::Arrows => "arrows",
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
        }
    }

    /// The format a file name's extension names (case-insensitive), if any.
    pub fn from_extension(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        Some(match ext.as_str() {
            "parquet" | "parq" => Format::Parquet,
            "arrow" | "feather" | "ipc" => Format::Arrow,
            "arrows" => Format::Arrows,
            "ndjson" | "jsonl" => Format::Ndjson,
            "csv" => Format::Csv,
            _ => return None,
        })
    }

    /// Text formats have no schema of their own: it is inferred or given with `schema=`.
    pub fn is_text(self) -> bool {
        matches!(self, Format::Ndjson | Format::Csv)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do with a CSV or NDJSON record that does not fit the schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRows {
    /// Fail the export, naming the file and line.
    #[default]
    Error,
    /// Leave the record out, count it, and warn once per split with the count.
    Skip,
}

/// Options of `file://path?…` (or a plain path with `-o key=value`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The format of every file, instead of deciding by extension.
    pub format: Option<Format>,
    /// The columns of CSV and NDJSON files, as a DDL string (`id bigint not null, name
    /// string`), instead of inferring them.
    pub schema: Option<String>,
    /// Records of each CSV or NDJSON file that schema inference reads.
    pub infer_rows: usize,
    /// Rows per batch when the scan does not ask for a size.
    pub batch_size: usize,
    /// Bytes a split aims for: NDJSON (and, with `csv_split`, CSV) files are cut into byte
    /// ranges of this size, small Parquet row groups and IPC batches are grouped up to it.
    pub split_size: u64,
    /// Cut large CSV files into byte ranges at line ends. Only safe when no quoted field
    /// holds a line break.
    pub csv_split: bool,
    /// CSV files start with a header line of column names.
    pub header: bool,
    /// CSV field delimiter: one ASCII character, or `tab`.
    pub delimiter: String,
    /// CSV quote character.
    pub quote: String,
    /// CSV escape character inside quoted fields (default: none; a doubled quote escapes).
    pub escape: Option<String>,
    pub on_bad_rows: BadRows,
    /// Read `key=value` directory names as partition columns.
    pub hive_partitioning: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            format: None,
            schema: None,
            infer_rows: 1000,
            batch_size: 8192,
            split_size: 64 << 20,
            csv_split: false,
            header: true,
            delimiter: ",".into(),
            quote: "\"".into(),
            escape: None,
            on_bad_rows: BadRows::Error,
            hive_partitioning: true,
        }
    }
}

/// The CSV dialect, as bytes: what a CSV split needs to be read again anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Dialect {
    pub header: bool,
    pub delimiter: u8,
    pub quote: u8,
    pub escape: Option<u8>,
}

impl Config {
    /// Deserializes and validates an option map.
    pub fn from_options(options: &OptionMap) -> Result<Self> {
        let config: Config = options.deserialize(crate::NAME)?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects values the reader cannot honour, naming the option at fault.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(invalid(format!(
                "option `batch_size` must be between 1 and {MAX_BATCH_SIZE}, got {}",
                self.batch_size
            )));
        }
        if self.infer_rows == 0 {
            return Err(invalid("option `infer_rows` must be at least 1".into()));
        }
        if self.split_size == 0 {
            return Err(invalid(
                "option `split_size` must be at least 1 byte".into(),
            ));
        }
        if let (Some(_), Some(format)) = (&self.schema, self.format)
            && !format.is_text()
        {
            return Err(invalid(format!(
                "option `schema` applies to csv and ndjson files; {format} files carry their own"
            )));
        }
        self.given_schema()?;
        self.dialect()?;
        Ok(())
    }

    /// The `schema=` option, parsed.
    pub(crate) fn given_schema(&self) -> Result<Option<SchemaRef>> {
        self.schema
            .as_deref()
            .map(|text| ddl::parse(text).map_err(|e| invalid(format!("option `schema`: {e}"))))
            .transpose()
    }

    pub(crate) fn dialect(&self) -> Result<Dialect> {
        let byte = |option: &str, text: &str| -> Result<u8> {
            let text = match text {
                "tab" | "\\t" => "\t",
                t => t,
            };
            match text.as_bytes() {
                [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
                _ => Err(invalid(format!(
                    "option `{option}` must be one ASCII character (or `tab`), got `{text}`"
                ))),
            }
        };
        let dialect = Dialect {
            header: self.header,
            delimiter: byte("delimiter", &self.delimiter)?,
            quote: byte("quote", &self.quote)?,
            escape: self
                .escape
                .as_deref()
                .map(|e| byte("escape", e))
                .transpose()?,
        };
        if dialect.delimiter == dialect.quote {
            return Err(invalid(
                "options `delimiter` and `quote` must differ".to_string(),
            ));
        }
        Ok(dialect)
    }
}

pub(crate) fn invalid(message: String) -> Error {
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
        let d = config.dialect().unwrap();
        assert_eq!(
            (d.delimiter, d.quote, d.escape, d.header),
            (b',', b'"', None, true)
        );
    }

    #[test]
    fn parses_every_option() {
        let config = Config::from_options(&options(&[
            ("format", "csv"),
            ("schema", "id bigint not null, name string"),
            ("infer_rows", "10"),
            ("batch_size", "3"),
            ("split_size", "1024"),
            ("csv_split", "true"),
            ("header", "false"),
            ("delimiter", "tab"),
            ("quote", "'"),
            ("escape", "\\"),
            ("on_bad_rows", "skip"),
            ("hive_partitioning", "false"),
        ]))
        .unwrap();
        assert_eq!(config.format, Some(Format::Csv));
        assert_eq!(config.on_bad_rows, BadRows::Skip);
        assert_eq!(config.given_schema().unwrap().unwrap().fields().len(), 2);
        let d = config.dialect().unwrap();
        assert_eq!(
            (d.delimiter, d.quote, d.escape, d.header),
            (b'\t', b'\'', Some(b'\\'), false)
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        for (pairs, option) in [
            (&[("batch_size", "0")][..], "batch_size"),
            (&[("infer_rows", "0")], "infer_rows"),
            (&[("split_size", "0")], "split_size"),
            (&[("delimiter", ";;")], "delimiter"),
            (&[("quote", "")], "quote"),
            (&[("escape", "é")], "escape"),
            (&[("schema", "id bigint,")], "schema"),
            (&[("schema", "id bigint"), ("format", "parquet")], "schema"),
            (&[("format", "xlsx")], "format"),
            (&[("formta", "csv")], "formta"),
        ] {
            let err = Config::from_options(&options(pairs)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config);
            assert!(err.message().contains(&format!("`{option}`")), "{err}");
        }
    }

    #[test]
    fn extensions_pick_formats() {
        assert_eq!(Format::from_extension("a/b.PARQUET"), Some(Format::Parquet));
        assert_eq!(Format::from_extension("x.jsonl"), Some(Format::Ndjson));
        assert_eq!(Format::from_extension("x.arrows"), Some(Format::Arrows));
        assert_eq!(Format::from_extension("x.json"), None);
        assert_eq!(Format::from_extension("README"), None);
    }
}
