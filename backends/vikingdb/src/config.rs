//! The one typed configuration of the VikingDB source, fed by the URL, `-o` flags and job
//! files alike. Parsing and validation are pure: no network, no environment.

use std::fmt;
use std::time::Duration;

use arrowport_core::{Error, OptionMap, Result};
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::NAME;

/// Where the V1 API lives unless `endpoint` says otherwise.
pub const DEFAULT_ENDPOINT: &str = "https://api-vikingdb.volces.com";

/// Options of `vikingdb://<collection>?tos_path=bucket/prefix&...`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// URL of the VikingDB API.
    pub endpoint: String,
    /// Region in the signature scope of the API.
    pub region: String,
    /// Service in the signature scope of the API.
    pub service: String,
    /// URL of TOS; defaults to the public endpoint of `tos_region`.
    pub tos_endpoint: Option<String>,
    /// Region of the bucket, for TOS signatures.
    pub tos_region: String,
    /// Address objects as `/bucket/key` (local or gateway endpoints) instead of the
    /// virtual-hosted `bucket.host/key` the TOS SDK uses.
    pub tos_path_style: bool,
    /// `bucket/prefix` the export task writes into; each run uses a fresh sub-prefix of it.
    pub tos_path: Option<String>,
    /// Format of the exported files.
    pub file_type: FileType,
    /// Which rows to export: a JSON object `{"field": [values]}` (fields ANDed, values ORed),
    /// or a `filter_conds` DSL condition or list of them.
    #[serde(deserialize_with = "filter")]
    pub filter: Option<Filter>,
    /// The task's `export_all` flag; by default true exactly when there is no filter.
    pub export_all: Option<bool>,
    /// Attach to this existing export task instead of creating one.
    pub task_id: Option<String>,
    /// Confirm a task that stops in the `confirm` state instead of failing.
    pub confirm: bool,
    /// First wait between task polls; it doubles up to `max_poll_interval`.
    #[serde(deserialize_with = "duration")]
    pub poll_interval: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_poll_interval: Duration,
    /// Environment variables holding the credentials (default `VOLC_ACCESSKEY`,
    /// `VOLC_SECRETKEY`, `VOLC_SESSION_TOKEN`).
    pub access_key_env: String,
    pub secret_key_env: String,
    pub session_token_env: String,
    /// The collection, from the URL's location.
    #[serde(skip)]
    pub collection: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            endpoint: DEFAULT_ENDPOINT.into(),
            region: "cn-north-1".into(),
            service: "air".into(),
            tos_endpoint: None,
            tos_region: "cn-beijing".into(),
            tos_path_style: false,
            tos_path: None,
            file_type: FileType::Parquet,
            filter: None,
            export_all: None,
            task_id: None,
            confirm: false,
            poll_interval: Duration::from_secs(2),
            max_poll_interval: Duration::from_secs(30),
            access_key_env: "VOLC_ACCESSKEY".into(),
            secret_key_env: "VOLC_SECRETKEY".into(),
            session_token_env: "VOLC_SESSION_TOKEN".into(),
            collection: String::new(),
        }
    }
}

impl fmt::Debug for Config {
    // No secrets live here (only the names of variables holding them), but the filter can be
    // long; show it compactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("collection", &self.collection)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("tos_endpoint", &self.tos_endpoint())
            .field("tos_path", &self.tos_path)
            .field("file_type", &self.file_type)
            .field("filter", &self.filter)
            .field("task_id", &self.task_id)
            .finish_non_exhaustive()
    }
}

/// Exported file format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    #[default]
    Parquet,
    Json,
}

impl FileType {
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::Parquet => "parquet",
            FileType::Json => "json",
        }
    }
}

/// A row filter in one of the two shapes the task API takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `filter`: `{field: [values]}`.
    Map(serde_json::Map<String, serde_json::Value>),
    /// `filter_conds`: DSL conditions, ANDed.
    Conds(Vec<serde_json::Value>),
}

impl Filter {
    /// Parses the option's JSON and checks its shape (not its fields: those need the schema).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("`filter` is not valid JSON: {e}"))?;
        match value {
            serde_json::Value::Object(map) if map.contains_key("op") => {
                Ok(Filter::Conds(vec![serde_json::Value::Object(map)]))
            }
            serde_json::Value::Object(map) => {
                for (field, values) in &map {
                    let ok = values
                        .as_array()
                        .is_some_and(|a| !a.is_empty() && a.iter().all(is_scalar));
                    if !ok {
                        return Err(format!(
                            "`filter` maps each field to a non-empty list of strings or \
                             integers; `{field}` has {values}"
                        ));
                    }
                }
                Ok(Filter::Map(map))
            }
            serde_json::Value::Array(conds) => {
                if let Some(bad) = conds.iter().find(|c| c.get("op").is_none()) {
                    return Err(format!(
                        "every `filter` condition needs an `op` (must, must_not, range, \
                         range_out, and, or); got {bad}"
                    ));
                }
                Ok(Filter::Conds(conds))
            }
            other => Err(format!(
                "`filter` must be a JSON object or a list of conditions, got {other}"
            )),
        }
    }

    /// Every field name the filter mentions, for checking against the collection.
    pub fn fields(&self) -> Vec<String> {
        fn walk(cond: &serde_json::Value, out: &mut Vec<String>) {
            match cond.get("field") {
                Some(serde_json::Value::String(f)) => out.push(f.clone()),
                Some(serde_json::Value::Array(fs)) => {
                    out.extend(fs.iter().filter_map(|f| f.as_str().map(str::to_owned)))
                }
                _ => {}
            }
            if let Some(serde_json::Value::Array(inner)) = cond.get("conds") {
                for c in inner.iter().filter(|c| c.is_object()) {
                    walk(c, out);
                }
            }
        }
        match self {
            Filter::Map(map) => map.keys().cloned().collect(),
            Filter::Conds(conds) => {
                let mut out = Vec::new();
                conds.iter().for_each(|c| walk(c, &mut out));
                out
            }
        }
    }
}

fn is_scalar(v: &serde_json::Value) -> bool {
    v.is_string() || v.is_i64() || v.is_u64() || v.is_boolean()
}

impl Config {
    /// Deserializes and validates the URL location and options.
    pub fn from_options(collection: &str, options: &OptionMap) -> Result<Self> {
        let mut config: Config = options.deserialize(NAME)?;
        config.collection = collection.to_string();
        config.validate()?;
        Ok(config)
    }

    /// Rejects what cannot work, naming the option at fault.
    pub fn validate(&self) -> Result<()> {
        if self.collection.is_empty() || self.collection.contains('/') {
            return Err(invalid(format!(
                "the URL names one collection, as in `vikingdb://my_collection?tos_path=bucket/dir`; \
                 got `{}`",
                self.collection
            )));
        }
        parse_endpoint("endpoint", &self.endpoint)?;
        let tos = parse_endpoint("tos_endpoint", &self.tos_endpoint())?;
        if !self.tos_path_style && !matches!(tos.host(), Some(url::Host::Domain(_))) {
            return Err(invalid(format!(
                "`tos_endpoint` {} is an IP address, which cannot carry the bucket in its host \
                 name; add `tos_path_style=true`",
                self.tos_endpoint()
            )));
        }
        if self.tos_path.is_none() && self.task_id.is_none() {
            return Err(invalid(
                "option `tos_path` (bucket/prefix the export task writes into) is required \
                 unless `task_id` attaches to an existing task"
                    .into(),
            ));
        }
        if self.tos_path.is_some() {
            self.tos_location()?;
        }
        if self.task_id.as_deref().is_some_and(str::is_empty) {
            return Err(invalid("option `task_id` is empty".into()));
        }
        if self.max_poll_interval < self.poll_interval {
            return Err(invalid(format!(
                "option `max_poll_interval` ({:?}) is shorter than `poll_interval` ({:?})",
                self.max_poll_interval, self.poll_interval
            )));
        }
        Ok(())
    }

    /// The TOS endpoint, explicit or derived from `tos_region`.
    pub fn tos_endpoint(&self) -> String {
        self.tos_endpoint
            .clone()
            .unwrap_or_else(|| format!("https://tos-{}.volces.com", self.tos_region))
    }

    /// `tos_path` split into bucket and prefix (without slashes at either end).
    pub fn tos_location(&self) -> Result<(String, String)> {
        let path = self.tos_path.as_deref().unwrap_or_default();
        split_tos_path(path).ok_or_else(|| {
            invalid(format!(
                "option `tos_path` must be `bucket/prefix` (a bucket name, not a domain or URL); \
                 got `{path}`"
            ))
        })
    }
}

/// Splits `bucket/prefix` (as the task API and task info spell it).
pub fn split_tos_path(path: &str) -> Option<(String, String)> {
    let path = path.trim_matches('/');
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    valid_bucket.then(|| (bucket.to_string(), prefix.trim_matches('/').to_string()))
}

pub(crate) fn parse_endpoint(option: &str, text: &str) -> Result<Url> {
    arrowport_core::options::http_url(option, text).map_err(invalid)
}

fn invalid(message: String) -> Error {
    Error::config(format!("{NAME}: {message}")).with_context("plugin", NAME)
}

fn filter<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Filter>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| Filter::parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{text}` is not a duration (write e.g. `500ms`, `2s` or `1m`)"
        ))
    })
}

/// Parses `250ms`, `2s`, `1.5s`, `3m`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * scale).ok()
}

#[cfg(test)]
mod tests {
    use arrowport_core::ErrorKind;

    use super::*;

    fn config(location: &str, pairs: &[(&str, &str)]) -> Result<Config> {
        let options = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_options(location, &options)
    }

    #[test]
    fn defaults_follow_the_sdk() {
        let c = config("coll", &[("tos_path", "my-bucket/exports")]).unwrap();
        assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(
            (c.region.as_str(), c.service.as_str()),
            ("cn-north-1", "air")
        );
        assert_eq!(c.tos_endpoint(), "https://tos-cn-beijing.volces.com");
        assert!(!c.tos_path_style);
        assert_eq!(
            c.tos_location().unwrap(),
            ("my-bucket".into(), "exports".into())
        );
        assert_eq!(c.file_type, FileType::Parquet);
    }

    #[test]
    fn filters_parse_in_both_shapes() {
        let c = config(
            "c",
            &[
                ("tos_path", "bkt/p"),
                ("filter", r#"{"tag":["a","b"],"n":[1]}"#),
            ],
        )
        .unwrap();
        assert!(matches!(c.filter, Some(Filter::Map(ref m)) if m.len() == 2));
        let c = config(
            "c",
            &[
                ("tos_path", "bkt/p"),
                (
                    "filter",
                    r#"{"op":"and","conds":[{"op":"range","field":"n","gte":1},{"op":"must","field":"t","conds":["x"]}]}"#,
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.filter.unwrap().fields(), vec!["n", "t"]);
    }

    #[test]
    fn bad_input_is_a_config_error_naming_the_option() {
        for (pairs, needle) in [
            (vec![], "tos_path"),
            (vec![("tos_path", "https://x")], "tos_path"),
            (
                vec![("tos_path", "b/p"), ("filter", "{nope")],
                "not valid JSON",
            ),
            (vec![("tos_path", "bkt/p"), ("filter", r#"{"a":3}"#)], "`a`"),
            (
                vec![("tos_path", "bkt/p"), ("filter", r#"[{"field":"a"}]"#)],
                "op",
            ),
            (
                vec![("tos_path", "bkt/p"), ("file_type", "csv")],
                "file_type",
            ),
            (
                vec![("tos_path", "bkt/p"), ("poll_interval", "soon")],
                "duration",
            ),
            (
                vec![("tos_path", "bkt/p"), ("endpoint", "ftp://x")],
                "endpoint",
            ),
            (vec![("tos_path", "bkt/p"), ("tos_bucket", "x")], "tos_path"),
            (
                vec![
                    ("tos_path", "bkt/p"),
                    ("tos_endpoint", "http://127.0.0.1:9"),
                ],
                "tos_path_style=true",
            ),
        ] {
            let err = config("coll", &pairs).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{pairs:?}");
            assert!(err.to_string().contains(needle), "{pairs:?}: {err}");
        }
        assert!(config("a/b", &[("tos_path", "bkt/p")]).is_err());
        assert!(config("coll", &[("task_id", "t-1")]).is_ok());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("0ms"), Some(Duration::ZERO));
        assert_eq!(parse_duration("x"), None);
    }
}
