//! A directory of part files: built in a sibling `<dir>.partial/`, rotated by rows or bytes,
//! optionally hive-partitioned with a bounded number of open writers, finished with
//! `_manifest.json`, and renamed into place only when complete.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{
    Checkpoint, Checkpoints, Context, Error, ErrorKind, FileSummary, Result,
    SendableRecordBatchStream, WriteSummary,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::file::{self, EncodedFile, FILE_BUFFER, HashingWriter, OutputFile};
use super::partition::{PartitionKey, Partitioner, directory_of};
use super::{complete_but_gone, ensure_replaceable, partial_path, sync_dir, sync_parent};
use crate::config::Settings;
use crate::format::{DurablePoint, Format};
use crate::manifest::{self, MANIFEST, ManifestFile};

/// Buffer per part file of a partitioned output, where up to `max_open_files` are open at
/// once; kept small so that 64 open files cost 16 MiB, not 256.
const PARTITION_BUFFER: usize = 256 << 10;

/// Rows of the first write into a file when rotating by size and no bytes-per-row estimate
/// exists yet; later writes are sized by the estimate to end near `max_bytes_per_file`.
const FIRST_SIZE_STEP_ROWS: usize = 1024;

/// Removes the staging directory on drop unless it was committed (see
/// [`super::file::PartialFile`]: the same guarantee for a whole tree).
#[derive(Debug)]
struct StagingDir {
    path: PathBuf,
    armed: bool,
}

impl StagingDir {
    /// Opens the staging directory an interrupted run left, keeping only the finished
    /// `parts` (a part that was being written is removed: it starts again).
    fn reopen(path: PathBuf, parts: &[&str]) -> Result<Self> {
        if !path.is_dir() {
            return Err(Error::new(
                ErrorKind::DataIntegrity,
                format!(
                    "cannot continue: the partial output `{}` the journal describes is gone; \
                     pass --restart to start over",
                    path.display()
                ),
            ));
        }
        let keep: std::collections::HashSet<PathBuf> = parts.iter().map(|p| path.join(p)).collect();
        for part in &keep {
            if !part.is_file() {
                return Err(Error::new(
                    ErrorKind::DataIntegrity,
                    format!(
                        "cannot continue: the finished part `{}` the journal lists is missing; \
                         pass --restart to start over",
                        part.display()
                    ),
                ));
            }
        }
        remove_all_but(&path, &keep)?;
        Ok(StagingDir { path, armed: true })
    }

    /// Keeps the tree on drop: a resumable write leaves it for the next run.
    fn keep_on_drop(mut self) -> Self {
        self.armed = false;
        self
    }

    /// Creates `path`, replacing a stale one left by a killed process.
    fn create(path: PathBuf) -> Result<Self> {
        if fs::symlink_metadata(&path).is_ok() {
            remove_any(&path).map_err(|e| {
                Error::io(format!("cannot remove the stale `{}`", path.display()), e)
            })?;
        }
        fs::create_dir(&path)
            .map_err(|e| Error::io(format!("cannot create `{}`", path.display()), e))?;
        Ok(StagingDir { path, armed: true })
    }

    /// Moves the finished tree to `target`. An existing `target` (allowed only with
    /// `overwrite`) is first moved aside to `<target>.old.partial`, then removed, so a failure
    /// between the two renames can be undone.
    fn commit(mut self, target: &Path, overwrite: bool, cx: &Context) -> Result<()> {
        ensure_replaceable(target, overwrite, true)?;
        let rename = |from: &Path, to: &Path| {
            fs::rename(from, to).map_err(|e| {
                Error::io(
                    format!("cannot rename `{}` to `{}`", from.display(), to.display()),
                    e,
                )
            })
        };
        if fs::symlink_metadata(target).is_err() {
            rename(&self.path, target)?;
            self.armed = false;
        } else {
            let aside = sibling(target, ".old.partial");
            if fs::symlink_metadata(&aside).is_ok() {
                let _ = remove_any(&aside);
            }
            rename(target, &aside)?;
            if let Err(e) = rename(&self.path, target) {
                let _ = fs::rename(&aside, target);
                return Err(e);
            }
            self.armed = false;
            if let Err(e) = remove_any(&aside) {
                cx.warn(format!(
                    "the replaced output was left at `{}`: {e}",
                    aside.display()
                ));
            }
        }
        sync_parent(target);
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes every file below `dir` that is not in `keep` (a part that was being written, a
/// manifest), and the directories left empty.
fn remove_all_but(dir: &Path, keep: &std::collections::HashSet<PathBuf>) -> Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("cannot list `{}`", dir.display()), e))?;
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("cannot list the partial output", e))?
            .path();
        let remove = |e| Error::io(format!("cannot remove `{}`", path.display()), e);
        if path.is_dir() && !path.is_symlink() {
            remove_all_but(&path, keep)?;
            if fs::read_dir(&path).map_err(remove)?.next().is_none() {
                fs::remove_dir(&path).map_err(remove)?;
            }
        } else if !keep.contains(&path) {
            fs::remove_file(&path).map_err(remove)?;
        }
    }
    Ok(())
}

/// Every directory below `root`.
fn walk_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(root)
        .map_err(|e| Error::io(format!("cannot list `{}`", root.display()), e))?;
    for entry in entries {
        let path = entry
            .map_err(|e| Error::io("cannot list the partial output", e))?
            .path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk_dirs(&path)?);
            out.push(path);
        }
    }
    Ok(out)
}

/// Opens a part an interrupted run paused, cut back to its durable `len` bytes, and hashes
/// those bytes again (the manifest records every part's SHA-256).
fn reopen_part(path: &Path, len: u64) -> Result<(File, Sha256)> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |e| Error::io(format!("cannot continue `{}`", path.display()), e);
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    if file.metadata().map_err(io)?.len() < len {
        return Err(Error::new(
            ErrorKind::DataIntegrity,
            format!(
                "cannot continue: the part `{}` is shorter than the journal recorded; pass \
                 --restart to start over",
                path.display()
            ),
        ));
    }
    file.set_len(len).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut prefix = (&mut file).take(len);
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = prefix.read(&mut buffer).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    file.seek(SeekFrom::Start(len)).map_err(io)?;
    Ok((file, hasher))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// What size-based rotation has learned about the encoding: bytes per row, and how the
/// encoder's buffered bytes compare with what they become once written (parquet compresses its
/// open page only when it closes it, so its estimate runs high for small files). Journaled by
/// the bits of its floats, so that a resumed run rotates exactly where the first would have.
#[derive(Debug, Default, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct SizeModel {
    bytes_per_row: Option<f64>,
    buffer_ratio: Option<f64>,
}

impl SizeModel {
    /// A file's expected size from its written and buffered bytes.
    fn size(&self, (written, buffered): (u64, u64)) -> u64 {
        written + (buffered as f64 * self.buffer_ratio.unwrap_or(1.0)) as u64
    }

    /// How many rows fit in `bytes` (at least one, so writing progresses).
    fn rows_for(&self, bytes: u64) -> usize {
        match self.bytes_per_row {
            Some(per_row) if per_row > 0.0 => ((bytes as f64 / per_row).ceil() as usize).max(1),
            _ => FIRST_SIZE_STEP_ROWS,
        }
    }

    fn observe_rows(&mut self, size: u64, rows: u64) {
        self.bytes_per_row = Some(size as f64 / rows.max(1) as f64);
    }

    fn to_bits(self) -> [Option<u64>; 2] {
        [
            self.bytes_per_row.map(f64::to_bits),
            self.buffer_ratio.map(f64::to_bits),
        ]
    }

    fn from_bits([per_row, ratio]: [Option<u64>; 2]) -> Self {
        SizeModel {
            bytes_per_row: per_row.map(f64::from_bits),
            buffer_ratio: ratio.map(f64::from_bits),
        }
    }

    /// Learns from a closed file: `last` was its (written, buffered) bytes when last measured.
    fn observe_close(&mut self, (written, buffered): (u64, u64), final_bytes: u64) {
        if buffered > 0 {
            let ratio = final_bytes.saturating_sub(written) as f64 / buffered as f64;
            self.buffer_ratio = Some(ratio.clamp(0.01, 4.0));
        }
    }
}

/// An open part file.
struct OpenPart {
    file: EncodedFile,
    /// Relative to the output root, `/`-separated.
    relative: String,
    last_used: u64,
    /// (written, buffered) bytes when last measured, for [`SizeModel::observe_close`].
    last_sizes: (u64, u64),
    /// The durable points of a resumable parquet part so far (see [`Parts::pause_all`]).
    points: Vec<serde_json::Value>,
}

/// The part files of one output: which are open, which are done, and when to rotate.
struct Parts<'a> {
    root: &'a Path,
    format: Format,
    settings: &'a Settings,
    partitioner: &'a Partitioner,
    buffer: usize,
    open: HashMap<PartitionKey, OpenPart>,
    /// The next part number of each partition directory ever opened.
    next_part: HashMap<PartitionKey, u32>,
    /// Directories created, to fsync at the end.
    dirs: Vec<PathBuf>,
    clock: u64,
    /// Sizes writes and judges fullness when rotating by bytes.
    sizes: SizeModel,
    /// `sizes` and the next part number as the last part closed: where the next part
    /// started from.
    sizes_at_close: SizeModel,
    next_at_close: u32,
    done: Vec<ManifestFile>,
}

impl<'a> Parts<'a> {
    fn new(
        root: &'a Path,
        format: Format,
        settings: &'a Settings,
        partitioner: &'a Partitioner,
    ) -> Self {
        let buffer = if partitioner.is_partitioned() {
            PARTITION_BUFFER
        } else {
            FILE_BUFFER
        };
        Parts {
            root,
            format,
            settings,
            partitioner,
            buffer,
            open: HashMap::new(),
            next_part: HashMap::new(),
            dirs: vec![root.to_path_buf()],
            clock: 0,
            sizes: SizeModel::default(),
            sizes_at_close: SizeModel::default(),
            next_at_close: 0,
            done: Vec::new(),
        }
    }

    /// Appends `batch` to the partition's current part, rotating as limits are reached.
    fn write(&mut self, key: &PartitionKey, batch: &RecordBatch) -> Result<()> {
        let layout = &self.settings.layout;
        let total = batch.num_rows();
        let mut offset = 0;
        while offset < total {
            // Out of `self` while `part` borrows it; put back before `close` learns from it.
            let mut sizes = std::mem::take(&mut self.sizes);
            let part = self.part(key)?;
            let rows_room = layout.max_rows_per_file.map_or(usize::MAX, |max| {
                usize::try_from(max - part.file.rows()).unwrap_or(usize::MAX)
            });
            let bytes_room = match layout.max_bytes_per_file {
                Some(max) => {
                    let size = sizes.size(part.file.sizes()?);
                    sizes.rows_for(max.saturating_sub(size))
                }
                None => usize::MAX,
            };
            let len = (total - offset).min(rows_room).min(bytes_room);
            if len == total {
                part.file.write(batch)?;
            } else {
                part.file.write(&batch.slice(offset, len))?;
            }
            let points = part.file.durable()?;
            part.points.extend(points.iter().map(file::point_state));
            offset += len;
            let rows = part.file.rows();
            let mut full = layout.max_rows_per_file.is_some_and(|max| rows >= max);
            if let Some(max) = layout.max_bytes_per_file {
                part.last_sizes = part.file.sizes()?;
                let size = sizes.size(part.last_sizes);
                sizes.observe_rows(size, rows);
                full |= size >= max;
            }
            self.sizes = sizes;
            if full {
                self.close(key)?;
            }
        }
        Ok(())
    }

    /// The open part of `key`, opening the partition's next part file (and closing the least
    /// recently used one if `max_open_files` are open) when there is none.
    fn part(&mut self, key: &PartitionKey) -> Result<&mut OpenPart> {
        self.clock += 1;
        if !self.open.contains_key(key) && self.open.len() >= self.settings.layout.max_open_files {
            let oldest = self
                .open
                .iter()
                .min_by_key(|(_, p)| p.last_used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.close(&oldest)?;
            }
        }
        let part = match self.open.entry(key.clone()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let number = self.next_part.entry(key.clone()).or_insert(0);
                let dir = directory_of(self.partitioner.names(), key);
                let name = format!("part-{:05}.{}", *number, self.format.extension());
                *number += 1;
                let mut dir_path = self.root.to_path_buf();
                for segment in dir.split('/').filter(|s| !s.is_empty()) {
                    dir_path.push(segment);
                    if !dir_path.exists() {
                        fs::create_dir(&dir_path).map_err(|err| {
                            Error::io(format!("cannot create `{}`", dir_path.display()), err)
                        })?;
                        self.dirs.push(dir_path.clone());
                    }
                }
                let relative = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let path = self.root.join(&relative);
                let file = File::create(&path)
                    .map_err(|err| Error::io(format!("cannot create `{}`", path.display()), err))?;
                let file = EncodedFile::new(
                    HashingWriter::hashing(OutputFile::buffered(file, self.buffer)),
                    self.format,
                    self.partitioner.data_schema(),
                    &self.settings.writer,
                )?;
                e.insert(OpenPart {
                    file,
                    relative,
                    last_used: 0,
                    last_sizes: (0, 0),
                    points: Vec::new(),
                })
            }
        };
        part.last_used = self.clock;
        Ok(part)
    }

    fn close(&mut self, key: &PartitionKey) -> Result<()> {
        if let Some(part) = self.open.remove(key) {
            let written = part.file.finish(&self.root.join(&part.relative))?;
            self.sizes.observe_close(part.last_sizes, written.bytes);
            self.sizes_at_close = self.sizes;
            self.next_at_close = self.next_part.get(key).copied().unwrap_or(0);
            self.done.push(ManifestFile {
                path: part.relative,
                rows: written.rows,
                bytes: written.bytes,
                sha256: written.sha256,
                partition: key.clone(),
            });
        }
        Ok(())
    }

    /// The state to journal: the finished parts, and the open ones as `paused`.
    fn state(&self, paused: Vec<PausedPart>, sizes: SizeModel) -> serde_json::Value {
        let mut next_part: Vec<(PartitionKey, u32)> = self
            .next_part
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        next_part.sort();
        let state = DirectoryState {
            parts: self.done.clone(),
            next_part,
            sizes: sizes.to_bits(),
            open: paused,
            clock: self.clock,
            complete: false,
        };
        serde_json::to_value(state).expect("a directory state serializes")
    }

    /// The checkpoint of an unpartitioned output at its last closed part, when the open part
    /// cannot stop part way: the rows the closed parts hold, and how the next part started.
    fn closed_checkpoint(&self) -> Checkpoint {
        let mut state = self.state(Vec::new(), self.sizes_at_close);
        state["next_part"] = serde_json::json!([[[], self.next_at_close]]);
        Checkpoint {
            rows: self.done.iter().map(|f| f.rows).sum(),
            state,
        }
    }

    /// Pauses every open part at a durable point (each is flushed and synced), if the format
    /// can: then every row given so far is on disk.
    /// With `cut`, a format that stops only at its own points (parquet) makes one in every
    /// open part (ends its row group); without, such a format has no point to pause at.
    fn pause_all(&mut self, cut: bool) -> Result<Option<Vec<PausedPart>>> {
        let mut paused = Vec::with_capacity(self.open.len());
        for (key, part) in &mut self.open {
            let points = match part.file.pause(&self.root.join(&part.relative))? {
                Some(point) => vec![file::point_state(&point)],
                None if cut => {
                    let points = part.file.cut()?;
                    part.points.extend(points.iter().map(file::point_state));
                    part.points.clone()
                }
                None => return Ok(None),
            };
            paused.push(PausedPart {
                key: key.clone(),
                relative: part.relative.clone(),
                last_used: part.last_used,
                last_sizes: part.last_sizes,
                points,
            });
        }
        paused.sort_by(|a, b| a.relative.cmp(&b.relative));
        Ok(Some(paused))
    }

    /// Bytes handed to the part files so far, finished or open.
    fn bytes(&self) -> u64 {
        let done: u64 = self.done.iter().map(|f| f.bytes).sum();
        done + self.open.values().map(|p| p.file.bytes()).sum::<u64>()
    }

    /// Takes up the state an interrupted run journaled: its counters, its finished parts,
    /// and its open parts, each cut back to its durable point and continued there.
    fn restore(&mut self, state: DirectoryState) -> Result<()> {
        self.next_part = state.next_part.into_iter().collect();
        self.next_at_close = self.next_part.get(&Vec::new()).copied().unwrap_or(0);
        self.sizes = SizeModel::from_bits(state.sizes);
        self.sizes_at_close = self.sizes;
        self.clock = state.clock;
        self.done = state.parts;
        for paused in state.open {
            let path = self.root.join(&paused.relative);
            let points = paused
                .points
                .iter()
                .map(file::point_of)
                .collect::<Result<Vec<DurablePoint>>>()?;
            let offset = points.last().map_or(0, |p| p.offset);
            let (file, hasher) = reopen_part(&path, offset)?;
            let out =
                HashingWriter::resumed(OutputFile::buffered(file, self.buffer), hasher, offset);
            let schema = self.partitioner.data_schema();
            let file = EncodedFile::resume(
                out,
                self.format,
                schema,
                &self.settings.writer,
                &points,
                &path,
            )?;
            self.open.insert(
                paused.key,
                OpenPart {
                    file,
                    relative: paused.relative,
                    last_used: paused.last_used,
                    last_sizes: paused.last_sizes,
                    points: paused.points,
                },
            );
        }
        for entry in walk_dirs(self.root)? {
            if !self.dirs.contains(&entry) {
                self.dirs.push(entry);
            }
        }
        Ok(())
    }

    /// Closes every open part and returns all parts, ordered by path.
    fn finish(mut self) -> Result<Vec<ManifestFile>> {
        let keys: Vec<PartitionKey> = self.open.keys().cloned().collect();
        for key in keys {
            self.close(&key)?;
        }
        for dir in self.dirs.iter().rev() {
            sync_dir(dir);
        }
        self.done.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(self.done)
    }
}

/// A directory's journaled state: the parts finished so far, the parts open then (each paused
/// at a durable point, for formats that can stop after any batch) and what the writer needs
/// to go on as the first run would have.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryState {
    /// Finished parts, in the order they were closed.
    parts: Vec<ManifestFile>,
    /// The next part number of each partition directory opened so far.
    next_part: Vec<(PartitionKey, u32)>,
    sizes: [Option<u64>; 2],
    #[serde(default)]
    open: Vec<PausedPart>,
    #[serde(default)]
    clock: u64,
    /// Set once the manifest is written: only the rename is left.
    #[serde(default)]
    complete: bool,
}

/// A part that was open at a checkpoint: where it is durable up to, and its place in the
/// writer's bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PausedPart {
    key: PartitionKey,
    relative: String,
    last_used: u64,
    last_sizes: (u64, u64),
    /// The part's durable points as [`file::point_state`] writes them: its last one, or
    /// every row group of a parquet part.
    points: Vec<serde_json::Value>,
}

/// A resumable write's journal and where it continues.
pub(crate) struct Resumable<'a> {
    pub from: Option<Checkpoint>,
    pub checkpoints: &'a dyn Checkpoints,
}

/// Writes the whole stream as a directory of part files at `target`. A resumable write
/// journals a durable point as parts close and every `checkpoint_bytes` of output (every
/// open part paused, for formats that can stop after any batch), continues from its last
/// checkpoint, and keeps the staging directory on failure for the next run. Parquet parts
/// stop only when they close, so a `partition_by` parquet output, with several parts open
/// at once, has no durable point before its end.
pub(crate) async fn write(
    format: Format,
    settings: &Settings,
    target: &Path,
    overwrite: bool,
    mut input: SendableRecordBatchStream,
    resumable: Option<Resumable<'_>>,
    cx: &Context,
) -> Result<WriteSummary> {
    let schema = input.schema();
    let partitioner = Partitioner::new(&schema, &settings.layout.partition_by)?;
    let start_rows = resumable
        .as_ref()
        .and_then(|r| r.from.as_ref())
        .map_or(0, |c| c.rows);
    let state = match resumable.as_ref().and_then(|r| r.from.as_ref()) {
        Some(checkpoint) => Some(
            serde_json::from_value::<DirectoryState>(checkpoint.state.clone()).map_err(|e| {
                Error::new(
                    ErrorKind::DataIntegrity,
                    format!("the resume journal's directory state is malformed: {e}"),
                )
            })?,
        ),
        None => None,
    };
    let staging_path = partial_path(target);
    if let Some(state) = state.as_ref().filter(|s| s.complete) {
        let files = state.parts.clone();
        if staging_path.is_dir() {
            StagingDir {
                path: staging_path,
                armed: false,
            }
            .commit(target, overwrite, cx)?;
        } else if !target.is_dir() {
            return Err(complete_but_gone(target));
        }
        return Ok(summary(target, files));
    }
    let staging = match &state {
        Some(state) => {
            let mut keep: Vec<&str> = state.parts.iter().map(|p| p.path.as_str()).collect();
            keep.extend(state.open.iter().map(|p| p.relative.as_str()));
            StagingDir::reopen(staging_path, &keep)?
        }
        None => StagingDir::create(staging_path)?,
    };
    let staging = match resumable {
        Some(_) => staging.keep_on_drop(),
        None => staging,
    };
    // A resumable partitioned parquet output cuts the row groups of its open parts at each
    // checkpoint (see below), so its parts report their row groups as durable points.
    let cuts = resumable.is_some() && partitioner.is_partitioned();
    let durable_settings;
    let settings = if cuts {
        let mut s = settings.clone();
        s.writer.durable_points = true;
        durable_settings = s;
        &durable_settings
    } else {
        settings
    };
    let mut parts = Parts::new(&staging.path, format, settings, &partitioner);
    if let Some(state) = state {
        parts.restore(state)?;
    }
    let journal = resumable.as_ref().map(|r| r.checkpoints);
    let (mut rows, mut journaled, mut journaled_bytes) =
        (start_rows, parts.done.len(), parts.bytes());
    while let Some(batch) = input.next().await {
        let batch = batch?;
        cx.check_cancelled()?;
        for (key, piece) in partitioner.split(&batch)? {
            parts.write(&key, &piece)?;
        }
        rows += batch.num_rows() as u64;
        let Some(journal) = journal else { continue };
        let closed = parts.done.len() > journaled;
        journaled = parts.done.len();
        let due = parts.bytes() - journaled_bytes >= settings.writer.checkpoint_bytes;
        if !closed && !due {
            continue;
        }
        // Every open part paused: all rows so far are durable. Parquet stops only at row
        // groups: an unpartitioned output (one part at a time) journals its closed parts,
        // which hold the rows before the next part; a partitioned one, with several parts
        // open, ends their row groups every `checkpoint_bytes` (so its row groups differ
        // from those of an export without --resume).
        let checkpoint = match parts.pause_all(cuts && due)? {
            Some(paused) => Some(Checkpoint {
                rows,
                state: parts.state(paused, parts.sizes),
            }),
            None if closed && !partitioner.is_partitioned() => Some(parts.closed_checkpoint()),
            None => None,
        };
        if let Some(checkpoint) = checkpoint {
            journal.record(checkpoint)?;
            journaled_bytes = parts.bytes();
        }
    }
    if !partitioner.is_partitioned() && parts.done.is_empty() && parts.open.is_empty() {
        // An empty export still gets one (empty) file that carries the schema.
        parts.part(&Vec::new())?;
    }
    let files = parts.finish()?;
    let source = cx.report().info();
    manifest::write(
        &staging.path.join(MANIFEST),
        format,
        &schema,
        partitioner.names(),
        &files,
        source,
    )?;
    sync_dir(&staging.path);
    cx.check_cancelled()?;
    if let Some(journal) = journal {
        let rows = files.iter().map(|f| f.rows).sum();
        let state = DirectoryState {
            parts: files.clone(),
            next_part: Vec::new(),
            sizes: [None, None],
            open: Vec::new(),
            clock: 0,
            complete: true,
        };
        journal.record(Checkpoint {
            rows,
            state: serde_json::to_value(state).expect("a directory state serializes"),
        })?;
    }
    staging.commit(target, overwrite, cx)?;
    Ok(summary(target, files))
}

fn summary(target: &Path, files: Vec<ManifestFile>) -> WriteSummary {
    let rows = files.iter().map(|f| f.rows).sum();
    let bytes = files.iter().map(|f| f.bytes).sum();
    let summaries = files
        .into_iter()
        .map(|f| FileSummary {
            path: f
                .path
                .split('/')
                .fold(target.to_path_buf(), |p, segment| p.join(segment)),
            rows: f.rows,
            bytes: f.bytes,
            sha256: f.sha256,
        })
        .collect();
    WriteSummary::new(rows, bytes, summaries, false)
}
