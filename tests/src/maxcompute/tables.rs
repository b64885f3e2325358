//! The fixture tables and their data. Every cell comes from `arrowport_datagen` (a pure
//! function of seed, column and row), converted to the Arrow layout PyODPS 0.13.2 decodes the
//! tunnel's Arrow bodies with (`odps/tunnel/io/types.py`), so any row range of any table can be
//! generated on demand, in any order, and always agrees with [`table_batches`].
//!
//! [`table_batches`]: super::MaxComputeEmulator::table_batches

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, MapArray, PrimitiveArray, RecordBatch,
    RecordBatchOptions, StructArray, TimestampMillisecondArray,
};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Fields, Float32Type, Float64Type, Schema, SchemaRef, TimeUnit,
    TimestampMicrosecondType, TimestampNanosecondType, UInt64Type,
};
use arrowport_datagen::{Config as DatagenConfig, Profile, generate_batch, schema_of};

use super::MaxComputeConfig;
use crate::http::BoxError;

/// Rows generated (and encoded) at a time, for the tunnel's bodies and for `table_batches`.
pub(crate) const CHUNK_ROWS: u64 = 8192;

/// How a fixture column is made from its datagen column.
#[derive(Debug, Clone, Copy)]
enum Convert {
    /// Already in the PyODPS layout.
    AsIs,
    /// `UInt64` → `bigint`, bit for bit: covers the whole Int64 range, negatives and extremes.
    BitsToInt64,
    /// `Decimal128(38, 10)` → the column's `decimal(p,s)`: truncated to `s` places, reduced
    /// modulo `10^p` so it fits.
    Rescale,
    /// `Timestamp(µs)` → `datetime` (`Timestamp(ms)`).
    MicrosToMillis,
    /// `Timestamp(ns, tz)` → `timestamp_ntz` (`Timestamp(ns)`, wall clock = the UTC instant).
    DropTimezone,
    /// `Map<Utf8, Float32>` weights in (0, 1] → `map<string,bigint>` of weight × 1000, with
    /// every multiple of 10 NULL so values have nulls too.
    MapToBigint,
    /// The datagen `meta` struct → `struct<a:bigint,b:string>`: `a` = score × 10⁶,
    /// `b` = source.
    MetaToStruct,
}

/// One column as the meta API and the tunnel describe it.
#[derive(Debug, Clone)]
pub(crate) struct ColumnDef {
    pub(crate) name: String,
    /// The MaxCompute DDL type, as both services spell it.
    pub(crate) odps_type: String,
    pub(crate) nullable: bool,
    pub(crate) comment: String,
    /// Index of the datagen column in its profile.
    source: usize,
    convert: Convert,
}

impl ColumnDef {
    /// A column of a created table (never generated: such a table has no generated rows).
    pub(crate) fn created(
        name: String,
        odps_type: String,
        nullable: bool,
        comment: String,
    ) -> Self {
        ColumnDef {
            name,
            odps_type,
            nullable,
            comment,
            source: 0,
            convert: Convert::AsIs,
        }
    }
}

/// One partition of a partitioned table.
#[derive(Debug, Clone)]
pub(crate) struct PartitionDef {
    /// One value per partition key, in key order.
    pub(crate) values: Vec<String>,
    pub(crate) rows: u64,
    /// The datagen row of its first row: partitions never share ids.
    first_row: u64,
}

impl PartitionDef {
    /// `pt=a,dt=20230118`, the tunnel's unquoted spelling.
    pub(crate) fn spec(&self, keys: &[String]) -> String {
        keys.iter()
            .zip(&self.values)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A fixture table.
#[derive(Debug)]
pub(crate) struct TableDef {
    pub(crate) name: String,
    pub(crate) comment: String,
    /// Days until an untouched table is reclaimed; -1 for never.
    pub(crate) lifecycle: i64,
    pub(crate) columns: Vec<ColumnDef>,
    /// Partition key names.
    pub(crate) partition_keys: Vec<String>,
    /// Their MaxCompute types (`string` for every fixture's).
    pub(crate) partition_key_types: Vec<String>,
    /// The fixture's (ascending values), then any created since, in creation order: an
    /// index is a partition's identity ([`Section`]).
    partitions: RwLock<Vec<PartitionDef>>,
    /// Rows committed through upload sessions, per section.
    written: Mutex<HashMap<Section, Arc<Written>>>,
    /// Generated rows already made, per section and chunk of [`CHUNK_ROWS`].
    chunks: Mutex<HashMap<(Section, u64), RecordBatch>>,
    /// Rows of an unpartitioned table (0 for a partitioned one).
    rows: u64,
    data: DatagenConfig,
    /// The data columns in the Arrow layout of the tunnel.
    schema: SchemaRef,
}

/// Which rows of a table: the whole (unpartitioned) table, or one partition by index.
pub(crate) type Section = Option<usize>;

/// Rows committed into a section: after the generated ones, or instead of them once an
/// overwrite replaced the section. Never changed in place: a commit puts a new one, so a
/// [`Snapshot`] keeps what it saw.
#[derive(Debug, Default)]
struct Written {
    replaced: bool,
    batches: Vec<RecordBatch>,
    rows: u64,
    /// Commits into the section so far.
    version: u64,
}

/// What a section holds at one moment, as a download session freezes it: the generated rows
/// (none once an overwrite replaced them), then the committed ones.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    generated: u64,
    written: Arc<Written>,
}

impl Snapshot {
    pub(crate) fn rows(&self) -> u64 {
        self.generated + self.written.rows
    }

    /// Commits into the section before the snapshot was taken.
    pub(crate) fn version(&self) -> u64 {
        self.written.version
    }
}

impl TableDef {
    fn new(
        name: &'static str,
        comment: &'static str,
        profile: Profile,
        seed: u64,
        columns: &[(&'static str, &'static str, &'static str, Convert)],
    ) -> Self {
        let profile_schema = schema_of(profile, None);
        let columns: Vec<ColumnDef> = columns
            .iter()
            .map(|&(name, odps_type, source, convert)| ColumnDef {
                name: name.into(),
                odps_type: odps_type.into(),
                nullable: name != "id",
                comment: String::new(),
                source: profile_schema
                    .index_of(source)
                    .expect("fixture columns name datagen columns"),
                convert,
            })
            .collect();
        let schema = fixture_schema(&columns);
        TableDef {
            name: name.into(),
            comment: comment.into(),
            lifecycle: -1,
            columns,
            partition_keys: Vec::new(),
            partition_key_types: Vec::new(),
            partitions: RwLock::default(),
            written: Mutex::default(),
            chunks: Mutex::default(),
            rows: 0,
            data: DatagenConfig {
                rows: 0,
                seed,
                profile,
                ..DatagenConfig::default()
            },
            schema,
        }
    }

    /// A table that starts empty and holds only what upload sessions commit into it.
    fn writable(
        name: &'static str,
        comment: &'static str,
        columns: &[(&'static str, &'static str, bool)],
    ) -> Self {
        let mut table = TableDef::new(name, comment, Profile::Narrow, 0, &[]);
        table.columns = columns
            .iter()
            .map(|&(name, odps_type, nullable)| ColumnDef {
                name: name.into(),
                odps_type: odps_type.into(),
                nullable,
                comment: String::new(),
                // Never generated: the table has no generated rows.
                source: 0,
                convert: Convert::AsIs,
            })
            .collect();
        table.schema = fixture_schema(&table.columns);
        table
    }

    /// A table made by `CREATE TABLE`: empty, holding only what upload sessions commit.
    /// `Err` names a type the tunnel could not serve in the Arrow layout PyODPS reads.
    pub(crate) fn created(
        name: &str,
        comment: &str,
        lifecycle: i64,
        columns: Vec<ColumnDef>,
        partition_keys: Vec<(String, String)>,
    ) -> Result<Self, String> {
        if let Some(c) = columns.iter().find(|c| arrow_type(&c.odps_type).is_none()) {
            return Err(format!(
                "the emulator cannot store type `{}` of column `{}`",
                c.odps_type, c.name
            ));
        }
        let mut table = TableDef::new("", "", Profile::Narrow, 0, &[]);
        table.name = name.into();
        table.comment = comment.into();
        table.lifecycle = lifecycle;
        table.schema = fixture_schema(&columns);
        table.columns = columns;
        (table.partition_keys, table.partition_key_types) = partition_keys.into_iter().unzip();
        Ok(table)
    }

    fn with_rows(mut self, rows: u64) -> Self {
        self.rows = rows;
        self
    }

    fn partitioned(mut self, keys: &[&'static str], partitions: &[(&[&'static str], u64)]) -> Self {
        self.partition_keys = keys.iter().map(|k| k.to_string()).collect();
        self.partition_key_types = vec!["string".into(); keys.len()];
        let mut first_row = 0;
        let list = self.partitions.get_mut().unwrap_or_else(|e| e.into_inner());
        for &(values, rows) in partitions {
            list.push(PartitionDef {
                values: values.iter().map(|v| v.to_string()).collect(),
                rows,
                first_row,
            });
            first_row += rows;
        }
        self
    }

    pub(crate) fn is_partitioned(&self) -> bool {
        !self.partition_keys.is_empty()
    }

    pub(crate) fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// How many partitions the table has now.
    pub(crate) fn partition_count(&self) -> usize {
        self.read_partitions().len()
    }

    /// One partition, by index.
    pub(crate) fn partition(&self, p: usize) -> PartitionDef {
        self.read_partitions()[p].clone()
    }

    fn read_partitions(&self) -> std::sync::RwLockReadGuard<'_, Vec<PartitionDef>> {
        self.partitions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn written(&self) -> std::sync::MutexGuard<'_, HashMap<Section, Arc<Written>>> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What a section holds now.
    pub(crate) fn snapshot(&self, section: Section) -> Snapshot {
        let written = self.written().get(&section).cloned().unwrap_or_default();
        let generated = match section {
            _ if written.replaced => 0,
            Some(p) => self.read_partitions()[p].rows,
            None => self.rows,
        };
        Snapshot { generated, written }
    }

    /// Rows in a section.
    pub(crate) fn rows(&self, section: Section) -> u64 {
        self.snapshot(section).rows()
    }

    /// Rows of the whole table, all partitions together.
    pub(crate) fn total_rows(&self) -> u64 {
        if self.is_partitioned() {
            (0..self.partition_count())
                .map(|p| self.rows(Some(p)))
                .sum()
        } else {
            self.rows(None)
        }
    }

    /// Makes `batches` (in the table's Arrow layout) part of a section, appended or replacing
    /// what it held: what a committed upload session does. Atomic: a snapshot sees all of
    /// it or none.
    pub(crate) fn commit(&self, section: Section, batches: Vec<RecordBatch>, overwrite: bool) {
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
        let mut written = self.written();
        let entry = written.entry(section).or_default();
        let next = if overwrite {
            Written {
                replaced: true,
                batches,
                rows,
                version: entry.version + 1,
            }
        } else {
            Written {
                replaced: entry.replaced,
                batches: entry.batches.iter().cloned().chain(batches).collect(),
                rows: entry.rows + rows,
                version: entry.version + 1,
            }
        };
        *entry = Arc::new(next);
    }

    /// Adds an empty partition (values in key order) and returns its index; the index of
    /// the one there is if it already exists.
    pub(crate) fn create_partition(&self, values: Vec<String>) -> usize {
        let mut partitions = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = partitions.iter().position(|p| p.values == values) {
            return p;
        }
        partitions.push(PartitionDef {
            values,
            rows: 0,
            first_row: 0,
        });
        partitions.len() - 1
    }

    /// The data column named `name` (MaxCompute names are case-insensitive).
    pub(crate) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// Finds the partition a full spec names, keys in any order. `Err` says what is wrong
    /// with the spec; `Ok(None)` means it is well formed but no such partition exists.
    pub(crate) fn find_partition(
        &self,
        spec: &[(String, String)],
    ) -> Result<Option<usize>, String> {
        let values = self.spec_values(spec)?;
        if values.iter().any(Option::is_none) {
            return Err(format!(
                "the partition spec must give every partition key ({})",
                self.partition_keys.join(", ")
            ));
        }
        Ok(self.read_partitions().iter().position(|p| {
            p.values
                .iter()
                .zip(&values)
                .all(|(have, want)| Some(have.as_str()) == want.as_deref())
        }))
    }

    /// The partitions matching a (possibly partial) spec, as listing filters them.
    pub(crate) fn matching_partitions(
        &self,
        spec: &[(String, String)],
    ) -> Result<Vec<usize>, String> {
        let values = self.spec_values(spec)?;
        let order = self.listing_order();
        let partitions = self.read_partitions();
        Ok(order
            .into_iter()
            .filter(|&i| {
                partitions[i]
                    .values
                    .iter()
                    .zip(&values)
                    .all(|(have, want)| want.as_deref().is_none_or(|w| w == have))
            })
            .collect())
    }

    /// Every partition's index, sorted by values as listings return them (partitions created
    /// later are appended to the table but listed in their place).
    pub(crate) fn listing_order(&self) -> Vec<usize> {
        let partitions = self.read_partitions();
        let mut order: Vec<usize> = (0..partitions.len()).collect();
        order.sort_by(|&a, &b| partitions[a].values.cmp(&partitions[b].values));
        order
    }

    /// The spec's value per partition key, rejecting unknown and repeated keys.
    fn spec_values(&self, spec: &[(String, String)]) -> Result<Vec<Option<String>>, String> {
        if !self.is_partitioned() && !spec.is_empty() {
            return Err(format!("table `{}` is not partitioned", self.name));
        }
        let mut values = vec![None; self.partition_keys.len()];
        for (key, value) in spec {
            let Some(i) = self
                .partition_keys
                .iter()
                .position(|k| k.eq_ignore_ascii_case(key))
            else {
                return Err(format!(
                    "`{key}` is not a partition key of `{}` (its keys: {})",
                    self.name,
                    self.partition_keys.join(", ")
                ));
            };
            if values[i].replace(value.clone()).is_some() {
                return Err(format!("partition key `{key}` is given twice"));
            }
        }
        Ok(values)
    }

    /// Rows `start..start + len` of a section as `snapshot` saw it, columns `projection`
    /// (data column indices, in the order given).
    pub(crate) fn batch(
        &self,
        snapshot: &Snapshot,
        section: Section,
        start: u64,
        len: usize,
        projection: &[usize],
    ) -> Result<RecordBatch, BoxError> {
        let generated = snapshot.generated;
        if start + len as u64 > generated {
            return self.written_batch(snapshot, section, start, len, projection);
        }
        // Served from whole chunks generated once: a real server reads stored data, and the
        // benchmarks measure clients, not datagen.
        let schema = Arc::new(self.schema.project(projection)?);
        let all: Vec<usize> = (0..self.columns.len()).collect();
        let mut pieces = Vec::new();
        let end = start + len as u64;
        let mut at = start;
        while at < end {
            let chunk = at / CHUNK_ROWS;
            let rows = self.chunk(section, chunk, generated, &all)?;
            let offset = (at - chunk * CHUNK_ROWS) as usize;
            let take = (rows.num_rows() - offset).min((end - at) as usize);
            pieces.push(rows.project(projection)?.slice(offset, take));
            at += take as u64;
        }
        if pieces.len() == 1 {
            return Ok(pieces.pop().expect("one piece"));
        }
        Ok(arrow::compute::concat_batches(&schema, &pieces)?)
    }

    /// Generated chunk `chunk` of a section (all columns), made once and kept.
    fn chunk(
        &self,
        section: Section,
        chunk: u64,
        generated: u64,
        all: &[usize],
    ) -> Result<RecordBatch, BoxError> {
        if let Some(hit) = self.chunks().get(&(section, chunk)) {
            return Ok(hit.clone());
        }
        let start = chunk * CHUNK_ROWS;
        let len = (generated - start).min(CHUNK_ROWS) as usize;
        let batch = self.generate(section, start, len, all)?;
        self.chunks().insert((section, chunk), batch.clone());
        Ok(batch)
    }

    fn chunks(&self) -> std::sync::MutexGuard<'_, HashMap<(Section, u64), RecordBatch>> {
        self.chunks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rows `start..start + len` of a section's generated rows, made from datagen.
    fn generate(
        &self,
        section: Section,
        start: u64,
        len: usize,
        projection: &[usize],
    ) -> Result<RecordBatch, BoxError> {
        let first_row = section.map_or(0, |p| self.read_partitions()[p].first_row);
        let mut sources: Vec<usize> = projection.iter().map(|&c| self.columns[c].source).collect();
        sources.sort_unstable();
        sources.dedup();
        let generated = generate_batch(&self.data, first_row + start, len, Some(&sources))?;
        let arrays = projection
            .iter()
            .map(|&c| {
                let column = &self.columns[c];
                let at = sources
                    .binary_search(&column.source)
                    .expect("every source was generated");
                convert(
                    generated.column(at),
                    column.convert,
                    self.schema.field(c).data_type(),
                )
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        let schema = Arc::new(self.schema.project(projection)?);
        let options = RecordBatchOptions::new().with_row_count(Some(len));
        Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
    }

    /// Rows `start..start + len` when they reach into the committed rows (which follow the
    /// `generated` ones).
    fn written_batch(
        &self,
        snapshot: &Snapshot,
        section: Section,
        start: u64,
        len: usize,
        projection: &[usize],
    ) -> Result<RecordBatch, BoxError> {
        let schema = Arc::new(self.schema.project(projection)?);
        let generated = snapshot.generated;
        let mut pieces = Vec::new();
        if start < generated {
            let head = (generated - start) as usize;
            pieces.push(self.batch(snapshot, section, start, head, projection)?);
        }
        let stored = &snapshot.written.batches;
        let from = start.max(generated);
        let (mut skip, mut want) = (from - generated, start + len as u64 - from);
        for batch in stored {
            let n = batch.num_rows() as u64;
            if skip >= n {
                skip -= n;
                continue;
            }
            let take = (n - skip).min(want);
            pieces.push(
                batch
                    .project(projection)?
                    .slice(skip as usize, take as usize),
            );
            want -= take;
            skip = 0;
            if want == 0 {
                break;
            }
        }
        Ok(arrow::compute::concat_batches(&schema, &pieces)?)
    }

    /// A whole section, all columns, in chunks of [`CHUNK_ROWS`].
    pub(crate) fn section_batches(&self, section: Section) -> Result<Vec<RecordBatch>, BoxError> {
        let all: Vec<usize> = (0..self.columns.len()).collect();
        let snapshot = self.snapshot(section);
        let rows = snapshot.rows();
        (0..rows)
            .step_by(CHUNK_ROWS as usize)
            .map(|start| {
                let len = (rows - start).min(CHUNK_ROWS) as usize;
                self.batch(&snapshot, section, start, len, &all)
            })
            .collect()
    }
}

/// The Arrow schema (PyODPS's layout) of fixture columns.
fn fixture_schema(columns: &[ColumnDef]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| {
                let data_type = arrow_type(&c.odps_type)
                    .expect("fixture and created types are ones PyODPS maps");
                Field::new(&c.name, data_type, c.nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// `k1=v1,k2=v2` as pairs, quotes around values removed: the meta API sends
/// `pt='a',dt='b'`, the tunnel `pt=a,dt=b`.
pub(crate) fn parse_spec(spec: &str) -> Vec<(String, String)> {
    spec.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let value = value.trim();
            let unquoted = ['\'', '"']
                .iter()
                .find_map(|&q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
                .unwrap_or(value);
            (key.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// The fixture tables, sorted by name as listings return them.
pub(crate) fn fixtures(config: &MaxComputeConfig) -> Vec<Arc<TableDef>> {
    use Convert::*;
    let seed = config.seed;
    // Every type PyODPS 0.13.2 reads in both record and Arrow mode. Left out: `json` (PyODPS
    // rejects it in Arrow mode), the legacy `decimal` without precision (PyODPS declares
    // decimal256(54,18) in Arrow, Java 128 bits: the server's layout is unknown), and the
    // interval types (Arrow layout disputed between the SDKs).
    let all_types = TableDef::new(
        "all_types",
        "one column per MaxCompute type arrowport maps",
        Profile::All,
        seed,
        &[
            ("id", "bigint", "id", AsIs),
            ("c_tinyint", "tinyint", "int8", AsIs),
            ("c_smallint", "smallint", "int16", AsIs),
            ("c_int", "int", "int32", AsIs),
            ("c_bigint", "bigint", "uint64", BitsToInt64),
            ("c_float", "float", "float32", AsIs),
            ("c_double", "double", "float64", AsIs),
            ("c_boolean", "boolean", "flag", AsIs),
            ("c_string", "string", "text", AsIs),
            ("c_varchar", "varchar(64)", "text", AsIs),
            // Category labels have at most 8 characters, so no padding question arises.
            ("c_char", "char(8)", "category", AsIs),
            ("c_binary", "binary", "binary", AsIs),
            ("c_date", "date", "date", AsIs),
            ("c_datetime", "datetime", "ts_ms", AsIs),
            ("c_timestamp", "timestamp", "ts_ns", AsIs),
            (
                "c_timestamp_ntz",
                "timestamp_ntz",
                "ts_ns_shanghai",
                DropTimezone,
            ),
            ("c_decimal", "decimal(18,4)", "decimal", Rescale),
            ("c_decimal38", "decimal(38,10)", "decimal", AsIs),
            ("c_array_bigint", "array<bigint>", "list_int64", AsIs),
            ("c_array_string", "array<string>", "list_utf8", AsIs),
            ("c_map", "map<string,bigint>", "sparse", MapToBigint),
            (
                "c_struct",
                "struct<a:bigint,b:string>",
                "meta",
                MetaToStruct,
            ),
        ],
    )
    .with_rows(config.rows);
    let narrow_columns: &[_] = &[
        ("id", "bigint", "id", AsIs),
        ("value", "double", "value", AsIs),
        ("category", "string", "category", AsIs),
        ("ts", "datetime", "ts", MicrosToMillis),
        ("flag", "boolean", "flag", AsIs),
    ];
    let narrow = TableDef::new(
        "narrow",
        "a few scalar columns, fast to serve",
        Profile::Narrow,
        seed,
        narrow_columns,
    )
    .with_rows(config.narrow_rows);
    let empty = TableDef::new(
        "empty",
        "no rows at all",
        Profile::Narrow,
        seed,
        &narrow_columns[..3],
    );
    let n = config.partition_rows;
    let sales = TableDef::new(
        "sales",
        "partitioned by pt and dt; pt=b/dt=20230120 is empty",
        Profile::All,
        seed,
        &[
            ("id", "bigint", "id", AsIs),
            ("amount", "decimal(18,2)", "decimal", Rescale),
            ("name", "string", "text", AsIs),
            ("ts", "timestamp", "ts_ns", AsIs),
        ],
    )
    .partitioned(
        &["pt", "dt"],
        &[
            (&["a", "20230118"], n),
            (&["a", "20230119"], n),
            (&["b", "20230119"], n),
            (&["b", "20230120"], 0),
        ],
    );
    // Written by the upload tests, the sink benchmark and the VikingDB → MaxCompute test.
    let sink_target = TableDef::writable(
        "sink_target",
        "starts empty; an upload target",
        &[
            ("id", "bigint", false),
            ("name", "string", true),
            ("amount", "decimal(18,2)", true),
            ("ts", "datetime", true),
            ("vec", "array<float>", true),
            ("tags", "map<string,bigint>", true),
        ],
    );
    let sink_parts = TableDef::writable(
        "sink_parts",
        "partitioned by pt, with one empty partition pt=existing; an upload target",
        &[("id", "bigint", true), ("name", "string", true)],
    )
    .partitioned(&["pt"], &[(&["existing"], 0)]);
    let narrow_sink = TableDef::writable(
        "narrow_sink",
        "the datagen narrow profile's columns; an upload target",
        &[
            ("id", "bigint", true),
            ("value", "double", true),
            ("category", "string", true),
            // datagen's `ts` has no timezone: a wall clock, as timestamp_ntz is.
            ("ts", "timestamp_ntz", true),
            ("flag", "boolean", true),
        ],
    );
    let vectors = TableDef::writable(
        "vectors",
        "a VikingDB collection's columns (the datagen vikingdb profile); an upload target",
        &[
            ("id", "bigint", true),
            ("title", "string", true),
            ("body", "string", true),
            ("category", "string", true),
            ("score", "float", true),
            ("flag", "boolean", true),
            ("tags", "array<string>", true),
            ("codes", "array<bigint>", true),
            ("vector", "array<float>", true),
            ("sparse", "map<string,float>", true),
        ],
    );
    let mut tables = vec![
        all_types,
        empty,
        narrow,
        sales,
        sink_target,
        sink_parts,
        narrow_sink,
        vectors,
    ];
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    tables.into_iter().map(Arc::new).collect()
}

/// The Arrow type PyODPS 0.13.2 decodes a MaxCompute type as (`odps_type_to_arrow_type`):
/// lists with an `item` child, maps as `entries` of a non-null `key` and a `value`, every
/// other field nullable. `None` for types outside the fixtures' set.
pub(crate) fn arrow_type(odps: &str) -> Option<DataType> {
    let odps = odps.trim().to_ascii_lowercase();
    Some(match odps.as_str() {
        "tinyint" => DataType::Int8,
        "smallint" => DataType::Int16,
        "int" => DataType::Int32,
        "bigint" => DataType::Int64,
        "float" => DataType::Float32,
        "double" => DataType::Float64,
        "boolean" => DataType::Boolean,
        "string" => DataType::Utf8,
        "binary" => DataType::Binary,
        "date" => DataType::Date32,
        "datetime" => DataType::Timestamp(TimeUnit::Millisecond, None),
        "timestamp" | "timestamp_ntz" => DataType::Timestamp(TimeUnit::Nanosecond, None),
        _ => {
            let (name, args) = odps.split_once(['(', '<'])?;
            let args = args.strip_suffix([')', '>'])?;
            let parts = split_top_level(args);
            match (name, parts.as_slice()) {
                ("decimal", [p, s]) => {
                    let (p, s) = (p.trim().parse().ok()?, s.trim().parse().ok()?);
                    (p <= 38).then_some(DataType::Decimal128(p, s))?
                }
                ("varchar" | "char", [n]) => {
                    n.trim().parse::<u32>().ok()?;
                    DataType::Utf8
                }
                ("array", [element]) => {
                    DataType::List(Arc::new(Field::new_list_field(arrow_type(element)?, true)))
                }
                ("map", [key, value]) => DataType::Map(
                    Arc::new(Field::new(
                        "entries",
                        DataType::Struct(Fields::from(vec![
                            Field::new("key", arrow_type(key)?, false),
                            Field::new("value", arrow_type(value)?, true),
                        ])),
                        false,
                    )),
                    false,
                ),
                ("struct", fields) => DataType::Struct(
                    fields
                        .iter()
                        .map(|f| {
                            let (name, t) = f.split_once(':')?;
                            Some(Field::new(name.trim(), arrow_type(t)?, true))
                        })
                        .collect::<Option<Fields>>()?,
                ),
                _ => return None,
            }
        }
    })
}

/// Splits `a,b<c,d>,e` at the commas outside brackets.
pub(crate) fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[from..]);
    parts
}

fn convert(array: &ArrayRef, how: Convert, target: &DataType) -> Result<ArrayRef, BoxError> {
    Ok(match how {
        Convert::AsIs => array.clone(),
        Convert::BitsToInt64 => {
            let u = array.as_primitive::<UInt64Type>();
            Arc::new(Int64Array::new(
                u.values().iter().map(|&v| v as i64).collect(),
                u.nulls().cloned(),
            ))
        }
        Convert::Rescale => {
            let &DataType::Decimal128(precision, scale) = target else {
                return Err(format!("cannot rescale a decimal to {target}").into());
            };
            let d = array.as_primitive::<Decimal128Type>();
            let DataType::Decimal128(_, from_scale) = d.data_type() else {
                unreachable!("a Decimal128Array has a Decimal128 type")
            };
            let divisor = 10i128.pow(u32::try_from(from_scale - scale)?);
            let modulus = 10i128.pow(u32::from(precision));
            let values: ScalarBuffer<i128> =
                d.values().iter().map(|v| v / divisor % modulus).collect();
            Arc::new(
                Decimal128Array::new(values, d.nulls().cloned())
                    .with_precision_and_scale(precision, scale)?,
            )
        }
        Convert::MicrosToMillis => {
            let t = array.as_primitive::<TimestampMicrosecondType>();
            Arc::new(TimestampMillisecondArray::new(
                t.values().iter().map(|v| v.div_euclid(1000)).collect(),
                t.nulls().cloned(),
            ))
        }
        Convert::DropTimezone => Arc::new(
            array
                .as_primitive::<TimestampNanosecondType>()
                .clone()
                .with_timezone_opt(None::<String>),
        ),
        Convert::MapToBigint => {
            let map = array.as_map();
            let entries = map.entries();
            let weights = entries.column(1).as_primitive::<Float32Type>();
            let scaled: Vec<i64> = weights
                .values()
                .iter()
                .map(|w| (f64::from(*w) * 1000.0).round() as i64)
                .collect();
            let valid = NullBuffer::from(
                scaled
                    .iter()
                    .enumerate()
                    .map(|(i, v)| weights.is_valid(i) && v % 10 != 0)
                    .collect::<Vec<_>>(),
            );
            let DataType::Map(entries_field, _) = target else {
                return Err(format!("cannot make a map of {target}").into());
            };
            let DataType::Struct(fields) = entries_field.data_type() else {
                return Err("map entries must be a struct".into());
            };
            let values: ArrayRef = Arc::new(Int64Array::new(scaled.into(), Some(valid)));
            let entries = StructArray::try_new(
                fields.clone(),
                vec![entries.column(0).clone(), values],
                None,
            )?;
            Arc::new(MapArray::try_new(
                entries_field.clone(),
                map.offsets().clone(),
                entries,
                map.nulls().cloned(),
                false,
            )?)
        }
        Convert::MetaToStruct => {
            let meta = array.as_struct();
            let DataType::Struct(fields) = target else {
                return Err(format!("cannot make a struct of {target}").into());
            };
            let score = meta
                .column_by_name("score")
                .ok_or("datagen's meta has a score")?
                .as_primitive::<Float64Type>();
            let a: PrimitiveArray<arrow::datatypes::Int64Type> = PrimitiveArray::new(
                score
                    .values()
                    .iter()
                    .map(|s| (s * 1_000_000.0).round() as i64)
                    .collect(),
                score.nulls().cloned(),
            );
            let b = meta
                .column_by_name("source")
                .ok_or("datagen's meta has a source")?
                .clone();
            Arc::new(StructArray::try_new(
                fields.clone(),
                vec![Arc::new(a), b],
                meta.nulls().cloned(),
            )?)
        }
    })
}
