//! `arrowport.testing.emulate()`: the test kit's loopback emulators of MaxCompute and
//! VikingDB (with TOS), served in-process from the module's runtime, so tests and demos
//! need nothing but the package.

use std::sync::Mutex;

use arrowport_testkit::maxcompute::{self, MaxComputeConfig, MaxComputeEmulator};
use arrowport_testkit::vikingdb::{self, EmulatorConfig, VikingDbEmulator};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::drive::runtime;
use crate::errors::config;

enum Running {
    MaxCompute(MaxComputeEmulator),
    VikingDb(VikingDbEmulator),
}

/// A running emulator; `close()` (or the end of a `with` block in Python) stops it.
#[pyclass(module = "arrowport._arrowport", name = "Emulator", frozen)]
pub struct Emulator {
    running: Mutex<Option<Running>>,
    info: Py<PyDict>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[pymethods]
impl Emulator {
    /// Endpoints, names and the emulator's credentials, as `arrowport emulate` prints them.
    #[getter]
    fn info(&self, py: Python<'_>) -> Py<PyDict> {
        self.info.clone_ref(py)
    }

    /// Every request served so far: `{"service", "method", "path", "query", "status"}`.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let guard = self.running.lock().unwrap();
        let rows: Vec<(String, String, String, String, u16)> = match guard.as_ref() {
            Some(Running::MaxCompute(e)) => e
                .requests()
                .into_iter()
                .map(|r| {
                    let service = match r.service {
                        maxcompute::Service::Meta => "meta",
                        maxcompute::Service::Tunnel => "tunnel",
                    };
                    (service.into(), r.method, r.path, r.query, r.status)
                })
                .collect(),
            Some(Running::VikingDb(e)) => e
                .requests()
                .into_iter()
                .map(|r| {
                    let service = match r.service {
                        vikingdb::Service::Api => "api",
                        vikingdb::Service::Tos => "tos",
                    };
                    (service.into(), r.method, r.path, r.query, r.status)
                })
                .collect(),
            None => Vec::new(),
        };
        for (service, method, path, query, status) in rows {
            let d = PyDict::new(py);
            d.set_item("service", service)?;
            d.set_item("method", method)?;
            d.set_item("path", path)?;
            d.set_item("query", query)?;
            d.set_item("status", status)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Stops the servers; requests in flight are cut.
    fn close(&self) {
        let _entered = runtime().enter();
        self.running.lock().unwrap().take();
    }
}

/// Reads the keyword settings an emulator takes; any other is a configuration error.
struct Settings<'a, 'py> {
    kind: &'a str,
    given: Option<&'a Bound<'py, PyDict>>,
    known: Vec<&'static str>,
}

impl<'py> Settings<'_, 'py> {
    fn take<T: for<'a> FromPyObject<'a, 'py>>(
        &mut self,
        key: &'static str,
        into: &mut T,
    ) -> PyResult<()> {
        self.known.push(key);
        if let Some(value) = self.given.and_then(|g| g.get_item(key).ok().flatten()) {
            *into = value.extract().map_err(|_| {
                config(format!(
                    "emulate({:?}): `{key}` has the wrong type",
                    self.kind
                ))
            })?;
        }
        Ok(())
    }

    fn finish(self) -> PyResult<()> {
        for key in self.given.iter().flat_map(|g| g.keys()) {
            let key: String = key.extract()?;
            if !self.known.contains(&key.as_str()) {
                return Err(config(format!(
                    "emulate({:?}) takes no setting `{key}`; it takes {}",
                    self.kind,
                    self.known.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[pyfunction]
#[pyo3(signature = (kind, settings=None))]
pub fn emulate(
    py: Python<'_>,
    kind: &str,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<Emulator> {
    let mut s = Settings {
        kind,
        given: settings,
        known: Vec::new(),
    };
    let info = PyDict::new(py);
    let running = match kind {
        "maxcompute" => {
            let mut c = MaxComputeConfig::default();
            s.take("project", &mut c.project)?;
            s.take("rows", &mut c.rows)?;
            s.take("narrow_rows", &mut c.narrow_rows)?;
            s.take("partition_rows", &mut c.partition_rows)?;
            s.take("seed", &mut c.seed)?;
            s.finish()?;
            let emulator = py
                .detach(|| runtime().block_on(MaxComputeEmulator::start(c)))
                .map_err(|e| config(format!("cannot start the MaxCompute emulator: {e}")))?;
            let c = emulator.config();
            info.set_item("endpoint", emulator.endpoint())?;
            info.set_item("tunnel_endpoint", emulator.tunnel_endpoint())?;
            info.set_item("project", &c.project)?;
            info.set_item("region", &c.region)?;
            info.set_item("access_id", &c.access_id)?;
            info.set_item("secret_access_key", &c.secret_access_key)?;
            Running::MaxCompute(emulator)
        }
        "vikingdb" => {
            let mut c = EmulatorConfig::default();
            s.take("collection", &mut c.collection)?;
            s.take("rows", &mut c.rows)?;
            s.take("seed", &mut c.seed)?;
            s.take("dim", &mut c.dim)?;
            s.take("polls_to_done", &mut c.polls_to_done)?;
            s.take("rows_per_part", &mut c.rows_per_part)?;
            s.finish()?;
            let emulator = py
                .detach(|| runtime().block_on(VikingDbEmulator::start(c)))
                .map_err(|e| config(format!("cannot start the VikingDB emulator: {e}")))?;
            let c = emulator.config();
            info.set_item("api_endpoint", emulator.api_endpoint())?;
            info.set_item("tos_endpoint", emulator.tos_endpoint())?;
            info.set_item("collection", &c.collection)?;
            info.set_item("bucket", &c.bucket)?;
            info.set_item("region", &c.region)?;
            info.set_item("tos_region", &c.tos_region)?;
            info.set_item("access_key", &c.access_key)?;
            info.set_item("secret_key", &c.secret_key)?;
            Running::VikingDb(emulator)
        }
        other => {
            return Err(config(format!(
                "no emulator named `{other}`; there are `maxcompute` and `vikingdb`"
            )));
        }
    };
    info.set_item("kind", kind)?;
    Ok(Emulator {
        running: Mutex::new(Some(running)),
        info: info.unbind(),
    })
}
