//! The one error type of arrowport.
//!
//! Every failure carries a [`ErrorKind`] (what went wrong, used by the CLI to pick an exit code),
//! a temporary flag (only temporary errors are retried), key/value context (plugin, request id,
//! task id, …) and an optional source chain.

use std::fmt;

/// What went wrong, coarse enough to drive retries and exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad options, URL, job file or flags: the user must change the invocation.
    Config,
    /// The request is valid but this plugin or format cannot do it.
    Unsupported,
    /// A collection, table, partition, task or file does not exist.
    NotFound,
    /// Missing or rejected credentials.
    PermissionDenied,
    /// The remote asked us to slow down.
    RateLimited,
    /// The remote failed in a way not covered by a more specific kind.
    Remote,
    /// Data does not fit the announced schema, or a schema cannot be carried.
    Schema,
    /// Local or network I/O failed.
    Io,
    /// Rows, sizes or checksums do not add up: data would be lost or duplicated.
    DataIntegrity,
    /// The user (or a dropped consumer) cancelled the work.
    Cancelled,
    /// A bug or an answer no code path expected.
    Unexpected,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ErrorKind::Config => "configuration error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::NotFound => "not found",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Remote => "remote error",
            ErrorKind::Schema => "schema error",
            ErrorKind::Io => "i/o error",
            ErrorKind::DataIntegrity => "data integrity error",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unexpected => "unexpected error",
        };
        f.write_str(s)
    }
}

type BoxedSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An arrowport error: kind, message, temporary flag, context and source.
pub struct Error {
    kind: ErrorKind,
    message: String,
    temporary: bool,
    context: Vec<(&'static str, String)>,
    retry_after: Option<std::time::Duration>,
    source: Option<BoxedSource>,
    /// What the user can do about it, shown after the causes.
    notes: Vec<String>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A permanent error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            temporary: false,
            context: Vec::new(),
            retry_after: None,
            source: None,
            notes: Vec::new(),
        }
    }

    /// Shorthand for [`ErrorKind::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    /// Shorthand for [`ErrorKind::Schema`].
    pub fn schema(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Schema, message)
    }

    /// Shorthand for [`ErrorKind::Io`] with the I/O error as source.
    pub fn io(message: impl Into<String>, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, message).with_source(err)
    }

    /// Shorthand for [`ErrorKind::Cancelled`].
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "the export was cancelled")
    }

    /// Re-classifies the error, keeping its message, context and source.
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Marks the error as temporary: retrying the same request may succeed.
    pub fn temporary(mut self) -> Self {
        self.temporary = true;
        self
    }

    /// Marks the error as permanent: repeating the request is not safe or not useful.
    pub fn permanent(mut self) -> Self {
        self.temporary = false;
        self
    }

    /// Adds a key/value pair of context (plugin, request_id, task_id, path, …).
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.context.push((key, value.to_string()));
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxedSource>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Records how long the remote asked us to wait before retrying (`Retry-After`).
    pub fn with_retry_after(mut self, delay: std::time::Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// Adds a note on what the user can do (shown after the error and its causes).
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    pub fn context(&self) -> &[(&'static str, String)] {
        &self.context
    }

    /// The value of one context key, if present.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind)
            .field("message", &self.message)
            .field("temporary", &self.temporary);
        if !self.context.is_empty() {
            d.field("context", &self.context);
        }
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(err: arrow::error::ArrowError) -> Self {
        use arrow::error::ArrowError as A;
        match err {
            // An arrowport error tunnelled through an arrow API keeps its kind.
            A::ExternalError(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => {
                    Error::new(ErrorKind::Unexpected, other.to_string()).with_source(other)
                }
            },
            A::IoError(message, io) => Error::io(message, io),
            e @ (A::SchemaError(_)
            | A::CastError(_)
            | A::InvalidArgumentError(_)
            | A::ParseError(_)
            | A::JsonError(_)
            | A::CsvError(_)) => Error::schema(e.to_string()),
            e => Error::new(ErrorKind::Unexpected, e.to_string()),
        }
    }
}

impl From<Error> for arrow::error::ArrowError {
    fn from(err: Error) -> Self {
        arrow::error::ArrowError::ExternalError(Box::new(err))
    }
}

/// Walks an error's cause chain, outermost first, excluding the error itself.
pub fn causes<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(err.source(), |e| e.source())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_includes_context() {
        let e = Error::new(ErrorKind::Remote, "task failed")
            .with_context("task_id", "t-1")
            .with_context("request_id", "r-9");
        assert_eq!(e.to_string(), "task failed (task_id=t-1, request_id=r-9)");
        assert_eq!(e.context_value("request_id"), Some("r-9"));
        assert!(!e.is_temporary());
        assert_eq!(e.kind(), ErrorKind::Remote);
    }

    #[test]
    fn arrow_round_trip_keeps_kind() {
        let ours = Error::new(ErrorKind::DataIntegrity, "crc mismatch").temporary();
        let arrow_err: arrow::error::ArrowError = ours.into();
        let back: Error = arrow_err.into();
        assert_eq!(back.kind(), ErrorKind::DataIntegrity);
        assert!(back.is_temporary());
    }
}
