//! Counted faults scripted per route, for the emulators' `Faults`: each entry says which
//! answers it hits, what to do to them and how many are left.

use std::sync::{Mutex, PoisonError};

/// Entries of one kind of fault, keyed by route `R`, carrying `T`.
#[derive(Debug)]
pub(crate) struct Routed<R, T>(Mutex<Vec<(R, T, u32)>>);

impl<R, T> Default for Routed<R, T> {
    fn default() -> Self {
        Routed(Mutex::new(Vec::new()))
    }
}

impl<R: PartialEq, T: Clone> Routed<R, T> {
    /// The next `n` answers on `route` get `what`, replacing what was set for that route.
    pub(crate) fn set(&self, route: R, what: T, n: u32) {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|(r, _, _)| *r != route);
        if n > 0 {
            entries.push((route, what, n));
        }
    }

    /// Uses up one answer of the first entry whose route `hits`, if any is left.
    pub(crate) fn take(&self, hits: impl Fn(&R) -> bool) -> Option<T> {
        let mut entries = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let at = entries.iter().position(|(r, _, _)| hits(r))?;
        let what = entries[at].1.clone();
        entries[at].2 -= 1;
        if entries[at].2 == 0 {
            entries.remove(at);
        }
        Some(what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_used_up_per_route_and_replaced() {
        let routed = Routed::default();
        routed.set("a", 1, 2);
        routed.set("b", 2, 1);
        assert_eq!(routed.take(|r| *r == "b"), Some(2));
        assert_eq!(routed.take(|r| *r == "b"), None);
        routed.set("a", 3, 1);
        assert_eq!(routed.take(|r| *r == "a"), Some(3));
        assert_eq!(routed.take(|r| *r == "a"), None);
        routed.set("a", 4, 0);
        assert_eq!(routed.take(|_| true), None);
    }
}
