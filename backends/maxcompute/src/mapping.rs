//! How incoming Arrow columns land in a table's columns: matched by name, cast only where no
//! value can change, every problem reported at once before anything is uploaded.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions, make_array};
use arrow::compute::{CastOptions, can_cast_types, cast_with_options};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrowport_core::{Error, Result};

use crate::NAME;
use crate::types::{Column, OdpsType, TypeMapping};

/// Which input column feeds each table column, and the table's Arrow schema.
#[derive(Debug, Clone)]
pub struct WritePlan {
    /// For each data column of the table, in table order: the input column index.
    inputs: Vec<usize>,
    /// The table's data columns.
    pub columns: Vec<Column>,
    /// Their Arrow schema (what upload blocks carry).
    pub wire_schema: SchemaRef,
    /// Input column index of each dynamic partition key, in the table's key order.
    pub partition_inputs: Vec<usize>,
    /// Per data column: converted with every value checked (`column_types`), not only where
    /// the types are lossless.
    checked: Vec<bool>,
}

impl WritePlan {
    /// Maps `input` onto the table. `partition_by` names the input columns that route rows to
    /// partitions (they must be the table's partition keys); every other input column must be
    /// a data column, and every data column must be fed. `column_types` names the columns
    /// whose values are converted and checked one by one instead (their type must be the
    /// table's).
    pub fn new(
        input: &Schema,
        table: &str,
        columns: &[Column],
        partition_keys: &[Column],
        partition_by: &[String],
        column_types: &[(String, OdpsType)],
        mapping: &TypeMapping,
    ) -> Result<WritePlan> {
        let mut problems = Vec::new();
        let mut inputs = Vec::with_capacity(columns.len());
        let mut fields = Vec::with_capacity(columns.len());
        let mut checked = Vec::with_capacity(columns.len());
        for column in columns {
            let field = column.to_arrow(mapping)?;
            let given = column_types
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&column.name));
            if let Some((name, ty)) = given
                && *ty != column.ty
            {
                problems.push(format!(
                    "`column_types` gives `{name}` as {ty}, but the table's column is {}",
                    column.ty
                ));
            }
            checked.push(given.is_some());
            match input.index_of(&column.name) {
                Err(_) => problems.push(format!(
                    "column `{}` ({}) is missing from the input",
                    column.name, column.ty
                )),
                Ok(i) => {
                    let from = input.field(i);
                    let convertible = match given {
                        Some(_) => can_cast_types(from.data_type(), field.data_type()),
                        None => lossless(from.data_type(), field.data_type()),
                    };
                    if !convertible {
                        problems.push(format!(
                            "column `{}`: {} cannot become {} ({}) without losing values",
                            column.name,
                            from.data_type(),
                            column.ty,
                            field.data_type()
                        ));
                    }
                    if from.is_nullable() && !column.nullable {
                        problems.push(format!(
                            "column `{}` is NOT NULL in the table but nullable in the input",
                            column.name
                        ));
                    }
                    inputs.push(i);
                }
            }
            fields.push(field);
        }
        let mut partition_inputs = Vec::new();
        if !partition_by.is_empty() {
            let keys: Vec<&str> = partition_keys.iter().map(|k| k.name.as_str()).collect();
            let mut given: Vec<&str> = partition_by.iter().map(String::as_str).collect();
            given.sort_unstable();
            let mut wanted = keys.clone();
            wanted.sort_unstable();
            if given != wanted {
                problems.push(format!(
                    "`partition_by` must name the table's partition keys ({}), got {}",
                    keys.join(", "),
                    partition_by.join(", ")
                ));
            }
            for key in &keys {
                match input.index_of(key) {
                    Ok(i) => partition_inputs.push(i),
                    Err(_) if given.contains(key) => problems.push(format!(
                        "partition column `{key}` is missing from the input"
                    )),
                    Err(_) => {}
                }
            }
        }
        for (i, field) in input.fields().iter().enumerate() {
            if !inputs.contains(&i) && !partition_inputs.contains(&i) {
                let hint = if partition_keys.iter().any(|k| k.name == *field.name()) {
                    " (it is a partition key: route rows with `partition_by`, or drop it)"
                } else {
                    ""
                };
                problems.push(format!(
                    "input column `{}` is not a column of `{table}`{hint}",
                    field.name()
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::schema(format!(
                "{NAME}: the input does not fit table `{table}`:\n  - {}",
                problems.join("\n  - ")
            ))
            .with_context("plugin", NAME));
        }
        Ok(WritePlan {
            inputs,
            columns: columns.to_vec(),
            wire_schema: Arc::new(Schema::new(fields)),
            partition_inputs,
            checked,
        })
    }

    /// The table's data columns of `batch`, in table order and the table's Arrow types.
    pub fn wire_batch(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = self
            .inputs
            .iter()
            .zip(self.wire_schema.fields())
            .zip(&self.checked)
            .map(|((&i, field), &checked)| {
                let array = batch.column(i);
                if !field.is_nullable() && array.null_count() > 0 {
                    return Err(Error::schema(format!(
                        "{NAME}: NULL in NOT NULL column `{}`",
                        field.name()
                    )));
                }
                convert(array, field.data_type(), checked)
                    .map_err(|e| Error::schema(format!("{NAME}: column `{}`: {e}", field.name())))
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(self.wire_schema.clone(), columns, &options)
            .map_err(|e| Error::schema(format!("{NAME}: {e}")))
    }
}

/// `array` as `to`: cast, then relabelled where only nested field names differ. A `checked`
/// cast fails on the first value that does not fit instead of making it NULL.
fn convert(
    array: &ArrayRef,
    to: &DataType,
    checked: bool,
) -> std::result::Result<ArrayRef, String> {
    let options = CastOptions {
        safe: !checked,
        ..CastOptions::default()
    };
    let cast = if array.data_type() == to {
        array.clone()
    } else {
        cast_with_options(array, to, &options).map_err(|e| e.to_string())?
    };
    if cast.data_type() == to {
        return Ok(cast);
    }
    let data = cast
        .to_data()
        .into_builder()
        .data_type(to.clone())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(make_array(data))
}

/// Whether every value of `from` has an exact counterpart in `to`.
pub fn lossless(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    match (from, to) {
        (Dictionary(_, value), _) => lossless(value, to),
        (Null, _) => true,
        (a, b) if a == b => true,
        (Int8, Int16 | Int32 | Int64)
        | (Int16, Int32 | Int64)
        | (Int32, Int64)
        | (UInt8, Int16 | Int32 | Int64)
        | (UInt16, Int32 | Int64)
        | (UInt32, Int64)
        | (Float16, Float32 | Float64)
        | (Float32, Float64)
        | (Utf8 | LargeUtf8 | Utf8View, Utf8)
        | (Binary | LargeBinary | BinaryView, Binary) => true,
        (Timestamp(a, za), Timestamp(b, zb)) => {
            // Finer units only; an instant keeps its meaning with any zone, a wall clock
            // (no zone) only without one.
            unit_rank(b) >= unit_rank(a) && za.is_some() == zb.is_some()
        }
        (Date32, Date32) => true,
        (Decimal128(p1, s1) | Decimal256(p1, s1), Decimal128(p2, s2) | Decimal256(p2, s2)) => {
            s2 >= s1 && (i16::from(*p2) - i16::from(*s2)) >= (i16::from(*p1) - i16::from(*s1))
        }
        (List(a) | LargeList(a) | ListView(a) | FixedSizeList(a, _), List(b)) => {
            lossless(a.data_type(), b.data_type())
        }
        // Entry field names differ between writers (`key`/`keys`); compare by position.
        (Map(a, _), Map(b, _)) => match (a.data_type(), b.data_type()) {
            (Struct(x), Struct(y)) if x.len() == 2 && y.len() == 2 => x
                .iter()
                .zip(y.iter())
                .all(|(x, y)| lossless(x.data_type(), y.data_type())),
            _ => false,
        },
        (Struct(a), Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| x.name() == y.name() && lossless(x.data_type(), y.data_type()))
        }
        _ => false,
    }
}

fn unit_rank(unit: &arrow::datatypes::TimeUnit) -> u8 {
    use arrow::datatypes::TimeUnit::*;
    match unit {
        Second => 0,
        Millisecond => 1,
        Microsecond => 2,
        Nanosecond => 3,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{FixedSizeListArray, Float32Array, Int32Array, StringArray};
    use arrow::datatypes::{Field, TimeUnit};

    use super::*;

    fn columns(spec: &[(&str, &str)]) -> Vec<Column> {
        spec.iter()
            .map(|(n, t)| Column::new(*n, t).unwrap())
            .collect()
    }

    #[test]
    fn lossless_casts_only() {
        use DataType::*;
        assert!(lossless(&Int32, &Int64));
        assert!(!lossless(&Int64, &Int32));
        assert!(!lossless(&UInt64, &Int64));
        assert!(lossless(&Float32, &Float64));
        assert!(!lossless(&Float64, &Float32));
        assert!(lossless(
            &Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            &Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into()))
        ));
        assert!(!lossless(
            &Timestamp(TimeUnit::Microsecond, None),
            &Timestamp(TimeUnit::Millisecond, None)
        ));
        assert!(!lossless(
            &Timestamp(TimeUnit::Millisecond, None),
            &Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        ));
        assert!(lossless(&Decimal128(10, 2), &Decimal128(18, 4)));
        assert!(!lossless(&Decimal128(18, 4), &Decimal128(18, 2)));
        let vector = FixedSizeList(Arc::new(Field::new("item", Float32, true)), 4);
        let array_float = List(Arc::new(Field::new("element", Float32, true)));
        assert!(lossless(&vector, &array_float));
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let table = columns(&[("id", "bigint"), ("score", "float"), ("name", "string")]);
        let input = Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("score", DataType::Float64, true),
            Field::new("extra", DataType::Utf8, true),
        ]);
        let err = WritePlan::new(&input, "t", &table, &[], &[], &[], &TypeMapping::default())
            .unwrap_err()
            .to_string();
        for needle in [
            "`score`: Float64 cannot become float",
            "`name` (string) is missing",
            "`extra` is not a column",
        ] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
    }

    #[test]
    fn batches_are_reordered_and_cast_to_the_table() {
        let table = columns(&[
            ("id", "bigint"),
            ("vec", "array<float>"),
            ("name", "string"),
        ]);
        let values = Float32Array::from(vec![1.0, 2.0, 3.0, 4.0]);
        let vec = FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, true)),
            2,
            Arc::new(values),
            None,
        );
        let input = RecordBatch::try_from_iter(vec![
            (
                "name",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            ("vec", Arc::new(vec) as ArrayRef),
            ("id", Arc::new(Int32Array::from(vec![7, 8])) as ArrayRef),
        ])
        .unwrap();
        let plan = WritePlan::new(
            &input.schema(),
            "t",
            &table,
            &[],
            &[],
            &[],
            &TypeMapping::default(),
        )
        .unwrap();
        let wire = plan.wire_batch(&input).unwrap();
        assert_eq!(wire.schema(), plan.wire_schema);
        assert_eq!(wire.column(0).data_type(), &DataType::Int64);
        assert_eq!(wire.column(1).len(), 2);
    }

    #[test]
    fn partition_by_must_name_the_partition_keys() {
        let table = columns(&[("id", "bigint")]);
        let keys = columns(&[("pt", "string")]);
        let input = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("pt", DataType::Utf8, true),
        ]);
        let m = TypeMapping::default();
        let plan = WritePlan::new(&input, "t", &table, &keys, &["pt".into()], &[], &m).unwrap();
        assert_eq!(plan.partition_inputs, [1]);
        let err = WritePlan::new(&input, "t", &table, &keys, &[], &[], &m).unwrap_err();
        assert!(err.to_string().contains("partition_by"), "{err}");
        let err = WritePlan::new(&input, "t", &table, &keys, &["id".into()], &[], &m).unwrap_err();
        assert!(err.to_string().contains("partition keys (pt)"), "{err}");
    }
}
