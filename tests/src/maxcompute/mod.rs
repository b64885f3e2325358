//! A loopback emulator of MaxCompute (ODPS): the meta API (tables and partitions, XML; SQL
//! instances just far enough to `CREATE TABLE` and `ALTER TABLE … ADD PARTITION`) and the Table Tunnel's
//! downloads and uploads (sessions in JSON, data as record streams or CRC-framed Arrow),
//! written from the protocol spec (`shared/protocols/maxcompute-tunnel.md`) alone,
//! independently of arrowport's own client, so that it catches the client's mistakes. Real
//! PyODPS 0.13.2 reads every fixture through it and writes into it
//! (`tests/compat/test_maxcompute_pyodps.py`).
//!
//! Two listeners on `127.0.0.1`: the meta API under `/api` and the tunnel. Both verify every
//! request's ODPS signature (v2, or v4 for [`MaxComputeConfig::region`]). The read fixtures
//! (`all_types`, `empty`, `narrow`, `sales`) are generated from `arrowport_datagen` on
//! demand, so bodies stream in pieces and a large `narrow` costs no memory; the write
//! fixtures (`sink_target`, `sink_parts`, `narrow_sink`, `vectors`) start empty. Every table
//! takes uploads: a committed upload session appends to (or, with `overwrite`, replaces) a
//! table or partition, and from then on listings, partition facts, new download sessions
//! and [`MaxComputeEmulator::table_batches`] show it; a download session keeps serving what
//! it froze (after refusing with `TableModified` unless `disable_modified_check=true`).
//! [`Faults`] scripts failures at run time; [`MaxComputeEmulator::requests`],
//! [`MaxComputeEmulator::uploads`] and [`MaxComputeEmulator::commits`] tell what arrived.

mod arrow_frame;
mod auth;
mod body;
mod compress;
mod ddl;
mod faults;
mod instances;
mod meta;
mod record;
mod record_decode;
mod tables;
mod tunnel;
mod upload;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use self::auth::Verifier;
pub use self::faults::{Faults, Route};
use self::tables::TableDef;
use self::tunnel::Sessions;
pub use self::upload::UploadSummary;
use crate::http::HttpServer;

/// What the emulator serves. `Default` gives tables a test reads in milliseconds; a benchmark
/// raises `narrow_rows`.
#[derive(Clone)]
pub struct MaxComputeConfig {
    /// The one project.
    pub project: String,
    pub access_id: String,
    pub secret_access_key: String,
    /// The region v4 signatures must be scoped to.
    pub region: String,
    /// Rows of `all_types` (ids `0..rows`).
    pub rows: u64,
    /// Rows of `narrow` (ids `0..narrow_rows`).
    pub narrow_rows: u64,
    /// Rows of each non-empty partition of `sales`.
    pub partition_rows: u64,
    /// Seed of the datagen profiles the data comes from.
    pub seed: u64,
    /// Most tables one listing page returns, whatever `maxitems` asks for.
    pub table_page_size: usize,
    /// Most partitions one listing page returns, whatever `maxitems` asks for.
    pub partition_page_size: usize,
    /// Meta API port; 0 picks a free one.
    pub meta_port: u16,
    /// Tunnel port; 0 picks a free one.
    pub tunnel_port: u16,
    /// Answer a `rowrange` past the session's end (or of count 0) with the rows there are,
    /// instead of HTTP 400 `InvalidRowRange` (spec open question 2; PyODPS's
    /// `to_pandas(n_process=k)` asks past the end for odd splits).
    pub clamp_row_range: bool,
}

impl Default for MaxComputeConfig {
    fn default() -> Self {
        MaxComputeConfig {
            project: "emu_project".into(),
            access_id: "emulator-access-id".into(),
            secret_access_key: "ZW11bGF0b3Itb2Rwcy1zZWNyZXQ/Kz0=".into(),
            region: "cn-hangzhou".into(),
            rows: 1000,
            narrow_rows: 1000,
            partition_rows: 100,
            seed: 42,
            table_page_size: 100,
            partition_page_size: 100,
            meta_port: 0,
            tunnel_port: 0,
            clamp_row_range: false,
        }
    }
}

impl fmt::Debug for MaxComputeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxComputeConfig")
            .field("project", &self.project)
            .field("access_id", &self.access_id)
            .field("secret_access_key", &"<redacted>")
            .field("region", &self.region)
            .field("rows", &self.rows)
            .field("narrow_rows", &self.narrow_rows)
            .field("partition_rows", &self.partition_rows)
            .field("seed", &self.seed)
            .field("table_page_size", &self.table_page_size)
            .field("partition_page_size", &self.partition_page_size)
            .field("meta_port", &self.meta_port)
            .field("tunnel_port", &self.tunnel_port)
            .field("clamp_row_range", &self.clamp_row_range)
            .finish()
    }
}

/// Which listener a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Meta,
    Tunnel,
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
    /// The `Accept-Encoding` header, if any.
    pub accept_encoding: Option<String>,
    /// The `Content-Encoding` header (of a block upload), if any.
    pub content_encoding: Option<String>,
    pub status: u16,
}

impl RecordedRequest {
    /// A query parameter, decoded; `Some("")` for a bare key such as `data`.
    pub fn param(&self, name: &str) -> Option<String> {
        auth::query_map(&self.query).remove(name)
    }
}

/// The running emulator. Dropping it stops both servers, cutting any body still streaming.
pub struct MaxComputeEmulator {
    shared: Arc<Shared>,
    meta: HttpServer,
    tunnel: HttpServer,
}

impl fmt::Debug for MaxComputeEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxComputeEmulator")
            .field("meta", &self.meta.addr())
            .field("tunnel", &self.tunnel.addr())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl MaxComputeEmulator {
    /// Binds both listeners. Must be called within a tokio runtime. Fails with `InvalidInput`
    /// for a config the emulator cannot serve (zero page sizes, more rows than Int64 ids).
    pub async fn start(config: MaxComputeConfig) -> io::Result<Self> {
        let shared = Arc::new(Shared::new(config)?);
        let tunnel = {
            let shared = shared.clone();
            HttpServer::bind(shared.config.tunnel_port, move |req| {
                tunnel::handle(shared.clone(), req)
            })
            .await?
        };
        shared
            .tunnel_addr
            .set(tunnel.addr())
            .expect("set once, before the meta API serves");
        let meta = {
            let shared = shared.clone();
            HttpServer::bind(shared.config.meta_port, move |req| {
                meta::handle(shared.clone(), req)
            })
            .await?
        };
        shared
            .meta_addr
            .set(meta.addr())
            .expect("set once, before anyone knows the address");
        Ok(MaxComputeEmulator {
            shared,
            meta,
            tunnel,
        })
    }

    /// `http://127.0.0.1:PORT/api`, the meta API endpoint as PyODPS takes it.
    pub fn endpoint(&self) -> String {
        format!("{}{}", self.meta.url(), meta::PREFIX)
    }

    /// `http://127.0.0.1:PORT` of the tunnel.
    pub fn tunnel_endpoint(&self) -> String {
        self.tunnel.url()
    }

    pub fn config(&self) -> &MaxComputeConfig {
        &self.shared.config
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Upload sessions committed so far.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::SeqCst)
    }

    /// Every upload session created so far, in creation order, with the blocks it holds.
    pub fn uploads(&self) -> Vec<UploadSummary> {
        upload::summaries(&self.shared)
    }

    /// Every request so far, meta and tunnel, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// The data columns of `table` in the Arrow layout the tunnel serves (partition columns
    /// are not part of it).
    ///
    /// # Panics
    /// If the emulator has no such table.
    pub fn table_schema(&self, table: &str) -> SchemaRef {
        self.shared.table_or_panic(table).schema()
    }

    /// The exact rows the tunnel serves for `table`, all data columns, in chunks of 8192 rows.
    /// `partition` (`"pt=a,dt=20230118"`) picks one partition of a partitioned table; `None`
    /// gives all partitions in listing order.
    ///
    /// # Panics
    /// If the emulator has no such table or partition.
    pub fn table_batches(&self, table: &str, partition: Option<&str>) -> Vec<RecordBatch> {
        let def = self.shared.table_or_panic(table);
        let sections: Vec<_> = match (partition, def.is_partitioned()) {
            (Some(spec), _) => {
                let pairs = tables::parse_spec(spec);
                match def.find_partition(&pairs) {
                    Ok(Some(p)) => vec![Some(p)],
                    Ok(None) => panic!("table `{table}` has no partition `{spec}`"),
                    Err(e) => panic!("bad partition `{spec}` for `{table}`: {e}"),
                }
            }
            (None, true) => def.listing_order().into_iter().map(Some).collect(),
            (None, false) => vec![None],
        };
        sections
            .into_iter()
            .flat_map(|s| {
                def.section_batches(s)
                    .unwrap_or_else(|e| panic!("cannot generate `{table}`: {e}"))
            })
            .collect()
    }
}

/// State shared by both listeners and the emulator handle.
pub(crate) struct Shared {
    config: MaxComputeConfig,
    /// The fixtures, then tables made by `CREATE TABLE`, sorted by name.
    tables: RwLock<Vec<Arc<TableDef>>>,
    faults: Faults,
    log: Mutex<Vec<RecordedRequest>>,
    sessions: Sessions,
    uploads: upload::Uploads,
    /// SQL instances submitted to the meta API.
    instances: instances::Instances,
    /// Upload sessions committed.
    commits: AtomicU64,
    auth: Verifier,
    /// Where the tunnel listens, for `GET /projects/{p}/tunnel?service`.
    tunnel_addr: OnceLock<SocketAddr>,
    /// Where the meta API listens, for the `Location` of SQL instances.
    meta_addr: OnceLock<SocketAddr>,
    /// Request and session ids.
    next_id: AtomicU64,
}

impl Shared {
    fn new(config: MaxComputeConfig) -> io::Result<Self> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if config.table_page_size == 0 || config.partition_page_size == 0 {
            return Err(invalid(
                "table_page_size and partition_page_size must be positive",
            ));
        }
        let most = config
            .rows
            .max(config.narrow_rows)
            .max(config.partition_rows.saturating_mul(3));
        if most > i64::MAX as u64 {
            return Err(invalid("row counts must fit Int64 ids"));
        }
        Ok(Shared {
            auth: Verifier {
                access_id: config.access_id.clone(),
                secret: config.secret_access_key.clone(),
                region: config.region.clone(),
            },
            tables: RwLock::new(tables::fixtures(&config)),
            faults: Faults::default(),
            log: Mutex::default(),
            sessions: Sessions::default(),
            tunnel_addr: OnceLock::new(),
            meta_addr: OnceLock::new(),
            next_id: AtomicU64::new(1),
            uploads: upload::Uploads::default(),
            instances: instances::Instances::default(),
            commits: AtomicU64::new(0),
            config,
        })
    }

    fn count_commit(&self) {
        self.commits.fetch_add(1, Ordering::SeqCst);
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A request id, as both services put in every answer (`x-odps-request-id`).
    fn request_id(&self) -> String {
        format!("20230119123456emu{:015x}", self.next_id())
    }

    fn table(&self, name: &str) -> Option<Arc<TableDef>> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    /// Every table, sorted by name.
    fn all_tables(&self) -> Vec<Arc<TableDef>> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Adds a created table; `false` (and nothing added) if one of that name exists.
    fn add_table(&self, table: TableDef) -> bool {
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if tables
            .iter()
            .any(|t| t.name.eq_ignore_ascii_case(&table.name))
        {
            return false;
        }
        tables.push(Arc::new(table));
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        true
    }

    fn table_or_panic(&self, name: &str) -> Arc<TableDef> {
        self.table(name).unwrap_or_else(|| {
            let names: Vec<_> = self.all_tables().iter().map(|t| t.name.clone()).collect();
            panic!(
                "the emulator has no table `{name}`; it has {}",
                names.join(", ")
            )
        })
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
