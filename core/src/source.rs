//! The source and sink traits every plugin implements.

use std::fmt::Debug;
use std::path::PathBuf;

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use serde::Serialize;

use crate::{Context, Result, Scan, SendableRecordBatchStream, Split};

/// What a source can push down; the pipeline does the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceCapabilities {
    /// Delivers only `Scan::columns`, in that order.
    pub projection: bool,
    /// Stops after `Scan::limit` rows.
    pub limit: bool,
}

impl SourceCapabilities {
    pub fn new(projection: bool, limit: bool) -> Self {
        SourceCapabilities { projection, limit }
    }
}

/// A remote table (or generator) that can be exported as Arrow record batches.
#[async_trait]
pub trait ExportSource: Send + Sync + Debug {
    /// The full schema. Known before any irreversible or costly side effect.
    async fn schema(&self, cx: &Context) -> Result<SchemaRef>;

    /// The independent parts a scan would read.
    async fn plan(&self, scan: &Scan, cx: &Context) -> Result<Vec<Split>>;

    /// A lazy stream of the scan's batches. No remote work may start before the stream is
    /// first polled, and dropping the stream stops all work.
    async fn open(&self, scan: &Scan, cx: &Context) -> Result<SendableRecordBatchStream>;

    fn capabilities(&self) -> SourceCapabilities;
}

/// One file a sink wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    pub path: PathBuf,
    pub rows: u64,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file's bytes, where a manifest records it (the parts of
    /// a directory); empty otherwise.
    pub sha256: String,
}

/// What a sink did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WriteSummary {
    pub rows: u64,
    /// Bytes written to the destination (encoded, compressed).
    pub bytes: u64,
    pub files: Vec<FileSummary>,
    /// The reader went away (a closed stdout pipe) before the stream ended. Not an error.
    pub stopped_early: bool,
}

impl WriteSummary {
    pub fn new(rows: u64, bytes: u64, files: Vec<FileSummary>, stopped_early: bool) -> Self {
        WriteSummary {
            rows,
            bytes,
            files,
            stopped_early,
        }
    }
}

/// A destination for record batches.
#[async_trait]
pub trait Sink: Send + Sync + Debug {
    /// Rejects a schema this sink cannot carry, before the source is opened.
    fn check_schema(&self, schema: &Schema) -> Result<()>;

    /// Consumes the stream. Commits atomically on success; on error, cancellation or drop,
    /// leaves nothing behind.
    async fn write_all(
        &self,
        input: SendableRecordBatchStream,
        cx: &Context,
    ) -> Result<WriteSummary>;
}
