//! Keeps `tests/FAULTS.md` true to the tests: the matrix has every fault and every remote path,
//! no cell is empty, every test a cell cites exists, and every `faults_*` test is cited.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const PATHS: [&str; 6] = [
    "VikingDB task API",
    "TOS listing",
    "TOS GET",
    "MaxCompute meta",
    "tunnel download",
    "tunnel upload",
];

const FAULTS: [&str; 14] = [
    "5xx",
    "429 with Retry-After",
    "VikingDB quota 1000029",
    "connection reset mid-body",
    "truncated body",
    "corrupted CRC once",
    "corrupted CRC always",
    "expired session",
    "task `fail` with `err_msg`",
    "task `confirm`",
    "stall (read timeout)",
    "slow but steady",
    "wrong credentials",
    "DNS/connect failure",
];

/// The files holding the matrix's own tests, each of whose `faults_*` tests must be cited.
const FAULT_TESTS: [&str; 2] = [
    "backends/vikingdb/tests/faults.rs",
    "backends/maxcompute/tests/faults.rs",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit lives in the workspace")
        .to_path_buf()
}

/// The cells of a table row, without the outer pipes. Cells hold no `|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

/// The matrix: its header, then its rows, from the first table of the page.
fn matrix(page: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = page
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'));
    let header = cells(lines.next().expect("FAULTS.md holds a table"));
    let rule = lines.next().expect("a header rule");
    assert!(rule.starts_with("|---"), "{rule}");
    (header, lines.map(cells).collect())
}

/// The `file::test` citations of a cell: backquoted, with a `.rs` file before the `::`.
fn citations(cell: &str) -> Vec<(String, String)> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|quoted| {
            let (file, test) = quoted.split_once("::")?;
            file.ends_with(".rs")
                .then(|| (file.to_string(), test.to_string()))
        })
        .collect()
}

/// Whether `source` defines a test function `name`: a `#[test]` or `#[tokio::test]` among the
/// attribute and comment lines right above it.
fn defines_test(source: &str, name: &str) -> bool {
    let lines: Vec<&str> = source.lines().map(str::trim).collect();
    let pattern = format!("fn {name}(");
    lines.iter().enumerate().any(|(i, line)| {
        (line.starts_with(&pattern) || line.starts_with(&format!("async {pattern}")))
            && lines[..i]
                .iter()
                .rev()
                .take_while(|l| l.starts_with("#[") || l.starts_with("//"))
                .any(|l| l.starts_with("#[test]") || l.starts_with("#[tokio::test"))
    })
}

/// Every `faults_*` test `source` defines.
fn fault_tests(source: &str) -> Vec<String> {
    source
        .match_indices("fn faults_")
        .map(|(at, _)| {
            let name = &source[at + 3..];
            name[..name.find('(').expect("a function")].to_string()
        })
        .filter(|name| defines_test(source, name))
        .collect()
}

#[test]
fn the_fault_matrix_is_complete_and_cites_tests_that_exist() {
    let root = workspace();
    let page = std::fs::read_to_string(root.join("tests/FAULTS.md")).unwrap();
    let (header, rows) = matrix(&page);
    assert_eq!(header[0], "fault");
    assert_eq!(header[1..], PATHS, "the columns are the remote paths");
    let faults: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(faults, FAULTS, "the rows are the faults");

    let mut cited = BTreeSet::new();
    for row in &rows {
        assert_eq!(
            row.len(),
            header.len(),
            "row {:?} has a cell per path",
            row[0]
        );
        for (cell, path) in row[1..].iter().zip(PATHS) {
            let at = format!("{} × {path}", row[0]);
            if let Some(reason) = cell.strip_prefix("n/a:") {
                assert!(reason.trim().len() > 10, "{at}: n/a needs a reason");
                assert!(citations(cell).is_empty(), "{at}: n/a cites no test");
                continue;
            }
            assert!(
                cell.starts_with("complete") || cell.starts_with("error"),
                "{at}: a cell is complete, error or n/a: {cell:?}"
            );
            let tests = citations(cell);
            assert!(!tests.is_empty(), "{at}: no test shows it");
            for (file, test) in tests {
                let source = std::fs::read_to_string(root.join(&file))
                    .unwrap_or_else(|e| panic!("{at}: cannot read {file}: {e}"));
                assert!(
                    defines_test(&source, &test),
                    "{at}: {file} has no test `{test}`"
                );
                cited.insert(format!("{file}::{test}"));
            }
        }
    }

    for file in FAULT_TESTS {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        let tests = fault_tests(&source);
        assert!(!tests.is_empty(), "{file} holds fault tests");
        for test in tests {
            let name = format!("{file}::{test}");
            assert!(cited.contains(&name), "FAULTS.md does not cite {name}");
        }
    }
}

#[test]
fn citations_and_test_definitions_are_found() {
    assert_eq!(
        citations("error — `a/b.rs::t1`, `x` and `c.rs::t2`; `X::y`"),
        [
            ("a/b.rs".to_string(), "t1".to_string()),
            ("c.rs".to_string(), "t2".to_string())
        ]
    );
    let source = "#[test]\nfn faults_a() {}\n\nfn faults_b() {}\n\n#[tokio::test(flavor = \"x\")]\nasync fn faults_c() {\n}\n";
    assert!(defines_test(source, "faults_a"));
    assert!(!defines_test(source, "faults_b"));
    assert!(defines_test(source, "faults_c"));
    assert_eq!(fault_tests(source), ["faults_a", "faults_c"]);
}
