//! Remote writes: the sinks a server's configuration opens to `DoPut`. A client pushes
//! batches into a sink by name; each put is one atomic write, as `arrowport export` makes it
//! (committed when the client's stream ends, nothing left when it breaks off). Sinks are only
//! ever the configured ones, so a client cannot write anywhere else on the server.
//!
//! ```toml
//! [sinks.landing]
//! url = "/data/landing/put-{id}.parquet"   # {id}: a fresh name per put
//! options = { compression = "zstd" }
//! [sinks.sales]
//! url = "maxcompute://my_project/sales"
//! client_options = ["partition"]
//! ```

use std::collections::BTreeMap;

use arrow_flight::FlightDescriptor;
use arrow_flight::flight_descriptor::DescriptorType;
use arrowport_core::options::{closest, is_secret_key};
use arrowport_core::registry::resolve_sink;
use arrowport_core::routing::split_sink_query;
use arrowport_core::{Error, ErrorKind, OptionMap, Result, Sink, SinkSpec};
use serde::Deserialize;

use crate::catalog::toml_assignments;
use crate::request::json_options;

/// The placeholder a sink URL may hold, replaced by a fresh name on every put.
const PUT_ID: &str = "{id}";

/// One configured sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkEntry {
    /// What `arrowport export` takes as its sink: a file, a directory ending in `/`, a
    /// `maxcompute://` table.
    url: String,
    /// The sink's format, when the extension does not tell (`--format`).
    format: Option<String>,
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
    /// The option names clients may set on a put.
    #[serde(default)]
    client_options: Vec<String>,
    /// A put replaces an existing output (a file or directory without `{id}`).
    #[serde(default)]
    overwrite: bool,
}

/// The configured sinks, checked.
#[derive(Debug, Clone, Default)]
pub struct Writes {
    sinks: BTreeMap<String, (SinkEntry, OptionMap)>,
}

/// What a `DoPut` descriptor asks: a configured sink and the client's options.
#[derive(Debug, Clone, PartialEq)]
pub struct Put {
    pub sink: String,
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutCommand {
    sink: String,
    #[serde(default)]
    options: BTreeMap<String, serde_json::Value>,
}

impl Put {
    /// A path (`["landing"]`) or a command (`{"sink": "landing", "options": {..}}`).
    pub fn from_descriptor(descriptor: &FlightDescriptor) -> Result<Self> {
        match DescriptorType::try_from(descriptor.r#type) {
            Ok(DescriptorType::Path) => match descriptor.path.as_slice() {
                [name] => Ok(Put {
                    sink: name.clone(),
                    options: BTreeMap::new(),
                }),
                path => Err(Error::config(format!(
                    "a DoPut path names one configured sink, e.g. [\"landing\"]; got {path:?}"
                ))),
            },
            Ok(DescriptorType::Cmd) => {
                let command: PutCommand = serde_json::from_slice(&descriptor.cmd).map_err(|e| {
                    Error::config(format!(
                        "the DoPut command is not a put: {e}; send JSON such as {{\"sink\": \
                         \"landing\", \"options\": {{}}}}"
                    ))
                })?;
                Ok(Put {
                    sink: command.sink,
                    options: json_options(command.options)?,
                })
            }
            _ => Err(Error::config(
                "the DoPut descriptor is neither a path nor a command",
            )),
        }
    }
}

impl Writes {
    /// Checks every entry at start: its target resolves to a sink, its option names exist.
    pub fn load(entries: BTreeMap<String, SinkEntry>) -> Result<Self> {
        let mut sinks = BTreeMap::new();
        for (name, entry) in entries {
            let what = format!("sink `{name}`");
            let (text, mut options) = split_sink_query(&entry.url.replace(PUT_ID, "id"))
                .map_err(|e| Error::config(format!("{what}: {}", e.message())))?;
            let (plugin, _) = resolve_sink(&text, entry.format.as_deref())
                .map_err(|e| Error::config(format!("{what}: {}", e.message())))?;
            let keys = (plugin.options)();
            for assignment in toml_assignments(&what, &entry.options)? {
                let (k, v) = OptionMap::parse_assignment(&assignment)?;
                options.insert(k, v);
            }
            for (key, _) in options.iter() {
                if !keys.contains(&key) {
                    return Err(Error::config(format!(
                        "{what}: unknown option `{key}` for {}; {}",
                        plugin.name,
                        arrowport_core::options::suggestion(key, keys)
                    )));
                }
            }
            for key in &entry.client_options {
                if !keys.contains(&key.as_str()) {
                    return Err(Error::config(format!(
                        "{what}: client option `{key}` is not an option of {}",
                        plugin.name
                    )));
                }
            }
            sinks.insert(name, (entry, options));
        }
        Ok(Writes { sinks })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sinks.keys().map(String::as_str)
    }

    /// The sink a put writes into, built (nothing is written yet), and where it writes.
    pub fn build(&self, put: &Put) -> Result<(Box<dyn Sink>, String)> {
        let (entry, configured) = self.sinks.get(&put.sink).ok_or_else(|| {
            let names: Vec<&str> = self.names().collect();
            if names.is_empty() {
                return Error::new(
                    ErrorKind::PermissionDenied,
                    "this server takes no writes: its operator opens sinks to DoPut in the \
                     config's [sinks] section",
                );
            }
            let hint = closest(&put.sink, names.iter().copied())
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            Error::new(
                ErrorKind::NotFound,
                format!(
                    "no sink `{}` is configured on this server; {hint}configured: {}",
                    put.sink,
                    names.join(", ")
                ),
            )
        })?;
        let mut options = configured.clone();
        for (key, value) in &put.options {
            if is_secret_key(key) {
                return Err(Error::config(format!(
                    "option `{key}` is a credential, and credentials stay on the server"
                )));
            }
            if !entry.client_options.contains(key) {
                return Err(Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "option `{key}` of sink `{}` is not open to clients; the server's \
                         configuration opens: {}",
                        put.sink,
                        if entry.client_options.is_empty() {
                            "none".to_string()
                        } else {
                            entry.client_options.join(", ")
                        }
                    ),
                ));
            }
            options.insert(key.clone(), value.clone());
        }
        let url = entry.url.replace(PUT_ID, &put_id()?);
        let (text, _) = split_sink_query(&url)?;
        let (plugin, target) = resolve_sink(&text, entry.format.as_deref())?;
        let sink = (plugin.build)(SinkSpec::new(target.clone(), options, entry.overwrite))?;
        Ok((sink, target.to_string()))
    }
}

/// A fresh, sortable name: the time in milliseconds and 32 random bits, in hex.
fn put_id() -> Result<String> {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut random = [0u8; 4];
    getrandom::fill(&mut random)
        .map_err(|e| Error::new(ErrorKind::Unexpected, format!("no randomness: {e}")))?;
    Ok(format!("{millis:012x}-{}", hex::encode(random)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(toml_text: &str) -> Result<Writes> {
        arrowport_plugins::link();
        #[derive(Deserialize)]
        struct File {
            sinks: BTreeMap<String, SinkEntry>,
        }
        let file: File = toml::from_str(toml_text).unwrap();
        Writes::load(file.sinks)
    }

    #[test]
    fn sinks_are_checked_at_start_and_only_opened_options_come_from_clients() {
        let e = writes("[sinks.a]\nurl = \"out.nosuch\"\n").unwrap_err();
        assert!(e.message().contains("sink `a`"), "{e}");
        let e = writes("[sinks.a]\nurl = \"out.parquet\"\noptions = { compresion = \"zstd\" }\n")
            .unwrap_err();
        assert!(e.message().contains("did you mean `compression`"), "{e}");

        let w = writes(
            "[sinks.a]\nurl = \"/tmp/x-{id}.parquet\"\nclient_options = [\"compression\"]\n",
        )
        .unwrap();
        let put = |pairs: &[(&str, &str)]| Put {
            sink: "a".into(),
            options: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let (_, first) = w.build(&put(&[("compression", "zstd")])).unwrap();
        let (_, second) = w.build(&put(&[])).unwrap();
        assert_ne!(first, second, "every put gets a fresh name");
        assert!(
            first.starts_with("/tmp/x-") && first.ends_with(".parquet"),
            "{first}"
        );
        let e = w.build(&put(&[("row_group_size", "10")])).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = w
            .build(&Put {
                sink: "b".into(),
                options: BTreeMap::new(),
            })
            .err()
            .unwrap();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = Writes::default().build(&put(&[])).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    }

    #[test]
    fn puts_come_from_paths_and_commands() {
        let p = Put::from_descriptor(&FlightDescriptor::new_path(vec!["landing".into()])).unwrap();
        assert_eq!(p.sink, "landing");
        let p = Put::from_descriptor(&FlightDescriptor::new_cmd(
            r#"{"sink":"t","options":{"partition":"pt=1"}}"#,
        ))
        .unwrap();
        assert_eq!(p.options["partition"], "pt=1");
        for bad in [r#"{"url":"x"}"#, "nope"] {
            let e = Put::from_descriptor(&FlightDescriptor::new_cmd(bad)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config);
        }
    }
}
