//! Writing into upload sessions: rows encoded into blocks (Arrow framing or the record stream,
//! optionally compressed), blocks uploaded in parallel and retried whole, and a commit only
//! after the server's block list matches ours.

use std::collections::BTreeSet;

use arrow::array::RecordBatch;
use arrow::ipc::writer::{
    DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, write_message,
};
use arrowport_core::{Context, Error, ErrorKind, Result};
use bytes::Bytes;
use tokio::task::JoinSet;

use crate::NAME;
use crate::arrow_frame::{DEFAULT_CHUNK_SIZE, FrameWriter};
use crate::block_buffers::BlockBuffers;
use crate::client::{BlockRequest, Client, UploadTarget};
use crate::compress::Compression;
use crate::config::Format;
use crate::partition::PartitionSpec;
use crate::record::RecordEncoder;
use crate::types::Column;

/// Block ids the tunnel accepts: 0 to 19999.
pub const MAX_BLOCKS: u32 = 20_000;

/// Bytes at which a session's first block is sealed; each next one may hold twice as much, up
/// to `block_bytes`. Small first blocks start the uploads (and the server's work) while the
/// input is still being read; large later ones keep a big upload to few blocks.
const FIRST_BLOCK_BYTES: usize = 4 << 20;

/// The IPC writer state of an Arrow block.
struct ArrowBlock {
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    options: IpcWriteOptions,
    context: IpcWriteContext,
    /// IPC record batch messages, framed as they are written (no schema message, no end
    /// marker: the block is exactly what PyODPS writes).
    frames: FrameWriter,
}

/// Encodes rows of one block, into buffers of the pool.
enum BlockEncoder {
    Arrow(Box<ArrowBlock>),
    Record {
        encoder: RecordEncoder,
        stream: Vec<u8>,
    },
}

impl BlockEncoder {
    fn new(format: Format, columns: &[Column], buffers: &BlockBuffers) -> Self {
        match format {
            Format::Arrow => BlockEncoder::Arrow(Box::new(ArrowBlock {
                generator: IpcDataGenerator::default(),
                tracker: DictionaryTracker::new(false),
                options: IpcWriteOptions::default(),
                context: IpcWriteContext::default(),
                frames: FrameWriter::new(buffers.take(), DEFAULT_CHUNK_SIZE),
            })),
            Format::Record => BlockEncoder::Record {
                encoder: RecordEncoder::new(columns),
                stream: buffers.take(),
            },
        }
    }

    fn len(&self) -> usize {
        match self {
            BlockEncoder::Arrow(a) => a.frames.payload_len(),
            BlockEncoder::Record { stream, .. } => stream.len(),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            BlockEncoder::Arrow(a) => {
                let err = |e: arrow::error::ArrowError| {
                    Error::schema(format!("{NAME}: cannot encode an Arrow block: {e}"))
                };
                let (_, message) = a
                    .generator
                    .encode(batch, &mut a.tracker, &a.options, &mut a.context)
                    .map_err(err)?;
                write_message(&mut a.frames, message, &a.options).map_err(err)?;
                Ok(())
            }
            BlockEncoder::Record { encoder, stream } => encoder.encode_batch(stream, batch),
        }
    }

    /// The finished block body (framed, or with the record stream's footer); the encoder
    /// starts over in the next buffer of the pool.
    fn take(&mut self, buffers: &BlockBuffers) -> Vec<u8> {
        match self {
            BlockEncoder::Arrow(a) => {
                let next = FrameWriter::new(buffers.take(), DEFAULT_CHUNK_SIZE);
                std::mem::replace(&mut a.frames, next).finish()
            }
            BlockEncoder::Record { encoder, stream } => {
                encoder.finish(stream);
                std::mem::replace(stream, buffers.take())
            }
        }
    }
}

/// Shared by every session of one export.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    pub client: Client,
    pub table: String,
    pub format: Format,
    pub compression: Compression,
    pub overwrite: bool,
    pub create_partition: bool,
    /// Encoded bytes at which a block is sealed.
    pub block_bytes: usize,
    /// Block uploads in flight, across sessions.
    pub parallelism: usize,
    pub buffers: BlockBuffers,
}

/// One upload session (the table's, or one partition's) and the block being filled.
pub struct SessionWriter {
    pub partition: Option<PartitionSpec>,
    id: String,
    encoder: BlockEncoder,
    rows_in_block: u64,
    next_block: u32,
    /// The last block id this writer may use.
    last_block: u32,
    /// Blocks handed to the uploader.
    sealed: BTreeSet<u32>,
}

impl SessionWriter {
    /// Opens the upload session.
    pub async fn open(
        settings: &UploadSettings,
        partition: Option<PartitionSpec>,
        columns: &[Column],
        cx: &Context,
    ) -> Result<Self> {
        let target = UploadTarget {
            partition: partition.as_ref(),
            overwrite: settings.overwrite,
            create_partition: settings.create_partition,
        };
        let info = settings
            .client
            .create_upload(&settings.table, &target, cx)
            .await?;
        Ok(SessionWriter::attach(
            settings,
            partition,
            columns,
            info.id,
            0..=MAX_BLOCKS - 1,
        ))
    }

    /// Writes into an existing session `id`, with block ids from `blocks` only. Pure: the
    /// caller has checked the session.
    pub fn attach(
        settings: &UploadSettings,
        partition: Option<PartitionSpec>,
        columns: &[Column],
        id: String,
        blocks: std::ops::RangeInclusive<u32>,
    ) -> Self {
        SessionWriter {
            partition,
            id,
            encoder: BlockEncoder::new(settings.format, columns, &settings.buffers),
            rows_in_block: 0,
            next_block: *blocks.start(),
            last_block: *blocks.end(),
            sealed: BTreeSet::new(),
        }
    }

    /// The blocks sealed so far.
    pub fn sealed(&self) -> &BTreeSet<u32> {
        &self.sealed
    }

    /// A block of no rows with id `block_id`: a shared session's claim, or the replacement of
    /// a block an earlier run left.
    pub fn empty_block(&self, settings: &UploadSettings, block_id: u32) -> Result<Block> {
        let none = BlockBuffers::default();
        let raw = BlockEncoder::new(settings.format, &[], &none).take(&none);
        Ok(Block {
            upload_id: self.id.clone(),
            partition: self.partition.clone(),
            block_id,
            body: compress(settings, raw)?,
        })
    }

    /// Bytes encoded into the block being filled.
    pub fn pending_bytes(&self) -> usize {
        self.encoder.len()
    }

    /// Encodes `batch` (in the table's wire schema); returns a sealed block once it is full.
    pub fn write(
        &mut self,
        batch: &RecordBatch,
        settings: &UploadSettings,
    ) -> Result<Option<Block>> {
        self.encoder.write(batch)?;
        self.rows_in_block += batch.num_rows() as u64;
        if self.encoder.len() >= block_limit(self.sealed.len(), settings.block_bytes) {
            return self.seal(settings).map(Some);
        }
        Ok(None)
    }

    /// Seals the block being filled, if it holds rows.
    pub fn flush(&mut self, settings: &UploadSettings) -> Result<Option<Block>> {
        if self.rows_in_block == 0 {
            return Ok(None);
        }
        self.seal(settings).map(Some)
    }

    fn seal(&mut self, settings: &UploadSettings) -> Result<Block> {
        if self.next_block > self.last_block {
            let room = if self.last_block == MAX_BLOCKS - 1 {
                format!("an upload session holds at most {MAX_BLOCKS} blocks")
            } else {
                format!("the block ids given end at {}", self.last_block)
            };
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{NAME}: {room}; raise `block_bytes` (now {})",
                    settings.block_bytes
                ),
            ));
        }
        let raw = self.encoder.take(&settings.buffers);
        let block = Block {
            upload_id: self.id.clone(),
            partition: self.partition.clone(),
            block_id: self.next_block,
            body: compress(settings, raw)?,
        };
        self.sealed.insert(self.next_block);
        self.next_block += 1;
        self.rows_in_block = 0;
        Ok(block)
    }

    /// Checks that the server holds exactly the blocks we uploaded.
    pub async fn verify(&self, settings: &UploadSettings, cx: &Context) -> Result<()> {
        let status = settings
            .client
            .upload_status(&settings.table, self.partition.as_ref(), &self.id, cx)
            .await?;
        let held: BTreeSet<u32> = status.blocks.iter().copied().collect();
        if held != self.sealed {
            return Err(Error::new(
                ErrorKind::DataIntegrity,
                format!(
                    "{NAME}: upload session {} holds blocks {held:?}, arrowport uploaded {:?}; \
                     not committed",
                    self.id, self.sealed
                ),
            )
            .with_context("upload_id", &self.id));
        }
        Ok(())
    }

    /// Commits the session, once: its blocks become visible together.
    pub async fn commit(&self, settings: &UploadSettings, cx: &Context) -> Result<()> {
        settings
            .client
            .commit_upload(&settings.table, self.partition.as_ref(), &self.id, cx)
            .await
    }
}

/// Bytes at which a session's block is sealed, after `sealed` blocks.
fn block_limit(sealed: usize, block_bytes: usize) -> usize {
    let doublings = sealed.min(16) as u32;
    FIRST_BLOCK_BYTES
        .saturating_mul(1 << doublings)
        .min(block_bytes)
}

/// The body of a block, its encoded bytes compressed as configured; the encoded buffer goes
/// back to the pool once uploaded (or at once, if compressing made another).
fn compress(settings: &UploadSettings, raw: Vec<u8>) -> Result<Bytes> {
    match settings.compression {
        Compression::None => Ok(settings.buffers.bytes(raw)),
        c => {
            let body = c.compress(&raw);
            settings.buffers.give(raw);
            body.map(Bytes::from)
        }
    }
}

/// A sealed block, ready to upload.
#[derive(Debug, Clone)]
pub struct Block {
    upload_id: String,
    partition: Option<PartitionSpec>,
    block_id: u32,
    body: Bytes,
}

/// Block uploads in flight, at most `parallelism` at once; dropping it aborts them.
pub struct Uploads {
    tasks: JoinSet<Result<u64>>,
    limit: usize,
    /// Compressed bytes uploaded.
    pub bytes: u64,
}

impl Uploads {
    pub fn new(limit: usize) -> Self {
        Uploads {
            tasks: JoinSet::new(),
            limit: limit.max(1),
            bytes: 0,
        }
    }

    /// Starts uploading `block`, first waiting for a slot.
    pub async fn start(
        &mut self,
        block: Block,
        settings: &UploadSettings,
        cx: &Context,
    ) -> Result<()> {
        while self.tasks.len() >= self.limit {
            self.join_one().await?;
        }
        let client = settings.client.clone();
        let table = settings.table.clone();
        let format = settings.format;
        let encoding = match format {
            Format::Arrow => settings.compression.arrow_content_encoding(),
            Format::Record => settings.compression.content_encoding(),
        };
        let cx = cx.clone();
        self.tasks.spawn(async move {
            let request = BlockRequest {
                upload_id: &block.upload_id,
                block_id: block.block_id,
                partition: block.partition.as_ref(),
                format,
                body: block.body.clone(),
                content_encoding: encoding,
            };
            client.put_block(&table, &request, &cx).await?;
            Ok(block.body.len() as u64)
        });
        Ok(())
    }

    /// Waits for every upload; the first failure is returned.
    pub async fn finish(&mut self) -> Result<()> {
        while !self.tasks.is_empty() {
            self.join_one().await?;
        }
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.tasks.join_next().await {
            Some(Ok(result)) => {
                self.bytes += result?;
                Ok(())
            }
            Some(Err(e)) => Err(Error::new(
                ErrorKind::Unexpected,
                format!("{NAME}: a block upload task failed: {e}"),
            )),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;
    use crate::arrow_frame::ArrowFrameReader;
    use crate::record::{ReadOptions, RecordReader};
    use crate::types::{TypeMapping, arrow_schema};

    #[test]
    fn blocks_start_small_and_double_up_to_block_bytes() {
        let limits: Vec<usize> = (0..6).map(|n| block_limit(n, 32 << 20)).collect();
        assert_eq!(
            limits,
            [4 << 20, 8 << 20, 16 << 20, 32 << 20, 32 << 20, 32 << 20]
        );
        assert_eq!(block_limit(0, 1 << 20), 1 << 20);
        assert_eq!(block_limit(19_999, 1 << 30), 1 << 30);
    }

    /// Blocks decode, with every CRC checked, to exactly the rows encoded, in both formats —
    /// and an encoder starts a fresh, self-contained stream after each block.
    #[test]
    fn blocks_are_complete_self_checked_streams() {
        let columns = vec![
            Column::new("id", "bigint").unwrap(),
            Column::new("name", "string").unwrap(),
        ];
        let schema = Arc::new(arrow_schema(&columns, &TypeMapping::default()).unwrap());
        let batch = |from: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(from..from + 100)) as ArrayRef,
                    Arc::new(StringArray::from_iter(
                        (0..100).map(|i| (i % 3 != 0).then(|| format!("n{i}"))),
                    )),
                ],
            )
            .unwrap()
        };
        for format in [Format::Arrow, Format::Record] {
            // Each round's block is given back, so the later rounds encode into a used buffer.
            let buffers = BlockBuffers::default();
            let mut encoder = BlockEncoder::new(format, &columns, &buffers);
            let mut last = Bytes::new();
            for round in 0..3 {
                drop(last);
                encoder.write(&batch(round * 1000)).unwrap();
                encoder.write(&batch(round * 1000 + 100)).unwrap();
                let body = buffers.bytes(encoder.take(&buffers));
                assert_eq!(encoder.len(), 0);
                let decoded: Vec<RecordBatch> = match format {
                    Format::Arrow => ArrowFrameReader::new(&body[..], schema.clone(), body.len())
                        .unwrap()
                        .collect::<Result<_>>()
                        .unwrap(),
                    Format::Record => {
                        RecordReader::new(&body[..], &columns, &ReadOptions::default())
                            .unwrap()
                            .collect::<Result<_>>()
                            .unwrap()
                    }
                };
                let all = arrow::compute::concat_batches(&schema, &decoded).unwrap();
                let want = arrow::compute::concat_batches(
                    &schema,
                    &[batch(round * 1000), batch(round * 1000 + 100)],
                )
                .unwrap();
                assert_eq!(all, want, "{format:?} round {round}");
                last = body;
            }
        }
    }
}
