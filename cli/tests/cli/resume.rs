//! Portable splits and resumable exports, proven with real kills: an export run with
//! `--resume` is killed with SIGKILL at many points, re-run until it completes, and must then
//! hold exactly the bytes of an uninterrupted export, with nothing left beside it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{arrowport, run, stderr, tree};

/// Checkpoint lines in a journal; `None` until its plan is journaled (its header).
fn checkpoints_after_plan(journal: &Path) -> Option<usize> {
    let text = std::fs::read(journal).ok()?;
    let text = String::from_utf8_lossy(&text);
    text.contains("\"line\":\"header\"").then(|| {
        text.lines()
            .filter(|l| l.contains("\"line\":\"checkpoint\""))
            .count()
    })
}

/// Checkpoint lines in a journal (0 when it does not exist yet).
fn checkpoints(journal: &Path) -> usize {
    checkpoints_after_plan(journal).unwrap_or(0)
}

/// Waits until `child` ends or its journal holds its plan and `at` checkpoints, then kills
/// it with SIGKILL. Whether it was killed before it ended on its own. (A kill while planning,
/// before the plan is journaled, is `a_run_killed_while_the_task_runs_reuses_the_task`.)
fn kill_at(mut child: Child, journal: &Path, at: usize) -> bool {
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if checkpoints_after_plan(journal).is_some_and(|n| n >= at) {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        std::thread::yield_now();
    }
}

/// Runs the export `command` makes through a kill at each of `points` (checkpoint counts),
/// then to the end; asserts that the last run succeeds. Returns how many runs were killed
/// before they finished.
fn export_through_kills(command: &dyn Fn() -> Command, journal: &Path, points: &[usize]) -> usize {
    let mut killed = 0;
    for &at in points {
        let child = command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if !kill_at(child, journal, at) {
            // It ended before reaching the point: it must have finished the export.
            assert!(!journal.exists(), "a run ended early and left its journal");
            return killed;
        }
        killed += 1;
    }
    let out = command().output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    killed
}

/// The bytes of every file below `dir` (or of the file `dir`), by relative path.
fn contents(path: &Path) -> Vec<(String, Vec<u8>)> {
    if path.is_file() {
        return vec![(String::new(), std::fs::read(path).unwrap())];
    }
    let mut out: Vec<(String, Vec<u8>)> = tree(path)
        .into_iter()
        .filter(|p| path.join(p).is_file())
        .map(|p| {
            let bytes = std::fs::read(path.join(&p)).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[track_caller]
fn assert_same_output(expected: &Path, got: &Path) {
    let (want, have) = (contents(expected), contents(got));
    assert_eq!(
        want.iter().map(|(p, b)| (p, b.len())).collect::<Vec<_>>(),
        have.iter().map(|(p, b)| (p, b.len())).collect::<Vec<_>>(),
        "the same files of the same sizes"
    );
    for ((path, a), (_, b)) in want.iter().zip(&have) {
        assert!(a == b, "`{path}` differs from the uninterrupted export's");
    }
}

/// Asserts that `secret` is in nothing the CLI printed (`printed`) and no file it left in
/// `dir`: plans, journals, partial and finished outputs.
#[track_caller]
fn assert_no_secret(secret: &str, mut printed: Vec<Vec<u8>>, dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        printed.push(std::fs::read(entry.unwrap().path()).unwrap_or_default());
    }
    for text in &printed {
        let text = String::from_utf8_lossy(text);
        assert!(!text.contains(secret), "a secret leaked: {text}");
    }
}

/// `<output>.journal` and `<output>.partial` of an output path.
fn beside(output: &Path, suffix: &str) -> PathBuf {
    let mut name = output.file_name().unwrap().to_os_string();
    name.push(suffix);
    output.with_file_name(name)
}

/// A datagen export to `sink`, resumable, with durable points close together.
fn datagen(dir: &Path, url: &str, sink: &str, extra: &[&str]) -> Command {
    let mut cmd = arrowport();
    cmd.current_dir(dir)
        .args(["export", url, sink, "--resume", "-q"])
        .args(extra);
    cmd
}

#[test]
fn killed_single_file_exports_resume_to_the_same_bytes() {
    let url = "datagen://?rows=120000&profile=all&batch_size=2048";
    let csv_columns = "id,text,float64,date,ts_ns_shanghai,decimal,binary";
    for (file, shape, step) in [
        ("out.ndjson", vec![], "200000"),
        ("out.csv", vec!["--columns", csv_columns], "100000"),
        ("out.json", vec![], "200000"),
        ("out.arrows", vec![], "200000"),
        ("out.arrow", vec![], "200000"),
        // Parquet's durable points are its row groups, whatever the step.
        ("out.parquet", vec!["-o", "row_group_size=6000"], "1"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = vec!["export", url, "ref", "-q", "--format", &file[4..]];
        plain.extend(&shape);
        let out = run(dir.path(), &plain);
        assert!(out.status.success(), "{file}: {}", stderr(&out));

        let mut resumable = shape.clone();
        let step = format!("checkpoint_bytes={step}");
        resumable.extend(["-o", &step]);
        let output = dir.path().join(file);
        let journal = beside(&output, ".journal");
        let killed = export_through_kills(
            &|| datagen(dir.path(), url, file, &resumable),
            &journal,
            &[0, 3, 12, 40],
        );
        assert!(
            killed >= 2,
            "{file}: only {killed} runs were killed mid-export"
        );
        assert_same_output(&dir.path().join("ref"), &output);
        assert!(
            !journal.exists() && !beside(&output, ".partial").exists(),
            "{file}"
        );
    }
}

#[test]
fn killed_directory_exports_keep_their_parts_and_resume_to_the_same_bytes() {
    let url = "datagen://?rows=300000&profile=narrow&batch_size=3000";
    let rotate = ["-o", "max_rows_per_file=25000"];
    // Partitioned parts are open side by side: every `checkpoint_bytes` an NDJSON one pauses
    // them all, a parquet one ends their row groups (with --resume, in both runs compared).
    let by_category = [
        "-o",
        "partition_by=category",
        "-o",
        "max_rows_per_file=7000",
    ];
    for (format, layout, min_kills) in [
        ("parquet", &rotate[..], 2),
        ("ndjson", &rotate[..], 2),
        ("ndjson", &by_category[..], 2),
        ("parquet", &by_category[..], 2),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut shape = vec!["--format", format];
        shape.extend(layout);
        let mut resumable = shape.clone();
        resumable.extend(["-o", "checkpoint_bytes=300000"]);
        // The uninterrupted export to compare with: a resumable one, whose row groups a
        // partitioned parquet output cuts at its checkpoints.
        let out = datagen(dir.path(), url, "ref/", &resumable)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        if !(format == "parquet" && layout == by_category) {
            // Anywhere else, --resume changes no byte of the output.
            let mut plain = vec!["export", url, "plain/", "-q"];
            plain.extend(&shape);
            let out = run(dir.path(), &plain);
            assert!(out.status.success(), "{}", stderr(&out));
            assert_same_output(&dir.path().join("plain"), &dir.path().join("ref"));
            std::fs::remove_dir_all(dir.path().join("plain")).unwrap();
        }

        let output = dir.path().join("out");
        let journal = beside(&output, ".journal");
        let killed = export_through_kills(
            &|| datagen(dir.path(), url, "out/", &resumable),
            &journal,
            &[0, 1, 4, 9],
        );
        assert!(
            killed >= min_kills,
            "{format} {layout:?}: only {killed} runs were killed mid-export"
        );
        assert_same_output(&dir.path().join("ref"), &output);
        assert_eq!(
            tree(dir.path()).iter().filter(|p| !p.contains('/')).count(),
            2
        );
    }
}

#[test]
fn ctrl_c_keeps_the_partial_output_for_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let url = "datagen://?rows=400000&profile=narrow";
    let out = run(dir.path(), &["export", url, "ref.ndjson", "-q"]);
    assert!(out.status.success());
    let journal = dir.path().join("out.ndjson.journal");
    let child = datagen(
        dir.path(),
        url,
        "out.ndjson",
        &["-o", "checkpoint_bytes=100000"],
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    while checkpoints(&journal) < 2 {
        std::thread::yield_now();
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("run the same command again to continue"),
        "{err}"
    );
    assert!(journal.exists() && dir.path().join("out.ndjson.partial").exists());
    let out = datagen(
        dir.path(),
        url,
        "out.ndjson",
        &["-o", "checkpoint_bytes=100000"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_output(
        &dir.path().join("ref.ndjson"),
        &dir.path().join("out.ndjson"),
    );
}

#[test]
fn a_full_disk_fails_cleanly_and_resumes_once_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let url = "datagen://?rows=200000&profile=narrow";
    let out = run(dir.path(), &["export", url, "ref.csv", "-q"]);
    assert!(out.status.success());
    // RLIMIT_FSIZE stands for a full disk: past 1 MiB every write fails with EFBIG (the
    // signal it would raise is ignored, as a disk that fills raises none).
    let bin = env!("CARGO_BIN_EXE_arrowport");
    let out = Command::new("bash")
        .current_dir(dir.path())
        .args([
            "-c",
            &format!(
                "trap '' XFSZ; ulimit -f 1024; exec {bin} export '{url}' out.csv --resume -q \
                 -o checkpoint_bytes=100000"
            ),
        ])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!dir.path().join("out.csv").exists());
    assert!(
        checkpoints(&dir.path().join("out.csv.journal")) > 0,
        "{err}"
    );
    let out = datagen(
        dir.path(),
        url,
        "out.csv",
        &["-o", "checkpoint_bytes=100000"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_output(&dir.path().join("ref.csv"), &dir.path().join("out.csv"));
}

#[test]
fn a_changed_command_a_locked_or_broken_journal_refuse_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let url = "datagen://?rows=300000&profile=narrow";
    let journal = dir.path().join("out.ndjson.journal");
    let partial = dir.path().join("out.ndjson.partial");
    let child = datagen(
        dir.path(),
        url,
        "out.ndjson",
        &["-o", "checkpoint_bytes=50000"],
    )
    .spawn()
    .unwrap();
    assert!(kill_at(child, &journal, 2), "killed mid-export");
    let kept = (
        std::fs::read(&journal).unwrap(),
        std::fs::read(&partial).unwrap(),
    );
    let untouched = || {
        assert!(
            std::fs::read(&journal).unwrap() == kept.0,
            "the journal is untouched"
        );
        assert!(
            std::fs::read(&partial).unwrap() == kept.1,
            "the partial output is untouched"
        );
    };

    let out = run(
        dir.path(),
        &[
            "export",
            url,
            "out.ndjson",
            "--columns",
            "id",
            "-o",
            "checkpoint_bytes=50000",
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("another command") && err.contains("--columns was null"),
        "{err}"
    );
    untouched();

    let held = std::fs::File::open(&journal).unwrap();
    held.lock().unwrap();
    let out = run(
        dir.path(),
        &["export", url, "out.ndjson", "-o", "checkpoint_bytes=50000"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is locked"), "{}", stderr(&out));
    drop(held);
    untouched();

    let mut broken = kept.0.clone();
    broken.splice(0..1, *b"#");
    std::fs::write(&journal, &broken).unwrap();
    let out = run(
        dir.path(),
        &["export", url, "out.ndjson", "-o", "checkpoint_bytes=50000"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("corrupt at line 1"),
        "{}",
        stderr(&out)
    );
    assert!(std::fs::read(&partial).unwrap() == kept.1);

    let out = run(
        dir.path(),
        &[
            "export",
            url,
            "out.ndjson",
            "--restart",
            "--resume",
            "-o",
            "checkpoint_bytes=50000",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(tree(dir.path()), ["out.ndjson"]);
}

#[test]
fn plans_are_documents_whose_splits_any_run_reads() {
    let dir = tempfile::tempdir().unwrap();
    let url = "datagen://?rows=50000&profile=all";
    let out = run(dir.path(), &["plan", url, "--json", "--columns", "id,text"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let splits = plan["splits"].as_array().unwrap();
    assert!(splits.len() >= 3, "{plan}");
    assert_eq!(splits[1]["token"]["source"], "datagen");
    assert_eq!(plan["rows"], 50000);
    std::fs::write(dir.path().join("plan.json"), &out.stdout).unwrap();

    // The splits of a saved plan read exactly what the same selection of a fresh plan reads.
    let out = run(
        dir.path(),
        &[
            "export",
            "--plan",
            "plan.json",
            "a.ndjson",
            "--splits",
            "1-2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        dir.path(),
        &[
            "export",
            url,
            "b.ndjson",
            "--columns",
            "id,text",
            "--splits",
            "1,2",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let a = std::fs::read_to_string(dir.path().join("a.ndjson")).unwrap();
    assert!(a == std::fs::read_to_string(dir.path().join("b.ndjson")).unwrap());
    let rows = splits[1]["rows"].as_u64().unwrap() + splits[2]["rows"].as_u64().unwrap();
    assert_eq!(a.lines().count() as u64, rows);
    let first: serde_json::Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], splits[1]["token"]["split"]["start"]);

    for (args, want) in [
        (
            vec![
                "export",
                "--plan",
                "plan.json",
                "c.ndjson",
                "--splits",
                "99",
            ],
            "out of range",
        ),
        (
            vec![
                "export",
                "--plan",
                "plan.json",
                "c.ndjson",
                "--columns",
                "id",
            ],
            "come from the plan",
        ),
        (
            vec!["export", "--plan", "nope.json", "c.ndjson"],
            "cannot read the plan",
        ),
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }

    // A token read with another table's URL is refused, never read.
    let text = std::fs::read_to_string(dir.path().join("plan.json")).unwrap();
    let other = text.replace(
        "\"source\": \"datagen://?rows=50000&profile=all\"",
        "\"source\": \"datagen://?rows=50000&profile=all&seed=7\"",
    );
    std::fs::write(dir.path().join("other.json"), other).unwrap();
    let out = run(dir.path(), &["export", "--plan", "other.json", "c.ndjson"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reads the table profile=all seed=42"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("c.ndjson").exists());
}

/// The VikingDB emulator: an export killed anywhere, from the task's creation to its last
/// file, resumes into the same bytes with the same task; a second export task is never
/// created (it would be billed again).
mod vikingdb {
    use std::path::Path;
    use std::process::Command;

    use arrowport_testkit::vikingdb::{EmulatorConfig, VikingDbEmulator};

    use super::{assert_same_output, beside, export_through_kills, stderr};
    use crate::arrowport;

    fn emulator() -> (tokio::runtime::Runtime, VikingDbEmulator) {
        emulator_polled(3)
    }

    /// An emulator whose export tasks are done after `polls` polls.
    fn emulator_polled(polls: u32) -> (tokio::runtime::Runtime, VikingDbEmulator) {
        crate::on_runtime(VikingDbEmulator::start(EmulatorConfig {
            rows: 24_000,
            dim: 8,
            rows_per_part: 2_000,
            polls_to_done: polls,
            ..EmulatorConfig::default()
        }))
    }

    /// A run killed while its task is still running (before anything is planned) journaled
    /// the task: the re-run waits for that task, and no second one is created.
    #[test]
    fn a_run_killed_while_the_task_runs_reuses_the_task() {
        let (_rt, emu) = emulator_polled(400);
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("out.ndjson.journal");
        let child = export(&emu, dir.path(), "out.ndjson", &["--resume"])
            .spawn()
            .unwrap();
        let mut child = child;
        loop {
            assert!(child.try_wait().unwrap().is_none(), "the task ended first");
            let text = std::fs::read_to_string(&journal).unwrap_or_default();
            if text.contains("\"line\":\"reattach\"") {
                assert!(!text.contains("\"line\":\"header\""), "still planning");
                child.kill().unwrap();
                child.wait().unwrap();
                break;
            }
            std::thread::yield_now();
        }
        assert_eq!(tasks_created(&emu), 1);
        let out = export(&emu, dir.path(), "out.ndjson", &["--resume"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            tasks_created(&emu),
            1,
            "the re-run waited for the same task"
        );
        let rows = std::fs::read_to_string(dir.path().join("out.ndjson"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(rows, 24_000);
    }

    fn url(emu: &VikingDbEmulator) -> String {
        let c = emu.config();
        format!(
            "vikingdb://{}?endpoint={}&tos_endpoint={}&tos_path_style=true&tos_path={}/exports\
             &poll_interval=1ms&max_poll_interval=2ms",
            c.collection,
            emu.api_endpoint(),
            emu.tos_endpoint(),
            c.bucket
        )
    }

    /// `arrowport <args>` with the emulator's credentials.
    fn command(emu: &VikingDbEmulator, dir: &Path, args: &[&str]) -> Command {
        let c = emu.config();
        let mut cmd = arrowport();
        cmd.current_dir(dir)
            .env("VOLC_ACCESSKEY", &c.access_key)
            .env("VOLC_SECRETKEY", &c.secret_key)
            .env_remove("VOLC_SESSION_TOKEN")
            .args(args);
        cmd
    }

    fn export(emu: &VikingDbEmulator, dir: &Path, sink: &str, extra: &[&str]) -> Command {
        let mut cmd = command(emu, dir, &["export", &url(emu), sink, "-q"]);
        cmd.args(extra);
        cmd
    }

    fn tasks_created(emu: &VikingDbEmulator) -> usize {
        emu.requests()
            .iter()
            .filter(|r| r.path == "/api/task/create")
            .count()
    }

    #[test]
    fn killed_exports_resume_with_the_same_task() {
        let (_rt, emu) = emulator();
        for (sink, extra) in [
            ("out/", vec!["-o", "max_rows_per_file=1500"]),
            ("out.ndjson", vec!["-o", "checkpoint_bytes=30000"]),
        ] {
            let dir = tempfile::tempdir().unwrap();
            // The reference reuses the task the resumable run creates, so both read one
            // snapshot (a new task of the emulator would hold the same rows anyway).
            let before = tasks_created(&emu);
            let output = dir.path().join(sink.trim_end_matches('/'));
            let journal = beside(&output, ".journal");
            let mut resumable = vec!["--resume"];
            resumable.extend(&extra);
            let killed = export_through_kills(
                &|| export(&emu, dir.path(), sink, &resumable),
                &journal,
                &[0, 2, 6],
            );
            assert!(
                killed >= 2,
                "{sink}: only {killed} runs were killed mid-export"
            );
            assert_eq!(
                tasks_created(&emu) - before,
                1,
                "{sink}: one export task in all"
            );

            let reference = dir
                .path()
                .join(format!("ref-{}", sink.trim_end_matches('/')));
            let reference_sink = if sink.ends_with('/') {
                format!("{}/", reference.display())
            } else {
                reference.display().to_string()
            };
            let out = export(
                &emu,
                dir.path(),
                &reference_sink,
                &extra_without_checkpoints(&extra),
            )
            .output()
            .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            if sink.ends_with('/') {
                // The manifests name different tasks; every part file is the same.
                for part in std::fs::read_dir(&reference).unwrap() {
                    let part = part.unwrap().path();
                    if part.extension().is_some_and(|e| e == "parquet") {
                        let name = part.file_name().unwrap();
                        assert_same_output(&part, &output.join(name));
                    }
                }
            } else {
                assert_same_output(&reference, &output);
            }
        }
    }

    /// The secret key never appears in a plan, a journal, a partial output, or anything the
    /// CLI prints, even verbosely and on failure.
    #[test]
    fn secrets_stay_out_of_plans_journals_and_messages() {
        let (_rt, emu) = emulator();
        let secret = emu.config().secret_key.clone();
        let dir = tempfile::tempdir().unwrap();
        let mut printed = Vec::new();
        let url = url(&emu);
        let out = command(
            &emu,
            dir.path(),
            &["plan", &url, "--json", "--create-task", "-v"],
        )
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        printed.extend([out.stdout, out.stderr]);
        let journal = dir.path().join("out.ndjson.journal");
        let resumable = ["export", &url, "out.ndjson", "--resume", "-v"];
        let child = command(&emu, dir.path(), &resumable)
            .args(["-o", "checkpoint_bytes=20000", "--progress", "json"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        super::kill_at(child, &journal, 2);
        let out = command(&emu, dir.path(), &resumable)
            .args(["-o", "checkpoint_bytes=20000", "--progress", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        printed.extend([out.stdout, out.stderr]);
        // A failure's messages too: the task's files are gone.
        let out = command(&emu, dir.path(), &["export", &url, "again.ndjson", "-v"])
            .args(["-o", "task_id=no-such-task"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        printed.extend([out.stdout, out.stderr]);
        super::assert_no_secret(&secret, printed, dir.path());
    }

    fn extra_without_checkpoints<'a>(extra: &[&'a str]) -> Vec<&'a str> {
        match extra {
            ["-o", c] if c.starts_with("checkpoint_bytes") => Vec::new(),
            other => other.to_vec(),
        }
    }
}

/// The MaxCompute emulator: a killed export resumes with the download sessions it opened;
/// once they expire, the re-run says so and keeps what was written.
mod maxcompute {
    use std::path::Path;
    use std::process::Command;

    use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};

    use super::{assert_same_output, beside, checkpoints, export_through_kills, kill_at, stderr};
    use crate::arrowport;

    fn emulator() -> (tokio::runtime::Runtime, MaxComputeEmulator) {
        crate::on_runtime(MaxComputeEmulator::start(MaxComputeConfig {
            rows: 300,
            narrow_rows: 60_000,
            partition_rows: 50,
            ..MaxComputeConfig::default()
        }))
    }

    fn url(emu: &MaxComputeEmulator) -> String {
        let c = emu.config();
        format!(
            "maxcompute://{}/narrow?endpoint={}&split_rows=2000",
            c.project,
            emu.endpoint()
        )
    }

    /// `arrowport <args>` with the emulator's credentials.
    fn command(emu: &MaxComputeEmulator, dir: &Path, args: &[&str]) -> Command {
        let c = emu.config();
        let mut cmd = arrowport();
        cmd.current_dir(dir)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &c.access_id)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &c.secret_access_key)
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .args(args);
        cmd
    }

    fn export(emu: &MaxComputeEmulator, dir: &Path, sink: &str, extra: &[&str]) -> Command {
        let mut cmd = command(emu, dir, &["export", &url(emu), sink, "-q"]);
        cmd.args(extra);
        cmd
    }

    fn sessions_created(emu: &MaxComputeEmulator) -> usize {
        emu.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.query.contains("downloads"))
            .count()
    }

    #[test]
    fn killed_exports_resume_with_the_same_sessions() {
        let (_rt, emu) = emulator();
        let dir = tempfile::tempdir().unwrap();
        let out = export(&emu, dir.path(), "ref/", &["-o", "max_rows_per_file=4000"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        for (sink, extra) in [
            ("out/", vec!["--resume", "-o", "max_rows_per_file=4000"]),
            ("out.csv", vec!["--resume", "-o", "checkpoint_bytes=100000"]),
        ] {
            let before = sessions_created(&emu);
            let output = dir.path().join(sink.trim_end_matches('/'));
            // Connections reset mid-body throughout: runs are killed while reads are being
            // retried, and retried reads never deliver a row twice.
            let killed = export_through_kills(
                &|| {
                    emu.faults().reset_data(4, 3000);
                    export(&emu, dir.path(), sink, &extra)
                },
                &beside(&output, ".journal"),
                &[0, 2, 7],
            );
            assert!(
                killed >= 2,
                "{sink}: only {killed} runs were killed mid-export"
            );
            assert_eq!(
                sessions_created(&emu) - before,
                1,
                "{sink}: one session in all"
            );
        }
        for part in std::fs::read_dir(dir.path().join("ref")).unwrap() {
            let part = part.unwrap().path();
            if part.extension().is_some_and(|e| e == "parquet") {
                assert_same_output(
                    &part,
                    &dir.path().join("out").join(part.file_name().unwrap()),
                );
            }
        }
        let out = export(&emu, dir.path(), "ref.csv", &[]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_same_output(&dir.path().join("ref.csv"), &dir.path().join("out.csv"));
    }

    /// The secret never appears in a plan, a journal, an output, or anything the CLI prints.
    #[test]
    fn secrets_stay_out_of_plans_journals_and_messages() {
        let (_rt, emu) = emulator();
        let secret = emu.config().secret_access_key.clone();
        let dir = tempfile::tempdir().unwrap();
        let mut printed = Vec::new();
        let out = command(&emu, dir.path(), &["plan", &url(&emu), "--json", "-v"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        printed.extend([out.stdout, out.stderr]);
        let journal = dir.path().join("out.csv.journal");
        let url = url(&emu);
        let resumable = |sink: &'static str| {
            let args = [
                "export",
                &url,
                sink,
                "--resume",
                "-v",
                "-o",
                "checkpoint_bytes=50000",
            ];
            command(&emu, dir.path(), &args)
        };
        let quiet = |mut cmd: Command| {
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            cmd
        };
        kill_at(quiet(resumable("out.csv")).spawn().unwrap(), &journal, 2);
        let out = resumable("out.csv").output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        printed.extend([out.stdout, out.stderr]);
        // A failure's messages too: the sessions of an interrupted export expire.
        let again = dir.path().join("again.csv.journal");
        kill_at(quiet(resumable("again.csv")).spawn().unwrap(), &again, 1);
        emu.faults().expire_sessions();
        let out = resumable("again.csv").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        printed.extend([out.stdout, out.stderr]);
        super::assert_no_secret(&secret, printed, dir.path());
    }

    #[test]
    fn an_expired_session_is_a_clear_error_that_keeps_the_partial_output() {
        let (_rt, emu) = emulator();
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("out.journal");
        let extra = ["--resume", "-o", "max_rows_per_file=4000"];
        let child = export(&emu, dir.path(), "out/", &extra).spawn().unwrap();
        assert!(kill_at(child, &journal, 2), "killed mid-export");
        let kept = std::fs::read(&journal).unwrap();
        emu.faults().expire_sessions();
        let out = export(&emu, dir.path(), "out/", &extra).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("expired"), "{err}");
        assert!(err.contains("note:") && err.contains("--restart"), "{err}");
        assert!(checkpoints(&journal) >= 2);
        assert!(std::fs::read(&journal).unwrap().starts_with(&kept));
        assert!(dir.path().join("out.partial").is_dir());
    }
}
