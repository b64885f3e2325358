//! The body of one data response, made lazily while the client reads: rows are generated
//! [`CHUNK_ROWS`] at a time, encoded (records or framed Arrow), compressed and sent, so a
//! multi-million-row range costs a few chunks of memory however the client paces itself.

use std::io;
use std::iter::Peekable;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use super::arrow_frame::ArrowEncoder;
use super::compress::{Compressor, Encoding};
use super::record::RecordEncoder;
use super::tables::{CHUNK_ROWS, Section, Snapshot, TableDef};
use crate::http::{Body, BoxError};

/// How long a cut body waits between its last bytes and the reset.
const RESET_PAUSE: Duration = Duration::from_millis(100);

/// What one data request reads.
pub(crate) struct Download {
    pub(crate) table: Arc<TableDef>,
    pub(crate) section: Section,
    /// The rows as the session froze them.
    pub(crate) snapshot: Snapshot,
    pub(crate) start: u64,
    pub(crate) count: u64,
    /// Data column indices, in wire order.
    pub(crate) projection: Vec<usize>,
    pub(crate) arrow: bool,
    pub(crate) encoding: Encoding,
    /// The corrupt-data fault.
    pub(crate) corrupt: bool,
    /// The reset fault: drop the connection after this many body bytes.
    pub(crate) cut: Option<usize>,
}

/// The streamed body of `download`.
pub(crate) fn data(download: Download) -> io::Result<Body> {
    let cut = download.cut;
    let pieces = Pieces {
        next: download.start,
        end: download.start + download.count,
        encoder: Some(if download.arrow {
            Encoder::Arrow(Box::new(ArrowEncoder::new(download.corrupt)))
        } else {
            Encoder::Records(RecordEncoder::new(download.corrupt))
        }),
        compressor: Some(Compressor::new(download.encoding)?),
        table: download.table,
        section: download.section,
        snapshot: download.snapshot,
        projection: download.projection,
    };
    Ok(match cut {
        None => BodyExt::boxed(StreamBody::new(frames(Box::new(pieces)))),
        Some(after) => {
            let cut = Cut {
                inner: pieces.peekable(),
                left: after,
                done: false,
            };
            // Hyper drops buffered bytes with the connection; a pause while the body is
            // pending lets it flush what was sent, so the client sees a cut, not a refusal.
            let reset = futures::stream::once(async {
                tokio::time::sleep(RESET_PAUSE).await;
                Err::<Frame<Bytes>, BoxError>("the emulator reset the connection (fault)".into())
            });
            BodyExt::boxed(StreamBody::new(frames(Box::new(cut)).chain(reset)))
        }
    })
}

type BoxedPieces = Box<dyn Iterator<Item = Result<Bytes, BoxError>> + Send + Sync>;

/// The pieces as body frames, each made when hyper is ready to send it.
fn frames(pieces: BoxedPieces) -> impl Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + Sync {
    futures::stream::iter(pieces).map(|piece| piece.map(Frame::data))
}

enum Encoder {
    Records(RecordEncoder),
    Arrow(Box<ArrowEncoder>),
}

/// The body's pieces: one per chunk of rows (skipped while the compressor holds everything
/// back), then the end (footer or last frame, and the compressor's tail).
struct Pieces {
    table: Arc<TableDef>,
    section: Section,
    snapshot: Snapshot,
    next: u64,
    end: u64,
    projection: Vec<usize>,
    /// `None` once the body is complete.
    encoder: Option<Encoder>,
    compressor: Option<Compressor>,
}

impl Pieces {
    fn chunk(&mut self) -> Result<Vec<u8>, BoxError> {
        // Pieces end on the table's chunk boundaries, so each is a slice of stored rows.
        let len = (self.end - self.next).min(CHUNK_ROWS - self.next % CHUNK_ROWS);
        let batch = self.table.batch(
            &self.snapshot,
            self.section,
            self.next,
            len as usize,
            &self.projection,
        )?;
        self.next += len;
        let mut raw = Vec::new();
        match self.encoder.as_mut().expect("called before the end") {
            Encoder::Records(e) => e.encode(&batch, &mut raw)?,
            Encoder::Arrow(e) => e.encode(&batch, &mut raw)?,
        }
        let compressor = self.compressor.as_mut().expect("called before the end");
        Ok(compressor.push(raw)?)
    }

    fn finish(&mut self) -> Result<Vec<u8>, BoxError> {
        let mut raw = Vec::new();
        match self.encoder.take().expect("finished once") {
            Encoder::Records(e) => e.finish(&mut raw),
            Encoder::Arrow(e) => e.finish(&mut raw),
        }
        let compressor = self.compressor.take().expect("finished once");
        Ok(compressor.finish(raw)?)
    }
}

impl Iterator for Pieces {
    type Item = Result<Bytes, BoxError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.encoder.as_ref()?;
        while self.next < self.end {
            match self.chunk() {
                Ok(piece) if piece.is_empty() => continue,
                Ok(piece) => return Some(Ok(piece.into())),
                Err(e) => {
                    self.encoder = None;
                    return Some(Err(e));
                }
            }
        }
        Some(self.finish().map(Bytes::from))
    }
}

/// The first `left` bytes of a body (at most all but its last byte), then nothing.
struct Cut {
    inner: Peekable<Pieces>,
    left: usize,
    done: bool,
}

impl Iterator for Cut {
    type Item = Result<Bytes, BoxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let piece = match self.inner.next()? {
            Ok(piece) => piece,
            Err(e) => return Some(Err(e)),
        };
        let last = self.inner.peek().is_none();
        let keep = match piece.len() {
            n if n > self.left => self.left,
            n if last => n.saturating_sub(1),
            n => n,
        };
        self.done = keep < piece.len();
        self.left -= keep;
        Some(Ok(piece.slice(..keep)))
    }
}
