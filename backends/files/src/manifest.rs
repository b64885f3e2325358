//! An arrowport output directory, read as its `_manifest.json` says (arrowport-sinks writes
//! it last): exactly the files it lists, in its order, each read whole and checked against
//! the manifest's row count and SHA-256 while it is read; partition columns typed and placed
//! as the manifest's schema records them.

use std::collections::HashSet;
use std::fs::File;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::{DataType, Field, Schema};
use arrowport_core::{Error, ErrorKind, Result};
use serde::Deserialize;

use crate::NAME;
use crate::config::{Config, Format};
use crate::error;
use crate::location::{Found, Location, Root, mtime_ns};
use crate::read::{ipc, parquet};
use crate::table::{Layout, Table, TableFile, portable_fields};
use crate::token::Verify;
use crate::unify::Unifier;

/// The manifest's file name inside a directory output.
pub(crate) const MANIFEST: &str = "_manifest.json";

/// The parts of the manifest a reader needs; other keys are ignored, so that a later
/// writer's additions do not break this reader.
#[derive(Debug, Deserialize)]
struct Document {
    version: u32,
    format: String,
    #[serde(default)]
    partition_by: Vec<String>,
    schema: Vec<SchemaEntry>,
    files: Vec<FileEntry>,
}

#[derive(Debug, Deserialize)]
struct SchemaEntry {
    name: String,
    #[serde(rename = "type")]
    data_type: String,
    nullable: bool,
}

#[derive(Debug, Deserialize)]
struct FileEntry {
    path: String,
    rows: u64,
    bytes: u64,
    sha256: String,
    #[serde(default)]
    partition: serde_json::Map<String, serde_json::Value>,
}

/// Resolves a directory with a manifest.
pub(crate) fn resolve(base: PathBuf, config: &Config) -> Result<Table> {
    let bad = |why: String| error::integrity(MANIFEST, why);
    let text = std::fs::read(base.join(MANIFEST)).map_err(|e| error::io("read", MANIFEST, e))?;
    let doc: Document = serde_json::from_slice(&text)
        .map_err(|e| bad(format!("is not a manifest arrowport can read: {e}")))?;
    if doc.version != 1 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{NAME}: `{MANIFEST}` has layout version {}; this arrowport reads version 1",
                doc.version
            ),
        ));
    }
    let format = match config.format {
        Some(f) => f,
        None => match doc.format.as_str() {
            "parquet" => Format::Parquet,
            "arrow" => Format::Arrow,
            "arrows" => Format::Arrows,
            "ndjson" => Format::Ndjson,
            "csv" => Format::Csv,
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "{NAME}: the directory holds {other} files, which this source does not \
                         read (parquet, arrow, arrows, ndjson and csv it does)"
                    ),
                ));
            }
        },
    };
    let columns = doc
        .schema
        .iter()
        .map(|e| {
            let ty = DataType::from_str(&e.data_type).map_err(|err| {
                bad(format!(
                    "column `{}` has a type `{}` that does not parse: {err}",
                    e.name, e.data_type
                ))
            })?;
            Ok(Field::new(&e.name, ty, e.nullable))
        })
        .collect::<Result<Vec<_>>>()?;
    for p in &doc.partition_by {
        if !columns.iter().any(|c| c.name() == p) {
            return Err(bad(format!("partition column `{p}` is not in its schema")));
        }
    }
    let data: Vec<Field> = columns
        .iter()
        .filter(|c| !doc.partition_by.contains(c.name()))
        .cloned()
        .collect();
    let data_schema = Schema::new(data.clone());
    let names: Vec<String> = data.iter().map(|f| f.name().clone()).collect();

    let location = Location::Path(base.clone());
    let mut seen = HashSet::new();
    let mut unifier = Unifier::default();
    let mut files = Vec::with_capacity(doc.files.len());
    for entry in doc.files {
        if !location.admits(&Root::Directory, &entry.path) || !seen.insert(entry.path.clone()) {
            return Err(bad(format!(
                "lists `{}`, which is not a data file of the directory (or is listed twice)",
                entry.path
            )));
        }
        let shown = entry.path.clone();
        let file = File::open(base.join(&entry.path)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                error::integrity(&shown, "is listed in the manifest but missing")
            }
            _ => error::io("open", &shown, e),
        })?;
        let meta = file.metadata().map_err(|e| error::io("open", &shown, e))?;
        if meta.len() != entry.bytes {
            return Err(error::integrity(
                &shown,
                format!(
                    "is {} bytes, but the manifest records {}",
                    meta.len(),
                    entry.bytes
                ),
            ));
        }
        let (schema, layout) = match format {
            Format::Parquet => {
                let footer = parquet::footer(&file, &shown)?;
                check_rows(
                    &shown,
                    footer.row_groups.iter().map(|(r, _)| r).sum(),
                    entry.rows,
                )?;
                (footer.schema.clone(), Layout::RowGroups(footer.row_groups))
            }
            Format::Arrow => {
                let (schema, batches) = ipc::file_footer(&file, &shown)?;
                check_rows(&shown, batches.iter().map(|(r, _)| r).sum(), entry.rows)?;
                (schema, Layout::Batches(batches))
            }
            Format::Arrows => (ipc::stream_schema(&file, &shown)?, Layout::Stream),
            Format::Csv | Format::Ndjson => (Arc::new(data_schema.clone()), Layout::Text),
        };
        unifier.add(&shown, &schema, false, false)?;
        let partition = doc
            .partition_by
            .iter()
            .map(|p| match entry.partition.get(p) {
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(serde_json::Value::Null) => Ok(None),
                _ => Err(bad(format!(
                    "gives `{}` no value of partition `{p}`",
                    entry.path
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        files.push(TableFile {
            found: Found {
                rel: entry.path,
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
            },
            format,
            partition,
            layout,
            csv_columns: (format == Format::Csv).then(|| (names.clone(), true)),
            verify: Some(Verify {
                rows: entry.rows,
                sha256: entry.sha256,
            }),
        });
    }
    // The files decide the data columns' types; the manifest decides the order and the
    // partition columns' types.
    let found = if files.is_empty() {
        portable_fields(data)?
    } else {
        portable_fields(unifier.finish())?
    };
    let mut fields = Vec::with_capacity(columns.len());
    for c in &columns {
        if doc.partition_by.contains(c.name()) {
            fields.push(portable_fields(vec![c.clone()])?.remove(0));
        } else {
            let f = found.iter().find(|f| f.name() == c.name()).ok_or_else(|| {
                bad(format!(
                    "lists column `{}`, which its files do not have",
                    c.name()
                ))
            })?;
            fields.push(f.clone());
        }
    }
    if found.len() != names.len() {
        return Err(bad(format!(
            "lists the data columns {}, but its files have {}",
            names.join(", "),
            found
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(Table {
        base,
        schema: Arc::new(Schema::new(fields)),
        partition_names: doc.partition_by,
        files,
    })
}

/// A footer's row count against the manifest's.
fn check_rows(shown: &str, rows: u64, recorded: u64) -> Result<()> {
    if rows == recorded {
        return Ok(());
    }
    Err(error::integrity(
        shown,
        format!("its footer counts {rows} rows, but the manifest records {recorded}"),
    ))
}
