//! The resume journal: one JSON object per line beside a partial output, locked by the
//! process writing it.
//!
//! The first line holds the command and its plan (the split tokens, so that a re-run reads
//! the same remote snapshot and never creates a second export task); then, as the export
//! runs, one line per split read to its end (where it ends in the input) and one per durable
//! point of the sink (input rows on disk, and the sink's state there). A checkpoint line is
//! fsync'ed before the sink goes on, which makes every line before it durable too. A killed
//! writer can leave only its last line torn: a last line without its newline is dropped when
//! the journal is read; any other line that does not parse is corruption, and an error.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::PlanDocument;
use crate::{Checkpoint, Checkpoints, Error, ErrorKind, Result};

/// The journal layout this build writes and reads.
pub const JOURNAL_VERSION: u32 = 1;

/// Longest journal line accepted when reading: a line longer than this is corruption, not
/// a reason to hold gigabytes.
const MAX_LINE: usize = 64 << 20;

/// What a resumed command must repeat exactly: everything that decides the output's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Command {
    pub source: String,
    pub source_options: BTreeMap<String, String>,
    pub columns: Option<Vec<String>>,
    pub limit: Option<u64>,
    /// The splits read, `None` for all of them.
    pub splits: Option<Vec<usize>>,
    /// The sink argument as given (a path, a directory ending in `/`).
    pub sink: String,
    pub format: String,
    pub sink_options: BTreeMap<String, String>,
}

impl Command {
    /// What differs between the command that wrote a journal and this one, one phrase per
    /// difference; empty when they are the same.
    pub fn differences(&self, now: &Command) -> Vec<String> {
        fn show<T: Serialize>(v: &T) -> String {
            serde_json::to_string(v).unwrap_or_default()
        }
        let mut out = Vec::new();
        let mut field = |name: &str, was: String, is: String| {
            if was != is {
                out.push(format!("{name} was {was}, is now {is}"));
            }
        };
        field("the source", show(&self.source), show(&now.source));
        field(
            "the source options",
            show(&self.source_options),
            show(&now.source_options),
        );
        field("--columns", show(&self.columns), show(&now.columns));
        field("--limit", show(&self.limit), show(&now.limit));
        field("--splits", show(&self.splits), show(&now.splits));
        field("the sink", show(&self.sink), show(&now.sink));
        field("the format", show(&self.format), show(&now.format));
        field(
            "the sink options",
            show(&self.sink_options),
            show(&now.sink_options),
        );
        out
    }
}

/// The first line of a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`JOURNAL_VERSION`] when written.
    pub journal: u32,
    /// The arrowport version that wrote it.
    pub arrowport: String,
    pub command: Command,
    pub plan: PlanDocument,
    /// Which of the plan's splits are read, in order (all of them unless `--splits`).
    pub read: Vec<usize>,
    /// What the source recorded about its snapshot while planning (for the manifest).
    pub info: BTreeMap<String, Value>,
}

impl Header {
    pub fn new(
        command: Command,
        plan: PlanDocument,
        read: Vec<usize>,
        info: BTreeMap<String, Value>,
    ) -> Self {
        Header {
            journal: JOURNAL_VERSION,
            arrowport: env!("CARGO_PKG_VERSION").to_string(),
            command,
            plan,
            read,
            info,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "line", rename_all = "snake_case", deny_unknown_fields)]
enum Line {
    /// Written while planning, before the header: an option that makes a re-run reuse
    /// remote state the run created (see [`crate::SourceReport::reattach`]).
    Reattach {
        option: String,
        value: String,
    },
    Header(Box<Header>),
    /// The `position`-th split read ended after `rows` input rows in all.
    SplitEnd {
        position: usize,
        rows: u64,
    },
    Checkpoint {
        rows: u64,
        state: Value,
    },
}

/// What an earlier run left in a journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Nothing: a fresh export.
    Empty,
    /// A run that died while planning, with the options that reattach to what it created.
    Planning(BTreeMap<String, String>),
    /// A run that planned and wrote.
    Planned(Box<Recovered>),
}

/// What a run that planned left in a journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    pub header: Header,
    /// The input rows at the end of each split read to its end, in reading order.
    pub split_ends: Vec<u64>,
    /// Every durable point the sink journaled, in order; the last is where it resumes. A
    /// sink may journal its state in pieces (parquet: one row group's metadata a point).
    pub checkpoints: Vec<Checkpoint>,
}

impl Recovered {
    /// Where reading resumes: the position (in reading order) of the first split not read
    /// to the end within the checkpoint, and how many of its rows are already durable.
    pub fn resume_position(&self) -> (usize, u64) {
        let rows = self.checkpoints.last().map_or(0, |c| c.rows);
        let done = self
            .split_ends
            .iter()
            .take_while(|&&end| end <= rows)
            .count();
        let start = if done == 0 {
            0
        } else {
            self.split_ends[done - 1]
        };
        (done, rows - start)
    }
}

/// An open, locked journal. Clones share the file and its lock.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl Journal {
    /// Opens (or creates) and locks the journal at `path`, and reads what an earlier run left
    /// in it. A journal locked by another process is a configuration error: two exports
    /// would write the same output.
    pub fn open(path: &Path) -> Result<(Journal, Recovery)> {
        let io = |what: &str, e| Error::io(format!("cannot {what} `{}`", path.display()), e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| io("open the resume journal", e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::config(format!(
                    "another arrowport is writing this output: its resume journal `{}` is \
                     locked; wait for it to finish, or stop it first",
                    path.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io("lock", e)),
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| io("read the resume journal", e))?;
        let (recovered, kept) = parse(&bytes).map_err(|e| {
            Error::new(
                e.kind(),
                format!(
                    "the resume journal `{}` {}; the partial output was left as it is: remove \
                     the journal (or pass --restart) to start over",
                    path.display(),
                    e.message()
                ),
            )
        })?;
        if kept < bytes.len() {
            // A torn last line: cut it off so the next line starts clean.
            file.set_len(kept as u64)
                .map_err(|e| io("repair the resume journal", e))?;
        }
        file.seek(SeekFrom::End(0))
            .map_err(|e| io("seek in the resume journal", e))?;
        let journal = Journal {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(file)),
        };
        Ok((journal, recovered))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records `option=value` durably, while planning (see [`Line::Reattach`]).
    pub fn reattach(&self, option: &str, value: &str) -> Result<()> {
        let line = Line::Reattach {
            option: option.to_string(),
            value: value.to_string(),
        };
        self.append(&line, true)
    }

    /// Starts the journal afresh with `header`, durably.
    pub fn start(&self, header: &Header) -> Result<()> {
        let mut file = self.file.lock().unwrap();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| self.io_error(e))?;
        drop(file);
        self.append(&Line::Header(Box::new(header.clone())), true)
    }

    /// Records that the `position`-th split read ended after `rows` input rows. Not synced
    /// on its own: the next checkpoint makes it durable, and only checkpoints refer to it.
    pub fn split_end(&self, position: usize, rows: u64) -> Result<()> {
        self.append(&Line::SplitEnd { position, rows }, false)
    }

    /// Removes the journal once its output is committed. The lock goes with the last handle.
    pub fn remove(&self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| self.io_error(e))
    }

    fn append(&self, line: &Line, sync: bool) -> Result<()> {
        let mut text = serde_json::to_vec(line).map_err(|e| {
            Error::new(
                ErrorKind::Unexpected,
                format!("cannot encode a journal line: {e}"),
            )
        })?;
        text.push(b'\n');
        let mut file = self.file.lock().unwrap();
        file.write_all(&text).map_err(|e| self.io_error(e))?;
        if sync {
            file.sync_data().map_err(|e| self.io_error(e))?;
        }
        Ok(())
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::io(
            format!("cannot write the resume journal `{}`", self.path.display()),
            e,
        )
    }
}

impl Checkpoints for Journal {
    fn record(&self, checkpoint: Checkpoint) -> Result<()> {
        self.append(
            &Line::Checkpoint {
                rows: checkpoint.rows,
                state: checkpoint.state,
            },
            true,
        )
    }
}

/// Reads journal bytes: what they hold and how many bytes of whole lines to keep.
fn parse(bytes: &[u8]) -> Result<(Recovery, usize)> {
    // The user decides what to do about a broken journal: a usage error, like a lock.
    let corrupt = |n: usize, why: String| Error::config(format!("is corrupt at line {n}: {why}"));
    let mut recovered: Option<Recovered> = None;
    let mut reattach = BTreeMap::new();
    let mut kept = 0;
    let mut rest = bytes;
    let mut number = 0;
    while !rest.is_empty() {
        number += 1;
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            break; // torn by a kill mid-write: dropped
        };
        if end > MAX_LINE {
            return Err(corrupt(number, format!("a line of {end} bytes")));
        }
        let line: Line =
            serde_json::from_slice(&rest[..end]).map_err(|e| corrupt(number, format!("{e}")))?;
        match (line, &mut recovered) {
            (Line::Reattach { option, value }, None) => {
                reattach.insert(option, value);
            }
            (Line::Reattach { .. }, Some(_)) => {
                return Err(corrupt(number, "a reattach line after the header".into()));
            }
            (Line::Header(header), None) => {
                if header.journal != JOURNAL_VERSION {
                    return Err(Error::config(format!(
                        "was written by arrowport {} in layout version {}; this arrowport reads \
                         version {JOURNAL_VERSION}",
                        header.arrowport, header.journal
                    )));
                }
                recovered = Some(Recovered {
                    header: *header,
                    split_ends: Vec::new(),
                    checkpoints: Vec::new(),
                });
            }
            (Line::Header(_), Some(_)) => {
                return Err(corrupt(number, "a second header".into()));
            }
            (_, None) => return Err(corrupt(number, "no header before it".into())),
            (Line::SplitEnd { position, rows }, Some(r)) => {
                let last = r.split_ends.last().copied().unwrap_or(0);
                if position != r.split_ends.len() || rows < last {
                    return Err(corrupt(
                        number,
                        format!("split {position} ends out of order"),
                    ));
                }
                r.split_ends.push(rows);
            }
            (Line::Checkpoint { rows, state }, Some(r)) => {
                if r.checkpoints.last().is_some_and(|c| c.rows > rows) {
                    return Err(corrupt(number, "a checkpoint goes backwards".into()));
                }
                if rows > r.split_ends.last().copied().unwrap_or(0)
                    && r.split_ends.len() >= r.header.read.len()
                {
                    return Err(corrupt(number, "a checkpoint beyond the last split".into()));
                }
                r.checkpoints.push(Checkpoint { rows, state });
            }
        }
        kept += end + 1;
        rest = &rest[end + 1..];
    }
    let recovery = match recovered {
        Some(r) => Recovery::Planned(Box::new(r)),
        None if reattach.is_empty() => Recovery::Empty,
        None => Recovery::Planning(reattach),
    };
    Ok((recovery, kept))
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::{OptionMap, Split, SplitToken};

    fn header() -> Header {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        let splits = (0..3)
            .map(|i| {
                let token = SplitToken::new("datagen", &serde_json::json!({ "i": i })).unwrap();
                Split::new(i, format!("split {i}"), token).with_rows(10)
            })
            .collect();
        let plan = PlanDocument::new(
            "datagen://",
            &OptionMap::new(),
            None,
            None,
            &schema,
            Some(30),
            splits,
        )
        .unwrap();
        let command = Command {
            source: "datagen://".into(),
            source_options: BTreeMap::new(),
            columns: None,
            limit: None,
            splits: None,
            sink: "out.ndjson".into(),
            format: "ndjson".into(),
            sink_options: BTreeMap::new(),
        };
        Header::new(command, plan, vec![0, 1, 2], BTreeMap::new())
    }

    #[test]
    fn records_survive_a_reopen_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson.journal");
        {
            let (journal, recovered) = Journal::open(&path).unwrap();
            assert_eq!(recovered, Recovery::Empty);
            journal.start(&header()).unwrap();
            journal.split_end(0, 10).unwrap();
            journal
                .record(Checkpoint {
                    rows: 15,
                    state: serde_json::json!({ "offset": 99 }),
                })
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"{\"line\":\"checkpoint\",\"rows\":2");
        std::fs::write(&path, &bytes).unwrap();
        let (journal, recovered) = Journal::open(&path).unwrap();
        let Recovery::Planned(recovered) = recovered else {
            panic!("{recovered:?}")
        };
        assert_eq!(recovered.header, header());
        assert_eq!(recovered.split_ends, [10]);
        assert_eq!(recovered.checkpoints.last().unwrap().rows, 15);
        assert_eq!(recovered.resume_position(), (1, 5));
        journal.split_end(1, 20).unwrap();
        drop(journal);
        let (_, again) = Journal::open(&path).unwrap();
        let Recovery::Planned(again) = again else {
            panic!("{again:?}")
        };
        assert_eq!(again.split_ends, [10, 20], "the torn line was cut off");
    }

    /// A run killed while planning leaves the options that reattach to what it created.
    #[test]
    fn a_run_killed_while_planning_leaves_its_reattach_options() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.journal");
        {
            let (journal, _) = Journal::open(&path).unwrap();
            journal.reattach("task_id", "t-1").unwrap();
        }
        let (journal, recovered) = Journal::open(&path).unwrap();
        let expected: BTreeMap<String, String> = [("task_id".into(), "t-1".into())].into();
        assert_eq!(recovered, Recovery::Planning(expected));
        journal.start(&header()).unwrap();
        let e = journal.reattach("task_id", "t-2");
        drop(journal);
        e.unwrap();
        assert!(
            Journal::open(&path)
                .unwrap_err()
                .message()
                .contains("after the header")
        );
    }

    #[test]
    fn a_second_opener_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.journal");
        let (_first, _) = Journal::open(&path).unwrap();
        let e = Journal::open(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.message().contains("is locked"), "{e}");
    }

    #[test]
    fn corrupt_and_foreign_journals_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.journal");
        let header_line = serde_json::to_string(&Line::Header(Box::new(header()))).unwrap();
        for (bytes, want) in [
            (format!("garbage\n{header_line}\n"), "corrupt at line 1"),
            (format!("{header_line}\n{header_line}\n"), "a second header"),
            (
                format!("{header_line}\n{{\"line\":\"split_end\",\"position\":4,\"rows\":1}}\n"),
                "out of order",
            ),
            (
                format!(
                    "{}\n",
                    header_line.replace("\"journal\":1", "\"journal\":9")
                ),
                "layout version 9",
            ),
        ] {
            std::fs::write(&path, bytes.as_bytes()).unwrap();
            let e = Journal::open(&path).unwrap_err();
            assert!(e.message().contains(want), "{want}: {e}");
            assert!(e.message().contains("--restart"), "{e}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes.as_bytes(),
                "left untouched"
            );
        }
    }

    #[test]
    fn differences_name_what_changed() {
        let a = header().command;
        let mut b = a.clone();
        assert!(a.differences(&b).is_empty());
        b.columns = Some(vec!["id".into()]);
        b.source = "datagen://?seed=2".into();
        let d = a.differences(&b);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].starts_with("the source was \"datagen://\""), "{d:?}");
        assert!(d[1].contains("--columns was null"), "{d:?}");
    }

    mod fuzz {
        use proptest::prelude::*;

        use super::*;

        /// A valid journal: a header, split ends and checkpoints.
        fn valid() -> Vec<u8> {
            let mut text = serde_json::to_vec(&Line::Header(Box::new(header()))).unwrap();
            text.push(b'\n');
            for line in [
                r#"{"line":"split_end","position":0,"rows":10}"#,
                r#"{"line":"checkpoint","rows":12,"state":{"offset":7,"rows":12,"format":{}}}"#,
                r#"{"line":"split_end","position":1,"rows":20}"#,
            ] {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            text
        }

        proptest! {
            #![proptest_config(ProptestConfig::default())]

            /// Whatever a disk or a kill leaves, reading a journal is an answer or an error,
            /// and what it keeps is whole lines of what was there.
            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                if let Ok((_, kept)) = parse(&bytes) {
                    prop_assert!(kept <= bytes.len());
                }
            }

            #[test]
            fn mutated_journals_are_read_or_refused(
                at in any::<prop::sample::Index>(),
                byte in any::<u8>(),
                cut in any::<prop::sample::Index>(),
            ) {
                let mut bytes = valid();
                let i = at.index(bytes.len());
                bytes[i] = byte;
                bytes.truncate(cut.index(bytes.len() + 1).max(1));
                if let Ok((Recovery::Planned(recovered), kept)) = parse(&bytes) {
                    prop_assert!(kept <= bytes.len());
                    let (position, _) = recovered.resume_position();
                    prop_assert!(position <= recovered.split_ends.len());
                }
            }
        }

        #[test]
        fn torn_tails_keep_the_whole_lines_before_them() {
            let bytes = valid();
            for cut in 0..bytes.len() {
                let (recovered, kept) = parse(&bytes[..cut]).unwrap();
                assert_eq!(bytes[..kept].last().copied().unwrap_or(b'\n'), b'\n');
                let planned = matches!(recovered, Recovery::Planned(_));
                assert_eq!(planned, kept > 0, "cut at {cut}");
            }
        }
    }
}
