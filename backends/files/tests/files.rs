//! The file source against real files written by arrow's and parquet's writers (and by our own
//! directory sink for manifests) into temporary directories.

use std::fs;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arrowport_core::arrow::array::{
    Array, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrowport_core::arrow::compute::concat_batches;
use arrowport_core::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrowport_core::arrow::ipc::writer::{FileWriter, StreamWriter};
use arrowport_core::registry::find_sink;
use arrowport_core::{
    Context, ErrorKind, ExportSource, OptionMap, ProgressEvent, RecordBatchStreamAdapter, Result,
    Scan, SinkSpec, SinkTarget, SplitToken,
};
use arrowport_datagen::{Profile, generate_batch};
use arrowport_files::{Config, FilesSource};
use arrowport_sinks as _;
use futures::TryStreamExt;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

fn options(pairs: &[(&str, &str)]) -> OptionMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn source(location: &Path, pairs: &[(&str, &str)]) -> FilesSource {
    source_at(&location.display().to_string(), pairs)
}

fn source_at(location: &str, pairs: &[(&str, &str)]) -> FilesSource {
    FilesSource::new(location, Config::from_options(&options(pairs)).unwrap()).unwrap()
}

/// Every batch of `open`.
async fn read(src: &FilesSource, scan: &Scan) -> Result<Vec<RecordBatch>> {
    let cx = Context::new();
    src.open(scan, &cx).await?.try_collect().await
}

/// Every batch of every planned split, read through its token.
async fn read_splits(src: &FilesSource, scan: &Scan) -> Result<Vec<RecordBatch>> {
    let cx = Context::new();
    let mut out = Vec::new();
    for split in src.plan(scan, &cx).await? {
        let token = SplitToken::from_json(split.token.to_json().as_bytes())?;
        let batches: Vec<RecordBatch> = src.open_split(&token, &cx).await?.try_collect().await?;
        out.extend(batches);
    }
    Ok(out)
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    concat_batches(&batches[0].schema(), batches).unwrap()
}

/// The datagen `all` profile: every Arrow type arrowport maps.
fn datagen(start: u64, rows: usize) -> RecordBatch {
    let config = arrowport_datagen::Config {
        profile: Profile::All,
        ..Default::default()
    };
    generate_batch(&config, start, rows, None).unwrap()
}

fn write_parquet(path: &Path, batches: &[RecordBatch], rows_per_group: usize) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut w = ArrowWriter::try_new(
        fs::File::create(path).unwrap(),
        batches[0].schema(),
        Some(props),
    )
    .unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.close().unwrap();
}

fn write_ipc_file(path: &Path, batches: &[RecordBatch]) {
    let mut w = FileWriter::try_new(fs::File::create(path).unwrap(), &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

fn write_ipc_stream(path: &Path, batches: &[RecordBatch]) {
    let mut w =
        StreamWriter::try_new(fs::File::create(path).unwrap(), &batches[0].schema()).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap();
}

/// The same names, types, nullability and values.
#[track_caller]
fn assert_same(got: &RecordBatch, want: &RecordBatch) {
    assert_eq!(got.num_rows(), want.num_rows());
    assert_eq!(got.num_columns(), want.num_columns());
    for (i, (g, w)) in got
        .schema()
        .fields()
        .iter()
        .zip(want.schema().fields())
        .enumerate()
    {
        assert_eq!(g.name(), w.name());
        assert_eq!(g.data_type(), w.data_type(), "column {}", g.name());
        assert_eq!(g.is_nullable(), w.is_nullable(), "column {}", g.name());
        assert_eq!(
            got.column(i).as_ref(),
            want.column(i).as_ref(),
            "column {}",
            g.name()
        );
    }
}

/// `open` and the splits read one by one give the same batches, cut at the same rows.
#[track_caller]
fn assert_batchwise(a: &[RecordBatch], b: &[RecordBatch]) {
    assert_eq!(a.len(), b.len(), "batch counts differ");
    for (x, y) in a.iter().zip(b) {
        assert_same(x, y);
    }
}

fn int64s(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_round_trips_through_parquet_and_ipc() {
    let dir = tempfile::tempdir().unwrap();
    let batches = [datagen(0, 700), datagen(700, 500)];
    let want = concat(&batches);
    write_parquet(&dir.path().join("all.parquet"), &batches, 256);
    write_ipc_file(&dir.path().join("all.arrow"), &batches);
    write_ipc_stream(&dir.path().join("all.arrows"), &batches);
    for name in ["all.parquet", "all.arrow", "all.arrows"] {
        let src = source(&dir.path().join(name), &[]);
        let cx = Context::new();
        let schema = src.schema(&cx).await.unwrap();
        assert_eq!(schema.fields(), want.schema().fields(), "{name}");
        let got = read(&src, &Scan::new()).await.unwrap();
        assert_same(&concat(&got), &want);
        assert_batchwise(&got, &read_splits(&src, &Scan::new()).await.unwrap());
    }
    // Parquet: small row groups are grouped into one split, or each is one with a tiny
    // split size; rows come from the footer.
    let src = source(&dir.path().join("all.parquet"), &[]);
    let plan = src.plan(&Scan::new(), &Context::new()).await.unwrap();
    assert_eq!(
        plan.iter().map(|s| s.rows).collect::<Vec<_>>(),
        [Some(1200)]
    );
    let src = source(&dir.path().join("all.parquet"), &[("split_size", "1")]);
    let plan = src.plan(&Scan::new(), &Context::new()).await.unwrap();
    let rows: Vec<_> = plan.iter().map(|s| s.rows).collect();
    assert_eq!(
        rows,
        [Some(256), Some(256), Some(256), Some(256), Some(176)]
    );
    assert_batchwise(
        &read(&src, &Scan::new()).await.unwrap(),
        &read_splits(&src, &Scan::new()).await.unwrap(),
    ); // IPC files: runs of record batches, rows from each batch's header.
    let src = source(&dir.path().join("all.arrow"), &[("split_size", "1")]);
    let plan = src.plan(&Scan::new(), &Context::new()).await.unwrap();
    let rows: Vec<_> = plan.iter().map(|s| s.rows).collect();
    assert_eq!(rows, [Some(700), Some(500)]);
    assert_batchwise(
        &read(&src, &Scan::new()).await.unwrap(),
        &read_splits(&src, &Scan::new()).await.unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projection_is_pushed_down_in_the_order_asked() {
    let dir = tempfile::tempdir().unwrap();
    let batch = datagen(0, 300);
    write_parquet(
        &dir.path().join("a.parquet"),
        std::slice::from_ref(&batch),
        100,
    );
    write_ipc_file(&dir.path().join("a.arrow"), std::slice::from_ref(&batch));
    let columns = Some(vec![
        "text".to_string(),
        "id".to_string(),
        "sparse".to_string(),
    ]);
    let scan = Scan::new().with_columns(columns);
    for name in ["a.parquet", "a.arrow"] {
        let src = source(&dir.path().join(name), &[]);
        let got = concat(&read(&src, &scan).await.unwrap());
        let want = batch
            .project(&[
                batch.schema().index_of("text").unwrap(),
                0,
                batch.schema().index_of("sparse").unwrap(),
            ])
            .unwrap();
        assert_same(&got, &want);
        assert_batchwise(
            &read(&src, &scan).await.unwrap(),
            &read_splits(&src, &scan).await.unwrap(),
        );
    }
    // Text formats decode only the asked columns too, in the order asked.
    fs::write(dir.path().join("t.csv"), "a,b,c\n1,x,2.5\n2,y,3.5\n").unwrap();
    fs::write(
        dir.path().join("t.ndjson"),
        "{\"a\":1,\"b\":\"x\",\"c\":2.5}\n{\"a\":2,\"b\":\"y\",\"c\":3.5}\n",
    )
    .unwrap();
    let scan = Scan::new().with_columns(Some(vec!["b".to_string(), "a".to_string()]));
    for name in ["t.csv", "t.ndjson"] {
        let got = concat(
            &read(&source(&dir.path().join(name), &[]), &scan)
                .await
                .unwrap(),
        );
        let names: Vec<_> = got
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["b", "a"], "{name}");
        assert_eq!(strings(&got, "b"), [Some("x".into()), Some("y".into())]);
        assert_eq!(int64s(&got, "a"), [Some(1), Some(2)]);
    }

    let src = source(&dir.path().join("a.parquet"), &[]);
    let err = read(&src, &Scan::new().with_columns(Some(vec!["txet".into()])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("did you mean `text`?"), "{err}");
}

fn narrow(ids: std::ops::Range<i64>) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let names: Vec<Option<String>> = ids
        .clone()
        .map(|i| (i % 7 != 0).then(|| format!("n{i}")))
        .collect();
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(ids)),
            Arc::new(StringArray::from(names)),
        ],
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_is_the_planned_splits_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_parquet(&root.join("p/a.parquet"), &[narrow(0..5000)], 1000);
    write_parquet(&root.join("p/b.parquet"), &[narrow(5000..7000)], 1000);
    let mut ndjson = String::new();
    let mut csv = String::from("id,name\n");
    for i in 0..20_000 {
        ndjson.push_str(&format!("{{\"id\":{i},\"name\":\"n{i}\"}}\n"));
        csv.push_str(&format!("{i},n{i}\n"));
    }
    fs::create_dir_all(root.join("t")).unwrap();
    fs::write(root.join("t/a.ndjson"), &ndjson).unwrap();
    fs::write(root.join("t/a.csv"), &csv).unwrap();

    let cases = [
        (root.join("p"), vec![("split_size", "1")], 7, 7000),
        (
            root.join("t/a.ndjson"),
            vec![("split_size", "10000")],
            0,
            20_000,
        ),
        (
            root.join("t/a.csv"),
            vec![("split_size", "10000"), ("csv_split", "true")],
            0,
            20_000,
        ),
        (root.join("t/a.csv"), vec![("batch_size", "999")], 1, 20_000),
    ];
    for (path, opts, splits, rows) in cases {
        let src = source(&path, &opts);
        let plan = src.plan(&Scan::new(), &Context::new()).await.unwrap();
        if splits > 0 {
            assert_eq!(plan.len(), splits, "{}", path.display());
        } else {
            assert!(plan.len() > 5, "{}: {} splits", path.display(), plan.len());
        }
        let all = read(&src, &Scan::new().with_parallelism(Some(2)))
            .await
            .unwrap();
        let each = read_splits(&src, &Scan::new()).await.unwrap();
        assert_batchwise(&all, &each);
        let ids = int64s(&concat(&all), "id");
        assert_eq!(ids.len(), rows);
        assert!(
            ids.iter().enumerate().all(|(i, v)| *v == Some(i as i64)),
            "{}: rows out of order or lost",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_and_ndjson_schemas_are_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    fs::write(
        &csv,
        "id,price,ok,day,name\n1,1.5,true,2024-01-02,\"a, b\"\n2,,false,2024-01-03,\"line\nbreak\"\n3,2,,,\n",
    )
    .unwrap();
    let src = source(&csv, &[]);
    let schema = src.schema(&Context::new()).await.unwrap();
    let types: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        [
            DataType::Int64,
            DataType::Float64,
            DataType::Boolean,
            DataType::Date32,
            DataType::Utf8
        ]
    );
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(int64s(&got, "id"), [Some(1), Some(2), Some(3)]);
    assert_eq!(
        strings(&got, "name"),
        [Some("a, b".into()), Some("line\nbreak".into()), None]
    );
    let prices = got
        .column_by_name("price")
        .unwrap()
        .as_primitive::<arrowport_core::arrow::datatypes::Float64Type>();
    assert!(prices.is_null(1));

    let nd = dir.path().join("a.ndjson");
    fs::write(
        &nd,
        "{\"id\":1,\"tags\":[\"x\"],\"meta\":{\"a\":1}}\n\n{\"id\":2,\"tags\":[],\"meta\":{\"a\":null},\"v\":1.5}\n",
    )
    .unwrap();
    let src = source(&nd, &[]);
    let schema = src.schema(&Context::new()).await.unwrap();
    assert_eq!(
        schema.field_with_name("id").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("tags").unwrap().data_type(),
        &DataType::new_list(DataType::Utf8, true)
    );
    assert!(matches!(
        schema.field_with_name("meta").unwrap().data_type(),
        DataType::Struct(_)
    ));
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(int64s(&got, "id"), [Some(1), Some(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_schema_replaces_inference() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    fs::write(&csv, "x;y\n1;2024-01-01T00:00:00Z\n2;\n").unwrap();
    let src = source(
        &csv,
        &[
            ("schema", "id int not null, ts timestamp[ms, UTC]"),
            ("delimiter", ";"),
        ],
    );
    let schema = src.schema(&Context::new()).await.unwrap();
    assert_eq!(schema.field(0), &Field::new("id", DataType::Int32, false));
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    let ids: &Int32Array = got.column(0).as_primitive();
    assert_eq!(ids.values(), &[1, 2]);
    assert!(got.column(1).is_null(1));

    let nd = dir.path().join("a.ndjson");
    fs::write(&nd, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"zzz\":true}\n").unwrap();
    let src = source(&nd, &[("schema", "a bigint")]);
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(int64s(&got, "a"), [Some(1), Some(2)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hive_partitions_become_typed_columns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write_parquet(
        &root.join("dt=20240101/city=S%C3%A3o%20Paulo/part-0.parquet"),
        &[narrow(0..3)],
        10,
    );
    write_parquet(
        &root.join("dt=20240102/city=__HIVE_DEFAULT_PARTITION__/part-0.parquet"),
        &[narrow(3..5)],
        10,
    );
    fs::write(root.join("_SUCCESS"), "").unwrap();
    fs::write(root.join(".part-0.parquet.crc"), "x").unwrap();
    let src = source(root, &[]);
    let schema = src.schema(&Context::new()).await.unwrap();
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().clone()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id", DataType::Int64),
            ("name", DataType::Utf8),
            ("dt", DataType::Int64),
            ("city", DataType::Utf8)
        ]
    );
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(
        int64s(&got, "dt"),
        [Some(20240101); 3]
            .into_iter()
            .chain([Some(20240102); 2])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        strings(&got, "city"),
        [
            Some("São Paulo".to_string()),
            Some("São Paulo".into()),
            Some("São Paulo".into()),
            None,
            None
        ]
    );
    // Only partition columns: rows without any file column.
    let scan = Scan::new().with_columns(Some(vec!["city".into(), "dt".into()]));
    let got = concat(&read(&src, &scan).await.unwrap());
    assert_eq!(got.num_rows(), 5);
    assert_eq!(got.schema().field(0).name(), "city");
    assert_batchwise(
        &read(&src, &scan).await.unwrap(),
        &read_splits(&src, &scan).await.unwrap(),
    );

    let off = source(root, &[("hive_partitioning", "false")]);
    assert_eq!(off.schema(&Context::new()).await.unwrap().fields().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_unify_into_one_table_or_say_where_they_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let int32 = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)])),
        vec![Arc::new(Int32Array::from(vec![1, 2]))],
    )
    .unwrap();
    let int64 = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![Some(3), None]))],
    )
    .unwrap();
    write_parquet(&root.join("ok/a.parquet"), std::slice::from_ref(&int32), 10);
    write_parquet(&root.join("ok/b.parquet"), &[int64], 10);
    let src = source(&root.join("ok"), &[]);
    let schema = src.schema(&Context::new()).await.unwrap();
    assert_eq!(schema.field(0), &Field::new("id", DataType::Int64, true));
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(int64s(&got, "id"), [Some(1), Some(2), Some(3), None]);

    let text = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
        vec![Arc::new(StringArray::from(vec!["x"]))],
    )
    .unwrap();
    write_parquet(&root.join("bad/a.parquet"), &[int32], 10);
    write_parquet(&root.join("bad/b.parquet"), &[text], 10);
    let err = source(&root.join("bad"), &[])
        .schema(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(
        err.message()
            .contains("column `id` is Utf8 in `b.parquet` but Int32 in `a.parquet`"),
        "{err}"
    );

    // NDJSON files may differ in keys; ints and floats inferred in different files unify.
    fs::create_dir_all(root.join("nd")).unwrap();
    fs::write(root.join("nd/a.ndjson"), "{\"a\":1}\n").unwrap();
    fs::write(root.join("nd/b.ndjson"), "{\"a\":1.5,\"b\":\"x\"}\n").unwrap();
    let src = source(&root.join("nd"), &[]);
    let schema = src.schema(&Context::new()).await.unwrap();
    assert_eq!(schema.field(0), &Field::new("a", DataType::Float64, true));
    assert_eq!(schema.field(1), &Field::new("b", DataType::Utf8, true));
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    let a: &Float64Array = got.column(0).as_primitive();
    assert_eq!(a.values(), &[1.0, 1.5]);
    assert_eq!(strings(&got, "b"), [None, Some("x".into())]);

    // CSV headers that disagree.
    fs::create_dir_all(root.join("csv")).unwrap();
    fs::write(root.join("csv/a.csv"), "a,b\n1,2\n").unwrap();
    fs::write(root.join("csv/b.csv"), "a,c\n1,2\n").unwrap();
    let err = source(&root.join("csv"), &[])
        .schema(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(err.message().contains("`b.csv` has a column `c`"), "{err}");
}

/// Writes `batch` into a partitioned directory through arrowport's own parquet sink.
async fn write_directory(dir: &Path, format: &str, batch: RecordBatch, partition_by: &str) {
    let mut opts = vec![("max_rows_per_file", "300")];
    if !partition_by.is_empty() {
        opts.push(("partition_by", partition_by));
    }
    let sink = (find_sink(format).unwrap().build)(SinkSpec::new(
        SinkTarget::Directory(dir.to_path_buf()),
        options(&opts),
        false,
    ))
    .unwrap();
    let schema = batch.schema();
    let stream = RecordBatchStreamAdapter::sendable(schema, futures::stream::iter([Ok(batch)]));
    sink.write_all(stream, &Context::new()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_directories_are_read_as_listed_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let batch = datagen(0, 1000);
    write_directory(&out, "parquet", batch.clone(), "category").await;
    assert!(out.join("_manifest.json").is_file());

    let src = source(&out, &[]);
    let schema = src.schema(&Context::new()).await.unwrap();
    assert_eq!(
        schema.fields(),
        batch.schema().fields(),
        "the manifest restores order and types"
    );
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(got.num_rows(), 1000);
    // Partitioning regrouped the rows; every id is there once, with its own values.
    let mut ids = int64s(&got, "id");
    ids.sort();
    assert_eq!(ids, (0..1000).map(Some).collect::<Vec<_>>());
    let plan = src.plan(&Scan::new(), &Context::new()).await.unwrap();
    assert!(plan.iter().all(|s| s.rows.is_some()));
    assert_eq!(plan.iter().map(|s| s.rows.unwrap()).sum::<u64>(), 1000);

    // Flip one byte in the middle of one file, keeping its size.
    let victim = out.join(plan[0].description.as_str());
    let mut bytes = fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&victim, &bytes).unwrap();
    let err = read(&source(&out, &[]), &Scan::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    assert!(err.message().contains(&plan[0].description), "{err}");
    assert!(err.message().contains("SHA-256"), "{err}");

    // A shorter file is caught before anything is read.
    bytes.truncate(bytes.len() - 1);
    fs::write(&victim, &bytes).unwrap();
    let err = source(&out, &[]).schema(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    assert!(err.message().contains("the manifest records"), "{err}");

    // CSV and NDJSON directories take their types from the manifest.
    let small = narrow(0..500);
    for format in ["csv", "ndjson"] {
        let out = dir.path().join(format);
        write_directory(&out, format, small.clone(), "").await;
        let got = concat(&read(&source(&out, &[]), &Scan::new()).await.unwrap());
        assert_same(&got, &small);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_locations_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let missing = source(&root.join("nope.parquet"), &[]);
    let err = missing.schema(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("not a source URL"), "{err}");

    fs::write(root.join("a.csv"), "a\n1\n").unwrap();
    let err = source_at(&format!("{}/*.ndjson", root.display()), &[])
        .schema(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("matches no file"), "{err}");

    fs::write(root.join("notes.txt"), "x").unwrap();
    let err = source(root, &[]).schema(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.message().contains("notes.txt"), "{err}");

    let empty = root.join("empty");
    fs::create_dir(&empty).unwrap();
    let err = source(&empty, &[])
        .schema(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_are_integrity_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_parquet(&path, &[narrow(0..100)], 50);
    let mut bytes = fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 20);
    fs::write(&path, &bytes).unwrap();
    let err = source(&path, &[])
        .schema(&Context::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    assert!(err.message().contains("`t.parquet`"), "{err}");
    assert!(err.message().contains("not a valid Parquet file"), "{err}");

    let ipc = dir.path().join("t.arrow");
    fs::write(&ipc, b"ARROW1 not really").unwrap();
    let err = source(&ipc, &[]).schema(&Context::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataIntegrity);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_after_planning_is_never_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ndjson");
    fs::write(&path, "{\"a\":1}\n{\"a\":2}\n").unwrap();
    let src = source(&path, &[]);
    let cx = Context::new();
    let plan = src.plan(&Scan::new(), &cx).await.unwrap();
    fs::write(&path, "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n").unwrap();
    let err = src
        .open_split(&plan[0].token, &cx)
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DataIntegrity);
    assert!(err.message().contains("changed after planning"), "{err}");

    // A token cannot read outside its location.
    let mut forged = plan[0].token.clone();
    forged.split["path"] = serde_json::json!("../../etc/passwd");
    let err = src.open_split(&forged, &cx).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Config);
    let other = SplitToken::new("datagen", &serde_json::json!({})).unwrap();
    let err = src.open_split(&other, &cx).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Config);
}

fn warnings() -> (Context, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let cx = Context::new().with_progress(Arc::new(move |e: &ProgressEvent| {
        if let ProgressEvent::Warning { message } = e {
            sink.lock().unwrap().push(message.clone());
        }
    }));
    (cx, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_csv_rows_name_their_line_or_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.csv");
    // Line 5 (after a quoted line break) has two fields, line 7 a value that is no integer.
    fs::write(
        &path,
        "id,name,n\n1,a,10\n2,\"b\nb\",20\n3,c\n4,d,40\n5,e,x\n6,f,60\n",
    )
    .unwrap();
    let src = source(&path, &[("schema", "id bigint, name string, n bigint")]);
    let err = read(&src, &Scan::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert_eq!(
        err.message(),
        "file: `a.csv`: line 5: expected 3 fields, found 2",
        "{err}"
    );

    let src = source(
        &path,
        &[
            ("schema", "id bigint, name string, n bigint"),
            ("on_bad_rows", "skip"),
        ],
    );
    let (cx, seen) = warnings();
    let got: Vec<RecordBatch> = src
        .open(&Scan::new(), &cx)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let got = concat(&got);
    assert_eq!(int64s(&got, "id"), [Some(1), Some(2), Some(4), Some(6)]);
    assert_eq!(strings(&got, "name")[1].as_deref(), Some("b\nb"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains("skipped 2 bad row(s) of `a.csv`"),
        "{seen:?}"
    );
    assert!(seen[0].contains("line 5"), "{seen:?}");

    // A value that does not parse, in error mode, names its own line.
    let typed = dir.path().join("b.csv");
    fs::write(&typed, "id\n1\n2\nx\n").unwrap();
    let err = read(&source(&typed, &[("schema", "id bigint")]), &Scan::new())
        .await
        .unwrap_err();
    assert!(
        err.message().starts_with("file: `b.csv`: line 4: "),
        "{err}"
    );
    assert!(!err.message().contains("at line 1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_ndjson_values_name_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ndjson");
    let mut text = String::new();
    for i in 0..50 {
        text.push_str(&format!("{{\"a\":{i}}}\n"));
    }
    text.push_str("{\"a\":\"oops\"}\n{\"a\":51}\n");
    fs::write(&path, &text).unwrap();
    // The sample (10 records) sees only integers; line 51 holds a string.
    let src = source(&path, &[("infer_rows", "10"), ("split_size", "100")]);
    let err = read(&src, &Scan::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Schema);
    assert!(
        err.message().starts_with("file: `a.ndjson`: line 51: "),
        "{err}"
    );
    let src = source(&path, &[("infer_rows", "10"), ("on_bad_rows", "skip")]);
    let got = concat(&read(&src, &Scan::new()).await.unwrap());
    assert_eq!(got.num_rows(), 51);

    // A key the sample did not see is an error, not silently dropped.
    fs::write(&path, "{\"a\":1}\n{\"a\":2,\"b\":3}\n").unwrap();
    let err = read(&source(&path, &[("infer_rows", "1")]), &Scan::new())
        .await
        .unwrap_err();
    assert!(err.message().contains("line 2"), "{err}");
}

#[test]
fn docs_document_every_option() {
    let docs = include_str!("../src/docs.md");
    for option in arrowport_core::options::option_names::<Config>() {
        assert!(
            docs.contains(&format!("| `{option}`")),
            "docs.md lacks `{option}`"
        );
    }
}
