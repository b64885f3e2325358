//! Reading one row range of a download session: tunnel requests of at most
//! [`SessionRead::request_rows`] rows each (a big split is several, the next fetched while the
//! one before is consumed), each decoded as it is verified (record CRCs or Arrow chunk CRCs),
//! resumed after the last delivered row when the connection breaks, and assembled into batches
//! of the announced schema.

use std::collections::VecDeque;
use std::io::{self, BufRead, Read};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::SchemaRef;
use arrowport_core::http::reqwest;
use arrowport_core::http::transport_error;
use arrowport_core::progress::ProgressEvent;
use arrowport_core::retry::sleep_or_cancel;
use arrowport_core::stream::ordered_parallel;
use arrowport_core::{Context, Error, ErrorKind, Result};
use bytes::{Buf, Bytes};
use futures::stream::{self, BoxStream, StreamExt};

use crate::NAME;
use crate::arrow_frame::ArrowFrameReader;
use crate::client::{Client, RowsRequest};
use crate::compress::Compression;
use crate::config::Format;
use crate::record::{ReadOptions, RecordReader};
use crate::session::{SessionTarget, describe};
use crate::types::{Column, TypeMapping, arrow_schema};

/// Everything the requests of one session share.
#[derive(Debug)]
pub struct SessionRead {
    pub client: Client,
    pub target: SessionTarget,
    pub download_id: String,
    pub format: Format,
    pub compression: Compression,
    /// `columns=` as sent (table order), `None` for every column.
    pub request_columns: Option<Vec<String>>,
    /// The columns each body holds, in body order.
    pub wire: Vec<Column>,
    pub wire_schema: SchemaRef,
    /// The batches handed out.
    pub output: SchemaRef,
    /// Where each output column comes from.
    pub assembly: Vec<OutputColumn>,
    pub batch_size: usize,
    pub mapping: TypeMapping,
    /// Rows per tunnel request: a whole body is held until it is decoded, so this bounds the
    /// memory of a range read however big the range.
    pub request_rows: u64,
}

/// One column of the output batches.
#[derive(Debug, Clone)]
pub enum OutputColumn {
    /// The body column at this index.
    Wire(usize),
    /// A partition key's value, the same on every row (a one-row array of the key's type).
    Constant(ArrayRef),
}

impl SessionRead {
    /// The Arrow schema of `wire` columns.
    pub fn schema_of(wire: &[Column], mapping: &TypeMapping) -> Result<SchemaRef> {
        Ok(Arc::new(arrow_schema(wire, mapping)?))
    }

    /// A one-row array holding a partition value, cast to the key's type.
    pub fn constant(key: &Column, value: &str, mapping: &TypeMapping) -> Result<ArrayRef> {
        let ty = key.to_arrow(mapping)?.data_type().clone();
        cast(&StringArray::from(vec![value]), &ty).map_err(|e| {
            Error::schema(format!(
                "{NAME}: partition value {value:?} of `{}` is not a valid {}: {e}",
                key.name, key.ty
            ))
        })
    }

    fn accept_encoding(&self) -> Option<&'static str> {
        match self.format {
            Format::Arrow => self.compression.arrow_content_encoding(),
            Format::Record => self.compression.content_encoding(),
        }
    }

    fn assemble(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let columns = self
            .assembly
            .iter()
            .map(|c| match c {
                OutputColumn::Wire(i) => Ok(batch.column(*i).clone()),
                OutputColumn::Constant(value) => {
                    take(value, &UInt32Array::from(vec![0; rows]), None)
                        .map_err(|e| Error::new(ErrorKind::Unexpected, e.to_string()))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.output.clone(), columns, &options).map_err(|e| {
            Error::schema(format!(
                "{NAME}: a tunnel batch does not fit the announced schema: {e}"
            ))
        })
    }
}

/// Requests of a range read in flight at once: the next body arrives while the batches of
/// the one before are consumed.
pub(crate) const READ_AHEAD: usize = 2;

/// Rows `start..start + count` of a session, in order, each exactly once.
pub fn read_range(
    session: Arc<SessionRead>,
    start: u64,
    count: u64,
    cx: Context,
) -> BoxStream<'static, Result<RecordBatch>> {
    let step = session.request_rows.max(1);
    if count <= step {
        return read_request(session, start, count, cx);
    }
    let requests: Vec<(u64, u64)> = (start..start + count)
        .step_by(step as usize)
        .map(|s| (s, step.min(start + count - s)))
        .collect();
    ordered_parallel(requests, READ_AHEAD, 1, move |(s, n)| {
        read_request(session.clone(), s, n, cx.clone())
    })
}

/// Rows `start..start + count` of a session in one request (more after a broken connection).
fn read_request(
    session: Arc<SessionRead>,
    start: u64,
    count: u64,
    cx: Context,
) -> BoxStream<'static, Result<RecordBatch>> {
    let state = Range {
        session,
        next: start,
        end: start + count,
        failures: 0,
        cx,
    };
    stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.step().await {
            Ok(batches) if batches.is_empty() => None,
            Ok(batches) => {
                let items: Vec<Result<RecordBatch>> = batches.into_iter().map(Ok).collect();
                Some((stream::iter(items), Some(state)))
            }
            Err(e) => Some((stream::iter(vec![Err(e)]), None)),
        }
    })
    .flatten()
    .boxed()
}

struct Range {
    session: Arc<SessionRead>,
    next: u64,
    end: u64,
    /// Failed requests since rows last arrived.
    failures: u32,
    cx: Context,
}

/// What one request gave.
struct Fetched {
    /// The body as it arrived, never copied into one piece.
    body: Chunks,
    compression: Compression,
    /// Why the body stopped early, if it did.
    cut: Option<Error>,
    /// The answer's `x-odps-request-id`, for the errors its body causes.
    request_id: Option<String>,
}

impl Range {
    /// Requests the rows not yet delivered and returns the next batches; empty when done.
    async fn step(&mut self) -> Result<Vec<RecordBatch>> {
        loop {
            if self.next >= self.end {
                return Ok(Vec::new());
            }
            self.cx.check_cancelled()?;
            let requested = self.end - self.next;
            let err = match self.fetch(requested).await {
                // A decoded answer always holds rows: one without any is an error.
                Ok(fetched) => {
                    match (fetched.request_id.clone(), self.decode(fetched, requested)) {
                        (_, Ok(batches)) => {
                            self.failures = 0;
                            return batches
                                .into_iter()
                                .map(|b| self.session.assemble(b))
                                .collect();
                        }
                        (Some(id), Err(e)) => e.with_context("request_id", id),
                        (None, Err(e)) => e,
                    }
                }
                Err(e) => e,
            };
            self.failures += 1;
            let policy = self.cx.retry_policy();
            if !err.is_temporary() || self.failures >= policy.max_attempts {
                return Err(err.with_context("rows", format!("{}..{}", self.next, self.end)));
            }
            let delay = policy.delay(self.failures, err.retry_after());
            self.cx
                .emit(ProgressEvent::retry(self.failures, delay, &err));
            sleep_or_cancel(&self.cx, delay).await?;
        }
    }

    async fn fetch(&self, count: u64) -> Result<Fetched> {
        let s = &self.session;
        let rows = RowsRequest {
            table: &s.target.table,
            partition: s.target.partition.as_ref(),
            download_id: &s.download_id,
            start: self.next,
            count,
            columns: s.request_columns.as_deref(),
            format: s.format,
            accept_encoding: s.accept_encoding(),
        };
        let response = s.client.read_rows(&rows, &self.cx).await?;
        let request_id = response
            .headers()
            .get("x-odps-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let compression = match response.headers().get(reqwest::header::CONTENT_ENCODING) {
            Some(v) => Compression::from_content_encoding(v.to_str().unwrap_or("?"))?,
            None => Compression::None,
        };
        let mut body = Chunks::default();
        let mut response = response;
        let cut = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => body.push(chunk),
                Ok(None) => break None,
                Err(e) => break Some(transport_error(&format!("{NAME}: tunnel download"), e)),
            }
        };
        Ok(Fetched {
            body,
            compression,
            cut,
            request_id,
        })
    }

    /// Decodes what arrived. A complete body must hold exactly the rows asked for; from a body
    /// cut short, the rows verified before the cut are kept and `next` moves past them.
    fn decode(&mut self, fetched: Fetched, requested: u64) -> Result<Vec<RecordBatch>> {
        let s = &self.session;
        // The payload of an uncompressed body is about as long as the body.
        let size_hint = match fetched.compression {
            Compression::None => fetched.body.len,
            _ => 0,
        };
        let input = fetched.compression.decoder(fetched.body)?;
        let decoded: Box<dyn Iterator<Item = Result<RecordBatch>>> = match s.format {
            Format::Arrow => Box::new(ArrowFrameReader::new(
                input,
                s.wire_schema.clone(),
                size_hint,
            )?),
            Format::Record => {
                let options = ReadOptions {
                    batch_size: s.batch_size,
                    mapping: s.mapping.clone(),
                };
                Box::new(RecordReader::new(input, &s.wire, &options)?)
            }
        };
        let mut batches = Vec::new();
        let mut rows = 0u64;
        let mut failure = None;
        for item in decoded {
            match item {
                Ok(b) => {
                    rows += b.num_rows() as u64;
                    batches.push(b);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if rows > requested {
            return Err(integrity(
                s,
                format!("the tunnel sent {rows} rows for a request of {requested}"),
            ));
        }
        match (fetched.cut, failure) {
            (None, Some(e)) => Err(e.with_context("download_id", &s.download_id)),
            (None, None) if rows < requested => Err(integrity(
                s,
                format!(
                    "the tunnel sent {rows} rows where the session promised {requested} \
                     (rows {}..{})",
                    self.next, self.end
                ),
            )),
            (None, None) => {
                self.next += rows;
                Ok(batches)
            }
            (Some(cut), _) if rows == 0 => Err(cut),
            (Some(cut), _) => {
                // Keep what was verified; the next request, at once, starts after it.
                self.next += rows;
                self.cx
                    .emit(ProgressEvent::retry(1, std::time::Duration::ZERO, &cut));
                Ok(batches)
            }
        }
    }
}

/// A body as the chunks it arrived in, read as one stream.
#[derive(Debug, Default)]
struct Chunks {
    chunks: VecDeque<Bytes>,
    /// Bytes not read yet.
    len: usize,
}

impl Chunks {
    fn push(&mut self, chunk: Bytes) {
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let front = self.fill_buf()?;
        let n = buf.len().min(front.len());
        buf[..n].copy_from_slice(&front[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// The chunks are the buffer: a frame is copied once, from the chunk it arrived in.
impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.chunks.front().is_some_and(Bytes::is_empty) {
            self.chunks.pop_front();
        }
        Ok(self.chunks.front().map_or(&[], |front| &front[..]))
    }

    fn consume(&mut self, n: usize) {
        if let Some(front) = self.chunks.front_mut() {
            front.advance(n);
            self.len -= n;
        }
    }
}

fn integrity(s: &SessionRead, message: String) -> Error {
    Error::new(
        ErrorKind::DataIntegrity,
        format!("{NAME}: {message} reading {}", describe(&s.target)),
    )
    .with_context("plugin", NAME)
    .with_context("download_id", &s.download_id)
}
