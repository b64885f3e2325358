//! Buffers of block bodies, given back when their upload is done with them. A block of tens
//! of MiB in a fresh allocation is mapped and unmapped by the allocator every time and costs
//! thousands of page faults, more than encoding its rows; a recycled buffer costs none.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Buffers kept for reuse: the blocks in flight and the one being filled.
const KEPT: usize = 8;

/// A pool shared by the sessions of one export; cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct BlockBuffers(Arc<Mutex<Vec<Vec<u8>>>>);

impl BlockBuffers {
    /// An empty buffer, with the capacity of one given back if there is one.
    pub fn take(&self) -> Vec<u8> {
        self.0.lock().expect("pool lock").pop().unwrap_or_default()
    }

    /// Keeps `buffer` for a later [`Self::take`], if the pool has room.
    pub fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut kept = self.0.lock().expect("pool lock");
        if kept.len() < KEPT && buffer.capacity() > 0 {
            kept.push(buffer);
        }
    }

    /// `buffer` as shared bytes that come back to the pool once their last clone is dropped
    /// (the upload and its retries done).
    pub fn bytes(&self, buffer: Vec<u8>) -> Bytes {
        Bytes::from_owner(Lent {
            buffer,
            pool: self.clone(),
        })
    }
}

/// A buffer lent out as [`Bytes`].
struct Lent {
    buffer: Vec<u8>,
    pool: BlockBuffers,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buffer));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_give_their_buffer_back_when_the_last_clone_goes() {
        let pool = BlockBuffers::default();
        let mut buffer = pool.take();
        buffer.extend_from_slice(&[1; 1000]);
        let address = buffer.as_ptr();
        let bytes = pool.bytes(buffer);
        let clone = bytes.clone();
        drop(bytes);
        assert_eq!(pool.take().capacity(), 0, "still lent");
        assert_eq!(&clone[..3], &[1, 1, 1]);
        drop(clone);
        let again = pool.take();
        assert!(again.is_empty() && again.capacity() >= 1000);
        assert_eq!(again.as_ptr(), address, "the same allocation");
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers() {
        let pool = BlockBuffers::default();
        for _ in 0..KEPT + 5 {
            pool.give(Vec::with_capacity(16));
        }
        assert_eq!(pool.0.lock().unwrap().len(), KEPT);
        pool.give(Vec::new());
        assert_eq!(pool.0.lock().unwrap().len(), KEPT);
    }
}
