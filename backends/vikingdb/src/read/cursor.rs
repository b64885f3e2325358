//! Reads one object front to back in ranged pieces, checksumming every byte in order, so the
//! whole object's size and CRC-64 are verified even though it is never held in memory whole.

use arrowport_core::{Context, Result};
use bytes::{Bytes, BytesMut};

use crate::crc64::Crc64;
use crate::tos::{ObjectInfo, TosClient, crc_mismatch};

#[derive(Debug)]
pub(crate) struct ObjectCursor {
    tos: TosClient,
    bucket: String,
    object: ObjectInfo,
    /// Every byte before this offset went through `crc`.
    pos: u64,
    crc: Crc64,
    /// The object's last bytes, fetched early (a Parquet footer) and reused at the end.
    tail: Option<(u64, Bytes)>,
    /// The latest reads' buffers, each refilled by a later read once its readers dropped it:
    /// a fresh multi-megabyte buffer per row group costs a page fault per 4 KiB.
    spares: Vec<Bytes>,
    /// How many buffers to keep: as many as may be in use at once (row groups decoding).
    keep: usize,
}

impl ObjectCursor {
    pub(crate) fn new(tos: TosClient, bucket: String, object: ObjectInfo) -> Self {
        ObjectCursor {
            tos,
            bucket,
            object,
            pos: 0,
            crc: Crc64::new(),
            tail: None,
            spares: Vec::new(),
            keep: 1,
        }
    }

    /// Keeps the buffers of the last `n` reads for reuse, for a reader that holds up to `n`
    /// of them at once.
    pub(crate) fn keep_buffers(&mut self, n: usize) {
        self.keep = n.max(1);
    }

    pub(crate) fn key(&self) -> &str {
        &self.object.key
    }

    pub(crate) fn size(&self) -> u64 {
        self.object.size
    }

    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// The last `len` bytes, kept for [`Self::read_to`] to reuse instead of fetching twice.
    pub(crate) async fn read_tail(&mut self, len: u64, cx: &Context) -> Result<Bytes> {
        let start = self.object.size - len.min(self.object.size);
        if let Some((have, bytes)) = &self.tail
            && *have <= start
        {
            return Ok(bytes.slice((start - have) as usize..));
        }
        let bytes = self
            .fetch(start..self.object.size, BytesMut::new(), cx)
            .await?;
        self.tail = Some((start, bytes.clone()));
        Ok(bytes)
    }

    /// Bytes from the current position up to `end`, checksummed.
    pub(crate) async fn read_to(&mut self, end: u64, cx: &Context) -> Result<Bytes> {
        let end = end.min(self.object.size);
        if end <= self.pos {
            return Ok(Bytes::new());
        }
        let bytes = match self.tail.clone() {
            Some((tail_start, tail)) if end > tail_start => {
                let cached = tail.slice(
                    (self.pos.max(tail_start) - tail_start) as usize..(end - tail_start) as usize,
                );
                if self.pos >= tail_start {
                    cached
                } else {
                    let head = self
                        .fetch(self.pos..tail_start, BytesMut::new(), cx)
                        .await?;
                    let mut joined = BytesMut::from(&head[..]);
                    joined.extend_from_slice(&cached);
                    joined.freeze()
                }
            }
            _ => {
                let reused = self.free_buffer().unwrap_or_default();
                let bytes = self.fetch(self.pos..end, reused, cx).await?;
                if self.spares.len() >= self.keep {
                    self.spares.remove(0);
                }
                self.spares.push(bytes.clone());
                bytes
            }
        };
        self.crc.update(&bytes);
        self.pos = end;
        Ok(bytes)
    }

    /// A kept buffer that no reader holds any more.
    fn free_buffer(&mut self) -> Option<BytesMut> {
        let free = self.spares.iter().position(Bytes::is_unique)?;
        self.spares.swap_remove(free).try_into_mut().ok()
    }

    /// Reads whatever is left and checks the CRC-64 the listing (or HeadObject) states.
    pub(crate) async fn finish(mut self, cx: &Context) -> Result<()> {
        while self.pos < self.object.size {
            let end = (self.pos + super::CHUNK).min(self.object.size);
            self.read_to(end, cx).await?;
        }
        let expected = match self.object.crc64 {
            Some(crc) => Some(crc),
            None => {
                self.tos
                    .head(&self.bucket, &self.object.key, cx)
                    .await?
                    .crc64
            }
        };
        match expected {
            Some(expected) if expected != self.crc.finish() => {
                Err(crc_mismatch(&self.object.key, expected, self.crc.finish()))
            }
            Some(_) => Ok(()),
            None => {
                cx.warn(format!(
                    "TOS states no CRC-64 for `{}`; only its size was checked",
                    self.object.key
                ));
                Ok(())
            }
        }
    }

    async fn fetch(
        &self,
        range: std::ops::Range<u64>,
        buf: BytesMut,
        cx: &Context,
    ) -> Result<Bytes> {
        self.tos
            .get_range(&self.bucket, &self.object.key, range, buf, cx)
            .await
    }
}
