//! Brings batches decoded from exported files to the announced schema. The files' physical
//! types are not public, so safe conversions are accepted (wider integers, string and list
//! flavours, a list of floats into a fixed-size vector of the collection's dimension, doubles
//! that are exact floats); anything that could lose information is an error.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use arrowport_core::{Error, ErrorKind, Result};

use crate::NAME;

/// Returns `batch` with exactly `target`'s columns and types, taking columns by name.
pub fn conform(batch: &RecordBatch, target: &SchemaRef, object: &str) -> Result<RecordBatch> {
    if batch.schema() == *target {
        return Ok(batch.clone());
    }
    let columns = target
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                schema_error(object, field.name(), "the file has no such column".into())
            })?;
            conform_array(column, field.data_type())
                .map_err(|reason| schema_error(object, field.name(), reason))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new_with_options(
        target.clone(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// The type a decoder should produce for `to` when reading JSON: vectors arrive as plain
/// lists, and [`conform`] checks their length.
pub fn json_decode_type(to: &DataType) -> DataType {
    match to {
        DataType::FixedSizeList(item, _) => DataType::List(item.clone()),
        other => other.clone(),
    }
}

fn conform_array(array: &ArrayRef, to: &DataType) -> std::result::Result<ArrayRef, String> {
    let from = array.data_type();
    if from == to {
        return Ok(array.clone());
    }
    let exactness = lossless(from, to)
        .map_err(|why| format!("its {from} values cannot become {to} without loss ({why})"))?;
    if exactness == Exactness::CheckFloats {
        check_doubles_are_floats(array)?;
    }
    if let DataType::FixedSizeList(_, dim) = to {
        check_list_lengths(array, *dim)?;
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(array, to, &options).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exactness {
    Always,
    /// Doubles become floats: exact only if every value is a float already.
    CheckFloats,
}

/// Whether every value of `from` has an equal value in `to`.
fn lossless(from: &DataType, to: &DataType) -> std::result::Result<Exactness, String> {
    use DataType::*;
    let item = |f: &arrow::datatypes::FieldRef| f.data_type().clone();
    match (from, to) {
        _ if from == to => Ok(Exactness::Always),
        (Dictionary(_, values), _) => lossless(values, to),
        (Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32 | Int64, Int64) => Ok(Exactness::Always),
        (Float16 | Float32, Float32) => Ok(Exactness::Always),
        (Float64, Float32) => Ok(Exactness::CheckFloats),
        (Utf8 | LargeUtf8 | Utf8View, Utf8) => Ok(Exactness::Always),
        (Boolean, Boolean) => Ok(Exactness::Always),
        (
            List(f) | LargeList(f) | ListView(f) | LargeListView(f) | FixedSizeList(f, _),
            List(t),
        ) => lossless(&item(f), &item(t)),
        (List(f) | LargeList(f), FixedSizeList(t, _)) => lossless(&item(f), &item(t)),
        (FixedSizeList(f, n), FixedSizeList(t, d)) if n == d => lossless(&item(f), &item(t)),
        (Map(f, _), Map(t, _)) => match (f.data_type(), t.data_type()) {
            (Struct(fk), Struct(tk)) if fk.len() == 2 && tk.len() == 2 => {
                let keys = lossless(fk[0].data_type(), tk[0].data_type())?;
                let values = lossless(fk[1].data_type(), tk[1].data_type())?;
                Ok(
                    if keys == Exactness::CheckFloats || values == Exactness::CheckFloats {
                        Exactness::CheckFloats
                    } else {
                        Exactness::Always
                    },
                )
            }
            _ => Err("malformed map".into()),
        },
        _ => Err("no safe conversion".into()),
    }
}

/// Fails unless every double in `array` (at any depth) is exactly a float.
fn check_doubles_are_floats(array: &dyn Array) -> std::result::Result<(), String> {
    use DataType::*;
    match array.data_type() {
        Float64 => {
            let values = array.as_primitive::<Float64Type>();
            match values
                .iter()
                .flatten()
                .find(|v| !v.is_nan() && f64::from(*v as f32) != *v)
            {
                Some(v) => Err(format!("{v} is not exactly a 32-bit float")),
                None => Ok(()),
            }
        }
        List(_) => check_doubles_are_floats(array.as_list::<i32>().values()),
        LargeList(_) => check_doubles_are_floats(array.as_list::<i64>().values()),
        FixedSizeList(..) => check_doubles_are_floats(array.as_fixed_size_list().values()),
        Map(..) => {
            let entries = array.as_map().entries();
            entries
                .columns()
                .iter()
                .try_for_each(|c| check_doubles_are_floats(c))
        }
        Dictionary(..) => check_doubles_are_floats(array.as_any_dictionary().values()),
        _ => Ok(()),
    }
}

/// Fails unless every non-null list in `array` has exactly `dim` elements.
fn check_list_lengths(array: &dyn Array, dim: i32) -> std::result::Result<(), String> {
    let dim = i64::from(dim);
    let bad = match array.data_type() {
        DataType::List(_) => first_bad_length(array, array.as_list::<i32>().offsets(), dim),
        DataType::LargeList(_) => first_bad_length(array, array.as_list::<i64>().offsets(), dim),
        _ => None,
    };
    match bad {
        Some((row, len)) => Err(format!(
            "row {row} holds a vector of {len} values, but the collection's dim is {dim}"
        )),
        None => Ok(()),
    }
}

fn first_bad_length<O: arrow::array::OffsetSizeTrait>(
    array: &dyn Array,
    offsets: &arrow::buffer::OffsetBuffer<O>,
    dim: i64,
) -> Option<(usize, i64)> {
    offsets
        .windows(2)
        .enumerate()
        .map(|(row, w)| (row, (w[1] - w[0]).as_usize() as i64))
        .find(|&(row, len)| len != dim && array.is_valid(row))
}

fn schema_error(object: &str, column: &str, reason: String) -> Error {
    Error::new(
        ErrorKind::Schema,
        format!("{NAME}: column `{column}` of exported object `{object}`: {reason}"),
    )
    .with_context("plugin", NAME)
    .with_context("object", object)
}

/// The announced schema with each vector widened back to the list a JSON decoder produces.
pub fn json_decode_schema(target: &SchemaRef) -> SchemaRef {
    Arc::new(arrow::datatypes::Schema::new(
        target
            .fields()
            .iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(json_decode_type(f.data_type()))
            })
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        FixedSizeListArray, Float32Array, Float64Array, Int32Array, LargeStringArray, ListArray,
        StringArray,
    };
    use arrow::datatypes::{Field, Float32Type, Schema};

    use super::*;
    use crate::model::sparse_type;

    fn vector_type(dim: i32) -> DataType {
        DataType::FixedSizeList(
            Arc::new(Field::new_list_field(DataType::Float32, true)),
            dim,
        )
    }

    fn target(fields: Vec<(&str, DataType)>) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .into_iter()
                .map(|(n, t)| Field::new(n, t, true))
                .collect::<Vec<_>>(),
        ))
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn lists_of_floats_become_vectors_when_their_length_is_the_dim() {
        let list = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(1.0), Some(2.0)]),
            None,
            Some(vec![Some(3.0), Some(4.0)]),
        ]);
        let b = batch(vec![("v", Arc::new(list) as ArrayRef)]);
        let out = conform(&b, &target(vec![("v", vector_type(2))]), "o").unwrap();
        let v = out
            .column(0)
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        assert_eq!(v.len(), 3);
        assert!(v.is_null(1));
        let err = conform(&b, &target(vec![("v", vector_type(3))]), "obj").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Schema);
        assert!(
            err.to_string().contains("row 0 holds a vector of 2 values"),
            "{err}"
        );
    }

    #[test]
    fn doubles_pass_only_when_exact_floats() {
        let exact = Float64Array::from(vec![0.5, 1.25, f64::NAN]);
        let b = batch(vec![("f", Arc::new(exact) as ArrayRef)]);
        let out = conform(&b, &target(vec![("f", DataType::Float32)]), "o").unwrap();
        assert_eq!(out.column(0).as_primitive::<Float32Type>().value(1), 1.25);
        let lossy = Float64Array::from(vec![0.1]);
        let b = batch(vec![("f", Arc::new(lossy) as ArrayRef)]);
        let err = conform(&b, &target(vec![("f", DataType::Float32)]), "o").unwrap_err();
        assert!(
            err.to_string().contains("not exactly a 32-bit float"),
            "{err}"
        );
    }

    #[test]
    fn widening_and_string_flavours_are_safe_but_narrowing_is_not() {
        let b = batch(vec![
            ("i", Arc::new(Int32Array::from(vec![7])) as ArrayRef),
            ("s", Arc::new(LargeStringArray::from(vec!["x"])) as ArrayRef),
        ]);
        let t = target(vec![("s", DataType::Utf8), ("i", DataType::Int64)]);
        let out = conform(&b, &t, "o").unwrap();
        assert_eq!(out.schema(), t);
        let b = batch(vec![(
            "i",
            Arc::new(StringArray::from(vec!["7"])) as ArrayRef,
        )]);
        assert!(conform(&b, &target(vec![("i", DataType::Int64)]), "o").is_err());
        let b = batch(vec![(
            "f",
            Arc::new(Float32Array::from(vec![1.0])) as ArrayRef,
        )]);
        let err = conform(&b, &target(vec![("g", DataType::Float32)]), "o").unwrap_err();
        assert!(err.to_string().contains("no such column"));
    }

    #[test]
    fn maps_with_other_field_names_are_renamed() {
        use arrow::array::Float32Builder;
        use arrow::array::{MapBuilder, MapFieldNames, StringBuilder};
        let names = MapFieldNames {
            entry: "key_value".into(),
            key: "key".into(),
            value: "value".into(),
        };
        let mut m = MapBuilder::new(Some(names), StringBuilder::new(), Float32Builder::new());
        m.keys().append_value("a");
        m.values().append_value(0.5);
        m.append(true).unwrap();
        let b = batch(vec![("m", Arc::new(m.finish()) as ArrayRef)]);
        let out = conform(&b, &target(vec![("m", sparse_type())]), "o").unwrap();
        assert_eq!(out.column(0).data_type(), &sparse_type());
    }
}
