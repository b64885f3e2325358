//! Failures a test scripts at run time. Every setter replaces what was set before (routed
//! faults: for that route); counted faults are used up one call at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::lock;
use crate::http::Wire;
use crate::routed::Routed;

/// Which answers a routed fault ([`Faults::wire`], [`Faults::http_errors`]) hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// API calls of this action (`task/create`, `task/info`, …); `""` for every call.
    Api(&'static str),
    /// ListObjectsType2 pages.
    TosList,
    /// GetObject answers (HeadObject answers are left alone).
    TosGet,
}

impl Route {
    /// Whether a fault set for `self` hits a call of API `action`.
    pub(crate) fn hits_api(&self, action: &str) -> bool {
        matches!(self, Route::Api(a) if a.is_empty() || *a == action)
    }
}

/// Scriptable failures, shared with the request handlers. All methods take `&self` and may be
/// called from any thread while requests are in flight.
#[derive(Debug, Default)]
pub struct Faults {
    fail_next: Mutex<Option<String>>,
    confirm_next: AtomicBool,
    quota: AtomicU32,
    server_errors: AtomicU32,
    /// Reads left to cut, and after how many body bytes.
    resets: Mutex<(u32, usize)>,
    truncate: AtomicBool,
    wrong_crc: AtomicBool,
    delay: Mutex<Duration>,
    wire: Routed<Route, Wire>,
    http_errors: Routed<Route, (u16, Option<u64>)>,
    wrong_listed_crc: AtomicU32,
    corrupt_reads: AtomicU32,
    /// Tasks created before the latest `expire_tasks` carry an older generation.
    task_generation: AtomicU64,
}

impl Faults {
    /// The next created task ends in `fail` (where it would have been `done`), with
    /// `process_info.err_msg` = `err_msg`.
    pub fn fail_next_task(&self, err_msg: &str) {
        *lock(&self.fail_next) = Some(err_msg.to_string());
    }

    /// The next created task stops in `confirm` until `task/update` sets it `confirmed`; then
    /// it runs on to `done`.
    pub fn confirm_next_task(&self) {
        self.confirm_next.store(true, Ordering::SeqCst);
    }

    /// The next `n` API calls (after authentication) answer code 1000029, HTTP 429.
    pub fn quota_errors(&self, n: u32) {
        self.quota.store(n, Ordering::SeqCst);
    }

    /// The next `n` TOS GetObject calls answer HTTP 503 with a TOS JSON error.
    pub fn server_errors(&self, n: u32) {
        self.server_errors.store(n, Ordering::SeqCst);
    }

    /// The next `n` GetObject answers send `after_bytes` of their body (at most all but the
    /// last byte, so the cut always bites), pause 100 ms so those bytes reach the client, and
    /// then drop the connection.
    pub fn reset_object_reads(&self, n: u32, after_bytes: usize) {
        *lock(&self.resets) = (n, after_bytes);
    }

    /// While on, objects created (export files, [`put_object`]) are stored with their last
    /// quarter cut off, while listings and HeadObject report the original size and CRC.
    ///
    /// [`put_object`]: super::VikingDbEmulator::put_object
    pub fn truncate_objects(&self, on: bool) {
        self.truncate.store(on, Ordering::SeqCst);
    }

    /// While on, listings, HeadObject and GetObject report a wrong CRC-64.
    pub fn wrong_crc(&self, on: bool) {
        self.wrong_crc.store(on, Ordering::SeqCst);
    }

    /// Every answer, API and TOS, waits this long first. Zero turns it off.
    pub fn delay(&self, d: Duration) {
        *lock(&self.delay) = d;
    }

    /// The next `n` answers on `route` arrive spoiled as `wire` says.
    pub fn wire(&self, route: Route, wire: Wire, n: u32) {
        self.wire.set(route, wire, n);
    }

    /// The next `n` answers on `route` are HTTP `status` errors, with `Retry-After: secs` when
    /// given: on TOS a TOS error (code by status: `SignatureDoesNotMatch` for 403,
    /// `TooManyRequests` for 429, `ServiceUnavailable` for 503, `InternalError` otherwise); on
    /// the API a plain-text answer, as the gateway in front of VikingDB gives, without the V1
    /// envelope (the service's own codes are [`Self::quota_errors`] and the task faults).
    pub fn http_errors(&self, route: Route, status: u16, retry_after: Option<u64>, n: u32) {
        self.http_errors.set(route, (status, retry_after), n);
    }

    /// The next `n` listing pages state a wrong CRC-64 for every object on them (HeadObject
    /// and GetObject keep stating the right one).
    pub fn wrong_listed_crc(&self, n: u32) {
        self.wrong_listed_crc.store(n, Ordering::SeqCst);
    }

    /// The next `n` GetObject bodies arrive with the low bit of their first byte flipped,
    /// while every CRC-64 stated stays that of the stored object.
    pub fn corrupt_object_reads(&self, n: u32) {
        self.corrupt_reads.store(n, Ordering::SeqCst);
    }

    /// Every task created so far is forgotten, as VikingDB forgets old tasks: `task/info`,
    /// `task/update` and `task/drop` answer 1000035 for it and `task/list` leaves it out. Its
    /// files stay in the bucket. Tasks created afterwards are unaffected.
    pub fn expire_tasks(&self) {
        self.task_generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The spoiling due to the next answer on a route `hits` accepts, if any.
    pub(crate) fn take_wire(&self, hits: impl Fn(&Route) -> bool) -> Option<Wire> {
        self.wire.take(hits)
    }

    pub(crate) fn take_http_error(
        &self,
        hits: impl Fn(&Route) -> bool,
    ) -> Option<(u16, Option<u64>)> {
        self.http_errors.take(hits)
    }

    pub(crate) fn take_wrong_listed_crc(&self) -> bool {
        take(&self.wrong_listed_crc)
    }

    pub(crate) fn take_corrupt_read(&self) -> bool {
        take(&self.corrupt_reads)
    }

    pub(crate) fn task_generation(&self) -> u64 {
        self.task_generation.load(Ordering::SeqCst)
    }

    pub(crate) fn take_fail(&self) -> Option<String> {
        lock(&self.fail_next).take()
    }

    pub(crate) fn take_confirm(&self) -> bool {
        self.confirm_next.swap(false, Ordering::SeqCst)
    }

    pub(crate) fn take_quota_error(&self) -> bool {
        take(&self.quota)
    }

    pub(crate) fn take_server_error(&self) -> bool {
        take(&self.server_errors)
    }

    /// After how many bytes to cut this read, if it is to be cut.
    pub(crate) fn take_reset(&self) -> Option<usize> {
        let mut resets = lock(&self.resets);
        (resets.0 > 0).then(|| {
            resets.0 -= 1;
            resets.1
        })
    }

    pub(crate) fn truncating(&self) -> bool {
        self.truncate.load(Ordering::SeqCst)
    }

    pub(crate) fn crc_is_wrong(&self) -> bool {
        self.wrong_crc.load(Ordering::SeqCst)
    }

    pub(crate) fn current_delay(&self) -> Duration {
        *lock(&self.delay)
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
    fn counted_faults_are_used_up_one_at_a_time() {
        let faults = Faults::default();
        assert!(!faults.take_quota_error());
        faults.quota_errors(2);
        assert!(faults.take_quota_error());
        assert!(faults.take_quota_error());
        assert!(!faults.take_quota_error());
        faults.reset_object_reads(1, 10);
        assert_eq!(faults.take_reset(), Some(10));
        assert_eq!(faults.take_reset(), None);
        faults.fail_next_task("boom");
        assert_eq!(faults.take_fail().as_deref(), Some("boom"));
        assert_eq!(faults.take_fail(), None);
        faults.confirm_next_task();
        assert!(faults.take_confirm());
        assert!(!faults.take_confirm());
        faults.corrupt_object_reads(1);
        assert!(faults.take_corrupt_read());
        assert!(!faults.take_corrupt_read());
    }

    #[test]
    fn routed_faults_hit_their_route_only() {
        let faults = Faults::default();
        faults.wire(Route::Api("task/info"), Wire::Reset, 1);
        faults.http_errors(Route::Api(""), 503, None, 2);
        let api = |action| move |r: &Route| r.hits_api(action);
        assert_eq!(faults.take_wire(api("task/create")), None);
        assert_eq!(faults.take_wire(api("task/info")), Some(Wire::Reset));
        assert_eq!(faults.take_wire(api("task/info")), None);
        assert_eq!(faults.take_http_error(|r| *r == Route::TosGet), None);
        assert!(faults.take_http_error(api("task/info")).is_some());
        assert!(faults.take_http_error(api("collection/info")).is_some());
        assert_eq!(faults.take_http_error(api("task/info")), None);
    }
}
