//! `arrowport.plan()`: the splits of a scan, each picklable and readable on its own in any
//! process (a Dask or Ray worker), through its portable token. A pickled split carries the
//! source URL and its public options, never credentials: the reader takes those from its
//! own environment.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::plan::{decode_schema, encode_schema, plan_document};
use arrowport_core::registry::build_source;
use arrowport_core::routing::{public_options, source_spec};
use arrowport_core::{Error, ExportSource, OptionMap, SourceSpec};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde::{Deserialize, Serialize};

use crate::arrow_io::schema_to_py;
use crate::convert::{assignments, scan};
use crate::drive::Session;
use crate::errors::{config, to_py};
use crate::reader::{Reader, What};

/// What a pickled split holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SplitState {
    /// The source URL the split was planned from.
    source: String,
    /// The source's other options, secrets left out.
    options: BTreeMap<String, String>,
    /// The schema the split delivers (Arrow IPC, base64).
    schema: String,
    split: arrowport_core::Split,
}

/// One split of a plan.
#[pyclass(module = "arrowport._arrowport", name = "Split", frozen)]
#[derive(Debug)]
pub struct Split {
    state: SplitState,
    schema: SchemaRef,
}

impl Split {
    fn source(&self) -> PyResult<Arc<dyn ExportSource>> {
        let options: OptionMap = self.state.options.clone().into_iter().collect();
        let mut spec = SourceSpec::parse(&self.state.source).map_err(to_py)?;
        spec.options.merge(options);
        build_source(spec).map(Arc::from).map_err(to_py)
    }
}

#[pymethods]
impl Split {
    #[getter]
    fn index(&self) -> usize {
        self.state.split.index
    }

    #[getter]
    fn description(&self) -> &str {
        &self.state.split.description
    }

    /// Rows in the split, when the plan knows them.
    #[getter]
    fn rows(&self) -> Option<u64> {
        self.state.split.rows
    }

    #[getter]
    fn bytes(&self) -> Option<u64> {
        self.state.split.bytes
    }

    /// The split token, in its JSON form (what `arrowport plan --json` prints).
    #[getter]
    fn token(&self) -> String {
        self.state.split.token.to_json()
    }

    #[getter]
    fn url(&self) -> &str {
        &self.state.source
    }

    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        schema_to_py(py, self.schema.clone())
    }

    /// A reader of this split alone. `progress` as for `arrowport.read()`.
    #[pyo3(signature = (progress=None))]
    fn read(&self, py: Python<'_>, progress: Option<Bound<'_, PyAny>>) -> PyResult<Reader> {
        // The package decides what None, True and False mean (tqdm when on a terminal).
        let progress = py
            .import("arrowport")?
            .getattr("_progress")?
            .call1((progress,))?;
        let progress = (!progress.is_none()).then(|| progress.unbind());
        let what = What::Split {
            split: Box::new(self.state.split.clone()),
            schema: self.schema.clone(),
        };
        Ok(Reader::new(
            self.source()?,
            what,
            self.state.source.clone(),
            progress,
        ))
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let restore = py
            .import("arrowport._arrowport")?
            .getattr("split_from_state")?;
        let state = serde_json::to_string(&self.state).expect("a split always serializes");
        PyTuple::new(py, [restore, PyTuple::new(py, [state])?.into_any()])
    }

    fn __repr__(&self) -> String {
        let rows = self
            .state
            .split
            .rows
            .map(|r| format!(", rows={r}"))
            .unwrap_or_default();
        format!(
            "arrowport.Split({:?}, index={}, {:?}{rows})",
            self.state.source, self.state.split.index, self.state.split.description
        )
    }
}

/// A split from its pickled state.
#[pyfunction]
pub fn split_from_state(state: &str) -> PyResult<Split> {
    let state: SplitState = serde_json::from_str(state)
        .map_err(|e| config(format!("not a pickled arrowport split: {e}")))?;
    let schema = decode_schema(&state.schema).map_err(to_py)?;
    Ok(Split { state, schema })
}

#[pyfunction]
#[pyo3(signature = (url, columns=None, limit=None, create_task=false, progress=None, options=None))]
pub fn plan(
    py: Python<'_>,
    url: &str,
    columns: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
    create_task: bool,
    progress: Option<Py<PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<Split>> {
    let scan = scan(columns, limit, None)?;
    let spec = source_spec(url, &assignments(options)?).map_err(to_py)?;
    let source_options = spec.options.clone();
    let source = build_source(spec).map_err(to_py)?;
    if source.capabilities().billed_plan && !create_task {
        return Err(to_py(Error::config(format!(
            "planning `{url}` creates a remote export task, which is billed; pass \
             create_task=True to create it, or name a finished task with task_id=<id>"
        ))));
    }
    let session = Session::new(progress, None);
    let cx = session.cx();
    let doc = session.drive(
        py,
        plan_document(source.as_ref(), url, &source_options, &scan, cx),
    )?;
    let schema = doc.schema().map_err(to_py)?;
    let encoded = encode_schema(&schema).map_err(to_py)?;
    let options = public_options(&source_options);
    Ok(doc
        .splits
        .into_iter()
        .map(|split| Split {
            state: SplitState {
                source: url.to_string(),
                options: options.clone(),
                schema: encoded.clone(),
                split,
            },
            schema: schema.clone(),
        })
        .collect())
}
