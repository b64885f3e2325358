//! `arrowport.export()` (a source into any sink, as `arrowport export` runs it) and
//! `arrowport.write()` (Python Arrow data into any sink), with the CLI's summary.

use std::sync::Mutex;

use arrowport_core::arrow::array::RecordBatchReader;
use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::ffi_stream::RecordBatchStreamReader;
use arrowport_core::registry::{SourcePlugin, find_source, resolve_sink};
use arrowport_core::routing::{route, split_sink_query};
use arrowport_core::{
    Context, Error, ErrorKind, ExportSource, OptionMap, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, Sink, SinkSpec, SinkTarget, SourceCapabilities, SourceSpec, Split,
    SplitToken, async_trait,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::arrow_io::import_stream;
use crate::convert::{assignments, scan};
use crate::drive::Session;
use crate::errors::to_py;

/// What an export or a write did, and the CLI's one-line account of it (`str(summary)`).
#[pyclass(module = "arrowport._arrowport", name = "Summary", frozen)]
#[derive(Debug)]
pub struct Summary {
    summary: arrowport_core::Summary,
    target: SinkTarget,
}

#[pymethods]
impl Summary {
    #[getter]
    fn rows(&self) -> u64 {
        self.summary.rows
    }

    #[getter]
    fn batches(&self) -> u64 {
        self.summary.batches
    }

    /// Bytes the sink wrote.
    #[getter]
    fn bytes(&self) -> u64 {
        self.summary.bytes
    }

    /// Seconds the export took.
    #[getter]
    fn elapsed(&self) -> f64 {
        self.summary.elapsed.as_secs_f64()
    }

    #[getter]
    fn target(&self) -> String {
        self.target.to_string()
    }

    /// Every file written: `{"path", "rows", "bytes", "sha256"}`.
    #[getter]
    fn files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for f in &self.summary.write.files {
            let d = PyDict::new(py);
            d.set_item("path", f.path.display().to_string())?;
            d.set_item("rows", f.rows)?;
            d.set_item("bytes", f.bytes)?;
            d.set_item("sha256", &f.sha256)?;
            list.append(d)?;
        }
        Ok(list)
    }

    fn __str__(&self) -> String {
        self.summary.describe(&self.target)
    }

    fn __repr__(&self) -> String {
        format!(
            "arrowport.Summary(rows={}, bytes={}, target={:?})",
            self.summary.rows,
            self.summary.bytes,
            self.target.to_string()
        )
    }
}

/// A sink argument (path, directory, `-`, or a remote URL with a query) built with its
/// options, each `key=value` routed to the source or the sink as the CLI's `-o` is.
fn sink(
    text: &str,
    format: Option<&str>,
    overwrite: bool,
    source: &SourcePlugin,
    assignments: &[String],
    source_options: &mut OptionMap,
) -> Result<(Box<dyn Sink>, SinkTarget)> {
    let (text, mut sink_options) = split_sink_query(text)?;
    let (plugin, target) = resolve_sink(&text, format)?;
    route(
        assignments,
        source,
        Some(plugin),
        source_options,
        &mut sink_options,
    )?;
    let spec = SinkSpec::new(target.clone(), sink_options, overwrite);
    Ok(((plugin.build)(spec)?, target))
}

#[pyfunction]
#[pyo3(signature = (url, sink_url, columns=None, limit=None, parallel=None, format=None, overwrite=false, progress=None, options=None))]
#[allow(clippy::too_many_arguments)]
pub fn export(
    py: Python<'_>,
    url: &str,
    sink_url: &str,
    columns: Option<&Bound<'_, PyAny>>,
    limit: Option<&Bound<'_, PyAny>>,
    parallel: Option<&Bound<'_, PyAny>>,
    format: Option<&str>,
    overwrite: bool,
    progress: Option<Py<PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Summary> {
    let scan = scan(columns, limit, parallel)?;
    let assignments = assignments(options)?;
    let (source, sink, target) = (|| {
        let mut spec = SourceSpec::parse(url)?;
        let plugin = find_source(&spec.scheme)?;
        let (sink, target) = sink(
            sink_url,
            format,
            overwrite,
            plugin,
            &assignments,
            &mut spec.options,
        )?;
        Ok(((plugin.build)(spec)?, sink, target))
    })()
    .map_err(to_py)?;
    let session = Session::new(progress, scan.parallelism);
    let summary = session.drive(
        py,
        arrowport_core::export(source.as_ref(), sink.as_ref(), &scan, session.cx()),
    )?;
    Ok(Summary { summary, target })
}

/// Stands in for a source plugin when options are routed for `write()`: the data takes none.
static PYTHON_DATA: SourcePlugin = SourcePlugin {
    name: "the data",
    description: "Arrow data handed over by Python",
    docs: "",
    options: || &[],
    build: |_| Err(Error::config("Python data is not built from a URL")),
};

#[pyfunction]
#[pyo3(signature = (data, sink_url, format=None, overwrite=false, progress=None, options=None))]
pub fn write(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    sink_url: &str,
    format: Option<&str>,
    overwrite: bool,
    progress: Option<Py<PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Summary> {
    let assignments = assignments(options)?;
    let mut source_options = OptionMap::new();
    let (sink, target) = sink(
        sink_url,
        format,
        overwrite,
        &PYTHON_DATA,
        &assignments,
        &mut source_options,
    )
    .map_err(to_py)?;
    if let Some((key, _)) = source_options.iter().next() {
        return Err(to_py(Error::config(format!(
            "`source.{key}`: write() has no source to take options"
        ))));
    }
    let reader = import_stream(data)?;
    let source = ArrowData {
        schema: reader.schema(),
        reader: Mutex::new(Some(reader)),
    };
    let session = Session::new(progress, None);
    let summary = session.drive(
        py,
        arrowport_core::export(&source, sink.as_ref(), &Scan::new(), session.cx()),
    )?;
    Ok(Summary { summary, target })
}

fn read_once() -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "Python data is read once, not planned in splits",
    )
}

/// Arrow data from Python as a source, read once. Each batch is pulled on a blocking
/// thread: the producer may need the GIL (a pyarrow reader over a Python generator).
#[derive(Debug)]
struct ArrowData {
    schema: SchemaRef,
    reader: Mutex<Option<RecordBatchStreamReader>>,
}

#[async_trait]
impl ExportSource for ArrowData {
    async fn schema(&self, _: &Context) -> Result<SchemaRef> {
        Ok(self.schema.clone())
    }

    async fn plan(&self, _: &Scan, _: &Context) -> Result<Vec<Split>> {
        Err(read_once())
    }

    async fn open_split(&self, _: &SplitToken, _: &Context) -> Result<SendableRecordBatchStream> {
        Err(read_once())
    }

    async fn open(&self, _: &Scan, _: &Context) -> Result<SendableRecordBatchStream> {
        let reader =
            self.reader.lock().unwrap().take().ok_or_else(|| {
                Error::new(ErrorKind::Unexpected, "the Python data was already read")
            })?;
        let batches = futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            let pulled = tokio::task::spawn_blocking(move || {
                let item = reader.next();
                (item, reader)
            })
            .await;
            match pulled {
                Ok((Some(item), reader)) => Some((item.map_err(Error::from), Some(reader))),
                Ok((None, _)) => None,
                Err(e) => Some((
                    Err(Error::new(
                        ErrorKind::Unexpected,
                        format!("reading the Python data failed: {e}"),
                    )),
                    None,
                )),
            }
        });
        Ok(RecordBatchStreamAdapter::sendable(
            self.schema.clone(),
            batches,
        ))
    }

    fn capabilities(&self) -> SourceCapabilities {
        SourceCapabilities::default()
    }
}
