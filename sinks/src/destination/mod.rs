//! Where encoded bytes go: one file, a directory of part files, or standard output; and the
//! path checks they share (run at build time, and again just before the final rename).

use std::ffi::OsString;
use std::fs;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};

use arrowport_core::{Error, Result};

#[cfg(target_os = "linux")]
mod direct;
pub(crate) mod directory;
pub(crate) mod file;
pub(crate) mod partition;
pub(crate) mod stdout;
mod writeback;

/// `<path>.partial`: the sibling under which `path` is built.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Fails unless `target` may be created: it is absent, or `overwrite` is set and it is of the
/// same kind (a file is never silently replaced by a directory or the other way round).
pub(crate) fn ensure_replaceable(target: &Path, overwrite: bool, want_dir: bool) -> Result<()> {
    match fs::symlink_metadata(target) {
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(
            format!("cannot inspect `{}`", target.display()),
            e,
        )),
        Ok(_) if !overwrite => Err(Error::config(format!(
            "`{}` already exists; pass --overwrite to replace it",
            target.display()
        ))),
        Ok(_) => {
            let is_dir = fs::metadata(target).is_ok_and(|m| m.is_dir());
            match (is_dir, want_dir) {
                (true, false) => Err(Error::config(format!(
                    "`{}` is a directory; name a file, or end the path with / to write a \
                     directory of part files",
                    target.display()
                ))),
                (false, true) => Err(Error::config(format!(
                    "`{}` exists and is not a directory; remove it or choose another path",
                    target.display()
                ))),
                _ => Ok(()),
            }
        }
    }
}

/// The build-time checks of a file or directory output: a usable name, an existing writable
/// parent directory, and no existing output unless `overwrite`. Nothing is written.
pub(crate) fn check_target(target: &Path, overwrite: bool, want_dir: bool) -> Result<()> {
    if target.file_name().is_none() {
        return Err(Error::config(format!(
            "`{}` does not name a {} arrowport can create",
            target.display(),
            if want_dir { "directory" } else { "file" }
        )));
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match fs::metadata(parent) {
        Err(e) if e.kind() == IoKind::NotFound => {
            return Err(Error::config(format!(
                "the directory `{}` does not exist; create it first",
                parent.display()
            )));
        }
        Err(e) => {
            return Err(Error::io(
                format!("cannot inspect `{}`", parent.display()),
                e,
            ));
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::config(format!(
                "`{}` is not a directory",
                parent.display()
            )));
        }
        Ok(m) if m.permissions().readonly() => {
            return Err(Error::config(format!(
                "the directory `{}` is read-only",
                parent.display()
            )));
        }
        Ok(_) => {}
    }
    ensure_replaceable(target, overwrite, want_dir)
}

/// The error for a resume journal that records `target` as complete when neither it nor its
/// partial output exists: someone removed the output; only a fresh export can bring it back.
pub(crate) fn complete_but_gone(target: &Path) -> Error {
    Error::new(
        arrowport_core::ErrorKind::DataIntegrity,
        format!(
            "the resume journal records `{}` as complete, but neither it nor its partial output \
             exists; pass --restart to export again",
            target.display()
        ),
    )
}

/// Makes a rename or a new entry in `path`'s parent durable. Best effort: not every platform
/// can open a directory, and the data itself was already synced.
pub(crate) fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    sync_dir(parent);
}

/// Flushes a directory's entries to disk, best effort (see [`sync_parent`]).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_is_a_sibling() {
        assert_eq!(
            partial_path(Path::new("a/b.parquet")),
            PathBuf::from("a/b.parquet.partial")
        );
        assert_eq!(partial_path(Path::new("out")), PathBuf::from("out.partial"));
    }

    #[test]
    fn checks_targets() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.csv");
        check_target(&file, false, false).unwrap();
        fs::write(&file, b"x").unwrap();
        let e = check_target(&file, false, false).unwrap_err();
        assert!(e.message().contains("--overwrite"), "{e}");
        check_target(&file, true, false).unwrap();
        assert!(
            check_target(&file, true, true)
                .unwrap_err()
                .message()
                .contains("not a directory")
        );
        assert!(
            check_target(dir.path(), true, false)
                .unwrap_err()
                .message()
                .contains("is a directory")
        );
        let missing = dir.path().join("nope/x.csv");
        assert!(
            check_target(&missing, false, false)
                .unwrap_err()
                .message()
                .contains("does not exist")
        );
        assert!(check_target(Path::new(".."), true, true).is_err());
    }
}
