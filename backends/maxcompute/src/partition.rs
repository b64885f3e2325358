//! Partition specs (`pt=a,dt=b`) and partition filters (`pt=a,dt>20230119`), parsed and evaluated
//! as PyODPS does (spec §2.2 "Partition semantics done client-side"; PY `types.py`
//! `PartitionSpec`, `models/partitions.py` `PartitionSpecCondition` and `get_max_partition`).
//!
//! Where PyODPS is sloppy this module is strict, and says so next to each rule:
//!
//! * **Values.** A value may be wrapped in one matching pair of `'` or `"` quotes; whitespace
//!   outside the quotes is dropped. It must not be empty, must not start or end with whitespace,
//!   and must not contain `'` `"` `,` `=` `<` `>` `&` `%` or control characters. The quotes and
//!   separators cannot be escaped in either form the services take (PyODPS formats `k='v'` with
//!   no escaping, strips every `'` for the tunnel, and splits on every `,`), and `&`/`%` make
//!   the signed query ambiguous (spec §2.1). MaxCompute itself only defines letters, digits,
//!   spaces and `:_$#.!@` in partition values, so nothing valid is lost. PyODPS instead strips
//!   any run of quotes from both ends (`'a"` is `a`), removes every quote inside filter values,
//!   and sends whatever is left.
//! * **Keys** are names (letters, digits, `_`) and match case-insensitively, as MaxCompute names
//!   do; PyODPS compares filter keys case-sensitively. The spelling given is kept for display.
//! * **Comparisons** are plain string comparisons (code point order, as Python compares `str`),
//!   never numeric: `dt>9` is true for `dt=a` and false for `dt=10`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use arrowport_core::{Error, Result};

use crate::NAME;

/// An ordered list of `key=value` equalities naming one partition (or, as a listing prefix, the
/// partitions under it). Never empty; every key and value passed the rules of the module docs.
///
/// Equality and hashing ignore the ASCII case of keys, and respect order and values exactly.
#[derive(Debug, Clone)]
pub struct PartitionSpec {
    pairs: Vec<(String, String)>,
}

impl PartitionSpec {
    /// Parses `pt=a,dt=b` (values optionally quoted: `pt='a'`). Errors ([`ErrorKind::Config`])
    /// name the offending part: an empty spec or pair, a missing `=`, an operator other than `=`,
    /// an empty key or value, a duplicate key, a value that cannot be carried.
    ///
    /// [`ErrorKind::Config`]: arrowport_core::ErrorKind::Config
    pub fn parse(text: &str) -> Result<PartitionSpec> {
        let mut pairs = Vec::new();
        for piece in pieces(text, "partition spec")? {
            let (key, (token, _), value) = condition(piece, text)?;
            if token != "=" {
                return Err(invalid(format!(
                    "`{piece}` in partition spec `{text}` is not an equality; a partition spec is \
                     `key=value` pairs such as `pt=a,dt=b`"
                )));
            }
            pairs.push((key.to_string(), value.to_string()));
        }
        PartitionSpec::new(pairs)
    }

    /// A spec from `(key, value)` pairs as they are (no quote stripping), checked by the same
    /// rules as [`parse`](Self::parse).
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<PartitionSpec>
    where
        K: Into<String>,
        V: Into<String>,
    {
        PartitionSpec::checked(pairs).map_err(invalid)
    }

    /// [`new`](Self::new), with the reason for a rejection as plain text, for callers that
    /// report it as an error of their own (a malformed reply).
    pub(crate) fn checked<K, V>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> std::result::Result<PartitionSpec, String>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        if pairs.is_empty() {
            return Err("an empty partition spec; write `key=value[,key=value…]`".to_string());
        }
        for (i, (key, value)) in pairs.iter().enumerate() {
            check_key(key)?;
            check_value(key, value)?;
            if pairs[..i].iter().any(|(k, _)| same_name(k, key)) {
                return Err(format!(
                    "partition key `{key}` appears twice in partition spec `{}`",
                    tunnel_form(&pairs)
                ));
            }
        }
        Ok(PartitionSpec { pairs })
    }

    /// The value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| same_name(k, key))
            .map(|(_, v)| v.as_str())
    }

    /// The `(key, value)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The keys, in order, as spelled when the spec was made.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(k, _)| k.as_str())
    }

    /// The values, in order.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(_, v)| v.as_str())
    }

    /// `pt='a',dt='b'`: the meta API form (PyODPS `str(PartitionSpec)`).
    pub fn to_meta_string(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("='");
            out.push_str(v);
            out.push('\'');
        }
        out
    }

    /// `pt=a,dt=b`: the tunnel form (PyODPS strips the meta form's quotes).
    pub fn to_tunnel_string(&self) -> String {
        tunnel_form(&self.pairs)
    }

    /// Compares the tuples of values, as strings, as `get_max_partition` orders partitions
    /// (keys are not compared; specs of one table list its keys in the same order).
    pub fn cmp_values(&self, other: &PartitionSpec) -> Ordering {
        self.values().cmp(other.values())
    }
}

/// The tunnel form.
impl fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_tunnel_string())
    }
}

impl PartialEq for PartitionSpec {
    fn eq(&self, other: &Self) -> bool {
        self.pairs.len() == other.pairs.len()
            && self
                .pairs
                .iter()
                .zip(&other.pairs)
                .all(|((k1, v1), (k2, v2))| same_name(k1, k2) && v1 == v2)
    }
}

impl Eq for PartitionSpec {}

impl Hash for PartitionSpec {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.pairs.len());
        for (k, v) in &self.pairs {
            for b in k.bytes() {
                state.write_u8(b.to_ascii_lowercase());
            }
            state.write_u8(0xff);
            v.hash(state);
        }
    }
}

/// Sorts partitions greatest first by their tuple of values compared as strings, the order in
/// which `get_max_partition(skip_empty=True)` walks candidates until one holds data. The sort is
/// stable, as Python's `sorted(..., reverse=True)` is.
pub fn sort_max_first(specs: &mut [PartitionSpec]) {
    specs.sort_by(|a, b| b.cmp_values(a));
}

/// A comparison operator of a [`PartitionFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Op {
    fn holds(self, actual: &str, wanted: &str) -> bool {
        match self {
            Op::Eq => actual == wanted,
            Op::Ne => actual != wanted,
            Op::Gt => actual > wanted,
            Op::Ge => actual >= wanted,
            Op::Lt => actual < wanted,
            Op::Le => actual <= wanted,
        }
    }
}

/// One `key <op> value` of a filter; `key` indexes the table's partition keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    key: usize,
    op: Op,
    value: String,
}

/// Which partitions of a table to read: comma-separated conditions, all of which must hold,
/// each `key <op> value` with `<op>` one of `=` `==` `!=` `<>` `>` `>=` `<` `<=`, e.g.
/// `pt=test,dt>20230119` (PyODPS `iterate_partitions(spec)`).
///
/// The leading run of equalities in the table's key order is sent to the server as a listing
/// prefix ([`prefix`](Self::prefix)); everything is then checked client-side by
/// [`matches`](Self::matches) as string comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFilter {
    /// The table's partition keys, in order, as the table spells them.
    keys: Vec<String>,
    /// In the order written.
    conditions: Vec<Condition>,
}

impl PartitionFilter {
    /// Parses `text` against the table's partition keys (in table order). Errors
    /// ([`ErrorKind::Config`]) name the offending part; an unknown key lists the table's keys.
    /// A key may appear in several conditions (`dt>=a,dt<b`).
    ///
    /// [`ErrorKind::Config`]: arrowport_core::ErrorKind::Config
    pub fn parse<S: AsRef<str>>(text: &str, keys: &[S]) -> Result<PartitionFilter> {
        let keys: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        if keys.is_empty() {
            return Err(invalid(format!(
                "partition filter `{text}` was given, but the table has no partition keys"
            )));
        }
        let mut conditions = Vec::new();
        for piece in pieces(text, "partition filter")? {
            let (key, (_, op), value) = condition(piece, text)?;
            check_key(key).map_err(invalid)?;
            check_value(key, value).map_err(invalid)?;
            let index = keys.iter().position(|k| same_name(k, key)).ok_or_else(|| {
                invalid(format!(
                    "unknown partition key `{key}` in `{text}`; the table's partition keys are {}",
                    keys.join(", ")
                ))
            })?;
            conditions.push(Condition {
                key: index,
                op,
                value: value.to_string(),
            });
        }
        Ok(PartitionFilter { keys, conditions })
    }

    /// The listing prefix sent as `partition=`: for each partition key in table order, as long
    /// as the key has exactly one condition and it is an equality, that equality (PyODPS's
    /// `PartitionSpecCondition.partition_spec`). `None` when the first key has none.
    pub fn prefix(&self) -> Option<PartitionSpec> {
        let mut pairs = Vec::new();
        for (index, key) in self.keys.iter().enumerate() {
            let mut on_key = self.conditions.iter().filter(|c| c.key == index);
            match (on_key.next(), on_key.next()) {
                (Some(c), None) if c.op == Op::Eq => pairs.push((key.clone(), c.value.clone())),
                _ => break,
            }
        }
        // Keys and values were checked while parsing.
        (!pairs.is_empty()).then_some(PartitionSpec { pairs })
    }

    /// The one partition the filter names, when it is exactly one equality per partition key
    /// and nothing else: such a partition can be read without listing partitions.
    pub fn exact(&self) -> Option<PartitionSpec> {
        self.prefix().filter(|p| {
            p.pairs.len() == self.keys.len() && self.conditions.len() == self.keys.len()
        })
    }

    /// Whether the partition satisfies every condition, as string comparisons. A partition
    /// that lacks a key the filter names does not match.
    ///
    /// This checks the prefix's equalities too, which PyODPS leaves to the server: the same
    /// answer when the server honours `partition=`, and a correct one when it does not.
    pub fn matches(&self, spec: &PartitionSpec) -> bool {
        self.conditions
            .iter()
            .all(|c| match spec.get(&self.keys[c.key]) {
                Some(actual) => c.op.holds(actual, &c.value),
                None => false,
            })
    }
}

/// The comma-separated pieces of `text`, trimmed; none may be empty.
fn pieces<'a>(text: &'a str, what: &str) -> Result<Vec<&'a str>> {
    if text.trim().is_empty() {
        return Err(invalid(format!(
            "an empty {what}; write `key=value[,key=value…]`"
        )));
    }
    text.split(',')
        .map(|piece| {
            let piece = piece.trim();
            if piece.is_empty() {
                Err(invalid(format!(
                    "an empty condition in {what} `{text}` (a stray `,`?)"
                )))
            } else {
                Ok(piece)
            }
        })
        .collect()
}

/// The operators PyODPS accepts, longest first so that `>=` is not read as `>`. `==` and `=`
/// are the same, and so are `!=` and `<>`.
const OPERATORS: [(&str, Op); 8] = [
    ("==", Op::Eq),
    ("!=", Op::Ne),
    ("<>", Op::Ne),
    (">=", Op::Ge),
    ("<=", Op::Le),
    ("=", Op::Eq),
    (">", Op::Gt),
    ("<", Op::Lt),
];

/// Splits one piece into its trimmed key, its operator token and its unquoted value. The key
/// runs up to the first operator character; the operator is the longest one found there.
fn condition<'a>(piece: &'a str, text: &str) -> Result<(&'a str, (&'static str, Op), &'a str)> {
    let at = piece.find(['=', '!', '<', '>']).ok_or_else(|| {
        invalid(format!(
            "`{piece}` in `{text}` has no operator; write `key=value` (or `!=`, `<>`, `>`, `>=`, \
             `<`, `<=`)"
        ))
    })?;
    let key = piece[..at].trim();
    let rest = &piece[at..];
    let op = OPERATORS
        .into_iter()
        .find(|(token, _)| rest.starts_with(token))
        .ok_or_else(|| invalid(format!("`{piece}` in `{text}` has an unknown operator")))?;
    if key.is_empty() {
        return Err(invalid(format!(
            "`{piece}` in `{text}` names no partition key"
        )));
    }
    let value = unquote(rest[op.0.len()..].trim(), key)?;
    Ok((key, op, value))
}

/// Strips one matching pair of `'` or `"` around the whole value.
fn unquote<'a>(value: &'a str, key: &str) -> Result<&'a str> {
    for quote in ['\'', '"'] {
        if let Some(rest) = value.strip_prefix(quote) {
            return rest.strip_suffix(quote).ok_or_else(|| {
                invalid(format!(
                    "the value {value} of partition key `{key}` has an unbalanced quote"
                ))
            });
        }
    }
    Ok(value)
}

fn check_key(key: &str) -> std::result::Result<(), String> {
    if key.is_empty() {
        return Err("a partition key is empty".to_string());
    }
    if !key.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!(
            "partition key `{key}` is not a name (letters, digits and `_`)"
        ));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> std::result::Result<(), String> {
    if value.is_empty() {
        return Err(format!("partition key `{key}` has an empty value"));
    }
    if value.trim() != value {
        return Err(format!(
            "the value {value:?} of partition key `{key}` starts or ends with whitespace, which \
             a partition spec cannot carry"
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || matches!(c, '\'' | '"' | ',' | '=' | '<' | '>' | '&' | '%'))
    {
        return Err(format!(
            "the value {value:?} of partition key `{key}` contains {c:?}, which a partition spec \
             cannot carry unambiguously"
        ));
    }
    Ok(())
}

/// MaxCompute names compare case-insensitively.
fn same_name(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn tunnel_form(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn invalid(message: impl fmt::Display) -> Error {
    Error::config(format!("{NAME}: {message}")).with_context("plugin", NAME)
}

#[cfg(test)]
mod tests {
    use arrowport_core::ErrorKind;

    use super::*;

    fn spec(text: &str) -> PartitionSpec {
        PartitionSpec::parse(text).unwrap()
    }

    fn spec_err(text: &str) -> String {
        let err = PartitionSpec::parse(text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        err.message().to_string()
    }

    const KEYS: [&str; 2] = ["pt", "dt"];

    fn filter(text: &str) -> PartitionFilter {
        PartitionFilter::parse(text, &KEYS).unwrap()
    }

    fn filter_err(text: &str) -> String {
        let err = PartitionFilter::parse(text, &KEYS).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
        err.message().to_string()
    }

    #[test]
    fn spec_parses_plain_quoted_and_spaced_values() {
        let s = spec("pt=a,dt=b");
        assert_eq!(s.iter().collect::<Vec<_>>(), [("pt", "a"), ("dt", "b")]);
        assert_eq!(spec("pt='a',dt=\"b\""), s);
        assert_eq!(spec("  pt = 'a' ,\tdt= b "), s);
        // Spaces inside a value are kept.
        assert_eq!(spec("pt='New York'").get("pt"), Some("New York"));
        assert_eq!(spec("pt=New York").get("pt"), Some("New York"));
        // The characters MaxCompute defines for values pass.
        assert_eq!(
            spec("pt=a:b_c$d#e.f!g@h").get("pt"),
            Some("a:b_c$d#e.f!g@h")
        );
    }

    #[test]
    fn spec_formats_for_meta_and_tunnel() {
        let s = spec("pt=test,dt='20230119'");
        assert_eq!(s.to_meta_string(), "pt='test',dt='20230119'");
        assert_eq!(s.to_tunnel_string(), "pt=test,dt=20230119");
        assert_eq!(s.to_string(), "pt=test,dt=20230119");
        // Both forms parse back to the same spec.
        assert_eq!(spec(&s.to_meta_string()), s);
        assert_eq!(spec(&s.to_tunnel_string()), s);
    }

    #[test]
    fn spec_keys_are_case_insensitive_and_keep_their_spelling() {
        let s = spec("PT=a,Dt=b");
        assert_eq!(s.get("pt"), Some("a"));
        assert_eq!(s.get("DT"), Some("b"));
        assert_eq!(s.get("x"), None);
        assert_eq!(s.keys().collect::<Vec<_>>(), ["PT", "Dt"]);
        assert_eq!(s.to_meta_string(), "PT='a',Dt='b'");
        assert_eq!(s, spec("pt=a,dt=b"));
        // Values are case-sensitive, and order matters.
        assert_ne!(s, spec("pt=A,dt=b"));
        assert_ne!(s, spec("dt=b,pt=a"));
        let hash = |s: &PartitionSpec| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            s.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&s), hash(&spec("pt=a,dt=b")));
    }

    #[test]
    fn spec_rejects_malformed_text_naming_the_part() {
        assert!(spec_err("").contains("empty partition spec"));
        assert!(spec_err("  ").contains("empty partition spec"));
        assert!(spec_err("pt=a,,dt=b").contains("empty condition"));
        assert!(spec_err("pt=a,").contains("empty condition"));
        assert!(spec_err("pt").contains("`pt` in `pt` has no operator"));
        assert!(spec_err("pt=a,dt").contains("`dt`"));
        assert!(spec_err("=a").contains("names no partition key"));
        assert!(spec_err("pt=").contains("`pt` has an empty value"));
        assert!(spec_err("pt=''").contains("empty value"));
        assert!(spec_err("pt=a,PT=b").contains("`PT` appears twice"));
        assert!(spec_err("dt>20230119").contains("not an equality"));
        assert!(spec_err("pt==a").contains("not an equality"));
        assert!(spec_err("p t=a").contains("not a name"));
        assert!(spec_err("pt-1=a").contains("not a name"));
    }

    #[test]
    fn spec_rejects_values_it_cannot_carry() {
        // PyODPS strips any run of quotes (`'a"` is `a`); an unbalanced quote is an error here.
        assert!(spec_err("pt='a").contains("unbalanced quote"));
        assert!(spec_err("pt='a\"").contains("unbalanced quote"));
        assert!(spec_err("pt=a'").contains("contains '\\''"));
        // A quote or `,` inside a value cannot be escaped in either form.
        assert!(spec_err("pt='it''s'").contains("contains"));
        assert!(spec_err("pt='a,b'").contains("unbalanced quote"));
        assert!(spec_err("pt=a=b").contains("contains '='"));
        assert!(spec_err("pt=a&b").contains("contains '&'"));
        assert!(spec_err("pt=100%").contains("contains '%'"));
        assert!(spec_err("pt='a\tb'").contains("contains '\\t'"));
        assert!(spec_err("pt=' a'").contains("whitespace"));
        assert!(spec_err("pt='a '").contains("whitespace"));
    }

    #[test]
    fn spec_new_checks_pairs() {
        let s = PartitionSpec::new([("pt", "test"), ("dt", "20230119")]).unwrap();
        assert_eq!(s, spec("pt=test,dt=20230119"));
        // No quote stripping: the value is taken as it is.
        assert!(PartitionSpec::new([("pt", "'a'")]).is_err());
        assert!(PartitionSpec::new(Vec::<(String, String)>::new()).is_err());
        assert!(PartitionSpec::new([("pt", "a"), ("Pt", "b")]).is_err());
    }

    #[test]
    fn unicode_keys_and_values() {
        let s = spec("地区=杭州");
        assert_eq!(s.get("地区"), Some("杭州"));
        assert_eq!(s.to_meta_string(), "地区='杭州'");
    }

    #[test]
    fn max_first_orders_by_value_tuples_as_strings() {
        let mut specs: Vec<PartitionSpec> = [
            "pt=test,dt=20230119",
            "pt=x,dt=20230120",
            "pt=test,dt=9",
            "pt=test,dt=20230120",
        ]
        .into_iter()
        .map(spec)
        .collect();
        sort_max_first(&mut specs);
        let order: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        // "9" > "20230120" as strings, as in Python.
        assert_eq!(
            order,
            [
                "pt=x,dt=20230120",
                "pt=test,dt=9",
                "pt=test,dt=20230120",
                "pt=test,dt=20230119",
            ]
        );
        assert_eq!(
            spec("pt=a,dt=b").cmp_values(&spec("PT=a,DT=b")),
            Ordering::Equal
        );
    }

    #[test]
    fn filter_prefix_is_the_leading_run_of_equalities_in_key_order() {
        // Spec §2.2: `pt=test,dt>20230119` sends `pt` and filters `dt` client-side.
        let f = filter("pt=test,dt>20230119");
        assert_eq!(f.prefix(), Some(spec("pt=test")));
        assert_eq!(f.exact(), None);

        // Written order does not matter; key order does.
        let f = filter("dt=20230119,pt=test");
        assert_eq!(f.prefix(), Some(spec("pt=test,dt=20230119")));
        assert_eq!(f.exact(), Some(spec("pt=test,dt=20230119")));
        assert_eq!(
            f.prefix().unwrap().to_meta_string(),
            "pt='test',dt='20230119'"
        );

        // An equality on a later key only is no prefix.
        assert_eq!(filter("dt=20230119").prefix(), None);
        // A comparison on the first key stops the run.
        assert_eq!(filter("pt>a,dt=b").prefix(), None);
        // `==` is an equality too.
        assert_eq!(filter("pt==a").prefix(), Some(spec("pt=a")));
        // Two conditions on one key stop the run, even if both are equalities (PyODPS).
        assert_eq!(filter("pt=a,pt=a,dt=b").prefix(), None);
        assert_eq!(filter("pt=a,dt>=b,dt<c").prefix(), Some(spec("pt=a")));
        // Keys take the table's spelling.
        assert_eq!(
            filter("PT=a").prefix().unwrap().keys().collect::<Vec<_>>(),
            ["pt"]
        );
    }

    #[test]
    fn filter_exact_needs_one_equality_per_key_and_nothing_else() {
        assert_eq!(filter("pt=a,dt=b").exact(), Some(spec("pt=a,dt=b")));
        assert_eq!(filter("pt=a").exact(), None);
        assert_eq!(filter("pt=a,dt=b,dt!=c").exact(), None);
        let one = PartitionFilter::parse("pt=a", &["pt"]).unwrap();
        assert_eq!(one.exact(), Some(spec("pt=a")));
    }

    /// Evaluation table: (filter, partition, matches), as PyODPS's `PartitionSpecCondition`
    /// evaluates with Python string comparisons.
    #[test]
    fn filter_matches_as_string_comparisons() {
        let cases: &[(&str, &str, bool)] = &[
            ("pt=test,dt>20230119", "pt=test,dt=20230120", true),
            ("pt=test,dt>20230119", "pt=test,dt=20230119", false),
            ("pt=test,dt>20230119", "pt=x,dt=20230120", false),
            ("dt>=20230119", "pt=x,dt=20230119", true),
            ("dt<=20230119", "pt=x,dt=20230119", true),
            ("dt<20230119", "pt=x,dt=20230119", false),
            ("dt<20230119", "pt=x,dt=2023", true),
            ("dt!=20230119", "pt=x,dt=20230119", false),
            ("dt<>20230119", "pt=x,dt=20230120", true),
            ("dt==20230119", "pt=x,dt=20230119", true),
            // String, not numeric, order.
            ("dt>10", "pt=x,dt=9", true),
            ("dt>9", "pt=x,dt=10", false),
            ("dt>2023", "pt=x,dt=20230101", true),
            // Case-sensitive values, code point order ('B' < 'a').
            ("pt=a", "pt=A,dt=1", false),
            ("pt>B", "pt=a,dt=1", true),
            // Ranges on one key.
            ("dt>=20230101,dt<20230201", "pt=x,dt=20230115", true),
            ("dt>=20230101,dt<20230201", "pt=x,dt=20230201", false),
            // Quotes and spaces around values are dropped.
            (
                "pt = 'test' , dt > \"20230119\"",
                "pt=test,dt=20230120",
                true,
            ),
            // Keys match case-insensitively on both sides.
            ("PT=test", "Pt=test,dt=1", true),
            // A partition lacking the key does not match.
            ("dt=1", "pt=test", false),
        ];
        for (f, p, want) in cases {
            assert_eq!(filter(f).matches(&spec(p)), *want, "{f} on {p}");
        }
    }

    #[test]
    fn filter_rejects_unknown_keys_listing_the_tables_keys() {
        let msg = filter_err("pt=a,region=us");
        assert!(msg.contains("unknown partition key `region`"), "{msg}");
        assert!(msg.contains("partition keys are pt, dt"), "{msg}");
    }

    #[test]
    fn filter_rejects_malformed_text() {
        assert!(filter_err("").contains("empty partition filter"));
        assert!(filter_err("pt=a,").contains("empty condition"));
        assert!(filter_err("pt").contains("no operator"));
        assert!(filter_err("pt!a").contains("unknown operator"));
        assert!(filter_err(">a").contains("names no partition key"));
        assert!(filter_err("pt>").contains("empty value"));
        // PyODPS would read `pt=>a` as key `pt=`; here the value `>a` is rejected.
        assert!(filter_err("pt=>a").contains("contains '>'"));
        assert!(filter_err("pt=<a").contains("contains '<'"));
        // PyODPS deletes every quote inside a filter value; here that is an error.
        assert!(filter_err("pt=a'b").contains("contains"));
        assert!(filter_err("pt='a").contains("unbalanced"));
        let no_keys = PartitionFilter::parse("pt=a", &[] as &[&str]).unwrap_err();
        assert!(no_keys.message().contains("no partition keys"));
    }

    #[test]
    fn filter_accepts_owned_key_lists() {
        let keys = vec!["pt".to_string()];
        assert!(PartitionFilter::parse("pt=a", &keys).is_ok());
    }
}

/// Property tests: arbitrary text never panics the parsers, and what parses formats back to
/// the same spec. `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::record::fuzz::config;

    /// Text made mostly of the characters the grammar gives a meaning to.
    const TEXT: &str = "[a-zA-Z0-9_ '\"=,<>!&%\\t地区.:-]{0,40}";

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn specs_parse_or_fail_cleanly(text in prop_oneof![TEXT, any::<String>()]) {
            match PartitionSpec::parse(&text) {
                Ok(spec) => {
                    prop_assert_eq!(&PartitionSpec::parse(&spec.to_tunnel_string()).unwrap(), &spec);
                    prop_assert_eq!(&PartitionSpec::parse(&spec.to_meta_string()).unwrap(), &spec);
                }
                Err(e) => prop_assert_eq!(e.kind(), arrowport_core::ErrorKind::Config),
            }
        }

        /// Valid pairs, spelled in either form, parse back to themselves.
        #[test]
        fn valid_specs_round_trip(
            pairs in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,8}", "[a-zA-Z0-9:_$#.!@]([a-zA-Z0-9 :_$#.!@]{0,10}[a-zA-Z0-9])?"), 1..4),
        ) {
            let Ok(spec) = PartitionSpec::new(pairs.clone()) else {
                // Only a key given twice (in any case) is refused.
                let lower: std::collections::HashSet<_> =
                    pairs.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
                prop_assert!(lower.len() < pairs.len());
                return Ok(());
            };
            prop_assert_eq!(&PartitionSpec::parse(&spec.to_tunnel_string()).unwrap(), &spec);
            prop_assert_eq!(&PartitionSpec::parse(&spec.to_meta_string()).unwrap(), &spec);
        }

        /// A filter that parses evaluates without panicking, and a partition it matches agrees
        /// with its listing prefix.
        #[test]
        fn filters_parse_or_fail_cleanly(
            text in prop_oneof![TEXT, any::<String>()],
            partition in "pt=[a-c]{1,2},dt=[0-9]{1,2}",
        ) {
            let spec = PartitionSpec::parse(&partition).unwrap();
            let filter = PartitionFilter::parse(&text, &["pt", "dt"]);
            if let Err(e) = &filter {
                prop_assert_eq!(e.kind(), arrowport_core::ErrorKind::Config);
            }
            if let Ok(filter) = filter {
                if filter.matches(&spec)
                    && let Some(prefix) = filter.prefix()
                {
                    for (k, v) in prefix.iter() {
                        prop_assert_eq!(spec.get(k), Some(v));
                    }
                }
                if let Some(exact) = filter.exact() {
                    prop_assert!(filter.matches(&exact));
                }
            }
        }
    }
}
