//! Failures a test scripts at run time. Every setter replaces what was set before (routed
//! faults: for that route); counted faults are used up one request at a time. The download
//! faults apply to data requests (`GET ?data`) only, so sessions can still be created and
//! reloaded around them; the upload faults to block uploads (`block_errors`, the block
//! faults, [`Route::Upload`]) and commits (`commit_conflicts`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::lock;
use crate::http::Wire;
use crate::routed::Routed;

/// Which answers a routed fault ([`Faults::wire`], [`Faults::http_errors`]) hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Every meta API request.
    Meta,
    /// Tunnel data requests (`GET ?data`).
    Download,
    /// Tunnel block uploads (`PUT ?uploadid=&blockid=`); a block spoiled on the way back was
    /// stored all the same.
    Upload,
}

/// Scriptable failures, shared with the request handlers. All methods take `&self` and may be
/// called from any thread while requests are in flight.
#[derive(Debug, Default)]
pub struct Faults {
    server_errors: AtomicU32,
    flow_exceeded: AtomicU32,
    /// Bodies left to cut, and after how many bytes.
    resets: Mutex<(u32, usize)>,
    corrupt: AtomicU32,
    short: AtomicU32,
    /// Sessions created before the latest `expire_sessions` carry an older generation.
    generation: AtomicU64,
    /// Upload sessions created before the latest `expire_upload_sessions` carry an older one.
    upload_generation: AtomicU64,
    delay: Mutex<Duration>,
    meta_server_errors: AtomicU32,
    block_errors: AtomicU32,
    commit_conflicts: AtomicU32,
    wire: Routed<Route, Wire>,
    http_errors: Routed<Route, (u16, Option<u64>)>,
    corrupt_blocks: AtomicU32,
    truncate_blocks: AtomicU32,
}

impl Faults {
    /// The next `n` data requests answer HTTP 500 `InternalServerError`.
    pub fn server_errors(&self, n: u32) {
        self.server_errors.store(n, Ordering::SeqCst);
    }

    /// The next `n` data requests answer HTTP 429 `FlowExceeded`.
    pub fn flow_exceeded(&self, n: u32) {
        self.flow_exceeded.store(n, Ordering::SeqCst);
    }

    /// The next `n` data bodies send `after_bytes` bytes (at most all but the last byte, so
    /// the cut always bites), pause 100 ms so those bytes reach the client, and then drop the
    /// connection.
    pub fn reset_data(&self, n: u32, after_bytes: usize) {
        *lock(&self.resets) = (n, after_bytes);
    }

    /// The next `n` data bodies have one bit flipped inside: in the record format a value of
    /// the first record (its CRC no longer matches), in Arrow a byte of the first frame (its
    /// frame CRC no longer matches). The body is otherwise well formed.
    pub fn corrupt_data(&self, n: u32) {
        self.corrupt.store(n, Ordering::SeqCst);
    }

    /// The next `n` data bodies hold only the first half of the rows asked for (rounded
    /// down), with a footer (record format) that is correct for what they hold.
    pub fn short_data(&self, n: u32) {
        self.short.store(n, Ordering::SeqCst);
    }

    /// Every session (download or upload) created so far expires: any request naming it
    /// answers HTTP 409
    /// `StatusConflict`. Sessions created afterwards are unaffected.
    pub fn expire_sessions(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Every upload session created so far expires (download sessions do not): any request
    /// naming it answers HTTP 409 `StatusConflict`, and its blocks are never committed.
    pub fn expire_upload_sessions(&self) {
        self.upload_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Every tunnel answer waits this long first. Zero turns it off.
    pub fn delay(&self, d: Duration) {
        *lock(&self.delay) = d;
    }

    /// The next `n` block uploads (to a live session, with a valid block id) answer HTTP 500
    /// `InternalServerError` after reading the body; the block is not stored.
    pub fn block_errors(&self, n: u32) {
        self.block_errors.store(n, Ordering::SeqCst);
    }

    /// The next `n` commits (of live sessions) answer HTTP 409 `StatusConflict` without
    /// committing; the session stays open, so a later commit can still succeed.
    pub fn commit_conflicts(&self, n: u32) {
        self.commit_conflicts.store(n, Ordering::SeqCst);
    }

    /// The next `n` answers on `route` arrive spoiled as `wire` says.
    pub fn wire(&self, route: Route, wire: Wire, n: u32) {
        self.wire.set(route, wire, n);
    }

    /// The next `n` requests on `route` answer HTTP `status` in the service's own error shape
    /// (XML on the meta API, JSON on the tunnel) with the code the status stands for
    /// (`SignatureNotMatch` for 401, `FlowExceeded` for 429, `ServiceUnavailable` for 502 to
    /// 504, …), and `Retry-After: secs` when given. Nothing is done on the server.
    pub fn http_errors(&self, route: Route, status: u16, retry_after: Option<u64>, n: u32) {
        self.http_errors.set(route, (status, retry_after), n);
    }

    /// The next `n` block uploads arrive with one bit flipped in the middle of their body, as
    /// a corrupting link delivers them: the tunnel refuses them as `CorruptedDataStream`.
    pub fn corrupt_blocks(&self, n: u32) {
        self.corrupt_blocks.store(n, Ordering::SeqCst);
    }

    /// The next `n` block uploads arrive with only the first half of their body, framed as
    /// if it were all of it: the tunnel refuses them as `CorruptedDataStream`.
    pub fn truncate_blocks(&self, n: u32) {
        self.truncate_blocks.store(n, Ordering::SeqCst);
    }

    pub(crate) fn take_wire(&self, at: Route) -> Option<Wire> {
        self.wire.take(|r| *r == at)
    }

    pub(crate) fn take_http_error(&self, at: Route) -> Option<(u16, Option<u64>)> {
        self.http_errors.take(|r| *r == at)
    }

    /// A block body as the link delivers it: flipped or cut by the block faults.
    pub(crate) fn damage_block(&self, body: &bytes::Bytes) -> bytes::Bytes {
        if take(&self.truncate_blocks) {
            return body.slice(..body.len() / 2);
        }
        if take(&self.corrupt_blocks) && !body.is_empty() {
            let mut flipped = body.to_vec();
            flipped[body.len() / 2] ^= 1;
            return flipped.into();
        }
        body.clone()
    }

    pub(crate) fn take_block_error(&self) -> bool {
        take(&self.block_errors)
    }

    pub(crate) fn take_commit_conflict(&self) -> bool {
        take(&self.commit_conflicts)
    }

    /// The next `n` meta API requests (after authentication) answer HTTP 503.
    pub fn meta_server_errors(&self, n: u32) {
        self.meta_server_errors.store(n, Ordering::SeqCst);
    }

    pub(crate) fn take_server_error(&self) -> bool {
        take(&self.server_errors)
    }

    pub(crate) fn take_flow_exceeded(&self) -> bool {
        take(&self.flow_exceeded)
    }

    /// After how many bytes to cut this body, if it is to be cut.
    pub(crate) fn take_reset(&self) -> Option<usize> {
        let mut resets = lock(&self.resets);
        (resets.0 > 0).then(|| {
            resets.0 -= 1;
            resets.1
        })
    }

    pub(crate) fn take_corrupt(&self) -> bool {
        take(&self.corrupt)
    }

    pub(crate) fn take_short(&self) -> bool {
        take(&self.short)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The generations an upload session is created in: of all sessions, of upload sessions.
    pub(crate) fn generations(&self) -> (u64, u64) {
        (
            self.generation.load(Ordering::SeqCst),
            self.upload_generation.load(Ordering::SeqCst),
        )
    }

    pub(crate) fn current_delay(&self) -> Duration {
        *lock(&self.delay)
    }

    pub(crate) fn take_meta_server_error(&self) -> bool {
        take(&self.meta_server_errors)
    }
}

/// The error code a scripted HTTP `status` answers with, on either service.
pub(crate) fn error_code(status: u16) -> &'static str {
    match status {
        400 => "InvalidArgument",
        401 => "SignatureNotMatch",
        403 => "NoPermission",
        404 => "NoSuchObject",
        409 => "StatusConflict",
        429 => "FlowExceeded",
        502..=504 => "ServiceUnavailable",
        _ => "InternalServerError",
    }
}

/// Uses up one of a counted fault, if any is left.
fn take(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_and_block_faults_are_used_up_one_at_a_time() {
        let faults = Faults::default();
        faults.wire(Route::Upload, Wire::Reset, 1);
        assert_eq!(faults.take_wire(Route::Download), None);
        assert_eq!(faults.take_wire(Route::Upload), Some(Wire::Reset));
        assert_eq!(faults.take_wire(Route::Upload), None);
        faults.http_errors(Route::Meta, 429, Some(1), 1);
        assert_eq!(faults.take_http_error(Route::Meta), Some((429, Some(1))));
        assert_eq!(faults.take_http_error(Route::Meta), None);
        let block = bytes::Bytes::from_static(b"abcd");
        faults.truncate_blocks(1);
        faults.corrupt_blocks(1);
        assert_eq!(&faults.damage_block(&block)[..], b"ab");
        assert_eq!(&faults.damage_block(&block)[..], b"abbd");
        assert_eq!(faults.damage_block(&block), block);
    }
}
