//! The Arrow tunnel format (spec §3.2): a CRC-framed byte stream around Arrow IPC record batch
//! messages **without** a schema message. All framing integers are big-endian:
//!
//! ```text
//! body  := u32be(CHUNK) frame* last
//! frame := data[CHUNK] u32be(crc32c(data))
//! last  := data[0..CHUNK-1] u32be(crc32c(all payload bytes))
//! ```
//!
//! [`FramedReader`] verifies every chunk CRC and the final whole-payload CRC frame by frame;
//! [`ArrowFrameReader`] unframes a body into one buffer and decodes its record batches over it
//! with the client-side schema (built from the session schema). [`frame`] / [`encode_batches`]
//! produce the same format for uploads.

use std::io::{self, BufRead, Read};

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::MessageHeader;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use arrowport_core::{Error, ErrorKind, Result};

use crate::compress::io_to_error;
use crate::crc32c::{Concat, append, crc32c};

/// Chunk size written by PyODPS and Java.
pub const DEFAULT_CHUNK_SIZE: u32 = 65_536;
/// Largest chunk size a reader accepts (bounds memory on a corrupt header).
pub const MAX_CHUNK_SIZE: u32 = 64 << 20;

/// A framing or CRC failure detected by [`FramedReader`], carried inside `io::Error` so that it
/// stays apart from transport failures of the reader underneath.
#[derive(Debug)]
struct FrameError(String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

fn frame_error(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, FrameError(msg))
}

/// Strips the tunnel framing from a byte stream frame by frame, verifying every CRC; a frame's
/// data is handed out only after its CRC matched. Frames are copied from the reader's buffer
/// straight onto the output, which is never zero-filled first.
#[derive(Debug)]
pub struct FramedReader<R> {
    inner: R,
    chunk: usize,
    /// Joins the CRCs of whole chunks into [`Self::whole`].
    concat: Concat,
    /// CRC of every payload byte verified so far.
    whole: u32,
    frames: u64,
    payload_len: u64,
    state: FrameState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameState {
    Header,
    Body,
    Done,
}

impl<R: BufRead> FramedReader<R> {
    /// A reader of the framed body `inner` (already decompressed).
    pub fn new(inner: R) -> Self {
        FramedReader {
            inner,
            chunk: 0,
            concat: Concat::new(0),
            whole: 0,
            frames: 0,
            payload_len: 0,
            state: FrameState::Header,
        }
    }

    /// The chunk size from the header (0 before it was read).
    pub fn chunk_size(&self) -> usize {
        self.chunk
    }

    /// Frames whose CRC was verified so far, the last (whole-payload) frame included.
    pub fn frames_verified(&self) -> u64 {
        self.frames
    }

    /// Whether the last frame was read and verified.
    pub fn is_complete(&self) -> bool {
        self.state == FrameState::Done
    }

    fn read_header(&mut self) -> io::Result<()> {
        let mut hdr = [0u8; 4];
        if read_full(&mut self.inner, &mut hdr)? < 4 {
            return Err(frame_error(
                "Arrow tunnel body shorter than its 4-byte chunk size".into(),
            ));
        }
        let chunk = u32::from_be_bytes(hdr);
        if chunk == 0 || chunk > MAX_CHUNK_SIZE {
            return Err(frame_error(format!(
                "Arrow tunnel chunk size {chunk} out of range"
            )));
        }
        self.chunk = chunk as usize;
        self.concat = Concat::new(self.chunk);
        self.state = FrameState::Body;
        Ok(())
    }

    /// Reads the next frame straight into the end of `out` and keeps its data there once its
    /// CRC matched (nothing of a failed frame stays). Nothing to do after the last frame.
    pub fn next_frame_into(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        match self.state {
            FrameState::Done => return Ok(()),
            FrameState::Header => self.read_header()?,
            FrameState::Body => {}
        }
        let start = out.len();
        let got = append_up_to(&mut self.inner, out, self.chunk + 4)?;
        let verified = self.verify(&out[start..], got == self.chunk + 4);
        match verified {
            Ok(data_len) => out.truncate(start + data_len),
            Err(_) => out.truncate(start),
        }
        verified.map(drop)
    }

    /// Checks one frame as read (`full`: as long as a chunk plus its CRC); the data length.
    fn verify(&mut self, frame: &[u8], full: bool) -> io::Result<usize> {
        let got = frame.len();
        if got < 4 {
            return Err(frame_error(format!(
                "Arrow tunnel body truncated after {} payload bytes (no final CRC)",
                self.payload_len
            )));
        }
        let data_len = got - 4;
        let data = &frame[..data_len];
        let wire = u32::from_be_bytes(frame[data_len..got].try_into().expect("4 bytes"));
        if full {
            let crc = crc32c(data);
            if crc != wire {
                return Err(frame_error(format!(
                    "Arrow tunnel chunk {} CRC-32C mismatch: frame says {wire:#010x}, data gives {crc:#010x}",
                    self.frames
                )));
            }
            self.whole = self.concat.join(self.whole, crc);
        } else {
            let crc = append(self.whole, data);
            if crc != wire {
                return Err(frame_error(format!(
                    "Arrow tunnel final CRC-32C mismatch: frame says {wire:#010x}, payload gives {crc:#010x}"
                )));
            }
            self.state = FrameState::Done;
        }
        self.frames += 1;
        self.payload_len += data_len as u64;
        Ok(data_len)
    }
}

/// Reads until `buf` is full or the stream ends; the bytes read.
fn read_full(inner: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match inner.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Appends up to `max` bytes of `inner` to `out`, fewer only at its end; how many.
fn append_up_to(inner: &mut impl BufRead, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let mut got = 0;
    while got < max {
        let available = match inner.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        let n = available.len().min(max - got);
        out.extend_from_slice(&available[..n]);
        inner.consume(n);
        got += n;
    }
    Ok(got)
}

/// Appends the verified payload of a framed stream to `out`, frame by frame, without an
/// intermediate copy. On failure `out` holds every frame verified before it.
pub fn unframe_into(input: impl BufRead, out: &mut Vec<u8>) -> io::Result<u64> {
    let mut framing = FramedReader::new(input);
    while !framing.is_complete() {
        framing.next_frame_into(out)?;
    }
    Ok(framing.frames_verified())
}

/// Removes the framing from a whole body, verifying every CRC.
pub fn unframe(body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    unframe_into(body, &mut out).map_err(map_io)?;
    Ok(out)
}

/// Frames a payload as it is written: each chunk's CRC follows it at once, while its bytes
/// are still in cache, and the whole payload's CRC is joined from the chunks', so every byte
/// is copied and checksummed once. Writes into a caller's buffer, which a pool can recycle.
#[derive(Debug)]
pub struct FrameWriter {
    out: Vec<u8>,
    chunk: usize,
    concat: Concat,
    /// Payload bytes of the chunk being filled.
    open: usize,
    /// CRC of the payload of every closed chunk.
    whole: u32,
    payload_len: usize,
}

impl FrameWriter {
    /// Framing into `out` (cleared first) with chunks of `chunk` bytes.
    pub fn new(mut out: Vec<u8>, chunk: u32) -> Self {
        assert!(chunk > 0, "chunk size must be positive");
        out.clear();
        out.extend_from_slice(&chunk.to_be_bytes());
        FrameWriter {
            out,
            chunk: chunk as usize,
            concat: Concat::new(chunk as usize),
            open: 0,
            whole: 0,
            payload_len: 0,
        }
    }

    /// Payload bytes written so far.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// The framed body: the open chunk ends with the CRC of the whole payload.
    pub fn finish(mut self) -> Vec<u8> {
        let tail = &self.out[self.out.len() - self.open..];
        let whole = append(self.whole, tail);
        self.out.extend_from_slice(&whole.to_be_bytes());
        self.out
    }
}

impl io::Write for FrameWriter {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        while !buf.is_empty() {
            let take = buf.len().min(self.chunk - self.open);
            self.out.extend_from_slice(&buf[..take]);
            self.open += take;
            buf = &buf[take..];
            if self.open == self.chunk {
                let crc = crc32c(&self.out[self.out.len() - self.chunk..]);
                self.out.extend_from_slice(&crc.to_be_bytes());
                self.whole = self.concat.join(self.whole, crc);
                self.open = 0;
            }
        }
        self.payload_len += written;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Frames `payload` with chunks of `chunk` bytes.
pub fn frame(payload: &[u8], chunk: u32) -> Vec<u8> {
    let capacity = payload.len() + 8 + 4 * (payload.len() / chunk.max(1) as usize);
    let mut writer = FrameWriter::new(Vec::with_capacity(capacity), chunk);
    io::Write::write_all(&mut writer, payload).expect("writing to memory");
    writer.finish()
}

fn map_io(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<FrameError>()) {
        return Error::new(ErrorKind::DataIntegrity, e.to_string());
    }
    io_to_error("cannot read the Arrow tunnel body", e)
}

fn map_arrow(e: ArrowError) -> Error {
    match e {
        ArrowError::IoError(_, io) => map_io(io),
        ArrowError::ExternalError(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => map_io(*io),
            Err(other) => Error::new(
                ErrorKind::DataIntegrity,
                format!("invalid Arrow tunnel payload: {other}"),
            ),
        },
        other => Error::new(
            ErrorKind::DataIntegrity,
            format!("invalid Arrow tunnel payload: {other}"),
        ),
    }
}

/// The IPC stream bytes of `schema` alone (the schema message the client prepends).
pub fn schema_message(schema: &Schema) -> Result<Vec<u8>> {
    let w = StreamWriter::try_new(Vec::new(), schema).map_err(|e| Error::schema(e.to_string()))?;
    Ok(w.get_ref().clone())
}

/// Decodes an Arrow tunnel body into record batches of `schema` (the client-side schema built
/// from the session schema), verifying every chunk CRC; an iterator of batches.
///
/// The body is unframed into one buffer first and the batches are decoded over it without a
/// copy. When the body is cut or a CRC fails, the batches wholly inside the verified frames
/// come first, then the error.
pub struct ArrowFrameReader {
    decoder: StreamDecoder,
    /// The verified payload not decoded yet.
    payload: Buffer,
    /// Why the verified payload ends before the body's final frame, if it does.
    failure: Option<Error>,
    frames: u64,
    schema: SchemaRef,
    /// Which IPC buffers of a batch of `schema` hold 32-bit offsets.
    offset_buffers: Vec<bool>,
    done: bool,
}

impl std::fmt::Debug for ArrowFrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowFrameReader")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl ArrowFrameReader {
    /// A reader of the framed body `input` (already decompressed) with batches of `schema`;
    /// `size_hint` is the expected payload size, to allocate it once.
    pub fn new(input: impl BufRead, schema: SchemaRef, size_hint: usize) -> Result<Self> {
        let mut decoder = StreamDecoder::new();
        let mut prefix = Buffer::from_vec(schema_message(&schema)?);
        decoder.decode(&mut prefix).map_err(map_arrow)?;
        let mut payload = Vec::with_capacity(size_hint);
        let (frames, failure) = match unframe_into(input, &mut payload) {
            Ok(frames) => (frames, None),
            Err(e) => (0, Some(map_io(e))),
        };
        let mut offset_buffers = Vec::new();
        for field in schema.fields() {
            mark_offset_buffers(field.data_type(), &mut offset_buffers);
        }
        Ok(ArrowFrameReader {
            decoder,
            payload: Buffer::from_vec(payload),
            failure,
            frames,
            schema,
            offset_buffers,
            done: false,
        })
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Frames whose CRC was verified, the last (whole-payload) frame included; 0 when the body
    /// did not verify to its end.
    pub fn frames_verified(&self) -> u64 {
        self.frames
    }
}

impl Iterator for ArrowFrameReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Err(e) = check_message(&self.payload, &self.offset_buffers) {
            self.done = true;
            return Some(Err(e));
        }
        match self.decoder.decode(&mut self.payload) {
            Ok(Some(batch)) if batch.schema_ref().fields() != self.schema.fields() => {
                self.done = true;
                Some(Err(Error::schema(
                    "Arrow tunnel batch does not match the session schema",
                )))
            }
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.done = true;
                // A verified payload must end where a message ends (or at an EOS marker).
                match self.failure.take() {
                    Some(e) => Some(Err(e)),
                    None => self.decoder.finish().err().map(|e| {
                        Err(Error::new(
                            ErrorKind::DataIntegrity,
                            format!("Arrow tunnel payload ends inside a message: {e}"),
                        ))
                    }),
                }
            }
            Err(e) => {
                self.done = true;
                Some(Err(map_arrow(e)))
            }
        }
    }
}

/// Appends, for each IPC buffer of a column of `dt` in message order, whether it holds 32-bit
/// offsets; for the Arrow types MaxCompute types map to (see [`crate::types`]).
fn mark_offset_buffers(dt: &DataType, out: &mut Vec<bool>) {
    match dt {
        DataType::Utf8 | DataType::Binary => out.extend([false, true, false]),
        DataType::List(item) | DataType::Map(item, _) => {
            out.extend([false, true]);
            mark_offset_buffers(item.data_type(), out);
        }
        DataType::Struct(fields) => {
            out.push(false);
            for field in fields {
                mark_offset_buffers(field.data_type(), out);
            }
        }
        _ => out.extend([false, false]),
    }
}

/// Checks the IPC message that `payload` starts with, once its metadata is whole: it must be a
/// record batch whose buffers lie inside its body, with whole 32-bit offsets in its
/// `offset_buffers`, or the end-of-stream marker. On a corrupt but CRC-correct payload
/// arrow-ipc slices buffers past the body, unwraps missing headers and asserts that offsets
/// are whole (panics, not errors), and decodes other message kinds in the same call as the
/// next batch.
fn check_message(payload: &[u8], offset_buffers: &[bool]) -> Result<()> {
    let bad = |why: String| {
        Error::new(
            ErrorKind::DataIntegrity,
            format!("invalid Arrow tunnel payload: {why}"),
        )
    };
    let word = |at: usize| {
        let bytes = payload.get(at..at + 4)?;
        Some(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    };
    // An optional continuation marker, then the metadata length (0: end of stream).
    let (len, at) = match word(0) {
        Some(u32::MAX) => (word(4), 8usize),
        len => (len, 4),
    };
    let metadata = len.and_then(|len| payload.get(at..at.checked_add(len as usize)?));
    let Some(metadata) = metadata.filter(|m| !m.is_empty()) else {
        // The end of stream, or a message cut short, which the decoder reports.
        return Ok(());
    };
    let message =
        arrow::ipc::root_as_message(metadata).map_err(|e| bad(format!("bad message: {e}")))?;
    let batch = match message.header_type() {
        MessageHeader::RecordBatch => message.header_as_record_batch(),
        other => return Err(bad(format!("a {other:?} message, not a record batch"))),
    }
    .ok_or_else(|| bad("a record batch message without its header".into()))?;
    let body = message.bodyLength();
    for (i, buffer) in batch.buffers().into_iter().flatten().enumerate() {
        let (offset, len) = (buffer.offset(), buffer.length());
        if offset < 0 || len < 0 || offset.checked_add(len).is_none_or(|end| end > body) {
            return Err(bad(format!(
                "a buffer of {len} bytes at {offset} outside its {body}-byte message body"
            )));
        }
        if offset_buffers.get(i) == Some(&true) && len % 4 != 0 {
            return Err(bad(format!("an offset buffer of {len} bytes")));
        }
    }
    Ok(())
}

/// Decodes a whole Arrow tunnel body.
pub fn decode_arrow(body: &[u8], schema: SchemaRef) -> Result<Vec<RecordBatch>> {
    ArrowFrameReader::new(body, schema, body.len())?.collect()
}

/// Encodes `batches` as the unframed tunnel payload: IPC record batch messages, no schema
/// message (an EOS marker closes it, which readers accept).
pub fn encode_payload(schema: &Schema, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let skip = schema_message(schema)?.len();
    let err = |e: ArrowError| Error::schema(format!("cannot encode Arrow batches: {e}"));
    let mut w = StreamWriter::try_new(Vec::new(), schema).map_err(err)?;
    for b in batches {
        w.write(b).map_err(err)?;
    }
    let mut bytes = w.into_inner().map_err(err)?;
    bytes.drain(..skip);
    Ok(bytes)
}

/// Encodes and frames `batches` as an Arrow tunnel body.
pub fn encode_batches(schema: &Schema, batches: &[RecordBatch], chunk: u32) -> Result<Vec<u8>> {
    Ok(frame(&encode_payload(schema, batches)?, chunk))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field};

    use super::*;

    /// A body cut short, or failing a CRC, still yields every batch wholly inside the verified
    /// frames, then the error; nothing of the broken batch comes out.
    #[test]
    fn verified_batches_come_before_the_failure() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let batches: Vec<RecordBatch> = (0..3)
            .map(|b| {
                let column = Int64Array::from_iter_values(b * 1000..(b + 1) * 1000);
                RecordBatch::try_new(schema.clone(), vec![Arc::new(column)]).unwrap()
            })
            .collect();
        let payload = encode_payload(&schema, &batches).unwrap();
        let body = frame(&payload, 256);
        let whole = decode_arrow(&body, schema.clone()).unwrap();
        assert_eq!(whole, batches);

        // Two and a half batches of payload, in whole frames; then the cut or a bad CRC.
        let keep = (payload.len() * 5 / 6) / 256;
        let cut_at = 4 + keep * 260;
        let mut corrupt = body.clone();
        corrupt[cut_at + 3] ^= 1;
        for broken in [&body[..cut_at + 100], &corrupt[..]] {
            let mut reader = ArrowFrameReader::new(broken, schema.clone(), 0).unwrap();
            assert_eq!(reader.next().unwrap().unwrap(), batches[0]);
            assert_eq!(reader.next().unwrap().unwrap(), batches[1]);
            let err = reader.next().unwrap().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{err}");
            assert!(reader.next().is_none());
        }
    }

    #[test]
    fn frame_round_trip_and_errors() {
        for len in [0usize, 1, 63, 64, 65, 128, 1000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let body = frame(&payload, 64);
            assert_eq!(unframe(&body).unwrap(), payload, "len {len}");
            let mut r = FramedReader::new(&body[..]);
            while !r.is_complete() {
                r.next_frame_into(&mut Vec::new()).unwrap();
            }
            assert_eq!(r.frames_verified(), len as u64 / 64 + 1);
            for cut in [body.len() - 1, 4, 0] {
                assert_eq!(
                    unframe(&body[..cut]).unwrap_err().kind(),
                    ErrorKind::DataIntegrity
                );
            }
        }
        let mut body = frame(&[1, 2, 3], 64);
        body[5] ^= 1;
        assert_eq!(unframe(&body).unwrap_err().kind(), ErrorKind::DataIntegrity);
        assert_eq!(
            unframe(&[0, 0, 0, 0, 1, 2, 3, 4]).unwrap_err().kind(),
            ErrorKind::DataIntegrity
        );
    }
}

/// Property tests: framing round-trips, and mutated or random bodies (CRCs intact or not) end
/// in a clean error after bounded work. `PROPTEST_CASES` scales them (see `tests/FUZZING.md`).
#[cfg(test)]
mod fuzz {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::Field;
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::record::fuzz::{apply, columns, config, edits, encode, rows};
    use crate::record::{ReadOptions, decode_records};
    use crate::types::{TypeMapping, arrow_schema};

    fn schema() -> SchemaRef {
        Arc::new(arrow_schema(&columns(), &TypeMapping::default()).unwrap())
    }

    /// The IPC payload of `rows` of every mapped type (decoded from the record format).
    fn payload(rows: &[Vec<Option<crate::record::Value>>]) -> (Vec<RecordBatch>, Vec<u8>) {
        let batches = decode_records(&encode(rows), &columns(), &ReadOptions::default()).unwrap();
        let payload = encode_payload(&schema(), &batches).unwrap();
        (batches, payload)
    }

    /// Reads a framed body to its end: only data errors, and every item consumes input.
    fn check(body: &[u8]) -> std::result::Result<(), TestCaseError> {
        let reader = ArrowFrameReader::new(body, schema(), body.len()).unwrap();
        let mut items = 0;
        for item in reader {
            items += 1;
            prop_assert!(items <= body.len() + 1, "more items than bytes");
            if let Err(e) = item {
                prop_assert!(
                    matches!(e.kind(), ErrorKind::DataIntegrity | ErrorKind::Schema),
                    "{e}"
                );
            }
        }
        let mut framing = FramedReader::new(body);
        let mut out = Vec::new();
        for _ in 0..=body.len() {
            if framing.is_complete() {
                prop_assert!(out.len() < body.len());
                return Ok(());
            }
            if let Err(e) = framing.next_frame_into(&mut out) {
                prop_assert_eq!(map_io(e).kind(), ErrorKind::DataIntegrity);
                return Ok(());
            }
        }
        Err(TestCaseError::fail("framing made no progress"))
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn framing_round_trips(payload in vec(any::<u8>(), 0..600), chunk in 1u32..300) {
            let body = frame(&payload, chunk);
            prop_assert_eq!(unframe(&body).unwrap(), payload);
        }

        /// However the payload is cut into writes, the body is the one a plain two-pass
        /// framing gives.
        #[test]
        fn frames_written_in_pieces_are_the_plain_framing(
            payload in vec(any::<u8>(), 0..600),
            chunk in 1u32..300,
            cuts in vec(0usize..600, 0..6),
        ) {
            let mut plain = chunk.to_be_bytes().to_vec();
            let mut chunks = payload.chunks_exact(chunk as usize);
            for data in &mut chunks {
                plain.extend_from_slice(data);
                plain.extend_from_slice(&crc32c(data).to_be_bytes());
            }
            plain.extend_from_slice(chunks.remainder());
            plain.extend_from_slice(&crc32c(&payload).to_be_bytes());

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(payload.len())).collect();
            cuts.sort_unstable();
            let mut writer = FrameWriter::new(vec![7; 3], chunk);
            let mut from = 0;
            for to in cuts.into_iter().chain([payload.len()]) {
                io::Write::write_all(&mut writer, &payload[from..to]).unwrap();
                from = to;
            }
            prop_assert_eq!(writer.payload_len(), payload.len());
            prop_assert_eq!(writer.finish(), plain);
        }

        #[test]
        fn batches_round_trip(rows in rows(), chunk in 1u32..300) {
            let (batches, payload) = payload(&rows);
            prop_assert_eq!(decode_arrow(&frame(&payload, chunk), schema()).unwrap(), batches);
        }

        /// Framing errors: the CRCs catch the edits.
        #[test]
        fn mutated_bodies_fail_cleanly(rows in rows(), chunk in 1u32..300, edits in edits()) {
            let mut body = frame(&payload(&rows).1, chunk);
            apply(&mut body, &edits);
            check(&body)?;
        }

        /// IPC errors: the payload is edited before it is framed, so every CRC matches.
        #[test]
        fn mutated_payloads_fail_cleanly(rows in rows(), chunk in 1u32..300, edits in edits()) {
            let mut payload = payload(&rows).1;
            apply(&mut payload, &edits);
            check(&frame(&payload, chunk))?;
        }

        #[test]
        fn random_payloads_fail_cleanly(payload in vec(any::<u8>(), 0..512), chunk in 1u32..300) {
            check(&frame(&payload, chunk))?;
        }

        #[test]
        fn random_bodies_fail_cleanly(body in vec(any::<u8>(), 0..512)) {
            check(&body)?;
        }
    }

    /// A one-batch payload of `(n: int64, s: utf8)`, both nullable, with a NULL in each, and the
    /// length of its IPC metadata. Its buffers, 64-byte aligned, are (offset, length): n's
    /// validity (0, 1) and values (64, 24), s's validity (128, 1), offsets (192, 16) and data
    /// (256, 2); the body is 320 bytes.
    fn small_payload() -> (SchemaRef, Vec<u8>, usize) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("b")])),
            ],
        )
        .unwrap();
        let payload = encode_payload(&schema, &[batch]).unwrap();
        // FFFFFFFF, u32 metadata length, metadata, body, then the 8-byte EOS marker.
        assert_eq!(&payload[..4], &[0xff; 4]);
        let meta_len = u32::from_le_bytes(payload[4..8].try_into().unwrap()) as usize;
        assert_eq!(payload.len(), 8 + meta_len + 320 + 8);
        (schema, payload, meta_len)
    }

    /// `payload` with the little-endian i64s `from`, found once in its metadata, made `to`.
    fn edit_metadata(payload: &[u8], meta_len: usize, from: &[i64], to: &[i64]) -> Vec<u8> {
        let bytes = |v: &[i64]| v.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let (from, to) = (bytes(from), bytes(to));
        let metadata = &payload[8..8 + meta_len];
        let found: Vec<usize> = (0..=metadata.len() - from.len())
            .filter(|&i| metadata[i..i + from.len()] == from[..])
            .collect();
        assert_eq!(found.len(), 1, "{from:?} in the metadata");
        let mut out = payload.to_vec();
        out[8 + found[0]..8 + found[0] + to.len()].copy_from_slice(&to);
        out
    }

    fn decode_err(payload: &[u8], schema: &SchemaRef) -> Error {
        decode_arrow(&frame(payload, 64), schema.clone()).unwrap_err()
    }

    /// A chunk size, IPC metadata length, IPC body length or buffer length of 2^31, 2^40 or all
    /// ones is a data error, found without allocating for it.
    #[test]
    fn huge_lengths_are_errors() {
        let (schema, payload, meta_len) = small_payload();
        decode_arrow(&frame(&payload, 64), schema.clone()).unwrap();
        for huge in [1u64 << 31, 1 << 40, u64::MAX] {
            let mut body = frame(&payload, 64);
            body[..4].copy_from_slice(&(huge as u32).to_be_bytes());
            let err = decode_arrow(&body, schema.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "chunk {huge}: {err}");

            let mut edited = payload.clone();
            edited[4..8].copy_from_slice(&(huge as u32).to_le_bytes());
            let err = decode_err(&edited, &schema);
            assert_eq!(
                err.kind(),
                ErrorKind::DataIntegrity,
                "metadata {huge}: {err}"
            );

            let huge = huge as i64;
            let edited = edit_metadata(&payload, meta_len, &[320], &[huge]);
            let err = decode_err(&edited, &schema);
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "body {huge}: {err}");

            let edited = edit_metadata(&payload, meta_len, &[64, 24], &[64, huge]);
            let err = decode_err(&edited, &schema);
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "buffer {huge}: {err}");
        }
    }

    /// Regressions: CRC-correct payloads on which arrow-ipc panicked (a buffer past the body,
    /// offsets that are not whole 32-bit words) or decoded a message that is not a batch.
    #[test]
    fn corrupt_ipc_metadata_is_an_error() {
        let (schema, payload, meta_len) = small_payload();
        let cases = [
            (
                "past the body",
                edit_metadata(&payload, meta_len, &[256, 2], &[316, 5]),
            ),
            (
                "offset past the body",
                edit_metadata(&payload, meta_len, &[64, 24], &[1 << 40, 24]),
            ),
            (
                "negative",
                edit_metadata(&payload, meta_len, &[64, 24], &[64, -24]),
            ),
            (
                "13-byte offsets",
                edit_metadata(&payload, meta_len, &[192, 16], &[192, 13]),
            ),
            ("a schema message", schema_message(&schema).unwrap()),
        ];
        for (what, edited) in cases {
            let err = decode_err(&edited, &schema);
            assert_eq!(err.kind(), ErrorKind::DataIntegrity, "{what}: {err}");
        }
    }
}
