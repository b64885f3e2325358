//! What the text formats (JSON, CSV) share.
//!
//! Both render values through arrow's display kernels, which print a zoned timestamp in its
//! zone, with its offset (`2024-01-01T08:00:00+08:00`): the JSON and CSV features enable arrow's
//! `chrono-tz`, so named zones such as `Asia/Shanghai` keep their local wall time. A zone arrow
//! cannot resolve (a misspelt or unknown name) is relabelled `+00:00`: the same instants,
//! printed in UTC with an explicit offset, so any ISO-8601 reader gets them back exactly; for a
//! name other than UTC the sink warns that the local wall time is lost (see
//! [`zones_shown_in_utc`]).

use std::sync::Arc;

use arrowport_core::arrow::array::timezone::Tz;
use arrowport_core::arrow::compute::{can_cast_types, cast};
use arrowport_core::arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{Error, Result};

use super::Format;

/// Zone names that mean UTC, compared case-insensitively.
const UTC_NAMES: &[&str] = &[
    "utc",
    "etc/utc",
    "z",
    "zulu",
    "etc/zulu",
    "uct",
    "etc/uct",
    "universal",
    "etc/universal",
    "gmt",
    "etc/gmt",
    "gmt0",
    "etc/gmt0",
    "gmt+0",
    "gmt-0",
    "etc/gmt+0",
    "etc/gmt-0",
    "greenwich",
    "etc/greenwich",
];

/// Why a column cannot be written in a text format, or `None` if it can.
pub(crate) type Unsupported = fn(&DataType) -> Option<&'static str>;

/// Checks every column against the format's `unsupported` rule, and reports all offending
/// columns at once, with `hint` saying what to do instead.
pub(crate) fn check_schema(
    format: Format,
    schema: &Schema,
    unsupported: Unsupported,
    hint: &str,
) -> Result<()> {
    let mut problems = Vec::new();
    for field in schema.fields() {
        let ty = field.data_type();
        if let Some(why) = unsupported(ty) {
            problems.push(format!("`{}` ({ty}: {why})", field.name()));
        } else if let Some(relabelled) = zones_as_offset(ty)
            && !can_cast_types(ty, &relabelled)
        {
            problems.push(format!(
                "`{}` ({ty}: its time zone cannot be written as an offset)",
                field.name()
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::schema(format!(
        "{} cannot write {} {}; {hint}",
        format.name(),
        if problems.len() == 1 {
            "column"
        } else {
            "columns"
        },
        problems.join(", ")
    ))
    .with_context("plugin", format.name()))
}

fn is_utc_name(zone: &str) -> bool {
    UTC_NAMES.iter().any(|n| n.eq_ignore_ascii_case(zone))
}

/// A zone arrow cannot resolve in this build, and that is not UTC by another name.
fn is_unresolved(zone: &str) -> bool {
    !is_utc_name(zone) && zone.parse::<Tz>().is_err()
}

/// A zone that is relabelled `+00:00` before printing.
fn needs_relabel(zone: &str) -> bool {
    is_utc_name(zone) || zone.parse::<Tz>().is_err()
}

/// The first zone in `ty` that will be printed in UTC instead of its own time.
fn unresolved_zone(ty: &DataType) -> Option<String> {
    match ty {
        DataType::Timestamp(_, Some(zone)) if is_unresolved(zone) => Some(zone.to_string()),
        _ => children(ty).find_map(|f| unresolved_zone(f.data_type())),
    }
}

/// Warnings for the columns whose named zone will be printed as UTC, one per column.
pub(crate) fn zones_shown_in_utc(format: Format, schema: &Schema) -> Vec<String> {
    schema
        .fields()
        .iter()
        .filter_map(|f| {
            let zone = unresolved_zone(f.data_type())?;
            Some(format!(
                "{}: column `{}` is written in UTC (+00:00): time zone `{zone}` needs arrow's \
                 chrono-tz feature to be printed as local time; the instants are exact",
                format.name(),
                f.name()
            ))
        })
        .collect()
}

fn children(ty: &DataType) -> Box<dyn Iterator<Item = &FieldRef> + '_> {
    match ty {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => Box::new(std::iter::once(f)),
        DataType::Struct(fields) => Box::new(fields.iter()),
        DataType::RunEndEncoded(_, values) => Box::new(std::iter::once(values)),
        _ => Box::new(std::iter::empty()),
    }
}

/// `ty` with every zone that needs it (see [`needs_relabel`]) replaced by `+00:00`, or `None`
/// if there is none.
fn zones_as_offset(ty: &DataType) -> Option<DataType> {
    let field = |f: &FieldRef| -> Option<FieldRef> {
        zones_as_offset(f.data_type()).map(|t| Arc::new(Field::clone(f).with_data_type(t)))
    };
    match ty {
        DataType::Timestamp(unit, Some(zone)) if needs_relabel(zone) => {
            Some(DataType::Timestamp(*unit, Some("+00:00".into())))
        }
        DataType::List(f) => field(f).map(DataType::List),
        DataType::LargeList(f) => field(f).map(DataType::LargeList),
        DataType::ListView(f) => field(f).map(DataType::ListView),
        DataType::LargeListView(f) => field(f).map(DataType::LargeListView),
        DataType::FixedSizeList(f, n) => field(f).map(|f| DataType::FixedSizeList(f, *n)),
        DataType::Map(f, sorted) => field(f).map(|f| DataType::Map(f, *sorted)),
        DataType::Struct(fields) => {
            let mapped: Vec<Option<FieldRef>> = fields.iter().map(field).collect();
            mapped.iter().any(Option::is_some).then(|| {
                let fields: Fields = mapped
                    .into_iter()
                    .zip(fields.iter())
                    .map(|(m, f)| m.unwrap_or_else(|| f.clone()))
                    .collect();
                DataType::Struct(fields)
            })
        }
        DataType::Dictionary(key, value) => {
            zones_as_offset(value).map(|v| DataType::Dictionary(key.clone(), Box::new(v)))
        }
        _ => None,
    }
}

/// Rewrites batches so that zones arrow cannot print read `+00:00`; the values are untouched.
#[derive(Debug)]
pub(crate) struct Relabel {
    schema: SchemaRef,
}

impl Relabel {
    /// `None` when no zone in `schema` needs it, so the common case costs nothing per batch.
    pub(crate) fn new(schema: &Schema) -> Option<Self> {
        let mapped: Vec<Option<DataType>> = schema
            .fields()
            .iter()
            .map(|f| zones_as_offset(f.data_type()))
            .collect();
        if mapped.iter().all(Option::is_none) {
            return None;
        }
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .zip(mapped)
            .map(|(f, m)| match m {
                Some(t) => Field::clone(f).with_data_type(t),
                None => Field::clone(f),
            })
            .collect();
        Some(Relabel {
            schema: Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        })
    }

    pub(crate) fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| {
                if c.data_type() == f.data_type() {
                    Ok(c.clone())
                } else {
                    cast(c, f.data_type())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

#[cfg(test)]
mod tests {
    use arrowport_core::arrow::array::{ArrayRef, ListArray, TimestampMicrosecondArray};
    use arrowport_core::arrow::datatypes::TimeUnit;

    use super::*;

    fn ts(zone: &str) -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into()))
    }

    #[test]
    fn recognises_zones() {
        assert_eq!(unresolved_zone(&ts("UTC")), None);
        assert_eq!(unresolved_zone(&ts("+08:00")), None);
        assert_eq!(zones_as_offset(&ts("+08:00")), None);
        assert_eq!(zones_as_offset(&ts("Etc/UTC")), Some(ts("+00:00")));
        // Named zones resolve only when arrow's chrono-tz feature is on.
        let nested = DataType::List(Arc::new(Field::new("item", ts("Europe/Paris"), true)));
        if "Europe/Paris".parse::<Tz>().is_err() {
            assert_eq!(unresolved_zone(&nested).as_deref(), Some("Europe/Paris"));
            let schema = Schema::new(vec![Field::new("when", nested, true)]);
            let warnings = zones_shown_in_utc(Format::Ndjson, &schema);
            assert_eq!(warnings.len(), 1);
            assert!(
                warnings[0].contains("`when` is written in UTC"),
                "{warnings:?}"
            );
        } else {
            assert_eq!(unresolved_zone(&nested), None);
        }
    }

    #[test]
    fn relabels_utc_keeping_values() {
        let list_ty = DataType::List(Arc::new(Field::new("item", ts("UTC"), true)));
        let schema = Schema::new(vec![
            Field::new("t", ts("UTC"), true),
            Field::new("l", list_ty.clone(), true),
        ]);
        let t = TimestampMicrosecondArray::from(vec![Some(1), None]).with_timezone("UTC");
        let l = ListArray::new(
            Arc::new(Field::new("item", ts("UTC"), true)),
            arrowport_core::arrow::buffer::OffsetBuffer::from_lengths([2, 0]),
            Arc::new(TimestampMicrosecondArray::from(vec![5, 6]).with_timezone("UTC")) as ArrayRef,
            None,
        );
        let batch =
            RecordBatch::try_new(Arc::new(schema.clone()), vec![Arc::new(t), Arc::new(l)]).unwrap();
        let relabel = Relabel::new(&schema).unwrap();
        let out = relabel.apply(&batch).unwrap();
        assert_eq!(out.schema().field(0).data_type(), &ts("+00:00"));
        let back = cast(out.column(0), &ts("UTC")).unwrap();
        assert_eq!(back.as_ref(), batch.column(0).as_ref());
        assert!(Relabel::new(&Schema::new(vec![Field::new("x", ts("+01:00"), true)])).is_none());
    }
}
