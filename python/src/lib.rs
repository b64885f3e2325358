//! The `arrowport._arrowport` extension module: arrowport's sources and sinks in-process. The
//! Python package (`python/arrowport/`) wraps it with docstrings, Dask and Ray readers.
#![deny(unsafe_code)]

mod arrow_io;
mod convert;
mod drive;
mod emulate;
mod errors;
mod export;
mod reader;
mod split;

use pyo3::prelude::*;

#[pymodule]
fn _arrowport(m: &Bound<'_, PyModule>) -> PyResult<()> {
    arrowport_plugins::link();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(reader::read, m)?)?;
    m.add_function(wrap_pyfunction!(reader::schema, m)?)?;
    m.add_function(wrap_pyfunction!(split::plan, m)?)?;
    m.add_function(wrap_pyfunction!(split::split_from_state, m)?)?;
    m.add_function(wrap_pyfunction!(export::export, m)?)?;
    m.add_function(wrap_pyfunction!(export::write, m)?)?;
    m.add_function(wrap_pyfunction!(convert::plugin_options, m)?)?;
    m.add_function(wrap_pyfunction!(emulate::emulate, m)?)?;
    m.add_class::<reader::Reader>()?;
    m.add_class::<split::Split>()?;
    m.add_class::<export::Summary>()?;
    m.add_class::<emulate::Emulator>()?;
    Ok(())
}
