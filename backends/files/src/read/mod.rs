//! Reading one split from its token: check the file is the one planned, decode its part, and
//! shape every batch into the plan's columns (order, lossless casts, partition values).

pub(crate) mod ipc;
pub(crate) mod parquet;
pub(crate) mod text;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrowport_core::arrow::array::{Array, ArrayRef, StringArray, UInt32Array, new_null_array};
use arrowport_core::arrow::compute::{CastOptions, cast_with_options, take};
use arrowport_core::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrowport_core::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use arrowport_core::{Context, Error, ErrorKind, Result};
use futures::Stream;
use sha2::{Digest, Sha256};

use crate::config::Format;
use crate::error;
use crate::location::mtime_ns;
use crate::token::{Part, Token};
use crate::unify::unify;

/// Decoded batches of one file, produced on a blocking thread.
pub(crate) type Batches = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// Runs a blocking batch iterator one batch at a time on tokio's blocking pool, awaiting each
/// inside the stream: dropping the stream abandons the iterator after the batch in flight.
pub(crate) fn blocking(batches: Batches) -> impl Stream<Item = Result<RecordBatch>> + Send {
    futures::stream::unfold(Some(batches), |state| async move {
        let mut batches = state?;
        let step = tokio::task::spawn_blocking(move || {
            let item = batches.next();
            (item, batches)
        })
        .await;
        match step {
            Ok((Some(Ok(batch)), batches)) => Some((Ok(batch), Some(batches))),
            Ok((Some(Err(e)), _)) => Some((Err(e), None)),
            Ok((None, _)) => None,
            Err(e) => Some((
                Err(Error::new(
                    ErrorKind::Unexpected,
                    format!("{}: a file reader failed: {e}", crate::NAME),
                )),
                None,
            )),
        }
    })
}

/// The batches of one split. Nothing is opened until the first batch is asked for.
pub(crate) fn split(base: &Path, token: Token, cx: Context) -> Batches {
    let path = base.join(&token.path);
    let mut state: Option<Batches> = None;
    let mut pending = Some((path, token, cx));
    Box::new(std::iter::from_fn(move || {
        if let Some((path, token, cx)) = pending.take() {
            match open(&path, token, cx) {
                Ok(batches) => state = Some(batches),
                Err(e) => return Some(Err(e)),
            }
        }
        state.as_mut()?.next()
    }))
}

/// Opens the planned file, verifies it is unchanged, and starts decoding its part.
fn open(path: &Path, token: Token, cx: Context) -> Result<Batches> {
    let shown = token.path.clone();
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => error::integrity(&shown, "was removed after planning"),
        _ => error::io("open", &shown, e),
    })?;
    let meta = file.metadata().map_err(|e| error::io("open", &shown, e))?;
    let (size, mtime) = (meta.len(), mtime_ns(&meta));
    if size != token.size || mtime != token.mtime_ns {
        return Err(error::integrity(
            &shown,
            format!(
                "changed after planning (size {} then, {size} now; modified at {} ns then, \
                 {mtime} ns now); plan again",
                token.size, token.mtime_ns
            ),
        ));
    }
    if let Some(verify) = &token.verify {
        let digest = sha256(&file, &shown)?;
        if digest != verify.sha256 {
            return Err(error::integrity(
                &shown,
                format!(
                    "its SHA-256 is {digest}, but the manifest records {}: the file was \
                     changed after it was written",
                    verify.sha256
                ),
            ));
        }
    }
    let shape = Shape::new(&token)?;
    let data: Vec<&str> = shape.data_columns();
    let batches: Batches = match (token.format, &token.part) {
        (Format::Parquet, part) => {
            let footer = parquet::footer(&file, &shown)?;
            let groups = match part {
                Part::RowGroups { first, count } => *first..first + count,
                _ => 0..footer.row_groups.len(),
            };
            shape.check_types(&footer.schema, &shown)?;
            parquet::read(file, footer, groups, &data, token.batch_size, &shown)?
        }
        (Format::Arrow, part) => {
            let schema = ipc::file_schema(&file, &shown)?;
            shape.check_types(&schema, &shown)?;
            let batches = match part {
                Part::Batches { first, count } => Some((*first, *count)),
                _ => None,
            };
            ipc::read_file(file, batches, &data, &shown)?
        }
        (Format::Arrows, _) => {
            let schema = ipc::stream_schema(&file, &shown)?;
            shape.check_types(&schema, &shown)?;
            ipc::read_stream(file, &data, &shown)?
        }
        (Format::Csv | Format::Ndjson, part) => {
            let range = match part {
                Part::Bytes { start, end } => (*start, *end),
                _ => (0, size),
            };
            let spec = token.text.clone().ok_or_else(|| {
                error::integrity(&shown, "a text split token has no decoding settings")
            })?;
            let read = text::TextRead {
                format: token.format,
                spec,
                range,
                size,
                columns: shape.data_fields(),
                batch_size: token.batch_size,
            };
            Box::new(text::TextReader::open(file, &shown, read, cx)?)
        }
    };
    let shaped: Batches = Box::new(batches.map(move |b| shape.apply(b?)));
    Ok(match token.verify.as_ref().map(|v| v.rows) {
        Some(rows) => expect_rows(shaped, rows, shown),
        None => shaped,
    })
}

/// Fails at the end of `inner` unless it delivered `expected` rows (a manifest's count).
fn expect_rows(mut inner: Batches, expected: u64, shown: String) -> Batches {
    let mut rows = 0u64;
    let mut done = false;
    Box::new(std::iter::from_fn(move || {
        if done {
            return None;
        }
        match inner.next() {
            Some(Ok(batch)) => {
                rows += batch.num_rows() as u64;
                Some(Ok(batch))
            }
            Some(Err(e)) => {
                done = true;
                Some(Err(e))
            }
            None => {
                done = true;
                (rows != expected).then(|| {
                    Err(error::integrity(
                        &shown,
                        format!("holds {rows} rows, but the manifest records {expected}"),
                    ))
                })
            }
        }
    }))
}

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
pub(crate) fn read_at(mut file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Lower-case hex SHA-256 of a file's bytes.
fn sha256(mut file: &File, shown: &str) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .map_err(|e| error::io("read", shown, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// How a decoded batch becomes a batch of the plan: each output column is a file column
/// (cast where the plan widened its type) or a partition value repeated.
#[derive(Debug)]
pub(crate) struct Shape {
    schema: SchemaRef,
    columns: Vec<Source>,
}

#[derive(Debug)]
enum Source {
    File(Field),
    /// One row holding the value.
    Constant(ArrayRef),
}

impl Shape {
    fn new(token: &Token) -> Result<Self> {
        let schema = token.schema()?;
        let columns = schema
            .fields()
            .iter()
            .map(
                |f| match token.partition.iter().find(|(n, _)| n == f.name()) {
                    Some((_, value)) => partition_value(value.as_deref(), f.data_type())
                        .map(Source::Constant)
                        .map_err(|e| {
                            error::schema(
                                &token.path,
                                format!(
                                    "partition value of `{}` does not fit {}: {e}",
                                    f.name(),
                                    f.data_type()
                                ),
                            )
                        }),
                    None => Ok(Source::File(f.as_ref().clone())),
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Ok(Shape { schema, columns })
    }

    fn data_fields(&self) -> Vec<Field> {
        self.columns
            .iter()
            .filter_map(|c| match c {
                Source::File(f) => Some(f.clone()),
                Source::Constant(_) => None,
            })
            .collect()
    }

    fn data_columns(&self) -> Vec<&str> {
        self.columns
            .iter()
            .filter_map(|c| match c {
                Source::File(f) => Some(f.name().as_str()),
                Source::Constant(_) => None,
            })
            .collect()
    }

    /// Every planned column must be in the file, in a type the plan's reads without loss
    /// (the file may have been replaced by one of the same size and time, or the token made
    /// up).
    fn check_types(&self, file_schema: &Schema, shown: &str) -> Result<()> {
        for c in &self.columns {
            let Source::File(want) = c else { continue };
            let have = file_schema
                .field_with_name(want.name())
                .map_err(|_| error::schema(shown, format!("has no column `{}`", want.name())))?;
            let fits = unify(have.data_type(), want.data_type(), false)
                .is_some_and(|t| t.equals_datatype(want.data_type()));
            if !fits {
                return Err(error::schema(
                    shown,
                    format!(
                        "column `{}` is {}, which cannot be read as {} without loss",
                        want.name(),
                        have.data_type(),
                        want.data_type()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let columns = self
            .columns
            .iter()
            .map(|c| match c {
                Source::File(f) => {
                    let array = batch.column_by_name(f.name()).ok_or_else(|| {
                        Error::schema(format!("a decoded batch lacks column `{}`", f.name()))
                    })?;
                    retype(array, f.data_type())
                }
                Source::Constant(value) if value.is_null(0) => {
                    Ok(new_null_array(value.data_type(), rows))
                }
                Source::Constant(value) => Ok(take(
                    value.as_ref(),
                    &UInt32Array::from(vec![0u32; rows]),
                    None,
                )?),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// `array` as `to`: unchanged when it already is, else cast (lossless by the plan's rules;
/// a value that does not fit is an error, never a null).
fn retype(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    Ok(cast_with_options(array, to, &options)?)
}

/// A partition value parsed into its column's type, as a one-row array.
fn partition_value(value: Option<&str>, ty: &DataType) -> Result<ArrayRef> {
    let text: ArrayRef = Arc::new(StringArray::from(vec![value]));
    retype(&text, ty)
}
