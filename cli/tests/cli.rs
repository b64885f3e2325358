//! End-to-end tests of the `arrowport` binary: exit codes, messages, outputs, pipes, signals.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow::ipc::reader::{FileReader, StreamReader};

#[path = "cli/files.rs"]
mod files;
#[path = "cli/flight.rs"]
mod flight;
#[path = "cli/maxcompute_write.rs"]
mod maxcompute_write;
#[path = "cli/resume.rs"]
mod resume;

fn arrowport() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arrowport"));
    cmd.env_remove("RUST_LOG");
    cmd
}

fn run(dir: &Path, args: &[&str]) -> Output {
    arrowport()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run arrowport")
}

/// Starts an emulator (`start`) on a runtime of its own: the pair stays alive together.
fn on_runtime<T, E: std::fmt::Debug>(
    start: impl std::future::Future<Output = Result<T, E>>,
) -> (tokio::runtime::Runtime, T) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let emulator = rt.block_on(start).unwrap();
    (rt, emulator)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every entry below `dir`, relative, sorted: what an export left behind.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if p.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn ipc_file_rows(path: &Path) -> usize {
    let reader = FileReader::try_new(std::fs::File::open(path).unwrap(), None).unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

/// Checks one usage error: exit code 2, the expected words on stderr, and no output at all.
#[track_caller]
fn assert_usage_error(args: &[&str], expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}\nstderr: {err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    for word in expected {
        assert!(err.contains(word), "expected `{word}` in stderr: {err}");
    }
    assert!(out.stdout.is_empty(), "stdout must stay empty");
    assert_eq!(
        tree(dir.path()),
        Vec::<String>::new(),
        "args {args:?} left files behind"
    );
}

#[test]
fn help_matches_snapshots() {
    for (args, name) in [
        (&["--help"][..], "help.txt"),
        (&["export", "--help"][..], "export-help.txt"),
    ] {
        let out = arrowport().args(args).output().unwrap();
        assert!(out.status.success());
        let got = String::from_utf8(out.stdout).unwrap();
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots")
            .join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "`arrowport {}` changed; rerun with UPDATE_SNAPSHOTS=1 if intended",
            args.join(" ")
        );
    }
}

#[test]
fn list_shows_the_registered_plugins() {
    let out = arrowport().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("datagen://"), "{text}");
    for sink in ["parquet", "ndjson", "json", "csv", "arrow", "arrows"] {
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&format!("{sink} "))),
            "{sink} missing: {text}"
        );
    }
}

#[test]
fn describe_prints_plugin_docs_and_options() {
    let out = arrowport().args(["describe", "datagen"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Options: ") && text.contains("rows") && text.contains("seed"),
        "{text}"
    );
    let out = arrowport().args(["describe", "parquett"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("did you mean `parquet`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exports_every_file_format() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "a.parquet",
        "a.ndjson",
        "a.jsonl",
        "a.json",
        "a.arrow",
        "a.arrows",
    ] {
        let out = run(
            dir.path(),
            &["export", "datagen://?rows=3000&profile=all", name, "-q"],
        );
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(
            dir.path().join(name).metadata().unwrap().len() > 0,
            "{name} is empty"
        );
    }
    let out = run(
        dir.path(),
        &[
            "export",
            "datagen://?rows=3000&profile=narrow",
            "a.csv",
            "-q",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.path().join("a.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3001, "header plus one line per row");
    assert_eq!(ipc_file_rows(&dir.path().join("a.arrow")), 3000);
    let mut names = tree(dir.path());
    names.retain(|n| n.ends_with(".partial"));
    assert!(names.is_empty(), "partial files left: {names:?}");
}

#[test]
fn columns_and_limit_shape_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "export",
            "datagen://?rows=1000&profile=narrow",
            "x.arrow",
            "--columns",
            "flag,id",
            "--limit",
            "123",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reader = FileReader::try_new(
        std::fs::File::open(dir.path().join("x.arrow")).unwrap(),
        None,
    )
    .unwrap();
    let names: Vec<_> = reader
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["flag", "id"]);
    assert_eq!(reader.map(|b| b.unwrap().num_rows()).sum::<usize>(), 123);
}

#[test]
fn directory_output_rotates_and_writes_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "export",
            "datagen://?rows=10000&profile=narrow",
            "out/",
            "-o",
            "max_rows_per_file=3000",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/_manifest.json")).unwrap(),
    )
    .unwrap();
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 4);
    let rows: u64 = files.iter().map(|f| f["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows, 10000);
    assert!(
        stderr(&out).contains("exported 10,000 rows in 4 files"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn job_files_drive_an_export() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        "limit = 50\ncolumns = [\"id\", \"category\"]\n[source]\nurl = \"datagen://?profile=narrow\"\nrows = 500\n[sink]\nurl = \"j.csv\"\ndelimiter = \";\"\n",
    )
    .unwrap();
    let out = run(dir.path(), &["export", "--job", "job.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.path().join("j.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("id;category"));
    assert_eq!(csv.lines().count(), 51);
}

#[test]
fn stdout_carries_an_arrow_stream() {
    let out = arrowport()
        .args(["export", "datagen://?rows=100000&profile=narrow", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let reader = StreamReader::try_new(&out.stdout[..], None).unwrap();
    assert_eq!(
        reader.map(|b| b.unwrap().num_rows()).sum::<usize>(),
        100_000
    );
}

#[test]
fn a_reader_closing_the_pipe_early_is_success() {
    let mut child = arrowport()
        .args([
            "export",
            "datagen://?rows=50000000&profile=narrow",
            "-",
            "--format",
            "csv",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 4096];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {err}");
    assert!(!err.contains("error"), "stderr: {err}");
}

#[test]
fn ctrl_c_cancels_cleanly_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = arrowport()
        .current_dir(dir.path())
        .args([
            "export",
            "datagen://?rows=500000000&profile=narrow",
            "big.parquet",
            "--progress",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until rows are flowing (the first progress line with rows), then interrupt.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines.by_ref() {
        if line.unwrap().contains("\"event\":\"rows\"") {
            break;
        }
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "stderr: {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("error: the export was cancelled")),
        "{rest:?}"
    );
    assert_eq!(
        tree(dir.path()),
        Vec::<String>::new(),
        "nothing may be left behind"
    );
}

#[test]
fn json_progress_is_one_event_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "export",
            "datagen://?rows=20000",
            "p.arrows",
            "--progress",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "total" && e["rows"] == 20000),
        "{events:?}"
    );
    let finished = events
        .iter()
        .find(|e| e["event"] == "finished")
        .expect("finished event");
    assert_eq!(finished["rows"], 20000);
}

#[test]
fn existing_output_needs_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.parquet"), b"precious").unwrap();
    let out = run(
        dir.path(),
        &["export", "datagen://?rows=10", "keep.parquet"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--overwrite"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("keep.parquet")).unwrap(),
        b"precious"
    );
    let out = run(
        dir.path(),
        &[
            "export",
            "datagen://?rows=10",
            "keep.parquet",
            "--overwrite",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(
        std::fs::read(dir.path().join("keep.parquet")).unwrap(),
        b"precious"
    );
}

#[test]
fn bad_input_is_a_usage_error_that_writes_nothing() {
    assert_usage_error(
        &["export", "nosuch://x", "o.parquet"],
        &["unknown source scheme `nosuch`", "datagen"],
    );
    assert_usage_error(&["export", "datagen", "o.parquet"], &["not a source URL"]);
    assert_usage_error(
        &["export", "datagen://a b", "o.parquet"],
        &["malformed URL"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=10&sead=1", "o.parquet"],
        &["unknown option `sead`", "did you mean `seed`?"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=abc", "o.parquet"],
        &["option `rows`", "`abc`"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=10", "o.parquet", "-o", "rows"],
        &["expected key=value"],
    );
    assert_usage_error(
        &[
            "export",
            "datagen://?rows=10",
            "o.parquet",
            "-o",
            "compresion=zstd",
        ],
        &["did you mean `compression`?"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=10", "o.xyz"],
        &["cannot tell the format", "--format"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=10", "no/such/dir/o.parquet"],
        &["no/such/dir"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=10&profile=all", "o.csv"],
        &["csv"],
    );
    assert_usage_error(
        &[
            "export",
            "datagen://?rows=10",
            "o.parquet",
            "--columns",
            "idd",
        ],
        &["unknown column `idd`", "did you mean `id`?"],
    );
    assert_usage_error(
        &["export", "datagen://?rows=10", "o.parquet", "--limit", "-5"],
        &["--limit", "non-negative integer"],
    );
    assert_usage_error(
        &[
            "export",
            "datagen://?rows=10",
            "o.parquet",
            "--limit",
            "ten",
        ],
        &["--limit"],
    );
    assert_usage_error(
        &[
            "export",
            "datagen://?rows=10",
            "o.parquet",
            "--parallel",
            "0",
        ],
        &["--parallel", "at least 1"],
    );
    assert_usage_error(
        &[
            "export",
            "datagen://?rows=10",
            "o.parquet",
            "--parallel",
            "-2",
        ],
        &["--parallel"],
    );
    assert_usage_error(&["export", "--job", "missing.toml"], &["missing.toml"]);
}

#[test]
fn job_file_syntax_errors_name_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[source]\nurl = \"datagen://\"\nrows = = 3\n",
    )
    .unwrap();
    let out = run(dir.path(), &["export", "--job", "bad.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.toml") && err.contains("line 3") && err.contains("column"),
        "{err}"
    );
}

#[test]
fn unwritable_output_under_a_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("afile"), b"x").unwrap();
    let out = run(
        dir.path(),
        &["export", "datagen://?rows=10", "afile/out.parquet"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(tree(dir.path()), ["afile"]);
}

#[test]
fn schema_and_plan_describe_the_source() {
    let out = arrowport()
        .args(["schema", "datagen://?profile=narrow"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().next().unwrap().starts_with("id"), "{text}");
    assert!(text.contains("Int64 not null"), "{text}");
    let out = arrowport()
        .args(["schema", "datagen://?profile=narrow", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fields"][0]["name"], "id");
    let out = arrowport()
        .args(["plan", "datagen://?rows=1000000", "--parallel", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.trim_end().ends_with("1000000 rows"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// VikingDB, against the loopback emulator running in this test process.
// ---------------------------------------------------------------------------------------------

mod vikingdb {
    use std::path::Path;
    use std::process::Output;

    use arrowport_testkit::vikingdb::{EmulatorConfig, VikingDbEmulator};

    use super::{arrowport, stderr, tree};

    /// An emulator on its own runtime, alive as long as the returned pair.
    fn emulator() -> (tokio::runtime::Runtime, VikingDbEmulator) {
        super::on_runtime(VikingDbEmulator::start(EmulatorConfig {
            rows: 2000,
            dim: 8,
            rows_per_part: 700,
            ..EmulatorConfig::default()
        }))
    }

    fn url(emu: &VikingDbEmulator, extra: &str) -> String {
        let c = emu.config();
        format!(
            "vikingdb://{}?endpoint={}&tos_endpoint={}&tos_path_style=true&tos_path={}/exports\
             &poll_interval=1ms&max_poll_interval=2ms{extra}",
            c.collection,
            emu.api_endpoint(),
            emu.tos_endpoint(),
            c.bucket
        )
    }

    fn export(emu: &VikingDbEmulator, dir: &Path, args: &[&str], secret: Option<&str>) -> Output {
        let c = emu.config();
        arrowport()
            .current_dir(dir)
            .env("VOLC_ACCESSKEY", &c.access_key)
            .env("VOLC_SECRETKEY", secret.unwrap_or(&c.secret_key))
            .env_remove("VOLC_SESSION_TOKEN")
            .arg("export")
            .args(args)
            .output()
            .unwrap()
    }

    #[test]
    fn exports_a_collection_with_its_task_in_the_manifest() {
        let (_rt, emu) = emulator();
        let dir = tempfile::tempdir().unwrap();
        let out = export(&emu, dir.path(), &[&url(&emu, ""), "out/", "-q"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("out/_manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["rows"], 2000, "{manifest}");
        let text = manifest.to_string();
        assert!(
            text.contains("task_id") && text.contains("sampled_timestamp"),
            "{text}"
        );
    }

    #[test]
    fn bad_input_exits_2_and_remote_failures_exit_1_writing_nothing() {
        let (_rt, emu) = emulator();
        let cases: Vec<(String, Option<&str>, i32, &str)> = vec![
            (url(&emu, "&filter={nope"), None, 2, "not valid JSON"),
            (
                url(&emu, r#"&filter={"categry":["a"]}"#),
                None,
                2,
                "did you mean",
            ),
            (url(&emu, ""), Some("wrong-secret"), 1, "request_id"),
            (
                url(&emu, "").replace("vikingdb://demo", "vikingdb://missing"),
                None,
                1,
                "missing",
            ),
        ];
        for (source, secret, code, needle) in cases {
            let dir = tempfile::tempdir().unwrap();
            let out = export(&emu, dir.path(), &[&source, "out.parquet"], secret);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(code), "{source}: {err}");
            assert!(
                err.contains(needle),
                "{source}: expected `{needle}` in {err}"
            );
            assert!(tree(dir.path()).is_empty(), "{source} left files behind");
        }

        let dir = tempfile::tempdir().unwrap();
        let out = arrowport()
            .current_dir(dir.path())
            .env_remove("VOLC_ACCESSKEY")
            .env_remove("VOLC_SECRETKEY")
            .args(["export", &url(&emu, ""), "out.parquet"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("VOLC_ACCESSKEY"));

        for fault in ["fail", "crc"] {
            match fault {
                "fail" => emu.faults().fail_next_task("worker lost"),
                _ => emu.faults().wrong_crc(true),
            }
            let dir = tempfile::tempdir().unwrap();
            let out = export(&emu, dir.path(), &[&url(&emu, ""), "out.parquet"], None);
            assert_eq!(out.status.code(), Some(1), "{fault}: {}", stderr(&out));
            assert!(tree(dir.path()).is_empty(), "{fault} left files behind");
        }
        emu.faults().wrong_crc(false);
    }
}

mod maxcompute {
    use std::path::Path;
    use std::process::Output;

    use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};

    use super::{arrowport, ipc_file_rows, stderr, tree};

    /// An emulator on its own runtime, alive as long as the returned pair.
    fn emulator() -> (tokio::runtime::Runtime, MaxComputeEmulator) {
        super::on_runtime(MaxComputeEmulator::start(MaxComputeConfig {
            rows: 300,
            narrow_rows: 2000,
            partition_rows: 50,
            ..MaxComputeConfig::default()
        }))
    }

    fn url(emu: &MaxComputeEmulator, path: &str, extra: &str) -> String {
        format!(
            "maxcompute://{}{path}?endpoint={}{extra}",
            emu.config().project,
            emu.endpoint()
        )
    }

    fn run(emu: &MaxComputeEmulator, dir: &Path, args: &[&str], secret: Option<&str>) -> Output {
        let c = emu.config();
        arrowport()
            .current_dir(dir)
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &c.access_id)
            .env(
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                secret.unwrap_or(&c.secret_access_key),
            )
            .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
            .args(args)
            .output()
            .unwrap()
    }

    #[test]
    fn tables_and_partitions_list_what_the_project_holds() {
        let (_rt, emu) = emulator();
        let dir = tempfile::tempdir().unwrap();
        let out = run(&emu, dir.path(), &["tables", &url(&emu, "", "")], None);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8(out.stdout).unwrap();
        let names: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "all_types",
                "empty",
                "narrow",
                "narrow_sink",
                "sales",
                "sink_parts",
                "sink_target",
                "vectors"
            ]
        );

        let out = run(
            &emu,
            dir.path(),
            &["tables", &url(&emu, "", "&prefix=sa"), "--json"],
            None,
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let row: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(row["name"], "sales", "{text}");

        let out = run(
            &emu,
            dir.path(),
            &[
                "partitions",
                &url(&emu, "/sales", "&partition=dt>=20230119"),
            ],
            None,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "pt=a,dt=20230119\npt=b,dt=20230119\npt=b,dt=20230120\n"
        );

        let out = run(
            &emu,
            dir.path(),
            &["partitions", &url(&emu, "/narrow", "")],
            None,
        );
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("not partitioned"));
        let out = run(&emu, dir.path(), &["tables", "datagen://"], None);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    }

    #[test]
    fn exports_a_partitioned_table_with_its_sessions_in_the_manifest() {
        let (_rt, emu) = emulator();
        let dir = tempfile::tempdir().unwrap();
        let source = url(&emu, "/sales", "&partition=pt=a&partition_columns=true");
        let out = run(&emu, dir.path(), &["export", &source, "out/", "-q"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("out/_manifest.json")).unwrap())
                .unwrap();
        assert_eq!(manifest["rows"], 100, "{manifest}");
        let text = manifest.to_string();
        assert!(
            text.contains("download_id") && text.contains("pt=a,dt=20230119"),
            "{text}"
        );

        let out = run(
            &emu,
            dir.path(),
            &[
                "export",
                &url(&emu, "/all_types", "&format=record"),
                "all.arrow",
                "-q",
            ],
            None,
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(ipc_file_rows(&dir.path().join("all.arrow")), 300);
    }

    #[test]
    fn writing_rows_that_do_not_fit_a_table_exits_2_and_commits_nothing() {
        let (_rt, emu) = emulator();
        let dir = tempfile::tempdir().unwrap();
        let sink = format!(
            "maxcompute://{}/sink_target?endpoint={}&tunnel_endpoint={}",
            emu.config().project,
            emu.endpoint(),
            emu.tunnel_endpoint()
        );
        let out = run(
            &emu,
            dir.path(),
            &["export", "datagen://?rows=100&profile=narrow", &sink],
            None,
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        for needle in ["`value` is not a column", "`name` (string) is missing"] {
            assert!(err.contains(needle), "{needle}: {err}");
        }
        assert_eq!(emu.commits(), 0);
    }

    #[test]
    fn bad_input_exits_2_and_remote_failures_exit_1_writing_nothing() {
        let (_rt, emu) = emulator();
        let cases: Vec<(String, Option<&str>, i32, &str)> = vec![
            (url(&emu, "/sales", "&partition=pt"), None, 2, "partition"),
            (url(&emu, "/sales", "&partition=nope=1"), None, 2, "pt, dt"),
            (url(&emu, "/narrow", "&format=csv"), None, 2, "format"),
            (
                url(&emu, "/narrow", ""),
                Some("wrong-secret"),
                1,
                "request_id",
            ),
            (url(&emu, "/missing", ""), None, 1, "missing"),
            (
                url(&emu, "/sales", "&partition=pt=a,dt=1"),
                None,
                1,
                "NoSuchPartition",
            ),
        ];
        for (source, secret, code, needle) in cases {
            let dir = tempfile::tempdir().unwrap();
            let out = run(
                &emu,
                dir.path(),
                &["export", &source, "out.parquet"],
                secret,
            );
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(code), "{source}: {err}");
            assert!(
                err.contains(needle),
                "{source}: expected `{needle}` in {err}"
            );
            assert!(tree(dir.path()).is_empty(), "{source} left files behind");
        }

        let dir = tempfile::tempdir().unwrap();
        let out = arrowport()
            .current_dir(dir.path())
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .args(["export", &url(&emu, "/narrow", ""), "out.parquet"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains("ALIBABA_CLOUD_ACCESS_KEY_ID"));

        for fault in ["crc", "short"] {
            match fault {
                "crc" => emu.faults().corrupt_data(1),
                _ => emu.faults().short_data(1),
            }
            let dir = tempfile::tempdir().unwrap();
            let out = run(
                &emu,
                dir.path(),
                &["export", &url(&emu, "/narrow", ""), "out.parquet"],
                None,
            );
            assert_eq!(out.status.code(), Some(1), "{fault}: {}", stderr(&out));
            assert!(tree(dir.path()).is_empty(), "{fault} left files behind");
        }
    }
}

/// `arrowport export vikingdb://… maxcompute://…`: every row of an emulated VikingDB collection
/// lands in an emulated MaxCompute table, vectors as `array<float>`.
#[test]
fn vikingdb_to_maxcompute_moves_every_row() {
    use arrow::array::{AsArray, Float32Array};
    use arrow::compute::concat_batches;
    use arrow::datatypes::Int64Type;
    use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};
    use arrowport_testkit::vikingdb::{EmulatorConfig, VikingDbEmulator};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (viking, mc) = rt.block_on(async {
        let viking = VikingDbEmulator::start(EmulatorConfig {
            rows: 1500,
            dim: 16,
            rows_per_part: 600,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let mc = MaxComputeEmulator::start(MaxComputeConfig::default())
            .await
            .unwrap();
        (viking, mc)
    });
    let (v, m) = (viking.config(), mc.config());
    let source = format!(
        "vikingdb://{}?endpoint={}&tos_endpoint={}&tos_path_style=true&tos_path={}/exports\
         &poll_interval=1ms&max_poll_interval=2ms",
        v.collection,
        viking.api_endpoint(),
        viking.tos_endpoint(),
        v.bucket
    );
    let sink = format!(
        "maxcompute://{}/vectors?endpoint={}&tunnel_endpoint={}",
        m.project,
        mc.endpoint(),
        mc.tunnel_endpoint()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = arrowport()
        .current_dir(dir.path())
        .env("VOLC_ACCESSKEY", &v.access_key)
        .env("VOLC_SECRETKEY", &v.secret_key)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &m.access_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &m.secret_access_key)
        .args(["export", &source, &sink, "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        tree(dir.path()).is_empty(),
        "a table sink writes no local files"
    );

    let written = concat_batches(
        &mc.table_schema("vectors"),
        &mc.table_batches("vectors", None),
    )
    .unwrap();
    let sent = concat_batches(&viking.collection_schema(), &viking.collection_batches()).unwrap();
    assert_eq!(written.num_rows(), 1500);
    let ids = |b: &arrow::array::RecordBatch| {
        let mut v = b
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        v.sort_unstable();
        v
    };
    assert_eq!(ids(&written), ids(&sent));
    // Vectors arrive whole, as lists of 16 floats equal to the collection's.
    let row_of = |b: &arrow::array::RecordBatch, id: i64| {
        b.column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .position(|&x| x == id)
            .unwrap()
    };
    for id in [0, 777, 1499] {
        let got = written
            .column_by_name("vector")
            .unwrap()
            .as_list::<i32>()
            .value(row_of(&written, id));
        let want = sent
            .column_by_name("vector")
            .unwrap()
            .as_fixed_size_list()
            .value(row_of(&sent, id));
        assert_eq!(
            got.as_any().downcast_ref::<Float32Array>(),
            want.as_any().downcast_ref::<Float32Array>()
        );
    }
}

/// The README's first command: the demo runs every export into its directory.
#[test]
fn demo_writes_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = arrowport()
        .current_dir(dir.path())
        .args(["demo", "--rows", "2000", "--out", "out", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let files = tree(&dir.path().join("out"));
    for name in [
        "vikingdb.parquet",
        "vikingdb.arrow",
        "vikingdb.ndjson",
        "maxcompute.parquet",
        "parts/_manifest.json",
    ] {
        assert!(files.iter().any(|f| f == name), "{name} missing: {files:?}");
    }
    assert_eq!(ipc_file_rows(&dir.path().join("out/vikingdb.arrow")), 2000);
}
