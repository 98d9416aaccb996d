//! Retry concurrency limits: Envoy's `max_retries` threshold and its `retry_budget`.
//!
//! Retries add load exactly when an upstream is already failing, so an unbounded number of
//! them turns a struggling upstream into an overloaded one. Envoy bounds the retries in flight
//! per upstream cluster, and the bound sits on the client side (the egress cluster), unlike
//! the listener pool of [`breaker`](super::breaker), which the server-side Envoy applies. App
//! Mesh sets `max_retries` to 2147483647, so by default nothing is ever shed; a lower
//! `max_retries` and `retry_budget` are extensions for experiments.

use std::fmt;

use super::breaker::UNLIMITED;
use super::fault::Percent;

/// Envoy's `retry_budget`: retries may use a share of the cluster's outstanding requests,
/// never less than a floor. When set it replaces `max_retries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryBudget {
    /// Share of active plus pending requests that may be retries (Envoy default 20 %).
    pub budget_percent: Percent,
    /// Retries always allowed concurrently, however few requests are outstanding (default 3).
    pub min_retry_concurrency: u32,
}

impl RetryBudget {
    /// The retry concurrency allowed with `outstanding` (active + pending) requests:
    /// `max(min_retry_concurrency, floor(budget_percent × outstanding))`.
    pub fn limit(self, outstanding: u64) -> u64 {
        self.budget_percent
            .of(outstanding)
            .max(u64::from(self.min_retry_concurrency))
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            budget_percent: Percent::from_per_million(200_000),
            min_retry_concurrency: 3,
        }
    }
}

/// The limit on concurrent retries of one upstream cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryLimit {
    /// Envoy's `max_retries` threshold: App Mesh sets [`UNLIMITED`] (bare Envoy: 3).
    MaxRetries(u32),
    /// `retry_budget` (an extension).
    Budget(RetryBudget),
}

impl RetryLimit {
    /// App Mesh's: `max_retries` 2147483647, in effect off.
    pub const fn app_mesh_default() -> RetryLimit {
        RetryLimit::MaxRetries(UNLIMITED)
    }

    /// The number of concurrent retries allowed with `outstanding` requests.
    pub fn limit(self, outstanding: u64) -> u64 {
        match self {
            RetryLimit::MaxRetries(n) => u64::from(n),
            RetryLimit::Budget(b) => b.limit(outstanding),
        }
    }
}

impl Default for RetryLimit {
    fn default() -> Self {
        RetryLimit::app_mesh_default()
    }
}

/// Proof that a retry was admitted; hand it back to [`RetryGate::finish_retry`].
#[derive(Debug)]
#[must_use = "a retry token must be returned with RetryGate::finish_retry"]
pub struct RetryToken {
    _private: (),
}

/// A retry refused by the gate (`upstream_rq_retry_overflow`): the failed attempt's response
/// goes downstream as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryShed {
    /// Retries in flight.
    pub active_retries: u32,
    /// The limit they reached.
    pub limit: u64,
    /// The rule that set it.
    pub rule: RetryLimit,
}

impl fmt::Display for RetryShed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            RetryLimit::MaxRetries(_) => write!(
                f,
                "retry not attempted: {} retries in flight, max_retries is {}",
                self.active_retries, self.limit
            ),
            RetryLimit::Budget(b) => write!(
                f,
                "retry not attempted: {} retries in flight, budget allows {} \
                 ({} of outstanding requests, at least {})",
                self.active_retries, self.limit, b.budget_percent, b.min_retry_concurrency
            ),
        }
    }
}

/// Counters of a [`RetryGate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryGateStats {
    /// Retries admitted.
    pub started: u64,
    /// Retries refused (`upstream_rq_retry_overflow`).
    pub shed: u64,
    /// Retries finished.
    pub finished: u64,
}

/// Concurrent retries of one upstream cluster, as Envoy counts them: a retry is active from
/// the moment it is scheduled until its attempt's outcome is known.
#[derive(Clone, Debug, Default)]
pub struct RetryGate {
    rule: RetryLimit,
    active: u32,
    stats: RetryGateStats,
}

impl RetryGate {
    /// A gate with this rule.
    pub fn new(rule: RetryLimit) -> RetryGate {
        RetryGate {
            rule,
            active: 0,
            stats: RetryGateStats::default(),
        }
    }

    /// Asks to schedule a retry while the cluster has `outstanding` requests (active plus
    /// pending, retries included). Admitted when active retries are below the limit.
    pub fn try_start_retry(&mut self, outstanding: u64) -> Result<RetryToken, RetryShed> {
        let limit = self.rule.limit(outstanding);
        if u64::from(self.active) < limit {
            self.active += 1;
            self.stats.started += 1;
            Ok(RetryToken { _private: () })
        } else {
            self.stats.shed += 1;
            Err(RetryShed {
                active_retries: self.active,
                limit,
                rule: self.rule,
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

    /// The rule.
    pub fn rule(&self) -> RetryLimit {
        self.rule
    }

    /// Counters.
    pub fn stats(&self) -> RetryGateStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_budget_floor_is_min_retry_concurrency() {
        // Admitted while active retries < max(min_retry_concurrency, 20 % × outstanding).
        let mut g = RetryGate::new(RetryLimit::Budget(RetryBudget::default()));
        // 5 outstanding: 20 % is 1, the floor of 3 wins.
        let tokens: Vec<RetryToken> = (0..3)
            .map(|_| g.try_start_retry(5).expect("under floor"))
            .collect();
        let shed = g.try_start_retry(5).expect_err("floor reached");
        assert_eq!((shed.active_retries, shed.limit), (3, 3));
        // 20 outstanding: 20 % is 4, above the floor.
        let fourth = g.try_start_retry(20).expect("budget of 4");
        assert!(g.try_start_retry(20).is_err());
        // 24 outstanding: floor(4.8) = 4, truncated as Envoy does.
        assert!(g.try_start_retry(24).is_err());
        g.finish_retry(fourth);
        for t in tokens {
            g.finish_retry(t);
        }
        assert_eq!(g.active_retries(), 0);
        assert_eq!(
            g.stats(),
            RetryGateStats {
                started: 4,
                shed: 3,
                finished: 4
            }
        );
        assert_eq!(RetryBudget::default().limit(0), 3);
        assert_eq!(RetryBudget::default().limit(1_000), 200);
    }

    #[test]
    fn max_retries_caps_concurrent_retries() {
        // Envoy's max_retries breaker (bare Envoy default 3); independent of outstanding.
        let mut g = RetryGate::new(RetryLimit::MaxRetries(3));
        let t: Vec<RetryToken> = (0..3)
            .map(|_| g.try_start_retry(1_000_000).expect("ok"))
            .collect();
        assert!(g.try_start_retry(1_000_000).is_err());
        let mut t = t.into_iter();
        g.finish_retry(t.next().expect("token"));
        assert!(g.try_start_retry(0).is_ok());
        // App Mesh's default never sheds.
        let mut am = RetryGate::default();
        for _ in 0..10_000 {
            assert!(am.try_start_retry(0).is_ok(), "unlimited");
        }
    }
}
