//! The tunnel's Arrow bodies (spec §3.2): Arrow IPC RecordBatch messages only (no schema, no
//! EOS; the client prepends the schema it derives from the session), cut into CRC-framed
//! chunks: `u32be(CHUNK)`, then every full chunk followed by `u32be(crc32c(chunk))`, then the
//! short (possibly empty) rest followed by `u32be(crc32c(all payload bytes))`.

use arrow::array::RecordBatch;
use arrow::ipc::writer::{
    DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, write_message,
};

use crate::http::BoxError;

/// The chunk size PyODPS and Java both write and the emulator serves.
pub(crate) const CHUNK: usize = 65536;

/// Cuts a payload, written in pieces of any size, into frames.
pub(crate) struct Framer {
    chunk: usize,
    /// Payload bytes not yet framed: always less than one chunk between calls.
    pending: Vec<u8>,
    /// CRC32C of the payload framed so far, for the last frame.
    total: u32,
    started: bool,
    /// Flip a byte of the first frame after its CRC is taken (the corrupt-data fault).
    corrupt: bool,
}

impl Framer {
    pub(crate) fn new(chunk: usize, corrupt: bool) -> Self {
        Framer {
            chunk,
            pending: Vec::with_capacity(chunk),
            total: 0,
            started: false,
            corrupt,
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        self.start(out);
        while !data.is_empty() {
            let take = (self.chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == self.chunk {
                // Hardware CRC32C: the emulator must not be the bottleneck of the benchmarks
                // that measure clients against it.
                let crc = crc32c::crc32c(&self.pending);
                self.total = crc32c::crc32c_append(self.total, &self.pending);
                self.emit(out);
                out.extend_from_slice(&crc.to_be_bytes());
            }
        }
    }

    /// The last frame: the rest and the CRC of everything.
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) {
        self.start(out);
        let crc = crc32c::crc32c_append(self.total, &self.pending);
        self.emit(out);
        out.extend_from_slice(&crc.to_be_bytes());
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&(self.chunk as u32).to_be_bytes());
            self.started = true;
        }
    }

    /// Moves the pending bytes to `out`, corrupted if this is the frame to corrupt.
    fn emit(&mut self, out: &mut Vec<u8>) {
        let at = out.len();
        out.append(&mut self.pending);
        if self.corrupt && out.len() > at {
            let middle = at + (out.len() - at) / 2;
            out[middle] ^= 1;
            self.corrupt = false;
        }
    }
}

/// Encodes batches as framed IPC messages.
pub(crate) struct ArrowEncoder {
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    options: IpcWriteOptions,
    context: IpcWriteContext,
    framer: Framer,
}

impl ArrowEncoder {
    pub(crate) fn new(corrupt: bool) -> Self {
        ArrowEncoder {
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(false),
            options: IpcWriteOptions::default(),
            context: IpcWriteContext::default(),
            framer: Framer::new(CHUNK, corrupt),
        }
    }

    pub(crate) fn encode(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<u8>,
    ) -> Result<(), BoxError> {
        let (_, message) =
            self.generator
                .encode(batch, &mut self.tracker, &self.options, &mut self.context)?;
        let mut bytes =
            Vec::with_capacity(message.ipc_message.len() + message.arrow_data.len() + 16);
        write_message(&mut bytes, message, &self.options)?;
        self.framer.push(&bytes, out);
        Ok(())
    }

    pub(crate) fn finish(self, out: &mut Vec<u8>) {
        self.framer.finish(out);
    }
}
