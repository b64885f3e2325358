//! The plugin registry: plugins submit a [`SourcePlugin`] or [`SinkPlugin`] with
//! [`crate::register_source!`] / [`crate::register_sink!`], and front ends look them up here.

use std::fmt;
use std::path::{Path, PathBuf};

use url::Url;

use crate::options::{OptionMap, closest};
use crate::{Error, ExportSource, Result, Sink};

/// A parsed source URL: `scheme://location?options`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SourceSpec {
    pub scheme: String,
    /// Host and path, percent-decoded, without leading or trailing slashes
    /// (`collection`, `project/table`, or empty).
    pub location: String,
    pub options: OptionMap,
}

impl SourceSpec {
    /// Parses `scheme://location?k=v&…`. The query becomes the option map. `file://path?…`
    /// and a plain path or glob without `://` (`data/`, `logs/*.ndjson`) name the `file`
    /// source with the path as written: URL parsing would drop a leading `/` and take a
    /// glob's `?` for a query.
    pub fn parse(text: &str) -> Result<Self> {
        if !text.contains("://") {
            return Ok(SourceSpec::new("file", text, OptionMap::new()));
        }
        if let Some(rest) = text.strip_prefix("file://") {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            let mut url = Url::parse("file:///").expect("a valid URL");
            url.set_query(Some(query).filter(|q| !q.is_empty()));
            let options = OptionMap::from_query(&url)?;
            return Ok(SourceSpec::new("file", percent_decode(path), options));
        }
        let url = parse_url(text)?;
        let options = OptionMap::from_query(&url)?;
        Ok(SourceSpec {
            scheme: url.scheme().to_string(),
            location: location_of(&url),
            options,
        })
    }

    pub fn new(scheme: impl Into<String>, location: impl Into<String>, options: OptionMap) -> Self {
        SourceSpec {
            scheme: scheme.into(),
            location: location.into(),
            options,
        }
    }
}

fn parse_url(text: &str) -> Result<Url> {
    Url::parse(text)
        .map_err(|e| Error::config(format!("malformed URL `{text}`: {e}")).with_source(e))
}

fn location_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    let path = url.path().trim_matches('/');
    let joined = if path.is_empty() {
        host.to_string()
    } else {
        format!("{host}/{path}")
    };
    percent_decode(joined.trim_matches('/'))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A source plugin, registered with [`crate::register_source!`].
pub struct SourcePlugin {
    /// The URL scheme, also the plugin's name (`datagen`, `vikingdb`, …).
    pub name: &'static str,
    /// One line for `arrowport list`.
    pub description: &'static str,
    /// The plugin's `docs.md`, shown by `arrowport describe`.
    pub docs: &'static str,
    /// The option names its `Config` accepts.
    pub options: fn() -> &'static [&'static str],
    /// Builds the source from a parsed URL. Pure: no network, no credential lookup.
    pub build: fn(SourceSpec) -> Result<Box<dyn ExportSource>>,
}

impl fmt::Debug for SourcePlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourcePlugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkTarget {
    /// One file.
    File(PathBuf),
    /// A directory of part files (the argument ended with `/`).
    Directory(PathBuf),
    /// Standard output (`-`).
    Stdout,
    /// A remote table addressed by URL (`maxcompute://project/table`).
    Url { scheme: String, location: String },
}

impl fmt::Display for SinkTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkTarget::File(p) => write!(f, "{}", p.display()),
            SinkTarget::Directory(p) => write!(f, "{}/", p.display()),
            SinkTarget::Stdout => f.write_str("-"),
            SinkTarget::Url { scheme, location } => write!(f, "{scheme}://{location}"),
        }
    }
}

/// Everything a sink plugin needs to build a sink.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SinkSpec {
    pub target: SinkTarget,
    pub options: OptionMap,
    /// Replace an existing output.
    pub overwrite: bool,
}

impl SinkSpec {
    pub fn new(target: SinkTarget, options: OptionMap, overwrite: bool) -> Self {
        SinkSpec {
            target,
            options,
            overwrite,
        }
    }
}

/// A sink plugin, registered with [`crate::register_sink!`].
pub struct SinkPlugin {
    /// The format or scheme name (`parquet`, `csv`, `maxcompute`, …), accepted by `--format`.
    pub name: &'static str,
    pub description: &'static str,
    pub docs: &'static str,
    /// File extensions (without dot) that select this plugin.
    pub extensions: &'static [&'static str],
    /// URL schemes that select this plugin.
    pub schemes: &'static [&'static str],
    /// Default format for stdout or a directory when no extension decides.
    pub default_for: &'static [DefaultFor],
    pub options: fn() -> &'static [&'static str],
    /// Builds the sink. Pure: it may check the local path, but writes nothing.
    pub build: fn(SinkSpec) -> Result<Box<dyn Sink>>,
}

/// The destinations for which a sink plugin is the default format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultFor {
    Stdout,
    Directory,
}

impl fmt::Debug for SinkPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkPlugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

inventory::collect!(SourcePlugin);
inventory::collect!(SinkPlugin);

/// Registers a source plugin. Call it once from the plugin's `lib.rs`.
#[macro_export]
macro_rules! register_source {
    ($plugin:expr) => {
        $crate::inventory::submit! { $plugin }
    };
}

/// Registers a sink plugin. Call it once from the plugin's `lib.rs`.
#[macro_export]
macro_rules! register_sink {
    ($plugin:expr) => {
        $crate::inventory::submit! { $plugin }
    };
}

/// Every registered source plugin, by name.
pub fn source_plugins() -> Vec<&'static SourcePlugin> {
    let mut v: Vec<_> = inventory::iter::<SourcePlugin>.into_iter().collect();
    v.sort_by_key(|p| p.name);
    v
}

/// Every registered sink plugin, by name.
pub fn sink_plugins() -> Vec<&'static SinkPlugin> {
    let mut v: Vec<_> = inventory::iter::<SinkPlugin>.into_iter().collect();
    v.sort_by_key(|p| p.name);
    v
}

/// The source plugin for `scheme`, or a configuration error listing the known ones.
pub fn find_source(scheme: &str) -> Result<&'static SourcePlugin> {
    let plugins = source_plugins();
    let names: Vec<_> = plugins.iter().map(|p| p.name).collect();
    let found = plugins.into_iter().find(|p| p.name == scheme);
    found.ok_or_else(|| unknown("source scheme", "known schemes", scheme, &names))
}

/// Builds the source a URL names.
pub fn build_source(spec: SourceSpec) -> Result<Box<dyn ExportSource>> {
    (find_source(&spec.scheme)?.build)(spec)
}

/// The sink plugin named `name` (as given to `--format`).
pub fn find_sink(name: &str) -> Result<&'static SinkPlugin> {
    let plugins = sink_plugins();
    let names: Vec<_> = plugins.iter().map(|p| p.name).collect();
    let found = plugins.into_iter().find(|p| p.name == name);
    found.ok_or_else(|| unknown("format", "known formats", name, &names))
}

/// "unknown format `x`; did you mean `y`? known formats: …"
fn unknown(what: &str, known: &str, name: &str, names: &[&str]) -> Error {
    let hint = closest(name, names.iter().copied())
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default();
    Error::config(format!(
        "unknown {what} `{name}`; {hint}{known}: {}",
        names.join(", ")
    ))
}

/// Decides the destination and the sink plugin for a sink argument: `-` is stdout, a trailing
/// `/` a directory, `scheme://…` a remote sink, anything else a file chosen by extension.
/// `format` (from `--format`) overrides the extension.
pub fn resolve_sink(text: &str, format: Option<&str>) -> Result<(&'static SinkPlugin, SinkTarget)> {
    let plugins = sink_plugins();
    let by_default = |d: DefaultFor| {
        plugins
            .iter()
            .copied()
            .find(|p| p.default_for.contains(&d))
            .ok_or_else(|| {
                Error::config(format!(
                    "no sink format is registered for {d:?}; pass --format"
                ))
            })
    };
    if text.is_empty() {
        return Err(Error::config(
            "the sink is empty: give a path, a directory ending in `/`, or `-`",
        ));
    }
    if text == "-" {
        let plugin = match format {
            Some(f) => find_sink(f)?,
            None => by_default(DefaultFor::Stdout)?,
        };
        return Ok((plugin, SinkTarget::Stdout));
    }
    if let Some((scheme, _)) = text.split_once("://") {
        if scheme == "file" {
            let path = text.trim_start_matches("file://");
            return resolve_sink(path, format);
        }
        let url = Url::parse(text)
            .map_err(|e| Error::config(format!("malformed sink URL `{text}`: {e}")))?;
        let plugin = plugins
            .iter()
            .copied()
            .find(|p| p.schemes.contains(&scheme))
            .ok_or_else(|| {
                let schemes: Vec<_> = plugins
                    .iter()
                    .flat_map(|p| p.schemes.iter().copied())
                    .collect();
                Error::config(format!(
                    "unknown sink scheme `{scheme}`; known sink schemes: {}, or a file path",
                    if schemes.is_empty() {
                        "none".to_string()
                    } else {
                        schemes.join(", ")
                    }
                ))
            })?;
        if url.query().is_some() {
            return Err(Error::config(format!(
                "sink URL `{text}` has a query; pass sink options with -o key=value"
            )));
        }
        return Ok((
            plugin,
            SinkTarget::Url {
                scheme: scheme.to_string(),
                location: location_of(&url),
            },
        ));
    }
    let is_dir = text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR);
    let path = PathBuf::from(text.trim_end_matches(['/', std::path::MAIN_SEPARATOR]));
    let by_extension = |p: &Path| -> Option<&'static SinkPlugin> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        plugins
            .iter()
            .copied()
            .find(|pl| pl.extensions.contains(&ext.as_str()))
    };
    let plugin = match format {
        Some(f) => find_sink(f)?,
        None if is_dir => match by_extension(&path) {
            Some(p) => p,
            None => by_default(DefaultFor::Directory)?,
        },
        None => by_extension(&path).ok_or_else(|| {
            let exts: Vec<_> = plugins
                .iter()
                .flat_map(|p| p.extensions.iter().map(|e| format!(".{e}")))
                .collect();
            Error::config(format!(
                "cannot tell the format of `{text}` from its extension; use one of {} or pass --format",
                exts.join(", ")
            ))
        })?,
    };
    if plugin.extensions.is_empty() {
        return Err(Error::config(format!(
            "format `{}` writes to a remote table, not to `{text}`",
            plugin.name
        )));
    }
    let target = if is_dir {
        SinkTarget::Directory(path)
    } else {
        SinkTarget::File(path)
    };
    Ok((plugin, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_source_urls() {
        let s = SourceSpec::parse("vikingdb://my_coll?file_type=json&filter=%7B%7D").unwrap();
        assert_eq!(s.scheme, "vikingdb");
        assert_eq!(s.location, "my_coll");
        assert_eq!(s.options.get("filter"), Some("{}"));
        let s = SourceSpec::parse("maxcompute://proj/tbl").unwrap();
        assert_eq!(s.location, "proj/tbl");
        let s = SourceSpec::parse("datagen://?rows=3").unwrap();
        assert_eq!(s.location, "");
        assert_eq!(s.options.get("rows"), Some("3"));
        let s = SourceSpec::parse("logs/*.ndjson").unwrap();
        assert_eq!(
            (s.scheme.as_str(), s.location.as_str()),
            ("file", "logs/*.ndjson")
        );
        let s = SourceSpec::parse("file:///data/a%20b.parquet?format=parquet").unwrap();
        assert_eq!(
            (s.scheme.as_str(), s.location.as_str()),
            ("file", "/data/a b.parquet")
        );
        assert_eq!(s.options.get("format"), Some("parquet"));
        assert_eq!(
            SourceSpec::parse("file://rel/dir").unwrap().location,
            "rel/dir"
        );
        let e = SourceSpec::parse("vikingdb://a b").unwrap_err();
        assert!(e.message().contains("malformed URL"), "{e}");
    }
}

/// Property tests: source URLs and sink arguments of arbitrary text resolve or fail with a
/// configuration error. `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;
    use crate::ErrorKind;
    use crate::options::fuzz::config;

    fn no_sink(_: SinkSpec) -> Result<Box<dyn Sink>> {
        Err(Error::config("not built in these tests"))
    }

    crate::register_sink!(SinkPlugin {
        name: "fuzzfile",
        description: "a file format for the property tests",
        docs: "",
        extensions: &["fz", "fzz"],
        schemes: &[],
        default_for: &[DefaultFor::Stdout, DefaultFor::Directory],
        options: || &[],
        build: no_sink,
    });

    crate::register_sink!(SinkPlugin {
        name: "fuzzdb",
        description: "a remote table for the property tests",
        docs: "",
        extensions: &[],
        schemes: &["fuzzdb"],
        default_for: &[],
        options: || &[],
        build: no_sink,
    });

    /// Text made mostly of what URLs and paths give a meaning to.
    const TEXT: &str = "((file|fuzzdb|datagen|x)://)?[a-z0-9./:?&=%#@ \\\\-]{0,30}";

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn source_urls_parse_or_fail_cleanly(text in prop_oneof![TEXT, any::<String>()]) {
            match SourceSpec::parse(&text) {
                // A path names the file source; schemes parse to lowercase, after leading
                // controls and spaces.
                Ok(spec) if spec.scheme == "file" => {}
                Ok(spec) => {
                    let scheme = format!("{}:", spec.scheme);
                    let text = text.trim_start_matches(|c: char| c <= ' ');
                    prop_assert!(text.to_ascii_lowercase().starts_with(&scheme), "{:?}", text);
                }
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Config),
            }
        }

        #[test]
        fn sinks_resolve_or_fail_cleanly(
            text in prop_oneof![TEXT, any::<String>()],
            format in proptest::option::of(prop_oneof![Just("fuzzfile"), Just("fuzzdb"), Just("csv")]),
        ) {
            match resolve_sink(&text, format) {
                Ok((plugin, SinkTarget::Url { scheme, .. })) => {
                    prop_assert!(plugin.schemes.contains(&scheme.as_str()));
                }
                Ok((plugin, _)) => prop_assert!(!plugin.extensions.is_empty()),
                Err(e) => prop_assert_eq!(e.kind(), ErrorKind::Config),
            }
        }
    }

    #[test]
    fn file_urls_resolve_once() {
        let (plugin, target) = resolve_sink("file://file://out.fz", None).unwrap();
        assert_eq!(plugin.name, "fuzzfile");
        assert_eq!(target, SinkTarget::File("out.fz".into()));
        assert_eq!(
            resolve_sink("file://", None).unwrap_err().kind(),
            ErrorKind::Config
        );
    }
}
