//! What a split token of the file source holds: the file (relative to the location, with its
//! size and modification time, so that a changed file is an error rather than a wrong read),
//! the part of it, the plan's columns with their types, the file's partition values, and how
//! to decode text. No secrets: files need none.

use std::str::FromStr;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrowport_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::config::Format;
use crate::read::text::TextSpec;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Token {
    /// Relative to the location's base directory, `/`-separated.
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub format: Format,
    pub part: Part,
    /// The plan's columns, in order: file columns and partition columns alike.
    pub columns: Vec<Column>,
    /// The file's partition values (raw text; `None` is null), by column name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partition: Vec<(String, Option<String>)>,
    pub batch_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextSpec>,
    /// What the directory's manifest records about the file, checked while reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
}

/// The part of a file a split reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Part {
    /// Parquet: consecutive row groups.
    RowGroups { first: usize, count: usize },
    /// Arrow IPC file: consecutive record batches.
    Batches { first: usize, count: usize },
    /// CSV or NDJSON: the records that start in this byte range (see `read::text`).
    Bytes { start: u64, end: u64 },
    /// The whole file.
    Whole,
}

/// One column of the plan, its type in arrow's own text form (which parses back exactly).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Verify {
    pub rows: u64,
    pub sha256: String,
}

impl Column {
    pub(crate) fn of(field: &Field) -> Self {
        Column {
            name: field.name().clone(),
            data_type: field.data_type().to_string(),
            nullable: field.is_nullable(),
        }
    }
}

impl Token {
    /// The schema of the split's batches.
    pub(crate) fn schema(&self) -> Result<SchemaRef> {
        let fields = self
            .columns
            .iter()
            .map(|c| {
                let ty = DataType::from_str(&c.data_type).map_err(|e| {
                    Error::config(format!(
                        "{}: the split token's type `{}` of column `{}` does not parse: {e}",
                        crate::NAME,
                        c.data_type,
                        c.name
                    ))
                })?;
                Ok(Field::new(&c.name, ty, c.nullable))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// `ty` as a token can carry it: arrow's text form parsed back, which drops nested fields'
/// metadata. Types whose text form does not parse back exactly cannot be planned.
pub(crate) fn portable(ty: &DataType) -> Result<DataType> {
    let text = ty.to_string();
    match DataType::from_str(&text) {
        Ok(back) if back.equals_datatype(ty) => Ok(back),
        _ => Err(Error::new(
            arrowport_core::ErrorKind::Unsupported,
            format!(
                "{}: the type {text} cannot be carried by a split token",
                crate::NAME
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use arrowport_datagen::{Profile, schema_of};

    use super::*;

    #[test]
    fn every_datagen_type_is_portable() {
        let schema = schema_of(Profile::All, None);
        for f in schema.fields() {
            let back = portable(f.data_type()).unwrap();
            assert_eq!(&back, f.data_type(), "{}", f.name());
        }
    }

    #[test]
    fn tokens_round_trip_through_json() {
        let token = Token {
            path: "dt=1/a.parquet".into(),
            size: 10,
            mtime_ns: -5,
            format: Format::Parquet,
            part: Part::RowGroups { first: 2, count: 3 },
            columns: vec![Column::of(&Field::new("id", DataType::Int64, false))],
            partition: vec![("dt".into(), Some("1".into())), ("x".into(), None)],
            batch_size: 8192,
            text: None,
            verify: Some(Verify {
                rows: 3,
                sha256: "ab".into(),
            }),
        };
        let json = serde_json::to_value(&token).unwrap();
        let back: Token = serde_json::from_value(json).unwrap();
        assert_eq!(back, token);
        assert_eq!(
            back.schema().unwrap().field(0).data_type(),
            &DataType::Int64
        );
    }
}
