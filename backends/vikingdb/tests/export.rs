//! The VikingDB source against the loopback VikingDB + TOS emulator: whole exports in both
//! file types, filters, attaching to a task, and every scripted fault.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{Int64Type, SchemaRef};
use arrowport_core::{Context, ErrorKind, ExportSource, ProgressEvent, Result, Scan, SourceSpec};
use arrowport_testkit::collect::{Collect, recording_context as cx, urlencode};
use arrowport_testkit::vikingdb::{EmulatorConfig, JsonLayout, Service, VikingDbEmulator};
use arrowport_vikingdb::sign::Credentials;
use arrowport_vikingdb::{Config, VikingDbSource};
use futures::StreamExt;

fn small() -> EmulatorConfig {
    EmulatorConfig {
        rows: 1000,
        dim: 16,
        rows_per_part: 300,
        row_group_rows: 128,
        ..EmulatorConfig::default()
    }
}

/// The URL of `collection` on the emulator, polling as fast as it answers.
fn url_of(emu: &VikingDbEmulator, collection: &str) -> String {
    format!(
        "vikingdb://{collection}?endpoint={}&tos_endpoint={}&tos_path_style=true\
         &tos_path={}/exports&poll_interval=0ms&max_poll_interval=1ms",
        emu.api_endpoint(),
        emu.tos_endpoint(),
        emu.config().bucket
    )
}

fn source(emu: &VikingDbEmulator, extra: &[(&str, &str)]) -> VikingDbSource {
    let c = emu.config();
    let mut url = url_of(emu, &c.collection);
    for (k, v) in extra {
        url.push_str(&format!("&{k}={}", urlencode(v)));
    }
    VikingDbSource::new(config_from(&url))
        .with_credentials(Credentials::new(&c.access_key, &c.secret_key))
}

fn config_from(url: &str) -> Config {
    let spec = SourceSpec::parse(url).unwrap();
    Config::from_options(&spec.location, &spec.options).unwrap()
}

async fn export(source: &VikingDbSource, scan: &Scan, cx: &Context) -> Result<RecordBatch> {
    let sink = Collect::default();
    arrowport_core::export(source, &sink, scan, cx).await?;
    let batches = sink.batches();
    let schema = source.schema(cx).await?;
    let schema: SchemaRef = match &scan.columns {
        Some(cols) => Arc::new(
            schema
                .project(
                    &cols
                        .iter()
                        .map(|c| schema.index_of(c).unwrap())
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
        ),
        None => schema,
    };
    Ok(concat_batches(&schema, &batches).unwrap())
}

/// The emulator's collection, rows picked by `keep`, in the exported batch's types.
fn expected(emu: &VikingDbEmulator, like: &RecordBatch, keep: impl Fn(i64) -> bool) -> RecordBatch {
    let all = concat_batches(&emu.collection_schema(), &emu.collection_batches()).unwrap();
    let ids = all
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let mask: arrow::array::BooleanArray = ids.iter().map(|id| Some(keep(id.unwrap()))).collect();
    let all = arrow::compute::filter_record_batch(&all, &mask).unwrap();
    let columns: Vec<ArrayRef> = like
        .schema()
        .fields()
        .iter()
        .map(|f| cast(all.column_by_name(f.name()).unwrap(), f.data_type()).unwrap())
        .collect();
    RecordBatch::try_new(like.schema(), columns).unwrap()
}

fn task_creates(emu: &VikingDbEmulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.service == Service::Api && r.path.ends_with("/task/create"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_export_delivers_every_row_and_type() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let src = source(&emu, &[]);
    let (cx, events) = cx();
    let got = export(&src, &Scan::new().with_parallelism(Some(3)), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 1000);
    assert_eq!(got, expected(&emu, &got, |_| true));
    let info = cx.report().info();
    assert!(
        info.contains_key("task_id") && info.contains_key("sampled_timestamp"),
        "{info:?}"
    );
    assert_eq!(info["total_data_count"], 1000);
    let events = events.lock().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ProgressEvent::RemoteProgress { .. }))
    );
    // The `_SUCCESS` marker is expected, so nothing is worth a warning.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, ProgressEvent::Warning { .. })),
        "{events:?}"
    );
    // Parquet is read in ranges (footer, then row groups), never whole-object GETs.
    let gets: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| {
            r.service == Service::Tos && r.method == "GET" && !r.query.contains("list-type")
        })
        .collect();
    assert!(gets.iter().all(|r| r.range.is_some()), "{gets:?}");
}

/// Row groups decode in parallel, yet the rows come out in file order, and a reader that
/// stops asking holds the fetching back: only a few row groups are read ahead of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_groups_decode_ahead_in_order_and_within_bounds() {
    let emu = VikingDbEmulator::start(EmulatorConfig {
        rows: 4000,
        rows_per_part: 4000,
        row_group_rows: 50,
        ..small()
    })
    .await
    .unwrap();
    let src = source(&emu, &[]);
    let (cx, _) = cx();
    let scan = Scan::new().with_parallelism(Some(2));
    let got = export(&src, &scan, &cx).await.unwrap();
    assert_eq!(got, expected(&emu, &got, |_| true));

    let data_gets = |emu: &VikingDbEmulator| {
        let gets = emu.requests().into_iter().filter(|r| {
            r.service == Service::Tos && r.method == "GET" && r.path.ends_with(".parquet")
        });
        gets.count()
    };
    let before = data_gets(&emu);
    let mut stream = src.open(&scan, &cx).await.unwrap();
    stream.next().await.unwrap().unwrap();
    for _ in 0..1000 {
        tokio::task::yield_now().await;
    }
    // Less the footer. Each 50-row group is one batch: the one taken, the two in the
    // download's channel and the one waiting to enter it, and one group queued behind them.
    let ahead = data_gets(&emu) - before - 1;
    assert!((1..=5).contains(&ahead), "{ahead} of 80 row groups fetched");
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_exports_read_in_both_layouts() {
    for layout in [JsonLayout::Lines, JsonLayout::Array] {
        let emu = VikingDbEmulator::start(EmulatorConfig {
            json_layout: layout,
            ..small()
        })
        .await
        .unwrap();
        let src = source(&emu, &[("file_type", "json")]);
        let got = export(&src, &Scan::new(), &cx().0).await.unwrap();
        assert_eq!(got.num_rows(), 1000, "{layout:?}");
        assert_eq!(got, expected(&emu, &got, |_| true), "{layout:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_and_paged_listing() {
    let emu = VikingDbEmulator::start(EmulatorConfig {
        rows_per_part: 50,
        list_page_size: 3,
        ..small()
    })
    .await
    .unwrap();
    let src = source(&emu, &[]);
    let scan = Scan::new().with_columns(Some(vec!["vector".into(), "id".into()]));
    let got = export(&src, &scan, &cx().0).await.unwrap();
    assert_eq!(got.num_columns(), 2);
    assert_eq!(got, expected(&emu, &got, |_| true));
    let pages = emu
        .requests()
        .iter()
        .filter(|r| r.query.contains("list-type=2"))
        .count();
    assert!(
        pages >= 7,
        "20 parts + marker in pages of 3 take 7 pages, saw {pages}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_in_both_shapes_export_the_matching_rows() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let src = source(
        &emu,
        &[(
            "filter",
            r#"{"op":"range","field":"id","gte":100,"lt":250}"#,
        )],
    );
    let got = export(&src, &Scan::new(), &cx().0).await.unwrap();
    assert_eq!(got, expected(&emu, &got, |id| (100..250).contains(&id)));

    let all = concat_batches(&emu.collection_schema(), &emu.collection_batches()).unwrap();
    let category = all
        .column_by_name("category")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_string();
    let src = source(
        &emu,
        &[("filter", &format!(r#"{{"category":["{category}"]}}"#))],
    );
    let got = export(&src, &Scan::new(), &cx().0).await.unwrap();
    let categories = got.column_by_name("category").unwrap().as_string::<i32>();
    assert!(got.num_rows() > 0 && categories.iter().all(|c| c == Some(category.as_str())));
    let want = all
        .column_by_name("category")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .filter(|c| *c == Some(category.as_str()))
        .count();
    assert_eq!(got.num_rows(), want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_on_an_unknown_field_fails_before_any_task() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let src = source(&emu, &[("filter", r#"{"categry":["a"]}"#)]);
    let err = export(&src, &Scan::new(), &cx().0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("`categry`") && err.to_string().contains("category"),
        "{err}"
    );
    assert_eq!(task_creates(&emu), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attaching_to_a_task_does_not_create_another() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let (cx, _) = cx();
    export(&source(&emu, &[]), &Scan::new(), &cx).await.unwrap();
    let task_id = cx.report().info()["task_id"].as_str().unwrap().to_string();
    let got = export(&source(&emu, &[("task_id", &task_id)]), &Scan::new(), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 1000);
    assert_eq!(task_creates(&emu), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_never_creates_a_task_and_a_plan_creates_one_whose_files_are_its_splits() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let src = source(&emu, &[]);
    let (cx, _) = cx();
    let schema = src.schema(&cx).await.unwrap();
    assert_eq!(
        schema
            .field_with_name("vector")
            .unwrap()
            .data_type()
            .to_string(),
        "FixedSizeList(16 x Float32)"
    );
    let _stream = src.open(&Scan::new(), &cx).await.unwrap();
    assert_eq!(
        task_creates(&emu),
        0,
        "the task is created on the first poll only"
    );
    assert!(src.capabilities().billed_plan, "planning creates a task");
    let splits = src.plan(&Scan::new(), &cx).await.unwrap();
    assert_eq!(task_creates(&emu), 1);
    assert!(splits.len() > 1, "one split per file: {splits:?}");
    // Every split reads its file alone, from its token, without another task.
    let mut rows = 0;
    for split in &splits {
        let mut stream = src.open_split(&split.token, &cx).await.unwrap();
        while let Some(batch) = stream.next().await {
            rows += batch.unwrap().num_rows();
        }
    }
    let expected: usize = emu.collection_batches().iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, expected);
    assert_eq!(task_creates(&emu), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_missing_credentials() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let c = emu.config();
    let config = config_from(&url_of(&emu, &c.collection));
    let wrong = VikingDbSource::new(config.clone())
        .with_credentials(Credentials::new(&c.access_key, "not-the-secret"));
    let err = wrong.schema(&cx().0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.context_value("request_id").is_some(), "{err:?}");

    let mut config = config;
    config.access_key_env = "ARROWPORT_TEST_NO_SUCH_AK".into();
    config.secret_key_env = "ARROWPORT_TEST_NO_SUCH_SK".into();
    let err = VikingDbSource::new(config)
        .schema(&cx().0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string().contains("ARROWPORT_TEST_NO_SUCH_AK"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_collection_and_unreachable_server() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let c = emu.config();
    let src = VikingDbSource::new(config_from(&url_of(&emu, "nope")))
        .with_credentials(Credentials::new(&c.access_key, &c.secret_key));
    let err = src.schema(&cx().0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!(
        "vikingdb://demo?endpoint=http://127.0.0.1:{port}&tos_endpoint=http://127.0.0.1:{port}&tos_path_style=true&tos_path=bkt/x"
    );
    let src = VikingDbSource::new(config_from(&url)).with_credentials(Credentials::new("a", "b"));
    let err = src.schema(&cx().0).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_unconfirmed_tasks() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    emu.faults()
        .fail_next_task("disk quota exceeded on the export worker");
    let err = export(&source(&emu, &[]), &Scan::new(), &cx().0)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("disk quota exceeded"), "{err}");
    assert!(err.context_value("task_id").is_some());

    emu.faults().confirm_next_task();
    let err = export(&source(&emu, &[]), &Scan::new(), &cx().0)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("confirm=true"), "{err}");

    emu.faults().confirm_next_task();
    let got = export(&source(&emu, &[("confirm", "true")]), &Scan::new(), &cx().0)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_errors_are_retried_until_they_run_out() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    emu.faults().quota_errors(2);
    let (cx, events) = cx();
    let got = export(&source(&emu, &[]), &Scan::new(), &cx).await.unwrap();
    assert_eq!(got.num_rows(), 1000);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, ProgressEvent::Retry { .. }))
    );

    emu.faults().quota_errors(100);
    let err = export(&source(&emu, &[]), &Scan::new(), &cx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited, "{err}");
    emu.faults().quota_errors(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_resets_mid_object_are_resumed_without_duplicates() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    emu.faults().server_errors(2);
    emu.faults().reset_object_reads(3, 1000);
    let got = export(&source(&emu, &[]), &Scan::new(), &cx().0)
        .await
        .unwrap();
    assert_eq!(
        got,
        expected(&emu, &got, |_| true),
        "every row exactly once"
    );
    // A resumed read asks for the same range end again, from a later start.
    let ranges: Vec<(String, u64, u64)> = emu
        .requests()
        .into_iter()
        .filter_map(|r| {
            let range = r.range?;
            let (a, b) = range.trim_start_matches("bytes=").split_once('-')?;
            Some((r.path, a.parse().ok()?, b.parse().ok()?))
        })
        .collect();
    let resumed = ranges.iter().enumerate().any(|(i, a)| {
        ranges[i + 1..]
            .iter()
            .any(|b| b.0 == a.0 && b.2 == a.2 && b.1 > a.1)
    });
    assert!(resumed, "a reset read resumes from the byte where it broke");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_truncated_objects_are_detected() {
    for file_type in ["parquet", "json"] {
        let emu = VikingDbEmulator::start(small()).await.unwrap();
        emu.faults().wrong_crc(true);
        let err = export(
            &source(&emu, &[("file_type", file_type)]),
            &Scan::new(),
            &cx().0,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{file_type}: {err}");
        assert!(err.to_string().contains("CRC-64"), "{err}");

        // Small parts are cut inside the footer's range, large ones before it (HTTP 416).
        for dim in [16, 256] {
            let config = EmulatorConfig { dim, ..small() };
            let emu = VikingDbEmulator::start(config).await.unwrap();
            emu.faults().truncate_objects(true);
            let err = export(
                &source(&emu, &[("file_type", file_type)]),
                &Scan::new(),
                &cx().0,
            )
            .await
            .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::DataIntegrity,
                "{file_type} {dim}: {err}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stray_objects_are_skipped() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let (cx, _) = cx();
    export(&source(&emu, &[]), &Scan::new(), &cx).await.unwrap();
    let task_id = cx.report().info()["task_id"].as_str().unwrap().to_string();
    let tos_path = cx.report().info()["tos_path"].as_str().unwrap().to_string();
    let prefix = tos_path.split_once('/').unwrap().1;
    emu.put_object(
        &format!("{prefix}/{task_id}/.part-00000.parquet.crc"),
        b"crc".to_vec(),
    );
    emu.put_object(&format!("{prefix}/{task_id}/manifest.json"), b"{}".to_vec());
    let got = export(&source(&emu, &[("task_id", &task_id)]), &Scan::new(), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_slower_than_the_timeout_fails_after_retries() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    emu.faults().delay(Duration::from_millis(300));
    let mut http = arrowport_core::HttpSettings::default();
    http.request_timeout = Duration::from_millis(20);
    let cx = cx().0.with_http(http);
    let err = source(&emu, &[]).schema(&cx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(
        err.is_temporary() && err.to_string().contains("timed out"),
        "{err}"
    );
    assert_eq!(err.context_value("attempts"), Some("4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_rows_than_the_task_counted_is_an_integrity_error() {
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let (cx, _) = cx();
    export(&source(&emu, &[("file_type", "json")]), &Scan::new(), &cx)
        .await
        .unwrap();
    let info = cx.report().info();
    let task_id = info["task_id"].as_str().unwrap().to_string();
    let prefix = info["tos_path"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap()
        .1
        .to_string();
    let row = br#"{"id": 5000, "title": "t", "body": "b", "category": "c", "score": 1.5, "flag": true, "tags": [], "codes": [], "vector": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0], "sparse": {}}"#;
    emu.put_object(&format!("{prefix}/{task_id}/part-99999.json"), row.to_vec());
    let err = export(&source(&emu, &[("task_id", &task_id)]), &Scan::new(), &cx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{err}");
    assert!(err.to_string().contains("promised 1000"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_lists_tasks_and_confirms_them() {
    use arrowport_vikingdb::client::ApiClient;
    let emu = VikingDbEmulator::start(small()).await.unwrap();
    let c = emu.config();
    let (cx, _) = cx();
    let api = ApiClient::new(
        arrowport_core::http::client(cx.http()).unwrap(),
        url::Url::parse(&emu.api_endpoint()).unwrap(),
        c.region.clone(),
        "air".into(),
        Arc::new(Credentials::new(&c.access_key, &c.secret_key)),
    );
    emu.faults().confirm_next_task();
    let params = serde_json::json!({
        "collection_name": c.collection, "tos_path": format!("{}/x", c.bucket), "file_type": "json",
    });
    let id = api.create_export_task(params, &cx).await.unwrap();
    let mut task = api.task_info(&id, &cx).await.unwrap();
    while task.status != "confirm" {
        task = api.task_info(&id, &cx).await.unwrap();
    }
    api.confirm_task(&id, &cx).await.unwrap();
    assert_eq!(api.task_info(&id, &cx).await.unwrap().status, "running");
    let listed = api.list_tasks(&cx).await.unwrap();
    assert!(listed.iter().any(|t| t.task_id == id), "{listed:?}");
    let err = api.task_info("no-such-task", &cx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}
