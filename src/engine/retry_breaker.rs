//! The retry breaker: Envoy's `max_retries` circuit-breaker threshold, the number of retries
//! one cluster may have in flight at once.
//!
//! Retries add load exactly when an upstream is already failing, so Envoy bounds the retries
//! in flight per upstream cluster, on the client side (the caller's cluster of the upstream
//! node), unlike the listener pool of [`breaker`](super::breaker), which the server-side
//! Envoy applies. App Mesh sets `max_retries` to 2147483647, so by default nothing is ever
//! refused; meshes with Envoy's own defaults (accounts that had a mesh before 2020-07-29)
//! keep Envoy's 3 ([`EnvoyDefaults`](super::defaults::EnvoyDefaults)).
//!
//! Counting follows `RetryStateImpl::shouldRetry` (source/common/router/retry_state_impl.cc):
//! a retry is in flight from the moment it is scheduled (before its back-off) until the
//! outcome of its attempt is known, or the request ends. The policy's own limit is checked
//! first (`URX`); a retry the policy allows but the breaker refuses (`RetryStatus::NoOverflow`,
//! stat `upstream_rq_retry_overflow`) sends the failed attempt's answer downstream as it is,
//! and the router flags the caller's line `UO`. Envoy's `retry_budget`, which replaces
//! `max_retries` with a share of the outstanding requests, cannot be set through App Mesh and
//! is not modelled.

use std::fmt;

/// Proof that a retry was admitted; hand it back to [`RetryGate::finish_retry`].
#[derive(Debug)]
#[must_use = "a retry token must be returned with RetryGate::finish_retry"]
pub struct RetryToken {
    _private: (),
}

/// A retry refused by the gate (`upstream_rq_retry_overflow`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryShed {
    /// Retries in flight.
    pub active_retries: u32,
    /// The `max_retries` threshold they reached.
    pub max_retries: u32,
}

impl fmt::Display for RetryShed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retry not attempted: {} retries in flight, max_retries is {} (UO)",
            self.active_retries, self.max_retries
        )
    }
}

/// Counters of a [`RetryGate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryGateStats {
    /// Retries admitted (`upstream_rq_retry`).
    pub started: u64,
    /// Retries refused (`upstream_rq_retry_overflow`).
    pub shed: u64,
    /// Retries finished.
    pub finished: u64,
}

/// Concurrent retries of one upstream cluster, as Envoy counts them.
#[derive(Clone, Debug)]
pub struct RetryGate {
    max_retries: u32,
    active: u32,
    stats: RetryGateStats,
}

impl RetryGate {
    /// A gate with this `max_retries` threshold.
    pub fn new(max_retries: u32) -> RetryGate {
        RetryGate {
            max_retries,
            active: 0,
            stats: RetryGateStats::default(),
        }
    }

    /// Asks to schedule a retry: admitted while fewer than `max_retries` are in flight
    /// (Envoy's `retries().canCreate()`).
    pub fn try_start_retry(&mut self) -> Result<RetryToken, RetryShed> {
        if self.active < self.max_retries {
            self.active += 1;
            self.stats.started += 1;
            Ok(RetryToken { _private: () })
        } else {
            self.stats.shed += 1;
            Err(RetryShed {
                active_retries: self.active,
                max_retries: self.max_retries,
            })
        }
    }

    /// The retry's attempt finished (or was abandoned).
    pub fn finish_retry(&mut self, token: RetryToken) {
        let RetryToken { _private: () } = token;
        self.active = self.active.saturating_sub(1);
        self.stats.finished += 1;
    }

    /// Retries in flight.
    pub fn active_retries(&self) -> u32 {
        self.active
    }

    /// The threshold.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Counters.
    pub fn stats(&self) -> RetryGateStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::defaults::EnvoyDefaults;

    #[test]
    fn max_retries_caps_concurrent_retries() {
        // Envoy's own default: 3 retries in flight per cluster, whatever the traffic.
        let mut g = RetryGate::new(EnvoyDefaults::Envoy.max_retries());
        let t: Vec<RetryToken> = (0..3)
            .map(|_| g.try_start_retry().expect("under the threshold"))
            .collect();
        assert_eq!(
            g.try_start_retry().expect_err("at the threshold"),
            RetryShed {
                active_retries: 3,
                max_retries: 3
            }
        );
        let mut t = t.into_iter();
        g.finish_retry(t.next().expect("token"));
        let again = g.try_start_retry().expect("one finished");
        for token in t.chain([again]) {
            g.finish_retry(token);
        }
        assert_eq!(g.active_retries(), 0);
        assert_eq!(
            g.stats(),
            RetryGateStats {
                started: 4,
                shed: 1,
                finished: 4
            }
        );
        // App Mesh's default never refuses.
        let mut am = RetryGate::new(EnvoyDefaults::AppMesh.max_retries());
        for _ in 0..10_000 {
            assert!(am.try_start_retry().is_ok(), "unlimited");
        }
    }
}
