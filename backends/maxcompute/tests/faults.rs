//! The MaxCompute columns of the fault matrix (`tests/FAULTS.md`): each fault on the meta API,
//! tunnel downloads (the source) and tunnel uploads (the sink), one test per cell, named after
//! it. A cell ends in every row exactly once, or in a clear error with nothing written (no
//! batch kept by the `Collect` sink, no upload session committed).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::DataType;
use arrowport_core::{
    Context, Error, ErrorKind, HttpSettings, ProgressEvent, RecordBatchStreamAdapter, Result, Scan,
    Sink, SourceSpec,
};
use arrowport_maxcompute::sign::Credentials;
use arrowport_maxcompute::{Config, MaxComputeSink, MaxComputeSource};
use arrowport_testkit::collect::{Collect, recording_context, urlencode};
use arrowport_testkit::http::Wire;
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator, Route};

/// The read timeout of the stall and trickle cells: far above a loopback answer, far below a
/// stall.
const TIMEOUT: Duration = Duration::from_millis(250);
/// Longer than any test: a stalled answer never resumes.
const STALL: Wire = Wire::Stall(Duration::from_secs(60));
/// 13 silences of 25 ms: the answer takes longer than [`TIMEOUT`], and no silence comes near.
const TRICKLE: Wire = Wire::Trickle {
    gap: Duration::from_millis(25),
    pieces: 12,
};

/// `narrow` holds 600 rows, read in three ranges; `narrow_sink` takes uploads.
async fn emulator() -> MaxComputeEmulator {
    emulator_of(600).await
}

async fn emulator_of(narrow_rows: u64) -> MaxComputeEmulator {
    MaxComputeEmulator::start(MaxComputeConfig {
        narrow_rows,
        ..MaxComputeConfig::default()
    })
    .await
    .unwrap()
}

fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port())
}

/// The options every client of the emulator takes, `overrides` winning.
fn url(emu: &MaxComputeEmulator, table: &str, overrides: &[(&str, &str)]) -> String {
    let mut options = vec![
        ("endpoint", emu.endpoint()),
        ("tunnel_endpoint", emu.tunnel_endpoint()),
        ("split_rows", "200".into()),
    ];
    for (k, v) in overrides {
        options.retain(|(key, _)| key != k);
        options.push((k, v.to_string()));
    }
    let query: Vec<String> = options
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencode(v)))
        .collect();
    format!(
        "maxcompute://{}/{table}?{}",
        emu.config().project,
        query.join("&")
    )
}

fn config(emu: &MaxComputeEmulator, table: &str, overrides: &[(&str, &str)]) -> Config {
    let spec = SourceSpec::parse(&url(emu, table, overrides)).unwrap();
    Config::from_options(&spec.location, &spec.options).unwrap()
}

fn credentials(emu: &MaxComputeEmulator) -> Credentials {
    Credentials::new(&emu.config().access_id, &emu.config().secret_access_key)
}

/// A recording context; with a `timeout`, HTTP reads time out after it.
fn context(timeout: Option<Duration>) -> (Context, Arc<Mutex<Vec<ProgressEvent>>>) {
    let (cx, events) = recording_context();
    let cx = match timeout {
        Some(timeout) => {
            let mut http = HttpSettings::default();
            http.request_timeout = timeout;
            cx.with_http(http)
        }
        None => cx,
    };
    (cx, events)
}

/// What one export or upload did: its result, what it wrote, the retries it reported.
struct Outcome {
    result: Result<()>,
    /// The batches the `Collect` sink kept (an export), or the sink table's rows (an upload).
    written: Vec<RecordBatch>,
    retries: Vec<(u64, String)>,
    elapsed: Duration,
}

fn retries(events: &Mutex<Vec<ProgressEvent>>) -> Vec<(u64, String)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Retry {
                delay_ms, error, ..
            } => Some((*delay_ms, error.clone())),
            _ => None,
        })
        .collect()
}

/// Exports `narrow` into the `Collect` sink.
async fn export(
    emu: &MaxComputeEmulator,
    overrides: &[(&str, &str)],
    timeout: Option<Duration>,
) -> Outcome {
    let source =
        MaxComputeSource::new(config(emu, "narrow", overrides)).with_credentials(credentials(emu));
    let (cx, events) = context(timeout);
    let sink = Collect::default();
    let started = Instant::now();
    let result = arrowport_core::export(&source, &sink, &Scan::new(), &cx)
        .await
        .map(|_| ());
    Outcome {
        result,
        written: sink.batches(),
        retries: retries(&events),
        elapsed: started.elapsed(),
    }
}

/// Uploads `narrow`'s rows into `narrow_sink`, one block at a time.
async fn upload(
    emu: &MaxComputeEmulator,
    overrides: &[(&str, &str)],
    timeout: Option<Duration>,
) -> Outcome {
    let sink = MaxComputeSink::new(config(emu, "narrow_sink", overrides))
        .with_credentials(credentials(emu));
    let (cx, events) = context(timeout);
    let cx = cx.with_parallelism(1);
    let input = emu.table_batches("narrow", None);
    let stream = RecordBatchStreamAdapter::sendable(
        emu.table_schema("narrow"),
        futures::stream::iter(input.into_iter().map(Ok)),
    );
    let started = Instant::now();
    let result = sink.write_all(stream, &cx).await.map(|_| ());
    Outcome {
        result,
        written: emu.table_batches("narrow_sink", None),
        retries: retries(&events),
        elapsed: started.elapsed(),
    }
}

/// Every row of `narrow` arrived exactly once, value for value.
fn assert_complete(emu: &MaxComputeEmulator, outcome: &Outcome) {
    if let Err(e) = &outcome.result {
        panic!("failed: {e}");
    }
    let want = concat_batches(
        &emu.table_schema("narrow"),
        &emu.table_batches("narrow", None),
    )
    .unwrap();
    let got = concat_batches(&outcome.written[0].schema(), &outcome.written).unwrap();
    assert_eq!(got.num_rows(), want.num_rows(), "row count");
    for field in got.schema().fields() {
        let column = got.column_by_name(field.name()).unwrap();
        let expected = want.column_by_name(field.name()).unwrap();
        let expected = match (expected.data_type(), column.data_type()) {
            (a, b) if a == b => expected.to_data(),
            // Only the recorded timezone differs: the stored instants must be identical.
            (DataType::Timestamp(u1, _), DataType::Timestamp(u2, _)) if u1 == u2 => expected
                .to_data()
                .into_builder()
                .data_type(column.data_type().clone())
                .build()
                .unwrap(),
            _ => cast(expected, column.data_type()).unwrap().to_data(),
        };
        assert_eq!(column.to_data(), expected, "column {}", field.name());
    }
}

/// It failed with `kind`, saying each of `needles`, and nothing was written or committed.
fn assert_clear_error<'a>(
    emu: &MaxComputeEmulator,
    outcome: &'a Outcome,
    kind: ErrorKind,
    needles: &[&str],
) -> &'a Error {
    let err = outcome.result.as_ref().expect_err("it must fail");
    assert_eq!(err.kind(), kind, "{err}");
    for needle in needles {
        assert!(err.to_string().contains(needle), "{needle:?} in {err}");
    }
    assert!(
        outcome.written.iter().all(|b| b.num_rows() == 0),
        "nothing may be written"
    );
    assert_eq!(emu.commits(), 0, "nothing may be committed");
    err
}

fn waited_a_second(outcome: &Outcome) -> bool {
    outcome.retries.iter().any(|(ms, _)| *ms == 1000)
}

fn timed_out(outcome: &Outcome) -> bool {
    outcome.retries.iter().any(|(_, e)| e.contains("timed out"))
}

// The meta API.

#[tokio::test]
async fn faults_meta_429_retry_after() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::Meta, 429, Some(1), 1);
    let outcome = export(&emu, &[], None).await;
    assert_complete(&emu, &outcome);
    assert!(waited_a_second(&outcome), "{:?}", outcome.retries);
}

#[tokio::test]
async fn faults_meta_reset_mid_body() {
    let emu = emulator().await;
    emu.faults().wire(Route::Meta, Wire::Reset, 1);
    let outcome = export(&emu, &[], None).await;
    assert_complete(&emu, &outcome);
    assert_eq!(outcome.retries.len(), 1);
}

#[tokio::test]
async fn faults_meta_truncated_body() {
    let emu = emulator().await;
    emu.faults().wire(Route::Meta, Wire::Truncate, 1);
    let outcome = export(&emu, &[], None).await;
    let err = assert_clear_error(&emu, &outcome, ErrorKind::Remote, &["meta API", "narrow"]);
    assert!(err.context_value("request_id").is_some(), "{err}");
}

#[tokio::test]
async fn faults_meta_stall() {
    let emu = emulator().await;
    emu.faults().wire(Route::Meta, STALL, 1);
    let outcome = export(&emu, &[], Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(timed_out(&outcome), "{:?}", outcome.retries);
}

#[tokio::test]
async fn faults_meta_slow_but_steady() {
    let emu = emulator().await;
    emu.faults().wire(Route::Meta, TRICKLE, 1);
    let outcome = export(&emu, &[], Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(outcome.retries.is_empty(), "{:?}", outcome.retries);
    assert!(outcome.elapsed > TIMEOUT);
}

#[tokio::test]
async fn faults_meta_connect_failure() {
    let emu = emulator().await;
    let closed = closed_endpoint();
    let outcome = export(&emu, &[("endpoint", &format!("{closed}/api"))], None).await;
    assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::Remote,
        &["meta API", "could not connect"],
    );
    assert_eq!(outcome.retries.len(), 3, "connect failures are retried");
}

// Tunnel downloads.

#[tokio::test]
async fn faults_download_429_retry_after() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::Download, 429, Some(1), 1);
    let outcome = export(&emu, &[], None).await;
    assert_complete(&emu, &outcome);
    assert!(waited_a_second(&outcome), "{:?}", outcome.retries);
}

#[tokio::test]
async fn faults_download_truncated_body() {
    let emu = emulator().await;
    for format in ["arrow", "record"] {
        emu.faults().wire(Route::Download, Wire::Truncate, 1);
        let outcome = export(&emu, &[("format", format)], None).await;
        let err = assert_clear_error(
            &emu,
            &outcome,
            ErrorKind::DataIntegrity,
            &["tunnel", "rows="],
        );
        for key in ["download_id", "request_id"] {
            assert!(err.context_value(key).is_some(), "{format}: {key} in {err}");
        }
    }
}

#[tokio::test]
async fn faults_download_corrupt_always() {
    let emu = emulator().await;
    emu.faults().corrupt_data(u32::MAX);
    let outcome = export(&emu, &[("compression", "none")], None).await;
    let err = assert_clear_error(&emu, &outcome, ErrorKind::DataIntegrity, &["CRC"]);
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(outcome.retries.is_empty(), "corruption is not retried");
}

#[tokio::test]
async fn faults_download_stall() {
    let emu = emulator().await;
    emu.faults().wire(Route::Download, STALL, 1);
    let outcome = export(&emu, &[], Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(timed_out(&outcome), "{:?}", outcome.retries);
}

#[tokio::test]
async fn faults_download_slow_but_steady() {
    let emu = emulator().await;
    emu.faults().wire(Route::Download, TRICKLE, 1);
    let outcome = export(&emu, &[], Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(outcome.retries.is_empty(), "{:?}", outcome.retries);
    assert!(outcome.elapsed > TIMEOUT);
}

#[tokio::test]
async fn faults_download_wrong_credentials() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::Download, 401, None, 1);
    let outcome = export(&emu, &[], None).await;
    let err = assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::PermissionDenied,
        &["tunnel GET", "SignatureNotMatch"],
    );
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(
        outcome.retries.is_empty(),
        "a rejected signature is not retried"
    );
}

#[tokio::test]
async fn faults_download_connect_failure() {
    let emu = emulator().await;
    let outcome = export(&emu, &[("tunnel_endpoint", &closed_endpoint())], None).await;
    assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::Remote,
        &["tunnel", "could not connect"],
    );
}

// Tunnel uploads (the sink).

#[tokio::test]
async fn faults_upload_429_retry_after() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::Upload, 429, Some(1), 1);
    let outcome = upload(&emu, &[], None).await;
    assert_complete(&emu, &outcome);
    assert!(waited_a_second(&outcome), "{:?}", outcome.retries);
    assert_eq!(emu.commits(), 1);
}

/// The block is stored, but its answer breaks off: the block is sent again, replacing itself.
#[tokio::test]
async fn faults_upload_reset_mid_body() {
    let emu = emulator().await;
    emu.faults().wire(Route::Upload, Wire::Reset, 1);
    let outcome = upload(&emu, &[], None).await;
    assert_complete(&emu, &outcome);
    assert_eq!(outcome.retries.len(), 1);
    assert_eq!(emu.commits(), 1);
}

#[tokio::test]
async fn faults_upload_truncated_body() {
    let emu = emulator().await;
    emu.faults().truncate_blocks(1);
    let outcome = upload(&emu, &[], None).await;
    let err = assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::Remote,
        &["CorruptedDataStream", "nothing was committed"],
    );
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(err.context_value("block_id").is_some(), "{err}");
}

#[tokio::test]
async fn faults_upload_corrupt_once() {
    let emu = emulator().await;
    emu.faults().corrupt_blocks(1);
    let outcome = upload(&emu, &[("compression", "none")], None).await;
    let err = assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::Remote,
        &["CorruptedDataStream", "CRC", "nothing was committed"],
    );
    assert!(err.context_value("request_id").is_some(), "{err}");
}

#[tokio::test]
async fn faults_upload_corrupt_always() {
    let emu = emulator().await;
    emu.faults().corrupt_blocks(u32::MAX);
    let outcome = upload(&emu, &[("compression", "none")], None).await;
    assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::Remote,
        &["CorruptedDataStream", "CRC"],
    );
    assert!(outcome.retries.is_empty(), "corruption is not retried");
}

#[tokio::test]
async fn faults_upload_stall() {
    let emu = emulator().await;
    emu.faults().wire(Route::Upload, STALL, 1);
    let outcome = upload(&emu, &[], Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(timed_out(&outcome), "{:?}", outcome.retries);
    assert_eq!(emu.commits(), 1);
}

/// A block answer is empty, so slowness is lateness: each of several blocks' answers comes
/// late, though within the read timeout, and the whole upload outlasts it.
#[tokio::test]
async fn faults_upload_slow_but_steady() {
    // About four 1 MiB blocks of rows.
    let emu = emulator_of(100_000).await;
    let late = Wire::Trickle {
        gap: Duration::from_millis(100),
        pieces: 1,
    };
    emu.faults().wire(Route::Upload, late, u32::MAX);
    let outcome = upload(&emu, &[("block_bytes", "1048576")], Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(outcome.retries.is_empty(), "{:?}", outcome.retries);
    let blocks = emu.uploads()[0].blocks.len();
    assert!(blocks >= 3, "{blocks} blocks");
    assert!(outcome.elapsed > TIMEOUT);
}

#[tokio::test]
async fn faults_upload_wrong_credentials() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::Upload, 401, None, 1);
    let outcome = upload(&emu, &[], None).await;
    let err = assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::PermissionDenied,
        &["tunnel PUT", "SignatureNotMatch", "nothing was committed"],
    );
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(
        outcome.retries.is_empty(),
        "a rejected signature is not retried"
    );
}

#[tokio::test]
async fn faults_upload_connect_failure() {
    let emu = emulator().await;
    let outcome = upload(&emu, &[("tunnel_endpoint", &closed_endpoint())], None).await;
    assert_clear_error(
        &emu,
        &outcome,
        ErrorKind::Remote,
        &["tunnel", "could not connect", "nothing was committed"],
    );
}
