//! CSV and NDJSON: schema inference from a bounded sample, byte-range splits cut at line
//! ends, and decoding that names the line of a bad record.
//!
//! A split is a byte range `[start, end)`. Its reader skips to the first line start at or
//! after `start` (a split at 0 starts at 0) and reads every record that starts before the
//! first line start at or after `end`: the standard technique, which gives every line to
//! exactly one split. It is only correct when records never hold a line break, which NDJSON
//! guarantees and CSV does not (a quoted field may span lines), so CSV files are only cut when
//! the user says so with `csv_split=true`.
//!
//! Records are decoded by arrow-csv and arrow-json straight from the file's bytes. When a
//! batch fails, its records are decoded again one by one: the first bad one is reported with
//! its line number (counted from the file's start, only on this path), or, with
//! `on_bad_rows=skip`, the bad ones are left out and counted.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

use arrowport_core::arrow::compute::concat_batches;
use arrowport_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrowport_core::arrow::error::ArrowError;
use arrowport_core::arrow::record_batch::RecordBatch;
use arrowport_core::{Context, Result};
use serde::{Deserialize, Serialize};

use super::read_at;
use crate::config::{BadRows, Dialect, Format};
use crate::error;

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// How to decode the records of one text file, as a split token carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextSpec {
    /// CSV: the dialect, and the file's columns in file order (checked against its header).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialect: Option<Dialect>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_columns: Vec<String>,
    /// CSV: the header's names must equal `file_columns` (they were inferred from it); a
    /// given `schema=` only needs as many fields.
    #[serde(default)]
    pub check_names: bool,
    /// NDJSON: a key the schema does not have is an error rather than ignored.
    #[serde(default)]
    pub strict: bool,
    pub bad_rows: BadRows,
}

/// The records one split reads: the byte range, the columns to decode (name and type, in
/// output order) and the batch size.
#[derive(Debug)]
pub(crate) struct TextRead {
    pub format: Format,
    pub spec: TextSpec,
    pub range: (u64, u64),
    pub size: u64,
    pub columns: Vec<Field>,
    pub batch_size: usize,
}

/// Infers a CSV file's columns from its header and first `rows` records; `None` for an
/// empty file. A file with a header and no records has Null columns, which unify with
/// anything.
pub(crate) fn infer_csv(
    file: &File,
    shown: &str,
    dialect: Dialect,
    rows: usize,
) -> Result<Option<Schema>> {
    if file_len(file, shown)? == 0 {
        return Ok(None);
    }
    let mut format = arrowport_core::arrow::csv::reader::Format::default()
        .with_header(dialect.header)
        .with_delimiter(dialect.delimiter)
        .with_quote(dialect.quote)
        .with_truncated_rows(true);
    if let Some(e) = dialect.escape {
        format = format.with_escape(e);
    }
    let reader = BufReader::with_capacity(CHUNK, rewound(file, shown)?);
    let (schema, records) = format
        .infer_schema(reader, Some(rows))
        .map_err(|e| error::schema(shown, format!("cannot infer the CSV columns: {e}")))?;
    if records == 0 {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Null, true))
            .collect();
        return Ok(Some(Schema::new(fields)));
    }
    Ok(Some(schema))
}

/// Infers an NDJSON file's columns from its first `rows` records. A line that is not a JSON
/// object is an error naming it, or skipped with `on_bad_rows=skip`.
pub(crate) fn infer_ndjson(
    file: &File,
    shown: &str,
    rows: usize,
    bad_rows: BadRows,
) -> Result<Option<Schema>> {
    let mut reader = BufReader::with_capacity(CHUNK, rewound(file, shown)?);
    let mut values = Vec::new();
    let mut line = String::new();
    let mut number = 0u64;
    while values.len() < rows {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| error::io("read", shown, e))?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(&line) {
            Ok(v) if v.is_object() => values.push(v),
            bad if bad_rows == BadRows::Error => {
                let why = match bad {
                    Err(e) => format!("not valid JSON: {e}"),
                    Ok(_) => "not a JSON object".to_string(),
                };
                return Err(error::bad_row(shown, number, why));
            }
            _ => {}
        }
    }
    if values.is_empty() {
        return Ok(None);
    }
    let schema = arrowport_core::arrow::json::reader::infer_json_schema_from_iterator(
        values.into_iter().map(Ok),
    )
    .map_err(|e| error::schema(shown, format!("cannot infer the NDJSON columns: {e}")))?;
    Ok(Some(schema))
}

fn file_len(file: &File, shown: &str) -> Result<u64> {
    Ok(file
        .metadata()
        .map_err(|e| error::io("read", shown, e))?
        .len())
}

fn rewound<'a>(mut file: &'a File, shown: &str) -> Result<&'a File> {
    file.seek(SeekFrom::Start(0))
        .map_err(|e| error::io("read", shown, e))?;
    Ok(file)
}

/// The offset just past the first `\n` at or after `from` (the end of the file if none).
fn next_line_start(file: &File, from: u64, size: u64, shown: &str) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < size {
        let n = read_at(file, at, &mut buf).map_err(|e| error::io("read", shown, e))?;
        if n == 0 {
            break;
        }
        if let Some(i) = buf[..n].iter().position(|&b| b == b'\n') {
            return Ok(at + i as u64 + 1);
        }
        at += n as u64;
    }
    Ok(size)
}

/// The 1-based line of the byte at `offset`: one more than the line breaks before it.
fn line_of(file: &File, offset: u64, shown: &str) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0;
    let mut breaks = 0u64;
    while at < offset {
        let want = (offset - at).min(CHUNK as u64) as usize;
        let n = read_at(file, at, &mut buf[..want]).map_err(|e| error::io("read", shown, e))?;
        if n == 0 {
            break;
        }
        breaks += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        at += n as u64;
    }
    Ok(breaks + 1)
}

/// One CSV or NDJSON decoder.
enum Decoder {
    Csv(Box<arrowport_core::arrow::csv::reader::Decoder>),
    Json(arrowport_core::arrow::json::reader::Decoder),
}

impl Decoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        match self {
            Decoder::Csv(d) => d.decode(buf),
            Decoder::Json(d) => d.decode(buf),
        }
    }

    fn is_full(&self, batch_size: usize) -> bool {
        match self {
            Decoder::Csv(d) => d.capacity() == 0,
            Decoder::Json(d) => d.len() >= batch_size,
        }
    }

    /// Ends the input: a record still open is an error for JSON (the CSV decoder closes it).
    fn finish(&mut self) -> Result<(), ArrowError> {
        match self {
            Decoder::Csv(d) => d.decode(&[]).map(|_| ()),
            Decoder::Json(d) if d.has_partial_record() => Err(ArrowError::JsonError(
                "the record is cut off at the end of its line".into(),
            )),
            Decoder::Json(_) => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        match self {
            Decoder::Csv(d) => d.flush(),
            Decoder::Json(d) => d.flush(),
        }
    }
}

/// One record found on the slow path: where it starts, its bytes, and (CSV) its field count.
struct Record {
    offset: u64,
    bytes: Vec<u8>,
    fields: Option<usize>,
}

/// Reads one split's batches.
pub(crate) struct TextReader {
    file: File,
    shown: String,
    read: TextRead,
    /// The decode schema (CSV: every file column; the projected ones in their output type)
    /// and the projected indices.
    decode_schema: SchemaRef,
    projection: Option<Vec<usize>>,
    /// The projected batch schema, for empty results of the slow path.
    out_schema: SchemaRef,
    /// Offset of the next byte not yet given to the decoder, and the window's end.
    consumed: u64,
    hi: u64,
    buf: Vec<u8>,
    buf_at: usize,
    decoder: Option<Decoder>,
    skipped: u64,
    first_skip: Option<(u64, String)>,
    cx: Context,
    done: bool,
}

impl TextReader {
    /// Finds the split's window (and checks a CSV header); reads nothing else.
    pub(crate) fn open(file: File, shown: &str, read: TextRead, cx: Context) -> Result<Self> {
        let (start, end) = read.range;
        let size = read.size;
        let mut lo = if start == 0 {
            0
        } else {
            next_line_start(&file, start - 1, size, shown)?
        };
        let hi = if end >= size {
            size
        } else {
            next_line_start(&file, end - 1, size, shown)?
        };
        let (decode_schema, projection, out_schema) = match read.format {
            Format::Csv => {
                let dialect = read
                    .spec
                    .dialect
                    .ok_or_else(|| error::integrity(shown, "a CSV split token has no dialect"))?;
                if start == 0 && dialect.header && hi > 0 {
                    lo = check_header(&file, shown, &read.spec, dialect, hi)?;
                }
                let fields: Vec<Field> = read
                    .spec
                    .file_columns
                    .iter()
                    .map(
                        |name| match read.columns.iter().find(|c| c.name() == name) {
                            Some(c) => c.clone(),
                            None => Field::new(name, DataType::Utf8, true),
                        },
                    )
                    .collect();
                let mut projection = Vec::with_capacity(read.columns.len());
                for c in &read.columns {
                    let i = read
                        .spec
                        .file_columns
                        .iter()
                        .position(|n| n == c.name())
                        .ok_or_else(|| {
                            error::schema(shown, format!("has no column `{}`", c.name()))
                        })?;
                    projection.push(i);
                }
                projection.sort_unstable();
                let out: Vec<Field> = projection.iter().map(|&i| fields[i].clone()).collect();
                (
                    Arc::new(Schema::new(fields)),
                    Some(projection),
                    Arc::new(Schema::new(out)),
                )
            }
            _ if read.spec.dialect.is_some() => {
                return Err(error::integrity(
                    shown,
                    "an NDJSON split token has a CSV dialect",
                ));
            }
            _ => {
                let schema = Arc::new(Schema::new(read.columns.clone()));
                (schema.clone(), None, schema)
            }
        };
        Ok(TextReader {
            file,
            shown: shown.to_string(),
            read,
            decode_schema,
            projection,
            out_schema,
            consumed: lo,
            hi: hi.max(lo),
            buf: Vec::new(),
            buf_at: 0,
            decoder: None,
            skipped: 0,
            first_skip: None,
            cx,
            done: false,
        })
    }

    /// A fresh decoder: CSV when the token has a dialect (`open` insists on one for CSV).
    fn decoder(&self, batch_size: usize) -> Result<Decoder, ArrowError> {
        Ok(match self.read.spec.dialect {
            Some(d) => {
                let mut b =
                    arrowport_core::arrow::csv::ReaderBuilder::new(self.decode_schema.clone())
                        .with_header(false)
                        .with_delimiter(d.delimiter)
                        .with_quote(d.quote)
                        .with_batch_size(batch_size);
                if let Some(e) = d.escape {
                    b = b.with_escape(e);
                }
                if let Some(p) = &self.projection {
                    b = b.with_projection(p.clone());
                }
                Decoder::Csv(Box::new(b.build_decoder()))
            }
            None => Decoder::Json(
                arrowport_core::arrow::json::ReaderBuilder::new(self.decode_schema.clone())
                    .with_batch_size(batch_size)
                    .with_coerce_primitive(true)
                    .with_strict_mode(self.read.spec.strict)
                    .build_decoder()?,
            ),
        })
    }

    /// Reads the next chunk of the window into the buffer (empty at its end).
    fn fill(&mut self) -> Result<()> {
        let want = (self.hi - self.consumed).min(CHUNK as u64) as usize;
        self.buf.resize(want, 0);
        self.buf_at = 0;
        let n = read_at(&self.file, self.consumed, &mut self.buf)
            .map_err(|e| error::io("read", &self.shown, e))?;
        if n < want {
            return Err(error::integrity(
                &self.shown,
                "is shorter than when it was planned (changed while being read?)",
            ));
        }
        Ok(())
    }

    /// The next batch straight from the decoder; `Err` sends the batch to the slow path.
    fn fast(&mut self) -> Result<Option<RecordBatch>, String> {
        if self.decoder.is_none() {
            self.decoder = Some(
                self.decoder(self.read.batch_size)
                    .map_err(|e| e.to_string())?,
            );
        }
        loop {
            if self.buf_at == self.buf.len() {
                self.fill().map_err(|e| e.to_string())?;
            }
            let decoder = self.decoder.as_mut().expect("set above");
            let avail = &self.buf[self.buf_at..];
            if avail.is_empty() {
                decoder.finish().map_err(|e| e.to_string())?;
                break;
            }
            let n = decoder.decode(avail).map_err(|e| e.to_string())?;
            self.buf_at += n;
            self.consumed += n as u64;
            if decoder.is_full(self.read.batch_size) {
                break;
            }
        }
        let decoder = self.decoder.as_mut().expect("set above");
        decoder.flush().map_err(|e| e.to_string())
    }

    /// Up to a batch of records from `from`, found by the format's own record rules, and the
    /// offset after them.
    fn records(&self, from: u64) -> Result<(Vec<Record>, u64)> {
        let io = |e| error::io("read", &self.shown, e);
        let mut file = &self.file;
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        let mut input = BufReader::with_capacity(CHUNK, file.take(self.hi - from));
        let mut out = Vec::new();
        let mut at = from;
        let Some(dialect) = self.read.spec.dialect else {
            // NDJSON: one record per line; blank lines hold none.
            while out.len() < self.read.batch_size {
                let mut line = Vec::new();
                let n = input.read_until(b'\n', &mut line).map_err(io)?;
                if n == 0 {
                    break;
                }
                if !line.iter().all(u8::is_ascii_whitespace) {
                    out.push(Record {
                        offset: at,
                        bytes: line,
                        fields: None,
                    });
                }
                at += n as u64;
            }
            return Ok((out, at));
        };
        // CSV: csv-core finds where records end, quoted line breaks and all.
        let mut reader = csv_reader(dialect);
        let (mut scratch, mut ends) = (vec![0u8; 4096], vec![0usize; 256]);
        let (mut current, mut current_at, mut fields) = (Vec::new(), at, 0usize);
        while out.len() < self.read.batch_size {
            let buf = input.fill_buf().map_err(io)?;
            let eof = buf.is_empty();
            let (result, nin, _, nend) = reader.read_record(buf, &mut scratch, &mut ends);
            current.extend_from_slice(&buf[..nin]);
            input.consume(nin);
            at += nin as u64;
            fields += nend;
            match result {
                csv_core::ReadRecordResult::Record => {
                    out.push(Record {
                        offset: current_at,
                        bytes: std::mem::take(&mut current),
                        fields: Some(fields),
                    });
                    fields = 0;
                    current_at = at;
                }
                csv_core::ReadRecordResult::End => break,
                _ if eof => break,
                // More input, or room for a long field: the content is not needed here.
                _ => {}
            }
        }
        Ok((out, at))
    }

    /// Decodes one record alone: `Ok(None)` for a record that holds no row.
    fn decode_one(&self, record: &Record) -> Result<Option<RecordBatch>, String> {
        if let Some(found) = record.fields {
            let expected = self.read.spec.file_columns.len();
            if found != expected {
                return Err(format!("expected {expected} fields, found {found}"));
            }
        }
        let mut decoder = self.decoder(16).map_err(|e| e.to_string())?;
        let mut pos = 0;
        while pos < record.bytes.len() {
            let n = decoder
                .decode(&record.bytes[pos..])
                .map_err(|e| clean(&e))?;
            if n == 0 {
                return Err("the record holds more than one row".into());
            }
            pos += n;
        }
        decoder.finish().map_err(|e| clean(&e))?;
        decoder.flush().map_err(|e| clean(&e))
    }

    /// Re-reads the failed batch record by record: the first bad record is an error, or,
    /// with `on_bad_rows=skip`, the bad ones are counted and left out.
    fn slow(&mut self) -> Result<Option<RecordBatch>> {
        self.decoder = None;
        self.buf.clear();
        self.buf_at = 0;
        let (records, end) = self.records(self.consumed)?;
        if records.is_empty() {
            return Ok(None);
        }
        let mut good = Vec::with_capacity(records.len());
        for record in &records {
            match self.decode_one(record) {
                Ok(Some(batch)) => good.push(batch),
                Ok(None) => {}
                Err(why) => {
                    let offset = record.offset
                        + record
                            .bytes
                            .iter()
                            .take_while(|&&b| b == b'\n' || b == b'\r')
                            .count() as u64;
                    if self.read.spec.bad_rows == BadRows::Error {
                        let line = line_of(&self.file, offset, &self.shown)?;
                        return Err(error::bad_row(&self.shown, line, why));
                    }
                    self.skipped += 1;
                    self.first_skip.get_or_insert((offset, why));
                }
            }
        }
        self.consumed = end;
        let batch =
            concat_batches(&self.out_schema, &good).map_err(|e| error::schema(&self.shown, e))?;
        Ok(Some(batch))
    }

    /// Warns once about the records this split skipped.
    fn report_skips(&mut self) -> Result<()> {
        if let Some((offset, why)) = self.first_skip.take() {
            let line = line_of(&self.file, offset, &self.shown)?;
            self.cx.warn(format!(
                "{}: skipped {} bad row(s) of `{}` (the first at line {line}: {why})",
                crate::NAME,
                self.skipped,
                self.shown
            ));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<RecordBatch>> {
        loop {
            let batch_start = self.consumed;
            match self.fast() {
                Ok(Some(batch)) => return Ok(Some(batch)),
                Ok(None) => return Ok(None),
                Err(why) => {
                    self.consumed = batch_start;
                    match self.slow()? {
                        Some(batch) if batch.num_rows() > 0 => return Ok(Some(batch)),
                        Some(_) => {}
                        // The batch failed, yet no record of it does: never end quietly.
                        None => return Err(error::schema(&self.shown, why)),
                    }
                }
            }
        }
    }
}

impl Iterator for TextReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                self.report_skips().err().map(Err)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// csv-core set up as arrow-csv sets it up for the same dialect.
fn csv_reader(dialect: Dialect) -> csv_core::Reader {
    let mut b = csv_core::ReaderBuilder::new();
    b.delimiter(dialect.delimiter).quote(dialect.quote);
    if let Some(e) = dialect.escape {
        b.escape(Some(e));
    }
    b.build()
}

/// Checks the header of a CSV file against the plan's columns; returns where data starts.
fn check_header(
    file: &File,
    shown: &str,
    spec: &TextSpec,
    dialect: Dialect,
    hi: u64,
) -> Result<u64> {
    let io = |e| error::io("read", shown, e);
    let mut input = BufReader::new(rewound(file, shown)?.take(hi));
    let mut reader = csv_reader(dialect);
    let (mut out, mut ends) = (vec![0u8; 64 * 1024], vec![0usize; 1024]);
    let (mut at, mut written, mut nends) = (0u64, 0usize, 0usize);
    loop {
        let buf = input.fill_buf().map_err(io)?;
        let eof = buf.is_empty();
        let (result, nin, nout, nend) =
            reader.read_record(buf, &mut out[written..], &mut ends[nends..]);
        input.consume(nin);
        at += nin as u64;
        written += nout;
        nends += nend;
        match result {
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            csv_core::ReadRecordResult::OutputFull => out.resize(out.len() * 2, 0),
            csv_core::ReadRecordResult::OutputEndsFull => ends.resize(ends.len() * 2, 0),
            csv_core::ReadRecordResult::InputEmpty if eof => break,
            csv_core::ReadRecordResult::InputEmpty => {}
        }
    }
    let mut names = Vec::with_capacity(nends);
    let mut start = 0;
    for &end in &ends[..nends] {
        names.push(String::from_utf8_lossy(&out[start..end]).into_owned());
        start = end;
    }
    let expected = &spec.file_columns;
    let fits = if spec.check_names {
        &names == expected
    } else {
        names.len() == expected.len()
    };
    if !fits {
        return Err(error::schema(
            shown,
            format!(
                "its header has the columns {} but the plan reads {}",
                names.join(", "),
                expected.join(", ")
            ),
        ));
    }
    Ok(at)
}

/// Arrow's decode error without the line number it counts from the decoder's start (the
/// caller names the file's line).
fn clean(err: &ArrowError) -> String {
    let text = err.to_string();
    match text.find(" at line ") {
        Some(i) => {
            let rest = &text[i + " at line ".len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            format!("{}{}", &text[..i], &rest[digits..])
        }
        None => text,
    }
}
