//! The one mapping from file-system, Parquet and Arrow failures to error kinds. Every error
//! names the file it is about (`path` in the context), so that a failure among thousands of
//! files points at one.

use arrowport_core::arrow::error::ArrowError;
use arrowport_core::{Error, ErrorKind};

use crate::NAME;

/// A failed file-system call on `path` while `doing` something (`open`, `read`, `list`).
/// Files that vanish or cannot be read are I/O errors: the invocation was fine, the disk was
/// not. (Locations that match nothing at all are configuration errors, raised by the lister.)
pub(crate) fn io(doing: &str, path: &str, err: std::io::Error) -> Error {
    let why = match err.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        _ => err.to_string(),
    };
    Error::io(format!("{NAME}: cannot {doing} `{path}`: {why}"), err)
        .with_context("plugin", NAME)
        .with_context("path", path)
}

/// A file whose bytes are not what its format (or its manifest) says: truncated, corrupt,
/// changed since planning, or not of that format at all.
pub(crate) fn integrity(path: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::DataIntegrity, format!("{NAME}: `{path}`: {why}"))
        .with_context("plugin", NAME)
        .with_context("path", path)
}

/// A column or value that does not fit the table's schema.
pub(crate) fn schema(path: &str, why: impl std::fmt::Display) -> Error {
    Error::schema(format!("{NAME}: `{path}`: {why}"))
        .with_context("plugin", NAME)
        .with_context("path", path)
}

/// A record of a text file that does not fit the schema, by its line (1-based).
pub(crate) fn bad_row(path: &str, line: u64, why: impl std::fmt::Display) -> Error {
    schema(path, format_args!("line {line}: {why}")).with_context("line", line)
}

/// A decoder's error for `path`. Parquet and IPC readers report damage as I/O, parse or
/// external errors; all of them mean the file is not what it claims to be.
pub(crate) fn decode(path: &str, err: ArrowError) -> Error {
    match err {
        ArrowError::ExternalError(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => integrity(path, other),
        },
        ArrowError::IoError(message, io_err) => match io_err.kind() {
            std::io::ErrorKind::UnexpectedEof => integrity(path, format!("truncated: {message}")),
            _ => io("read", path, io_err),
        },
        e => integrity(path, e),
    }
}

/// A Parquet reader's error for `path`.
pub(crate) fn parquet(path: &str, err: parquet::errors::ParquetError) -> Error {
    use parquet::errors::ParquetError as P;
    match err {
        P::External(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => integrity(path, format!("not a valid Parquet file: {other}")),
        },
        P::ArrowError(message) => integrity(path, message),
        e => integrity(path, format!("not a valid Parquet file: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_failure() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let e = io("open", "a/b.csv", denied);
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(
            e.message(),
            "file: cannot open `a/b.csv`: permission denied"
        );
        assert_eq!(e.context_value("path"), Some("a/b.csv"));

        let eof = ArrowError::IoError(
            "short read".into(),
            std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        );
        assert_eq!(decode("x.arrow", eof).kind(), ErrorKind::DataIntegrity);
        let ours = Error::schema("bad").into();
        assert_eq!(decode("x", ours).kind(), ErrorKind::Schema);
        let p = parquet(
            "x.parquet",
            parquet::errors::ParquetError::EOF("eof".into()),
        );
        assert_eq!(p.kind(), ErrorKind::DataIntegrity);
        assert!(p.message().contains("not a valid Parquet file"), "{p}");

        let row = bad_row("a.csv", 7, "expected 3 fields, got 2");
        assert_eq!(row.kind(), ErrorKind::Schema);
        assert_eq!(
            row.message(),
            "file: `a.csv`: line 7: expected 3 fields, got 2"
        );
    }
}
