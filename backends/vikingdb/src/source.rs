//! The VikingDB [`ExportSource`]: schema from `collection/info`, rows from an export task's
//! files on TOS, read in parallel and delivered in file order.

use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrowport_core::options::{CredentialVars, env_credentials, suggestion};
use arrowport_core::pipeline::project_schema;
use arrowport_core::scan::estimated_row_width;
use arrowport_core::stream::ordered_parallel;
use arrowport_core::{
    Context, Error, ExportSource, RecordBatchStreamAdapter, Result, Scan,
    SendableRecordBatchStream, SourceCapabilities, Split, async_trait,
};
use futures::StreamExt;
use tokio::sync::OnceCell;

use crate::client::ApiClient;
use crate::config::{Config, parse_endpoint};
use crate::model::CollectionInfo;
use crate::read::{is_data_object, read_object};
use crate::sign::Credentials;
use crate::tos::TosClient;
use crate::{NAME, task};

/// Batches each running download may hold ahead of the consumer.
const BUFFER: usize = 2;

/// Bytes a batch should hold, roughly, unless the scan asks for a row count: every batch a
/// download or the sink holds costs this much, and embeddings make rows wide.
const BATCH_BYTES: usize = 3 << 20;
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

    /// Without a task there is nothing to split yet: creating one costs money, so planning
    /// only lists the files of a task given by `task_id`.
    async fn plan(&self, _scan: &Scan, cx: &Context) -> Result<Vec<Split>> {
        let conn = self.connect(cx).await?;
        let Some(task_id) = &self.config.task_id else {
            return Ok(vec![Split::new(
                0,
                format!(
                    "an export task of collection `{}` into tos://{}/ (created when the export starts)",
                    self.config.collection,
                    self.config.tos_path.as_deref().unwrap_or_default()
                ),
            )]);
        };
        let task = conn.api.task_info(task_id, cx).await?;
        if task.status != "done" {
            return Ok(vec![Split::new(
                0,
                format!(
                    "task {task_id} is `{}`; its files are listed once it is done",
                    task.status
                ),
            )]);
        }
        let (bucket, prefix, file_type) = task::location(&task, &self.config)?;
        let objects = conn.tos.list(&bucket, &prefix, cx).await?;
        Ok(objects
            .into_iter()
            .filter(|o| is_data_object(o, file_type))
            .enumerate()
            .map(|(i, o)| Split::new(i, format!("tos://{bucket}/{}", o.key)).with_bytes(o.size))
            .collect())
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
        SourceCapabilities::new(true, false)
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
        assert_eq!(batch_rows(&schema(128)), 5120);
        assert_eq!(batch_rows(&schema(1024)), 1024);
        assert_eq!(batch_rows(&schema(4096)), 1024);
    }
}
