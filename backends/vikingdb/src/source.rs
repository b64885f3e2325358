//! The VikingDB [`ExportSource`]: schema from `collection/info`, rows from an export task's
//! files on TOS, read in parallel and delivered in file order.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrowport_core::options::{CredentialVars, env_credentials, suggestion};
use arrowport_core::pipeline::project_schema;
use arrowport_core::scan::estimated_row_width;
use arrowport_core::split::foreign_token;
use arrowport_core::stream::ordered_parallel;
use arrowport_core::{
    Context, Error, ExportSource, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, SourceCapabilities, Split, SplitToken, async_trait,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::client::ApiClient;
use crate::config::{Config, FileType, parse_endpoint};
use crate::model::CollectionInfo;
use crate::read::read_object;
use crate::sign::Credentials;
use crate::tos::{ObjectInfo, TosClient};
use crate::{NAME, task};

/// Batches each running download may hold ahead of the consumer.
const BUFFER: usize = 2;

/// Bytes a batch should hold, roughly, unless the scan asks for a row count: every batch a
/// download or the sink holds costs this much, and embeddings make rows wide. 1.5 MiB
/// decoded fastest (`bench/python_read.py`): 2,048 rows of 128-dim vectors; a batch of
/// 8,192 took 15 % more CPU, as its level buffers no longer stay in cache.
const BATCH_BYTES: usize = 3 << 19;
/// Rows per batch, at least and at most, whatever the rows' width.
const BATCH_ROWS: (usize, usize) = (1024, 8192);

/// Exports one collection. Building it is pure; the first call that needs the service
/// connects and fetches the collection's schema, once.
#[derive(Debug)]
pub struct VikingDbSource {
    config: Config,
    /// Set by embedders that hold credentials themselves; otherwise read from the environment.
    credentials: Option<Arc<Credentials>>,
    connected: OnceCell<Arc<Connected>>,
}

/// A split's token: one file an export task wrote, with the size and CRC-64 it must have.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    collection: String,
    task_id: String,
    bucket: String,
    key: String,
    size: u64,
    crc64: Option<u64>,
    file_type: FileType,
    /// The delivered columns, `None` for all.
    columns: Option<Vec<String>>,
    batch_size: usize,
}

#[derive(Debug)]
struct Connected {
    api: ApiClient,
    tos: TosClient,
    schema: SchemaRef,
}

impl VikingDbSource {
    pub fn new(config: Config) -> Self {
        VikingDbSource {
            config,
            credentials: None,
            connected: OnceCell::new(),
        }
    }

    /// Uses these credentials instead of the environment variables the config names.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(Arc::new(credentials));
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
                    None => Arc::new(credentials(&self.config)?),
                };
                let http = arrowport_core::http::client(cx.http())?;
                let api = ApiClient::new(
                    http.clone(),
                    parse_endpoint("endpoint", &self.config.endpoint)?,
                    self.config.region.clone(),
                    self.config.service.clone(),
                    credentials.clone(),
                );
                let tos = TosClient::new(
                    http,
                    parse_endpoint("tos_endpoint", &self.config.tos_endpoint())?,
                    self.config.tos_region.clone(),
                    self.config.tos_path_style,
                    credentials,
                );
                let info = api.collection_info(&self.config.collection, cx).await?;
                let schema = info.arrow_schema()?;
                check_filter_fields(&self.config, &info)?;
                Ok(Arc::new(Connected { api, tos, schema }))
            })
            .await
            .cloned()
    }
}

#[async_trait]
impl ExportSource for VikingDbSource {
    async fn schema(&self, cx: &Context) -> Result<SchemaRef> {
        Ok(self.connect(cx).await?.schema.clone())
    }

    /// One split per file of the export task: the task named by `task_id`, or a new one,
    /// created here (it is billed: see [`SourceCapabilities::billed_plan`]) and polled until
    /// it is done. The tokens name the task's files, so reading them never exports again.
    async fn plan(&self, scan: &Scan, cx: &Context) -> Result<Vec<Split>> {
        let conn = self.connect(cx).await?;
        let target = project_schema(&conn.schema, scan.columns.as_deref())?;
        let batch_size = scan.batch_size.unwrap_or_else(|| batch_rows(&target));
        let files = task::run(&self.config, &conn.api, &conn.tos, cx).await?;
        let task_id = cx
            .report()
            .info()
            .get("task_id")
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        files
            .objects
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let description = format!("tos://{}/{}", files.bucket, o.key);
                let size = o.size;
                let token = Token {
                    collection: self.config.collection.clone(),
                    task_id: task_id.clone(),
                    bucket: files.bucket.clone(),
                    key: o.key,
                    size,
                    crc64: o.crc64,
                    file_type: files.file_type,
                    columns: scan.columns.clone(),
                    batch_size,
                };
                let token = SplitToken::new(NAME, &token)?;
                Ok(Split::new(i, description, token).with_bytes(size))
            })
            .collect()
    }

    /// Reads the token's file: its size and CRC-64 are checked once its last byte is in.
    async fn open_split(
        &self,
        token: &SplitToken,
        cx: &Context,
    ) -> Result<SendableRecordBatchStream> {
        let t: Token = token.decode(NAME)?;
        if t.collection != self.config.collection {
            let collection = |name: &str| format!("collection `{name}`");
            let ours = collection(&self.config.collection);
            return Err(foreign_token(NAME, &collection(&t.collection), &ours)
                .with_context("task_id", &t.task_id));
        }
        let conn = self.connect(cx).await?;
        let target = project_schema(&conn.schema, t.columns.as_deref())?;
        let object = ObjectInfo {
            key: t.key,
            size: t.size,
            crc64: t.crc64,
        };
        let stream = read_object(
            conn.tos.clone(),
            t.bucket,
            object,
            t.file_type,
            target.clone(),
            t.batch_size,
            cx.clone(),
        );
        Ok(RecordBatchStreamAdapter::sendable(target, stream))
    }

    async fn open(&self, scan: &Scan, cx: &Context) -> Result<SendableRecordBatchStream> {
        let conn = self.connect(cx).await?;
        let target = project_schema(&conn.schema, scan.columns.as_deref())?;
        let parallelism = scan.parallelism_or(cx);
        let batch_size = scan.batch_size.unwrap_or_else(|| batch_rows(&target));
        let config = self.config.clone();
        let cx = cx.clone();
        let schema = target.clone();
        // Nothing remote happens until the stream is first polled.
        let stream = futures::stream::once(async move {
            let files = task::run(&config, &conn.api, &conn.tos, &cx).await;
            match files {
                Ok(files) => {
                    let tos = conn.tos.clone();
                    ordered_parallel(files.objects, parallelism, BUFFER, move |object| {
                        read_object(
                            tos.clone(),
                            files.bucket.clone(),
                            object,
                            files.file_type,
                            target.clone(),
                            batch_size,
                            cx.clone(),
                        )
                    })
                }
                Err(e) => futures::stream::once(async { Err(e) }).boxed(),
            }
        })
        .flatten();
        Ok(RecordBatchStreamAdapter::sendable(schema, stream))
    }

    fn capabilities(&self) -> SourceCapabilities {
        SourceCapabilities::new(true, false).with_billed_plan(self.config.task_id.is_none())
    }
}

/// Rows per batch for `schema`: [`BATCH_BYTES`] worth, in whole thousands of rows. A
/// 128-dimension vector alone takes 512 bytes a row; a 1024-dimension one, 4 KiB.
fn batch_rows(schema: &Schema) -> usize {
    let rows = BATCH_BYTES / estimated_row_width(schema).max(1);
    (rows / 1024 * 1024).clamp(BATCH_ROWS.0, BATCH_ROWS.1)
}

/// Credentials from the environment variables the config names (the SDK's by default).
fn credentials(config: &Config) -> Result<Credentials> {
    let (ak, sk, token) = env_credentials(CredentialVars {
        plugin: NAME,
        id: ("access_key_env", &config.access_key_env),
        secret: ("secret_key_env", &config.secret_key_env),
        token: ("session_token_env", &config.session_token_env),
    })?;
    let credentials = Credentials::new(ak, sk);
    Ok(match token {
        Some(token) => credentials.with_session_token(token),
        None => credentials,
    })
}

/// A filter on a field the collection lacks would only fail later, on the server, after the
/// user waited; say so now.
fn check_filter_fields(config: &Config, info: &CollectionInfo) -> Result<()> {
    let Some(filter) = &config.filter else {
        return Ok(());
    };
    let names: Vec<&str> = info.fields.iter().map(|f| f.name.as_str()).collect();
    match filter
        .fields()
        .into_iter()
        .find(|f| !names.contains(&f.as_str()))
    {
        Some(unknown) => Err(Error::config(format!(
            "{NAME}: the filter names field `{unknown}`, which collection `{}` does not have{}",
            config.collection,
            suggestion(&unknown, &names)
        ))
        .with_context("plugin", NAME)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn schema(dim: i32) -> Schema {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
            Field::new("vector", DataType::FixedSizeList(item, dim), true),
        ])
    }

    #[test]
    fn batches_shrink_as_vectors_widen() {
        // 8 + 32 + 4 * dim bytes a row.
        assert_eq!(batch_rows(&schema(8)), 8192);
        assert_eq!(batch_rows(&schema(128)), 2048);
        assert_eq!(batch_rows(&schema(1024)), 1024);
        assert_eq!(batch_rows(&schema(4096)), 1024);
    }
}
