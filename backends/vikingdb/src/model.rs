//! What the V1 API answers, read tolerantly: numbers may arrive as strings, optional fields
//! may be missing, and names differ between the docs and the SDK (`index_names`/`indexes`).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrowport_core::{Error, ErrorKind, Result};
use serde_json::Value;

use crate::NAME;
use crate::client::malformed;

/// The fields of a collection, in the order the API lists them.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    pub primary_key: Option<String>,
    pub fields: Vec<FieldInfo>,
    /// Rows per the collection's statistics (not real-time).
    pub data_number: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldInfo {
    pub name: String,
    pub field_type: String,
    pub dim: Option<usize>,
}

/// Field metadata key carrying the VikingDB type a column came from.
pub const FIELD_TYPE_KEY: &str = "vikingdb.field_type";

impl CollectionInfo {
    pub fn from_json(data: &Value) -> Result<Self> {
        let fields = data
            .get("fields")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("collection/info", "no `fields` list"))?
            .iter()
            .map(|f| {
                let name = f.get("field_name").and_then(Value::as_str);
                let field_type = f.get("field_type").and_then(Value::as_str);
                match (name, field_type) {
                    (Some(name), Some(field_type)) => Ok(FieldInfo {
                        name: name.to_string(),
                        field_type: field_type.trim().to_ascii_lowercase(),
                        dim: f.get("dim").and_then(as_u64).map(|d| d as usize),
                    }),
                    _ => Err(malformed(
                        "collection/info",
                        "a field without `field_name` or `field_type`",
                    )),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CollectionInfo {
            name: data
                .get("collection_name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            primary_key: data
                .get("primary_key")
                .and_then(Value::as_str)
                .map(str::to_owned),
            fields,
            data_number: data
                .get("stat")
                .and_then(|s| s.get("data_number"))
                .and_then(as_u64),
        })
    }

    /// The Arrow schema of the collection (DESIGN.md's type mapping). Every column is
    /// nullable: the exported files, not the collection, decide what arrives.
    pub fn arrow_schema(&self) -> Result<SchemaRef> {
        let fields = self
            .fields
            .iter()
            .map(|f| {
                let data_type = arrow_type(f)?;
                Ok(Field::new(&f.name, data_type, true).with_metadata(
                    std::collections::HashMap::from([(
                        FIELD_TYPE_KEY.to_string(),
                        f.field_type.clone(),
                    )]),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }
}

/// The Arrow type of one VikingDB field type.
fn arrow_type(field: &FieldInfo) -> Result<DataType> {
    let item = |t: DataType| DataType::List(Arc::new(Field::new_list_field(t, true)));
    Ok(match field.field_type.as_str() {
        "int64" => DataType::Int64,
        "float32" => DataType::Float32,
        "bool" => DataType::Boolean,
        // image and video fields hold URLs or object paths, date_time an ISO string.
        "string" | "text" | "image" | "video" | "date_time" => DataType::Utf8,
        "list<int64>" => item(DataType::Int64),
        "list<string>" => item(DataType::Utf8),
        "vector" => {
            let dim = field.dim.filter(|d| *d > 0).ok_or_else(|| {
                malformed(
                    "collection/info",
                    &format!("vector field `{}` has no `dim`", field.name),
                )
            })?;
            DataType::FixedSizeList(
                Arc::new(Field::new_list_field(DataType::Float32, true)),
                i32::try_from(dim).map_err(|_| {
                    malformed("collection/info", &format!("`dim` {dim} is too large"))
                })?,
            )
        }
        "sparse_vector" => sparse_type(),
        other => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{NAME}: field `{}` has type `{other}`, which arrowport does not map yet",
                    field.name
                ),
            )
            .with_context("plugin", NAME));
        }
    })
}

/// Map<Utf8, Float32>: token → weight.
pub fn sparse_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Float32, true),
            ])),
            false,
        )),
        false,
    )
}

/// A task as `task/info` and `task/list` describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub task_id: String,
    pub status: String,
    /// `task_params` as the server echoes them (`tos_path`, `file_type`, …).
    pub params: Value,
    pub process: ProcessInfo,
}

/// `process_info` of a task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessInfo {
    /// 0–100, from `"40%"`, `40` or `0.4`-style values alike.
    pub progress: Option<f64>,
    pub scan_data_count: Option<u64>,
    pub total_data_count: Option<u64>,
    pub total_filter_count: Option<u64>,
    pub sampled_timestamp: Option<Value>,
    pub err_msg: Option<String>,
}

impl TaskInfo {
    pub fn from_json(data: &Value) -> Result<Self> {
        let task_id = data
            .get("task_id")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| as_u64(v).map(|n| n.to_string()))
            })
            .ok_or_else(|| malformed("task/info", "no `task_id`"))?;
        let status = data
            .get("task_status")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("task/info", "no `task_status`"))?
            .to_ascii_lowercase();
        let process = data.get("process_info").cloned().unwrap_or(Value::Null);
        let count = |key: &str| process.get(key).and_then(as_u64);
        Ok(TaskInfo {
            task_id,
            status,
            params: data.get("task_params").cloned().unwrap_or(Value::Null),
            process: ProcessInfo {
                progress: process.get("task_progress").and_then(percent),
                scan_data_count: count("scan_data_count"),
                total_data_count: count("total_data_count"),
                total_filter_count: count("total_filter_count"),
                sampled_timestamp: process
                    .get("sampled_timestamp")
                    .filter(|v| !v.is_null())
                    .cloned(),
                err_msg: process
                    .get("err_msg")
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            },
        })
    }

    /// `task_params.tos_path`, where the task writes its files.
    pub fn tos_path(&self) -> Option<&str> {
        self.params.get("tos_path").and_then(Value::as_str)
    }

    /// `task_params.file_type`, if echoed.
    pub fn file_type(&self) -> Option<&str> {
        self.params.get("file_type").and_then(Value::as_str)
    }
}

/// A count that may be a JSON number or a decimal string.
fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn percent(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok()?,
        _ => return None,
    };
    // A fraction like 0.4 means 40 %, but 1 is ambiguous: read it as 1 %.
    Some(if n > 0.0 && n < 1.0 { n * 100.0 } else { n }.clamp(0.0, 100.0))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn collection_maps_every_field_type() {
        let info = CollectionInfo::from_json(&json!({
            "collection_name": "c", "primary_key": "id", "stat": {"data_number": "12"},
            "fields": [
                {"field_name": "id", "field_type": "int64"},
                {"field_name": "f", "field_type": "float32"},
                {"field_name": "s", "field_type": "string"},
                {"field_name": "t", "field_type": "text", "pipeline_name": "p"},
                {"field_name": "b", "field_type": "bool"},
                {"field_name": "ls", "field_type": "list<string>"},
                {"field_name": "li", "field_type": "list<int64>"},
                {"field_name": "v", "field_type": "vector", "dim": 8},
                {"field_name": "sv", "field_type": "sparse_vector"},
            ]
        }))
        .unwrap();
        assert_eq!(info.data_number, Some(12));
        let schema = info.arrow_schema().unwrap();
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().to_string())
            .collect();
        assert_eq!(types[..5], ["Int64", "Float32", "Utf8", "Utf8", "Boolean"]);
        assert!(matches!(
            schema.field(7).data_type(),
            DataType::FixedSizeList(_, 8)
        ));
        assert_eq!(schema.field(8).data_type(), &sparse_type());
        assert_eq!(schema.field(8).metadata()[FIELD_TYPE_KEY], "sparse_vector");
    }

    #[test]
    fn unknown_types_and_missing_dims_are_errors() {
        let bad = |t: Value| {
            CollectionInfo::from_json(&json!({"fields": [t]}))
                .unwrap()
                .arrow_schema()
        };
        assert_eq!(
            bad(json!({"field_name": "g", "field_type": "geo_point"}))
                .unwrap_err()
                .kind(),
            ErrorKind::Unsupported
        );
        assert!(bad(json!({"field_name": "v", "field_type": "vector"})).is_err());
    }

    #[test]
    fn task_info_reads_tolerantly() {
        let t = TaskInfo::from_json(&json!({
            "task_id": "t1", "task_status": "running",
            "task_params": {"tos_path": "b/p/x", "file_type": "json"},
            "process_info": {"task_progress": "40%", "scan_data_count": "7",
                             "total_data_count": 10, "total_filter_count": 9,
                             "sampled_timestamp": 1700000000, "err_msg": ""}
        }))
        .unwrap();
        assert_eq!(t.process.progress, Some(40.0));
        assert_eq!(t.process.scan_data_count, Some(7));
        assert_eq!(t.process.total_filter_count, Some(9));
        assert_eq!(t.process.err_msg, None);
        assert_eq!(t.tos_path(), Some("b/p/x"));
        assert_eq!(percent(&json!(0.5)), Some(50.0));
    }
}
