//! The MaxCompute sink against the loopback emulator: rows written through upload sessions and
//! read back through the emulator's tables, in both formats and with compression, static and
//! dynamic partitions, schema problems caught before any upload, and every upload fault leaving
//! the table unchanged.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use arrowport_core::{Context, ErrorKind, RecordBatchStreamAdapter, Result, RetryPolicy, Sink};
use arrowport_maxcompute::sign::Credentials;
use arrowport_maxcompute::{Config, MaxComputeSink};
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator, Service};

async fn emulator() -> MaxComputeEmulator {
    MaxComputeEmulator::start(MaxComputeConfig::default())
        .await
        .unwrap()
}

fn sink(emu: &MaxComputeEmulator, table: &str, options: &[(&str, &str)]) -> MaxComputeSink {
    let c = emu.config();
    let mut map = arrowport_core::OptionMap::new();
    map.insert("endpoint", emu.endpoint());
    map.insert("tunnel_endpoint", emu.tunnel_endpoint());
    for (k, v) in options {
        map.insert(*k, *v);
    }
    let config = Config::from_options(&format!("{}/{table}", c.project), &map).unwrap();
    MaxComputeSink::new(config)
        .with_credentials(Credentials::new(&c.access_id, &c.secret_access_key))
}

fn cx() -> Context {
    Context::new()
        .with_parallelism(3)
        .with_retry(RetryPolicy::new(
            3,
            Duration::from_millis(1),
            Duration::from_millis(4),
        ))
}

/// Rows shaped like the `sink_target` fixture's data columns (id, name, amount, ts), minus the
/// nested ones, which the record of each test adds when it needs them.
fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ]))
}

fn rows(from: i64, n: i64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(from..from + n)) as ArrayRef,
            Arc::new(StringArray::from_iter(
                (from..from + n).map(|i| (i % 5 != 0).then(|| format!("name-{i}"))),
            )),
            Arc::new(Float64Array::from_iter(
                (from..from + n).map(|i| Some(i as f64 / 4.0)),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    (from..from + n).map(|i| 1_674_131_696_000 + i),
                )
                .with_timezone("UTC"),
            ),
        ],
    )
    .unwrap()
}

async fn write(sink: &MaxComputeSink, batches: Vec<RecordBatch>) -> Result<u64> {
    let schema = batches.first().map(|b| b.schema()).unwrap_or_else(schema);
    sink.check_schema(&schema)?;
    let stream = RecordBatchStreamAdapter::sendable(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    );
    Ok(sink.write_all(stream, &cx()).await?.rows)
}

fn ids(emu: &MaxComputeEmulator, table: &str, partition: Option<&str>) -> Vec<i64> {
    let batches = emu.table_batches(table, partition);
    let all = concat_batches(&emu.table_schema(table), &batches).unwrap();
    all.column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

/// Rows with every `sink_target` column: id, name, amount decimal(18,2), ts datetime,
/// vec array<float> (from a fixed-size list, as a VikingDB vector arrives), tags map.
fn full_rows(from: i64, n: i64) -> RecordBatch {
    use arrow::array::{
        Decimal128Array, FixedSizeListArray, Float32Array, Int64Builder, MapBuilder, StringBuilder,
    };
    let base = rows(from, n);
    let amount = Decimal128Array::from_iter_values((from..from + n).map(|i| i as i128 * 25))
        .with_precision_and_scale(18, 2)
        .unwrap();
    let values = Float32Array::from_iter_values((0..n * 3).map(|i| i as f32 / 8.0));
    let vec = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, true)),
        3,
        Arc::new(values),
        None,
    );
    let mut tags = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    for i in from..from + n {
        tags.keys().append_value(format!("k{}", i % 3));
        tags.values().append_value(i);
        tags.append(true).unwrap();
    }
    RecordBatch::try_from_iter(vec![
        ("id", base.column(0).clone()),
        ("name", base.column(1).clone()),
        ("amount", Arc::new(amount) as ArrayRef),
        ("ts", base.column(3).clone()),
        ("vec", Arc::new(vec) as ArrayRef),
        ("tags", Arc::new(tags.finish()) as ArrayRef),
    ])
    .unwrap()
}

#[tokio::test]
async fn every_row_and_type_lands_in_the_table_with_every_compression() {
    let emu = emulator().await;
    let mut expected = Vec::new();
    for (round, compression) in ["none", "zstd", "deflate", "lz4"].iter().enumerate() {
        let from = round as i64 * 10_000;
        let rows = write(
            &sink(
                &emu,
                "sink_target",
                &[("compression", compression), ("block_bytes", "1048576")],
            ),
            vec![full_rows(from, 3000), full_rows(from + 3000, 2000)],
        )
        .await
        .unwrap();
        assert_eq!(rows, 5000);
        expected.extend(from..from + 5000);
    }
    assert_eq!(ids(&emu, "sink_target", None), expected);
    assert_eq!(emu.commits(), 4);
    // Values survive: the emulator decoded exactly what was sent.
    let back = concat_batches(
        &emu.table_schema("sink_target"),
        &emu.table_batches("sink_target", None),
    )
    .unwrap();
    let sent = full_rows(0, 5000);
    let name = back.column_by_name("name").unwrap().as_string::<i32>();
    assert_eq!(name.value(1), "name-1");
    assert!(name.is_null(0));
    let vec = back.column_by_name("vec").unwrap().as_list::<i32>();
    assert_eq!(vec.value(4999).len(), 3);
    assert_eq!(
        sent.column_by_name("amount").unwrap().to_data().buffers(),
        back.column_by_name("amount")
            .unwrap()
            .slice(0, 5000)
            .to_data()
            .buffers()
    );
}

#[tokio::test]
async fn big_inputs_are_split_into_many_blocks_uploaded_in_parallel() {
    let emu = emulator().await;
    let batches: Vec<RecordBatch> = (0..20).map(|i| full_rows(i * 5000, 5000)).collect();
    write(
        &sink(&emu, "sink_target", &[("block_bytes", "1048576")]),
        batches,
    )
    .await
    .unwrap();
    let puts = emu.requests().iter().filter(|r| r.method == "PUT").count();
    assert!(puts > 3, "{puts} blocks");
    assert_eq!(
        ids(&emu, "sink_target", None),
        (0..100_000).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn overwrite_replaces_and_append_adds() {
    let emu = emulator().await;
    write(&sink(&emu, "sink_target", &[]), vec![full_rows(0, 10)])
        .await
        .unwrap();
    write(&sink(&emu, "sink_target", &[]), vec![full_rows(10, 10)])
        .await
        .unwrap();
    assert_eq!(ids(&emu, "sink_target", None).len(), 20);
    write(
        &sink(&emu, "sink_target", &[("overwrite", "true")]),
        vec![full_rows(100, 5)],
    )
    .await
    .unwrap();
    assert_eq!(ids(&emu, "sink_target", None), [100, 101, 102, 103, 104]);
}

#[tokio::test]
async fn static_and_dynamic_partitions() {
    let emu = emulator().await;
    let part_rows = |pt: &[&str]| {
        RecordBatch::try_from_iter(vec![
            (
                "id",
                Arc::new(Int64Array::from_iter_values(0..pt.len() as i64)) as ArrayRef,
            ),
            (
                "name",
                Arc::new(StringArray::from(vec![Some("x"); pt.len()])) as ArrayRef,
            ),
            ("pt", Arc::new(StringArray::from(pt.to_vec())) as ArrayRef),
        ])
        .unwrap()
    };
    let only_data = |b: RecordBatch| b.project(&[0, 1]).unwrap();
    write(
        &sink(&emu, "sink_parts", &[("partition", "pt=existing")]),
        vec![only_data(part_rows(&["a", "b"]))],
    )
    .await
    .unwrap();
    assert_eq!(ids(&emu, "sink_parts", Some("pt=existing")), [0, 1]);

    // A missing partition needs create_partition=true; nothing is written without it.
    let err = write(
        &sink(&emu, "sink_parts", &[("partition_by", "pt")]),
        vec![part_rows(&["new1", "new2", "new1"])],
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("create_partition=true"), "{err}");
    write(
        &sink(
            &emu,
            "sink_parts",
            &[("partition_by", "pt"), ("create_partition", "true")],
        ),
        vec![
            part_rows(&["new1", "new2", "new1"]),
            part_rows(&["existing"]),
        ],
    )
    .await
    .unwrap();
    assert_eq!(ids(&emu, "sink_parts", Some("pt=new1")), [0, 2]);
    assert_eq!(ids(&emu, "sink_parts", Some("pt=new2")), [1]);
    assert_eq!(ids(&emu, "sink_parts", Some("pt=existing")), [0, 1, 0]);

    // Past max_partitions: a clear error, nothing committed.
    let before = emu.commits();
    let err = write(
        &sink(
            &emu,
            "sink_parts",
            &[
                ("partition_by", "pt"),
                ("create_partition", "true"),
                ("max_partitions", "2"),
            ],
        ),
        vec![part_rows(&["p1", "p2", "p3"])],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("max_partitions"), "{err}");
    assert_eq!(emu.commits(), before);
}

#[tokio::test]
async fn schema_problems_are_listed_before_any_upload() {
    let emu = emulator().await;
    let input = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
        ),
        (
            "amount",
            Arc::new(Float64Array::from(vec![1.5, 2.5])) as ArrayRef,
        ),
        (
            "extra",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let err = write(&sink(&emu, "sink_target", &[]), vec![input])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    for needle in [
        "`id` is NOT NULL",
        "`amount`: Float64 cannot become decimal(18,2)",
        "`name` (string) is missing",
        "`extra` is not a column",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(
        !emu.requests().iter().any(|r| r.service == Service::Tunnel),
        "no session may be opened"
    );
}

#[tokio::test]
async fn failures_leave_the_table_unchanged() {
    let emu = emulator().await;
    write(&sink(&emu, "sink_target", &[]), vec![full_rows(0, 10)])
        .await
        .unwrap();
    let before = ids(&emu, "sink_target", None);

    // A block failing past the retries: nothing committed.
    emu.faults().block_errors(10);
    let err = write(
        &sink(&emu, "sink_target", &[("overwrite", "true")]),
        vec![full_rows(50, 10)],
    )
    .await
    .unwrap_err();
    assert!(
        err.context_value("note")
            .unwrap()
            .contains("nothing was committed"),
        "{err}"
    );
    emu.faults().block_errors(0);
    assert_eq!(ids(&emu, "sink_target", None), before);

    // One failing block is retried as a whole and the export succeeds.
    emu.faults().block_errors(1);
    write(&sink(&emu, "sink_target", &[]), vec![full_rows(10, 10)])
        .await
        .unwrap();
    assert_eq!(ids(&emu, "sink_target", None).len(), 20);

    // A commit conflict is not retried and commits nothing.
    emu.faults().commit_conflicts(1);
    let err = write(&sink(&emu, "sink_target", &[]), vec![full_rows(20, 10)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("StatusConflict"), "{err}");
    assert_eq!(ids(&emu, "sink_target", None).len(), 20);
}

#[tokio::test]
async fn the_record_format_writes_the_same_values() {
    let emu = emulator().await;
    for compression in ["none", "deflate"] {
        write(
            &sink(
                &emu,
                "sink_target",
                &[
                    ("format", "record"),
                    ("compression", compression),
                    ("overwrite", "true"),
                ],
            ),
            vec![full_rows(0, 700), full_rows(700, 300)],
        )
        .await
        .unwrap();
        let back = concat_batches(
            &emu.table_schema("sink_target"),
            &emu.table_batches("sink_target", None),
        )
        .unwrap();
        let parts = [full_rows(0, 700), full_rows(700, 300)];
        let sent = concat_batches(&parts[0].schema(), &parts).unwrap();
        assert_eq!(back.num_rows(), 1000);
        for name in ["id", "name", "amount", "vec", "tags"] {
            let (got, want) = (
                back.column_by_name(name).unwrap(),
                sent.column_by_name(name).unwrap(),
            );
            let want = arrow::compute::cast(want, got.data_type()).unwrap();
            assert_eq!(
                got.to_data().slice(0, 1000).len(),
                want.len(),
                "{compression} {name}"
            );
            assert_eq!(
                format!("{:?}", got.slice(0, 1000)),
                format!("{:?}", want),
                "{compression} {name}"
            );
        }
    }
}

#[tokio::test]
async fn an_expired_upload_session_commits_nothing() {
    let emu = emulator().await;
    // The session expires while rows are still arriving: its blocks or its commit are refused.
    let before = emu.commits();
    let sink = sink(&emu, "sink_target", &[]);
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let stream = RecordBatchStreamAdapter::sendable(full_rows(0, 1).schema(), rx);
    let feed = async {
        tx.unbounded_send(Ok(full_rows(0, 10))).unwrap();
        // Once the session exists, expire it; the rest of the rows still arrive.
        while !emu
            .requests()
            .iter()
            .any(|r| r.method == "POST" && r.param("uploads").is_some())
        {
            tokio::task::yield_now().await;
        }
        emu.faults().expire_sessions();
        tx.unbounded_send(Ok(full_rows(10, 10))).unwrap();
        drop(tx);
    };
    let context = cx();
    let (result, ()) = futures::join!(sink.write_all(stream, &context), feed);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("StatusConflict"), "{err}");
    assert!(
        err.context_value("note")
            .unwrap()
            .contains("nothing was committed")
    );
    assert_eq!(emu.commits(), before);
}
