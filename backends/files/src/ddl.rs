//! The `schema=` option: a small, Arrow-like DDL for the columns of CSV and NDJSON files.
//!
//! ```text
//! schema  := column ("," column)*
//! column  := name type ["not" "null" | "null"]
//! name    := identifier | `any text` | "any text"
//! type    := bool | int8 | int16 | int32 | int64 | uint8 … uint64 | float32 | float64
//!          | string | binary | date | decimal(p, s) | timestamp[unit] | timestamp[unit, tz]
//!          | list<type> | struct<name type, …>
//! ```
//!
//! Aliases: `boolean`, `tinyint`, `smallint`, `int`/`integer`, `bigint`, `float`/`real`,
//! `double`, `utf8`/`text`/`varchar`, `bytes`, `date32`. Units are `s`, `ms`, `us`, `ns`; a
//! bare `timestamp` is `timestamp[us]`. Keywords are case-insensitive; columns are nullable
//! unless `not null`.

use std::sync::Arc;

use arrowport_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Parses a DDL string; the error says where and what was expected.
pub(crate) fn parse(text: &str) -> Result<SchemaRef, String> {
    let mut p = Parser { text, pos: 0 };
    let fields = p.columns(None)?;
    p.skip_space();
    if p.pos < text.len() {
        return Err(p.error("expected `,` or the end"));
    }
    let mut seen = std::collections::HashSet::new();
    for f in &fields {
        if !seen.insert(f.name().clone()) {
            return Err(format!("column `{}` is named twice", f.name()));
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> String {
        let rest: String = self.text[self.pos..].chars().take(20).collect();
        if rest.is_empty() {
            format!("{expected} at the end of `{}`", self.text)
        } else {
            format!("{expected} at `{rest}` (position {})", self.pos + 1)
        }
    }

    fn skip_space(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Consumes `c` if it comes next.
    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.text[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{c}`")))
        }
    }

    /// A bare word: letters, digits and `_`.
    fn word(&mut self) -> Option<&str> {
        self.skip_space();
        let rest = &self.text[self.pos..];
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }

    /// The next word if it equals `keyword` (case-insensitive), consumed; else nothing moves.
    fn keyword(&mut self, keyword: &str) -> bool {
        let start = self.pos;
        match self.word() {
            Some(w) if w.eq_ignore_ascii_case(keyword) => true,
            _ => {
                self.pos = start;
                false
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        self.skip_space();
        for quote in ['`', '"'] {
            if self.eat(quote) {
                let rest = &self.text[self.pos..];
                let end = rest
                    .find(quote)
                    .ok_or_else(|| self.error(&format!("expected a closing {quote}")))?;
                self.pos += end + 1;
                return Ok(rest[..end].to_string());
            }
        }
        match self.word() {
            Some(w) => Ok(w.to_string()),
            None => Err(self.error("expected a column name")),
        }
    }

    /// Columns up to `close` (a struct's `>`) or the end.
    fn columns(&mut self, close: Option<char>) -> Result<Vec<Field>, String> {
        let mut fields = Vec::new();
        loop {
            let name = self.name()?;
            self.eat(':');
            let ty = self.data_type()?;
            let nullable = if self.keyword("not") {
                if !self.keyword("null") {
                    return Err(self.error("expected `null` after `not`"));
                }
                false
            } else {
                self.keyword("null");
                true
            };
            fields.push(Field::new(name, ty, nullable));
            if !self.eat(',') {
                break;
            }
        }
        if let Some(c) = close {
            self.expect(c)?;
        }
        Ok(fields)
    }

    fn data_type(&mut self) -> Result<DataType, String> {
        let start = self.pos;
        let Some(word) = self.word().map(str::to_ascii_lowercase) else {
            return Err(self.error("expected a type"));
        };
        Ok(match word.as_str() {
            "bool" | "boolean" => DataType::Boolean,
            "int8" | "tinyint" => DataType::Int8,
            "int16" | "smallint" => DataType::Int16,
            "int32" | "int" | "integer" => DataType::Int32,
            "int64" | "bigint" => DataType::Int64,
            "uint8" => DataType::UInt8,
            "uint16" => DataType::UInt16,
            "uint32" => DataType::UInt32,
            "uint64" => DataType::UInt64,
            "float32" | "float" | "real" => DataType::Float32,
            "float64" | "double" => DataType::Float64,
            "string" | "utf8" | "text" | "varchar" => DataType::Utf8,
            "binary" | "bytes" => DataType::Binary,
            "date" | "date32" => DataType::Date32,
            "decimal" => {
                self.expect('(')?;
                let precision = self.number()?;
                self.expect(',')?;
                let scale = self.number()?;
                self.expect(')')?;
                let p = u8::try_from(precision)
                    .ok()
                    .filter(|p| (1..=76).contains(p))
                    .ok_or_else(|| format!("decimal precision {precision} is not in 1..=76"))?;
                let s = i8::try_from(scale)
                    .ok()
                    .filter(|s| *s as u8 <= p)
                    .ok_or_else(|| format!("decimal scale {scale} is not in 0..={p}"))?;
                if p <= 38 {
                    DataType::Decimal128(p, s)
                } else {
                    DataType::Decimal256(p, s)
                }
            }
            "timestamp" => {
                if !self.eat('[') {
                    return Ok(DataType::Timestamp(TimeUnit::Microsecond, None));
                }
                let rest = &self.text[self.pos..];
                let end = rest.find(']').ok_or_else(|| self.error("expected `]`"))?;
                let inner = &rest[..end];
                self.pos += end + 1;
                let (unit, tz) = match inner.split_once(',') {
                    Some((u, tz)) => (u.trim(), Some(tz.trim())),
                    None => (inner.trim(), None),
                };
                let unit = match unit.to_ascii_lowercase().as_str() {
                    "s" => TimeUnit::Second,
                    "ms" => TimeUnit::Millisecond,
                    "us" => TimeUnit::Microsecond,
                    "ns" => TimeUnit::Nanosecond,
                    other => {
                        return Err(format!(
                            "timestamp unit `{other}` is not one of s, ms, us, ns"
                        ));
                    }
                };
                if tz.is_some_and(str::is_empty) {
                    return Err("empty timezone in `timestamp[…]`".into());
                }
                DataType::Timestamp(unit, tz.map(Into::into))
            }
            "list" => {
                self.expect('<')?;
                let item = self.data_type()?;
                self.expect('>')?;
                DataType::new_list(item, true)
            }
            "struct" => {
                self.expect('<')?;
                DataType::Struct(self.columns(Some('>'))?.into())
            }
            _ => {
                self.pos = start;
                return Err(self.error("expected a type (bigint, string, double, …)"));
            }
        })
    }

    fn number(&mut self) -> Result<u64, String> {
        let start = self.pos;
        match self.word().map(str::parse::<u64>) {
            Some(Ok(n)) => Ok(n),
            _ => {
                self.pos = start;
                Err(self.error("expected a number"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_type() {
        let s = parse(
            "id bigint not null, name string, ts timestamp[ms, UTC], t2 timestamp, \
             `odd name` double, \"q\" decimal(10, 2), big decimal(50,0), tags list<string>, \
             meta struct<a: int, b string not null>, d DATE, f Float, u uint64, b bool null",
        )
        .unwrap();
        let types: Vec<_> = s.fields().iter().map(|f| f.data_type().clone()).collect();
        assert_eq!(types[0], DataType::Int64);
        assert!(!s.field(0).is_nullable());
        assert!(s.field(1).is_nullable());
        assert_eq!(
            types[2],
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
        );
        assert_eq!(types[3], DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(s.field(4).name(), "odd name");
        assert_eq!(types[5], DataType::Decimal128(10, 2));
        assert_eq!(types[6], DataType::Decimal256(50, 0));
        assert_eq!(types[7], DataType::new_list(DataType::Utf8, true));
        let DataType::Struct(children) = &types[8] else {
            panic!("{:?}", types[8])
        };
        assert_eq!(children[0].data_type(), &DataType::Int32);
        assert!(!children[1].is_nullable());
        assert_eq!(types[9], DataType::Date32);
        assert_eq!(types[10], DataType::Float32);
        assert_eq!(types[11], DataType::UInt64);
        assert!(s.field(12).is_nullable());
        let tz = parse("t timestamp[ns, Asia/Shanghai]").unwrap();
        assert_eq!(
            tz.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into()))
        );
    }

    #[test]
    fn errors_say_where() {
        for (text, want) in [
            ("", "expected a column name"),
            ("id", "expected a type"),
            ("id bigintt", "expected a type"),
            ("id bigint,", "expected a column name"),
            ("id bigint not", "expected `null`"),
            ("id bigint x", "expected `,` or the end"),
            ("ts timestamp[h]", "timestamp unit `h`"),
            ("d decimal(100, 2)", "precision 100"),
            ("l list<string", "expected `>`"),
            ("a int, a int", "named twice"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
