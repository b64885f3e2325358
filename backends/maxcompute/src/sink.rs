//! The MaxCompute [`Sink`]: any stream of batches into a table, a static partition, or
//! partitions chosen per row (`partition_by`), through upload sessions committed only when
//! every block of every session is in place.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, Schema};
use arrowport_core::progress::ProgressEvent;
use arrowport_core::{
    Context, Error, ErrorKind, Result, SendableRecordBatchStream, Sink, WriteSummary, async_trait,
};
use futures::StreamExt;

use crate::NAME;
use crate::client::Client;
use crate::config::{BlockRange, Config};
use crate::create::NewTable;
use crate::mapping::WritePlan;
use crate::meta::TableMeta;
use crate::partition::PartitionSpec;
use crate::scope::partition_filter;
use crate::shared::{self, SessionTarget};
use crate::sign::Credentials;
use crate::source::credentials;
use crate::types::Column;
use crate::upload::{SessionWriter, UploadSettings, Uploads};

/// Writes into one table. Building it is pure; the table is read when writing starts.
#[derive(Debug)]
pub struct MaxComputeSink {
    config: Config,
    credentials: Option<Credentials>,
}

impl MaxComputeSink {
    pub fn new(config: Config) -> Self {
        MaxComputeSink {
            config,
            credentials: None,
        }
    }

    /// Uses these credentials instead of the environment variables the config names.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

#[async_trait]
impl Sink for MaxComputeSink {
    /// Only what needs no table: the `partition_by` columns exist. The full mapping onto the
    /// table's columns is checked when writing starts, before any upload session is opened.
    fn check_schema(&self, schema: &Schema) -> Result<()> {
        for column in &self.config.partition_by {
            if schema.index_of(column).is_err() {
                return Err(Error::schema(format!(
                    "{NAME}: `partition_by` names `{column}`, which the input does not have"
                )));
            }
        }
        Ok(())
    }

    async fn write_all(
        &self,
        mut input: SendableRecordBatchStream,
        cx: &Context,
    ) -> Result<WriteSummary> {
        let config = &self.config;
        let table = config.table()?.to_string();
        let credentials = match &self.credentials {
            Some(c) => c.clone(),
            None => credentials(config)?,
        };
        let client = Client::new(config, credentials, cx)?;
        let (meta, created) = table_for(config, &client, &table, &input.schema(), cx).await?;
        let columns = meta.columns()?;
        let keys = meta.partition_keys()?;
        // An input that does not fit the table is the invocation's problem, as a schema
        // `check_schema` rejects is: a configuration error (exit 2), found before any upload.
        let plan = WritePlan::new(
            &input.schema(),
            &table,
            &columns,
            &keys,
            &config.partition_by,
            &config.column_types,
            &config.type_mapping(),
        )
        .map_err(|e| {
            let e = e.with_kind(ErrorKind::Config);
            match (config.create_table, created) {
                (true, false) => Error::config(format!(
                    "{NAME}: table `{table}` exists with another schema (`create_table` leaves \
                     an existing table as it is): {}",
                    e.message()
                )),
                _ => e,
            }
        })?;
        let static_partition = static_partition(config, &table, &keys)?;
        let settings = UploadSettings {
            client,
            table: table.clone(),
            format: config.format,
            compression: config.compression,
            overwrite: config.overwrite,
            // A table `create_table` may have made has no partitions yet.
            create_partition: config.create_partition || config.create_table,
            block_bytes: config.block_bytes as usize,
            parallelism: cx.parallelism().max(1),
            buffers: Default::default(),
        };
        cx.emit(ProgressEvent::phase("uploading"));
        let mut writer = Writer {
            uploads: Uploads::new(settings.parallelism),
            settings,
            plan,
            keys,
            sessions: BTreeMap::new(),
            max_partitions: config.max_partitions,
            rows: 0,
        };
        if let (Some(id), Some(range)) = (&config.upload_id, config.block_ids) {
            return writer
                .write_shared(input, id, range, static_partition, cx)
                .await;
        }
        let uploaded = async {
            if writer.plan.partition_inputs.is_empty() {
                writer.session(static_partition, cx).await?;
            }
            while let Some(batch) = input.next().await {
                writer.write(&batch?, cx).await?;
            }
            writer.seal_and_verify(cx).await
        }
        .await;
        if let Err(e) = uploaded {
            // Sessions never committed expire on the server; the table is as it was.
            let note = match created {
                true => format!("nothing was committed: `{table}` was created and is empty"),
                false => format!("nothing was committed: `{table}` is unchanged"),
            };
            return Err(e.with_context("note", note));
        }
        writer.commit_all(cx).await?;
        Ok(WriteSummary::new(
            writer.rows,
            writer.uploads.bytes,
            Vec::new(),
            false,
        ))
    }
}

/// The table's metadata, and whether it was created now. With `create_table` the table is
/// worked out from the input first, so an input that cannot make one refuses the export
/// before anything exists.
async fn table_for(
    config: &Config,
    client: &Client,
    table: &str,
    input: &Schema,
    cx: &Context,
) -> Result<(TableMeta, bool)> {
    let new = match config.create_table {
        true => {
            let static_keys: Vec<String> = match (&config.partition, config.partition_by.is_empty())
            {
                (Some(p), true) => PartitionSpec::parse(p)?
                    .keys()
                    .map(str::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            Some(NewTable::from_input(
                input,
                &config.partition_by,
                &static_keys,
                &config.column_types,
            )?)
        }
        false => None,
    };
    match (client.table(table, cx).await, new) {
        (Ok(meta), _) => Ok((meta, false)),
        (Err(e), Some(new)) if e.kind() == ErrorKind::NotFound => {
            cx.emit(ProgressEvent::phase("creating table"));
            let sql = new.sql(
                &config.project,
                config.schema.as_deref(),
                table,
                config.comment.as_deref(),
                config.lifecycle,
            );
            client
                .run_sql("SQLCreateTableTask", &sql, &new.settings(), cx)
                .await
                .map_err(|e| e.with_context("table", format!("{}.{table}", config.project)))?;
            Ok((client.table(table, cx).await?, true))
        }
        (Err(e), None) if e.kind() == ErrorKind::NotFound => {
            Err(e.with_note("add `create_table=true` to create the table from the input's schema"))
        }
        (Err(e), _) => Err(e),
    }
}

/// The partition named by `partition` (all keys), when rows are not routed by column.
pub(crate) fn static_partition(
    config: &Config,
    table: &str,
    keys: &[Column],
) -> Result<Option<PartitionSpec>> {
    if !config.partition_by.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    match (&config.partition, keys.is_empty()) {
        (None, true) => Ok(None),
        (Some(p), true) => Err(Error::config(format!(
            "{NAME}: table `{table}` is not partitioned, but `partition={p}` was given"
        ))),
        (None, false) => Err(Error::config(format!(
            "{NAME}: table `{table}` is partitioned by {}: name the partition with \
             `partition=` or route rows with `partition_by=`",
            names.join(", ")
        ))),
        (Some(p), false) => partition_filter(p, &names)?.exact().map(Some).ok_or_else(|| {
            Error::config(format!(
                "{NAME}: `partition={p}` must give every partition key of `{table}` ({}) with `=`",
                names.join(", ")
            ))
        }),
    }
}

/// The sessions of one export and the rows on their way into them.
struct Writer {
    settings: UploadSettings,
    plan: WritePlan,
    keys: Vec<Column>,
    /// By partition values (`""` for an unpartitioned or static target).
    sessions: BTreeMap<Vec<String>, SessionWriter>,
    uploads: Uploads,
    max_partitions: usize,
    rows: u64,
}

impl Writer {
    async fn session(&mut self, partition: Option<PartitionSpec>, cx: &Context) -> Result<()> {
        let key: Vec<String> = partition
            .as_ref()
            .map(|p| p.values().map(str::to_string).collect())
            .unwrap_or_default();
        let session = SessionWriter::open(&self.settings, partition, &self.plan.columns, cx)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound if !self.settings.create_partition => Error::new(
                    e.kind(),
                    format!("{} (add `create_partition=true` to create it)", e.message()),
                )
                .with_context("plugin", NAME),
                _ => e,
            })?;
        self.sessions.insert(key, session);
        Ok(())
    }

    async fn write(&mut self, batch: &RecordBatch, cx: &Context) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let wire = self.plan.wire_batch(batch)?;
        if self.plan.partition_inputs.is_empty() {
            let key = self.sessions.keys().next().cloned().unwrap_or_default();
            self.write_to(&key, &wire, cx).await?;
        } else {
            for (key, rows) in route(batch, &self.plan.partition_inputs, &self.keys)? {
                if !self.sessions.contains_key(&key) {
                    self.open_partition(&key, cx).await?;
                }
                let part = take_record_batch(&wire, &UInt32Array::from(rows))
                    .map_err(|e| Error::new(ErrorKind::Unexpected, e.to_string()))?;
                self.write_to(&key, &part, cx).await?;
            }
        }
        self.rows += batch.num_rows() as u64;
        self.bound_memory(cx).await
    }

    async fn open_partition(&mut self, values: &[String], cx: &Context) -> Result<()> {
        if self.sessions.len() >= self.max_partitions {
            return Err(Error::config(format!(
                "{NAME}: the input holds more than {} partitions (raise `max_partitions`; each \
                 open partition holds an upload session)",
                self.max_partitions
            )));
        }
        let spec = PartitionSpec::new(
            self.keys
                .iter()
                .map(|k| k.name.clone())
                .zip(values.iter().cloned()),
        )
        .map_err(|e| {
            Error::schema(format!(
                "{NAME}: rows name a partition MaxCompute cannot hold: {}",
                e.message()
            ))
        })?;
        self.session(Some(spec), cx).await
    }

    async fn write_to(&mut self, key: &[String], batch: &RecordBatch, cx: &Context) -> Result<()> {
        let session = self.sessions.get_mut(key).expect("the session was opened");
        if let Some(block) = session.write(batch, &self.settings)? {
            self.uploads.start(block, &self.settings, cx).await?;
        }
        Ok(())
    }

    /// Many partitions each filling a block would hold many blocks' worth of rows: past two
    /// blocks in total, the fullest partial block is sent as it is.
    async fn bound_memory(&mut self, cx: &Context) -> Result<()> {
        loop {
            let pending: usize = self
                .sessions
                .values()
                .map(SessionWriter::pending_bytes)
                .sum();
            if pending <= 2 * self.settings.block_bytes {
                return Ok(());
            }
            let fullest = self
                .sessions
                .values_mut()
                .max_by_key(|s| s.pending_bytes())
                .expect("pending bytes come from sessions");
            if let Some(block) = fullest.flush(&self.settings)? {
                self.uploads.start(block, &self.settings, cx).await?;
            }
        }
    }

    /// Uploads the last blocks and checks every session's block list.
    async fn seal_and_verify(&mut self, cx: &Context) -> Result<()> {
        for session in self.sessions.values_mut() {
            if let Some(block) = session.flush(&self.settings)? {
                self.uploads.start(block, &self.settings, cx).await?;
            }
        }
        self.uploads.finish().await?;
        cx.emit(ProgressEvent::phase("committing"));
        for session in self.sessions.values() {
            session.verify(&self.settings, cx).await?;
        }
        Ok(())
    }

    /// Uploads every row into the shared session `id` with block ids from `range` (the first
    /// is this worker's claim), empties the ids of the range an earlier run filled and this
    /// one did not, and leaves the commit to whoever commits the session.
    async fn write_shared(
        &mut self,
        mut input: SendableRecordBatchStream,
        id: &str,
        range: BlockRange,
        partition: Option<PartitionSpec>,
        cx: &Context,
    ) -> Result<WriteSummary> {
        let target = SessionTarget::of(
            &self.settings.client,
            &self.settings.table,
            partition.clone(),
        );
        let info = target.status(id, cx).await?;
        if info.status != "normal" {
            return Err(Error::config(format!(
                "{NAME}: upload session {id} is {}, it takes no more blocks",
                info.status
            ))
            .with_context("upload_id", id));
        }
        shared::check_before_writing(&shared::held(&info), range, id)?;
        let session = SessionWriter::attach(
            &self.settings,
            partition,
            &self.plan.columns,
            id.to_string(),
            range.first + 1..=range.last,
        );
        let claim = session.empty_block(&self.settings, range.first)?;
        self.uploads.start(claim, &self.settings, cx).await?;
        self.sessions.insert(Vec::new(), session);
        let uploaded = async {
            while let Some(batch) = input.next().await {
                self.write(&batch?, cx).await?;
            }
            let session = self.sessions.values_mut().next().expect("inserted above");
            if let Some(block) = session.flush(&self.settings)? {
                self.uploads.start(block, &self.settings, cx).await?;
            }
            self.uploads.finish().await?;
            let session = self.sessions.values().next().expect("inserted above");
            let mut written = session.sealed().clone();
            written.insert(range.first);
            let held = shared::held(&target.status(id, cx).await?);
            for stale in shared::leftovers(&held, range, &written, id)? {
                let empty = session.empty_block(&self.settings, stale)?;
                self.uploads.start(empty, &self.settings, cx).await?;
            }
            self.uploads.finish().await
        }
        .await;
        uploaded.map_err(|e| {
            e.with_context(
                "note",
                format!("upload session {id} is not committed; re-running this worker rewrites its blocks"),
            )
        })?;
        cx.emit(ProgressEvent::Warning {
            message: format!(
                "uploaded into blocks {range} of upload session {id}; not committed (run \
                 `arrowport upload-session commit` once every worker is done)"
            ),
        });
        Ok(WriteSummary::new(
            self.rows,
            self.uploads.bytes,
            Vec::new(),
            false,
        ))
    }

    /// Commits each session once. Sessions commit one by one, so a failure after the first
    /// names the partitions already committed.
    async fn commit_all(&self, cx: &Context) -> Result<()> {
        let mut committed = Vec::new();
        for session in self.sessions.values() {
            if let Err(e) = session.commit(&self.settings, cx).await {
                let note = if committed.is_empty() {
                    "nothing was committed".to_string()
                } else {
                    format!(
                        "these partitions were committed before the failure: {}",
                        committed.join("; ")
                    )
                };
                return Err(e.with_context("note", note));
            }
            committed.push(
                session
                    .partition
                    .as_ref()
                    .map(PartitionSpec::to_tunnel_string)
                    .unwrap_or_else(|| self.settings.table.clone()),
            );
        }
        Ok(())
    }
}

/// Row indices of `batch` per partition (the values of the key columns, as text).
fn route(
    batch: &RecordBatch,
    inputs: &[usize],
    keys: &[Column],
) -> Result<BTreeMap<Vec<String>, Vec<u32>>> {
    let text = inputs
        .iter()
        .zip(keys)
        .map(|(&i, key)| {
            let column = batch.column(i);
            if column.null_count() > 0 {
                return Err(Error::schema(format!(
                    "{NAME}: NULL in partition column `{}`",
                    key.name
                )));
            }
            cast(column, &DataType::Utf8).map_err(|e| {
                Error::schema(format!(
                    "{NAME}: partition column `{}` cannot be written as text: {e}",
                    key.name
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let text: Vec<_> = text.iter().map(|a| a.as_string::<i32>()).collect();
    let mut groups: BTreeMap<Vec<String>, Vec<u32>> = BTreeMap::new();
    for row in 0..batch.num_rows() {
        let key: Vec<String> = text.iter().map(|a| a.value(row).to_string()).collect();
        groups.entry(key).or_default().push(row as u32);
    }
    Ok(groups)
}
