//! Job files: one export described in TOML or JSON.
//!
//! ```toml
//! columns = ["id", "text"]   # optional, like --columns
//! limit = 1000               # optional, like --limit
//! parallel = 4               # optional, like --parallel
//! overwrite = true           # optional, like --overwrite
//! format = "parquet"         # optional, like --format
//!
//! [source]
//! url = "vikingdb://my_collection"
//! access_key_env = "MY_AK"   # every other key is a source option
//!
//! [sink]
//! url = "out/"
//! max_rows_per_file = 1000000
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::options::{OptionMap, suggestion};
use crate::{Error, Result};

/// A parsed job file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Job {
    pub source: String,
    pub source_options: OptionMap,
    pub sink: String,
    pub sink_options: OptionMap,
    pub columns: Option<Vec<String>>,
    pub limit: Option<u64>,
    pub parallel: Option<usize>,
    pub format: Option<String>,
    pub overwrite: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    source: RawEndpoint,
    sink: RawEndpoint,
    columns: Option<Vec<String>>,
    limit: Option<u64>,
    parallel: Option<usize>,
    format: Option<String>,
    #[serde(default)]
    overwrite: bool,
}

#[derive(Deserialize)]
struct RawEndpoint {
    url: String,
    #[serde(flatten)]
    options: BTreeMap<String, Value>,
}

const TOP_LEVEL_KEYS: &[&str] = &[
    "source",
    "sink",
    "columns",
    "limit",
    "parallel",
    "format",
    "overwrite",
];

impl Job {
    /// A job with just a source URL and a sink, as given on the command line.
    pub fn from_parts(source: String, sink: String) -> Job {
        Job {
            source,
            source_options: OptionMap::new(),
            sink,
            sink_options: OptionMap::new(),
            columns: None,
            limit: None,
            parallel: None,
            format: None,
            overwrite: false,
        }
    }

    /// Reads and parses a job file; `.json` files are JSON, everything else TOML.
    pub fn load(path: &Path) -> Result<Job> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!("cannot read job file `{}`: {e}", path.display())).with_source(e)
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        Self::parse(&text, json)
            .map_err(|e| Error::config(format!("job file `{}`: {}", path.display(), e.message())))
    }

    /// Parses job text. Syntax errors name the line and column.
    pub fn parse(text: &str, json: bool) -> Result<Job> {
        let tree: Value = if json {
            serde_json::from_str(text).map_err(|e| Error::config(format!("invalid JSON: {e}")))?
        } else {
            toml::from_str(text)
                .map_err(|e| Error::config(format!("invalid TOML: {}", e.to_string().trim_end())))?
        };
        let Value::Object(top) = &tree else {
            return Err(Error::config(
                "a job file must be a table with [source] and [sink]",
            ));
        };
        if let Some(unknown) = top.keys().find(|k| !TOP_LEVEL_KEYS.contains(&k.as_str())) {
            return Err(Error::config(format!(
                "unknown key `{unknown}`; {}",
                suggestion(unknown, TOP_LEVEL_KEYS).replace("valid options", "valid keys")
            )));
        }
        let raw: RawJob = serde_json::from_value(tree).map_err(|e| Error::config(e.to_string()))?;
        Ok(Job {
            source: raw.source.url,
            source_options: to_options("source", raw.source.options)?,
            sink: raw.sink.url,
            sink_options: to_options("sink", raw.sink.options)?,
            columns: raw.columns,
            limit: raw.limit,
            parallel: raw.parallel,
            format: raw.format,
            overwrite: raw.overwrite,
        })
    }
}

/// Flattens typed job-file values into option strings (lists become comma-separated).
fn to_options(section: &str, raw: BTreeMap<String, Value>) -> Result<OptionMap> {
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    raw.into_iter()
        .map(|(k, v)| {
            let text = match &v {
                Value::Array(items) => items
                    .iter()
                    .map(scalar)
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.join(",")),
                // Structured values (a VikingDB filter, say) are passed on as JSON text.
                Value::Object(_) => Some(v.to_string()),
                other => scalar(other),
            };
            text.map(|t| (k.clone(), t))
                .ok_or_else(|| Error::config(format!("[{section}] `{k}`: unsupported value {v}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_json_alike() {
        let toml = r#"
            columns = ["a", "b"]
            limit = 5
            [source]
            url = "datagen://?rows=10"
            seed = 7
            [sink]
            url = "out/"
            partition_by = ["a", "b"]
            filter = { x = 1 }
        "#;
        let job = Job::parse(toml, false).unwrap();
        assert_eq!(job.source, "datagen://?rows=10");
        assert_eq!(job.source_options.get("seed"), Some("7"));
        assert_eq!(job.sink_options.get("partition_by"), Some("a,b"));
        assert_eq!(job.sink_options.get("filter"), Some(r#"{"x":1}"#));
        assert_eq!(job.columns, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(job.limit, Some(5));
        let json = r#"{"source": {"url": "datagen://?rows=10", "seed": 7},
                       "sink": {"url": "out/", "partition_by": ["a", "b"], "filter": {"x": 1}},
                       "columns": ["a", "b"], "limit": 5}"#;
        assert_eq!(Job::parse(json, true).unwrap(), job);
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = Job::parse("[source]\nurl = \"x\"\nseed = = 3\n", false).unwrap_err();
        assert!(e.message().contains("line 3"), "{e}");
        assert!(e.message().contains("column"), "{e}");
        let e = Job::parse("{\"source\": {\n\"url\": }", true).unwrap_err();
        assert!(e.message().contains("line 2 column"), "{e}");
    }

    #[test]
    fn unknown_top_level_key_is_suggested() {
        let e = Job::parse("limt = 3\n[source]\nurl='a://'\n[sink]\nurl='b'\n", false).unwrap_err();
        assert_eq!(e.message(), "unknown key `limt`; did you mean `limit`?");
    }
}
