//! `arrowport.read()`: a lazy reader of a source (or of one split) that Python consumes
//! through the Arrow C stream interface, or through its own methods, which release the GIL
//! and let Ctrl-C cancel.

use std::sync::{Arc, Mutex};

use arrowport_core::arrow::array::{RecordBatch, RecordBatchReader};
use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::error::ArrowError;
use arrowport_core::pipeline::{project_schema, read as checked_read, read_split};
use arrowport_core::registry::build_source;
use arrowport_core::routing::source_spec;
use arrowport_core::stream::coalesce;
use arrowport_core::{ExportSource, Result, Scan, SendableRecordBatchStream, Split};
use futures::StreamExt;
use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

use crate::arrow_io::{Batches, batch_to_py, schema_to_py, stream_capsule};
use crate::convert::{assignments, scan};
use crate::drive::{Session, runtime};
use crate::errors::to_py;

/// What a reader reads: a scan of the whole source, or one split of a plan.
#[derive(Debug, Clone)]
pub enum What {
    Scan(Scan),
    Split {
        split: Box<Split>,
        schema: SchemaRef,
    },
}

/// A lazy read of a source. Nothing runs until it is consumed, and every consumption reads
/// the source again.
#[pyclass(module = "arrowport._arrowport", name = "Reader", frozen)]
#[derive(Debug)]
pub struct Reader {
    source: Arc<dyn ExportSource>,
    what: What,
    url: String,
    progress: Option<Py<PyAny>>,
}

impl Reader {
    pub fn new(
        source: Arc<dyn ExportSource>,
        what: What,
        url: String,
        progress: Option<Py<PyAny>>,
    ) -> Self {
        Reader {
            source,
            what,
            url,
            progress,
        }
    }

    fn session(&self, py: Python<'_>) -> Session {
        let parallelism = match &self.what {
            What::Scan(scan) => scan.parallelism,
            What::Split { .. } => None,
        };
        Session::new(self.progress.as_ref().map(|p| p.clone_ref(py)), parallelism)
    }

    fn schema_ref(&self, py: Python<'_>, session: &Session) -> PyResult<SchemaRef> {
        match &self.what {
            What::Split { schema, .. } => Ok(schema.clone()),
            What::Scan(scan) => session.drive(py, async {
                let full = self.source.schema(session.cx()).await?;
                project_schema(&full, scan.columns.as_deref())
            }),
        }
    }

    fn opener(&self, session: &Session) -> Opener {
        Opener {
            source: self.source.clone(),
            what: self.what.clone(),
            session: session.clone(),
        }
    }

    /// Every batch, read with the GIL released.
    fn collect(&self, py: Python<'_>) -> PyResult<Batches> {
        let session = self.session(py);
        let schema = self.schema_ref(py, &session)?;
        let opener = self.opener(&session);
        let batches = session.drive(py, async move {
            let mut stream = opener.open().await?;
            let mut batches = Vec::new();
            while let Some(batch) = stream.next().await {
                batches.push(batch?);
            }
            Ok(batches)
        })?;
        Ok(Batches::new(batches, schema))
    }
}

/// Batches this big reach Python uncopied: handing one over costs microseconds.
const KEEP_BYTES: usize = 256 << 10;

/// Bytes of batches `to_polars` hands to polars at once: few calls, and most of the
/// conversion done while the rest is read.
const FRAME_BYTES: usize = 16 << 20;

/// Opens the stream of a reader, in the runtime.
struct Opener {
    source: Arc<dyn ExportSource>,
    what: What,
    session: Session,
}

impl Opener {
    /// The batches, small ones merged: a table of many thousand chunks is slow to use.
    /// Batches of [`KEEP_BYTES`] or more are handed over as they are.
    async fn open(&self) -> Result<SendableRecordBatchStream> {
        let cx = self.session.cx();
        let stream = match &self.what {
            What::Scan(scan) => checked_read(self.source.as_ref(), scan, cx).await?,
            What::Split { split, schema } => {
                read_split(self.source.as_ref(), split, schema.clone(), cx).await?
            }
        };
        Ok(coalesce(stream, Some(KEEP_BYTES)))
    }
}

/// A stream dropped inside the runtime, whose tasks and connections it belongs to.
struct Owned(Option<SendableRecordBatchStream>);

impl Drop for Owned {
    fn drop(&mut self) {
        let _entered = runtime().enter();
        self.0.take();
    }
}

/// The reader behind `__arrow_c_stream__`: opens the source at the first batch asked for
/// (a consumer that only looks at the schema costs nothing), then pulls batch by batch.
struct Pull {
    opener: Opener,
    schema: SchemaRef,
    stream: Owned,
    done: bool,
}

impl Pull {
    fn new(opener: Opener, schema: SchemaRef) -> Self {
        Pull {
            opener,
            schema,
            stream: Owned(None),
            done: false,
        }
    }

    fn next_batch(&mut self, py: Python<'_>) -> PyResult<Option<RecordBatch>> {
        if self.done {
            return Ok(None);
        }
        let session = self.opener.session.clone();
        let (opener, stream) = (&self.opener, &mut self.stream.0);
        let next = session.drive(py, async move {
            if stream.is_none() {
                *stream = Some(opener.open().await?);
            }
            stream.as_mut().expect("opened").next().await.transpose()
        });
        if !matches!(next, Ok(Some(_))) {
            self.done = true;
            self.stream.0.take();
        }
        next
    }
}

impl Iterator for Pull {
    type Item = std::result::Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        Python::attach(|py| match self.next_batch(py) {
            Ok(batch) => batch.map(Ok),
            Err(e) => {
                // The consumer (pyarrow, polars, duckdb) raises its own exception with this
                // text; an interrupt is raised again so that it still reaches Python.
                if e.is_instance_of::<PyKeyboardInterrupt>(py)
                    && let Ok(thread) = py.import("_thread")
                {
                    let _ = thread.call_method0("interrupt_main");
                }
                Some(Err(ArrowError::ExternalError(e.to_string().into())))
            }
        })
    }
}

impl RecordBatchReader for Pull {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

/// Batches one by one for a Python `for` loop, each read with the GIL released.
#[pyclass(module = "arrowport._arrowport", name = "_BatchIter", frozen)]
pub struct BatchIter {
    pull: Mutex<Pull>,
}

impl std::fmt::Debug for BatchIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchIter").finish_non_exhaustive()
    }
}

#[pymethods]
impl BatchIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let batch = self.pull.lock().unwrap().next_batch(py)?;
        batch.map(|b| batch_to_py(py, b)).transpose()
    }
}

#[pymethods]
impl Reader {
    /// The schema of the batches, as a `pyarrow.Schema`.
    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let session = self.session(py);
        schema_to_py(py, self.schema_ref(py, &session)?)
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    /// The Arrow PyCapsule stream interface: pyarrow, polars, duckdb and others read the
    /// batches from it without a copy. The source is read when the first batch is asked for.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let session = self.session(py);
        let schema = self.schema_ref(py, &session)?;
        let pull = Pull::new(self.opener(&session), schema);
        stream_capsule(py, Box::new(pull))
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<BatchIter> {
        let session = self.session(py);
        let schema = self.schema_ref(py, &session)?;
        let pull = Pull::new(self.opener(&session), schema);
        Ok(BatchIter {
            pull: Mutex::new(pull),
        })
    }

    /// Every batch in one `pyarrow.Table`, without a copy. Read through the C stream
    /// (`pyarrow.table()` would first import pandas to rule out a DataFrame: a quarter of a
    /// second).
    fn read_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let batches = self.collect(py)?;
        crate::arrow_io::table_to_py(py, batches)
    }

    /// A `pyarrow.RecordBatchReader` that reads the source as it is iterated.
    fn to_reader<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("pyarrow")?
            .getattr("RecordBatchReader")?
            .call_method1("from_stream", (slf,))
    }

    /// Every batch in one `polars.DataFrame`, without a copy of the Arrow data. Polars takes
    /// the batches [`FRAME_BYTES`] at a time while the next ones are read, so its own
    /// conversion (strings into its string views) overlaps the read instead of following it.
    fn to_polars<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let polars = py.import("polars")?;
        let session = self.session(py);
        let schema = self.schema_ref(py, &session)?;
        let frame = |batches: Vec<RecordBatch>| {
            let batches = Bound::new(py, Batches::new(batches, schema.clone()))?;
            polars.call_method1("DataFrame", (batches,))
        };
        let mut pull = Pull::new(self.opener(&session), schema.clone());
        let (mut frames, mut pending, mut bytes) = (Vec::new(), Vec::new(), 0);
        while let Some(batch) = pull.next_batch(py)? {
            bytes += batch.get_array_memory_size();
            pending.push(batch);
            if bytes >= FRAME_BYTES {
                frames.push(frame(std::mem::take(&mut pending))?);
                bytes = 0;
            }
        }
        if !pending.is_empty() || frames.is_empty() {
            frames.push(frame(pending)?);
        }
        if frames.len() == 1 {
            return Ok(frames.remove(0));
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("rechunk", false)?;
        polars.call_method("concat", (frames,), Some(&kwargs))
    }

    /// Every batch in one `pandas.DataFrame` (through pyarrow).
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.read_all(py)?.call_method0("to_pandas")
    }

    fn __repr__(&self) -> String {
        match &self.what {
            What::Scan(_) => format!("arrowport.Reader({:?})", self.url),
            What::Split { split, .. } => format!(
                "arrowport.Reader({:?}, split {}: {})",
                self.url, split.index, split.description
            ),
        }
    }
}

/// Builds the source a URL and keyword options name, as the CLI does with `-o`. Pure.
pub fn build(url: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<Box<dyn ExportSource>> {
    let spec = source_spec(url, &assignments(options)?).map_err(to_py)?;
    build_source(spec).map_err(to_py)
}

#[pyfunction]
#[pyo3(signature = (url, columns=None, limit=None, parallel=None, progress=None, options=None))]
pub fn read(
    url: &str,
    columns: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
    parallel: Option<&Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Reader> {
    let scan = scan(columns, limit, parallel)?;
    let source: Arc<dyn ExportSource> = build(url, options)?.into();
    Ok(Reader::new(
        source,
        What::Scan(scan),
        url.to_string(),
        progress,
    ))
}

#[pyfunction]
#[pyo3(signature = (url, options=None))]
pub fn schema<'py>(
    py: Python<'py>,
    url: &str,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let source = build(url, options)?;
    let session = Session::new(None, None);
    let schema = session.drive(py, source.schema(session.cx()))?;
    schema_to_py(py, schema)
}
