//! The MaxCompute [`ExportSource`]: the schema from the meta API, rows from Table Tunnel
//! download sessions read by row range in parallel and delivered in order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Schema, SchemaRef};
use arrowport_core::options::{CredentialVars, env_credentials, suggestion};
use arrowport_core::progress::ProgressEvent;
use arrowport_core::scan::estimated_row_width;
use arrowport_core::split::foreign_token;
use arrowport_core::stream::ordered_parallel;
use arrowport_core::{
    Context, Error, ErrorKind, ExportSource, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, SourceCapabilities, Split, SplitToken, async_trait,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::OnceCell;

use crate::client::Client;
use crate::config::{Config, Format};
use crate::partition::PartitionSpec;
use crate::read::{OutputColumn, READ_AHEAD, SessionRead, read_range};
use crate::session::{self, SessionInfo, SessionTarget, describe};
use crate::sign::Credentials;
use crate::types::{Column, TypeMapping};
use crate::{NAME, scope};

/// Batches each running range read may hold ahead of the consumer.
const BUFFER: usize = 2;

/// Rows per batch of the record format unless the scan asks otherwise.
const DEFAULT_BATCH_SIZE: usize = 8192;

/// Body bytes one tunnel request aims at when `split_rows` is not given: big enough that
/// request overhead vanishes, small enough that parallel reads keep memory flat.
const TARGET_REQUEST_BYTES: u64 = 8 << 20;

/// Exports one table (or some of its partitions). Building it is pure; the first call that
/// needs the service fetches the table's schema, once.
#[derive(Debug)]
pub struct MaxComputeSource {
    config: Config,
    credentials: Option<Credentials>,
    connected: OnceCell<Arc<Connected>>,
    /// Sessions joined by split tokens, by download id and columns: the splits of one
    /// session share one status request.
    joined: Mutex<HashMap<JoinKey, Joined>>,
}

/// A download id and the columns read from it.
type JoinKey = (String, Option<Vec<String>>);
/// A session joined once for every split that reads it.
type Joined = Arc<OnceCell<Arc<SessionRead>>>;

/// A split's token: the session it reads (a snapshot that lives about a day), its rows,
/// and how they are delivered.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    project: String,
    schema: Option<String>,
    table: String,
    /// The partition in tunnel form (`pt=a,dt=b`), for partitioned tables.
    partition: Option<String>,
    download_id: String,
    start: u64,
    count: u64,
    /// The delivered columns, `None` for all.
    columns: Option<Vec<String>>,
    format: Format,
    batch_size: usize,
}

#[derive(Debug)]
struct Connected {
    client: Client,
    table: String,
    columns: Vec<Column>,
    partition_keys: Vec<Column>,
    mapping: TypeMapping,
    /// Data columns, then the partition keys when `partition_columns` is set.
    schema: SchemaRef,
}

/// One session ready to read, with its place in the export.
struct Opened {
    target: SessionTarget,
    info: SessionInfo,
}

impl MaxComputeSource {
    pub fn new(config: Config) -> Self {
        MaxComputeSource {
            config,
            credentials: None,
            connected: OnceCell::new(),
            joined: Mutex::default(),
        }
    }

    /// Uses these credentials instead of the environment variables the config names.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    async fn connect(&self, cx: &Context) -> Result<Arc<Connected>> {
        self.connected
            .get_or_try_init(|| async {
                let credentials = match &self.credentials {
                    Some(c) => c.clone(),
                    None => credentials(&self.config)?,
                };
                let table = self.config.table()?.to_string();
                if self.config.prefix.is_some() {
                    return Err(Error::config(format!(
                        "{NAME}: `prefix` filters `arrowport tables`; an export reads one table"
                    )));
                }
                let client = Client::new(&self.config, credentials, cx)?;
                let meta = client.table(&table, cx).await?;
                let columns = meta.columns()?;
                let partition_keys = meta.partition_keys()?;
                let mapping = self.config.type_mapping();
                let mut all = columns.clone();
                if self.config.partition_columns {
                    all.extend(partition_keys.iter().cloned());
                }
                let schema = SessionRead::schema_of(&all, &mapping)?;
                Ok(Arc::new(Connected {
                    client,
                    table,
                    columns,
                    partition_keys,
                    mapping,
                    schema,
                }))
            })
            .await
            .cloned()
    }
}

/// Resolves the partitions and opens one session per target (joining `download_id`).
async fn open_sessions(config: &Config, conn: &Connected, cx: &Context) -> Result<Vec<Opened>> {
    let targets =
        scope::targets(&conn.client, config, &conn.table, &conn.partition_keys, cx).await?;
    cx.emit(ProgressEvent::Phase {
        name: "creating_sessions".into(),
        detail: Some(format!("{} download session(s)", targets.len())),
    });
    let download_id = config.download_id.as_deref();
    futures::stream::iter(targets)
        .map(|target| async move {
            let info = session::open(&conn.client, &target, download_id, cx).await?;
            check_session_schema(conn, &target, &info)?;
            Ok::<_, Error>(Opened { target, info })
        })
        .buffered(cx.parallelism().clamp(1, 8))
        .try_collect()
        .await
}

#[async_trait]
impl ExportSource for MaxComputeSource {
    async fn schema(&self, cx: &Context) -> Result<SchemaRef> {
        Ok(self.connect(cx).await?.schema.clone())
    }

    /// Opens the download sessions (free, read-only snapshots that expire on their own) and
    /// cuts them into the row ranges `open` reads, up to the scan's limit; the tokens name
    /// the sessions, so any process can read them without opening new ones.
    async fn plan(&self, scan: &Scan, cx: &Context) -> Result<Vec<Split>> {
        let conn = self.connect(cx).await?;
        let read = Projection::new(&conn, scan)?;
        let sessions = open_sessions(&self.config, &conn, cx).await?;
        let batch_size = scan.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        let mut remaining = scan.limit.unwrap_or(u64::MAX);
        let mut splits = Vec::new();
        for (i, opened) in sessions.iter().enumerate() {
            record_session(cx, i, opened);
            let rows = opened.info.record_count.min(remaining);
            remaining -= rows;
            for (start, count) in ranges(rows, read.split_rows(&self.config)) {
                let token = Token {
                    project: self.config.project.clone(),
                    schema: self.config.schema.clone(),
                    table: conn.table.clone(),
                    partition: opened
                        .target
                        .partition
                        .as_ref()
                        .map(|p| p.to_tunnel_string()),
                    download_id: opened.info.id.clone(),
                    start,
                    count,
                    columns: scan.columns.clone(),
                    format: self.config.format,
                    batch_size,
                };
                let description = format!(
                    "{} rows {start}..{} (download_id={})",
                    describe(&opened.target),
                    start + count,
                    opened.info.id
                );
                let token = SplitToken::new(NAME, &token)?;
                splits.push(Split::new(splits.len(), description, token).with_rows(count));
            }
        }
        Ok(splits)
    }

    /// Joins the token's session (once for all its splits) and reads its rows. A session
    /// that expired is an error that says to plan again.
    async fn open_split(
        &self,
        token: &SplitToken,
        cx: &Context,
    ) -> Result<SendableRecordBatchStream> {
        let t: Token = token.decode(NAME)?;
        let ours = (
            &self.config.project,
            &self.config.schema,
            self.config.table()?,
        );
        if (&t.project, &t.schema, t.table.as_str()) != ours {
            let table = |project: &str, table: &str| format!("table `{project}/{table}`");
            let (theirs, ours) = (table(&t.project, &t.table), table(ours.0, ours.2));
            return Err(
                foreign_token(NAME, &theirs, &ours).with_context("download_id", &t.download_id)
            );
        }
        let conn = self.connect(cx).await?;
        let projection = Projection::new(&conn, &Scan::new().with_columns(t.columns.clone()))?;
        let schema = projection.output.clone();
        let cell = self
            .joined
            .lock()
            .unwrap()
            .entry((t.download_id.clone(), t.columns.clone()))
            .or_default()
            .clone();
        let config = self.config.clone();
        let cx = cx.clone();
        let stream = futures::stream::once(async move {
            let session = cell
                .get_or_try_init(|| join_session(&config, &conn, &projection, &t, &cx))
                .await;
            match session {
                Ok(session) => read_range(session.clone(), t.start, t.count, cx),
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            }
        })
        .flatten();
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    async fn open(&self, scan: &Scan, cx: &Context) -> Result<SendableRecordBatchStream> {
        let conn = self.connect(cx).await?;
        let projection = Projection::new(&conn, scan)?;
        let schema = projection.output.clone();
        let parallelism = scan.parallelism_or(cx);
        let batch_size = scan.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        let limit = scan.limit;
        let config = self.config.clone();
        let cx = cx.clone();
        // Nothing remote happens until the stream is first polled.
        let stream = futures::stream::once(async move {
            let sessions = match open_sessions(&config, &conn, &cx).await {
                Ok(s) => s,
                Err(e) => return futures::stream::once(async { Err(e) }).boxed(),
            };
            let mut parts = Vec::new();
            let mut remaining = limit.unwrap_or(u64::MAX);
            let step = projection.request_rows(&config);
            for (i, opened) in sessions.into_iter().enumerate() {
                record_session(&cx, i, &opened);
                let rows = opened.info.record_count.min(remaining);
                remaining -= rows;
                let read = match projection.session_read(&conn, &config, opened, batch_size) {
                    Ok(r) => Arc::new(r),
                    Err(e) => return futures::stream::once(async { Err(e) }).boxed(),
                };
                parts.extend(ranges(rows, step).map(|(start, count)| (read.clone(), start, count)));
            }
            let total = limit.unwrap_or(u64::MAX) - remaining;
            cx.report().promise_rows(total);
            cx.emit(ProgressEvent::Total {
                rows: Some(total),
                bytes: None,
            });
            cx.emit(ProgressEvent::phase("downloading"));
            let cx = cx.clone();
            // The parts are requests: each of the `parallelism` reads keeps the next request
            // in flight as a split's range read does, so that a body arrives while the one
            // before is decoded.
            let in_flight = parallelism * READ_AHEAD;
            ordered_parallel(parts, in_flight, BUFFER, move |(read, start, count)| {
                read_range(read, start, count, cx.clone())
            })
        })
        .flatten();
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    fn capabilities(&self) -> SourceCapabilities {
        SourceCapabilities::new(true, true)
    }
}

/// The scan's columns mapped onto the table: what to ask the tunnel for and how to build the
/// output batches.
#[derive(Debug)]
struct Projection {
    output: SchemaRef,
    /// Output column names, in output order.
    names: Vec<String>,
    /// Every data column requested (all of them for `None`).
    data_columns: Option<Vec<String>>,
}

impl Projection {
    fn new(conn: &Connected, scan: &Scan) -> Result<Self> {
        let Some(wanted) = &scan.columns else {
            return Ok(Projection {
                output: conn.schema.clone(),
                names: conn
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
                data_columns: None,
            });
        };
        let known: Vec<&str> = conn
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        for name in wanted {
            if known.contains(&name.as_str()) {
                continue;
            }
            if conn.partition_keys.iter().any(|k| &k.name == name) {
                return Err(Error::config(format!(
                    "{NAME}: `{name}` is a partition key of `{}`; add `partition_columns=true` to \
                     deliver it",
                    conn.table
                )));
            }
            return Err(Error::config(format!(
                "{NAME}: table `{}` has no column `{name}`{}",
                conn.table,
                suggestion(name, &known)
            )));
        }
        let output = arrowport_core::pipeline::project_schema(&conn.schema, Some(wanted))?;
        // The tunnel gets the data columns in table order whatever order the user asked for
        // (PyODPS's Arrow decoder assumes table order); batches are reordered by name.
        let data_columns = conn
            .columns
            .iter()
            .filter(|c| wanted.contains(&c.name))
            .map(|c| c.name.clone())
            .collect();
        Ok(Projection {
            output,
            names: wanted.clone(),
            data_columns: Some(data_columns),
        })
    }

    /// Rows per split of a plan: `split_rows`, or one request's worth.
    fn split_rows(&self, config: &Config) -> u64 {
        config
            .split_rows
            .unwrap_or_else(|| self.request_rows(config))
    }

    /// Rows per tunnel request: about [`TARGET_REQUEST_BYTES`] of body, or fewer when
    /// `split_rows` is smaller. A bigger split is read in several requests.
    fn request_rows(&self, config: &Config) -> u64 {
        let width = estimated_row_width(&self.output) as u64;
        let sized = (TARGET_REQUEST_BYTES / width.max(1)).clamp(4096, 1 << 20);
        config.split_rows.map_or(sized, |rows| rows.min(sized))
    }

    fn session_read(
        &self,
        conn: &Connected,
        config: &Config,
        opened: Opened,
        batch_size: usize,
    ) -> Result<SessionRead> {
        let wire: Vec<Column> = match &self.data_columns {
            None => opened.info.columns.clone(),
            Some(names) => names
                .iter()
                .map(|n| {
                    opened
                        .info
                        .columns
                        .iter()
                        .find(|c| &c.name == n)
                        .cloned()
                        .ok_or_else(|| {
                            Error::schema(format!(
                                "{NAME}: the download session of {} has no column `{n}`",
                                describe(&opened.target)
                            ))
                        })
                })
                .collect::<Result<_>>()?,
        };
        let wire_schema = SessionRead::schema_of(&wire, &conn.mapping)?;
        let values = opened.target.partition.as_ref();
        let assembly = self
            .names
            .iter()
            .map(|name| {
                if let Some(i) = wire.iter().position(|c| &c.name == name) {
                    return Ok(OutputColumn::Wire(i));
                }
                let key = conn
                    .partition_keys
                    .iter()
                    .find(|k| &k.name == name)
                    .expect("output columns are data columns or partition keys");
                let value = values.and_then(|p| p.get(&key.name)).ok_or_else(|| {
                    Error::schema(format!(
                        "{NAME}: no value for partition key `{name}` in {}",
                        describe(&opened.target)
                    ))
                })?;
                SessionRead::constant(key, value, &conn.mapping).map(OutputColumn::Constant)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SessionRead {
            client: conn.client.clone(),
            target: opened.target,
            download_id: opened.info.id,
            format: config.format,
            compression: config.compression,
            request_columns: self.data_columns.clone(),
            wire,
            wire_schema,
            output: self.output.clone(),
            assembly,
            batch_size,
            mapping: conn.mapping.clone(),
            request_rows: self.request_rows(config),
        })
    }
}

/// The session a token names, ready to read: still alive, and still of the table's schema.
async fn join_session(
    config: &Config,
    conn: &Connected,
    projection: &Projection,
    token: &Token,
    cx: &Context,
) -> Result<Arc<SessionRead>> {
    let partition = token
        .partition
        .as_deref()
        .map(PartitionSpec::parse)
        .transpose()?;
    let target = SessionTarget {
        table: conn.table.clone(),
        partition,
    };
    let info = session::open(&conn.client, &target, Some(&token.download_id), cx)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::Cancelled => e,
            _ if e.is_temporary() => e,
            _ => e
                .with_context("download_id", &token.download_id)
                .with_note(format!(
                    "the split reads download session {} of {}, which the tunnel no longer \
                     serves (sessions expire about a day after they are opened): plan again, or \
                     pass --restart to export a new snapshot",
                    token.download_id,
                    describe(&target)
                )),
        })?;
    check_session_schema(conn, &target, &info)?;
    if token.start.saturating_add(token.count) > info.record_count {
        return Err(Error::config(format!(
            "{NAME}: the split token reads rows {}..{} but download session {} holds {}",
            token.start,
            token.start.saturating_add(token.count),
            token.download_id,
            info.record_count
        )));
    }
    let mut config = config.clone();
    config.format = token.format;
    let read = projection.session_read(conn, &config, Opened { target, info }, token.batch_size)?;
    Ok(Arc::new(read))
}

/// `(start, count)` pieces of `0..rows`, each at most `step` rows.
fn ranges(rows: u64, step: u64) -> impl Iterator<Item = (u64, u64)> {
    let step = step.max(1);
    (0..rows.div_ceil(step)).map(move |i| {
        let start = i * step;
        (start, step.min(rows - start))
    })
}

/// Session facts for the manifest, so a crashed export can rejoin its snapshot.
fn record_session(cx: &Context, index: usize, opened: &Opened) {
    let mut fact = json!({
        "download_id": opened.info.id,
        "record_count": opened.info.record_count,
    });
    if let Some(p) = &opened.target.partition {
        fact["partition"] = json!(p.to_tunnel_string());
    }
    cx.report().set_info(format!("session_{index}"), fact);
    if index == 0 {
        cx.report().set_info("download_id", opened.info.id.clone());
    }
}

/// The session's schema must still be the table's: a table altered between the schema call
/// and the session would otherwise deliver batches that do not match.
fn check_session_schema(
    conn: &Connected,
    target: &SessionTarget,
    info: &SessionInfo,
) -> Result<()> {
    let table = Schema::new(
        conn.columns
            .iter()
            .map(|c| c.to_arrow(&conn.mapping))
            .collect::<Result<Vec<_>>>()?,
    );
    let session = Schema::new(
        info.columns
            .iter()
            .map(|c| c.to_arrow(&conn.mapping))
            .collect::<Result<Vec<_>>>()?,
    );
    if table.fields() != session.fields() {
        return Err(Error::schema(format!(
            "{NAME}: the download session of {} has a different schema than the table \
             (was it altered?): table {:?}, session {:?}",
            describe(target),
            conn.columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty))
                .collect::<Vec<_>>(),
            info.columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.ty))
                .collect::<Vec<_>>(),
        ))
        .with_context("download_id", &info.id));
    }
    Ok(())
}

/// Credentials from the environment variables the config names (the SDKs' by default).
pub fn credentials(config: &Config) -> Result<Credentials> {
    let (id, secret, token) = env_credentials(CredentialVars {
        plugin: NAME,
        id: ("access_id_env", &config.access_id_env),
        secret: ("secret_access_key_env", &config.secret_access_key_env),
        token: ("security_token_env", &config.security_token_env),
    })?;
    let credentials = Credentials::new(id, secret);
    Ok(match token {
        Some(token) => credentials.with_sts_token(token),
        None => credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_row_once_and_clamp_the_last() {
        assert_eq!(ranges(0, 10).count(), 0);
        assert_eq!(ranges(9, 5).collect::<Vec<_>>(), vec![(0, 5), (5, 4)]);
        assert_eq!(ranges(10, 5).collect::<Vec<_>>(), vec![(0, 5), (5, 5)]);
        assert_eq!(ranges(3, 100).collect::<Vec<_>>(), vec![(0, 3)]);
    }
}
