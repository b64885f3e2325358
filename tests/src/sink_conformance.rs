//! The sink conformance suite: what every file-like sink must do, checked with arrow's own
//! readers rather than the sink's.
//!
//! A sink under test is a [`SinkCase`]: a way to build it for a target, the format to read its
//! output back with ([`ReadBack`]) and whether it writes a single file or a directory of part
//! files ([`Layout`]). [`run_all`] runs every check; each check is also public on its own:
//!
//! 1. [`round_trip`]: the datagen `all` profile, restricted to the columns the sink accepts
//!    (its `check_schema` decides, column by column), comes back with equal values. What
//!    "equal" means per format is documented on [`ReadBack`].
//! 2. [`empty_input`]: no batches still give a readable output with the schema and 0 rows.
//! 3. [`error_mid_stream`]: a stream that fails after some batches leaves nothing behind.
//! 4. [`dropped_write`]: dropping the `write_all` future mid-stream leaves nothing behind.
//! 5. [`schema_rejections`]: `check_schema` refuses what the format cannot carry, as a
//!    [`ErrorKind::Schema`] error naming every offending column, and accepts what it can.
//! 6. [`overwrite`]: an existing output is refused at build time without overwrite, and
//!    replaced with it.
//!
//! Every check panics with the case's name on failure, so a test is one call.

use std::fmt;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{
    DataType, Field, FieldRef, Fields, IntervalUnit, Schema, SchemaRef, UnionFields, UnionMode,
};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use arrowport_core::{
    Context, Error, ErrorKind, ExportSource, RecordBatchStreamAdapter, Result, Scan, Sink,
    SinkTarget,
};
use arrowport_datagen::{Config as DatagenConfig, DatagenSource, Profile};
use futures::{StreamExt, TryStreamExt};

/// Builds the sink under test for a target; the flag is `SinkSpec::overwrite`.
pub type BuildSink = Arc<dyn Fn(SinkTarget, bool) -> Result<Box<dyn Sink>> + Send + Sync>;

/// How to read a sink's output back, and so what a round trip can promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadBack {
    /// parquet's arrow reader. Every type comes back exactly (the writer embeds the Arrow
    /// schema): values, nulls, nested types, time zones.
    Parquet,
    /// arrow-json's reader with the original schema, one object per line. Values come back
    /// exactly. Zoned timestamps are compared as instants: they are read with a `+00:00` zone
    /// (the reader applies the offset each value is printed with) and relabelled, since a sink
    /// may print a zone it cannot resolve (a named zone, without arrow's chrono-tz) in UTC.
    Ndjson,
    /// As [`ReadBack::Ndjson`], for one JSON array of objects (read as a list of structs).
    JsonArray,
    /// arrow-csv's reader with the original schema and a header line. Only the columns the sink
    /// accepts (scalars) are compared; CSV cannot tell an empty string from null, so empty
    /// strings are expected back as null; binary is written as lowercase hex text and compared
    /// as such; zoned timestamps as instants, as for [`ReadBack::Ndjson`].
    Csv { delimiter: u8 },
    /// arrow's IPC file reader: everything exactly.
    ArrowFile,
    /// arrow's IPC stream reader: everything exactly.
    ArrowStream,
}

impl ReadBack {
    /// Whether this format must accept every type the datagen `all` profile has.
    fn carries_everything(self) -> bool {
        matches!(
            self,
            ReadBack::Parquet | ReadBack::ArrowFile | ReadBack::ArrowStream
        )
    }

    fn is_text(self) -> bool {
        matches!(
            self,
            ReadBack::Ndjson | ReadBack::JsonArray | ReadBack::Csv { .. }
        )
    }
}

/// A single output file, or a directory of part files (read in path order, skipping names that
/// start with `_` or `.`, as hive-style readers do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    File,
    Directory,
}

/// A sink under test.
#[derive(Clone)]
pub struct SinkCase {
    name: String,
    read_back: ReadBack,
    layout: Layout,
    extension: String,
    build: BuildSink,
}

impl fmt::Debug for SinkCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkCase")
            .field("name", &self.name)
            .field("read_back", &self.read_back)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl SinkCase {
    /// `extension` names the output file (`out.<extension>`) or the directory's part files.
    pub fn new(
        name: impl Into<String>,
        read_back: ReadBack,
        layout: Layout,
        extension: impl Into<String>,
        build: impl Fn(SinkTarget, bool) -> Result<Box<dyn Sink>> + Send + Sync + 'static,
    ) -> Self {
        SinkCase {
            name: name.into(),
            read_back,
            layout,
            extension: extension.into(),
            build: Arc::new(build),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn read_back(&self) -> ReadBack {
        self.read_back
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The output path this suite uses inside `dir`.
    pub fn output_path(&self, dir: &Path) -> PathBuf {
        match self.layout {
            Layout::File => dir.join(format!("out.{}", self.extension)),
            Layout::Directory => dir.join("out"),
        }
    }

    /// The target for [`SinkCase::output_path`].
    pub fn target(&self, dir: &Path) -> SinkTarget {
        match self.layout {
            Layout::File => SinkTarget::File(self.output_path(dir)),
            Layout::Directory => SinkTarget::Directory(self.output_path(dir)),
        }
    }

    pub fn build(&self, target: SinkTarget, overwrite: bool) -> Result<Box<dyn Sink>> {
        (self.build)(target, overwrite)
    }

    fn sink(&self, dir: &Path) -> Box<dyn Sink> {
        self.build(self.target(dir), false)
            .unwrap_or_else(|e| panic!("{}: building the sink failed: {e}", self.name))
    }
}

/// Runs every check of the suite on `case`.
pub async fn run_all(case: &SinkCase) {
    round_trip(case, 2_500).await;
    empty_input(case).await;
    error_mid_stream(case).await;
    dropped_write(case).await;
    schema_rejections(case);
    overwrite(case).await;
}

/// `rows` rows of the datagen `all` profile in batches of at most 1000 rows.
pub async fn datagen_all(rows: u64) -> (SchemaRef, Vec<RecordBatch>) {
    let source = DatagenSource::new(DatagenConfig {
        rows,
        profile: Profile::All,
        batch_size: 1000,
        ..Default::default()
    });
    let cx = Context::new();
    let schema = source.schema(&cx).await.expect("datagen schema");
    let stream = source
        .open(&Scan::default(), &cx)
        .await
        .expect("datagen open");
    let batches: Vec<RecordBatch> = stream.try_collect().await.expect("datagen batches");
    (schema, batches)
}

/// `batches` (possibly none) of `schema` as a stream for `write_all`.
pub fn stream_of(
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> arrowport_core::SendableRecordBatchStream {
    RecordBatchStreamAdapter::sendable(schema, futures::stream::iter(batches.into_iter().map(Ok)))
}

/// The columns of `schema` that `sink` accepts, each checked on its own.
pub fn accepted_columns(sink: &dyn Sink, schema: &Schema) -> Vec<usize> {
    (0..schema.fields().len())
        .filter(|&i| {
            sink.check_schema(&Schema::new(vec![schema.field(i).clone()]))
                .is_ok()
        })
        .collect()
}

/// Check 1: the datagen `all` profile survives a write and a read with arrow's readers.
pub async fn round_trip(case: &SinkCase, rows: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = case.sink(dir.path());
    let (schema, batches) = datagen_all(rows).await;
    let keep = accepted_columns(sink.as_ref(), &schema);
    if case.read_back.carries_everything() {
        assert_eq!(
            keep.len(),
            schema.fields().len(),
            "{}: rejects columns of the all profile",
            case.name
        );
    }
    assert!(
        keep.contains(&0),
        "{}: rejects the scalar `id` column",
        case.name
    );
    let schema = Arc::new(schema.project(&keep).expect("project"));
    let batches: Vec<RecordBatch> = batches
        .iter()
        .map(|b| b.project(&keep).expect("project"))
        .collect();
    sink.check_schema(&schema).unwrap_or_else(|e| {
        panic!(
            "{}: rejects the columns it accepts one by one: {e}",
            case.name
        )
    });

    let summary = sink
        .write_all(stream_of(schema.clone(), batches.clone()), &Context::new())
        .await
        .unwrap_or_else(|e| panic!("{}: write_all failed: {e:?}", case.name));
    assert_eq!(summary.rows, rows, "{}: summary rows", case.name);
    assert!(!summary.stopped_early, "{}: stopped early", case.name);
    let on_disk: u64 = data_files(&case.output_path(dir.path()), case.layout)
        .iter()
        .map(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    assert_eq!(
        summary.bytes, on_disk,
        "{}: summary bytes differ from the files' sizes",
        case.name
    );

    let expected = concat_batches(&schema, &batches).expect("concat");
    let actual = read_output(
        case.read_back,
        case.layout,
        &case.output_path(dir.path()),
        &schema,
    );
    assert_same(&case.name, case.read_back, &expected, &actual);
    assert_no_partials(&case.name, dir.path());
}

/// Check 2: an empty stream gives a readable output with the schema and no rows.
pub async fn empty_input(case: &SinkCase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = case.sink(dir.path());
    let (schema, _) = datagen_all(0).await;
    let keep = accepted_columns(sink.as_ref(), &schema);
    let schema = Arc::new(schema.project(&keep).expect("project"));
    let summary = sink
        .write_all(stream_of(schema.clone(), Vec::new()), &Context::new())
        .await
        .unwrap_or_else(|e| panic!("{}: write_all of nothing failed: {e:?}", case.name));
    assert_eq!(summary.rows, 0, "{}", case.name);
    let path = case.output_path(dir.path());
    let files = data_files(&path, case.layout);
    assert!(
        !files.is_empty(),
        "{}: an empty export wrote no file",
        case.name
    );
    let actual = read_output(case.read_back, case.layout, &path, &schema);
    assert_eq!(
        actual.num_rows(),
        0,
        "{}: rows in an empty export",
        case.name
    );
    assert_eq!(
        names(&actual.schema()),
        names(&schema),
        "{}: empty output's columns",
        case.name
    );
    if case.read_back.carries_everything() {
        let stored = read_file(case.read_back, &files[0], &schema).schema();
        assert_eq!(
            stored.fields(),
            schema.fields(),
            "{}: the empty file's schema",
            case.name
        );
    }
    if let ReadBack::Csv { delimiter } = case.read_back {
        let text = fs::read_to_string(&files[0]).expect("read csv");
        let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let expected = header.join(&char::from(delimiter).to_string());
        assert_eq!(
            text.trim_end(),
            expected,
            "{}: the empty CSV's header",
            case.name
        );
    }
}

/// A few small batches of scalar columns that every format carries.
pub fn scalar_batches(batches: usize, rows: usize) -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]));
    let out = (0..batches)
        .map(|b| {
            let ids: Vec<i64> = (0..rows).map(|r| (b * rows + r) as i64).collect();
            let names: Vec<Option<String>> = ids
                .iter()
                .map(|i| (i % 7 != 0).then(|| format!("row {i}")))
                .collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(arrow::array::Int64Array::from(ids)),
                    Arc::new(StringArray::from(names)),
                ],
            )
            .expect("batch")
        })
        .collect();
    (schema, out)
}

/// Check 3: a source error after some batches fails the write and leaves nothing behind.
pub async fn error_mid_stream(case: &SinkCase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = case.sink(dir.path());
    let (schema, batches) = scalar_batches(3, 500);
    let items = batches
        .into_iter()
        .map(Ok)
        .chain(std::iter::once(Err(Error::new(
            ErrorKind::Remote,
            "the source broke",
        ))));
    let stream = RecordBatchStreamAdapter::sendable(schema, futures::stream::iter(items));
    let err = sink
        .write_all(stream, &Context::new())
        .await
        .expect_err(&format!(
            "{}: a failing stream must fail the write",
            case.name
        ));
    assert_eq!(
        err.kind(),
        ErrorKind::Remote,
        "{}: the source's error must come through: {err}",
        case.name
    );
    assert_empty(&case.name, dir.path(), "after an error mid-stream");
}

/// Check 4: dropping the `write_all` future mid-stream removes the partial output at once.
pub async fn dropped_write(case: &SinkCase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = case.sink(dir.path());
    let (schema, batches) = scalar_batches(3, 500);
    let (reached, waiting) = futures::channel::oneshot::channel::<()>();
    // The stream hands over its batches, says so, then never ends.
    let tail = futures::stream::once(async move {
        let _ = reached.send(());
        futures::future::pending::<Result<RecordBatch>>().await
    });
    let stream = RecordBatchStreamAdapter::sendable(
        schema,
        futures::stream::iter(batches.into_iter().map(Ok)).chain(tail),
    );
    let cx = Context::new();
    let write = Box::pin(sink.write_all(stream, &cx));
    match futures::future::select(write, waiting).await {
        futures::future::Either::Left((result, _)) => {
            panic!(
                "{}: write_all ended on an endless stream: {result:?}",
                case.name
            )
        }
        futures::future::Either::Right((_, write)) => {
            assert!(
                fs::read_dir(dir.path()).expect("read_dir").next().is_some(),
                "{}: nothing was being written mid-stream, so the drop proves nothing",
                case.name
            );
            drop(write);
        }
    }
    assert_empty(&case.name, dir.path(), "after the write future was dropped");
}

/// Fields a format must refuse, and fields it must take, by its contract.
fn contract(read_back: ReadBack) -> (Vec<Field>, Vec<Field>) {
    let item = |t: DataType| Arc::new(Field::new_list_field(t, true));
    let map = |key: DataType| {
        let entries = Fields::from(vec![
            Field::new("keys", key, false),
            Field::new("values", DataType::Float32, true),
        ]);
        DataType::Map(
            Arc::new(Field::new("entries", DataType::Struct(entries), false)),
            false,
        )
    };
    let union = DataType::Union(
        UnionFields::try_new(
            vec![0, 1],
            vec![
                Field::new("i", DataType::Int32, true),
                Field::new("s", DataType::Utf8, true),
            ],
        )
        .expect("union fields"),
        UnionMode::Dense,
    );
    let scalars = vec![
        Field::new("i", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("b", DataType::Binary, true),
        Field::new("d", DataType::Decimal128(20, 4), true),
        Field::new(
            "t",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("day", DataType::Date32, true),
        Field::new(
            "dict",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ];
    let nested = vec![
        Field::new("list", DataType::List(item(DataType::Int64)), true),
        Field::new(
            "large_list",
            DataType::LargeList(item(DataType::Utf8)),
            true,
        ),
        Field::new(
            "vector",
            DataType::FixedSizeList(item(DataType::Float32), 4),
            true,
        ),
        Field::new(
            "object",
            DataType::Struct(Fields::from(vec![Field::new("a", DataType::Int32, true)])),
            true,
        ),
        Field::new("sparse", map(DataType::Utf8), true),
    ];
    let union_field = Field::new("choice", union, true);
    let dict_of_list = Field::new(
        "dict_list",
        DataType::Dictionary(
            Box::new(DataType::Int32),
            Box::new(DataType::List(item(DataType::Int64))),
        ),
        true,
    );
    match read_back {
        ReadBack::Csv { .. } => (
            nested
                .into_iter()
                .chain([union_field, dict_of_list])
                .collect(),
            scalars,
        ),
        ReadBack::Ndjson | ReadBack::JsonArray => (
            vec![
                union_field,
                Field::new("int_keys", map(DataType::Int32), true),
            ],
            scalars.into_iter().chain(nested).collect(),
        ),
        ReadBack::Parquet => (
            vec![
                union_field,
                Field::new(
                    "interval",
                    DataType::Interval(IntervalUnit::MonthDayNano),
                    true,
                ),
            ],
            scalars.into_iter().chain(nested).collect(),
        ),
        ReadBack::ArrowFile | ReadBack::ArrowStream => (
            Vec::new(),
            scalars
                .into_iter()
                .chain(nested)
                .chain([union_field, dict_of_list])
                .collect(),
        ),
    }
}

/// Check 5: `check_schema` refuses what the format cannot carry, all at once and by name, and
/// accepts the rest.
pub fn schema_rejections(case: &SinkCase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = case.sink(dir.path());
    let (reject, accept) = contract(case.read_back);
    for field in &accept {
        let schema = Schema::new(vec![field.clone()]);
        if let Err(e) = sink.check_schema(&schema) {
            panic!(
                "{}: must accept `{}` ({}): {e}",
                case.name,
                field.name(),
                field.data_type()
            );
        }
    }
    if reject.is_empty() {
        return;
    }
    let mut fields = vec![Field::new("ok", DataType::Int64, true)];
    fields.extend(reject.iter().cloned());
    let err = sink.check_schema(&Schema::new(fields)).expect_err(&format!(
        "{}: must reject {:?}",
        case.name,
        names_of(&reject)
    ));
    assert_eq!(
        err.kind(),
        ErrorKind::Schema,
        "{}: rejection kind: {err}",
        case.name
    );
    for field in &reject {
        assert!(
            err.message().contains(&format!("`{}`", field.name())),
            "{}: the rejection must name `{}`: {err}",
            case.name,
            field.name()
        );
    }
    assert!(
        !err.message().contains("`ok`"),
        "{}: the rejection names an acceptable column: {err}",
        case.name
    );
}

/// Check 6: an existing output is refused at build time without overwrite, and replaced with.
pub async fn overwrite(case: &SinkCase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = case.output_path(dir.path());
    match case.layout {
        Layout::File => fs::write(&path, b"precious").expect("write"),
        Layout::Directory => {
            fs::create_dir(&path).expect("mkdir");
            fs::write(path.join("stale.txt"), b"precious").expect("write");
        }
    }
    let err = case
        .build(case.target(dir.path()), false)
        .expect_err(&format!(
            "{}: an existing output must be refused without overwrite",
            case.name
        ));
    assert_eq!(
        err.kind(),
        ErrorKind::Config,
        "{}: refusal kind: {err}",
        case.name
    );
    let sink = case
        .build(case.target(dir.path()), true)
        .unwrap_or_else(|e| panic!("{}: overwrite must be allowed: {e}", case.name));
    let (schema, batches) = scalar_batches(2, 100);
    sink.write_all(stream_of(schema.clone(), batches.clone()), &Context::new())
        .await
        .unwrap_or_else(|e| panic!("{}: overwriting failed: {e:?}", case.name));
    if case.layout == Layout::Directory {
        assert!(
            !path.join("stale.txt").exists(),
            "{}: the replaced directory's files survived",
            case.name
        );
    }
    let expected = concat_batches(&schema, &batches).expect("concat");
    let actual = read_output(case.read_back, case.layout, &path, &schema);
    assert_same(&case.name, case.read_back, &expected, &actual);
    assert_no_partials(&case.name, dir.path());
}

/// The data files of an output: the file itself, or the directory's files in path order,
/// skipping `_`- and `.`-prefixed names (the manifest, hidden files).
pub fn data_files(path: &Path, layout: Layout) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    match layout {
        Layout::File => vec![path.to_path_buf()],
        Layout::Directory => {
            let mut out = Vec::new();
            walk(path, &mut out);
            out
        }
    }
}

/// Reads an output back as one batch of `schema` (see [`ReadBack`] for the conversions).
pub fn read_output(
    read_back: ReadBack,
    layout: Layout,
    path: &Path,
    schema: &SchemaRef,
) -> RecordBatch {
    let batches: Vec<RecordBatch> = data_files(path, layout)
        .iter()
        .map(|f| read_file(read_back, f, schema))
        .collect();
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| schema.clone());
    concat_batches(&schema, &batches).expect("concat read batches")
}

/// Reads one file back as one batch, converted to `schema` where the format's text form
/// differs only in labels (time zones, see [`ReadBack::Ndjson`]). CSV binary columns stay hex
/// text.
pub fn read_file(read_back: ReadBack, path: &Path, schema: &SchemaRef) -> RecordBatch {
    let open = || File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let what = path.display();
    let batches: Vec<RecordBatch> = match read_back {
        ReadBack::Parquet => {
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(open())
                .and_then(|b| b.build())
                .unwrap_or_else(|e| panic!("parquet reader on {what}: {e}"))
                .collect::<std::result::Result<_, _>>()
                .unwrap_or_else(|e| panic!("parquet read of {what}: {e}"))
        }
        ReadBack::ArrowFile => arrow::ipc::reader::FileReader::try_new(open(), None)
            .unwrap_or_else(|e| panic!("ipc file reader on {what}: {e}"))
            .collect::<std::result::Result<_, _>>()
            .unwrap_or_else(|e| panic!("ipc file read of {what}: {e}")),
        ReadBack::ArrowStream => {
            arrow::ipc::reader::StreamReader::try_new(BufReader::new(open()), None)
                .unwrap_or_else(|e| panic!("ipc stream reader on {what}: {e}"))
                .collect::<std::result::Result<_, _>>()
                .unwrap_or_else(|e| panic!("ipc stream read of {what}: {e}"))
        }
        ReadBack::Ndjson => {
            let text_schema = Arc::new(text_schema(schema, false));
            let read: Vec<RecordBatch> = arrow::json::ReaderBuilder::new(text_schema)
                .build(BufReader::new(open()))
                .unwrap_or_else(|e| panic!("json reader on {what}: {e}"))
                .collect::<std::result::Result<_, _>>()
                .unwrap_or_else(|e| panic!("json read of {what}: {e}"));
            read.iter().map(|b| restore(b, schema)).collect()
        }
        ReadBack::JsonArray => {
            let text_schema = text_schema(schema, false);
            let row = Field::new_list_field(DataType::Struct(text_schema.fields().clone()), false);
            let field = Field::new("rows", DataType::List(Arc::new(row)), false);
            let read: Vec<RecordBatch> = arrow::json::ReaderBuilder::new_with_field(field)
                .build(BufReader::new(open()))
                .unwrap_or_else(|e| panic!("json array reader on {what}: {e}"))
                .collect::<std::result::Result<_, _>>()
                .unwrap_or_else(|e| panic!("json array read of {what}: {e}"));
            let mut out = Vec::new();
            for batch in read {
                let list = batch.column(0).as_list::<i32>();
                let rows = RecordBatch::from(list.values().as_struct().clone());
                out.push(restore(&rows, schema));
            }
            out
        }
        ReadBack::Csv { delimiter } => {
            let csv_schema = Arc::new(text_schema(schema, true));
            let mut bytes = Vec::new();
            open().read_to_end(&mut bytes).expect("read csv");
            let read: Vec<RecordBatch> = arrow::csv::ReaderBuilder::new(csv_schema)
                .with_header(true)
                .with_delimiter(delimiter)
                .build(bytes.as_slice())
                .unwrap_or_else(|e| panic!("csv reader on {what}: {e}"))
                .collect::<std::result::Result<_, _>>()
                .unwrap_or_else(|e| panic!("csv read of {what}: {e}"));
            let restored = csv_schema_of(schema);
            read.iter().map(|b| restore(b, &restored)).collect()
        }
    };
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| match read_back {
            ReadBack::Csv { .. } => csv_schema_of(schema),
            _ => schema.clone(),
        });
    concat_batches(&schema, &batches).expect("concat")
}

/// What a CSV output reads back as: the original schema with binary columns as (hex) text.
fn csv_schema_of(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Binary | DataType::LargeBinary => {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The schema a text reader can parse: every zone as `+00:00` (the printed offsets decide
/// the instants); for CSV, binary as text.
fn text_schema(schema: &Schema, csv: bool) -> Schema {
    fn map(t: &DataType, csv: bool) -> DataType {
        let field =
            |f: &FieldRef| Arc::new(f.as_ref().clone().with_data_type(map(f.data_type(), csv)));
        match t {
            DataType::Timestamp(unit, Some(_)) => DataType::Timestamp(*unit, Some("+00:00".into())),
            DataType::Binary | DataType::LargeBinary if csv => DataType::Utf8,
            DataType::List(f) => DataType::List(field(f)),
            DataType::LargeList(f) => DataType::LargeList(field(f)),
            DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
            DataType::Map(f, s) => DataType::Map(field(f), *s),
            DataType::Struct(fs) => DataType::Struct(fs.iter().map(field).collect()),
            other => other.clone(),
        }
    }
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_data_type(map(f.data_type(), csv)))
            .collect::<Vec<_>>(),
    )
}

/// Casts a batch read with a text schema back to `schema`'s types (a time zone relabel).
fn restore(batch: &RecordBatch, schema: &SchemaRef) -> RecordBatch {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                c.clone()
            } else {
                cast(c, f.data_type()).expect("relabel")
            }
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).expect("restored batch")
}

/// What a CSV round trip can give back for `column`: empty strings as null, binary as hex.
fn csv_expectation(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Utf8 => {
            let s = column.as_string::<i32>();
            Arc::new(
                s.iter()
                    .map(|v| v.filter(|v| !v.is_empty()))
                    .collect::<StringArray>(),
            )
        }
        DataType::Binary => {
            let b = column.as_binary::<i32>();
            Arc::new(
                b.iter()
                    .map(|v| v.map(|v| v.iter().map(|x| format!("{x:02x}")).collect::<String>()))
                    .map(|v| v.filter(|v| !v.is_empty()))
                    .collect::<StringArray>(),
            )
        }
        _ => column.clone(),
    }
}

/// Asserts that `actual` (read back) equals `expected` (written) as `read_back` promises,
/// naming the first differing column and row.
pub fn assert_same(name: &str, read_back: ReadBack, expected: &RecordBatch, actual: &RecordBatch) {
    assert_eq!(
        names(&actual.schema()),
        names(&expected.schema()),
        "{name}: columns read back"
    );
    assert_eq!(
        actual.num_rows(),
        expected.num_rows(),
        "{name}: rows read back"
    );
    for (i, field) in expected.schema().fields().iter().enumerate() {
        let want = if matches!(read_back, ReadBack::Csv { .. }) {
            csv_expectation(expected.column(i))
        } else {
            expected.column(i).clone()
        };
        let got = actual.column(i);
        if want.data_type() != got.data_type() {
            panic!(
                "{name}: column `{}` came back as {} instead of {}",
                field.name(),
                got.data_type(),
                want.data_type()
            );
        }
        if want.as_ref() == got.as_ref() {
            continue;
        }
        let row = (0..want.len())
            .find(|&r| want.slice(r, 1).as_ref() != got.slice(r, 1).as_ref())
            .unwrap_or(0);
        panic!(
            "{name}: column `{}` ({}) differs at row {row}: wrote {}, read {}{}",
            field.name(),
            field.data_type(),
            show(&want, row),
            show(got, row),
            if read_back.is_text() {
                " (text format)"
            } else {
                ""
            }
        );
    }
}

fn show(array: &ArrayRef, row: usize) -> String {
    match ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default().with_null("null")) {
        Ok(f) => format!("`{}`", f.value(row)),
        Err(_) => format!("{:?}", array.slice(row, 1)),
    }
}

fn names(schema: &Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

fn names_of(fields: &[Field]) -> Vec<&str> {
    fields.iter().map(|f| f.name().as_str()).collect()
}

/// Asserts that no `.partial` file or directory remains anywhere under `dir`.
pub fn assert_no_partials(name: &str, dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("read_dir") {
            let p = entry.expect("entry").path();
            assert!(
                !p.to_string_lossy().ends_with(".partial"),
                "{name}: `{}` was left behind",
                p.display()
            );
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

/// Asserts that `dir` is empty: no output, no partial output.
pub fn assert_empty(name: &str, dir: &Path, when: &str) {
    let left: Vec<String> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "{name}: {when}, these remain: {left:?}");
}
