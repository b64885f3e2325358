//! Many files, one table: the type every file's column can be read as without loss.
//!
//! Columns are matched by name (their order may differ between files; the first file's order
//! wins). A column is nullable if it is in any file. Types unify only where every value of
//! each survives: integers widen (Int8 → Int16 → Int32 → Int64, UIntN into a wider UInt or
//! Int), floats widen, integers meet floats where the float holds them exactly (up to 16 bits
//! in Float32, 32 bits in Float64), strings and binaries meet their large variants, decimals
//! meet a decimal holding both, Null meets anything, and lists, structs and maps unify by
//! their children. Timestamps must agree on unit and timezone. Types inferred from CSV or
//! NDJSON text are guesses from a sample rather than facts, so two inferred columns also unify
//! as arrow's own inference does within one file: integer and float give a float, other
//! scalar mixes give a string. Anything else is an error naming both files and the column.

use std::collections::HashMap;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::{DataType, Field, Fields, Schema};
use arrowport_core::{Error, Result};

use crate::NAME;

/// The type that values of `a` and of `b` can both be read as without loss, if any.
/// `inferred` allows the looser rules for two types inferred from text.
pub(crate) fn unify(a: &DataType, b: &DataType, inferred: bool) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    let exact = match (a, b) {
        (Null, t) | (t, Null) => Some(t.clone()),
        (List(x), List(y)) => unify_field(x, y, inferred).map(|f| List(Arc::new(f))),
        (LargeList(x), LargeList(y)) | (List(x), LargeList(y)) | (LargeList(x), List(y)) => {
            unify_field(x, y, inferred).map(|f| LargeList(Arc::new(f)))
        }
        (FixedSizeList(x, n), FixedSizeList(y, m)) if n == m => {
            unify_field(x, y, inferred).map(|f| FixedSizeList(Arc::new(f), *n))
        }
        (Map(x, sx), Map(y, sy)) if sx == sy => {
            unify_field(x, y, inferred).map(|f| Map(Arc::new(f), *sx))
        }
        (Struct(x), Struct(y)) if x.len() == y.len() => x
            .iter()
            .zip(y.iter())
            .map(|(fx, fy)| unify_field(fx, fy, inferred))
            .collect::<Option<Fields>>()
            .map(Struct),
        (Utf8 | LargeUtf8 | Utf8View, Utf8 | LargeUtf8 | Utf8View) => {
            Some(if matches!(a, LargeUtf8) || matches!(b, LargeUtf8) {
                LargeUtf8
            } else {
                Utf8
            })
        }
        (Binary | LargeBinary | BinaryView, Binary | LargeBinary | BinaryView) => {
            Some(if matches!(a, LargeBinary) || matches!(b, LargeBinary) {
                LargeBinary
            } else {
                Binary
            })
        }
        (Decimal128(p1, s1), Decimal128(p2, s2)) => {
            let scale = (*s1).max(*s2);
            let whole = (i16::from(*p1) - i16::from(*s1)).max(i16::from(*p2) - i16::from(*s2));
            u8::try_from(whole + i16::from(scale))
                .ok()
                .filter(|p| *p <= 38)
                .map(|p| Decimal128(p, scale))
        }
        _ => numeric(a, b),
    };
    match exact {
        Some(t) => Some(t),
        None if inferred && !a.is_nested() && !b.is_nested() => Some(match (a, b) {
            (Int64 | Float64, Int64 | Float64) => Float64,
            _ => Utf8,
        }),
        None => None,
    }
}

/// Children unify by name and type; nullable if either is.
fn unify_field(a: &Field, b: &Field, inferred: bool) -> Option<Field> {
    if a.name() != b.name() {
        return None;
    }
    let ty = unify(a.data_type(), b.data_type(), inferred)?;
    Some(Field::new(a.name(), ty, a.is_nullable() || b.is_nullable()))
}

/// Signedness and width of integers, width of floats.
enum Num {
    Int { signed: bool, bits: u8 },
    Float { bits: u8 },
}

fn num(t: &DataType) -> Option<Num> {
    use DataType::*;
    Some(match t {
        Int8 => Num::Int {
            signed: true,
            bits: 8,
        },
        Int16 => Num::Int {
            signed: true,
            bits: 16,
        },
        Int32 => Num::Int {
            signed: true,
            bits: 32,
        },
        Int64 => Num::Int {
            signed: true,
            bits: 64,
        },
        UInt8 => Num::Int {
            signed: false,
            bits: 8,
        },
        UInt16 => Num::Int {
            signed: false,
            bits: 16,
        },
        UInt32 => Num::Int {
            signed: false,
            bits: 32,
        },
        UInt64 => Num::Int {
            signed: false,
            bits: 64,
        },
        Float16 => Num::Float { bits: 16 },
        Float32 => Num::Float { bits: 32 },
        Float64 => Num::Float { bits: 64 },
        _ => return None,
    })
}

fn int(signed: bool, bits: u8) -> DataType {
    use DataType::*;
    match (signed, bits) {
        (true, 8) => Int8,
        (true, 16) => Int16,
        (true, 32) => Int32,
        (true, _) => Int64,
        (false, 8) => UInt8,
        (false, 16) => UInt16,
        (false, 32) => UInt32,
        (false, _) => UInt64,
    }
}

fn float(bits: u8) -> DataType {
    match bits {
        16 => DataType::Float16,
        32 => DataType::Float32,
        _ => DataType::Float64,
    }
}

/// Bits of mantissa a float of `bits` holds integers in exactly (11, 24, 53).
fn exact_bits(bits: u8) -> u8 {
    match bits {
        16 => 11,
        32 => 24,
        _ => 53,
    }
}

fn numeric(a: &DataType, b: &DataType) -> Option<DataType> {
    match (num(a)?, num(b)?) {
        (
            Num::Int {
                signed: sa,
                bits: ba,
            },
            Num::Int {
                signed: sb,
                bits: bb,
            },
        ) => {
            if sa == sb {
                Some(int(sa, ba.max(bb)))
            } else {
                // The signed side must hold every value of the unsigned one.
                let (unsigned, signed) = if sa { (bb, ba) } else { (ba, bb) };
                let bits = signed.max(unsigned * 2);
                (bits <= 64).then(|| int(true, bits))
            }
        }
        (Num::Float { bits: fa }, Num::Float { bits: fb }) => Some(float(fa.max(fb))),
        (Num::Int { signed, bits }, Num::Float { bits: f })
        | (Num::Float { bits: f }, Num::Int { signed, bits }) => {
            let needed = bits - u8::from(signed);
            [f, 32, 64]
                .into_iter()
                .filter(|&w| w >= f)
                .find(|&w| exact_bits(w) >= needed)
                .map(float)
        }
    }
}

/// Builds one schema from the schemas of many files.
#[derive(Debug, Default)]
pub(crate) struct Unifier {
    fields: Vec<Column>,
    index: HashMap<String, usize>,
    first: Option<String>,
}

#[derive(Debug)]
struct Column {
    field: Field,
    /// Every file's type for it was inferred from text.
    inferred: bool,
    /// The file the column's type was first seen in.
    from: String,
}

impl Unifier {
    /// Adds a file's schema. `union` lets files lack columns that others have, and have
    /// columns that others lack (NDJSON: a key a record does not have is null), instead of
    /// that being an error.
    pub(crate) fn add(
        &mut self,
        file: &str,
        schema: &Schema,
        inferred: bool,
        union: bool,
    ) -> Result<()> {
        let conflict = |why: String| {
            Error::schema(format!("{NAME}: {why}; they cannot be read as one table"))
                .with_context("plugin", NAME)
                .with_context("path", file)
        };
        let mut seen = std::collections::HashSet::new();
        for f in schema.fields() {
            if !seen.insert(f.name().as_str()) {
                return Err(conflict(format!(
                    "`{file}` has two columns named `{}`",
                    f.name()
                )));
            }
        }
        let Some(first) = self.first.clone() else {
            self.first = Some(file.to_string());
            for f in schema.fields() {
                self.push(f, inferred, file);
            }
            return Ok(());
        };
        for f in schema.fields() {
            let Some(&i) = self.index.get(f.name()) else {
                if !union {
                    return Err(conflict(format!(
                        "`{file}` has a column `{}` that `{first}` does not have",
                        f.name()
                    )));
                }
                let mut field = f.as_ref().clone();
                field.set_nullable(true);
                self.push(&field, inferred, file);
                continue;
            };
            let col = &mut self.fields[i];
            let both_inferred = col.inferred && inferred;
            let ty =
                unify(col.field.data_type(), f.data_type(), both_inferred).ok_or_else(|| {
                    conflict(format!(
                        "column `{}` is {} in `{file}` but {} in `{}`",
                        f.name(),
                        f.data_type(),
                        col.field.data_type(),
                        col.from
                    ))
                })?;
            col.field = Field::new(f.name(), ty, col.field.is_nullable() || f.is_nullable());
            col.inferred = both_inferred;
        }
        for col in &mut self.fields {
            if schema.field_with_name(col.field.name()).is_err() {
                if !union {
                    return Err(conflict(format!(
                        "`{file}` has no column `{}`, which `{}` has",
                        col.field.name(),
                        col.from
                    )));
                }
                col.field.set_nullable(true);
            }
        }
        Ok(())
    }

    fn push(&mut self, field: &Field, inferred: bool, file: &str) {
        self.index.insert(field.name().clone(), self.fields.len());
        self.fields.push(Column {
            field: field.clone(),
            inferred,
            from: file.to_string(),
        });
    }

    pub(crate) fn finish(self) -> Vec<Field> {
        self.fields.into_iter().map(|c| c.field).collect()
    }
}

#[cfg(test)]
mod tests {
    use arrowport_core::ErrorKind;
    use arrowport_core::arrow::datatypes::TimeUnit;

    use super::*;
    use DataType::*;

    #[test]
    fn numbers_widen_only_without_loss() {
        let typed = |a: &DataType, b: &DataType| unify(a, b, false);
        assert_eq!(typed(&Int32, &Int64), Some(Int64));
        assert_eq!(typed(&Int8, &Int16), Some(Int16));
        assert_eq!(typed(&UInt8, &UInt32), Some(UInt32));
        assert_eq!(typed(&UInt32, &Int32), Some(Int64));
        assert_eq!(typed(&UInt16, &Int64), Some(Int64));
        assert_eq!(typed(&UInt64, &Int64), None);
        assert_eq!(typed(&Float32, &Float64), Some(Float64));
        assert_eq!(typed(&Int16, &Float32), Some(Float32));
        assert_eq!(typed(&Int32, &Float32), Some(Float64));
        assert_eq!(typed(&Int32, &Float64), Some(Float64));
        assert_eq!(typed(&Int64, &Float64), None);
        assert_eq!(typed(&UInt32, &Float64), Some(Float64));
        assert_eq!(typed(&Int64, &Utf8), None);
        assert_eq!(typed(&Null, &Utf8), Some(Utf8));
        assert_eq!(typed(&Utf8, &LargeUtf8), Some(LargeUtf8));
        assert_eq!(typed(&Utf8View, &Utf8), Some(Utf8));
        assert_eq!(
            typed(&Decimal128(10, 2), &Decimal128(12, 4)),
            Some(Decimal128(12, 4))
        );
        assert_eq!(typed(&Decimal128(38, 0), &Decimal128(38, 10)), None);
        let ms = Timestamp(TimeUnit::Millisecond, None);
        let us = Timestamp(TimeUnit::Microsecond, None);
        let utc = Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        assert_eq!(typed(&ms, &us), None);
        assert_eq!(typed(&ms, &utc), None);
    }

    #[test]
    fn inferred_types_unify_like_inference() {
        assert_eq!(unify(&Int64, &Float64, true), Some(Float64));
        assert_eq!(unify(&Int64, &Boolean, true), Some(Utf8));
        let list = DataType::new_list(Int64, true);
        assert_eq!(unify(&list, &Utf8, true), None);
    }

    #[test]
    fn nested_types_unify_by_children() {
        let a = DataType::new_list(Int32, false);
        let b = DataType::new_list(Int64, true);
        assert_eq!(unify(&a, &b, false), Some(DataType::new_list(Int64, true)));
        let s1 = Struct(vec![Field::new("x", Int32, false)].into());
        let s2 = Struct(vec![Field::new("x", Int64, true)].into());
        let s3 = Struct(vec![Field::new("y", Int64, true)].into());
        assert_eq!(
            unify(&s1, &s2, false),
            Some(Struct(vec![Field::new("x", Int64, true)].into()))
        );
        assert_eq!(unify(&s1, &s3, false), None);
    }

    fn schema(fields: &[(&str, DataType, bool)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn files_unify_by_name() {
        let mut u = Unifier::default();
        u.add(
            "a.parquet",
            &schema(&[("id", Int32, false), ("x", Utf8, false)]),
            false,
            false,
        )
        .unwrap();
        u.add(
            "b.parquet",
            &schema(&[("x", Utf8, true), ("id", Int64, false)]),
            false,
            false,
        )
        .unwrap();
        let fields = u.finish();
        assert_eq!(fields[0], Field::new("id", Int64, false));
        assert_eq!(fields[1], Field::new("x", Utf8, true));
    }

    #[test]
    fn conflicts_name_the_file_and_column() {
        let mut u = Unifier::default();
        u.add("a.parquet", &schema(&[("id", Int64, false)]), false, false)
            .unwrap();
        let e = u
            .add("b.parquet", &schema(&[("id", Utf8, false)]), false, false)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Schema);
        assert_eq!(
            e.message(),
            "file: column `id` is Utf8 in `b.parquet` but Int64 in `a.parquet`; they cannot be \
             read as one table"
        );
        assert_eq!(e.context_value("path"), Some("b.parquet"));
        let e = u
            .add(
                "c.parquet",
                &schema(&[("id", Int64, false), ("y", Int64, false)]),
                false,
                false,
            )
            .unwrap_err();
        assert!(e.message().contains("`c.parquet` has a column `y`"), "{e}");
        let e = u.add("d.parquet", &schema(&[]), false, false).unwrap_err();
        assert!(
            e.message().contains("`d.parquet` has no column `id`"),
            "{e}"
        );
        let e = u
            .add(
                "e.csv",
                &schema(&[("id", Int64, true), ("id", Int64, true)]),
                true,
                false,
            )
            .unwrap_err();
        assert!(e.message().contains("two columns named `id`"), "{e}");
    }

    #[test]
    fn ndjson_files_may_differ_in_keys() {
        let mut u = Unifier::default();
        u.add("a.ndjson", &schema(&[("a", Int64, false)]), true, true)
            .unwrap();
        u.add(
            "b.ndjson",
            &schema(&[("b", Utf8, false), ("a", Float64, true)]),
            true,
            true,
        )
        .unwrap();
        let fields = u.finish();
        assert_eq!(fields[0], Field::new("a", Float64, true));
        assert_eq!(fields[1], Field::new("b", Utf8, true));
    }
}
