//! `create_table=true`: the table a sink writes is made from the input's Arrow schema when it
//! does not exist — the reverse of the type mapping in DESIGN.md — through the SQL instance
//! PyODPS uses for `create_table` (a `SQLCreateTableTask` running `CREATE TABLE IF NOT
//! EXISTS`). Every column is mapped before anything is sent, so a type without a lossless
//! counterpart refuses the export with nothing created, unless `column_types` names the type
//! to cast it to.

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrowport_core::{Error, Result};
use serde_json::{Value, json};

use crate::NAME;
use crate::types::{Column, OdpsType};

/// The columns and partition keys of a table to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTable {
    pub columns: Vec<Column>,
    pub partition_keys: Vec<Column>,
}

/// Partition key types MaxCompute accepts.
fn is_partition_key_type(ty: &OdpsType) -> bool {
    matches!(
        ty,
        OdpsType::String
            | OdpsType::BigInt
            | OdpsType::Int
            | OdpsType::SmallInt
            | OdpsType::TinyInt
            | OdpsType::Varchar(_)
            | OdpsType::Char(_)
    )
}

impl NewTable {
    /// The table `input` fits exactly: every input column a data column, except the
    /// `partition_by` columns, which become partition keys in that order; `static_keys` (of a
    /// `partition=k=v,…` target) become `string` keys. Every column that cannot be mapped is
    /// named at once.
    pub fn from_input(
        input: &Schema,
        partition_by: &[String],
        static_keys: &[String],
        column_types: &[(String, OdpsType)],
    ) -> Result<NewTable> {
        let mut problems = Vec::new();
        let mut columns = Vec::new();
        let mut keys: Vec<Option<Column>> = vec![None; partition_by.len()];
        for field in input.fields() {
            let given = column_types
                .iter()
                .find(|(name, _)| name == field.name())
                .map(|(_, ty)| ty.clone());
            let ty = match given.map_or_else(|| odps_type_of(field.data_type()), Ok) {
                Ok(ty) => ty,
                Err(why) => {
                    problems.push(format!(
                        "column `{}` ({}) {why}; name a type with `column_types={}:<type>`",
                        field.name(),
                        field.data_type(),
                        field.name()
                    ));
                    continue;
                }
            };
            let column = Column {
                name: field.name().clone(),
                ty,
                nullable: field.is_nullable(),
            };
            match partition_by.iter().position(|k| k == field.name()) {
                Some(i) if is_partition_key_type(&column.ty) => {
                    keys[i] = Some(Column {
                        nullable: true,
                        ..column
                    })
                }
                Some(_) => problems.push(format!(
                    "partition column `{}` would be {}, which cannot be a partition key \
                     (string, bigint, int, smallint, tinyint, varchar, char)",
                    field.name(),
                    column.ty
                )),
                None => columns.push(column),
            }
        }
        for (name, _) in column_types {
            if input.index_of(name).is_err() {
                problems.push(format!(
                    "`column_types` names `{name}`, which the input does not have"
                ));
            }
        }
        for key in static_keys {
            if input.index_of(key).is_ok() {
                problems.push(format!(
                    "`{key}` is both an input column and a key of `partition=`"
                ));
            }
        }
        let mut names: Vec<String> = input
            .fields()
            .iter()
            .map(|f| f.name().to_ascii_lowercase())
            .chain(static_keys.iter().map(|k| k.to_ascii_lowercase()))
            .collect();
        names.sort_unstable();
        for pair in names.windows(2) {
            if pair[0] == pair[1] {
                problems.push(format!(
                    "two columns are named `{}` (MaxCompute names ignore case)",
                    pair[0]
                ));
            }
        }
        if columns.is_empty() && problems.is_empty() {
            problems.push("a table needs a data column besides the partition keys".into());
        }
        if !problems.is_empty() {
            return Err(Error::config(format!(
                "{NAME}: cannot create the table from the input; nothing was created:\n  - {}",
                problems.join("\n  - ")
            ))
            .with_context("plugin", NAME));
        }
        let partition_keys = keys
            .into_iter()
            .flatten()
            .chain(static_keys.iter().map(|k| Column {
                name: k.clone(),
                ty: OdpsType::String,
                nullable: true,
            }))
            .collect();
        Ok(NewTable {
            columns,
            partition_keys,
        })
    }

    /// `CREATE TABLE IF NOT EXISTS project.[schema.]`t` (…) [COMMENT …] [PARTITIONED BY (…)]
    /// [LIFECYCLE n]`, spelled as PyODPS's `gen_create_table_sql` spells it.
    pub fn sql(
        &self,
        project: &str,
        schema: Option<&str>,
        table: &str,
        comment: Option<&str>,
        lifecycle: Option<u32>,
    ) -> String {
        let mut sql = format!("CREATE TABLE IF NOT EXISTS {project}.");
        if let Some(schema) = schema {
            sql.push_str(&format!("{schema}."));
        }
        sql.push_str(&format!("{} (\n", quote_name(table)));
        sql.push_str(&column_clauses(&self.columns));
        sql.push_str("\n)\n");
        if let Some(comment) = comment {
            sql.push_str(&format!("COMMENT '{}'\n", escape_string(comment)));
        }
        if !self.partition_keys.is_empty() {
            sql.push_str("PARTITIONED BY (\n");
            sql.push_str(&column_clauses(&self.partition_keys));
            sql.push_str("\n)\n");
        }
        if let Some(days) = lifecycle {
            sql.push_str(&format!("LIFECYCLE {days}\n"));
        }
        sql
    }

    /// The SQL task's settings. Types beyond MaxCompute's 1.0 set (`int`, `float`,
    /// `timestamp`, `decimal(p,s)`, …) need the 2.0 type system, which a project may leave
    /// off; the statement turns it on for itself, as PyODPS's `use_odps2_extension` does.
    pub fn settings(&self) -> Value {
        let mut settings = json!({"odps.sql.submit.mode": ""});
        if self
            .columns
            .iter()
            .chain(&self.partition_keys)
            .any(|c| needs_odps2(&c.ty))
        {
            settings["odps.sql.type.system.odps2"] = json!("true");
            settings["odps.sql.decimal.odps2"] = json!("true");
        }
        settings
    }
}

/// The MaxCompute type every value of `data_type` has an exact counterpart in, or why there
/// is none.
pub fn odps_type_of(data_type: &DataType) -> std::result::Result<OdpsType, String> {
    use DataType::*;
    Ok(match data_type {
        Boolean => OdpsType::Boolean,
        Int8 => OdpsType::TinyInt,
        Int16 | UInt8 => OdpsType::SmallInt,
        Int32 | UInt16 => OdpsType::Int,
        Int64 | UInt32 => OdpsType::BigInt,
        UInt64 => return Err("has values beyond bigint's range".into()),
        Float16 => return Err("has no MaxCompute counterpart (half precision)".into()),
        Float32 => OdpsType::Float,
        Float64 => OdpsType::Double,
        Utf8 | LargeUtf8 | Utf8View => OdpsType::String,
        Binary | LargeBinary | BinaryView => OdpsType::Binary,
        Date32 => OdpsType::Date,
        Decimal128(p, s) | Decimal256(p, s) if *p <= 38 && *s >= 0 => OdpsType::Decimal {
            precision: *p,
            scale: *s as u8,
            legacy: false,
        },
        Decimal128(..) | Decimal256(..) => {
            return Err("needs more than decimal(38) or a negative scale".into());
        }
        // An instant: datetime holds milliseconds, timestamp nanoseconds.
        Timestamp(TimeUnit::Second | TimeUnit::Millisecond, Some(_)) => OdpsType::DateTime,
        Timestamp(_, Some(_)) => OdpsType::Timestamp,
        // A wall clock, as timestamp_ntz is.
        Timestamp(_, None) => OdpsType::TimestampNtz,
        Dictionary(_, value) => odps_type_of(value)?,
        List(item) | LargeList(item) | ListView(item) | FixedSizeList(item, _) => {
            OdpsType::Array(Box::new(element_type(item)?))
        }
        Map(entries, _) => match entries.data_type() {
            Struct(kv) if kv.len() == 2 => OdpsType::Map(
                Box::new(element_type(&kv[0])?),
                Box::new(element_type(&kv[1])?),
            ),
            _ => return Err("is a map without key and value fields".into()),
        },
        Struct(fields) if !fields.is_empty() => OdpsType::Struct(
            fields
                .iter()
                .map(|f| Ok((f.name().clone(), element_type(f)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        other => return Err(format!("has no lossless MaxCompute counterpart ({other})")),
    })
}

fn element_type(field: &Field) -> std::result::Result<OdpsType, String> {
    odps_type_of(field.data_type())
        .map_err(|why| format!("has a field `{}` that {why}", field.name()))
}

fn needs_odps2(ty: &OdpsType) -> bool {
    match ty {
        OdpsType::BigInt
        | OdpsType::Double
        | OdpsType::Boolean
        | OdpsType::String
        | OdpsType::DateTime => false,
        OdpsType::Array(t) => needs_odps2(t),
        OdpsType::Map(k, v) => needs_odps2(k) || needs_odps2(v),
        _ => true,
    }
}

/// The type as DDL spells it: struct field names back-quoted, so any name survives.
fn ddl_type(ty: &OdpsType) -> String {
    match ty {
        OdpsType::Array(t) => format!("array<{}>", ddl_type(t)),
        OdpsType::Map(k, v) => format!("map<{},{}>", ddl_type(k), ddl_type(v)),
        OdpsType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|(name, t)| format!("{}:{}", quote_name(name), ddl_type(t)))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

fn column_clauses(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| {
            let not_null = if c.nullable { "" } else { " NOT NULL" };
            format!("  {} {}{not_null}", quote_name(&c.name), ddl_type(&c.ty))
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

fn quote_name(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A `'…'` literal's content, escaped as PyODPS's `escape_odps_string` does.
fn escape_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Fields;

    use super::*;
    use crate::mapping::lossless;
    use crate::types::TypeMapping;

    /// Every mapped type comes back as an Arrow type the input converts into without loss.
    #[test]
    fn the_reverse_mapping_is_lossless() {
        let item = |t| Arc::new(Field::new("item", t, true));
        let cases = [
            (DataType::Int64, "bigint"),
            (DataType::UInt32, "bigint"),
            (DataType::Int8, "tinyint"),
            (DataType::Utf8View, "string"),
            (DataType::Decimal128(18, 4), "decimal(18,4)"),
            (
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                "datetime",
            ),
            (
                DataType::Timestamp(TimeUnit::Microsecond, Some("Asia/Shanghai".into())),
                "timestamp",
            ),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                "timestamp_ntz",
            ),
            (
                DataType::FixedSizeList(item(DataType::Float32), 4),
                "array<float>",
            ),
            (
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
                ),
                "map<string,float>",
            ),
            (
                DataType::Struct(Fields::from(vec![
                    Field::new("a", DataType::Int64, true),
                    Field::new("b c", DataType::Utf8, true),
                ])),
                "struct<a:bigint,b c:string>",
            ),
        ];
        for (arrow, odps) in cases {
            let ty = odps_type_of(&arrow).unwrap();
            assert_eq!(ty.to_string(), odps, "{arrow}");
            let back = ty.to_arrow(&TypeMapping::default()).unwrap();
            assert!(lossless(&arrow, &back), "{arrow} -> {odps} -> {back}");
        }
        for refused in [
            DataType::UInt64,
            DataType::Float16,
            DataType::Duration(TimeUnit::Second),
            DataType::Time32(TimeUnit::Second),
            DataType::Null,
            DataType::Decimal256(50, 2),
            DataType::List(item(DataType::UInt64)),
        ] {
            assert!(odps_type_of(&refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn ddl_is_spelled_as_pyodps_spells_it() {
        let input = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("we`ird", DataType::Utf8, true),
            Field::new("pt", DataType::Utf8, true),
        ]);
        let table = NewTable::from_input(&input, &["pt".into()], &[], &[]).unwrap();
        assert_eq!(
            table.sql("p", None, "t", Some("it's"), Some(7)),
            "CREATE TABLE IF NOT EXISTS p.`t` (\n  `id` bigint NOT NULL,\n  `we``ird` string\n)\n\
             COMMENT 'it\\'s'\nPARTITIONED BY (\n  `pt` string\n)\nLIFECYCLE 7\n"
        );
        assert!(table.settings().get("odps.sql.type.system.odps2").is_none());
    }

    #[test]
    fn every_unmappable_column_is_named_at_once() {
        let input = Schema::new(vec![
            Field::new("u", DataType::UInt64, true),
            Field::new("d", DataType::Duration(TimeUnit::Second), true),
            Field::new("ok", DataType::Int32, true),
        ]);
        let err = NewTable::from_input(&input, &[], &[], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`u` (UInt64)") && err.contains("`d` (Duration"),
            "{err}"
        );
        assert!(!err.contains("`ok`"), "{err}");
        let cast = [
            ("u".to_string(), OdpsType::BigInt),
            ("d".into(), OdpsType::BigInt),
        ];
        let table = NewTable::from_input(&input, &[], &[], &cast).unwrap();
        assert_eq!(table.columns[0].ty, OdpsType::BigInt);
        assert!(table.settings()["odps.sql.type.system.odps2"] == "true");
    }
}
