//! `_manifest.json`: the last file written into a directory output. It lists every data file
//! with its rows, bytes, SHA-256 and partition values, the totals, the schema (including the
//! partition columns that the data files omit), and what the source recorded about the
//! snapshot it exported, so that a reader can verify and trace the output.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use arrowport_core::arrow::datatypes::Schema;
use arrowport_core::{Error, Result};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::format::Format;

/// The manifest's file name inside a directory output.
pub(crate) const MANIFEST: &str = "_manifest.json";

/// One data file, as listed in the manifest (and in a resume journal's checkpoints).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ManifestFile {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
    /// The raw (unescaped) value of each partition column, `None` for null.
    pub partition: Vec<Option<String>>,
}

#[derive(Serialize)]
struct Document<'a> {
    version: u32,
    created_by: &'static str,
    format: &'static str,
    rows: u64,
    bytes: u64,
    partition_by: &'a [String],
    schema: Vec<FieldEntry<'a>>,
    files: Vec<FileEntry<'a>>,
    source: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct FieldEntry<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    data_type: String,
    nullable: bool,
    nested: bool,
}

#[derive(Serialize)]
struct FileEntry<'a> {
    path: &'a str,
    rows: u64,
    bytes: u64,
    sha256: &'a str,
    partition: Partition<'a>,
}

/// Partition values as a JSON object in `partition_by` order.
struct Partition<'a> {
    names: &'a [String],
    values: &'a [Option<String>],
}

impl Serialize for Partition<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.names.len()))?;
        for (name, value) in self.names.iter().zip(self.values) {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// Writes and fsyncs the manifest at `path`.
pub(crate) fn write(
    path: &Path,
    format: Format,
    schema: &Schema,
    partition_by: &[String],
    files: &[ManifestFile],
    source: BTreeMap<String, serde_json::Value>,
) -> Result<()> {
    let doc = Document {
        version: 1,
        created_by: concat!("arrowport-sinks ", env!("CARGO_PKG_VERSION")),
        format: format.name(),
        rows: files.iter().map(|f| f.rows).sum(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        partition_by,
        schema: schema
            .fields()
            .iter()
            .map(|f| FieldEntry {
                name: f.name(),
                data_type: f.data_type().to_string(),
                nullable: f.is_nullable(),
                nested: f.data_type().is_nested(),
            })
            .collect(),
        files: files
            .iter()
            .map(|f| FileEntry {
                path: &f.path,
                rows: f.rows,
                bytes: f.bytes,
                sha256: &f.sha256,
                partition: Partition {
                    names: partition_by,
                    values: &f.partition,
                },
            })
            .collect(),
        source,
    };
    let fail = |e: std::io::Error| Error::io(format!("cannot write `{}`", path.display()), e);
    let file = File::create(path).map_err(fail)?;
    let mut out = BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, &doc).map_err(|e| fail(e.into()))?;
    out.write_all(b"\n").map_err(fail)?;
    let file = out.into_inner().map_err(|e| fail(e.into_error()))?;
    file.sync_all().map_err(fail)
}
