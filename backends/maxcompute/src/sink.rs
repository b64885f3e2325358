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
use crate::config::Config;
use crate::mapping::WritePlan;
use crate::partition::PartitionSpec;
use crate::scope::partition_filter;
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
        let meta = client.table(&table, cx).await?;
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
            &config.type_mapping(),
        )
        .map_err(|e| e.with_kind(ErrorKind::Config))?;
        let static_partition = static_partition(config, &table, &keys)?;
        let settings = UploadSettings {
            client,
            table: table.clone(),
            format: config.format,
            compression: config.compression,
            overwrite: config.overwrite,
            create_partition: config.create_partition,
            block_bytes: config.block_bytes as usize,
            parallelism: cx.parallelism().max(1),
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
            return Err(e.with_context(
                "note",
                format!("nothing was committed: `{table}` is unchanged"),
            ));
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

/// The partition named by `partition` (all keys), when rows are not routed by column.
fn static_partition(
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
