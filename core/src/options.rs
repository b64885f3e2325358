//! One option map for every front end.
//!
//! URL query strings, repeatable `-o key=value` flags and job files all reduce to an
//! [`OptionMap`] of strings, which serde deserializes into a plugin's typed `Config`. The
//! deserializer parses numbers, booleans and comma-separated lists from strings, rejects unknown
//! keys with the closest valid one suggested, and never touches the network or the environment.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use crate::{Error, Result};

/// Options given to one plugin, in key order. Later sources of a key override earlier ones.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OptionMap(BTreeMap<String, String>);

impl fmt::Debug for OptionMap {
    /// Values of keys that look secret are redacted: option maps end up in logs and errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if is_secret_key(k) {
                m.entry(k, &"<redacted>");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// Whether an option key names a secret whose value must never be printed.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    !k.ends_with("_env")
        && ["secret", "password", "token", "access_key", "accesskey"]
            .iter()
            .any(|s| k.contains(s))
}

impl OptionMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`, replacing an earlier value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Adds every entry of `other`, which wins on conflicts.
    pub fn merge(&mut self, other: OptionMap) {
        self.0.extend(other.0);
    }

    /// The options of a URL's query string (`?rows=10&seed=3`), percent-decoded.
    pub fn from_query(url: &url::Url) -> Result<Self> {
        let mut map = OptionMap::new();
        for (k, v) in url.query_pairs() {
            if k.is_empty() {
                return Err(Error::config(format!(
                    "empty option name in the query of `{url}`"
                )));
            }
            if map.0.insert(k.to_string(), v.to_string()).is_some() {
                return Err(Error::config(format!(
                    "option `{k}` is given twice in `{url}`"
                )));
            }
        }
        Ok(map)
    }

    /// Parses one `key=value` assignment as given to `-o`.
    pub fn parse_assignment(text: &str) -> Result<(String, String)> {
        match text.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
            _ => Err(Error::config(format!(
                "invalid option `{text}`: expected key=value, for example `-o rows=1000`"
            ))),
        }
    }

    /// Deserializes the map into a plugin's typed configuration. `plugin` names the plugin in
    /// error messages.
    pub fn deserialize<T: DeserializeOwned>(&self, plugin: &str) -> Result<T> {
        T::deserialize(MapDeserializer { map: &self.0 })
            .map_err(|e| Error::config(format!("{plugin}: {}", e.0)).with_context("plugin", plugin))
    }
}

impl FromIterator<(String, String)> for OptionMap {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        OptionMap(iter.into_iter().collect())
    }
}

/// The option names a typed configuration accepts, in declaration order (for `describe` and
/// suggestions).
pub fn option_names<T: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl fmt::Display for Found {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("probe")
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Found(&[])
        }
    }
    impl<'de> de::Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(fields)) => fields,
        Ok(_) => &[],
    }
}

/// Where a plugin reads its credentials: the environment variables its options name.
#[derive(Debug, Clone, Copy)]
pub struct CredentialVars<'a> {
    pub plugin: &'a str,
    /// `(option, variable)` of the key id, the secret and the optional session token.
    pub id: (&'a str, &'a str),
    pub secret: (&'a str, &'a str),
    pub token: (&'a str, &'a str),
}

/// The key id, secret and (for temporary credentials) token from the environment; a
/// configuration error naming the variables when the id or secret is missing or blank.
pub fn env_credentials(vars: CredentialVars<'_>) -> Result<(String, String, Option<String>)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (var(vars.id.1), var(vars.secret.1)) {
        (Some(id), Some(secret)) => Ok((id, secret, var(vars.token.1))),
        _ => Err(Error::config(format!(
            "{}: missing credentials: set {} and {} (and {} for STS), or name other variables \
             with the {} / {} options",
            vars.plugin, vars.id.1, vars.secret.1, vars.token.1, vars.id.0, vars.secret.0
        ))
        .with_context("plugin", vars.plugin.to_string())),
    }
}

/// An option holding the URL of a remote service: http(s) with a host. The error is the
/// message for the plugin to prefix.
pub fn http_url(option: &str, text: &str) -> std::result::Result<url::Url, String> {
    let url = url::Url::parse(text)
        .map_err(|e| format!("option `{option}` is not a URL (`{text}`): {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "option `{option}` must be an http(s) URL with a host, got `{text}`"
        ));
    }
    Ok(url)
}

/// The candidate closest to `word` by edit distance, if it is plausibly a typo of it.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "did you mean `x`?" or a list of valid names.
pub fn suggestion(word: &str, candidates: &[&str]) -> String {
    match closest(word, candidates.iter().copied()) {
        Some(c) => format!("did you mean `{c}`?"),
        None if candidates.is_empty() => "this plugin takes no options".to_string(),
        None => format!("valid options: {}", candidates.join(", ")),
    }
}

#[derive(Debug)]
struct DeError(String);

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        DeError(msg.to_string().replace("missing field", "missing option"))
    }
}

struct MapDeserializer<'a> {
    map: &'a BTreeMap<String, String>,
}

impl<'de, 'a: 'de> de::Deserializer<'de> for MapDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_map(MapAccess {
            iter: self.map.iter(),
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if let Some(unknown) = self.map.keys().find(|k| !fields.contains(&k.as_str())) {
            return Err(DeError(format!(
                "unknown option `{unknown}`; {}",
                suggestion(unknown, fields)
            )));
        }
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

struct MapAccess<'a> {
    iter: std::collections::btree_map::Iter<'a, String, String>,
    value: Option<(&'a str, &'a str)>,
}

impl<'de, 'a: 'de> de::MapAccess<'de> for MapAccess<'a> {
    type Error = DeError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some((k, v));
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DeError> {
        let (key, value) = self.value.take().expect("value requested before key");
        seed.deserialize(ValueDeserializer { key, value })
            .map_err(|e| DeError(format!("option `{key}`: {e}")))
    }
}

/// Deserializes one option value, parsing typed values from its text.
struct ValueDeserializer<'a> {
    key: &'a str,
    value: &'a str,
}

impl ValueDeserializer<'_> {
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, DeError> {
        self.value
            .trim()
            .parse()
            .map_err(|_| DeError(format!("expected {what}, got `{}`", self.value)))
    }
}

macro_rules! parse_number {
    ($($method:ident => $visit:ident : $ty:ty, $what:literal;)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.$visit(self.parse::<$ty>($what)?)
        })*
    };
}

impl<'de, 'a: 'de> de::Deserializer<'de> for ValueDeserializer<'a> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => visitor.visit_bool(true),
            "false" | "0" | "no" | "off" => visitor.visit_bool(false),
            _ => Err(DeError(format!(
                "expected true or false, got `{}`",
                self.value
            ))),
        }
    }

    parse_number! {
        deserialize_i8 => visit_i8: i8, "an integer";
        deserialize_i16 => visit_i16: i16, "an integer";
        deserialize_i32 => visit_i32: i32, "an integer";
        deserialize_i64 => visit_i64: i64, "an integer";
        deserialize_u8 => visit_u8: u8, "a non-negative integer";
        deserialize_u16 => visit_u16: u16, "a non-negative integer";
        deserialize_u32 => visit_u32: u32, "a non-negative integer";
        deserialize_u64 => visit_u64: u64, "a non-negative integer";
        deserialize_f32 => visit_f32: f32, "a number";
        deserialize_f64 => visit_f64: f64, "a number";
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    /// Lists are comma-separated: `partition_by=a,b`.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let key = self.key;
        let items = self
            .value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(move |value| ValueDeserializer { key, value });
        visitor.visit_seq(de::value::SeqDeserializer::new(items))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let v = self.value.trim();
        if !variants.contains(&v) {
            return Err(DeError(format!(
                "`{v}` is not one of {}",
                variants.join(", ")
            )));
        }
        visitor.visit_enum(v.into_deserializer())
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct
        identifier ignored_any
    }
}

impl<'de, 'a: 'de> IntoDeserializer<'de, DeError> for ValueDeserializer<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        rows: u64,
        #[serde(default)]
        seed: Option<i64>,
        #[serde(default)]
        fast: bool,
        #[serde(default)]
        columns: Vec<String>,
        #[serde(default)]
        mode: Mode,
        #[serde(default)]
        ratio: Option<f64>,
    }

    #[derive(Debug, Deserialize, PartialEq, Default)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        #[default]
        Narrow,
        AllTypes,
    }

    fn map(pairs: &[(&str, &str)]) -> OptionMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_typed_values_from_strings() {
        let cfg: Cfg = map(&[
            ("rows", "10"),
            ("seed", "-3"),
            ("fast", "true"),
            ("columns", "a, b,c"),
            ("mode", "all_types"),
            ("ratio", "0.5"),
        ])
        .deserialize("test")
        .unwrap();
        assert_eq!(
            cfg,
            Cfg {
                rows: 10,
                seed: Some(-3),
                fast: true,
                columns: vec!["a".into(), "b".into(), "c".into()],
                mode: Mode::AllTypes,
                ratio: Some(0.5)
            }
        );
    }

    #[test]
    fn unknown_key_suggests_the_closest() {
        let err = map(&[("rows", "1"), ("sead", "1")])
            .deserialize::<Cfg>("datagen")
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert_eq!(
            err.message(),
            "datagen: unknown option `sead`; did you mean `seed`?"
        );
    }

    #[test]
    fn bad_values_name_the_option() {
        let err = map(&[("rows", "-5")])
            .deserialize::<Cfg>("datagen")
            .unwrap_err();
        assert_eq!(
            err.message(),
            "datagen: option `rows`: expected a non-negative integer, got `-5`"
        );
        let err = map(&[("rows", "1"), ("mode", "wide")])
            .deserialize::<Cfg>("d")
            .unwrap_err();
        assert_eq!(
            err.message(),
            "d: option `mode`: `wide` is not one of narrow, all_types"
        );
        let err = map(&[]).deserialize::<Cfg>("d").unwrap_err();
        assert_eq!(err.message(), "d: missing option `rows`");
    }

    #[test]
    fn option_names_lists_fields() {
        assert_eq!(
            option_names::<Cfg>(),
            ["rows", "seed", "fast", "columns", "mode", "ratio"]
        );
    }

    #[test]
    fn assignments_and_queries() {
        assert_eq!(
            OptionMap::parse_assignment("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
        assert!(OptionMap::parse_assignment("novalue").is_err());
        assert!(OptionMap::parse_assignment("=x").is_err());
        let url = url::Url::parse("datagen://?rows=5&name=%E4%B8%AD").unwrap();
        let m = OptionMap::from_query(&url).unwrap();
        assert_eq!(m.get("name"), Some("中"));
        let dup = url::Url::parse("datagen://?rows=5&rows=6").unwrap();
        assert!(OptionMap::from_query(&dup).is_err());
    }

    #[test]
    fn debug_redacts_secrets() {
        let m = map(&[
            ("secret_key", "s3cr3t"),
            ("access_key_env", "MY_AK"),
            ("session_token", "t"),
        ]);
        let shown = format!("{m:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("\"t\""),
            "{shown}"
        );
        assert!(shown.contains("MY_AK"));
    }
}

/// Property tests: assignments, queries and option maps of arbitrary text parse or fail with a
/// configuration error, and what parses comes back the same. `PROPTEST_CASES` scales them (see
/// `tests/FUZZING.md`).
#[cfg(test)]
pub(crate) mod fuzz {
    use proptest::collection::btree_map;
    use proptest::prelude::*;
    use proptest::test_runner::RngSeed;
    use serde::Deserialize;

    use super::*;
    use crate::ErrorKind;

    /// proptest's defaults (`PROPTEST_CASES`, 256 by default), with a fixed seed unless
    /// `PROPTEST_RNG_SEED` picks one, so that a test run is repeatable.
    pub(crate) fn config() -> ProptestConfig {
        let mut config = ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        if config.rng_seed == RngSeed::Random {
            config.rng_seed = RngSeed::Fixed(0x0a77_09a7);
        }
        config
    }

    /// Every kind of value the deserializer parses.
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Everything {
        small: Option<u8>,
        count: Option<u64>,
        offset: Option<i32>,
        ratio: Option<f64>,
        flag: Option<bool>,
        name: Option<String>,
        list: Option<Vec<u16>>,
        mode: Option<Mode>,
        #[serde(default)]
        names: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Narrow,
        AllTypes,
    }

    const KEYS: &str = "(small|count|offset|ratio|flag|name|list|mode|names|nmae|[a-z_]{0,6})";
    const VALUES: &str =
        "(-?[0-9]{0,25}(\\.[0-9]*)?|true|off|yes|narrow|all_types|[0-9, ]{0,12}|\\PC{0,8})";

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn assignments_parse_or_fail_cleanly(text in prop_oneof!["\\PC{0,8}=?\\PC{0,8}", any::<String>()]) {
            match OptionMap::parse_assignment(&text) {
                Ok((k, v)) => {
                    prop_assert!(!k.is_empty() && k == k.trim());
                    prop_assert_eq!(OptionMap::parse_assignment(&format!("{k}={v}")).unwrap(), (k, v));
                }
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Config),
            }
        }

        /// A map written as a query string reads back the same.
        #[test]
        fn queries_round_trip(map in btree_map("\\PC{1,8}", any::<String>(), 0..5)) {
            let query: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&map)
                .finish();
            let url = url::Url::parse(&format!("datagen://host/?{query}")).unwrap();
            let parsed = OptionMap::from_query(&url).unwrap();
            prop_assert_eq!(parsed, map.into_iter().collect::<OptionMap>());
        }

        #[test]
        fn queries_parse_or_fail_cleanly(query in "[a-z=&%0-9A-F+;#?]{0,40}") {
            if let Ok(url) = url::Url::parse(&format!("datagen://host/?{query}"))
                && let Err(e) = OptionMap::from_query(&url)
            {
                prop_assert_eq!(e.kind(), ErrorKind::Config);
            }
        }

        #[test]
        fn maps_deserialize_or_fail_cleanly(
            map in btree_map(KEYS, prop_oneof![VALUES, any::<String>()], 0..6),
        ) {
            let map: OptionMap = map.into_iter().collect();
            if let Err(e) = map.deserialize::<Everything>("fuzz") {
                prop_assert_eq!(e.kind(), ErrorKind::Config);
                prop_assert!(e.message().starts_with("fuzz: "), "{}", e);
            }
        }
    }

    /// Numbers past their type, and long lists, are errors or values, never a panic.
    #[test]
    fn huge_numbers_are_errors() {
        for (key, value) in [
            ("small", "256"),
            ("count", "18446744073709551616"),
            ("offset", "2147483648"),
            ("offset", "-9223372036854775809"),
            ("list", "1,2,65536"),
        ] {
            let map: OptionMap = [(key.to_string(), value.to_string())].into_iter().collect();
            let err = map.deserialize::<Everything>("fuzz").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{key}={value}");
        }
        let long = vec!["7"; 100_000].join(",");
        let map: OptionMap = [("list".to_string(), long)].into_iter().collect();
        assert_eq!(
            map.deserialize::<Everything>("fuzz")
                .unwrap()
                .list
                .unwrap()
                .len(),
            100_000
        );
    }
}
