//! One output file: the atomic `.partial` guard, the hashing and counting writer, an encoded
//! file (format writer + buffer + file), and the single-file destination built from them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{
    Context, Error, FileSummary, Result, SendableRecordBatchStream, WriteSummary,
};
use futures::StreamExt;
use sha2::{Digest, Sha256};

#[cfg(target_os = "linux")]
use super::direct::DirectFile;
use super::writeback::WritebackFile;
use super::{ensure_replaceable, partial_path, sync_parent};
use crate::config::WriterOptions;
use crate::format::{self, Format, FormatWriter};

/// Buffer between the encoder and a lone output file. Large, so that the file sees few big
/// writes; there is only one.
pub(crate) const FILE_BUFFER: usize = 4 << 20;

/// Removes a `.partial` file on drop unless it was committed. Dropping the `write_all` future
/// drops this guard, so cancellation cleans up synchronously, with no task left to do it.
#[derive(Debug)]
pub(crate) struct PartialFile {
    path: PathBuf,
    armed: bool,
}

impl PartialFile {
    /// Creates (or truncates a stale) `path` and returns the guard and the open file.
    pub(crate) fn create(path: PathBuf) -> Result<(Self, File)> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot create `{}`", path.display()), e))?;
        Ok((PartialFile { path, armed: true }, file))
    }

    /// Renames the finished partial file to `target`, which must not exist unless `overwrite`.
    pub(crate) fn commit(mut self, target: &Path, overwrite: bool) -> Result<()> {
        ensure_replaceable(target, overwrite, false)?;
        fs::rename(&self.path, target).map_err(|e| {
            Error::io(
                format!(
                    "cannot rename `{}` to `{}`",
                    self.path.display(),
                    target.display()
                ),
                e,
            )
        })?;
        self.armed = false;
        sync_parent(target);
        Ok(())
    }
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A shared view of how many bytes a [`HashingWriter`] has passed on, readable while an encoder
/// owns the writer (the encoders do not all lend their writer back).
#[derive(Debug, Clone, Default)]
pub(crate) struct ByteCount(Arc<AtomicU64>);

impl ByteCount {
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts, and optionally SHA-256 hashes, every byte on its way out, so that a file's size and
/// checksum are known when it is closed without reading it back.
#[derive(Debug)]
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Option<Sha256>,
    bytes: ByteCount,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn hashing(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Some(Sha256::new()),
            bytes: ByteCount::default(),
        }
    }

    /// Counts only: for outputs without a manifest to record a checksum in (one file,
    /// standard output), where hashing would cost a twentieth of the export for a value
    /// nobody reads; `sha256sum` gives it to whoever wants it.
    pub(crate) fn counting(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: None,
            bytes: ByteCount::default(),
        }
    }

    pub(crate) fn counter(&self) -> ByteCount {
        self.bytes.clone()
    }

    /// The inner writer and the lower-case hex SHA-256 of everything written (empty when
    /// counting only).
    pub(crate) fn into_parts(self) -> (W, String) {
        let sha256 = self
            .hasher
            .map(|h| hex::encode(h.finalize()))
            .unwrap_or_default();
        (self.inner, sha256)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        self.bytes.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What a closed file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// Where an encoded file's bytes go: straight to the disk where the file system allows it,
/// otherwise through the page cache, written back in the background.
pub(crate) enum OutputFile {
    #[cfg(target_os = "linux")]
    Direct(DirectFile),
    Buffered(BufWriter<WritebackFile>),
}

impl OutputFile {
    /// Direct writes through a `buffer`-byte block, if the file system of `path` (opened as
    /// `file`) supports them: for a large file written sequentially.
    pub(crate) fn direct(path: &Path, file: File, buffer: usize) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        let file = match DirectFile::open(path, file, buffer)? {
            Ok(direct) => return Ok(OutputFile::Direct(direct)),
            Err(file) => file,
        };
        #[cfg(not(target_os = "linux"))]
        let _ = path;
        Ok(Self::buffered(file, buffer))
    }

    /// Buffered writes through a `buffer`-byte buffer: for files that may stay small.
    pub(crate) fn buffered(file: File, buffer: usize) -> Self {
        OutputFile::Buffered(BufWriter::with_capacity(buffer, WritebackFile::new(file)))
    }

    /// Writes what is buffered and makes the whole file durable.
    fn finish(self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            OutputFile::Direct(file) => file.finish(),
            OutputFile::Buffered(buffered) => {
                let file = buffered.into_inner().map_err(|e| e.into_error())?;
                file.finish()
            }
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(target_os = "linux")]
            OutputFile::Direct(file) => file.write(buf),
            OutputFile::Buffered(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            OutputFile::Direct(file) => file.flush(),
            OutputFile::Buffered(file) => file.flush(),
        }
    }
}

type FileWriter = Box<dyn FormatWriter<HashingWriter<OutputFile>>>;

/// A file being encoded: format writer → counting (and maybe hashing) writer → buffer → file
/// (synced as it grows).
pub(crate) struct EncodedFile {
    writer: FileWriter,
    bytes: ByteCount,
    rows: u64,
}

impl EncodedFile {
    pub(crate) fn new(
        out: HashingWriter<OutputFile>,
        format: Format,
        schema: &SchemaRef,
        options: &WriterOptions,
    ) -> Result<Self> {
        let bytes = out.counter();
        let writer = format::open(format, schema, options, out)?;
        Ok(EncodedFile {
            writer,
            bytes,
            rows: 0,
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes written so far, and bytes the encoder still buffers (their final size may differ:
    /// parquet compresses its open page only when it closes it).
    pub(crate) fn sizes(&mut self) -> Result<(u64, u64)> {
        let buffered = self.writer.buffered_bytes()? as u64;
        Ok((self.bytes.get(), buffered))
    }

    /// Writes the trailer, flushes and fsyncs.
    pub(crate) fn finish(self, path: &Path) -> Result<Written> {
        let io_err = |e: io::Error| Error::io(format!("cannot write `{}`", path.display()), e);
        let (file, sha256) = self.writer.finish()?.into_parts();
        file.finish().map_err(io_err)?;
        Ok(Written {
            rows: self.rows,
            bytes: self.bytes.get(),
            sha256,
        })
    }
}

/// Writes the whole stream to `target` through `<target>.partial`.
pub(crate) async fn write(
    format: Format,
    options: &WriterOptions,
    target: &Path,
    overwrite: bool,
    mut input: SendableRecordBatchStream,
    cx: &Context,
) -> Result<WriteSummary> {
    let partial = partial_path(target);
    let (guard, file) = PartialFile::create(partial.clone())?;
    let file = OutputFile::direct(&partial, file, FILE_BUFFER)
        .map_err(|e| Error::io(format!("cannot open `{}`", partial.display()), e))?;
    let out = HashingWriter::counting(file);
    let mut out = EncodedFile::new(out, format, &input.schema(), options)?;
    while let Some(batch) = input.next().await {
        let batch = batch?;
        cx.check_cancelled()?;
        out.write(&batch)?;
    }
    let written = out.finish(&partial)?;
    guard.commit(target, overwrite)?;
    let file = FileSummary {
        path: target.to_path_buf(),
        rows: written.rows,
        bytes: written.bytes,
        sha256: written.sha256,
    };
    Ok(WriteSummary::new(
        written.rows,
        written.bytes,
        vec![file],
        false,
    ))
}
