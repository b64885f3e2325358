//! Local files as a source, end to end: directories, globs and single files into every kind
//! of output, round trips through the text formats, and bad input that exits with the right
//! code and writes nothing.

use std::fs;
use std::path::Path;

use super::{ipc_file_rows, run, stderr, tree};

/// Runs arrowport in `dir` and asserts it succeeded.
#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs arrowport in `dir`, asserts the exit code and the words on stderr, and that the
/// directory holds exactly what it held before.
#[track_caller]
fn fails(dir: &Path, args: &[&str], code: i32, expected: &[&str]) {
    let before = tree(dir);
    let out = run(dir, args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{args:?}\nstderr: {err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    for word in expected {
        assert!(err.contains(word), "expected `{word}` in stderr: {err}");
    }
    assert_eq!(tree(dir), before, "{args:?} left files behind");
}

#[test]
fn a_directory_of_parquet_files_exports_as_one_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("data/sub")).unwrap();
    ok(
        d,
        &[
            "export",
            "datagen://?rows=1500&profile=all",
            "data/a.parquet",
            "-q",
        ],
    );
    ok(
        d,
        &[
            "export",
            "datagen://?rows=700&profile=all&seed=7",
            "data/sub/b.parquet",
            "-q",
        ],
    );
    fs::write(d.join("data/_SUCCESS"), "").unwrap();
    ok(d, &["export", "data/", "out.parquet", "-q"]);
    ok(d, &["export", "out.parquet", "out.arrow", "-q"]);
    assert_eq!(ipc_file_rows(&d.join("out.arrow")), 2200);

    // The schema of one file, and the plan of the directory (row groups, with counts).
    let text = ok(d, &["schema", "out.parquet"]);
    assert!(text.lines().next().unwrap().starts_with("id"), "{text}");
    assert!(text.contains("Int64 not null"), "{text}");
    assert!(text.contains("Timestamp(ns, \"Asia/Shanghai\")"), "{text}");
    let plan = ok(d, &["plan", "file://data"]);
    assert!(plan.contains("a.parquet row groups 0..1"), "{plan}");
    assert!(plan.contains("sub/b.parquet"), "{plan}");
    assert!(plan.trim_end().ends_with("2 splits, 2200 rows"), "{plan}");
}

#[test]
fn a_glob_of_ndjson_files_exports_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir_all(d.join("logs")).unwrap();
    fs::write(
        d.join("logs/b.ndjson"),
        "{\"id\":3,\"msg\":\"c\"}\n{\"id\":4,\"msg\":\"d, e\"}\n",
    )
    .unwrap();
    fs::write(
        d.join("logs/a.ndjson"),
        "{\"id\":1,\"msg\":\"a\"}\n\n{\"id\":2,\"msg\":null}\n",
    )
    .unwrap();
    fs::write(d.join("logs/skip.txt"), "not matched").unwrap();
    ok(d, &["export", "logs/*.ndjson", "out.csv", "-q"]);
    let csv = fs::read_to_string(d.join("out.csv")).unwrap();
    assert_eq!(csv, "id,msg\n1,a\n2,\n3,c\n4,\"d, e\"\n");
}

#[test]
fn csv_to_parquet_to_ndjson_keeps_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(
        d.join("in.csv"),
        "id,price,ok,day,name\n1,1.5,true,2024-01-02,\"quoted, comma\"\n2,-3,false,2023-12-31,\"two\nlines\"\n3,,,,plain\n",
    )
    .unwrap();
    ok(d, &["export", "in.csv", "mid.parquet", "-q"]);
    let schema = ok(d, &["schema", "mid.parquet"]);
    for line in [
        "id     Int64",
        "price  Float64",
        "ok     Boolean",
        "day    Date32",
        "name   Utf8",
    ] {
        assert!(schema.contains(line), "{line}: {schema}");
    }
    ok(d, &["export", "mid.parquet", "out.ndjson", "-q"]);
    let got = fs::read_to_string(d.join("out.ndjson")).unwrap();
    assert_eq!(
        got,
        "{\"id\":1,\"price\":1.5,\"ok\":true,\"day\":\"2024-01-02\",\"name\":\"quoted, comma\"}\n\
         {\"id\":2,\"price\":-3.0,\"ok\":false,\"day\":\"2023-12-31\",\"name\":\"two\\nlines\"}\n\
         {\"id\":3,\"price\":null,\"ok\":null,\"day\":null,\"name\":\"plain\"}\n"
    );
    // And back: NDJSON in, the same CSV out.
    ok(
        d,
        &[
            "export",
            "out.ndjson",
            "back.csv",
            "-q",
            "-o",
            "schema=id bigint, price double, ok bool, day date, name string",
        ],
    );
    assert_eq!(
        fs::read_to_string(d.join("back.csv")).unwrap(),
        "id,price,ok,day,name\n1,1.5,true,2024-01-02,\"quoted, comma\"\n2,-3.0,false,2023-12-31,\"two\nlines\"\n3,,,,plain\n"
    );
}

#[test]
fn an_output_directory_reads_back_through_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(
        d,
        &[
            "export",
            "datagen://?rows=3000&profile=narrow",
            "parts/",
            "-q",
            "-o",
            "partition_by=category",
            "-o",
            "max_rows_per_file=500",
        ],
    );
    ok(d, &["export", "parts/", "all.arrow", "-q"]);
    assert_eq!(ipc_file_rows(&d.join("all.arrow")), 3000);
    let schema = ok(d, &["schema", "parts"]);
    let names: Vec<&str> = schema
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, ["id", "value", "category", "ts", "flag"], "{schema}");

    // A byte changed in one part: nothing is written, and the part is named.
    let part = fs::read_dir(d.join("parts/category=alpha"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&part).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    fs::write(&part, &bytes).unwrap();
    let name = part.file_name().unwrap().to_str().unwrap();
    fails(
        d,
        &["export", "parts/", "again.arrow"],
        1,
        &["SHA-256", name],
    );
}

#[test]
fn bad_input_fails_with_the_right_code_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fails(
        d,
        &["export", "missing.parquet", "o.parquet"],
        2,
        &["not a source URL", "missing.parquet"],
    );
    fails(
        d,
        &["export", "nothing/*.csv", "o.parquet"],
        2,
        &["matches no file"],
    );
    fs::write(d.join("x.txt"), "x").unwrap();
    fails(
        d,
        &["export", "x.txt", "o.parquet"],
        2,
        &["cannot tell the format", "format="],
    );
    fails(
        d,
        &["export", "file://x.txt?format=xlsx", "o.parquet"],
        2,
        &["option `format`"],
    );

    fs::write(d.join("bad.csv"), "a,b\n1,2\n3\n4,5\n").unwrap();
    fails(
        d,
        &["export", "bad.csv", "o.parquet"],
        1,
        &["`bad.csv`", "line 3", "expected 2 fields, found 1"],
    );
    let out = run(
        d,
        &["export", "bad.csv", "skipped.csv", "-o", "on_bad_rows=skip"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read_to_string(d.join("skipped.csv")).unwrap(),
        "a,b\n1,2\n4,5\n"
    );
    fs::remove_file(d.join("skipped.csv")).unwrap();

    fs::write(d.join("bad.ndjson"), "{\"a\":1}\n{\"a\":[1]}\n").unwrap();
    fails(
        d,
        &["export", "bad.ndjson", "o.parquet", "-o", "infer_rows=1"],
        1,
        &["line 2"],
    );

    ok(
        d,
        &[
            "export",
            "datagen://?rows=100&profile=narrow",
            "t.parquet",
            "-q",
        ],
    );
    let mut bytes = fs::read(d.join("t.parquet")).unwrap();
    bytes.truncate(bytes.len() - 10);
    fs::write(d.join("t.parquet"), &bytes).unwrap();
    fails(
        d,
        &["export", "t.parquet", "o.arrow"],
        1,
        &["`t.parquet`", "not a valid Parquet file"],
    );

    fs::create_dir(d.join("mixed")).unwrap();
    fs::write(d.join("mixed/a.ndjson"), "{\"id\":1}\n").unwrap();
    fs::write(d.join("mixed/b.csv"), "id\nx\n").unwrap();
    ok(
        d,
        &[
            "export",
            "datagen://?rows=5&profile=narrow",
            "mixed/c.parquet",
            "-q",
        ],
    );
    fails(
        d,
        &["export", "mixed", "o.arrow"],
        1,
        &["column `id`", "c.parquet", "cannot be read as one table"],
    );
}

/// As root, file permissions do not stop reads, so the export runs as `nobody` there.
#[test]
fn an_unreadable_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("secret.csv"), "a\n1\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(d.join("secret.csv"), fs::Permissions::from_mode(0o000)).unwrap();
    let bin = env!("CARGO_BIN_EXE_arrowport");
    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    let mut cmd = if String::from_utf8_lossy(&root.stdout).trim() == "0" {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        std::process::Command::new(bin)
    };
    let out = cmd
        .current_dir(d)
        .args(["export", "secret.csv", "o.parquet"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot open `secret.csv`: permission denied"),
        "{err}"
    );
    assert_eq!(tree(d), ["secret.csv"]);
}
