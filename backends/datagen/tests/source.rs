//! The datagen source through the public API: schemas, determinism, pushdown, planning,
//! reporting, options and registration.

use std::sync::{Arc, Mutex};

use arrowport_core::arrow::array::{Array, AsArray, RecordBatch};
use arrowport_core::arrow::compute::concat_batches;
use arrowport_core::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use arrowport_core::registry::{build_source, find_source};
use arrowport_core::{
    Context, ErrorKind, ExportSource, OptionMap, ProgressEvent, Result, Scan,
    SendableRecordBatchStream, Sink, SourceSpec, WriteSummary, async_trait,
};
use arrowport_datagen::{Config, DatagenSource, Profile, generate_batch, schema_of};
use futures::StreamExt;

fn source(rows: u64, profile: Profile) -> DatagenSource {
    DatagenSource::new(Config {
        rows,
        profile,
        ..Default::default()
    })
}

fn cx(parallelism: usize) -> Context {
    Context::new().with_parallelism(parallelism)
}

async fn collect(source: &DatagenSource, scan: &Scan, cx: &Context) -> Vec<RecordBatch> {
    let stream = source.open(scan, cx).await.unwrap();
    let schema = stream.schema();
    let batches: Vec<RecordBatch> = stream.map(|b| b.unwrap()).collect().await;
    assert!(
        batches.iter().all(|b| b.schema() == schema),
        "a batch differs from the stream schema"
    );
    batches
}

async fn concat(source: &DatagenSource, scan: &Scan, cx: &Context) -> RecordBatch {
    let batches = collect(source, scan, cx).await;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => source.schema(cx).await.unwrap(),
    };
    concat_batches(&schema, &batches).unwrap()
}

fn names(schema: &Schema) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, true))
}

#[test]
fn schemas_are_exactly_as_documented() {
    let utf8_list = DataType::List(item(DataType::Utf8));
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Float32, true),
            ]
            .into(),
        ),
        false,
    );
    let meta = DataType::Struct(
        vec![
            Field::new("source", DataType::Utf8, true),
            Field::new("score", DataType::Float64, true),
            Field::new("tags", utf8_list.clone(), true),
        ]
        .into(),
    );
    let nullable = |name: &str, t: DataType| Field::new(name, t, true);
    let all = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        nullable("int8", DataType::Int8),
        nullable("int16", DataType::Int16),
        nullable("int32", DataType::Int32),
        nullable("uint64", DataType::UInt64),
        nullable("float32", DataType::Float32),
        nullable("float64", DataType::Float64),
        nullable("flag", DataType::Boolean),
        nullable("text", DataType::Utf8),
        nullable("category", DataType::Utf8),
        nullable("binary", DataType::Binary),
        nullable("date", DataType::Date32),
        nullable("ts_ms", DataType::Timestamp(TimeUnit::Millisecond, None)),
        nullable(
            "ts_us_utc",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ),
        nullable(
            "ts_ns_shanghai",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into())),
        ),
        nullable("ts_ns", DataType::Timestamp(TimeUnit::Nanosecond, None)),
        nullable("decimal", DataType::Decimal128(38, 10)),
        nullable("list_int64", DataType::List(item(DataType::Int64))),
        nullable("list_utf8", utf8_list),
        nullable(
            "embedding",
            DataType::FixedSizeList(item(DataType::Float32), 128),
        ),
        nullable("sparse", DataType::Map(Arc::new(entries), false)),
        nullable("meta", meta),
    ]);
    assert_eq!(*schema_of(Profile::All, None), all);

    let narrow = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        nullable("value", DataType::Float64),
        nullable("category", DataType::Utf8),
        nullable("ts", DataType::Timestamp(TimeUnit::Microsecond, None)),
        nullable("flag", DataType::Boolean),
    ]);
    assert_eq!(*schema_of(Profile::Narrow, None), narrow);

    let vectors = |dim| {
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            nullable("text", DataType::Utf8),
            Field::new(
                "vector",
                DataType::FixedSizeList(item(DataType::Float32), dim),
                false,
            ),
        ])
    };
    assert_eq!(*schema_of(Profile::Vectors, None), vectors(768));
    assert_eq!(*schema_of(Profile::Vectors, Some(32)), vectors(32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_announces_the_profile_schema_and_delivers_it() {
    for profile in [Profile::All, Profile::Narrow, Profile::Vectors] {
        let src = source(100, profile);
        let schema = src.schema(&cx(2)).await.unwrap();
        assert_eq!(schema, schema_of(profile, None));
        let batch = concat(&src, &Scan::new(), &cx(2)).await;
        assert_eq!(batch.schema(), schema);
        assert_eq!(batch.num_rows(), 100);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_does_not_depend_on_batch_size_or_parallelism() {
    for profile in [Profile::All, Profile::Narrow, Profile::Vectors] {
        let src = DatagenSource::new(Config {
            rows: 5000,
            profile,
            batch_size: 333,
            ..Default::default()
        });
        let reference = generate_batch(src.config(), 0, 5000, None).unwrap();
        for (batch_size, parallelism) in [(None, 1), (Some(7), 2), (Some(1000), 8), (Some(8192), 3)]
        {
            let scan = Scan::new()
                .with_batch_size(batch_size)
                .with_parallelism(Some(parallelism));
            let got = concat(&src, &scan, &cx(2)).await;
            assert_eq!(
                got, reference,
                "{profile} batch_size={batch_size:?} parallelism={parallelism}"
            );
        }
        // The context's budget is used when the scan does not say.
        assert_eq!(concat(&src, &Scan::new(), &cx(5)).await, reference);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_arrive_in_row_order_at_the_requested_size() {
    let src = source(10_000, Profile::Narrow);
    let scan = Scan::new()
        .with_batch_size(Some(300))
        .with_parallelism(Some(4));
    let batches = collect(&src, &scan, &cx(2)).await;
    assert_eq!(batches.len(), 34);
    assert!(batches[..33].iter().all(|b| b.num_rows() == 300));
    assert_eq!(batches[33].num_rows(), 100);
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(ids, (0..10_000).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nullable_column_has_nulls_and_values() {
    for profile in [Profile::All, Profile::Narrow, Profile::Vectors] {
        let batch = concat(&source(1000, profile), &Scan::new(), &cx(2)).await;
        let schema = batch.schema();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            let nulls = column.null_count();
            if field.is_nullable() {
                assert!(
                    nulls > 0 && nulls < 1000,
                    "{profile}.{}: {nulls} nulls",
                    field.name()
                );
            } else {
                assert_eq!(nulls, 0, "{profile}.{}", field.name());
            }
        }
        if profile == Profile::All {
            let meta = batch.column_by_name("meta").unwrap().as_struct();
            for child in meta.columns() {
                assert!(child.null_count() > meta.null_count() && child.null_count() < 1000);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_and_limit_are_pushed_down() {
    let src = source(5000, Profile::All);
    assert!(src.capabilities().projection && src.capabilities().limit);
    let full = concat(&src, &Scan::new(), &cx(2)).await;
    let columns = vec![
        "sparse".to_string(),
        "id".to_string(),
        "category".to_string(),
    ];
    let scan = Scan::new()
        .with_columns(Some(columns))
        .with_limit(Some(1234))
        .with_batch_size(Some(100));
    let cx = cx(2);
    let got = concat(&src, &scan, &cx).await;
    assert_eq!(names(&got.schema()), ["sparse", "id", "category"]);
    assert_eq!(got.num_rows(), 1234);
    assert_eq!(cx.report().promised_rows(), Some(1234));
    let expected = full.slice(0, 1234);
    for (i, name) in ["sparse", "id", "category"].into_iter().enumerate() {
        assert_eq!(
            got.column(i),
            expected.column_by_name(name).unwrap(),
            "{name}"
        );
    }
    // A limit beyond the table is the table.
    let all = concat(&src, &Scan::new().with_limit(Some(1_000_000)), &cx).await;
    assert_eq!(all.num_rows(), 5000);
    let none = collect(&src, &Scan::new().with_limit(Some(0)), &cx).await;
    assert!(none.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_columns_are_config_errors_with_a_hint() {
    let src = source(10, Profile::Narrow);
    let scan = Scan::new().with_columns(Some(vec!["id".into(), "catgory".into()]));
    let Err(err) = src.open(&scan, &cx(2)).await else {
        panic!("opened with an unknown column")
    };
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.message().contains("did you mean `category`?"),
        "{}",
        err.message()
    );
    assert_eq!(
        src.plan(&scan, &cx(2)).await.unwrap_err().kind(),
        ErrorKind::Config
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_rows_is_an_empty_plan_and_stream() {
    let src = source(0, Profile::All);
    let cx = cx(2);
    assert!(src.plan(&Scan::new(), &cx).await.unwrap().is_empty());
    let stream = src.open(&Scan::new(), &cx).await.unwrap();
    assert_eq!(stream.schema(), schema_of(Profile::All, None));
    assert_eq!(stream.count().await, 0);
    assert_eq!(cx.report().promised_rows(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_splits_cover_every_row_once() {
    for (rows, batch_size, parallelism, limit) in [
        (1, None, 2, None),
        (100_000, None, 2, None),
        (100_000, Some(1000), 3, Some(54_321)),
        (10_000_000, None, 2, None),
        (20_000, Some(1), 16, None),
    ] {
        let src = source(rows, Profile::Narrow);
        let scan = Scan::new()
            .with_batch_size(batch_size)
            .with_parallelism(Some(parallelism))
            .with_limit(limit);
        let splits = src.plan(&scan, &cx(2)).await.unwrap();
        let total = limit.unwrap_or(rows).min(rows);
        let mut next = 0;
        for (i, split) in splits.iter().enumerate() {
            assert_eq!(split.index, i);
            let n = split.rows.unwrap();
            assert!(n > 0, "empty split {split:?}");
            assert_eq!(split.description, format!("rows {next}..{}", next + n));
            next += n;
        }
        assert_eq!(next, total);
        let bound = (parallelism as u64 * 4).max(total.div_ceil(1 << 20));
        assert!(
            splits.len() as u64 <= bound,
            "{} splits for {total} rows",
            splits.len()
        );
        assert!(
            splits.len()
                >= parallelism.min(total.div_ceil(batch_size.unwrap_or(8192) as u64) as usize)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_reports_the_promise_facts_and_total() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let cx = cx(2).with_progress(Arc::new(move |e: &ProgressEvent| {
        sink.lock().unwrap().push(e.clone())
    }));
    let src = DatagenSource::new(Config {
        rows: 500,
        seed: 9,
        profile: Profile::Narrow,
        ..Default::default()
    });
    let stream = src
        .open(&Scan::new().with_limit(Some(200)), &cx)
        .await
        .unwrap();
    assert_eq!(cx.report().promised_rows(), Some(200));
    let info = cx.report().info();
    let generator = &info["generator"];
    assert_eq!(generator["profile"], "narrow");
    assert_eq!(generator["seed"], 9);
    assert_eq!(generator["rows"], 500);
    assert!(events.lock().unwrap().contains(&ProgressEvent::Total {
        rows: Some(200),
        bytes: None
    }));
    drop(stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_stream_early_is_fine() {
    let src = source(100_000_000, Profile::Narrow);
    let mut stream = src.open(&Scan::new(), &cx(2)).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.num_rows(), 8192);
    drop(stream);
}

#[test]
fn unknown_options_are_rejected_with_a_suggestion() {
    let mut options = OptionMap::new();
    options.insert("seeed", "1");
    let err = Config::from_options(&options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.message(),
        "datagen: unknown option `seeed`; did you mean `seed`?"
    );

    let err = build_source(SourceSpec::parse("datagen://?rows=5&seeed=1").unwrap()).unwrap_err();
    assert!(
        err.message().contains("did you mean `seed`?"),
        "{}",
        err.message()
    );
    let err = build_source(SourceSpec::parse("datagen://?batch_size=0").unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err = build_source(SourceSpec::parse("datagen://narrow?rows=5").unwrap()).unwrap_err();
    assert!(
        err.message().contains("takes no location"),
        "{}",
        err.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_is_registered_and_builds_from_a_url() {
    let plugin = find_source("datagen").unwrap();
    assert_eq!(
        (plugin.options)(),
        ["rows", "seed", "batch_size", "profile", "dim"]
    );
    assert!(plugin.docs.contains("## Profiles"));
    let src =
        build_source(SourceSpec::parse("datagen://?rows=3&profile=vectors&dim=4&seed=1").unwrap())
            .unwrap();
    let schema = src.schema(&cx(2)).await.unwrap();
    assert_eq!(schema, schema_of(Profile::Vectors, Some(4)));
    let stream = src.open(&Scan::new(), &cx(2)).await.unwrap();
    let rows: usize = stream
        .map(|b| b.unwrap().num_rows())
        .collect::<Vec<_>>()
        .await
        .iter()
        .sum();
    assert_eq!(rows, 3);
}

/// A sink that keeps what it receives, to run the source through the real export loop.
#[derive(Debug, Default)]
struct Collect(Mutex<Vec<RecordBatch>>);

#[async_trait]
impl Sink for Collect {
    fn check_schema(&self, _: &Schema) -> Result<()> {
        Ok(())
    }

    async fn write_all(
        &self,
        mut input: SendableRecordBatchStream,
        _: &Context,
    ) -> Result<WriteSummary> {
        let mut rows = 0;
        while let Some(batch) = input.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            self.0.lock().unwrap().push(batch);
        }
        Ok(WriteSummary::new(rows, 0, Vec::new(), false))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_pipeline_accepts_the_stream_and_its_promise() {
    let src = source(3000, Profile::All);
    let sink = Collect::default();
    let scan = Scan::new()
        .with_columns(Some(vec!["meta".into(), "id".into()]))
        .with_limit(Some(2500));
    let summary = arrowport_core::export(&src, &sink, &scan, &cx(2))
        .await
        .unwrap();
    assert_eq!(summary.rows, 2500);
    let batches = sink.0.into_inner().unwrap();
    assert_eq!(names(&batches[0].schema()), ["meta", "id"]);
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        2500
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vikingdb_profile_has_every_field_type_and_no_nulls_anywhere() {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Float32, true),
            ]
            .into(),
        ),
        false,
    );
    let expected = |dim| {
        Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("title", DataType::Utf8, false),
            Field::new("body", DataType::Utf8, false),
            Field::new("category", DataType::Utf8, false),
            Field::new("score", DataType::Float32, false),
            Field::new("flag", DataType::Boolean, false),
            Field::new("tags", DataType::List(item(DataType::Utf8)), false),
            Field::new("codes", DataType::List(item(DataType::Int64)), false),
            Field::new(
                "vector",
                DataType::FixedSizeList(item(DataType::Float32), dim),
                false,
            ),
            Field::new(
                "sparse",
                DataType::Map(Arc::new(entries.clone()), false),
                false,
            ),
        ])
    };
    assert_eq!(*schema_of(Profile::Vikingdb, None), expected(128));
    assert_eq!(*schema_of(Profile::Vikingdb, Some(8)), expected(8));

    let src = DatagenSource::new(Config {
        rows: 2000,
        profile: Profile::Vikingdb,
        dim: Some(8),
        ..Default::default()
    });
    assert_eq!(
        src.schema(&cx(2)).await.unwrap(),
        schema_of(Profile::Vikingdb, Some(8))
    );
    let batch = concat(&src, &Scan::new(), &cx(2)).await;
    assert_eq!(batch.num_rows(), 2000);
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        assert_eq!(column.logical_null_count(), 0, "{}", field.name());
    }
    for name in ["tags", "codes"] {
        let list = batch.column_by_name(name).unwrap().as_list::<i32>();
        assert_eq!(list.values().null_count(), 0, "{name}");
        assert!((0..2000).any(|i| list.value_length(i) == 0), "{name}");
        assert!(list.values().len() > 2000, "{name}");
    }
    let body = batch.column_by_name("body").unwrap().as_string::<i32>();
    assert!(
        body.iter()
            .flatten()
            .any(|s| s.contains('\n') || s.contains('"'))
    );

    let err =
        build_source(SourceSpec::parse("datagen://?profile=narrow&dim=8").unwrap()).unwrap_err();
    assert!(err.message().contains("vikingdb"), "{}", err.message());
}
