//! [`FileSink`]: one format writing to one destination (a file, a directory of part files, or
//! standard output), built and checked before anything runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrowport_core::arrow::datatypes::Schema;
use arrowport_core::{
    Checkpoint, Checkpoints, Context, Error, ErrorKind, Result, SendableRecordBatchStream, Sink,
    SinkSpec, SinkTarget, WriteSummary, async_trait,
};

use crate::config::{Config, Settings};
use crate::destination::partition::Partitioner;
use crate::destination::stdout::MakeWriter;
use crate::destination::{check_target, directory, file, partial_path, stdout};
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
        // An output with a journal beside it may exist already: an interrupted run committed
        // it and died before removing the journal; the resumed run finds out.
        let resuming = |path: &Path| journal_path(path).exists();
        match &spec.target {
            SinkTarget::File(path) => check_target(path, spec.overwrite || resuming(path), false)?,
            SinkTarget::Directory(path) => {
                check_target(path, spec.overwrite || resuming(path), true)?
            }
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
                let settings = &self.settings;
                directory::write(self.format, settings, path, self.overwrite, input, None, cx).await
            }
            SinkTarget::Stdout => stdout::write(self.format, writer, &self.stdout, input, cx).await,
            SinkTarget::Url { .. } => Err(Error::config(format!(
                "format `{}` cannot write to `{}`",
                self.format.name(),
                self.target
            ))),
        }
    }

    /// `<output>.journal`, beside `<output>.partial`, for a file or a directory.
    fn journal_path(&self) -> Option<PathBuf> {
        match &self.target {
            SinkTarget::File(path) | SinkTarget::Directory(path) => Some(journal_path(path)),
            SinkTarget::Stdout | SinkTarget::Url { .. } => None,
        }
    }

    async fn write_resumable(
        &self,
        input: SendableRecordBatchStream,
        from: &[Checkpoint],
        checkpoints: &dyn Checkpoints,
        cx: &Context,
    ) -> Result<WriteSummary> {
        let schema = input.schema();
        self.check_schema(&schema)?;
        if from.is_empty() {
            for warning in self.format.warnings(&schema) {
                cx.warn(warning);
            }
        }
        match &self.target {
            SinkTarget::File(path) => {
                let writer = &self.settings.writer;
                let (format, overwrite) = (self.format, self.overwrite);
                file::write_resumable(
                    format,
                    writer,
                    path,
                    overwrite,
                    input,
                    from,
                    checkpoints,
                    cx,
                )
                .await
            }
            SinkTarget::Directory(path) => {
                let resumable = directory::Resumable {
                    from: from.last().cloned(),
                    checkpoints,
                };
                let settings = &self.settings;
                let (format, overwrite) = (self.format, self.overwrite);
                directory::write(
                    format,
                    settings,
                    path,
                    overwrite,
                    input,
                    Some(resumable),
                    cx,
                )
                .await
            }
            SinkTarget::Stdout | SinkTarget::Url { .. } => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "--resume needs a file or directory output, not {}",
                    self.target
                ),
            )),
        }
    }

    fn discard_partial(&self) -> Result<()> {
        if let SinkTarget::File(path) | SinkTarget::Directory(path) = &self.target {
            let partial = partial_path(path);
            let removed = match std::fs::symlink_metadata(&partial) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(&partial),
                Ok(_) => std::fs::remove_file(&partial),
                Err(_) => Ok(()),
            };
            removed.map_err(|e| Error::io(format!("cannot remove `{}`", partial.display()), e))?;
        }
        Ok(())
    }
}

/// `<path>.journal`: the resume journal of the output at `path`.
pub(crate) fn journal_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsString::from)
        .unwrap_or_default();
    name.push(".journal");
    path.with_file_name(name)
}
