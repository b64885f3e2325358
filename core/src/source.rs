//! The source and sink traits every plugin implements.

use std::fmt::Debug;
use std::path::PathBuf;

use arrow::datatypes::{Schema, SchemaRef};
use async_trait::async_trait;
use serde::Serialize;

use crate::{
    Context, Error, ErrorKind, Result, Scan, SendableRecordBatchStream, Split, SplitToken,
};

/// What a source can push down; the pipeline does the rest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceCapabilities {
    /// Delivers only `Scan::columns`, in that order.
    pub projection: bool,
    /// Stops after `Scan::limit` rows.
    pub limit: bool,
    /// Planning creates remote state that is billed (a VikingDB export task), so front ends
    /// ask before they plan just to show a plan.
    pub billed_plan: bool,
}

impl SourceCapabilities {
    pub fn new(projection: bool, limit: bool) -> Self {
        SourceCapabilities {
            projection,
            limit,
            billed_plan: false,
        }
    }

    pub fn with_billed_plan(mut self, billed: bool) -> Self {
        self.billed_plan = billed;
        self
    }
}

/// A remote table (or generator) that can be exported as Arrow record batches.
#[async_trait]
pub trait ExportSource: Send + Sync + Debug {
    /// The full schema. Known before any irreversible or costly side effect.
    async fn schema(&self, cx: &Context) -> Result<SchemaRef>;

    /// The independent parts a scan reads, each with the token that [`Self::open_split`]
    /// reads it from. Planning commits to a snapshot: it may create the remote state reading
    /// needs (download sessions, an export task; see [`SourceCapabilities::billed_plan`]),
    /// which the tokens then name, so that reading them never creates it again. Splits
    /// honour the scan's columns, and its limit where the source pushes limits down.
    async fn plan(&self, scan: &Scan, cx: &Context) -> Result<Vec<Split>>;

    /// Reads one split of a plan, made by this process or by the same URL in another one,
    /// from its token alone (credentials come from this process's environment). Batches
    /// carry the columns the plan was made for, and are the same batches, cut at the same
    /// rows, that [`Self::open`] delivers for that part of the table. A token of another
    /// source, table or seed, or one whose remote state is gone (an expired session, a
    /// deleted task), is an error and never a wrong read. Nothing runs until the stream is
    /// polled.
    async fn open_split(
        &self,
        token: &SplitToken,
        cx: &Context,
    ) -> Result<SendableRecordBatchStream>;

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

/// The last durable point of an interrupted write, as its journal recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Input rows that are durable in the partial output.
    pub rows: u64,
    /// What the sink needs to continue from there (offsets, encoder state, finished parts).
    pub state: serde_json::Value,
}

/// Where a resumable sink records its durable points. Called only once everything up to
/// the point is on disk (written and fsync'ed), and returns once the record is too.
pub trait Checkpoints: Send + Sync {
    fn record(&self, checkpoint: Checkpoint) -> Result<()>;
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

    /// Where this sink's resume journal lives, when it can continue an interrupted write (a
    /// file or a directory output); `None` for outputs that cannot be continued (a pipe, a
    /// remote table).
    fn journal_path(&self) -> Option<PathBuf> {
        None
    }

    /// Like [`Self::write_all`], but resumable: durable points are recorded in `checkpoints`,
    /// and on error, cancellation or drop the partial output is kept for a later run, which
    /// passes every checkpoint recorded as `from` (the partial output is cut back to the last
    /// one, and `input` starts at its row). Commits atomically when the input ends.
    async fn write_resumable(
        &self,
        input: SendableRecordBatchStream,
        from: &[Checkpoint],
        checkpoints: &dyn Checkpoints,
        cx: &Context,
    ) -> Result<WriteSummary> {
        let _ = (input, from, checkpoints, cx);
        Err(Error::new(
            ErrorKind::Unsupported,
            "this sink cannot continue an interrupted write",
        ))
    }

    /// Removes a partial output an earlier resumable write left behind (a fresh start).
    fn discard_partial(&self) -> Result<()> {
        Ok(())
    }
}
