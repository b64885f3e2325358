//! arrowport errors as Python exceptions. The classes live in `arrowport.exceptions` (Python
//! gives them several bases, e.g. `ConfigError` is also a `ValueError`); here each error
//! kind picks its class, and the message carries the context (request ids) and the causes.

use arrowport_core::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The `arrowport.exceptions` class for an error kind.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Config => "ConfigError",
        ErrorKind::Unsupported => "UnsupportedError",
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::PermissionDenied => "PermissionError",
        ErrorKind::RateLimited | ErrorKind::Remote => "RemoteError",
        ErrorKind::Io => "IoError",
        ErrorKind::Schema | ErrorKind::DataIntegrity => "DataIntegrityError",
        ErrorKind::Cancelled => "Cancelled",
        _ => "ArrowportError",
    }
}

/// The text the CLI prints, without its `error:` prefix: the message with its context, one
/// `caused by:` line per cause the message does not already carry, then the notes.
pub fn render(err: &Error) -> String {
    let mut out = err.to_string();
    for cause in arrowport_core::error::causes(err) {
        let text = cause.to_string();
        if !err.message().contains(&text) {
            out.push_str(&format!("\ncaused by: {text}"));
        }
    }
    for note in err.notes() {
        out.push_str(&format!("\nnote: {note}"));
    }
    out
}

/// The Python exception for `err`, with `kind`, `temporary` and `context` attributes.
pub fn to_py(err: Error) -> PyErr {
    Python::attach(|py| match build(py, &err) {
        Ok(e) => e,
        Err(import_failed) => {
            let e = PyRuntimeError::new_err(render(&err));
            e.set_cause(py, Some(import_failed));
            e
        }
    })
}

fn build(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let module = py.import("arrowport.exceptions")?;
    let class = module.getattr(class_name(err.kind()))?;
    let value = class.call1((render(err),))?;
    value.setattr("kind", format!("{:?}", err.kind()).to_lowercase())?;
    value.setattr("temporary", err.is_temporary())?;
    let context = PyDict::new(py);
    for (k, v) in err.context() {
        context.set_item(*k, v)?;
    }
    value.setattr("request_id", err.context_value("request_id"))?;
    value.setattr("context", context)?;
    Ok(PyErr::from_value(value))
}

/// A configuration error raised from the module itself (a bad argument).
pub fn config(message: impl Into<String>) -> PyErr {
    to_py(Error::config(message))
}
