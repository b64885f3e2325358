//! The Arrow tunnel format (spec §3.2): a CRC-framed byte stream around Arrow IPC record batch
//! messages **without** a schema message. All framing integers are big-endian:
//!
//! ```text
//! body  := u32be(CHUNK) frame* last
//! frame := data[CHUNK] u32be(crc32c(data))
//! last  := data[0..CHUNK-1] u32be(crc32c(all payload bytes))
//! ```
//!
//! [`FramedReader`] verifies every chunk CRC and the final whole-payload CRC while streaming;
//! [`ArrowFrameReader`] prepends the client-side schema (built from the session schema) and
//! yields record batches. [`frame`] / [`encode_batches`] produce the same format for uploads.

use std::io::{self, Cursor, Read};

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrowport_core::{Error, ErrorKind, Result};

use crate::compress::io_to_error;
use crate::crc32c::{append, crc32c};

/// Chunk size written by PyODPS and Java.
pub const DEFAULT_CHUNK_SIZE: u32 = 65_536;
/// Largest chunk size a reader accepts (bounds memory on a corrupt header).
pub const MAX_CHUNK_SIZE: u32 = 64 << 20;

/// A CRC failure detected by [`FramedReader`], carried inside `io::Error` through the IPC reader.
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

/// Strips the tunnel framing from a byte stream, verifying every CRC; reading it yields the
/// payload. A frame is handed out only after its CRC matched.
#[derive(Debug)]
pub struct FramedReader<R> {
    inner: R,
    chunk: usize,
    frame: Vec<u8>,
    pos: usize,
    end: usize,
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

impl<R: Read> FramedReader<R> {
    /// A reader of the framed body `inner` (already decompressed).
    pub fn new(inner: R) -> Self {
        FramedReader {
            inner,
            chunk: 0,
            frame: Vec::new(),
            pos: 0,
            end: 0,
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

    /// Payload bytes verified so far.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    fn read_full(&mut self, n: usize) -> io::Result<usize> {
        let mut got = 0;
        while got < n {
            match self.inner.read(&mut self.frame[got..n]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// Loads and verifies the next frame.
    fn next_frame(&mut self) -> io::Result<()> {
        if self.state == FrameState::Header {
            let mut hdr = [0u8; 4];
            let mut got = 0;
            while got < 4 {
                match self.inner.read(&mut hdr[got..]) {
                    Ok(0) => {
                        return Err(frame_error(
                            "Arrow tunnel body shorter than its 4-byte chunk size".into(),
                        ));
                    }
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let chunk = u32::from_be_bytes(hdr);
            if chunk == 0 || chunk > MAX_CHUNK_SIZE {
                return Err(frame_error(format!(
                    "Arrow tunnel chunk size {chunk} out of range"
                )));
            }
            self.chunk = chunk as usize;
            self.frame = vec![0; self.chunk + 4];
            self.state = FrameState::Body;
        }
        let want = self.chunk + 4;
        let got = self.read_full(want)?;
        if got < 4 {
            return Err(frame_error(format!(
                "Arrow tunnel body truncated after {} payload bytes (no final CRC)",
                self.payload_len
            )));
        }
        let data_len = got - 4;
        let wire = u32::from_be_bytes(self.frame[data_len..got].try_into().expect("4 bytes"));
        // With CRC instructions a second pass is cheaper than combining chunk CRCs.
        let crc = crc32c(&self.frame[..data_len]);
        self.whole = append(self.whole, &self.frame[..data_len]);
        if got == want {
            if crc != wire {
                return Err(frame_error(format!(
                    "Arrow tunnel chunk {} CRC-32C mismatch: frame says {wire:#010x}, data gives {crc:#010x}",
                    self.frames
                )));
            }
        } else {
            let crc = self.whole;
            if crc != wire {
                return Err(frame_error(format!(
                    "Arrow tunnel final CRC-32C mismatch: frame says {wire:#010x}, payload gives {crc:#010x}"
                )));
            }
            self.state = FrameState::Done;
        }
        self.frames += 1;
        self.payload_len += data_len as u64;
        self.pos = 0;
        self.end = data_len;
        Ok(())
    }
}

impl<R: Read> Read for FramedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.end {
            if self.state == FrameState::Done || buf.is_empty() {
                return Ok(0);
            }
            self.next_frame()?;
        }
        let n = buf.len().min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.frame[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Removes the framing from a whole body, verifying every CRC.
pub fn unframe(body: &[u8]) -> Result<Vec<u8>> {
    let mut r = FramedReader::new(body);
    let mut out = Vec::with_capacity(body.len());
    r.read_to_end(&mut out).map_err(map_io)?;
    Ok(out)
}

/// Frames `payload` with chunks of `chunk` bytes.
pub fn frame(payload: &[u8], chunk: u32) -> Vec<u8> {
    assert!(chunk > 0, "chunk size must be positive");
    let chunk_len = chunk as usize;
    let mut out = Vec::with_capacity(payload.len() + 8 + 4 * (payload.len() / chunk_len));
    out.extend_from_slice(&chunk.to_be_bytes());
    let mut rest = payload;
    while rest.len() >= chunk_len {
        let (data, tail) = rest.split_at(chunk_len);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc32c(data).to_be_bytes());
        rest = tail;
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(&crc32c(payload).to_be_bytes());
    out
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
pub struct ArrowFrameReader<R: Read> {
    inner: StreamReader<std::io::Chain<Cursor<Vec<u8>>, FramedReader<R>>>,
    schema: SchemaRef,
    done: bool,
}

impl<R: Read> std::fmt::Debug for ArrowFrameReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowFrameReader")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl<R: Read> ArrowFrameReader<R> {
    /// A reader of the framed body `input` (already decompressed) with batches of `schema`.
    pub fn new(input: R, schema: SchemaRef) -> Result<Self> {
        let prefix = Cursor::new(schema_message(&schema)?);
        let inner = StreamReader::try_new(prefix.chain(FramedReader::new(input)), None)
            .map_err(map_arrow)?;
        Ok(ArrowFrameReader {
            inner,
            schema,
            done: false,
        })
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// The framing layer (chunk size, frames verified).
    pub fn framing(&self) -> &FramedReader<R> {
        self.inner.get_ref().get_ref().1
    }
}

impl<R: Read> Iterator for ArrowFrameReader<R> {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.inner.next() {
            Some(Ok(batch)) => {
                if batch.schema_ref().fields() != self.schema.fields() {
                    self.done = true;
                    return Some(Err(Error::schema(
                        "Arrow tunnel batch does not match the session schema",
                    )));
                }
                Some(Ok(batch))
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(map_arrow(e)))
            }
            None => {
                self.done = true;
                // The IPC reader stops at an EOS marker or a clean EOF; make sure the framing
                // itself ended with its verified final frame (nothing may follow an EOS).
                let framing = &mut self.inner.get_mut().get_mut().1;
                let mut probe = [0u8; 1];
                match framing.read(&mut probe) {
                    Ok(0) => {}
                    Ok(_) => {
                        return Some(Err(Error::new(
                            ErrorKind::DataIntegrity,
                            "unexpected bytes after the Arrow end-of-stream marker",
                        )));
                    }
                    Err(e) => return Some(Err(map_io(e))),
                }
                if !framing.is_complete() {
                    return Some(Err(Error::new(
                        ErrorKind::DataIntegrity,
                        "Arrow tunnel body truncated",
                    )));
                }
                None
            }
        }
    }
}

/// Decodes a whole Arrow tunnel body.
pub fn decode_arrow(body: &[u8], schema: SchemaRef) -> Result<Vec<RecordBatch>> {
    ArrowFrameReader::new(body, schema)?.collect()
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
    use super::*;

    #[test]
    fn frame_round_trip_and_errors() {
        for len in [0usize, 1, 63, 64, 65, 128, 1000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let body = frame(&payload, 64);
            assert_eq!(unframe(&body).unwrap(), payload, "len {len}");
            let mut r = FramedReader::new(&body[..]);
            std::io::copy(&mut r, &mut std::io::sink()).unwrap();
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
