//! Export filters: the map form `{"field": [values]}` (fields ANDed, values ORed) and the
//! DSL of `filter_conds` (`must`, `must_not`, `range`, `range_out`, `and`, `or`), validated
//! against the collection's field types and evaluated on record batches.

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{Float32Type, Int64Type};
use arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::collection::{FIELDS, FieldType, field_type};

/// A validated filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    /// `must` (or `must_not` when `negate`): the value is in the set; on a list field, any
    /// element is.
    Must {
        field: String,
        values: Values,
        negate: bool,
    },
    /// `range` (or `range_out` when `outside`).
    Range {
        field: String,
        lower: Option<Bound>,
        upper: Option<Bound>,
        outside: bool,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
}

/// The values of a `must`, typed by the field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Int(BTreeSet<i64>),
    Str(BTreeSet<String>),
    Bool(BTreeSet<bool>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bound {
    value: f64,
    inclusive: bool,
}

impl Filter {
    /// The map form: every field must hold one of its values.
    pub(crate) fn from_map(map: &Map<String, Value>) -> Result<Filter, String> {
        map.iter()
            .map(|(field, values)| {
                let values = values.as_array().ok_or_else(|| {
                    format!("filter field `{field}` must map to a list of values")
                })?;
                must(field, values, false)
            })
            .collect::<Result<_, _>>()
            .map(Filter::And)
    }

    /// `filter_conds`: a list of conditions, all of which must hold.
    pub(crate) fn from_conds(conds: &[Value]) -> Result<Filter, String> {
        conds
            .iter()
            .map(cond)
            .collect::<Result<_, _>>()
            .map(Filter::And)
    }

    /// The columns the filter reads.
    pub(crate) fn columns(&self, out: &mut BTreeSet<String>) {
        match self {
            Filter::Must { field, .. } | Filter::Range { field, .. } => {
                out.insert(field.clone());
            }
            Filter::And(all) | Filter::Or(all) => all.iter().for_each(|f| f.columns(out)),
        }
    }

    /// Which rows of `batch` match. The batch must hold every column of [`Filter::columns`]
    /// with the profile's types.
    pub(crate) fn evaluate(&self, batch: &RecordBatch) -> BooleanArray {
        BooleanArray::from(self.rows(batch))
    }

    fn rows(&self, batch: &RecordBatch) -> Vec<bool> {
        let n = batch.num_rows();
        match self {
            Filter::Must {
                field,
                values,
                negate,
            } => {
                let column = batch.column_by_name(field).expect("a filtered column");
                (0..n)
                    .map(|i| contains(column.as_ref(), i, values) != *negate)
                    .collect()
            }
            Filter::Range {
                field,
                lower,
                upper,
                outside,
            } => {
                let column = batch.column_by_name(field).expect("a filtered column");
                let value = |i: usize| match column.as_primitive_opt::<Int64Type>() {
                    Some(ints) => ints.value(i) as f64,
                    None => f64::from(column.as_primitive::<Float32Type>().value(i)),
                };
                (0..n)
                    .map(|i| {
                        let v = value(i);
                        let above =
                            lower.is_none_or(|b| v > b.value || b.inclusive && v == b.value);
                        let below =
                            upper.is_none_or(|b| v < b.value || b.inclusive && v == b.value);
                        (above && below) != *outside
                    })
                    .collect()
            }
            Filter::And(all) => all.iter().fold(vec![true; n], |acc, f| {
                acc.iter()
                    .zip(f.rows(batch))
                    .map(|(a, b)| *a && b)
                    .collect()
            }),
            Filter::Or(any) => any.iter().fold(vec![false; n], |acc, f| {
                acc.iter()
                    .zip(f.rows(batch))
                    .map(|(a, b)| *a || b)
                    .collect()
            }),
        }
    }
}

/// Whether row `i` of a scalar column is in `values`, or any element of a list column is.
fn contains(column: &dyn Array, i: usize, values: &Values) -> bool {
    if let Some(list) = column.as_list_opt::<i32>() {
        let elements = list.value(i);
        return (0..elements.len()).any(|j| scalar_in(elements.as_ref(), j, values));
    }
    scalar_in(column, i, values)
}

fn scalar_in(column: &dyn Array, i: usize, values: &Values) -> bool {
    match values {
        Values::Int(set) => set.contains(&column.as_primitive::<Int64Type>().value(i)),
        Values::Str(set) => set.contains(column.as_string::<i32>().value(i)),
        Values::Bool(set) => set.contains(&column.as_boolean().value(i)),
    }
}

fn cond(value: &Value) -> Result<Filter, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("a filter condition must be an object, got {value}"))?;
    let op = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("a filter condition needs an `op`, got {value}"))?;
    let conds = || {
        obj.get("conds")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("`{op}` needs a non-empty `conds` list, got {value}"))
    };
    match op {
        "must" | "must_not" => must(field_name(obj, op)?, conds()?, op == "must_not"),
        "range" | "range_out" => range(obj, op),
        "and" | "or" => {
            let all = conds()?.iter().map(cond).collect::<Result<Vec<_>, _>>()?;
            Ok(if op == "and" {
                Filter::And(all)
            } else {
                Filter::Or(all)
            })
        }
        other => Err(format!(
            "unsupported filter op `{other}`; supported: must, must_not, range, range_out, \
             and, or"
        )),
    }
}

fn field_name<'a>(obj: &'a Map<String, Value>, op: &str) -> Result<&'a str, String> {
    match obj.get("field") {
        Some(Value::String(field)) => Ok(field),
        Some(Value::Array(_)) => Err(format!(
            "`{op}` over several fields (a 2-D circle) is not supported by the emulator"
        )),
        _ => Err(format!("`{op}` needs a `field`")),
    }
}

/// The field's type, or an error naming it and the fields there are.
fn typed(field: &str) -> Result<FieldType, String> {
    field_type(field).ok_or_else(|| {
        let known: Vec<&str> = FIELDS.iter().map(|(n, _)| *n).collect();
        format!(
            "unknown filter field `{field}`; the collection has: {}",
            known.join(", ")
        )
    })
}

fn must(field: &str, conds: &[Value], negate: bool) -> Result<Filter, String> {
    let ty = typed(field)?;
    let wrong = |v: &Value| {
        format!(
            "filter value {v} does not fit field `{field}` of type {}",
            ty.as_str()
        )
    };
    let values = match ty {
        FieldType::Int64 | FieldType::ListInt64 => Values::Int(
            conds
                .iter()
                .map(|v| v.as_i64().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
        FieldType::String | FieldType::ListString => Values::Str(
            conds
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
        FieldType::Bool => Values::Bool(
            conds
                .iter()
                .map(|v| v.as_bool().ok_or_else(|| wrong(v)))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return Err(format!(
                "field `{field}` of type {} cannot be filtered with must/must_not",
                other.as_str()
            ));
        }
    };
    Ok(Filter::Must {
        field: field.to_string(),
        values,
        negate,
    })
}

fn range(obj: &Map<String, Value>, op: &str) -> Result<Filter, String> {
    let field = field_name(obj, op)?;
    let ty = typed(field)?;
    if !matches!(ty, FieldType::Int64 | FieldType::Float32) {
        return Err(format!(
            "field `{field}` of type {} cannot be filtered with {op}",
            ty.as_str()
        ));
    }
    let bound = |inclusive: &str, exclusive: &str| -> Result<Option<Bound>, String> {
        let number = |key: &str| {
            obj.get(key)
                .map(|v| {
                    v.as_f64()
                        .ok_or_else(|| format!("`{op}` bound `{key}` must be a number, got {v}"))
                })
                .transpose()
        };
        match (number(inclusive)?, number(exclusive)?) {
            (Some(_), Some(_)) => Err(format!(
                "`{op}` takes `{inclusive}` or `{exclusive}`, not both"
            )),
            (Some(value), None) => Ok(Some(Bound {
                value,
                inclusive: true,
            })),
            (None, Some(value)) => Ok(Some(Bound {
                value,
                inclusive: false,
            })),
            (None, None) => Ok(None),
        }
    };
    let (lower, upper) = (bound("gte", "gt")?, bound("lte", "lt")?);
    if lower.is_none() && upper.is_none() {
        return Err(format!("`{op}` needs at least one of gte, gt, lte, lt"));
    }
    Ok(Filter::Range {
        field: field.to_string(),
        lower,
        upper,
        outside: op == "range_out",
    })
}

#[cfg(test)]
mod tests {
    use arrowport_datagen::{Config, Profile, generate_batch};
    use serde_json::json;

    use super::*;

    fn batch() -> RecordBatch {
        let config = Config {
            rows: 400,
            profile: Profile::Vikingdb,
            dim: Some(4),
            ..Config::default()
        };
        generate_batch(&config, 0, 400, None).unwrap()
    }

    /// Matching ids, by a row predicate written independently of the evaluator.
    fn expected(batch: &RecordBatch, keep: impl Fn(usize) -> bool) -> Vec<i64> {
        (0..batch.num_rows())
            .filter(|&i| keep(i))
            .map(|i| i as i64)
            .collect()
    }

    fn matched(filter: &Filter, batch: &RecordBatch) -> Vec<i64> {
        let mask = filter.evaluate(batch);
        (0..batch.num_rows())
            .filter(|&i| mask.value(i))
            .map(|i| i as i64)
            .collect()
    }

    fn dsl(conds: Value) -> Filter {
        Filter::from_conds(conds.as_array().unwrap()).unwrap()
    }

    #[test]
    fn map_form_ands_fields_and_ors_values() {
        let b = batch();
        let category = b.column_by_name("category").unwrap().as_string::<i32>();
        let flag = b.column_by_name("flag").unwrap().as_boolean();
        let filter = Filter::from_map(
            json!({"category": ["alpha", "bravo"], "flag": [true]})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        let want = expected(&b, |i| {
            ["alpha", "bravo"].contains(&category.value(i)) && flag.value(i)
        });
        assert!(!want.is_empty());
        assert_eq!(matched(&filter, &b), want);
        let mut columns = BTreeSet::new();
        filter.columns(&mut columns);
        assert_eq!(
            columns.into_iter().collect::<Vec<_>>(),
            ["category", "flag"]
        );
    }

    #[test]
    fn must_on_lists_means_any_element_and_must_not_its_negation() {
        let b = batch();
        let tags = b.column_by_name("tags").unwrap().as_list::<i32>();
        let has = |i: usize, tag: &str| {
            let v = tags.value(i);
            v.as_string::<i32>().iter().any(|t| t == Some(tag))
        };
        let must = dsl(json!([{"op": "must", "field": "tags", "conds": ["red", "新品"]}]));
        let want = expected(&b, |i| has(i, "red") || has(i, "新品"));
        assert!(!want.is_empty() && want.len() < 400);
        assert_eq!(matched(&must, &b), want);
        let not = dsl(json!([{"op": "must_not", "field": "tags", "conds": ["red", "新品"]}]));
        // Empty lists hold no element of the set.
        let want_not = expected(&b, |i| !(has(i, "red") || has(i, "新品")));
        assert!(want_not.iter().any(|&i| tags.value_length(i as usize) == 0));
        assert_eq!(matched(&not, &b), want_not);

        let codes = b.column_by_name("codes").unwrap().as_list::<i32>();
        let code = codes.value(7).as_primitive::<Int64Type>().value(0);
        let f = dsl(json!([{"op": "must", "field": "codes", "conds": [code]}]));
        assert!(matched(&f, &b).contains(&7));
    }

    #[test]
    fn ranges_and_their_complements_on_ints_and_floats() {
        let b = batch();
        let score = b
            .column_by_name("score")
            .unwrap()
            .as_primitive::<Float32Type>();
        let f = dsl(json!([{"op": "range", "field": "id", "gte": 10, "lt": 20}]));
        assert_eq!(matched(&f, &b), (10..20).collect::<Vec<_>>());
        let f = dsl(json!([{"op": "range", "field": "id", "gt": 10, "lte": 20}]));
        assert_eq!(matched(&f, &b), (11..=20).collect::<Vec<_>>());
        let f = dsl(json!([{"op": "range_out", "field": "id", "gte": 10, "lt": 390}]));
        assert_eq!(matched(&f, &b), (0..10).chain(390..400).collect::<Vec<_>>());
        let f = dsl(json!([{"op": "range", "field": "score", "gt": 0.25, "lt": 0.5}]));
        let want = expected(&b, |i| {
            let v = f64::from(score.value(i));
            v > 0.25 && v < 0.5
        });
        assert!(!want.is_empty());
        assert_eq!(matched(&f, &b), want);
        let f = dsl(json!([{"op": "range", "field": "score", "lte": 0.1}]));
        assert_eq!(
            matched(&f, &b),
            expected(&b, |i| f64::from(score.value(i)) <= 0.1)
        );
    }

    #[test]
    fn and_or_nest_and_top_level_conds_are_anded() {
        let b = batch();
        let flag = b.column_by_name("flag").unwrap().as_boolean();
        let f = dsl(json!([
            {"op": "or", "conds": [
                {"op": "range", "field": "id", "lt": 5},
                {"op": "and", "conds": [
                    {"op": "range", "field": "id", "gte": 100},
                    {"op": "must", "field": "flag", "conds": [false]}
                ]}
            ]},
            {"op": "must_not", "field": "id", "conds": [3, 150]}
        ]));
        let want = expected(&b, |i| {
            (i < 5 || (i >= 100 && !flag.value(i))) && i != 3 && i != 150
        });
        assert_eq!(matched(&f, &b), want);
    }

    #[test]
    fn invalid_filters_name_the_problem() {
        for (conds, needle) in [
            (
                json!([{"op": "must", "field": "nope", "conds": [1]}]),
                "unknown filter field `nope`",
            ),
            (
                json!([{"op": "must", "field": "id", "conds": ["1"]}]),
                "does not fit field `id`",
            ),
            (
                json!([{"op": "must", "field": "vector", "conds": [1]}]),
                "vector",
            ),
            (
                json!([{"op": "must", "field": "body", "conds": ["a"]}]),
                "text",
            ),
            (
                json!([{"op": "must", "field": "id", "conds": []}]),
                "non-empty",
            ),
            (
                json!([{"op": "range", "field": "category", "gt": 1}]),
                "category",
            ),
            (json!([{"op": "range", "field": "id"}]), "at least one"),
            (
                json!([{"op": "range", "field": "id", "gt": 1, "gte": 2}]),
                "not both",
            ),
            (
                json!([{"op": "range", "field": ["a", "b"], "radius": 1}]),
                "2-D",
            ),
            (
                json!([{"op": "like", "field": "id"}]),
                "unsupported filter op `like`",
            ),
            (json!([{"op": "and"}]), "non-empty"),
            (json!([1]), "must be an object"),
        ] {
            let err = Filter::from_conds(conds.as_array().unwrap()).unwrap_err();
            assert!(err.contains(needle), "{conds}: {err}");
        }
        let err = Filter::from_map(json!({"category": "alpha"}).as_object().unwrap()).unwrap_err();
        assert!(err.contains("list of values"), "{err}");
        let err = Filter::from_map(json!({"ghost": [1]}).as_object().unwrap()).unwrap_err();
        assert!(err.contains("`ghost`"), "{err}");
    }
}
