//! Python arguments to what the CLI's flags become: keyword options to `key=value`
//! assignments (routed and typed by core, as `-o` is), columns, limits and parallelism.

use arrowport_core::ProgressEvent;
use arrowport_core::Scan;
use arrowport_core::registry::{sink_plugins, source_plugins};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors;

/// `key=value` assignments of keyword options. Strings pass as written; booleans, numbers,
/// lists (joined with commas) and dicts (as JSON, e.g. a VikingDB `filter`) are spelled as
/// the CLI would take them; `None` leaves an option at its default.
pub fn assignments(options: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let Some(options) = options else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(options.len());
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        if value.is_none() {
            continue;
        }
        out.push(format!("{key}={}", option_text(&key, &value)?));
    }
    Ok(out)
}

fn option_text(key: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_string());
    }
    if value.is_instance_of::<PyString>()
        || value.is_instance_of::<PyInt>()
        || value.is_instance_of::<PyFloat>()
    {
        return Ok(value.str()?.to_string());
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let items: Vec<String> = value
            .try_iter()?
            .map(|item| option_text(key, &item?))
            .collect::<PyResult<_>>()?;
        return Ok(items.join(","));
    }
    if value.is_instance_of::<PyDict>() {
        let json = value.py().import("json")?.call_method1("dumps", (value,))?;
        return json.extract();
    }
    Err(errors::config(format!(
        "option `{key}`: expected a string, number, boolean, list or dict, got {}",
        type_name(value)
    )))
}

pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an object".to_string(), |n| n.to_string())
}

/// A non-negative integer argument (`limit`, `parallel`), or a configuration error naming it.
fn count(name: &str, value: Option<&Bound<'_, PyAny>>, min: u64) -> PyResult<Option<u64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    let n = (!value.is_instance_of::<PyBool>())
        .then(|| value.extract::<u64>().ok())
        .flatten()
        .filter(|n| *n >= min);
    n.map(Some).ok_or_else(|| {
        errors::config(format!(
            "{name} must be an integer of at least {min}, got {} ({})",
            value.repr().map_or_else(|_| "?".into(), |r| r.to_string()),
            type_name(value)
        ))
    })
}

/// `columns` as a list of names or one comma-separated string (as `--columns` takes it).
fn columns(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<String>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(text) = value.extract::<String>() {
        return Ok(Some(
            text.split(',').map(|c| c.trim().to_string()).collect(),
        ));
    }
    value.extract::<Vec<String>>().map(Some).map_err(|_| {
        errors::config(format!(
            "columns must be a list of column names, got {}",
            type_name(value)
        ))
    })
}

/// The scan the CLI's `--columns`, `--limit` and `--parallel` would make.
pub fn scan(
    cols: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
    parallel: Option<&Bound<'_, PyAny>>,
) -> PyResult<Scan> {
    Ok(Scan::new()
        .with_columns(columns(cols)?)
        .with_limit(count("limit", limit, 0)?)
        .with_parallelism(count("parallel", parallel, 1)?.map(|n| n as usize)))
}

/// A JSON value as plain Python objects (progress events, summaries).
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::IntoPyObjectExt;
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_bound_py_any(py)?,
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => u.into_bound_py_any(py)?,
            (_, Some(i)) => i.into_bound_py_any(py)?,
            _ => n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?,
        },
        Value::String(s) => s.into_bound_py_any(py)?,
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

pub fn event_to_py<'py>(py: Python<'py>, event: &ProgressEvent) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(event).unwrap_or_default();
    json_to_py(py, &value)
}

/// Every plugin's option names, for docstrings and `help()`: `{"sources": {name: [..]},
/// "sinks": {name: [..]}}`.
#[pyfunction]
pub fn plugin_options(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let sources = PyDict::new(py);
    for p in source_plugins() {
        sources.set_item(p.name, ((p.options)().to_vec(), p.description))?;
    }
    let sinks = PyDict::new(py);
    for p in sink_plugins() {
        sinks.set_item(p.name, ((p.options)().to_vec(), p.description))?;
    }
    let out = PyDict::new(py);
    out.set_item("sources", sources)?;
    out.set_item("sinks", sinks)?;
    Ok(out)
}
