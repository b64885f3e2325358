//! A loopback emulator of VikingDB's V1 API (collection info and export tasks) and of the TOS
//! bucket the exports land in, written from the wire protocol notes and the official Python
//! SDKs, independently of arrowport's own client, so that it catches the client's mistakes.
//!
//! Two listeners on `127.0.0.1`: the API (signed with Volcengine's `HMAC-SHA256`, service
//! `air`) and TOS (signed with `TOS4-HMAC-SHA256`). The collection is the datagen `vikingdb`
//! profile. An export task advances one state per `task/info` poll, never by wall time, and
//! when it is done its files are in the bucket under `<tos_path>/<task_id>/`:
//! `part-00000.parquet` (or `.json`), … and a zero-byte `_SUCCESS`. [`Faults`] scripts
//! failures at run time; [`VikingDbEmulator::requests`] tells which calls arrived.

mod api;
mod auth;
mod clock;
mod collection;
mod export;
mod faults;
mod filter;
mod tos;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrowport_datagen::{Config as DatagenConfig, Profile, generate_batch, schema_of};

use self::api::Tasks;
use self::auth::{Scheme, Verifier};
pub use self::faults::{Faults, Route};
use self::tos::Bucket;
use crate::http::HttpServer;

/// What the emulator serves. `Default` gives a small collection that a test exports in
/// milliseconds; a benchmark raises `rows`.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// The one collection's name.
    pub collection: String,
    /// Rows in the collection (ids `0..rows`).
    pub rows: u64,
    /// Seed of the datagen `vikingdb` profile that makes the data.
    pub seed: u64,
    /// Width of the `vector` field.
    pub dim: usize,
    pub access_key: String,
    pub secret_key: String,
    /// Region of the API's credential scope (service `air`).
    pub region: String,
    /// Region of TOS's credential scope (service `tos`).
    pub tos_region: String,
    /// The one bucket; export `tos_path`s must name it.
    pub bucket: String,
    /// `task/info` polls that answer `running` (progress rising) before `done`.
    pub polls_to_done: u32,
    /// Rows per exported part file.
    pub rows_per_part: u64,
    /// Rows per row group in Parquet part files.
    pub row_group_rows: usize,
    /// How JSON part files hold their rows.
    pub json_layout: JsonLayout,
    /// Most keys one ListObjectsType2 page returns, whatever `max-keys` asks for.
    pub list_page_size: usize,
    /// API port; 0 picks a free one.
    pub api_port: u16,
    /// TOS port; 0 picks a free one.
    pub tos_port: u16,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            collection: "demo".into(),
            rows: 1000,
            seed: 42,
            dim: 128,
            access_key: "AKLTemulatoraccesskey".into(),
            secret_key: "ZW11bGF0b3Itc2VjcmV0L2tleSs9".into(),
            region: "cn-north-1".into(),
            tos_region: "cn-beijing".into(),
            bucket: "arrowport-demo".into(),
            polls_to_done: 3,
            rows_per_part: 100_000,
            row_group_rows: 16_384,
            json_layout: JsonLayout::Lines,
            list_page_size: 1000,
            api_port: 0,
            tos_port: 0,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("collection", &self.collection)
            .field("rows", &self.rows)
            .field("seed", &self.seed)
            .field("dim", &self.dim)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .field("tos_region", &self.tos_region)
            .field("bucket", &self.bucket)
            .field("polls_to_done", &self.polls_to_done)
            .field("rows_per_part", &self.rows_per_part)
            .field("row_group_rows", &self.row_group_rows)
            .field("json_layout", &self.json_layout)
            .field("list_page_size", &self.list_page_size)
            .field("api_port", &self.api_port)
            .field("tos_port", &self.tos_port)
            .finish()
    }
}

/// The shape of JSON export files; VikingDB does not document which one it writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum JsonLayout {
    /// One object per line.
    #[default]
    Lines,
    /// One JSON array of objects.
    Array,
}

/// Which listener a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Api,
    Tos,
}

/// One request as it arrived, with the status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub service: Service,
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The `Range` header, if any.
    pub range: Option<String>,
    pub status: u16,
}

/// The running emulator. Dropping it stops both servers and any export still being written.
pub struct VikingDbEmulator {
    shared: Arc<Shared>,
    api: HttpServer,
    tos: HttpServer,
}

impl fmt::Debug for VikingDbEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VikingDbEmulator")
            .field("api", &self.api.addr())
            .field("tos", &self.tos.addr())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl VikingDbEmulator {
    /// Binds both listeners. Fails with `InvalidInput` for a config the emulator cannot
    /// serve (a zero `dim`, `rows_per_part`, `row_group_rows` or `list_page_size`).
    pub async fn start(config: EmulatorConfig) -> io::Result<Self> {
        let shared = Arc::new(Shared::new(config)?);
        let api = {
            let shared = shared.clone();
            HttpServer::bind(shared.config.api_port, move |req| {
                api::handle(shared.clone(), req)
            })
            .await?
        };
        let tos = {
            let shared = shared.clone();
            HttpServer::bind(shared.config.tos_port, move |req| {
                tos::handle(shared.clone(), req)
            })
            .await?
        };
        Ok(VikingDbEmulator { shared, api, tos })
    }

    /// `http://127.0.0.1:PORT` of the VikingDB API.
    pub fn api_endpoint(&self) -> String {
        self.api.url()
    }

    /// `http://127.0.0.1:PORT` of TOS. Requests may address the bucket virtual-hosted
    /// (`Host: <bucket>.…`), path-style (`/<bucket>/key`) or as a custom domain (`/key`).
    pub fn tos_endpoint(&self) -> String {
        self.tos.url()
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Every request so far, API and TOS, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// The collection's Arrow schema (the datagen `vikingdb` profile).
    pub fn collection_schema(&self) -> SchemaRef {
        schema_of(Profile::Vikingdb, Some(self.shared.config.dim))
    }

    /// The whole collection in id order, for tests to compare exports with.
    pub fn collection_batches(&self) -> Vec<RecordBatch> {
        let data = &self.shared.data;
        let step = data.batch_size as u64;
        (0..data.rows.div_ceil(step))
            .map(|i| {
                let start = i * step;
                let len = (data.rows - start).min(step) as usize;
                generate_batch(data, start, len, None).expect("a validated datagen config")
            })
            .collect()
    }

    /// Stores an object in the bucket, as a stray upload would (`_SUCCESS`, `../evil`, …).
    /// The truncation fault applies as to any object created while it is on.
    pub fn put_object(&self, key: &str, bytes: Vec<u8>) {
        self.shared.bucket.put(
            key.to_string(),
            bytes.into(),
            self.shared.faults.truncating(),
        );
    }
}

impl Drop for VikingDbEmulator {
    fn drop(&mut self) {
        // Export writers run on blocking threads that no abort reaches; they poll this.
        self.shared.tasks.cancel_all();
    }
}

/// State shared by both listeners and the emulator handle.
pub(crate) struct Shared {
    config: EmulatorConfig,
    /// The collection as datagen makes it.
    data: DatagenConfig,
    faults: Faults,
    log: Mutex<Vec<RecordedRequest>>,
    bucket: Bucket,
    tasks: Tasks,
    api_auth: Verifier,
    tos_auth: Verifier,
    /// Request and task ids.
    next_id: AtomicU64,
    /// When the collection was "created" (unix seconds).
    started: u64,
}

impl Shared {
    fn new(config: EmulatorConfig) -> io::Result<Self> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if config.rows_per_part == 0 || config.row_group_rows == 0 || config.list_page_size == 0 {
            return Err(invalid(
                "rows_per_part, row_group_rows and list_page_size must be positive",
            ));
        }
        let data = DatagenConfig {
            rows: config.rows,
            seed: config.seed,
            batch_size: 8192,
            profile: Profile::Vikingdb,
            dim: Some(config.dim),
        };
        data.validate().map_err(|e| invalid(e.message()))?;
        let verifier = |scheme, region: &str, service: &str| Verifier {
            scheme,
            access_key: config.access_key.clone(),
            secret_key: config.secret_key.clone(),
            region: region.to_string(),
            service: service.to_string(),
        };
        Ok(Shared {
            api_auth: verifier(Scheme::OpenApi, &config.region, "air"),
            tos_auth: verifier(Scheme::Tos, &config.tos_region, "tos"),
            data,
            faults: Faults::default(),
            log: Mutex::default(),
            bucket: Bucket::default(),
            tasks: Tasks::default(),
            next_id: AtomicU64::new(1),
            started: clock::now(),
            config,
        })
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A request id, as both services put in every answer.
    fn request_id(&self) -> String {
        format!("emu{:016x}", self.next_id())
    }

    fn record(&self, request: RecordedRequest) {
        lock(&self.log).push(request);
    }
}

/// Locks a mutex, ignoring poisoning: every critical section leaves its data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
