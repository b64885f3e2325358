//! The VikingDB field types of the emulated collection (the datagen `vikingdb` profile) and
//! how `collection/info` and `index/info` describe it.

use serde_json::{Value, json};

use super::{Shared, clock};

/// VikingDB V1 field types, as `collection/info` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Int64,
    Float32,
    String,
    Text,
    Bool,
    ListString,
    ListInt64,
    Vector,
    SparseVector,
}

impl FieldType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FieldType::Int64 => "int64",
            FieldType::Float32 => "float32",
            FieldType::String => "string",
            FieldType::Text => "text",
            FieldType::Bool => "bool",
            FieldType::ListString => "list<string>",
            FieldType::ListInt64 => "list<int64>",
            FieldType::Vector => "vector",
            FieldType::SparseVector => "sparse_vector",
        }
    }

    /// VikingDB's documented defaults; vectors have none.
    fn default_val(self) -> Option<Value> {
        match self {
            FieldType::Int64 => Some(json!(0)),
            FieldType::Float32 => Some(json!(0.0)),
            FieldType::String | FieldType::Text => Some(json!("default")),
            FieldType::Bool => Some(json!(false)),
            FieldType::ListString => Some(json!(["default"])),
            FieldType::ListInt64 => Some(json!([0])),
            FieldType::Vector | FieldType::SparseVector => None,
        }
    }
}

/// The fields in the profile's column order. Arrow cannot tell `text` from `string`, hence a
/// table; a test keeps it in step with datagen.
pub(crate) const FIELDS: &[(&str, FieldType)] = &[
    ("id", FieldType::Int64),
    ("title", FieldType::String),
    ("body", FieldType::Text),
    ("category", FieldType::String),
    ("score", FieldType::Float32),
    ("flag", FieldType::Bool),
    ("tags", FieldType::ListString),
    ("codes", FieldType::ListInt64),
    ("vector", FieldType::Vector),
    ("sparse", FieldType::SparseVector),
];

pub(crate) const PRIMARY_KEY: &str = "id";

pub(crate) fn field_type(name: &str) -> Option<FieldType> {
    FIELDS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// The one index: every scalar field indexed, so every field a filter may use is filterable.
pub(crate) fn index_name(collection: &str) -> String {
    format!("{collection}_index")
}

pub(crate) fn collection_info(shared: &Shared) -> Value {
    let config = &shared.config;
    let fields: Vec<Value> = FIELDS
        .iter()
        .map(|&(name, ty)| {
            let mut field = json!({"field_name": name, "field_type": ty.as_str()});
            if ty == FieldType::Vector {
                field["dim"] = json!(config.dim);
            }
            if name != PRIMARY_KEY
                && let Some(default) = ty.default_val()
            {
                field["default_val"] = default;
            }
            field
        })
        .collect();
    let indexes = vec![index_name(&config.collection)];
    let time = clock::rfc3339(shared.started);
    // Roughly what the rows take: the vector plus some bytes of scalars.
    let storage = config.rows * (config.dim as u64 * 4 + 160);
    json!({
        "collection_name": config.collection,
        "description": "arrowport emulator collection (datagen profile vikingdb)",
        "collection_aliases": [],
        "primary_key": PRIMARY_KEY,
        "fields": fields,
        "stat": {"data_number": config.rows, "data_storage": storage},
        "index_names": indexes,
        "indexes": indexes,
        "index_num": 1,
        "create_time": time,
        "update_time": time,
        "update_person": "emulator",
    })
}

pub(crate) fn index_info(shared: &Shared) -> Value {
    let config = &shared.config;
    let time = clock::rfc3339(shared.started);
    let scalar = |pick: fn(FieldType) -> bool| {
        FIELDS
            .iter()
            .filter(|(_, t)| pick(*t))
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
    };
    json!({
        "collection_name": config.collection,
        "index_name": index_name(&config.collection),
        "description": "",
        "vector_index": {"index_type": "hnsw", "distance": "ip", "quant": "int8"},
        "range_index": scalar(|t| matches!(t, FieldType::Int64 | FieldType::Float32)),
        "enum_index": scalar(|t| matches!(
            t,
            FieldType::String | FieldType::Bool | FieldType::ListString | FieldType::ListInt64
        )),
        "partition_by": "",
        "status": "READY",
        "cpu_quota": 2,
        "shard_policy": "auto",
        "shard_count": 1,
        "create_time": time,
        "update_time": time,
        "update_person": "emulator",
    })
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::DataType;
    use arrowport_datagen::{Profile, schema_of};

    use super::*;

    #[test]
    fn the_field_table_follows_the_datagen_profile() {
        let schema = schema_of(Profile::Vikingdb, Some(16));
        assert_eq!(schema.fields().len(), FIELDS.len());
        for (field, (name, ty)) in schema.fields().iter().zip(FIELDS) {
            assert_eq!(field.name(), name);
            let agrees = match (ty, field.data_type()) {
                (FieldType::Int64, DataType::Int64)
                | (FieldType::Float32, DataType::Float32)
                | (FieldType::String | FieldType::Text, DataType::Utf8)
                | (FieldType::Bool, DataType::Boolean)
                | (FieldType::SparseVector, DataType::Map(..)) => true,
                (FieldType::ListString, DataType::List(item)) => {
                    item.data_type() == &DataType::Utf8
                }
                (FieldType::ListInt64, DataType::List(item)) => {
                    item.data_type() == &DataType::Int64
                }
                (FieldType::Vector, DataType::FixedSizeList(_, 16)) => true,
                _ => false,
            };
            assert!(agrees, "{name}: {ty:?} vs {}", field.data_type());
        }
    }
}
