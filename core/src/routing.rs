//! Which plugin each option belongs to. Every front end (the CLI's `-o key=value`, a Flight
//! descriptor's option map, Python keyword arguments) routes options here, so a key means
//! the same thing, and a mistake gets the same error, wherever it is given.

use std::collections::BTreeMap;

use crate::options::{is_secret_key, suggestion};
use crate::registry::find_source;
use crate::{Error, OptionMap, Result, SinkPlugin, SourcePlugin, SourceSpec};

/// A source URL with `key=value` assignments merged into its options; the keys are checked
/// against the plugin's. Pure: nothing is built or contacted.
pub fn source_spec(url: &str, assignments: &[String]) -> Result<SourceSpec> {
    let mut spec = SourceSpec::parse(url)?;
    let plugin = find_source(&spec.scheme)?;
    let mut unused = OptionMap::new();
    route(assignments, plugin, None, &mut spec.options, &mut unused)?;
    Ok(spec)
}

/// Sends each `key=value` to the plugin that takes `key`; `source.` / `sink.` prefixes decide
/// when both do. An unknown key is a configuration error naming the closest known one.
pub fn route(
    assignments: &[String],
    source: &SourcePlugin,
    sink: Option<&SinkPlugin>,
    source_options: &mut OptionMap,
    sink_options: &mut OptionMap,
) -> Result<()> {
    let source_keys = (source.options)();
    let sink_keys = sink.map_or(&[][..], |s| (s.options)());
    for text in assignments {
        let (key, value) = OptionMap::parse_assignment(text)?;
        if let Some(k) = key.strip_prefix("source.") {
            source_options.insert(k, value);
        } else if let Some(k) = key.strip_prefix("sink.") {
            if sink.is_none() {
                return Err(Error::config(format!("`{text}`: this command has no sink")));
            }
            sink_options.insert(k, value);
        } else {
            match (
                source_keys.contains(&key.as_str()),
                sink_keys.contains(&key.as_str()),
            ) {
                (true, true) => {
                    return Err(Error::config(format!(
                        "option `{key}` is taken by both the source and the sink; write \
                         `source.{key}=…` or `sink.{key}=…`"
                    )));
                }
                (true, false) => source_options.insert(key, value),
                (false, true) => sink_options.insert(key, value),
                (false, false) => {
                    let all: Vec<&str> = source_keys.iter().chain(sink_keys).copied().collect();
                    return Err(Error::config(format!(
                        "unknown option `{key}` for {}{}; {}",
                        source.name,
                        sink.map(|s| format!(" or {}", s.name)).unwrap_or_default(),
                        suggestion(&key, &all)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// A remote sink's URL without its query, and the query's options
/// (`maxcompute://p/t?partition=pt=1`); paths and stdout pass unchanged.
pub fn split_sink_query(sink: &str) -> Result<(String, OptionMap)> {
    if !sink.contains("://") || sink.starts_with("file://") {
        return Ok((sink.to_string(), OptionMap::new()));
    }
    let mut url = url::Url::parse(sink)
        .map_err(|e| Error::config(format!("malformed sink URL `{sink}`: {e}")))?;
    let options = OptionMap::from_query(&url)?;
    url.set_query(None);
    Ok((url.to_string(), options))
}

/// Options with the secret-looking ones left out: what plan documents, journals and tickets
/// keep.
pub fn public_options(options: &OptionMap) -> BTreeMap<String, String> {
    options
        .iter()
        .filter(|(k, _)| !is_secret_key(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
