//! Standard output. Stdout carries data only; a reader that goes away (`head`, a closed pipe)
//! ends the export quietly with `stopped_early` rather than as an error.
//!
//! The writer is made by a [`MakeWriter`], so tests and embedders can stand in for stdout.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrowport_core::{Context, Error, Result, SendableRecordBatchStream, WriteSummary};
use futures::StreamExt;

use super::file::HashingWriter;
use crate::config::WriterOptions;
use crate::format::{self, Format};

/// Buffer in front of the pipe: a few pipe-fulls per write.
const STDOUT_BUFFER: usize = 1 << 20;

/// Makes the writer that stands for standard output, once per export.
#[derive(Clone)]
pub(crate) struct MakeWriter(Arc<dyn Fn() -> Box<dyn Write + Send> + Send + Sync>);

impl MakeWriter {
    pub(crate) fn new(make: impl Fn() -> Box<dyn Write + Send> + Send + Sync + 'static) -> Self {
        MakeWriter(Arc::new(make))
    }

    /// The process's standard output.
    pub(crate) fn stdout() -> Self {
        Self::new(|| Box::new(io::stdout()))
    }
}

impl fmt::Debug for MakeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MakeWriter")
    }
}

/// Notes a closed pipe, however the encoder above wraps (or loses) the I/O error.
struct PipeWriter {
    inner: Box<dyn Write + Send>,
    closed: Arc<AtomicBool>,
}

impl PipeWriter {
    fn note<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

/// A pipe has no durable points: syncing it only flushes it.
impl crate::format::Output for HashingWriter<BufWriter<PipeWriter>> {
    fn sync(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// Writes the whole stream to the writer `make` returns. Stops consuming the stream as soon as
/// the reader has gone.
pub(crate) async fn write(
    format: Format,
    options: &WriterOptions,
    make: &MakeWriter,
    mut input: SendableRecordBatchStream,
    cx: &Context,
) -> Result<WriteSummary> {
    let closed = Arc::new(AtomicBool::new(false));
    let pipe = PipeWriter {
        inner: (make.0)(),
        closed: closed.clone(),
    };
    let out = HashingWriter::counting(BufWriter::with_capacity(STDOUT_BUFFER, pipe));
    let bytes = out.counter();
    let mut rows = 0;
    let result = async {
        let mut writer = format::open(format, &input.schema(), options, out)?;
        while let Some(batch) = input.next().await {
            let batch = batch?;
            cx.check_cancelled()?;
            writer.write(&batch)?;
            rows += batch.num_rows() as u64;
        }
        let (buffered, _) = writer.finish()?.into_parts();
        let fail = |e| Error::io("cannot write to standard output", e);
        buffered
            .into_inner()
            .map_err(|e| fail(e.into_error()))?
            .flush()
            .map_err(fail)
    }
    .await;
    match result {
        Ok(()) => Ok(WriteSummary::new(rows, bytes.get(), Vec::new(), false)),
        Err(_) if closed.load(Ordering::Relaxed) => {
            Ok(WriteSummary::new(rows, bytes.get(), Vec::new(), true))
        }
        Err(e) => Err(e),
    }
}
