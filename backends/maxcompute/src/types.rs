//! MaxCompute type strings (spec §3.4) and their Arrow mapping (DESIGN.md type table).
//!
//! `datetime` and `timestamp` are instants (UTC epoch milliseconds / seconds+nanos on the wire,
//! spec §3.1), so they map to Arrow timestamps carrying a timezone — `UTC` unless the caller
//! records the project timezone instead ([`TypeMapping::timezone`]); the stored values are never
//! shifted. `timestamp_ntz` is a wall-clock time and maps to a timestamp without timezone.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use arrowport_core::{Error, ErrorKind, Result};

/// Precision and scale of the legacy `decimal` without parameters (PyODPS `types.py`).
pub const LEGACY_DECIMAL: (u8, u8) = (54, 18);

/// A MaxCompute column type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OdpsType {
    /// `tinyint` (8-bit).
    TinyInt,
    /// `smallint` (16-bit).
    SmallInt,
    /// `int` (32-bit).
    Int,
    /// `bigint` (64-bit).
    BigInt,
    /// `float` (32-bit IEEE 754).
    Float,
    /// `double` (64-bit IEEE 754).
    Double,
    /// `boolean`.
    Boolean,
    /// `string`.
    String,
    /// `varchar(n)`.
    Varchar(u32),
    /// `char(n)`.
    Char(u32),
    /// `binary`.
    Binary,
    /// `json` (text on the wire).
    Json,
    /// `decimal(p,s)`; the legacy bare `decimal` is `(54,18)` with `legacy` set.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: u8,
        /// Spelled as bare `decimal`.
        legacy: bool,
    },
    /// `date` (days since the epoch).
    Date,
    /// `datetime` (UTC epoch milliseconds).
    DateTime,
    /// `timestamp` (UTC epoch seconds + nanoseconds).
    Timestamp,
    /// `timestamp_ntz` (wall-clock seconds + nanoseconds).
    TimestampNtz,
    /// `interval_day_time`.
    IntervalDayTime,
    /// `interval_year_month`.
    IntervalYearMonth,
    /// `array<T>`.
    Array(Box<OdpsType>),
    /// `map<K,V>`.
    Map(Box<OdpsType>, Box<OdpsType>),
    /// `struct<name:T,...>`.
    Struct(Vec<(String, OdpsType)>),
}

impl OdpsType {
    /// Parses a type string, case-insensitively.
    pub fn parse(s: &str) -> Result<OdpsType> {
        let mut p = Parser {
            s: s.as_bytes(),
            pos: 0,
            text: s,
        };
        let ty = p.ty()?;
        p.ws();
        if p.pos != p.s.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(ty)
    }

    /// Whether the type nests other types.
    pub fn is_nested(&self) -> bool {
        matches!(
            self,
            OdpsType::Array(_) | OdpsType::Map(..) | OdpsType::Struct(_)
        )
    }

    /// The Arrow type this maps to. Intervals (and anything containing one) are
    /// [`ErrorKind::Unsupported`].
    pub fn to_arrow(&self, mapping: &TypeMapping) -> Result<DataType> {
        Ok(match self {
            OdpsType::TinyInt => DataType::Int8,
            OdpsType::SmallInt => DataType::Int16,
            OdpsType::Int => DataType::Int32,
            OdpsType::BigInt => DataType::Int64,
            OdpsType::Float => DataType::Float32,
            OdpsType::Double => DataType::Float64,
            OdpsType::Boolean => DataType::Boolean,
            OdpsType::String | OdpsType::Varchar(_) | OdpsType::Char(_) | OdpsType::Json => {
                DataType::Utf8
            }
            OdpsType::Binary => DataType::Binary,
            OdpsType::Decimal {
                precision, scale, ..
            } => {
                let scale = *scale as i8;
                if *precision <= 38 {
                    DataType::Decimal128(*precision, scale)
                } else {
                    DataType::Decimal256(*precision, scale)
                }
            }
            OdpsType::Date => DataType::Date32,
            OdpsType::DateTime => {
                DataType::Timestamp(TimeUnit::Millisecond, mapping.timezone.clone())
            }
            OdpsType::Timestamp => {
                DataType::Timestamp(TimeUnit::Nanosecond, mapping.timezone.clone())
            }
            OdpsType::TimestampNtz => DataType::Timestamp(TimeUnit::Nanosecond, None),
            OdpsType::IntervalDayTime | OdpsType::IntervalYearMonth => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("MaxCompute type {self} has no lossless Arrow mapping yet"),
                ));
            }
            OdpsType::Array(elem) => {
                DataType::List(Arc::new(Field::new("item", elem.to_arrow(mapping)?, true)))
            }
            OdpsType::Map(k, v) => DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", k.to_arrow(mapping)?, false),
                        Field::new("value", v.to_arrow(mapping)?, true),
                    ])),
                    false,
                )),
                false,
            ),
            OdpsType::Struct(fields) => DataType::Struct(
                fields
                    .iter()
                    .map(|(name, ty)| Ok(Field::new(name, ty.to_arrow(mapping)?, true)))
                    .collect::<Result<Fields>>()?,
            ),
        })
    }
}

impl FromStr for OdpsType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        OdpsType::parse(s)
    }
}

impl fmt::Display for OdpsType {
    /// The lower-case DDL spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OdpsType::TinyInt => f.write_str("tinyint"),
            OdpsType::SmallInt => f.write_str("smallint"),
            OdpsType::Int => f.write_str("int"),
            OdpsType::BigInt => f.write_str("bigint"),
            OdpsType::Float => f.write_str("float"),
            OdpsType::Double => f.write_str("double"),
            OdpsType::Boolean => f.write_str("boolean"),
            OdpsType::String => f.write_str("string"),
            OdpsType::Varchar(n) => write!(f, "varchar({n})"),
            OdpsType::Char(n) => write!(f, "char({n})"),
            OdpsType::Binary => f.write_str("binary"),
            OdpsType::Json => f.write_str("json"),
            OdpsType::Decimal { legacy: true, .. } => f.write_str("decimal"),
            OdpsType::Decimal {
                precision, scale, ..
            } => write!(f, "decimal({precision},{scale})"),
            OdpsType::Date => f.write_str("date"),
            OdpsType::DateTime => f.write_str("datetime"),
            OdpsType::Timestamp => f.write_str("timestamp"),
            OdpsType::TimestampNtz => f.write_str("timestamp_ntz"),
            OdpsType::IntervalDayTime => f.write_str("interval_day_time"),
            OdpsType::IntervalYearMonth => f.write_str("interval_year_month"),
            OdpsType::Array(t) => write!(f, "array<{t}>"),
            OdpsType::Map(k, v) => write!(f, "map<{k},{v}>"),
            OdpsType::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, ty)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}:{ty}")?;
                }
                f.write_str(">")
            }
        }
    }
}

/// Choices made when mapping MaxCompute types to Arrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMapping {
    /// Timezone recorded on `datetime` and `timestamp` columns (instants). `UTC` by default;
    /// pass the project timezone (e.g. `Asia/Shanghai`) to record it — values are not shifted.
    pub timezone: Option<Arc<str>>,
}

impl Default for TypeMapping {
    fn default() -> Self {
        TypeMapping {
            timezone: Some(Arc::from("UTC")),
        }
    }
}

/// One column of a tunnel session schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Column type.
    pub ty: OdpsType,
    /// Whether NULLs may appear.
    pub nullable: bool,
}

impl Column {
    /// A nullable column, parsing `ty`.
    pub fn new(name: impl Into<String>, ty: &str) -> Result<Column> {
        Ok(Column {
            name: name.into(),
            ty: OdpsType::parse(ty)?,
            nullable: true,
        })
    }

    /// The Arrow field of this column.
    pub fn to_arrow(&self, mapping: &TypeMapping) -> Result<Field> {
        let dt = self.ty.to_arrow(mapping).map_err(|e| {
            Error::new(e.kind(), format!("column {:?}: {}", self.name, e.message()))
        })?;
        Ok(Field::new(&self.name, dt, self.nullable))
    }
}

/// The Arrow schema of `columns`, in order.
pub fn arrow_schema(columns: &[Column], mapping: &TypeMapping) -> Result<Schema> {
    Ok(Schema::new(
        columns
            .iter()
            .map(|c| c.to_arrow(mapping))
            .collect::<Result<Vec<_>>>()?,
    ))
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> Error {
        Error::schema(format!(
            "invalid MaxCompute type {:?} at {}: {what}",
            self.text, self.pos
        ))
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
        {
            self.pos += 1;
        }
        self.text[start..self.pos].to_owned()
    }

    fn number(&mut self) -> Result<u32> {
        let w = self.word();
        w.parse().map_err(|_| self.err("expected a number"))
    }

    /// A struct field name: an identifier or a back-quoted name.
    fn field_name(&mut self) -> Result<String> {
        self.ws();
        if self.s.get(self.pos) == Some(&b'`') {
            let start = self.pos + 1;
            let end = self.text[start..]
                .find('`')
                .ok_or_else(|| self.err("unterminated `name`"))?
                + start;
            self.pos = end + 1;
            return Ok(self.text[start..end].to_owned());
        }
        let w = self.word();
        if w.is_empty() {
            Err(self.err("expected a field name"))
        } else {
            Ok(w)
        }
    }

    fn ty(&mut self) -> Result<OdpsType> {
        let word = self.word().to_ascii_lowercase();
        Ok(match word.as_str() {
            "tinyint" => OdpsType::TinyInt,
            "smallint" => OdpsType::SmallInt,
            "int" => OdpsType::Int,
            "bigint" => OdpsType::BigInt,
            "float" => OdpsType::Float,
            "double" => OdpsType::Double,
            "boolean" => OdpsType::Boolean,
            "string" => OdpsType::String,
            "binary" => OdpsType::Binary,
            "json" => OdpsType::Json,
            "date" => OdpsType::Date,
            "datetime" => OdpsType::DateTime,
            "timestamp" => OdpsType::Timestamp,
            "timestamp_ntz" => OdpsType::TimestampNtz,
            "interval_day_time" => OdpsType::IntervalDayTime,
            "interval_year_month" => OdpsType::IntervalYearMonth,
            "varchar" | "char" => {
                self.expect(b'(')?;
                let n = self.number()?;
                self.expect(b')')?;
                if n == 0 {
                    return Err(self.err("length must be positive"));
                }
                if word == "varchar" {
                    OdpsType::Varchar(n)
                } else {
                    OdpsType::Char(n)
                }
            }
            "decimal" => {
                if self.eat(b'(') {
                    let precision = self.number()?;
                    let scale = if self.eat(b',') { self.number()? } else { 0 };
                    self.expect(b')')?;
                    if !(1..=76).contains(&precision) || scale > precision {
                        return Err(
                            self.err("decimal precision must be 1..=76 and scale <= precision")
                        );
                    }
                    OdpsType::Decimal {
                        precision: precision as u8,
                        scale: scale as u8,
                        legacy: false,
                    }
                } else {
                    OdpsType::Decimal {
                        precision: LEGACY_DECIMAL.0,
                        scale: LEGACY_DECIMAL.1,
                        legacy: true,
                    }
                }
            }
            "array" => {
                self.expect(b'<')?;
                let t = self.ty()?;
                self.expect(b'>')?;
                OdpsType::Array(Box::new(t))
            }
            "map" => {
                self.expect(b'<')?;
                let k = self.ty()?;
                self.expect(b',')?;
                let v = self.ty()?;
                self.expect(b'>')?;
                OdpsType::Map(Box::new(k), Box::new(v))
            }
            "struct" => {
                self.expect(b'<')?;
                let mut fields = Vec::new();
                loop {
                    let name = self.field_name()?;
                    self.expect(b':')?;
                    let ty = self.ty()?;
                    if fields
                        .iter()
                        .any(|(n, _): &(String, OdpsType)| n.eq_ignore_ascii_case(&name))
                    {
                        return Err(self.err(&format!("duplicate struct field {name:?}")));
                    }
                    fields.push((name, ty));
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect(b'>')?;
                OdpsType::Struct(fields)
            }
            "" => return Err(self.err("expected a type")),
            other => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!("unsupported MaxCompute type {other:?} in {:?}", self.text),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (input, want) in [
            ("BIGINT", "bigint"),
            ("decimal", "decimal"),
            ("Decimal(18, 4)", "decimal(18,4)"),
            ("varchar(10)", "varchar(10)"),
            ("CHAR(5)", "char(5)"),
            (
                "array<map<string,array<bigint>>>",
                "array<map<string,array<bigint>>>",
            ),
            (
                "STRUCT<x:BIGINT, `y z`:string, a:struct<b:date>>",
                "struct<x:bigint,y z:string,a:struct<b:date>>",
            ),
            ("timestamp_ntz", "timestamp_ntz"),
        ] {
            assert_eq!(OdpsType::parse(input).unwrap().to_string(), want, "{input}");
        }
        assert_eq!(
            OdpsType::parse("decimal").unwrap(),
            OdpsType::Decimal {
                precision: 54,
                scale: 18,
                legacy: true
            }
        );
        for bad in [
            "",
            "array<",
            "map<string>",
            "decimal(5,6)",
            "varchar",
            "bigint x",
            "struct<>",
        ] {
            assert!(OdpsType::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            OdpsType::parse("geography").unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }

    #[test]
    fn arrow_mapping() {
        let m = TypeMapping::default();
        let utc = Some(Arc::from("UTC"));
        let cases = [
            ("tinyint", DataType::Int8),
            ("smallint", DataType::Int16),
            ("int", DataType::Int32),
            ("bigint", DataType::Int64),
            ("float", DataType::Float32),
            ("double", DataType::Float64),
            ("boolean", DataType::Boolean),
            ("char(3)", DataType::Utf8),
            ("json", DataType::Utf8),
            ("binary", DataType::Binary),
            ("decimal(38,2)", DataType::Decimal128(38, 2)),
            ("decimal(39,2)", DataType::Decimal256(39, 2)),
            ("decimal", DataType::Decimal256(54, 18)),
            ("date", DataType::Date32),
            (
                "datetime",
                DataType::Timestamp(TimeUnit::Millisecond, utc.clone()),
            ),
            ("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, utc)),
            (
                "timestamp_ntz",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(
                OdpsType::parse(s).unwrap().to_arrow(&m).unwrap(),
                want,
                "{s}"
            );
        }
        let err = OdpsType::parse("array<interval_day_time>")
            .unwrap()
            .to_arrow(&m)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        let tz = TypeMapping {
            timezone: Some(Arc::from("Asia/Shanghai")),
        };
        assert_eq!(
            OdpsType::DateTime.to_arrow(&tz).unwrap(),
            DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("Asia/Shanghai")))
        );
    }
}
