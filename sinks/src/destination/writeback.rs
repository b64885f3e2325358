//! A file that is flushed to disk while it is still being written. Every output is fsynced
//! before its rename; without this, that fsync would find the whole file in the page cache and
//! keep the export waiting on the disk at its very end. Here a helper thread syncs what was
//! written so far each time another [`WRITEBACK_STEP`] has gone out, so the disk works while
//! the export computes and the final fsync has at most a step left to write.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

/// Bytes written between background syncs: large enough that syncing costs little, small
/// enough that the final sync is short.
pub(crate) const WRITEBACK_STEP: u64 = 32 << 20;

/// The helper thread, started once the file outgrows its first step.
struct Syncer {
    /// Asks for a sync; a sync already pending covers this request too.
    wake: SyncSender<()>,
    thread: JoinHandle<io::Result<u64>>,
}

/// A file being written whose pages are synced in the background every `step` bytes.
/// [`WritebackFile::finish`] makes the whole file durable; dropping it without finishing waits
/// for a sync in progress (the file is being abandoned, so its result no longer matters).
pub(crate) struct WritebackFile {
    file: File,
    step: u64,
    unsynced: u64,
    syncer: Option<Syncer>,
}

impl WritebackFile {
    pub(crate) fn new(file: File) -> Self {
        Self::with_step(file, WRITEBACK_STEP)
    }

    fn with_step(file: File, step: u64) -> Self {
        WritebackFile {
            file,
            step,
            unsynced: 0,
            syncer: None,
        }
    }

    /// Asks the helper thread (starting it if need be) to sync what was written so far.
    fn request_sync(&mut self) -> io::Result<()> {
        if self.syncer.is_none() {
            let file = self.file.try_clone()?;
            let (wake, requests) = sync_channel(1);
            let thread = std::thread::Builder::new()
                .name("writeback".into())
                .spawn(move || sync_on_request(&file, &requests))?;
            self.syncer = Some(Syncer { wake, thread });
        }
        if let Some(syncer) = &self.syncer {
            match syncer.wake.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) => {}
                // The thread stopped after a failed sync: report it now, not at the end.
                Err(TrySendError::Disconnected(())) => {
                    return self.stop_syncer().map(|_| ());
                }
            }
        }
        Ok(())
    }

    /// Stops the helper thread and returns how many syncs it made, or its first failure.
    fn stop_syncer(&mut self) -> io::Result<u64> {
        let Some(Syncer { wake, thread }) = self.syncer.take() else {
            return Ok(0);
        };
        drop(wake);
        thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writeback thread panicked")))
    }

    /// Makes everything written so far durable, without finishing.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Makes everything written durable. A background sync's failure is reported here: the
    /// kernel reports a write-back error once, to whichever sync sees it first.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.stop_syncer()?;
        self.file.sync_all()
    }
}

/// The helper thread's body: one `fdatasync` per request, until the writer hangs up or a sync
/// fails.
fn sync_on_request(file: &File, requests: &Receiver<()>) -> io::Result<u64> {
    let mut synced = 0;
    for () in requests {
        file.sync_data()?;
        synced += 1;
    }
    Ok(synced)
}

impl Write for WritebackFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n as u64;
        if self.unsynced >= self.step {
            self.unsynced = 0;
            self.request_sync()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for WritebackFile {
    fn drop(&mut self) {
        // Abandoned: wait for the thread, whatever its sync came to.
        let _ = self.stop_syncer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn temp_file(dir: &tempfile::TempDir) -> (std::path::PathBuf, File) {
        let path = dir.path().join("out.bin");
        (path.clone(), File::create(&path).unwrap())
    }

    #[test]
    fn syncs_in_the_background_and_keeps_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let (path, file) = temp_file(&dir);
        let mut out = WritebackFile::with_step(file, 1000);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for chunk in data.chunks(300) {
            out.write_all(chunk).unwrap();
        }
        assert!(
            out.stop_syncer().unwrap() >= 1,
            "no background sync was made"
        );
        out.finish().unwrap();
        let mut back = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn a_small_file_starts_no_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = temp_file(&dir);
        let mut out = WritebackFile::with_step(file, 1 << 20);
        out.write_all(b"small").unwrap();
        assert!(out.syncer.is_none());
        assert_eq!(out.stop_syncer().unwrap(), 0);
        out.finish().unwrap();
    }

    #[test]
    fn dropping_an_unfinished_file_stops_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (_, file) = temp_file(&dir);
        let mut out = WritebackFile::with_step(file, 10);
        out.write_all(&[1; 100]).unwrap();
        assert!(out.syncer.is_some());
        drop(out);
    }
}
