//! The Arrow C stream interface, both ways: batches handed to Python as an
//! `arrow_array_stream` PyCapsule (the consumer moves the stream out; whatever it leaves is
//! released when the capsule is), and any object with `__arrow_c_stream__` read from.

use std::sync::Mutex;

use arrowport_core::arrow::array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::convert::type_name;

/// `reader` as the capsule `__arrow_c_stream__` returns.
pub fn stream_capsule(
    py: Python<'_>,
    reader: Box<dyn RecordBatchReader + Send>,
) -> PyResult<Bound<'_, PyCapsule>> {
    PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), c"arrow_array_stream")
}

/// Batches already in memory, handed over once through the C stream interface: how
/// `read_all()` and `to_polars()` give their result away without copying it.
#[pyclass(module = "arrowport._arrowport", name = "_Batches", frozen)]
#[derive(Debug)]
pub struct Batches {
    inner: Mutex<Option<(Vec<RecordBatch>, SchemaRef)>>,
}

impl Batches {
    pub fn new(batches: Vec<RecordBatch>, schema: SchemaRef) -> Self {
        Batches {
            inner: Mutex::new(Some((batches, schema))),
        }
    }
}

#[pymethods]
impl Batches {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let (batches, schema) =
            self.inner.lock().unwrap().take().ok_or_else(|| {
                PyTypeError::new_err("these batches were already handed over once")
            })?;
        let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
        stream_capsule(py, Box::new(reader))
    }
}

/// Reads from an object with `__arrow_c_stream__` (a pyarrow Table or RecordBatchReader, a
/// polars or pandas DataFrame, a duckdb relation, an arrowport reader).
pub fn import_stream(data: &Bound<'_, PyAny>) -> PyResult<RecordBatchStreamReader> {
    if !data.hasattr("__arrow_c_stream__")? {
        return Err(PyTypeError::new_err(format!(
            "write() takes Arrow data: an object with `__arrow_c_stream__` such as a pyarrow \
             Table or RecordBatchReader, a polars or pandas DataFrame; got {}",
            type_name(data)
        )));
    }
    let capsule = data
        .call_method0("__arrow_c_stream__")?
        .cast_into::<PyCapsule>()
        .map_err(|_| PyTypeError::new_err("`__arrow_c_stream__` did not return a capsule"))?;
    let stream = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: a capsule named `arrow_array_stream` holds an `ArrowArrayStream` (the PyCapsule
    // interface's contract); `from_raw` moves it out and marks the capsule's copy released,
    // so the capsule's destructor does not release it a second time.
    #[allow(unsafe_code)]
    let stream = unsafe { FFI_ArrowArrayStream::from_raw(stream.as_ptr().cast()) };
    RecordBatchStreamReader::try_new(stream).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `schema` as a `pyarrow.Schema`, through an empty stream.
pub fn schema_to_py<'py>(py: Python<'py>, schema: SchemaRef) -> PyResult<Bound<'py, PyAny>> {
    pyarrow_reader(py, Batches::new(Vec::new(), schema))?.getattr("schema")
}

/// `batches` as one `pyarrow.Table`, without a copy.
pub fn table_to_py(py: Python<'_>, batches: Batches) -> PyResult<Bound<'_, PyAny>> {
    pyarrow_reader(py, batches)?.call_method0("read_all")
}

/// `batch` as a `pyarrow.RecordBatch`, without a copy.
pub fn batch_to_py<'py>(py: Python<'py>, batch: RecordBatch) -> PyResult<Bound<'py, PyAny>> {
    let schema = batch.schema();
    pyarrow_reader(py, Batches::new(vec![batch], schema))?.call_method0("read_next_batch")
}

fn pyarrow_reader(py: Python<'_>, batches: Batches) -> PyResult<Bound<'_, PyAny>> {
    py.import("pyarrow")?
        .getattr("RecordBatchReader")?
        .call_method1("from_stream", (batches,))
}
