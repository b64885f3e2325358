//! One output file: the atomic `.partial` guard, the hashing and counting writer, an encoded
//! file (format writer + buffer + file), and the single-file destination built from them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrowport_core::arrow::datatypes::SchemaRef;
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{
    Checkpoint, Checkpoints, Context, Error, ErrorKind, FileSummary, Result,
    SendableRecordBatchStream, WriteSummary,
};
use futures::StreamExt;
use sha2::{Digest, Sha256};

#[cfg(target_os = "linux")]
use super::direct::DirectFile;
use super::writeback::WritebackFile;
use super::{complete_but_gone, ensure_replaceable, partial_path, sync_parent};
use crate::config::WriterOptions;
use crate::format::{self, DurablePoint, Format, FormatWriter, Output};

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
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot create `{}`", path.display()), e))?;
        Ok((PartialFile { path, armed: true }, file))
    }

    /// Opens the partial file an interrupted run left, cut back to its first `len` bytes
    /// (its last durable point) and positioned there. A file shorter than that, or gone,
    /// is not the one the journal describes.
    pub(crate) fn reopen(path: PathBuf, len: u64) -> Result<(Self, File)> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| {
                Error::new(
                    ErrorKind::DataIntegrity,
                    format!(
                        "cannot continue: the partial output `{}` the journal describes cannot \
                         be opened ({e}); pass --restart to start over",
                        path.display()
                    ),
                )
            })?;
        let io = |e| Error::io(format!("cannot cut back `{}`", path.display()), e);
        let found = file.metadata().map_err(io)?.len();
        if found < len {
            return Err(Error::new(
                ErrorKind::DataIntegrity,
                format!(
                    "cannot continue: the partial output `{}` holds {found} bytes but the journal \
                     recorded {len} as durable; pass --restart to start over",
                    path.display()
                ),
            ));
        }
        file.set_len(len).map_err(io)?;
        file.seek(SeekFrom::Start(len)).map_err(io)?;
        Ok((PartialFile { path, armed: true }, file))
    }

    /// Keeps the file on drop: a resumable write leaves it for the next run.
    pub(crate) fn keep_on_drop(mut self) -> Self {
        self.armed = false;
        self
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

    /// Hashes and counts on from a file's first `offset` bytes, already hashed by `hasher`.
    pub(crate) fn resumed(inner: W, hasher: Sha256, offset: u64) -> Self {
        let out = HashingWriter {
            inner,
            hasher: Some(hasher),
            bytes: ByteCount::default(),
        };
        out.bytes.0.store(offset, Ordering::Relaxed);
        out
    }

    /// Counts as if `offset` bytes had been written already: for a file continued there.
    pub(crate) fn counting_from(inner: W, offset: u64) -> Self {
        let out = Self::counting(inner);
        out.bytes.0.store(offset, Ordering::Relaxed);
        out
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
        Self::direct_at(path, file, buffer, 0)
    }

    /// [`OutputFile::direct`] for a file whose first `at` bytes are kept, positioned there.
    pub(crate) fn direct_at(path: &Path, file: File, buffer: usize, at: u64) -> io::Result<Self> {
        #[cfg(target_os = "linux")]
        let file = match DirectFile::open(path, file, buffer, at)? {
            Ok(direct) => return Ok(OutputFile::Direct(direct)),
            Err(file) => file,
        };
        #[cfg(not(target_os = "linux"))]
        let _ = (path, at);
        Ok(Self::buffered(file, buffer))
    }

    /// Buffered writes through a `buffer`-byte buffer: for files that may stay small.
    pub(crate) fn buffered(file: File, buffer: usize) -> Self {
        OutputFile::Buffered(BufWriter::with_capacity(buffer, WritebackFile::new(file)))
    }

    /// Writes what is buffered and makes it durable, without finishing.
    fn sync(&mut self) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            OutputFile::Direct(file) => file.sync(),
            OutputFile::Buffered(buffered) => {
                buffered.flush()?;
                buffered.get_mut().sync()
            }
        }
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

impl Output for HashingWriter<OutputFile> {
    fn sync(&mut self) -> io::Result<()> {
        self.inner.sync()
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

    /// Continues a file at the last of the durable points an earlier writer reached: `out`
    /// holds the bytes before it and counts from there.
    pub(crate) fn resume(
        out: HashingWriter<OutputFile>,
        format: Format,
        schema: &SchemaRef,
        options: &WriterOptions,
        points: &[DurablePoint],
        path: &Path,
    ) -> Result<Self> {
        let bytes = out.counter();
        let writer = format::resume(format, schema, options, out, points, path)?;
        let rows = points.last().map_or(0, |p| p.rows);
        Ok(EncodedFile {
            writer,
            bytes,
            rows,
        })
    }

    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// A durable point here, if the format can stop after any batch: what was encoded is
    /// written out and synced first.
    pub(crate) fn pause(&mut self, path: &Path) -> Result<Option<DurablePoint>> {
        let Some((out, state)) = self.writer.pause()? else {
            return Ok(None);
        };
        out.sync()
            .map_err(|e| Error::io(format!("cannot sync `{}`", path.display()), e))?;
        Ok(Some(DurablePoint {
            rows: self.rows,
            offset: self.bytes.get(),
            state,
        }))
    }

    /// Ends the format's open unit here (parquet's row group) and returns the durable points
    /// since the last call.
    pub(crate) fn cut(&mut self) -> Result<Vec<DurablePoint>> {
        self.writer.cut()
    }

    /// The durable points the format reached on its own since the last call (parquet's row
    /// groups).
    pub(crate) fn durable(&mut self) -> Result<Vec<DurablePoint>> {
        self.writer.durable()
    }

    /// Bytes handed to the file so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.get()
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

fn summary(target: &Path, (rows, bytes): (u64, u64)) -> WriteSummary {
    let file = FileSummary {
        path: target.to_path_buf(),
        rows,
        bytes,
        sha256: String::new(),
    };
    WriteSummary::new(rows, bytes, vec![file], false)
}

/// The rows and bytes of a file the journal records as complete, if it does.
fn completed(state: &serde_json::Value) -> Option<(u64, u64)> {
    let done = state.get("complete")?;
    Some((done.get("rows")?.as_u64()?, done.get("bytes")?.as_u64()?))
}

/// Finishes what a run killed after its file was complete left: the rename, unless it
/// happened.
fn finish_commit(
    target: &Path,
    partial: &Path,
    overwrite: bool,
    done: (u64, u64),
) -> Result<WriteSummary> {
    if fs::symlink_metadata(partial).is_ok() {
        PartialFile {
            path: partial.to_path_buf(),
            armed: false,
        }
        .commit(target, overwrite)?;
    } else if fs::symlink_metadata(target).is_err() {
        return Err(complete_but_gone(target));
    }
    Ok(summary(target, done))
}

/// A single file's journaled state: the durable point, as the journal stores it.
pub(crate) fn point_state(point: &DurablePoint) -> serde_json::Value {
    serde_json::json!({ "offset": point.offset, "rows": point.rows, "format": point.state })
}

/// The durable point a single file's journaled state names.
pub(crate) fn point_of(state: &serde_json::Value) -> Result<DurablePoint> {
    let number = |key| state.get(key).and_then(serde_json::Value::as_u64);
    match (number("offset"), number("rows"), state.get("format")) {
        (Some(offset), Some(rows), Some(format)) => Ok(DurablePoint {
            rows,
            offset,
            state: format.clone(),
        }),
        _ => Err(Error::new(
            ErrorKind::DataIntegrity,
            format!("the resume journal's file state is malformed: {state}"),
        )),
    }
}

/// Writes the stream to `target` through `<target>.partial` resumably: continues the partial
/// file at `from` when given, records a durable point every `checkpoint_bytes` of output (or
/// at each parquet row group), and keeps the partial file on failure for the next run.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_resumable(
    format: Format,
    options: &WriterOptions,
    target: &Path,
    overwrite: bool,
    mut input: SendableRecordBatchStream,
    from: &[Checkpoint],
    checkpoints: &dyn Checkpoints,
    cx: &Context,
) -> Result<WriteSummary> {
    let partial = partial_path(target);
    let options = &WriterOptions {
        durable_points: true,
        ..options.clone()
    };
    if let Some(done) = from.last().and_then(|c| completed(&c.state)) {
        return finish_commit(target, &partial, overwrite, done);
    }
    let schema = input.schema();
    let open_err = |e| Error::io(format!("cannot open `{}`", partial.display()), e);
    let (guard, mut out) = match from.last() {
        Some(checkpoint) => {
            let points = from
                .iter()
                .map(|c| point_of(&c.state))
                .collect::<Result<Vec<_>>>()?;
            let offset = point_of(&checkpoint.state)?.offset;
            // Kept from here on, even if continuing fails: it is the next run's to continue.
            let (guard, file) = PartialFile::reopen(partial.clone(), offset)?;
            let guard = guard.keep_on_drop();
            let file =
                OutputFile::direct_at(&partial, file, FILE_BUFFER, offset).map_err(open_err)?;
            let out = HashingWriter::counting_from(file, offset);
            let out = EncodedFile::resume(out, format, &schema, options, &points, &partial)?;
            (guard, out)
        }
        None => {
            let (guard, file) = PartialFile::create(partial.clone())?;
            let guard = guard.keep_on_drop();
            let file = OutputFile::direct(&partial, file, FILE_BUFFER).map_err(open_err)?;
            let out = HashingWriter::counting(file);
            (guard, EncodedFile::new(out, format, &schema, options)?)
        }
    };
    let mut last = out.bytes();
    while let Some(batch) = input.next().await {
        let batch = batch?;
        cx.check_cancelled()?;
        out.write(&batch)?;
        let mut points = out.durable()?;
        if points.is_empty() && out.bytes() - last >= options.checkpoint_bytes {
            points.extend(out.pause(&partial)?);
        }
        for point in points {
            last = point.offset;
            checkpoints.record(Checkpoint {
                rows: point.rows,
                state: point_state(&point),
            })?;
        }
    }
    let written = out.finish(&partial)?;
    let done = (written.rows, written.bytes);
    // Durable before the rename: a run killed between the two only has to rename.
    checkpoints.record(Checkpoint {
        rows: written.rows,
        state: serde_json::json!({ "complete": { "rows": done.0, "bytes": done.1 } }),
    })?;
    guard.commit(target, overwrite)?;
    Ok(summary(target, done))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run killed between journaling its file as complete and renaming it: the next run
    /// only renames it; killed after the rename too, it finds the output there and is done;
    /// with neither, it says so.
    #[test]
    fn a_complete_journal_only_has_the_rename_left() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.ndjson");
        let partial = partial_path(&target);
        std::fs::write(&partial, b"{\"a\":1}\n").unwrap();
        let state = serde_json::json!({ "complete": { "rows": 1, "bytes": 8 } });
        let done = completed(&state).unwrap();
        let summary = finish_commit(&target, &partial, false, done).unwrap();
        assert_eq!((summary.rows, summary.bytes), (1, 8));
        assert_eq!(std::fs::read(&target).unwrap(), b"{\"a\":1}\n");
        assert!(!partial.exists());
        finish_commit(&target, &partial, false, done).unwrap();
        std::fs::remove_file(&target).unwrap();
        let e = finish_commit(&target, &partial, false, done).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataIntegrity);
        assert!(e.message().contains("--restart"), "{e}");
        assert!(completed(&serde_json::json!({ "offset": 3 })).is_none());
    }

    /// A partial file shorter than the journal's durable point is not the one it describes.
    #[test]
    fn a_short_partial_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("x.partial");
        std::fs::write(&partial, b"abc").unwrap();
        let e = PartialFile::reopen(partial.clone(), 10).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DataIntegrity);
        let (guard, _) = PartialFile::reopen(partial.clone(), 2).unwrap();
        drop(guard.keep_on_drop());
        assert_eq!(std::fs::read(&partial).unwrap(), b"ab", "cut back and kept");
    }
}
