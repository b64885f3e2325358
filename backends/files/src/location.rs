//! Where the files are: one file, a directory (walked recursively) or a glob (`*`, `?`,
//! `**`), and which files of it a table reads, sorted by path so that every listing of the
//! same tree gives the same order.
//!
//! Names starting with `.` or `_` (hidden files, `_SUCCESS`, `_manifest.json`, editors' and
//! other tools' droppings) are skipped by directory walks and by wildcards, as a shell skips
//! dotfiles; a pattern component that itself starts with `.` or `_` matches them. Symbolic
//! links to files are followed, links to directories are not (a link loop cannot hang a walk).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use arrowport_core::{Error, Result};

use crate::NAME;
use crate::error::io;

/// A location as the user wrote it, before looking at the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A file or a directory.
    Path(PathBuf),
    /// A pattern: the literal directory it starts in and its components below it.
    Glob { base: PathBuf, pattern: Vec<String> },
}

/// What a location turned out to be on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Root {
    /// One file, named relative to its directory.
    File(String),
    Directory,
    Glob(Vec<String>),
}

/// One file found under a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Relative to the location's base directory, `/`-separated: what tokens and messages use.
    pub rel: String,
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

impl Location {
    /// Parses a location; pure. `?` and `*` make it a glob.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::config(format!(
                "{NAME}: the location is empty; give a file, a directory or a glob such as \
                 `logs/*.ndjson`"
            )));
        }
        if !text.contains(['*', '?']) {
            return Ok(Location::Path(PathBuf::from(text)));
        }
        let absolute = text.starts_with('/');
        let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
        let literal = parts.iter().take_while(|p| !p.contains(['*', '?'])).count();
        let mut base: PathBuf = parts[..literal].iter().collect();
        if absolute {
            base = Path::new("/").join(base);
        } else if base.as_os_str().is_empty() {
            base = PathBuf::from(".");
        }
        let pattern: Vec<String> = parts[literal..].iter().map(|p| p.to_string()).collect();
        if pattern.iter().any(|p| p.contains("**") && p != "**") {
            return Err(Error::config(format!(
                "{NAME}: in `{text}`, `**` must be a whole path component, as in `logs/**/*.ndjson`"
            )));
        }
        if pattern.last().is_some_and(|p| p == "**") {
            return Err(Error::config(format!(
                "{NAME}: `{text}` ends in `**`; name the files too, as in `{text}/*.parquet`"
            )));
        }
        Ok(Location::Glob { base, pattern })
    }

    /// The directory that relative file names start from.
    pub(crate) fn base(&self, root: &Root) -> PathBuf {
        match (self, root) {
            (Location::Path(p), Root::File(_)) => match p.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            },
            (Location::Path(p), _) => p.clone(),
            (Location::Glob { base, .. }, _) => base.clone(),
        }
    }

    /// Looks at the disk: a missing path is a configuration error (the argument may well
    /// have been meant as a URL).
    pub(crate) fn root(&self) -> Result<Root> {
        match self {
            Location::Glob { base, pattern } => {
                let meta = fs::metadata(base).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => Error::config(format!(
                        "{NAME}: `{}` matches no file: directory `{}` does not exist",
                        self,
                        base.display()
                    )),
                    _ => io("read directory", &base.display().to_string(), e),
                })?;
                if !meta.is_dir() {
                    return Err(Error::config(format!(
                        "{NAME}: `{self}` matches no file: `{}` is not a directory",
                        base.display()
                    )));
                }
                Ok(Root::Glob(pattern.clone()))
            }
            Location::Path(path) => {
                let shown = path.display().to_string();
                let meta = fs::metadata(path).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => not_found(&shown),
                    _ => io("open", &shown, e),
                })?;
                if meta.is_dir() {
                    return Ok(Root::Directory);
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| Error::config(format!("{NAME}: `{shown}` names no file")))?;
                Ok(Root::File(name))
            }
        }
    }

    /// Every data file of the location, sorted by relative path. Matching nothing is a
    /// configuration error.
    pub(crate) fn list(&self, root: &Root) -> Result<Vec<Found>> {
        let base = self.base(root);
        let mut found = Vec::new();
        match root {
            Root::File(name) => found.push(stat(&base, name)?),
            Root::Directory => walk(&base, &mut Vec::new(), Walk::All, &mut found)?,
            Root::Glob(pattern) => {
                walk(&base, &mut Vec::new(), Walk::Pattern(pattern), &mut found)?
            }
        }
        if let Root::Glob(pattern) = root {
            found.retain(|f| matches(pattern, &f.rel.split('/').collect::<Vec<_>>()));
        }
        found.sort_by(|a, b| a.rel.cmp(&b.rel));
        if found.is_empty() {
            return Err(Error::config(match root {
                Root::Glob(_) => format!("{NAME}: `{self}` matches no file"),
                _ => format!(
                    "{NAME}: directory `{}` holds no data files (names starting with `.` or \
                     `_` are skipped)",
                    base.display()
                ),
            }));
        }
        Ok(found)
    }

    /// Whether a file named by a split token belongs to this location: a token cannot make
    /// the source read outside it (Flight tickets come from clients).
    pub(crate) fn admits(&self, root: &Root, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\\'))
        {
            return false;
        }
        match root {
            Root::File(name) => rel == name,
            Root::Directory => !parts.iter().any(|p| skipped(p)),
            Root::Glob(pattern) => matches(pattern, &parts),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Glob { base, pattern } => {
                write!(f, "{}/{}", base.display(), pattern.join("/"))
            }
        }
    }
}

/// The error for a path that does not exist. A source argument without `scheme://` is read as
/// a path, so the message also says what a URL would look like.
fn not_found(shown: &str) -> Error {
    let schemes: Vec<&str> = arrowport_core::registry::source_plugins()
        .iter()
        .map(|p| p.name)
        .collect();
    Error::config(format!(
        "`{shown}` is not a source URL (scheme://location?options; known schemes: {}), and no \
         file or directory has that path",
        schemes.join(", ")
    ))
    .with_context("plugin", NAME)
}

/// Names that walks and wildcards skip.
pub(crate) fn skipped(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn stat(base: &Path, rel: &str) -> Result<Found> {
    let path = base.join(rel);
    let meta = fs::metadata(&path).map_err(|e| io("open", &path.display().to_string(), e))?;
    if !meta.is_file() {
        return Err(Error::config(format!(
            "{NAME}: `{}` is not a regular file",
            path.display()
        )));
    }
    Ok(Found {
        rel: rel.to_string(),
        size: meta.len(),
        mtime_ns: mtime_ns(&meta),
    })
}

/// A file's modification time in nanoseconds since the epoch (negative before it).
pub(crate) fn mtime_ns(meta: &fs::Metadata) -> i64 {
    let Ok(t) = meta.modified() else { return 0 };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// How a walk picks what to visit: everything not skipped, or what a pattern may match.
#[derive(Clone, Copy)]
enum Walk<'a> {
    All,
    Pattern(&'a [String]),
}

impl Walk<'_> {
    /// Whether to visit the entry `name` of directory `dir` (files of a pattern walk are
    /// matched afterwards, on their whole path).
    fn visits(self, dir: &[String], name: &str, is_dir: bool) -> bool {
        match self {
            Walk::All => !skipped(name),
            Walk::Pattern(pattern) if is_dir => {
                let mut child = dir.to_vec();
                child.push(name.to_string());
                may_contain(pattern, &child)
            }
            Walk::Pattern(_) => true,
        }
    }
}

/// Collects the files below `base/dir` that the walk visits.
fn walk(base: &Path, dir: &mut Vec<String>, how: Walk<'_>, out: &mut Vec<Found>) -> Result<()> {
    let path: PathBuf = dir.iter().fold(base.to_path_buf(), |p, c| p.join(c));
    let shown = path.display().to_string();
    let entries = fs::read_dir(&path).map_err(|e| io("list", &shown, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("list", &shown, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            return Err(Error::config(format!(
                "{NAME}: `{shown}` holds a name that is not UTF-8: {:?}",
                entry.file_name()
            )));
        };
        let kind = entry.file_type().map_err(|e| io("list", &shown, e))?;
        if !how.visits(dir, &name, kind.is_dir()) {
            continue;
        }
        dir.push(name);
        let rel = dir.join("/");
        if kind.is_dir() {
            walk(base, dir, how, out)?;
        } else if kind.is_file() || kind.is_symlink() {
            let full = base.join(&rel);
            match fs::metadata(&full) {
                Ok(meta) if meta.is_file() => out.push(Found {
                    rel,
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                }),
                // A link to a directory (not followed), or a dangling link.
                _ if kind.is_symlink() => {}
                Ok(_) => {}
                Err(e) => return Err(io("open", &full.display().to_string(), e)),
            }
        }
        dir.pop();
    }
    Ok(())
}

/// Whether a path of components matches a pattern of components.
pub(crate) fn matches(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => (0..=path.len())
            .take_while(|&i| i == 0 || !skipped(path[i - 1]))
            .any(|i| matches(rest, &path[i..])),
        Some((p, rest)) => match path.split_first() {
            Some((c, tail)) => name_matches(p, c) && matches(rest, tail),
            None => false,
        },
    }
}

/// Whether some path below directory `dir` could match the pattern.
fn may_contain(pattern: &[String], dir: &[String]) -> bool {
    match (pattern.split_first(), dir.split_first()) {
        (None, _) => false,
        (Some((p, _)), _) if p == "**" => dir.iter().all(|c| !skipped(c)),
        (Some(_), None) => true,
        (Some((p, rest)), Some((c, tail))) => name_matches(p, c) && may_contain(rest, tail),
    }
}

/// One component against a pattern of `*` (any run of characters) and `?` (one character).
/// Names starting with `.` or `_` match only a pattern that starts with the same character.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    if skipped(name) && !pattern.starts_with(&name[..1]) {
        return false;
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard matching: remember the last `*` and retry from one further on.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// Hive partition values of a file: every `key=value` directory on its relative path, in
/// order, percent-decoded (`__HIVE_DEFAULT_PARTITION__` stays as is; the caller makes it null).
pub(crate) fn partition_of(rel: &str) -> Vec<(String, String)> {
    let mut parts: Vec<&str> = rel.split('/').collect();
    parts.pop();
    parts
        .into_iter()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

/// Decodes `%XX` escapes; text that does not decode to UTF-8 is kept as written.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(text: &str) -> Vec<String> {
        text.split('/').map(String::from).collect()
    }

    #[test]
    fn wildcards_match_names() {
        assert!(name_matches("*.ndjson", "a.ndjson"));
        assert!(name_matches("part-?.csv", "part-1.csv"));
        assert!(!name_matches("part-?.csv", "part-10.csv"));
        assert!(name_matches("*a*b*", "xxaxxbxx"));
        assert!(!name_matches("*.csv", "a.csv.gz"));
        assert!(name_matches("*", "日本"));
        assert!(!name_matches("*", ".hidden"));
        assert!(!name_matches("*.csv", "_tmp.csv"));
        assert!(name_matches(".*", ".hidden"));
        assert!(name_matches("_x.csv", "_x.csv"));
    }

    #[test]
    fn double_star_spans_directories() {
        let p = pat("**/*.parquet");
        assert!(matches(&p, &["a.parquet"]));
        assert!(matches(&p, &["x", "y", "a.parquet"]));
        assert!(!matches(&p, &[".git", "a.parquet"]));
        assert!(!matches(&p, &["x", "a.csv"]));
        let p = pat("dt=*/*.csv");
        assert!(matches(&p, &["dt=1", "a.csv"]));
        assert!(!matches(&p, &["a.csv"]));
        assert!(may_contain(&p, &["dt=1".into()]));
        assert!(!may_contain(&p, &["other".into()]));
        assert!(!may_contain(&p, &["dt=1".into(), "deeper".into()]));
    }

    #[test]
    fn globs_split_into_base_and_pattern() {
        assert_eq!(
            Location::parse("logs/2024/*.ndjson").unwrap(),
            Location::Glob {
                base: "logs/2024".into(),
                pattern: pat("*.ndjson")
            }
        );
        assert_eq!(
            Location::parse("/data/**/x?.csv").unwrap(),
            Location::Glob {
                base: "/data".into(),
                pattern: pat("**/x?.csv")
            }
        );
        assert_eq!(
            Location::parse("*.csv").unwrap(),
            Location::Glob {
                base: ".".into(),
                pattern: pat("*.csv")
            }
        );
        assert_eq!(
            Location::parse("data/").unwrap(),
            Location::Path("data/".into())
        );
        assert!(Location::parse("a/**x/b").is_err());
        assert!(Location::parse("a/**").is_err());
        assert!(Location::parse("").is_err());
    }

    #[test]
    fn tokens_cannot_escape_the_location() {
        let dir = Location::Path("data".into());
        assert!(dir.admits(&Root::Directory, "dt=1/a.parquet"));
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "a//b",
            "./a",
            ".git/x",
            "_tmp/a",
            "",
        ] {
            assert!(!dir.admits(&Root::Directory, bad), "{bad}");
        }
        let glob = Location::parse("logs/*.ndjson").unwrap();
        let Location::Glob { pattern, .. } = &glob else {
            unreachable!()
        };
        let root = Root::Glob(pattern.clone());
        assert!(glob.admits(&root, "a.ndjson"));
        assert!(!glob.admits(&root, "a.csv"));
        assert!(!glob.admits(&root, "x/a.ndjson"));
        let file = Location::Path("d/big.parquet".into());
        assert!(file.admits(&Root::File("big.parquet".into()), "big.parquet"));
        assert!(!file.admits(&Root::File("big.parquet".into()), "other.parquet"));
    }

    #[test]
    fn partitions_come_from_directories() {
        assert_eq!(
            partition_of("dt=20240101/city=S%C3%A3o%20Paulo/part-0.parquet"),
            [
                ("dt".to_string(), "20240101".to_string()),
                ("city".to_string(), "São Paulo".to_string())
            ]
        );
        assert!(partition_of("a=b.parquet").is_empty());
        assert_eq!(percent_decode("100%25%3D"), "100%=");
        assert_eq!(percent_decode("50%"), "50%");
        assert_eq!(percent_decode("%zz%2"), "%zz%2");
        assert_eq!(percent_decode("%FF"), "%FF");
    }

    #[test]
    fn listing_walks_sorted_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "b/2.csv",
            "a.csv",
            "b/1.csv",
            ".hidden.csv",
            "_SUCCESS",
            "_tmp/x.csv",
            "b/.x/y.csv",
        ] {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "x\n").unwrap();
        }
        let loc = Location::Path(root.to_path_buf());
        let r = loc.root().unwrap();
        assert_eq!(r, Root::Directory);
        let rels: Vec<_> = loc.list(&r).unwrap().into_iter().map(|f| f.rel).collect();
        assert_eq!(rels, ["a.csv", "b/1.csv", "b/2.csv"]);

        let glob = Location::parse(&format!("{}/**/*.csv", root.display())).unwrap();
        let r = glob.root().unwrap();
        let rels: Vec<_> = glob.list(&r).unwrap().into_iter().map(|f| f.rel).collect();
        assert_eq!(rels, ["a.csv", "b/1.csv", "b/2.csv"]);

        let hidden = Location::parse(&format!("{}/_*/*.csv", root.display())).unwrap();
        let r = hidden.root().unwrap();
        let rels: Vec<_> = hidden
            .list(&r)
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
        assert_eq!(rels, ["_tmp/x.csv"]);

        let none = Location::parse(&format!("{}/*.parquet", root.display())).unwrap();
        let r = none.root().unwrap();
        let e = none.list(&r).unwrap_err();
        assert_eq!(e.kind(), arrowport_core::ErrorKind::Config);
        assert!(e.message().contains("matches no file"), "{e}");

        let missing = Location::Path(root.join("nope.parquet"));
        let e = missing.root().unwrap_err();
        assert!(e.message().contains("not a source URL"), "{e}");
    }
}
