//! `create_table=true` and shared upload sessions against the loopback emulator: tables made
//! from the input's Arrow schema through a SQL instance (every mapped type read back value for
//! value), inputs that cannot make one refused before anything exists, and workers uploading
//! into one session from disjoint block ranges, committed once — with overlapping ranges,
//! foreign session ids and second commits refused and nothing committed.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, DurationSecondArray, FixedSizeListArray,
    Float32Array, Int32Array, Int64Array, Int64Builder, MapBuilder, RecordBatch, StringArray,
    StringBuilder, StructArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Fields, Int64Type};
use arrowport_core::{Context, ErrorKind, RecordBatchStreamAdapter, Result, RetryPolicy, Sink};
use arrowport_maxcompute::client::Client;
use arrowport_maxcompute::shared::{SessionTarget, parse_ranges};
use arrowport_maxcompute::sign::Credentials;
use arrowport_maxcompute::{Config, MaxComputeSink};
use arrowport_testkit::maxcompute::{MaxComputeConfig, MaxComputeEmulator};

async fn emulator() -> MaxComputeEmulator {
    MaxComputeEmulator::start(MaxComputeConfig::default())
        .await
        .unwrap()
}

fn config(emu: &MaxComputeEmulator, table: &str, options: &[(&str, &str)]) -> Result<Config> {
    let mut map = arrowport_core::OptionMap::new();
    map.insert("endpoint", emu.endpoint());
    map.insert("tunnel_endpoint", emu.tunnel_endpoint());
    for (k, v) in options {
        map.insert(*k, *v);
    }
    Config::from_options(&format!("{}/{table}", emu.config().project), &map)
}

fn credentials(emu: &MaxComputeEmulator) -> Credentials {
    let c = emu.config();
    Credentials::new(&c.access_id, &c.secret_access_key)
}

fn sink(emu: &MaxComputeEmulator, table: &str, options: &[(&str, &str)]) -> MaxComputeSink {
    MaxComputeSink::new(config(emu, table, options).unwrap()).with_credentials(credentials(emu))
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

async fn write(sink: &MaxComputeSink, batches: Vec<RecordBatch>) -> Result<u64> {
    let schema = batches[0].schema();
    sink.check_schema(&schema)?;
    let stream = RecordBatchStreamAdapter::sendable(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)),
    );
    Ok(sink.write_all(stream, &cx()).await?.rows)
}

fn ids(emu: &MaxComputeEmulator, table: &str, partition: Option<&str>) -> Vec<i64> {
    let all = concat_batches(
        &emu.table_schema(table),
        &emu.table_batches(table, partition),
    )
    .unwrap();
    let mut ids = all
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    ids.sort_unstable();
    ids
}

/// SQL instances submitted so far.
fn instances(emu: &MaxComputeEmulator) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/instances"))
        .count()
}

/// One column of every kind the reverse mapping covers, and a partition column.
fn typed_rows(n: i64) -> RecordBatch {
    let range = 0..n;
    let vec = FixedSizeListArray::new(
        Arc::new(Field::new("item", DataType::Float32, true)),
        2,
        Arc::new(Float32Array::from_iter_values(
            (0..n * 2).map(|i| i as f32 / 4.0),
        )),
        None,
    );
    let mut tags = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
    for i in range.clone() {
        tags.keys().append_value(format!("k{i}"));
        tags.values().append_value(i * 10);
        tags.append(i % 4 != 0).unwrap();
    }
    let meta = StructArray::new(
        Fields::from(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
        ]),
        vec![
            Arc::new(Int64Array::from_iter_values(range.clone().map(|i| -i))) as ArrayRef,
            Arc::new(StringArray::from_iter_values(
                range.clone().map(|i| format!("s{i}")),
            )),
        ],
        None,
    );
    RecordBatch::try_from_iter_with_nullable(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(range.clone())) as ArrayRef,
            false,
        ),
        (
            "small",
            Arc::new(Int32Array::from_iter(
                range.clone().map(|i| (i % 3 != 0).then_some(i as i32)),
            )),
            true,
        ),
        (
            "name",
            Arc::new(StringArray::from_iter(
                range
                    .clone()
                    .map(|i| (i % 5 != 0).then(|| format!("名前-{i}"))),
            )),
            true,
        ),
        (
            "amount",
            Arc::new(
                Decimal128Array::from_iter_values(range.clone().map(|i| i as i128 * 25 - 100))
                    .with_precision_and_scale(18, 2)
                    .unwrap(),
            ),
            true,
        ),
        (
            "at_ms",
            Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    range.clone().map(|i| 1_674_131_696_000 + i),
                )
                .with_timezone("UTC"),
            ),
            true,
        ),
        (
            "at_ns",
            Arc::new(
                TimestampNanosecondArray::from_iter_values(
                    range.clone().map(|i| 1_674_131_696_000_000_123 + i),
                )
                .with_timezone("UTC"),
            ),
            true,
        ),
        (
            "wall",
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                range.clone().map(|i| 1_600_000_000_000_001 + i),
            )),
            true,
        ),
        ("vec", Arc::new(vec), true),
        ("tags", Arc::new(tags.finish()), true),
        ("meta", Arc::new(meta), true),
        (
            "pt",
            Arc::new(StringArray::from_iter_values(
                range.map(|i| if i % 2 == 0 { "even" } else { "odd" }),
            )),
            true,
        ),
    ])
    .unwrap()
}

#[tokio::test]
async fn create_table_makes_the_table_from_the_input_and_every_value_arrives() {
    let emu = emulator().await;
    let options = [
        ("create_table", "true"),
        ("partition_by", "pt"),
        ("lifecycle", "7"),
        ("comment", "made by arrowport's test"),
    ];
    let input = typed_rows(100);
    assert_eq!(
        write(&sink(&emu, "made", &options), vec![input.clone()])
            .await
            .unwrap(),
        100
    );
    assert_eq!(instances(&emu), 1);
    let config = config(&emu, "made", &[]).unwrap();
    let meta = Client::new(&config, credentials(&emu), &cx())
        .unwrap()
        .table("made", &cx())
        .await
        .unwrap();
    let types: Vec<(String, String)> = meta
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.type_string.clone()))
        .collect();
    let want = [
        ("id", "bigint"),
        ("small", "int"),
        ("name", "string"),
        ("amount", "decimal(18,2)"),
        ("at_ms", "datetime"),
        ("at_ns", "timestamp"),
        ("wall", "timestamp_ntz"),
        ("vec", "array<float>"),
        ("tags", "map<string,bigint>"),
        ("meta", "struct<a:bigint,b:string>"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(types, want);
    assert!(!meta.columns[0].nullable);
    assert_eq!(meta.partition_keys.len(), 1);
    assert_eq!(meta.lifecycle, Some(7));
    assert_eq!(meta.comment.as_deref(), Some("made by arrowport's test"));

    // Value for value, per partition, in the emulator's (PyODPS's) Arrow layout.
    for (pt, parity) in [("even", 0), ("odd", 1)] {
        let got = concat_batches(
            &emu.table_schema("made"),
            &emu.table_batches("made", Some(&format!("pt={pt}"))),
        )
        .unwrap();
        let rows: Vec<u32> = (0..100u32).filter(|i| i % 2 == parity).collect();
        let want =
            arrow::compute::take_record_batch(&input, &arrow::array::UInt32Array::from(rows))
                .unwrap();
        assert_eq!(got.num_rows(), want.num_rows());
        for (i, field) in got.schema().fields().iter().enumerate() {
            let expected = arrow::compute::cast(want.column(i), field.data_type()).unwrap();
            let (g, w) = (got.column(i).to_data(), expected.to_data());
            // Nested field names differ between writers (`item`/`element`); compare values.
            assert_eq!(
                arrow::util::display::ArrayFormatter::try_new(got.column(i), &Default::default())
                    .map(|f| (0..g.len())
                        .map(|r| f.value(r).to_string())
                        .collect::<Vec<_>>())
                    .unwrap(),
                arrow::util::display::ArrayFormatter::try_new(&expected, &Default::default())
                    .map(|f| (0..w.len())
                        .map(|r| f.value(r).to_string())
                        .collect::<Vec<_>>())
                    .unwrap(),
                "column {}",
                field.name()
            );
        }
    }

    // The table exists now: `create_table` appends (if-not-exists), creating nothing.
    write(&sink(&emu, "made", &options), vec![typed_rows(10)])
        .await
        .unwrap();
    assert_eq!(instances(&emu), 1);
    assert_eq!(ids(&emu, "made", Some("pt=even")).len(), 55);
}

#[tokio::test]
async fn types_without_a_lossless_counterpart_are_refused_before_anything_is_created() {
    let emu = emulator().await;
    let odd = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..3)) as ArrayRef,
        ),
        ("big", Arc::new(UInt64Array::from(vec![1, 2, u64::MAX / 4]))),
        ("took", Arc::new(DurationSecondArray::from(vec![5, 6, 7]))),
    ])
    .unwrap();
    let err = write(
        &sink(&emu, "odd", &[("create_table", "true")]),
        vec![odd.clone()],
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("`big` (UInt64)") && text.contains("`took` (Duration"),
        "{text}"
    );
    assert!(text.contains("column_types"), "{text}");
    assert_eq!(instances(&emu), 0);
    assert!(emu.uploads().is_empty());

    // A cast option says how: values are converted, each checked.
    let with_cast = [
        ("create_table", "true"),
        ("column_types", "big:bigint,took:bigint"),
    ];
    write(&sink(&emu, "odd", &with_cast), vec![odd])
        .await
        .unwrap();
    assert_eq!(ids(&emu, "odd", None), [0, 1, 2]);

    // ... and a value that does not fit fails the export, nothing committed.
    let too_big = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![9])) as ArrayRef),
        ("big", Arc::new(UInt64Array::from(vec![u64::MAX]))),
        ("took", Arc::new(DurationSecondArray::from(vec![1]))),
    ])
    .unwrap();
    let commits = emu.commits();
    let err = write(&sink(&emu, "odd", &with_cast), vec![too_big])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema, "{err}");
    assert!(err.to_string().contains("big"), "{err}");
    assert_eq!(emu.commits(), commits);
    assert_eq!(ids(&emu, "odd", None), [0, 1, 2]);
}

#[tokio::test]
async fn create_table_on_a_table_with_another_schema_is_refused_naming_the_columns() {
    let emu = emulator().await;
    // `sink_target` has id, name, amount, ts, vec, tags.
    let other = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("colour", Arc::new(StringArray::from(vec!["red"]))),
    ])
    .unwrap();
    let err = write(
        &sink(&emu, "sink_target", &[("create_table", "true")]),
        vec![other],
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    for needle in ["another schema", "`colour`", "`name`", "`tags`"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert_eq!(instances(&emu), 0);
    assert!(emu.uploads().is_empty());

    // Without create_table, a missing table says how to create it.
    let err = write(&sink(&emu, "missing", &[]), vec![typed_rows(1)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.notes().iter().any(|n| n.contains("create_table=true")),
        "{err}"
    );
}

#[tokio::test]
async fn a_static_partition_of_a_created_table_is_created_with_it() {
    let emu = emulator().await;
    let input = RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(0..5)) as ArrayRef,
        ),
        ("v", Arc::new(StringArray::from(vec!["a"; 5]))),
    ])
    .unwrap();
    let options = [
        ("create_table", "true"),
        ("partition", "dt=20240101,region=eu"),
    ];
    write(&sink(&emu, "by_day", &options), vec![input])
        .await
        .unwrap();
    assert_eq!(
        ids(&emu, "by_day", Some("dt=20240101,region=eu")),
        [0, 1, 2, 3, 4]
    );
}

/// Narrow rows big enough for several blocks of `block_bytes=1048576`.
fn narrow(from: i64, n: i64) -> RecordBatch {
    RecordBatch::try_from_iter(vec![
        (
            "id",
            Arc::new(Int64Array::from_iter_values(from..from + n)) as ArrayRef,
        ),
        (
            "name",
            Arc::new(StringArray::from_iter_values(
                (from..from + n).map(|i| format!("row number {i:>12}")),
            )),
        ),
    ])
    .unwrap()
}

/// `n` rows from `from` in batches of 10000.
fn narrow_batches(from: i64, n: i64) -> Vec<RecordBatch> {
    (from..from + n)
        .step_by(10_000)
        .map(|start| narrow(start, (from + n - start).min(10_000)))
        .collect()
}

async fn new_table(emu: &MaxComputeEmulator, name: &str) {
    write(
        &sink(emu, name, &[("create_table", "true")]),
        vec![narrow(-1, 1)],
    )
    .await
    .unwrap();
}

async fn target(emu: &MaxComputeEmulator, table: &str) -> SessionTarget {
    SessionTarget::new(&config(emu, table, &[]).unwrap(), credentials(emu), &cx())
        .await
        .unwrap()
}

fn worker(emu: &MaxComputeEmulator, table: &str, id: &str, blocks: &str) -> MaxComputeSink {
    sink(
        emu,
        table,
        &[
            ("upload_id", id),
            ("block_ids", blocks),
            ("block_bytes", "1048576"),
        ],
    )
}

#[tokio::test]
async fn workers_share_one_upload_session_committed_once() {
    let emu = emulator().await;
    new_table(&emu, "shared").await;
    let target = target(&emu, "shared").await;
    let id = target
        .create(&config(&emu, "shared", &[]).unwrap(), &cx())
        .await
        .unwrap()
        .id;
    let (first, second) = (
        worker(&emu, "shared", &id, "100-199"),
        worker(&emu, "shared", &id, "200-299"),
    );
    let (a, b) = tokio::join!(
        write(&first, narrow_batches(0, 60_000)),
        write(&second, narrow_batches(60_000, 60_000)),
    );
    assert_eq!((a.unwrap(), b.unwrap()), (60_000, 60_000));
    // Uploaded, not committed: the table still holds only its first row.
    assert_eq!(ids(&emu, "shared", None), [-1]);
    let session = &emu.uploads()[1];
    assert!(session.blocks.len() > 4, "{:?}", session.blocks);
    assert!(session.blocks.contains(&(100, 0)) && session.blocks.contains(&(200, 0)));

    // A worker whose range overlaps another's is refused, its blocks not written.
    let blocks_before = emu.uploads()[1].blocks.clone();
    let err = write(&worker(&emu, "shared", &id, "150-249"), vec![narrow(0, 10)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("overlap"), "{err}");
    assert_eq!(emu.uploads()[1].blocks, blocks_before);

    // The commit checks the ranges it is given, then commits once.
    let err = target
        .commit(&id, Some(&parse_ranges("100-199").unwrap()), &cx())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("outside the ranges"), "{err}");
    let err = target
        .commit(&id, Some(&parse_ranges("100-199,150-299").unwrap()), &cx())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(emu.commits(), 1);
    target
        .commit(&id, Some(&parse_ranges("100-199,200-299").unwrap()), &cx())
        .await
        .unwrap();
    let want: Vec<i64> = (-1..120_000).collect();
    assert_eq!(ids(&emu, "shared", None), want);

    // Twice: refused, nothing committed again.
    let err = target.commit(&id, None, &cx()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("committed already"), "{err}");
    assert!(
        err.to_string().contains("nothing was committed") || err.to_string().contains("no commit"),
        "{err}"
    );
    assert_eq!(emu.commits(), 2);
    // A worker on a committed session is refused too.
    let err = write(&worker(&emu, "shared", &id, "300-399"), vec![narrow(0, 1)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn a_rerun_worker_rewrites_its_own_blocks_only() {
    let emu = emulator().await;
    new_table(&emu, "rerun").await;
    let target = target(&emu, "rerun").await;
    let id = target
        .create(&config(&emu, "rerun", &[]).unwrap(), &cx())
        .await
        .unwrap()
        .id;
    write(&worker(&emu, "rerun", &id, "0-9"), vec![narrow(0, 10)])
        .await
        .unwrap();
    // The first run of the other worker wrote many blocks, then "failed"; its re-run has
    // fewer rows (its input changed): the blocks it no longer fills are emptied.
    write(
        &worker(&emu, "rerun", &id, "10-99"),
        narrow_batches(100, 80_000),
    )
    .await
    .unwrap();
    let first_run = emu.uploads()[1].blocks.len();
    assert!(first_run > 5, "{:?}", emu.uploads()[1].blocks);
    write(&worker(&emu, "rerun", &id, "10-99"), vec![narrow(100, 5)])
        .await
        .unwrap();
    let blocks = emu.uploads()[1].blocks.clone();
    assert_eq!(blocks.len(), first_run);
    assert_eq!(blocks.iter().map(|(_, rows)| rows).sum::<u64>(), 15);
    target.commit(&id, None, &cx()).await.unwrap();
    let mut want: Vec<i64> = vec![-1];
    want.extend(0..10);
    want.extend(100..105);
    assert_eq!(ids(&emu, "rerun", None), want);
}

#[tokio::test]
async fn an_upload_id_of_another_table_is_refused() {
    let emu = emulator().await;
    new_table(&emu, "one").await;
    new_table(&emu, "two").await;
    let id = target(&emu, "one")
        .await
        .create(&config(&emu, "one", &[]).unwrap(), &cx())
        .await
        .unwrap()
        .id;
    let err = write(&worker(&emu, "two", &id, "0-9"), vec![narrow(0, 1)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("another table"), "{err}");
    let err = target(&emu, "two")
        .await
        .commit(&id, None, &cx())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(emu.commits(), 2);
    assert!(emu.uploads()[2].blocks.is_empty());

    for (options, needle) in [
        (vec![("upload_id", "x")], "block_ids"),
        (vec![("block_ids", "1-5")], "upload_id"),
        (
            vec![("upload_id", "x"), ("block_ids", "5-5")],
            "two ids at least",
        ),
        (
            vec![("upload_id", "x"), ("block_ids", "1-20000")],
            "0..=19999",
        ),
        (
            vec![
                ("upload_id", "x"),
                ("block_ids", "1-5"),
                ("partition_by", "p"),
            ],
            "partition_by",
        ),
    ] {
        let err = config(&emu, "one", &options).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains(needle), "{options:?}: {err}");
    }
}
