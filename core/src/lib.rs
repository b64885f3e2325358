//! arrowport-core: the traits, registry, options, retry and the one export loop that every
//! arrowport plugin and front end shares.
#![forbid(unsafe_code)]

pub mod context;
pub mod error;
#[cfg(feature = "http")]
pub mod http;
pub mod job;
pub mod journal;
pub mod options;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod registry;
pub mod retry;
pub mod routing;
pub mod scan;
pub mod source;
pub mod split;
pub mod stream;

pub use context::{Context, HttpSettings, SourceReport};
pub use error::{Error, ErrorKind, Result};
pub use options::OptionMap;
pub use pipeline::{Summary, export};
pub use progress::{ProgressEvent, ProgressListener};
pub use registry::{SinkPlugin, SinkSpec, SinkTarget, SourcePlugin, SourceSpec};
pub use retry::{RetryPolicy, retry};
pub use scan::Scan;
pub use source::{
    Checkpoint, Checkpoints, ExportSource, FileSummary, Sink, SourceCapabilities, WriteSummary,
};
pub use split::{Split, SplitToken};
pub use stream::{RecordBatchStream, RecordBatchStreamAdapter, SendableRecordBatchStream};

// Re-exported for the registration macros and for plugins, so they agree on versions.
pub use arrow;
pub use async_trait::async_trait;
#[doc(hidden)]
pub use inventory;
