//! The VikingDB columns of the fault matrix (`tests/FAULTS.md`): each fault on the task API,
//! the TOS listing and TOS GetObject, one test per cell, named after it. A cell ends in the
//! complete collection, every row once, or in a clear error with nothing written.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrowport_core::pipeline::{Planned, export_planned};
use arrowport_core::plan::PlanDocument;
use arrowport_core::{
    Context, Error, ErrorKind, ExportSource, HttpSettings, OptionMap, ProgressEvent, Scan,
    SourceSpec,
};
use arrowport_testkit::collect::{Collect, recording_context, urlencode};
use arrowport_testkit::http::Wire;
use arrowport_testkit::vikingdb::{EmulatorConfig, Route, Service, VikingDbEmulator};
use arrowport_vikingdb::sign::Credentials;
use arrowport_vikingdb::{Config, VikingDbSource};

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

/// 300 rows in three Parquet parts: one task, one listing page, a handful of ranged GETs.
async fn emulator() -> VikingDbEmulator {
    VikingDbEmulator::start(EmulatorConfig {
        rows: 300,
        dim: 8,
        rows_per_part: 100,
        row_group_rows: 64,
        polls_to_done: 1,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The emulator's collection, polled as fast as it answers; `tos_endpoint` overrides TOS and
/// `extra` is appended to the URL's query.
fn source(emu: &VikingDbEmulator, tos_endpoint: Option<&str>) -> VikingDbSource {
    source_with(emu, tos_endpoint, "")
}

fn source_with(emu: &VikingDbEmulator, tos_endpoint: Option<&str>, extra: &str) -> VikingDbSource {
    let c = emu.config();
    let url = format!(
        "vikingdb://{}?endpoint={}&tos_endpoint={}&tos_path_style=true&tos_path={}/exports\
         &poll_interval=0ms&max_poll_interval=1ms{extra}",
        c.collection,
        urlencode(&emu.api_endpoint()),
        urlencode(tos_endpoint.unwrap_or(&emu.tos_endpoint())),
        c.bucket,
    );
    let spec = SourceSpec::parse(&url).unwrap();
    VikingDbSource::new(Config::from_options(&spec.location, &spec.options).unwrap())
        .with_credentials(Credentials::new(&c.access_key, &c.secret_key))
}

/// What one export did: its result, what the sink kept, the retries it reported.
struct Outcome {
    result: arrowport_core::Result<()>,
    kept: Vec<RecordBatch>,
    retries: Vec<(u64, String)>,
    elapsed: Duration,
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

/// Exports the collection into the `Collect` sink.
async fn export(source: &VikingDbSource, timeout: Option<Duration>) -> Outcome {
    let (cx, events) = context(timeout);
    let sink = Collect::default();
    let started = Instant::now();
    let result = arrowport_core::export(source, &sink, &Scan::new(), &cx)
        .await
        .map(|_| ());
    Outcome {
        result,
        kept: sink.batches(),
        retries: retries(&events),
        elapsed: started.elapsed(),
    }
}

/// The export delivered the whole collection, every row exactly once, in the emulator's
/// values.
fn assert_complete(emu: &VikingDbEmulator, outcome: &Outcome) {
    if let Err(e) = &outcome.result {
        panic!("the export failed: {e}");
    }
    let schema = outcome.kept[0].schema();
    let got = concat_batches(&schema, &outcome.kept).unwrap();
    let all = concat_batches(&emu.collection_schema(), &emu.collection_batches()).unwrap();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| cast(all.column_by_name(f.name()).unwrap(), f.data_type()).unwrap())
        .collect();
    assert_eq!(got, RecordBatch::try_new(schema, columns).unwrap());
}

/// The export failed with `kind`, saying each of `needles`, with nothing written.
fn assert_clear_error<'a>(outcome: &'a Outcome, kind: ErrorKind, needles: &[&str]) -> &'a Error {
    let err = outcome.result.as_ref().expect_err("the export must fail");
    assert_eq!(err.kind(), kind, "{err}");
    for needle in needles {
        assert!(err.to_string().contains(needle), "{needle:?} in {err}");
    }
    assert!(outcome.kept.is_empty(), "nothing may be written");
    err
}

fn task_creates(emu: &VikingDbEmulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.service == Service::Api && r.path.ends_with("/task/create"))
        .count()
}

/// Retries that waited what the server's `Retry-After: 1` asked.
fn waited_a_second(outcome: &Outcome) -> bool {
    outcome.retries.iter().any(|(ms, _)| *ms == 1000)
}

fn timed_out(outcome: &Outcome) -> bool {
    outcome.retries.iter().any(|(_, e)| e.contains("timed out"))
}

// The task API.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_5xx() {
    let emu = emulator().await;
    emu.faults()
        .http_errors(Route::Api("task/info"), 503, None, 2);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert_eq!(outcome.retries.len(), 2);
    // A create the server may have acted on is never repeated: no second paid task.
    emu.faults()
        .http_errors(Route::Api("task/create"), 502, None, 1);
    let outcome = export(&source(&emu, None), None).await;
    let err = assert_clear_error(&outcome, ErrorKind::Remote, &["task/create", "502"]);
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert_eq!(task_creates(&emu), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_429_retry_after() {
    let emu = emulator().await;
    // A rate limit rejects before anything is created, so even a create is repeated.
    emu.faults()
        .http_errors(Route::Api("task/create"), 429, Some(1), 1);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert!(waited_a_second(&outcome), "{:?}", outcome.retries);
    assert_eq!(task_creates(&emu), 2, "one rejected, one created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_reset_mid_body() {
    let emu = emulator().await;
    emu.faults().wire(Route::Api("task/info"), Wire::Reset, 1);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert_eq!(outcome.retries.len(), 1);
    // The create's answer broke off after the server acted: not repeated, one task.
    emu.faults().wire(Route::Api("task/create"), Wire::Reset, 1);
    let outcome = export(&source(&emu, None), None).await;
    assert_clear_error(
        &outcome,
        ErrorKind::Remote,
        &["task/create", "cut short", "not repeated"],
    );
    assert_eq!(task_creates(&emu), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_truncated_body() {
    let emu = emulator().await;
    emu.faults()
        .wire(Route::Api("task/info"), Wire::Truncate, 1);
    let outcome = export(&source(&emu, None), None).await;
    let err = assert_clear_error(&outcome, ErrorKind::Remote, &["task/info", "not JSON"]);
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(err.context_value("task_id").is_some(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_expired_task() {
    let emu = emulator().await;
    let (cx, _) = context(None);
    source(&emu, None).plan(&Scan::new(), &cx).await.unwrap();
    let task_id = cx.report().info()["task_id"].as_str().unwrap().to_string();
    emu.faults().expire_tasks();
    // Attaching to the forgotten task is refused; no new task replaces it.
    let attached = source_with(&emu, None, &format!("&task_id={task_id}"));
    let outcome = export(&attached, None).await;
    let err = assert_clear_error(&outcome, ErrorKind::NotFound, &["does not exist", &task_id]);
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert_eq!(task_creates(&emu), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_stall() {
    let emu = emulator().await;
    emu.faults().wire(Route::Api("task/info"), STALL, 1);
    let outcome = export(&source(&emu, None), Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(timed_out(&outcome), "{:?}", outcome.retries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_slow_but_steady() {
    let emu = emulator().await;
    emu.faults().wire(Route::Api("task/info"), TRICKLE, 1);
    let outcome = export(&source(&emu, None), Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(outcome.retries.is_empty(), "{:?}", outcome.retries);
    assert!(outcome.elapsed > TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_api_unresolvable_host() {
    let url = "vikingdb://demo?endpoint=http://nonexistent.invalid&tos_path=bkt/x";
    let spec = SourceSpec::parse(url).unwrap();
    let src = VikingDbSource::new(Config::from_options(&spec.location, &spec.options).unwrap())
        .with_credentials(Credentials::new("ak", "sk"));
    let outcome = export(&src, None).await;
    assert_clear_error(&outcome, ErrorKind::Remote, &["could not connect"]);
    assert_eq!(outcome.retries.len(), 3, "connect failures are retried");
}

// The TOS listing.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_5xx() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::TosList, 503, None, 2);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert_eq!(outcome.retries.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_429_retry_after() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::TosList, 429, Some(1), 1);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert!(waited_a_second(&outcome), "{:?}", outcome.retries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_reset_mid_body() {
    let emu = emulator().await;
    emu.faults().wire(Route::TosList, Wire::Reset, 1);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert_eq!(outcome.retries.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_truncated_body() {
    let emu = emulator().await;
    emu.faults().wire(Route::TosList, Wire::Truncate, 1);
    let outcome = export(&source(&emu, None), None).await;
    let err = assert_clear_error(&outcome, ErrorKind::Remote, &["list objects", "not JSON"]);
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(err.context_value("task_id").is_some(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_wrong_crc_once() {
    let emu = emulator().await;
    emu.faults().wrong_listed_crc(1);
    let outcome = export(&source(&emu, None), None).await;
    assert_clear_error(&outcome, ErrorKind::DataIntegrity, &["CRC-64", "part-"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_stall() {
    let emu = emulator().await;
    emu.faults().wire(Route::TosList, STALL, 1);
    let outcome = export(&source(&emu, None), Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(timed_out(&outcome), "{:?}", outcome.retries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_slow_but_steady() {
    let emu = emulator().await;
    emu.faults().wire(Route::TosList, TRICKLE, 1);
    let outcome = export(&source(&emu, None), Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(outcome.retries.is_empty(), "{:?}", outcome.retries);
    assert!(outcome.elapsed > TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_wrong_credentials() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::TosList, 403, None, 1);
    let outcome = export(&source(&emu, None), None).await;
    let err = assert_clear_error(
        &outcome,
        ErrorKind::PermissionDenied,
        &["list objects", "SignatureDoesNotMatch"],
    );
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(err.context_value("task_id").is_some(), "{err}");
    assert!(
        outcome.retries.is_empty(),
        "a rejected signature is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_list_connect_failure() {
    let emu = emulator().await;
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let outcome = export(&source(&emu, Some(&closed)), None).await;
    let err = assert_clear_error(&outcome, ErrorKind::Remote, &["could not connect"]);
    assert!(err.context_value("task_id").is_some(), "{err}");
}

// TOS GetObject.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_429_retry_after() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::TosGet, 429, Some(1), 1);
    let outcome = export(&source(&emu, None), None).await;
    assert_complete(&emu, &outcome);
    assert!(waited_a_second(&outcome), "{:?}", outcome.retries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_corrupt_once() {
    let emu = emulator().await;
    emu.faults().corrupt_object_reads(1);
    let outcome = export(&source(&emu, None), None).await;
    let err = assert_clear_error(&outcome, ErrorKind::DataIntegrity, &["part-"]);
    assert!(err.context_value("object").is_some(), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_corrupt_always() {
    let emu = emulator().await;
    emu.faults().corrupt_object_reads(u32::MAX);
    let outcome = export(&source(&emu, None), None).await;
    assert_clear_error(&outcome, ErrorKind::DataIntegrity, &["part-"]);
    assert!(outcome.retries.is_empty(), "corruption is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_stall() {
    let emu = emulator().await;
    emu.faults().wire(Route::TosGet, STALL, 1);
    let outcome = export(&source(&emu, None), Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(timed_out(&outcome), "{:?}", outcome.retries);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_slow_but_steady() {
    let emu = emulator().await;
    emu.faults().wire(Route::TosGet, TRICKLE, 1);
    let outcome = export(&source(&emu, None), Some(TIMEOUT)).await;
    assert_complete(&emu, &outcome);
    assert!(outcome.retries.is_empty(), "{:?}", outcome.retries);
    assert!(outcome.elapsed > TIMEOUT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_wrong_credentials() {
    let emu = emulator().await;
    emu.faults().http_errors(Route::TosGet, 403, None, 1);
    let outcome = export(&source(&emu, None), None).await;
    let err = assert_clear_error(
        &outcome,
        ErrorKind::PermissionDenied,
        &["get object", "SignatureDoesNotMatch"],
    );
    assert!(err.context_value("request_id").is_some(), "{err}");
    assert!(
        outcome.retries.is_empty(),
        "a rejected signature is not retried"
    );
}

/// The listing succeeds (the plan holds it); then the objects' endpoint cannot be reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_tos_get_connect_failure() {
    let emu = emulator().await;
    let (cx, events) = context(None);
    let planned = source(&emu, None);
    let splits = planned.plan(&Scan::new(), &cx).await.unwrap();
    let schema = planned.schema(&cx).await.unwrap();
    let plan = PlanDocument::new(
        "vikingdb://demo",
        &OptionMap::new(),
        None,
        None,
        &schema,
        None,
        splits,
    )
    .unwrap();
    let closed = format!("http://127.0.0.1:{}", closed_port());
    let unreachable = source(&emu, Some(&closed));
    let read = (0..plan.splits.len()).collect();
    let sink = Collect::default();
    let planned = Planned {
        plan: &plan,
        read,
        journal: None,
    };
    let result = export_planned(&unreachable, &sink, planned, &Scan::new(), &cx)
        .await
        .map(|_| ());
    let outcome = Outcome {
        result,
        kept: sink.batches(),
        retries: retries(&events),
        elapsed: Duration::ZERO,
    };
    let err = assert_clear_error(
        &outcome,
        ErrorKind::Remote,
        &["get object", "could not connect"],
    );
    assert!(err.context_value("object").is_some(), "{err}");
}
