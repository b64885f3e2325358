//! The MaxCompute write path end to end: `create_table=true` from a local file, and one upload
//! session shared by worker processes (`upload-session create`, `export …&upload_id=&block_ids=`,
//! `upload-session commit`), with every kind of bad input exiting with its code and committing
//! nothing.

use std::fs;
use std::path::Path;
use std::process::Output;

use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};

use super::{arrowport, stderr};

fn emulator() -> (tokio::runtime::Runtime, MaxComputeEmulator) {
    super::on_runtime(MaxComputeEmulator::start(MaxComputeConfig::default()))
}

fn url(emu: &MaxComputeEmulator, table: &str, extra: &str) -> String {
    format!(
        "maxcompute://{}/{table}?endpoint={}&tunnel_endpoint={}{extra}",
        emu.config().project,
        emu.endpoint(),
        emu.tunnel_endpoint()
    )
}

fn run(emu: &MaxComputeEmulator, dir: &Path, args: &[&str]) -> Output {
    let c = emu.config();
    arrowport()
        .current_dir(dir)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &c.access_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", &c.secret_access_key)
        .env_remove("ALIBABA_CLOUD_SECURITY_TOKEN")
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(emu: &MaxComputeEmulator, dir: &Path, args: &[&str]) -> String {
    let out = run(emu, dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[track_caller]
fn fails(emu: &MaxComputeEmulator, dir: &Path, args: &[&str], code: i32, expected: &[&str]) {
    let commits = emu.commits();
    let out = run(emu, dir, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}\nstderr: {err}");
    for word in expected {
        assert!(err.contains(word), "expected `{word}` in stderr: {err}");
    }
    assert_eq!(emu.commits(), commits, "{args:?} committed");
}

/// `id,name,score` rows `from..from + n`.
fn csv(dir: &Path, name: &str, from: i64, n: i64) {
    let mut text = String::from("id,name,score\n");
    for i in from..from + n {
        text.push_str(&format!("{i},name {i},{}.5\n", i % 7));
    }
    fs::write(dir.join(name), text).unwrap();
}

fn ids(emu: &MaxComputeEmulator, table: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = emu
        .table_batches(table, None)
        .iter()
        .flat_map(|b| {
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(
                b.column_by_name("id").unwrap(),
            )
            .values()
            .to_vec()
        })
        .collect();
    ids.sort_unstable();
    ids
}

#[test]
fn a_file_creates_its_table_and_workers_share_one_session() {
    let (_rt, emu) = emulator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    csv(d, "first.csv", 0, 100);
    csv(d, "a.csv", 100, 50);
    csv(d, "b.csv", 150, 70);
    let table = url(&emu, "from_csv", "");
    ok(
        &emu,
        d,
        &[
            "export",
            "first.csv",
            &format!("{table}&create_table=true&lifecycle=3&comment=from a CSV"),
            "-q",
        ],
    );
    assert_eq!(ids(&emu, "from_csv"), (0..100).collect::<Vec<_>>());

    let id = ok(&emu, d, &["upload-session", "create", &table])
        .trim()
        .to_string();
    assert!(!id.is_empty());
    for (file, blocks) in [("a.csv", "100-199"), ("b.csv", "200-299")] {
        let worker = format!("{table}&upload_id={id}&block_ids={blocks}");
        ok(&emu, d, &["export", file, &worker, "-q"]);
    }
    assert_eq!(ids(&emu, "from_csv").len(), 100, "workers do not commit");
    let status = ok(&emu, d, &["upload-session", "status", &table, &id]);
    assert!(status.contains("\"block_id\":100"), "{status}");

    // Bad input: each exits with its code, nothing committed.
    fails(
        &emu,
        d,
        &[
            "export",
            "a.csv",
            &format!("{table}&upload_id={id}&block_ids=150-249"),
        ],
        2,
        &["overlap", "150-249"],
    );
    fails(
        &emu,
        d,
        &[
            "upload-session",
            "commit",
            &table,
            &id,
            "--blocks",
            "100-199,150-299",
        ],
        2,
        &["overlap"],
    );
    fails(
        &emu,
        d,
        &[
            "upload-session",
            "commit",
            &table,
            &id,
            "--blocks",
            "100-199",
        ],
        2,
        &["outside the ranges", "nothing was committed"],
    );
    fails(
        &emu,
        d,
        &[
            "export",
            "a.csv",
            &url(
                &emu,
                "sink_parts",
                &format!("&partition=pt=existing&upload_id={id}&block_ids=0-9"),
            ),
            "--columns",
            "id,name",
        ],
        2,
        &["another table"],
    );

    ok(
        &emu,
        d,
        &[
            "upload-session",
            "commit",
            &table,
            &id,
            "--blocks",
            "100-199,200-299",
        ],
    );
    assert_eq!(ids(&emu, "from_csv"), (0..220).collect::<Vec<_>>());
    fails(
        &emu,
        d,
        &["upload-session", "commit", &table, &id],
        2,
        &["committed already"],
    );
}

#[test]
fn create_table_refuses_what_it_cannot_create_exit_2() {
    let (_rt, emu) = emulator();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    csv(d, "rows.csv", 0, 10);
    fails(
        &emu,
        d,
        &[
            "export",
            "datagen://?rows=10&profile=all",
            &url(&emu, "everything", "&create_table=true"),
        ],
        2,
        &["`uint64` (UInt64)", "column_types", "nothing was created"],
    );
    fails(
        &emu,
        d,
        &[
            "export",
            "rows.csv",
            &url(&emu, "sink_target", "&create_table=true"),
        ],
        2,
        &["another schema", "`score`", "`amount`"],
    );
    fails(
        &emu,
        d,
        &["export", "rows.csv", &url(&emu, "absent", "&lifecycle=3")],
        2,
        &["create_table=true"],
    );
    assert!(
        !emu.requests()
            .iter()
            .any(|r| r.path.ends_with("/instances")),
        "no table was created"
    );
    assert!(emu.uploads().is_empty());
}
