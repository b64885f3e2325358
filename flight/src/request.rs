//! What a client asks for, from a Flight descriptor: a command (JSON) or a path naming a
//! configured source.
//!
//! ```json
//! {"url": "maxcompute://project/table", "columns": ["id", "v"], "limit": 1000,
//!  "options": {"partition": "dt=20240101"}}
//! {"source": "sales", "options": {"partition": "dt=20240101"}}
//! ```

use std::collections::BTreeMap;

use arrow_flight::FlightDescriptor;
use arrow_flight::flight_descriptor::DescriptorType;
use arrowport_core::{Error, Result, Scan};
use serde::Deserialize;

use crate::ticket::SourceRef;

/// A descriptor's command.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Command {
    /// A configured source, by name.
    source: Option<String>,
    /// A source URL.
    url: Option<String>,
    columns: Option<Vec<String>>,
    limit: Option<u64>,
    /// Source options; numbers and booleans are taken as their text.
    #[serde(default)]
    options: BTreeMap<String, serde_json::Value>,
}

/// One request: which source, with which of the client's options, for which scan.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub source: SourceRef,
    pub options: BTreeMap<String, String>,
    pub columns: Option<Vec<String>>,
    pub limit: Option<u64>,
}

impl Request {
    /// The request a descriptor makes.
    pub fn from_descriptor(descriptor: &FlightDescriptor) -> Result<Self> {
        match DescriptorType::try_from(descriptor.r#type) {
            Ok(DescriptorType::Cmd) => Self::from_command(&descriptor.cmd),
            Ok(DescriptorType::Path) => match descriptor.path.as_slice() {
                [name] => Ok(Request {
                    source: SourceRef::Named(name.clone()),
                    options: BTreeMap::new(),
                    columns: None,
                    limit: None,
                }),
                path => Err(Error::config(format!(
                    "a path descriptor names one configured source, e.g. [\"sales\"]; got {path:?}"
                ))),
            },
            _ => Err(Error::config(
                "the descriptor is neither a command nor a path",
            )),
        }
    }

    /// The request of a command: JSON with `url` or `source`, and optional `columns`,
    /// `limit` and `options`.
    pub fn from_command(cmd: &[u8]) -> Result<Self> {
        let command: Command = serde_json::from_slice(cmd).map_err(|e| {
            Error::config(format!(
                "the descriptor's command is not a request: {e}; send JSON such as \
                 {{\"url\": \"datagen://?rows=10\", \"columns\": [\"id\"]}}"
            ))
        })?;
        let source = match (command.source, command.url) {
            (Some(name), None) => SourceRef::Named(name),
            (None, Some(url)) => SourceRef::Url(url),
            _ => {
                return Err(Error::config(
                    "the descriptor's command names its source with exactly one of `source` (a \
                     configured name) or `url`",
                ));
            }
        };
        let options = json_options(command.options)?;
        Ok(Request {
            source,
            options,
            columns: command.columns,
            limit: command.limit,
        })
    }

    pub fn scan(&self) -> Scan {
        Scan::new()
            .with_columns(self.columns.clone())
            .with_limit(self.limit)
    }
}

/// A descriptor's options; numbers and booleans are taken as their text.
pub(crate) fn json_options(
    options: BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>> {
    options
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(Error::config(format!(
                        "option `{k}` must be a string, number or boolean, not {other}"
                    )));
                }
            };
            Ok((k, text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_paths_become_requests() {
        let r = Request::from_descriptor(&FlightDescriptor::new_cmd(
            r#"{"url":"datagen://?rows=5","columns":["id"],"limit":3,"options":{"seed":7,"x":true}}"#,
        ))
        .unwrap();
        assert_eq!(r.source, SourceRef::Url("datagen://?rows=5".into()));
        assert_eq!(r.options["seed"], "7");
        assert_eq!(r.options["x"], "true");
        assert_eq!(
            (r.columns.as_deref(), r.limit),
            (Some(&["id".to_string()][..]), Some(3))
        );

        let r =
            Request::from_descriptor(&FlightDescriptor::new_path(vec!["sales".into()])).unwrap();
        assert_eq!(r.source, SourceRef::Named("sales".into()));
    }

    #[test]
    fn malformed_descriptors_are_configuration_errors() {
        for cmd in [
            "not json",
            r#"{"url":"a://","source":"b"}"#,
            r#"{}"#,
            r#"{"url":"a://","colums":["x"]}"#,
            r#"{"url":"a://","options":{"k":[1]}}"#,
            r#"{"url":"a://","limit":-1}"#,
        ] {
            let e =
                Request::from_descriptor(&FlightDescriptor::new_cmd(cmd.to_string())).unwrap_err();
            assert_eq!(e.kind(), arrowport_core::ErrorKind::Config, "{cmd}: {e}");
        }
        let e = Request::from_descriptor(&FlightDescriptor::new_path(vec!["a".into(), "b".into()]))
            .unwrap_err();
        assert!(e.message().contains("one configured source"), "{e}");
    }
}
