//! What the server serves: the sources of its configuration file, by name, and (when it
//! allows them) source URLs that clients give. Resolving a request here is where a client
//! is kept inside what the operator opened: configured options stay, only the options the
//! operator lists may be set by clients, credentials never come from clients, and local
//! files are read only below the configured file root.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use arrowport_core::options::{closest, is_secret_key};
use arrowport_core::registry::find_source;
use arrowport_core::routing;
use arrowport_core::{Error, ErrorKind, Result, SourceSpec};
use serde::Deserialize;

use crate::ticket::SourceRef;
use crate::writes::{SinkEntry, Writes};

/// A configuration file: `serve --config sources.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    sources: BTreeMap<String, SourceEntry>,
    #[serde(default)]
    sinks: BTreeMap<String, SinkEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    /// Clients may also name source URLs, not only configured sources.
    #[serde(default)]
    allow_urls: bool,
    /// The directory below which `file` URLs may read (relative paths start there).
    file_root: Option<PathBuf>,
}

/// One configured source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    pub url: String,
    /// The source's options (credentials may be here: they stay on the server).
    #[serde(default)]
    options: BTreeMap<String, toml::Value>,
    /// The option names clients may set on this source (`partition`, `filter`, …).
    #[serde(default)]
    client_options: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The sources a server serves.
#[derive(Debug, Clone)]
pub struct Catalog {
    sources: BTreeMap<String, (SourceEntry, Vec<String>)>,
    writes: Writes,
    allow_urls: bool,
    file_root: Option<PathBuf>,
}

impl Catalog {
    /// A server without a configuration file: any URL of any registered source, except
    /// local files unless `file_root` is given.
    pub fn open(file_root: Option<PathBuf>) -> Result<Self> {
        Ok(Catalog {
            sources: BTreeMap::new(),
            writes: Writes::default(),
            allow_urls: true,
            file_root: file_root.map(|r| canonical_root(&r)).transpose()?,
        })
    }

    /// The configuration in `path`. Every source is checked here (its scheme, its option
    /// names), so a typo stops the server at start and not a client later.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(format!(
                "cannot read the server config `{}`: {e}",
                path.display()
            ))
        })?;
        let file: ConfigFile = toml::from_str(&text)
            .map_err(|e| Error::config(format!("server config `{}`: {e}", path.display())))?;
        let mut sources = BTreeMap::new();
        for (name, entry) in file.sources {
            let assignments = entry_options(&name, &entry)?;
            let spec = routing::source_spec(&entry.url, &assignments)
                .map_err(|e| Error::config(format!("source `{name}`: {}", e.message())))?;
            let keys = (find_source(&spec.scheme)?.options)();
            for key in &entry.client_options {
                if !keys.contains(&key.as_str()) {
                    return Err(Error::config(format!(
                        "source `{name}`: client option `{key}` is not an option of {}",
                        spec.scheme
                    )));
                }
            }
            sources.insert(name, (entry, assignments));
        }
        Ok(Catalog {
            sources,
            writes: Writes::load(file.sinks)?,
            allow_urls: file.server.allow_urls,
            file_root: file
                .server
                .file_root
                .map(|r| canonical_root(&r))
                .transpose()?,
        })
    }

    /// The sinks `DoPut` writes into.
    pub fn writes(&self) -> &Writes {
        &self.writes
    }

    /// The configured sources' names and entries, by name.
    pub fn sources(&self) -> impl Iterator<Item = (&str, &SourceEntry)> {
        self.sources.iter().map(|(n, (e, _))| (n.as_str(), e))
    }

    /// The source a request names, with the client's options merged in, checked.
    pub fn spec(
        &self,
        source: &SourceRef,
        client: &BTreeMap<String, String>,
    ) -> Result<SourceSpec> {
        let assignments: Vec<String> = client.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for key in client.keys() {
            if is_secret_key(key) {
                return Err(credentials_stay(key));
            }
        }
        let spec = match source {
            SourceRef::Named(name) => {
                let (entry, configured) = self.sources.get(name).ok_or_else(|| {
                    let names: Vec<&str> = self.sources.keys().map(String::as_str).collect();
                    let hint = closest(name, names.iter().copied())
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default();
                    Error::new(
                        ErrorKind::NotFound,
                        format!(
                            "no source `{name}` is configured on this server; {hint}configured: {}",
                            if names.is_empty() {
                                "none".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    )
                })?;
                for key in client.keys() {
                    let bare = key.strip_prefix("source.").unwrap_or(key);
                    if !entry.client_options.iter().any(|k| k == bare) {
                        return Err(Error::new(
                            ErrorKind::PermissionDenied,
                            format!(
                                "option `{key}` of source `{name}` is not open to clients; the \
                                 server's configuration opens: {}",
                                if entry.client_options.is_empty() {
                                    "none".to_string()
                                } else {
                                    entry.client_options.join(", ")
                                }
                            ),
                        ));
                    }
                }
                let all: Vec<String> = configured.iter().chain(&assignments).cloned().collect();
                routing::source_spec(&entry.url, &all)?
            }
            SourceRef::Url(url) => {
                if !self.allow_urls {
                    return Err(Error::new(
                        ErrorKind::PermissionDenied,
                        format!(
                            "this server serves only its configured sources ({}); ask for one by \
                             name, or set `allow_urls = true` in its [server] section",
                            self.sources.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                let spec = routing::source_spec(url, &assignments)?;
                if let Some((key, _)) = spec.options.iter().find(|(k, _)| is_secret_key(k)) {
                    return Err(credentials_stay(key));
                }
                spec
            }
        };
        self.confine(spec)
    }

    /// A `file` source's path, made absolute below the file root; refused without one.
    fn confine(&self, mut spec: SourceSpec) -> Result<SourceSpec> {
        if spec.scheme != "file" {
            return Ok(spec);
        }
        let Some(root) = &self.file_root else {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "`{}`: this server reads no local files; its operator can allow them below \
                     a directory with --file-root (or `file_root` in the config's [server] \
                     section)",
                    spec.location
                ),
            ));
        };
        let given = spec.location.clone();
        let path = Path::new(&given);
        let outside = path.components().any(|c| matches!(c, Component::ParentDir))
            || (path.is_absolute() && !path.starts_with(root));
        if outside {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "`{}` is outside the directory this server reads files from ({})",
                    spec.location,
                    root.display()
                ),
            ));
        }
        spec.location = root.join(path).to_string_lossy().into_owned();
        // Symbolic links must not lead out either: the longest existing prefix decides.
        if let Some(real) = existing_prefix(Path::new(&spec.location))
            && !real.starts_with(root)
        {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "`{}` leads outside the directory this server reads files from ({})",
                    path.display(),
                    root.display()
                ),
            ));
        }
        Ok(spec)
    }
}

fn credentials_stay(key: &str) -> Error {
    Error::config(format!(
        "option `{key}` is a credential, and credentials stay on the server: its operator sets \
         them in its environment or configuration"
    ))
}

fn canonical_root(root: &Path) -> Result<PathBuf> {
    root.canonicalize().map_err(|e| {
        Error::config(format!(
            "the file root `{}` is not a directory: {e}",
            root.display()
        ))
    })
}

/// The canonical form of the longest prefix of `path` that exists (globs and files yet to
/// be matched end before their first missing component).
fn existing_prefix(path: &Path) -> Option<PathBuf> {
    path.ancestors().find_map(|p| p.canonicalize().ok())
}

/// A configured source's options as `key=value` assignments.
fn entry_options(name: &str, entry: &SourceEntry) -> Result<Vec<String>> {
    toml_assignments(&format!("source `{name}`"), &entry.options)
}

/// Configured options (strings, numbers or booleans) as `key=value` assignments.
pub(crate) fn toml_assignments(
    what: &str,
    options: &BTreeMap<String, toml::Value>,
) -> Result<Vec<String>> {
    options
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(Error::config(format!(
                        "{what}: option `{k}` must be a string, number or boolean, not {}",
                        other.type_str()
                    )));
                }
            };
            Ok(format!("{k}={text}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(text: &str) -> Result<Catalog> {
        arrowport_plugins::link();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sources.toml");
        std::fs::write(&path, text).unwrap();
        Catalog::load(&path)
    }

    fn named(name: &str) -> SourceRef {
        SourceRef::Named(name.into())
    }

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const CONFIG: &str = r#"
        [sources.demo]
        url = "datagen://?rows=100"
        options = { seed = 7, batch_size = 10 }
        client_options = ["profile"]
    "#;

    #[test]
    fn named_sources_merge_configured_and_opened_options() {
        let c = catalog(CONFIG).unwrap();
        let spec = c
            .spec(&named("demo"), &opts(&[("profile", "narrow")]))
            .unwrap();
        assert_eq!(spec.options.get("seed"), Some("7"));
        assert_eq!(spec.options.get("profile"), Some("narrow"));

        let e = c.spec(&named("demo"), &opts(&[("seed", "8")])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.message().contains("opens: profile"), "{e}");

        let e = c.spec(&named("dmeo"), &BTreeMap::new()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("did you mean `demo`"), "{e}");
    }

    #[test]
    fn configured_servers_refuse_urls_and_credentials_never_come_from_clients() {
        let c = catalog(CONFIG).unwrap();
        let e = c
            .spec(
                &SourceRef::Url("datagen://?rows=1".into()),
                &BTreeMap::new(),
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(
            e.message().contains("only its configured sources (demo)"),
            "{e}"
        );

        let open = Catalog::open(None).unwrap();
        let url = SourceRef::Url("maxcompute://p/t".into());
        let e = open
            .spec(&url, &opts(&[("access_key_secret", "x")]))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(
            e.message().contains("credentials stay on the server"),
            "{e}"
        );
        let e = open
            .spec(
                &SourceRef::Url("maxcompute://p/t?access_key_secret=x".into()),
                &BTreeMap::new(),
            )
            .unwrap_err();
        assert!(
            e.message().contains("credentials stay on the server"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_in_the_config_stop_the_server_at_start() {
        let e = catalog("[sources.a]\nurl = \"nosuch://x\"\n").unwrap_err();
        assert!(e.message().contains("unknown source scheme"), "{e}");
        let e = catalog("[sources.a]\nurl = \"datagen://\"\noptions = { rwos = 1 }\n").unwrap_err();
        assert!(
            e.message().contains("source `a`") && e.message().contains("`rows`"),
            "{e}"
        );
        let e = catalog("[sources.a]\nurl = \"datagen://\"\nclient_options = [\"nope\"]\n")
            .unwrap_err();
        assert!(e.message().contains("client option `nope`"), "{e}");
        let e = catalog("[source.a]\nurl = \"datagen://\"\n").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
    }

    #[test]
    fn files_are_read_only_below_the_file_root() {
        arrowport_plugins::link();
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("data")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("data/escape")).unwrap();

        let none = Catalog::open(None).unwrap();
        let e = none
            .spec(&SourceRef::Url("data/x.parquet".into()), &BTreeMap::new())
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert!(e.message().contains("--file-root"), "{e}");

        let c = Catalog::open(Some(root.path().to_path_buf())).unwrap();
        let real = root.path().canonicalize().unwrap();
        let spec = c
            .spec(&SourceRef::Url("data/*.parquet".into()), &BTreeMap::new())
            .unwrap();
        assert_eq!(spec.location, real.join("data/*.parquet").to_string_lossy());
        for bad in [
            "../x.parquet",
            "data/../../x",
            "/etc/passwd",
            "data/escape/x.parquet",
        ] {
            let e = c
                .spec(&SourceRef::Url(bad.into()), &BTreeMap::new())
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{bad}: {e}");
        }
        let inside = real.join("data/a.parquet");
        c.spec(
            &SourceRef::Url(inside.to_string_lossy().into_owned()),
            &BTreeMap::new(),
        )
        .unwrap();
    }
}
