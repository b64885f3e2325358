//! Many files, one table: list the location, read every file's schema (Parquet and IPC
//! footers, CSV and NDJSON inference from a bounded sample), type the hive partition
//! columns, and unify it all into one schema — or explain which file and column conflict.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrowport_core::{Error, Result};

use crate::NAME;
use crate::config::{Config, Format};
use crate::error;
use crate::location::{Found, Location, Root, partition_of};
use crate::read::{ipc, parquet, text};
use crate::token::{Verify, portable};
use crate::unify::Unifier;

/// The directory name hive (and our sinks) give a null partition value.
pub(crate) const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One value per partition column (`None` is null).
pub(crate) type PartitionValues = Vec<Option<String>>;

/// A resolved location: its files and the one schema they are read as.
#[derive(Debug)]
pub(crate) struct Table {
    /// The directory file paths are relative to.
    pub base: PathBuf,
    /// Data columns, then partition columns (or a manifest's order).
    pub schema: SchemaRef,
    pub partition_names: Vec<String>,
    pub files: Vec<TableFile>,
}

#[derive(Debug)]
pub(crate) struct TableFile {
    pub found: Found,
    pub format: Format,
    pub partition: PartitionValues,
    pub layout: Layout,
    /// CSV: the file's columns in file order, and whether its header must name exactly them.
    pub csv_columns: Option<(Vec<String>, bool)>,
    /// What a manifest records about the file: read whole and checked.
    pub verify: Option<Verify>,
}

/// What a file's footer tells about its parts.
#[derive(Debug)]
pub(crate) enum Layout {
    /// Parquet: rows and compressed bytes per row group.
    RowGroups(Vec<(u64, u64)>),
    /// Arrow IPC file: rows and bytes per record batch.
    Batches(Vec<(u64, u64)>),
    /// Arrow IPC stream: read front to back.
    Stream,
    /// CSV or NDJSON: byte ranges.
    Text,
}

/// Lists and inspects the location. Blocking: file-system work only.
pub(crate) fn resolve(location: &Location, config: &Config) -> Result<Table> {
    let root = location.root()?;
    let base = location.base(&root);
    if root == Root::Directory && base.join(crate::manifest::MANIFEST).is_file() {
        return crate::manifest::resolve(base, config);
    }
    let found = location.list(&root)?;
    let hive = config.hive_partitioning && !matches!(root, Root::File(_));
    let (partition_names, values) = partitions(&found, hive)?;

    let given = config.given_schema()?;
    let dialect = config.dialect()?;
    let mut formats = Vec::with_capacity(found.len());
    for f in &found {
        formats.push(format_of(&f.rel, config.format)?);
    }
    if given.is_some()
        && let Some((f, fmt)) = found.iter().zip(&formats).find(|(_, fmt)| !fmt.is_text())
    {
        return Err(Error::config(format!(
            "{NAME}: option `schema` applies to csv and ndjson files, but `{}` is {fmt}",
            f.rel
        )));
    }
    let union = formats.iter().all(|f| *f == Format::Ndjson);
    let mut unifier = Unifier::default();
    let mut files = Vec::with_capacity(found.len());
    for ((f, format), partition) in found.into_iter().zip(formats).zip(values) {
        let path = base.join(&f.rel);
        let file = File::open(&path).map_err(|e| error::io("open", &f.rel, e))?;
        let mut csv_columns = None;
        let (schema, layout) = match format {
            Format::Parquet => {
                let footer = parquet::footer(&file, &f.rel)?;
                (
                    Some(footer.schema.clone()),
                    Layout::RowGroups(footer.row_groups),
                )
            }
            Format::Arrow => {
                let (schema, batches) = ipc::file_footer(&file, &f.rel)?;
                (Some(schema), Layout::Batches(batches))
            }
            Format::Arrows => (Some(ipc::stream_schema(&file, &f.rel)?), Layout::Stream),
            Format::Csv => {
                let schema = match &given {
                    Some(s) => Some(s.as_ref().clone()),
                    None => text::infer_csv(&file, &f.rel, dialect, config.infer_rows)?,
                };
                if let Some(s) = &schema {
                    let names = s.fields().iter().map(|f| f.name().clone()).collect();
                    csv_columns = Some((names, given.is_none()));
                }
                (schema.map(Arc::new), Layout::Text)
            }
            Format::Ndjson => {
                let schema = match &given {
                    Some(s) => Some(s.as_ref().clone()),
                    None => {
                        text::infer_ndjson(&file, &f.rel, config.infer_rows, config.on_bad_rows)?
                    }
                };
                (schema.map(Arc::new), Layout::Text)
            }
        };
        if let Some(schema) = schema {
            let inferred = format.is_text() && given.is_none();
            unifier.add(&f.rel, &schema, inferred, union)?;
        }
        files.push(TableFile {
            found: f,
            format,
            partition,
            layout,
            csv_columns,
            verify: None,
        });
    }
    let mut fields = portable_fields(unifier.finish())?;
    for (i, name) in partition_names.iter().enumerate() {
        if fields.iter().any(|f| f.name() == name) {
            return Err(Error::schema(format!(
                "{NAME}: `{name}` is both a column of the files and a partition directory name \
                 (`{name}=…`); pass hive_partitioning=false to read the files' column"
            )));
        }
        let ty = if files
            .iter()
            .filter_map(|f| f.partition[i].as_deref())
            .all(|v| v.parse::<i64>().is_ok())
            && files.iter().any(|f| f.partition[i].is_some())
        {
            DataType::Int64
        } else {
            DataType::Utf8
        };
        fields.push(Field::new(name, ty, true));
    }
    Ok(Table {
        base,
        schema: Arc::new(Schema::new(fields)),
        partition_names,
        files,
    })
}

/// The unified fields in the form tokens carry: no metadata, types that parse back.
pub(crate) fn portable_fields(fields: Vec<Field>) -> Result<Vec<Field>> {
    fields
        .into_iter()
        .map(|f| {
            Ok(Field::new(
                f.name(),
                portable(f.data_type())?,
                f.is_nullable(),
            ))
        })
        .collect()
}

/// The format of a file: the option, else its extension.
pub(crate) fn format_of(rel: &str, option: Option<Format>) -> Result<Format> {
    if let Some(f) = option {
        return Ok(f);
    }
    Format::from_extension(rel).ok_or_else(|| {
        let hint = if rel.to_ascii_lowercase().ends_with(".json") {
            "; JSON arrays are not read, and for newline-delimited JSON pass format=ndjson"
        } else {
            "; pass format=parquet|arrow|arrows|ndjson|csv, or narrow the location with a glob"
        };
        Error::config(format!(
            "{NAME}: cannot tell the format of `{rel}` from its extension (.parquet, .arrow, \
             .arrows, .ndjson, .jsonl, .csv){hint}"
        ))
        .with_context("plugin", NAME)
    })
}

/// The partition columns and each file's values. Every file must sit in directories of the
/// same keys, in the same order.
fn partitions(found: &[Found], hive: bool) -> Result<(Vec<String>, Vec<PartitionValues>)> {
    if !hive {
        return Ok((Vec::new(), vec![Vec::new(); found.len()]));
    }
    let all: Vec<Vec<(String, String)>> = found.iter().map(|f| partition_of(&f.rel)).collect();
    let keys: Vec<String> = all[0].iter().map(|(k, _)| k.clone()).collect();
    let mut values = Vec::with_capacity(found.len());
    for (f, parts) in found.iter().zip(&all) {
        let these: Vec<&str> = parts.iter().map(|(k, _)| k.as_str()).collect();
        if these != keys {
            let describe = |k: &[&str]| match k {
                [] => "no partition directory".to_string(),
                k => format!("partition directories {}", k.join("/")),
            };
            let first: Vec<&str> = keys.iter().map(String::as_str).collect();
            return Err(Error::schema(format!(
                "{NAME}: `{}` is in {}, but `{}` is in {}; they cannot be read as one table",
                f.rel,
                describe(&these),
                found[0].rel,
                describe(&first)
            ))
            .with_context("path", &f.rel));
        }
        values.push(
            parts
                .iter()
                .map(|(_, v)| (v != NULL_PARTITION).then(|| v.clone()))
                .collect(),
        );
    }
    Ok((keys, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(rel: &str) -> Found {
        Found {
            rel: rel.into(),
            size: 1,
            mtime_ns: 0,
        }
    }

    #[test]
    fn partition_keys_must_agree() {
        let files = [
            found("dt=1/a.csv"),
            found("dt=__HIVE_DEFAULT_PARTITION__/b.csv"),
        ];
        let (keys, values) = partitions(&files, true).unwrap();
        assert_eq!(keys, ["dt"]);
        assert_eq!(values, [vec![Some("1".to_string())], vec![None]]);
        let mixed = [found("dt=1/a.csv"), found("b.csv")];
        let e = partitions(&mixed, true).unwrap_err();
        assert_eq!(e.kind(), arrowport_core::ErrorKind::Schema);
        assert!(
            e.message().contains("`b.csv` is in no partition directory"),
            "{e}"
        );
        let (keys, _) = partitions(&mixed, false).unwrap();
        assert!(keys.is_empty());
    }

    #[test]
    fn unknown_extensions_explain_themselves() {
        let e = format_of("a/b.json", None).unwrap_err();
        assert!(e.message().contains("format=ndjson"), "{e}");
        let e = format_of("notes.txt", None).unwrap_err();
        assert!(
            e.message()
                .contains("cannot tell the format of `notes.txt`"),
            "{e}"
        );
        assert_eq!(format_of("x.txt", Some(Format::Csv)).unwrap(), Format::Csv);
    }
}
