//! [`FileSink`]: one format writing to one destination (a file, a directory of part files, or
//! standard output), built and checked before anything runs.

use std::io::Write;

use arrowport_core::arrow::datatypes::Schema;
use arrowport_core::{
    Context, Error, Result, SendableRecordBatchStream, Sink, SinkSpec, SinkTarget, WriteSummary,
    async_trait,
};

use crate::config::{Config, Settings};
use crate::destination::partition::Partitioner;
use crate::destination::stdout::MakeWriter;
use crate::destination::{check_target, directory, file, stdout};
use crate::format::Format;

/// A sink writing one [`Format`] to a file, a directory or standard output.
#[derive(Debug)]
pub struct FileSink {
    format: Format,
    target: SinkTarget,
    settings: Settings,
    overwrite: bool,
    stdout: MakeWriter,
}

impl FileSink {
    /// Builds the sink from a sink spec: parses and validates the options for this format and
    /// destination, and checks the output path (its parent directory exists and is writable, and
    /// the output does not exist unless `overwrite`). Writes nothing, so a mistake is a
    /// configuration error before the source is opened.
    pub fn new(format: Format, spec: SinkSpec) -> Result<Self> {
        let config: Config = spec.options.deserialize(format.name())?;
        let settings = config.validate(format, &spec.target)?;
        match &spec.target {
            SinkTarget::File(path) => check_target(path, spec.overwrite, false)?,
            SinkTarget::Directory(path) => check_target(path, spec.overwrite, true)?,
            SinkTarget::Stdout => {}
            SinkTarget::Url { .. } => {
                return Err(Error::config(format!(
                    "format `{}` writes a file, a directory or standard output, not `{}`",
                    format.name(),
                    spec.target
                )));
            }
        }
        Ok(FileSink {
            format,
            target: spec.target,
            settings,
            overwrite: spec.overwrite,
            stdout: MakeWriter::stdout(),
        })
    }

    /// Writes to what `make` returns instead of the process's standard output, when the target
    /// is [`SinkTarget::Stdout`]. For tests (a pipe that closes) and for embedding.
    pub fn with_stdout(
        mut self,
        make: impl Fn() -> Box<dyn Write + Send> + Send + Sync + 'static,
    ) -> Self {
        self.stdout = MakeWriter::new(make);
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn target(&self) -> &SinkTarget {
        &self.target
    }
}

#[async_trait]
impl Sink for FileSink {
    /// The format's type check (CSV: scalars only; JSON: what arrow-json writes; Parquet: what
    /// parquet-rs writes; IPC: everything) and, for a partitioned directory, the partition
    /// columns.
    fn check_schema(&self, schema: &Schema) -> Result<()> {
        self.format.check_schema(schema)?;
        if !self.settings.layout.partition_by.is_empty() {
            Partitioner::new(schema, &self.settings.layout.partition_by)
                .map_err(|e| e.with_context("plugin", self.format.name()))?;
        }
        Ok(())
    }

    async fn write_all(
        &self,
        input: SendableRecordBatchStream,
        cx: &Context,
    ) -> Result<WriteSummary> {
        let schema = input.schema();
        self.check_schema(&schema)?;
        for warning in self.format.warnings(&schema) {
            cx.warn(warning);
        }
        let writer = &self.settings.writer;
        match &self.target {
            SinkTarget::File(path) => {
                file::write(self.format, writer, path, self.overwrite, input, cx).await
            }
            SinkTarget::Directory(path) => {
                directory::write(self.format, &self.settings, path, self.overwrite, input, cx).await
            }
            SinkTarget::Stdout => stdout::write(self.format, writer, &self.stdout, input, cx).await,
            SinkTarget::Url { .. } => Err(Error::config(format!(
                "format `{}` cannot write to `{}`",
                self.format.name(),
                self.target
            ))),
        }
    }
}
