//! Failures a test scripts at run time. Every setter replaces what was set before; counted
//! faults are used up one call at a time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use super::lock;

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
    }
}
