//! The MaxCompute source against the loopback MaxCompute emulator: whole tables in both tunnel
//! formats and every compression, projection, limits, partitions, shared sessions, and every
//! scripted fault.

use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Int64Type, SchemaRef};
use arrowport_core::{Context, ErrorKind, ExportSource, ProgressEvent, Result, Scan, SourceSpec};
use arrowport_maxcompute::sign::Credentials;
use arrowport_maxcompute::{Config, MaxComputeSource};
use arrowport_testkit::collect::{Collect, recording_context as context, urlencode};
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator, Service};

async fn emulator() -> MaxComputeEmulator {
    MaxComputeEmulator::start(MaxComputeConfig {
        rows: 1000,
        narrow_rows: 5000,
        partition_rows: 120,
        ..MaxComputeConfig::default()
    })
    .await
    .unwrap()
}

fn source(emu: &MaxComputeEmulator, table: &str, extra: &[(&str, &str)]) -> MaxComputeSource {
    source_with_secret(emu, table, extra, &emu.config().secret_access_key)
}

fn source_with_secret(
    emu: &MaxComputeEmulator,
    table: &str,
    extra: &[(&str, &str)],
    secret: &str,
) -> MaxComputeSource {
    let c = emu.config();
    let mut url = format!(
        "maxcompute://{}/{table}?endpoint={}&tunnel_endpoint={}",
        c.project,
        emu.endpoint(),
        emu.tunnel_endpoint()
    );
    for (k, v) in extra {
        if *k == "tunnel_endpoint" {
            url = url.replace(&format!("&tunnel_endpoint={}", emu.tunnel_endpoint()), "");
            continue;
        }
        url.push_str(&format!("&{k}={}", urlencode(v)));
    }
    let spec = SourceSpec::parse(&url).unwrap();
    MaxComputeSource::new(Config::from_options(&spec.location, &spec.options).unwrap())
        .with_credentials(Credentials::new(&c.access_id, secret))
}

/// Exports through the real pipeline and returns everything delivered as one batch.
async fn export(source: &MaxComputeSource, scan: &Scan, cx: &Context) -> Result<RecordBatch> {
    let sink = Collect::default();
    arrowport_core::export(source, &sink, scan, cx).await?;
    let batches = sink.batches();
    let schema: SchemaRef = match batches.first() {
        Some(b) => b.schema(),
        None => arrowport_core::pipeline::project_schema(
            &*source.schema(cx).await?,
            scan.columns.as_deref(),
        )?,
    };
    Ok(concat_batches(&schema, &batches).unwrap())
}

/// `expected`'s values in `actual`'s types (the emulator serves PyODPS's layout: timestamps
/// without a timezone), so columns compare value for value.
fn assert_same_values(actual: &RecordBatch, expected: &RecordBatch) {
    assert_eq!(actual.num_rows(), expected.num_rows(), "row count");
    for field in actual.schema().fields() {
        let got = actual.column_by_name(field.name()).unwrap();
        let want = expected
            .column_by_name(field.name())
            .unwrap_or_else(|| panic!("expected data lacks {}", field.name()));
        let want = match (want.data_type(), got.data_type()) {
            (a, b) if a == b => want.to_data(),
            // Only the recorded timezone differs: the stored instants must be identical.
            (DataType::Timestamp(u1, _), DataType::Timestamp(u2, _)) if u1 == u2 => want
                .to_data()
                .into_builder()
                .data_type(got.data_type().clone())
                .build()
                .unwrap(),
            _ => cast(want, got.data_type()).unwrap().to_data(),
        };
        assert_eq!(got.to_data(), want, "column {}", field.name());
    }
}

fn expected(emu: &MaxComputeEmulator, table: &str, partition: Option<&str>) -> RecordBatch {
    let batches = emu.table_batches(table, partition);
    concat_batches(&emu.table_schema(table), &batches).unwrap()
}

fn data_requests(emu: &MaxComputeEmulator) -> Vec<arrowport_testkit::maxcompute::RecordedRequest> {
    emu.requests()
        .into_iter()
        .filter(|r| r.service == Service::Tunnel && r.param("data").is_some())
        .collect()
}

/// The session id a planned split names (`… (download_id=ID)`).
fn download_id_of(split: &arrowport_core::Split) -> String {
    let (_, id) = split.description.split_once("download_id=").unwrap();
    id.trim_end_matches(')').to_string()
}

fn ids(batch: &RecordBatch) -> Vec<i64> {
    batch
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

#[tokio::test]
async fn every_type_arrives_in_both_formats_and_every_compression() {
    let emu = emulator().await;
    let want = expected(&emu, "all_types", None);
    for format in ["arrow", "record"] {
        for compression in ["zstd", "deflate", "lz4", "none"] {
            let (cx, _) = context();
            let src = source(
                &emu,
                "all_types",
                &[
                    ("format", format),
                    ("compression", compression),
                    ("split_rows", "300"),
                ],
            );
            let got = export(&src, &Scan::new(), &cx).await.unwrap();
            assert_same_values(&got, &want);
            assert_eq!(cx.report().promised_rows(), Some(1000));
        }
    }
    // Each format asked for each compression by name.
    let encodings: Vec<Option<String>> = data_requests(&emu)
        .into_iter()
        .map(|r| r.accept_encoding)
        .collect();
    for wanted in ["zstd", "deflate", "x-odps-lz4-frame", "x-lz4-frame"] {
        assert!(
            encodings.iter().any(|e| e.as_deref() == Some(wanted)),
            "{wanted}: {encodings:?}"
        );
    }
}

#[tokio::test]
async fn types_map_as_the_design_says() {
    let emu = emulator().await;
    let (cx, _) = context();
    let schema = source(&emu, "all_types", &[("timezone", "Asia/Shanghai")])
        .schema(&cx)
        .await
        .unwrap();
    let ty = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
    use arrow::datatypes::TimeUnit;
    assert_eq!(ty("id"), DataType::Int64);
    assert_eq!(ty("c_tinyint"), DataType::Int8);
    assert_eq!(ty("c_decimal"), DataType::Decimal128(18, 4));
    assert_eq!(
        ty("c_datetime"),
        DataType::Timestamp(TimeUnit::Millisecond, Some("Asia/Shanghai".into()))
    );
    assert_eq!(
        ty("c_timestamp"),
        DataType::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into()))
    );
    assert_eq!(
        ty("c_timestamp_ntz"),
        DataType::Timestamp(TimeUnit::Nanosecond, None)
    );
    assert_eq!(ty("c_date"), DataType::Date32);
    assert!(matches!(ty("c_array_bigint"), DataType::List(_)));
    assert!(matches!(ty("c_map"), DataType::Map(_, _)));
    assert!(matches!(ty("c_struct"), DataType::Struct(_)));
}

#[tokio::test]
async fn projection_is_pushed_down_in_table_order_and_delivered_in_the_asked_order() {
    let emu = emulator().await;
    let want = expected(&emu, "all_types", None);
    for format in ["arrow", "record"] {
        let (cx, _) = context();
        let scan =
            Scan::new().with_columns(Some(vec!["c_string".into(), "c_map".into(), "id".into()]));
        let got = export(
            &source(&emu, "all_types", &[("format", format)]),
            &scan,
            &cx,
        )
        .await
        .unwrap();
        let schema = got.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["c_string", "c_map", "id"]);
        assert_same_values(&got, &want);
    }
    for r in data_requests(&emu) {
        assert_eq!(r.param("columns").as_deref(), Some("id,c_string,c_map"));
    }
}

#[tokio::test]
async fn limit_reads_only_the_rows_it_needs() {
    let emu = emulator().await;
    let (cx, _) = context();
    let scan = Scan::new().with_limit(Some(250));
    let got = export(
        &source(&emu, "narrow", &[("split_rows", "100")]),
        &scan,
        &cx,
    )
    .await
    .unwrap();
    assert_eq!(ids(&got), (0..250).collect::<Vec<_>>());
    let ranges: Vec<String> = data_requests(&emu)
        .iter()
        .map(|r| r.param("rowrange").unwrap())
        .collect();
    assert_eq!(ranges, ["(0,100)", "(100,100)", "(200,50)"]);
}

#[tokio::test]
async fn parallel_small_splits_keep_row_order() {
    let emu = emulator().await;
    let (cx, _) = context();
    let scan = Scan::new().with_parallelism(Some(4));
    let got = export(
        &source(&emu, "narrow", &[("split_rows", "333")]),
        &scan,
        &cx,
    )
    .await
    .unwrap();
    assert_same_values(&got, &expected(&emu, "narrow", None));
    assert_eq!(data_requests(&emu).len(), 5000usize.div_ceil(333));
}

#[tokio::test]
async fn empty_tables_export_no_rows() {
    let emu = emulator().await;
    let (cx, _) = context();
    let got = export(&source(&emu, "empty", &[]), &Scan::new(), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 0);
    assert!(data_requests(&emu).is_empty());
}

#[tokio::test]
async fn the_tunnel_endpoint_is_discovered_when_not_given() {
    let emu = emulator().await;
    let (cx, _) = context();
    let src = source(&emu, "narrow", &[("tunnel_endpoint", "")]);
    let got = export(&src, &Scan::new().with_limit(Some(10)), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 10);
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.service == Service::Meta && r.path.ends_with("/tunnel")),
        "no tunnel?service request"
    );
}

#[tokio::test]
async fn partitions_are_selected_as_pyodps_selects_them() {
    let emu = emulator().await;
    let cases: &[(&str, &[&str])] = &[
        ("pt=a", &["pt=a,dt=20230118", "pt=a,dt=20230119"]),
        ("pt=b,dt=20230119", &["pt=b,dt=20230119"]),
        (
            "dt>20230118",
            &["pt=a,dt=20230119", "pt=b,dt=20230119", "pt=b,dt=20230120"],
        ),
        ("pt='a',dt<>20230118", &["pt=a,dt=20230119"]),
    ];
    for (filter, parts) in cases {
        let (cx, _) = context();
        let src = source(
            &emu,
            "sales",
            &[("partition", filter), ("partition_columns", "true")],
        );
        let got = export(&src, &Scan::new(), &cx).await.unwrap();
        let mut want = Vec::new();
        for p in *parts {
            want.extend(emu.table_batches("sales", Some(p)));
        }
        let want = concat_batches(&emu.table_schema("sales"), &want).unwrap();
        assert_same_values(&got.project(&[0, 1, 2, 3]).unwrap(), &want);
        // The partition keys ride along as columns.
        let pts: Vec<String> = parts
            .iter()
            .flat_map(|p| {
                let pt = p
                    .split(',')
                    .next()
                    .unwrap()
                    .trim_start_matches("pt=")
                    .to_string();
                std::iter::repeat_n(
                    pt,
                    emu.table_batches("sales", Some(p))
                        .iter()
                        .map(|b| b.num_rows())
                        .sum(),
                )
            })
            .collect();
        let got_pts: Vec<&str> = got
            .column_by_name("pt")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|v| v.unwrap())
            .collect();
        assert_eq!(got_pts, pts, "{filter}");
    }
}

#[tokio::test]
async fn max_partition_skips_empty_partitions() {
    let emu = emulator().await;
    let (cx, _) = context();
    let src = source(&emu, "sales", &[("max_partition", "true")]);
    let got = export(&src, &Scan::new(), &cx).await.unwrap();
    assert_same_values(&got, &expected(&emu, "sales", Some("pt=b,dt=20230119")));
    assert_eq!(
        cx.report().info()["session_0"]["partition"],
        serde_json::json!("pt=b,dt=20230119")
    );
}

#[tokio::test]
async fn a_second_process_joins_a_session_by_download_id() {
    let emu = emulator().await;
    let (cx, _) = context();
    let first = source(&emu, "narrow", &[]);
    let splits = first.plan(&Scan::new(), &cx).await.unwrap();
    let id = download_id_of(&splits[0]);
    let creations = |emu: &MaxComputeEmulator| {
        emu.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.param("downloads").is_some())
            .count()
    };
    assert_eq!(creations(&emu), 1);
    let (cx2, _) = context();
    let joined = source(&emu, "narrow", &[("download_id", &id)]);
    let got = export(&joined, &Scan::new(), &cx2).await.unwrap();
    assert_same_values(&got, &expected(&emu, "narrow", None));
    assert_eq!(creations(&emu), 1, "joining must not create a session");
    assert_eq!(cx2.report().info()["download_id"], serde_json::json!(id));
    for r in data_requests(&emu) {
        assert_eq!(r.param("downloadid").as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn a_reset_mid_body_resumes_after_the_last_delivered_row() {
    // Bodies of several batches, uncompressed, so the cut falls after whole batches.
    let emu = MaxComputeEmulator::start(MaxComputeConfig {
        narrow_rows: 40_000,
        ..MaxComputeConfig::default()
    })
    .await
    .unwrap();
    for format in ["arrow", "record"] {
        let before = data_requests(&emu).len();
        emu.faults().reset_data(1, 600_000);
        let (cx, events) = context();
        let src = source(
            &emu,
            "narrow",
            &[
                ("format", format),
                ("split_rows", "40000"),
                ("compression", "none"),
            ],
        );
        let got = export(&src, &Scan::new(), &cx).await.unwrap();
        assert_same_values(&got, &expected(&emu, "narrow", None));
        let ranges: Vec<String> = data_requests(&emu)[before..]
            .iter()
            .map(|r| r.param("rowrange").unwrap())
            .collect();
        assert_eq!(ranges.len(), 2, "{format}: {ranges:?}");
        assert_eq!(ranges[0], "(0,40000)");
        let resumed: u64 = ranges[1]
            .trim_matches(|c| c == '(' || c == ')')
            .split(',')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            resumed > 0 && resumed < 40_000,
            "{format}: resumed at {resumed}"
        );
        assert_eq!(ranges[1], format!("({resumed},{})", 40_000 - resumed));
        assert!(
            events
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, ProgressEvent::Retry { .. }))
        );
    }
}

#[tokio::test]
async fn server_errors_and_throttling_are_retried() {
    let emu = emulator().await;
    emu.faults().server_errors(2);
    emu.faults().meta_server_errors(1);
    let (cx, _) = context();
    let got = export(&source(&emu, "narrow", &[]), &Scan::new(), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 5000);
    emu.faults().flow_exceeded(2);
    let (cx, _) = context();
    let got = export(&source(&emu, "narrow", &[]), &Scan::new(), &cx)
        .await
        .unwrap();
    assert_eq!(got.num_rows(), 5000);
    // Past the retry budget the export fails with the server's words.
    emu.faults().server_errors(10);
    let (cx, _) = context();
    let err = export(&source(&emu, "narrow", &[]), &Scan::new(), &cx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(err.to_string().contains("InternalServerError"), "{err}");
    emu.faults().server_errors(0);
}

#[tokio::test]
async fn corrupt_or_short_bodies_are_integrity_errors() {
    let emu = emulator().await;
    for format in ["arrow", "record"] {
        emu.faults().corrupt_data(1);
        let (cx, _) = context();
        let err = export(
            &source(&emu, "narrow", &[("format", format)]),
            &Scan::new(),
            &cx,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{format}: {err}");

        emu.faults().short_data(1);
        let (cx, _) = context();
        let err = export(
            &source(&emu, "narrow", &[("format", format)]),
            &Scan::new(),
            &cx,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{format}: {err}");
        assert!(err.to_string().contains("promised"), "{err}");
    }
}

#[tokio::test]
async fn an_expired_session_says_how_to_recover() {
    let emu = emulator().await;
    let (cx, _) = context();
    let splits = source(&emu, "narrow", &[])
        .plan(&Scan::new(), &cx)
        .await
        .unwrap();
    let id = download_id_of(&splits[0]);
    emu.faults().expire_sessions();
    let err = export(
        &source(&emu, "narrow", &[("download_id", &id)]),
        &Scan::new(),
        &cx,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote);
    assert!(!err.is_temporary());
    assert!(err.to_string().contains("without `download_id`"), "{err}");
}

#[tokio::test]
async fn bad_input_fails_clearly_before_any_data_moves() {
    let emu = emulator().await;
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], ErrorKind, &'a str);
    let cases: &[Case] = &[
        ("no_such_table", &[], ErrorKind::NotFound, "no_such_table"),
        (
            "sales",
            &[("partition", "pt=zz,dt=1")],
            ErrorKind::NotFound,
            "NoSuchPartition",
        ),
        (
            "sales",
            &[("partition", "pt>zz")],
            ErrorKind::NotFound,
            "no partition",
        ),
        (
            "sales",
            &[("partition", "pt=a,,")],
            ErrorKind::Config,
            "partition",
        ),
        (
            "sales",
            &[("partition", "region=x")],
            ErrorKind::Config,
            "region",
        ),
        (
            "narrow",
            &[("partition", "pt=a")],
            ErrorKind::Config,
            "not partitioned",
        ),
    ];
    for (table, extra, kind, needle) in cases {
        let (cx, _) = context();
        let err = export(&source(&emu, table, extra), &Scan::new(), &cx)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), *kind, "{table} {extra:?}: {err}");
        assert!(err.to_string().contains(needle), "{table} {extra:?}: {err}");
    }
    let (cx, _) = context();
    let err = export(
        &source(&emu, "narrow", &[]),
        &Scan::new().with_columns(Some(vec!["vlaue".into()])),
        &cx,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("value"), "{err}");

    let err = export(
        &source_with_secret(&emu, "narrow", &[], "wrong-secret"),
        &Scan::new(),
        &cx,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(data_requests(&emu).is_empty());
}

#[tokio::test]
async fn listings_follow_every_page() {
    let emu = MaxComputeEmulator::start(MaxComputeConfig {
        table_page_size: 1,
        partition_page_size: 1,
        ..MaxComputeConfig::default()
    })
    .await
    .unwrap();
    let (cx, _) = context();
    let mut options = arrowport_core::OptionMap::new();
    options.insert("endpoint", emu.endpoint());
    let project = Config::from_options(&emu.config().project, &options).unwrap();
    let credentials = || {
        Some(Credentials::new(
            &emu.config().access_id,
            &emu.config().secret_access_key,
        ))
    };
    let tables = arrowport_maxcompute::catalog::tables(&project, credentials(), &cx)
        .await
        .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
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

    let mut sales = project.clone();
    sales.table = Some("sales".into());
    let parts = arrowport_maxcompute::catalog::partitions(&sales, credentials(), &cx)
        .await
        .unwrap();
    assert_eq!(parts.len(), 4);
    let pages = emu
        .requests()
        .iter()
        .filter(|r| r.param("partitions").is_some())
        .count();
    assert!(pages >= 4, "one partition per page: {pages} requests");
}

#[tokio::test]
async fn slow_answers_complete_and_timeouts_are_retried_then_reported() {
    let emu = emulator().await;
    emu.faults().delay(Duration::from_millis(30));
    let (cx, _) = context();
    let got = export(
        &source(&emu, "narrow", &[]),
        &Scan::new().with_limit(Some(100)),
        &cx,
    )
    .await
    .unwrap();
    assert_eq!(got.num_rows(), 100);

    emu.faults().delay(Duration::from_millis(400));
    let mut http = arrowport_core::HttpSettings::default();
    http.request_timeout = Duration::from_millis(100);
    let (cx, events) = context();
    let cx = cx.with_http(http);
    let err = export(&source(&emu, "narrow", &[]), &Scan::new(), &cx)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Remote, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, ProgressEvent::Retry { .. }))
    );
    emu.faults().delay(Duration::ZERO);
}

#[tokio::test]
async fn an_unknown_project_is_not_found() {
    let emu = emulator().await;
    let (cx, _) = context();
    let c = emu.config();
    let mut options = arrowport_core::OptionMap::new();
    options.insert("endpoint", emu.endpoint());
    let config = Config::from_options("no_such_project/narrow", &options).unwrap();
    let src = MaxComputeSource::new(config)
        .with_credentials(Credentials::new(&c.access_id, &c.secret_access_key));
    let err = export(&src, &Scan::new(), &cx).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("NoSuchProject"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_bigger_than_a_request_is_read_in_request_sized_pieces() {
    // One split of the whole table: a Flight endpoint or a Python task reading a big split
    // must not hold the split's whole body in memory.
    let rows: u64 = 400_000;
    let emu = MaxComputeEmulator::start(MaxComputeConfig {
        narrow_rows: rows,
        ..MaxComputeConfig::default()
    })
    .await
    .unwrap();
    let (cx, _) = context();
    let src = source(&emu, "narrow", &[("split_rows", &rows.to_string())]);
    let splits = src.plan(&Scan::new(), &cx).await.unwrap();
    assert_eq!(splits.len(), 1);
    let mut batches = Vec::new();
    let mut stream = src.open_split(&splits[0].token, &cx).await.unwrap();
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        batches.push(batch.unwrap());
    }
    let got = concat_batches(&batches[0].schema(), &batches).unwrap();
    assert_same_values(&got, &expected(&emu, "narrow", None));
    let ranges: Vec<(u64, u64)> = data_requests(&emu)
        .iter()
        .map(|r| {
            let range = r.param("rowrange").unwrap();
            let (start, count) = range.trim_matches(['(', ')']).split_once(',').unwrap();
            (start.parse().unwrap(), count.parse().unwrap())
        })
        .collect();
    assert!(ranges.len() >= 3, "{ranges:?}");
    let mut sorted = ranges.clone();
    sorted.sort();
    let mut next = 0;
    for (start, count) in sorted {
        assert_eq!(start, next, "{ranges:?}");
        assert!(count < rows / 2, "{ranges:?}");
        next += count;
    }
    assert_eq!(next, rows);
}
