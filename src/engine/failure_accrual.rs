//! A consecutive-failures circuit breaker: Linkerd's "consecutive" failure accrual, an
//! extension for what App Mesh lacked.
//!
//! App Mesh's own breakers only cap concurrency (the listener pool in
//! [`breaker`](super::breaker), retries in [`retry_breaker`](super::retry_breaker)): they shed
//! excess load but keep sending to an upstream that fails every request. This breaker counts
//! outcomes instead, stops sending after a run of failures, and lets a single probe through to
//! find out whether the upstream has recovered. Penalties are jittered from the seeded stream
//! the caller hands in, so clients that trip together do not all probe at the same instant and
//! runs stay reproducible.

use std::fmt;
use std::time::Duration;

use super::time::SimTime;

/// Settings of the consecutive-failures breaker; the defaults are Linkerd's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FailureAccrualConfig {
    /// Consecutive failures that open the breaker (Linkerd: 7).
    pub consecutive_failures: u32,
    /// First open period (Linkerd: 1 s); it doubles on every failed probe.
    pub min_penalty: Duration,
    /// Longest open period (Linkerd: 60 s).
    pub max_penalty: Duration,
    /// Random extra share of each period, 0.0..=1.0 (Linkerd: 0.5).
    pub jitter_ratio: f64,
}

impl Default for FailureAccrualConfig {
    fn default() -> Self {
        FailureAccrualConfig {
            consecutive_failures: 7,
            min_penalty: Duration::from_secs(1),
            max_penalty: Duration::from_secs(60),
            jitter_ratio: 0.5,
        }
    }
}

/// A breaker configuration that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum BreakerConfigError {
    /// `consecutive_failures` of 0 would open the breaker before any request.
    #[error("consecutive_failures must be at least 1")]
    ZeroFailures,
    /// Penalties must satisfy 0 < min ≤ max.
    #[error("penalties must satisfy 0 < min_penalty <= max_penalty, got {min:?} and {max:?}")]
    Penalties {
        /// `min_penalty`.
        min: Duration,
        /// `max_penalty`.
        max: Duration,
    },
    /// `jitter_ratio` outside 0.0..=1.0.
    #[error("jitter_ratio must be from 0 to 1, got {0}")]
    Jitter(f64),
}

/// Why the breaker opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TripReason {
    /// This many failures in a row while closed.
    ConsecutiveFailures {
        /// The count (the threshold).
        count: u32,
    },
    /// The half-open probe failed.
    ProbeFailed {
        /// Times the breaker has opened in a row, this one included.
        consecutive_trips: u32,
    },
}

impl fmt::Display for TripReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TripReason::ConsecutiveFailures { count } => {
                write!(f, "{count} consecutive failures")
            }
            TripReason::ProbeFailed { consecutive_trips } => {
                write!(f, "probe failed (open {consecutive_trips} times in a row)")
            }
        }
    }
}

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests flow; failures are counted.
    Closed {
        /// Failures in a row so far.
        consecutive_failures: u32,
    },
    /// Requests are shed until `until`; the first request after it becomes the probe.
    Open {
        /// End of the penalty.
        until: SimTime,
        /// Why it opened.
        reason: TripReason,
    },
    /// One probe is in flight; everything else is shed until it reports.
    HalfOpen {
        /// When the probe was admitted.
        since: SimTime,
    },
}

/// Permission to send a request, to be handed back with its outcome.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "report the outcome with ConsecutiveFailureBreaker::record"]
pub enum Permit {
    /// An ordinary request while closed.
    Normal,
    /// The one probe of the half-open state.
    Probe,
}

/// A request refused by the consecutive-failures breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerShed {
    /// Open.
    Open {
        /// End of the penalty.
        until: SimTime,
        /// Why it opened.
        reason: TripReason,
    },
    /// Half-open with the probe still in flight.
    ProbeInFlight,
}

impl fmt::Display for BreakerShed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BreakerShed::Open { until, reason } => {
                write!(f, "breaker open until {until}: {reason}")
            }
            BreakerShed::ProbeInFlight => write!(f, "breaker half-open: a probe is in flight"),
        }
    }
}

/// A request's outcome, as the breaker counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Success.
    Success,
    /// Failure (the caller decides what counts: 5xx, reset, timeout).
    Failure,
}

/// A state change caused by [`ConsecutiveFailureBreaker::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Opened until `until`.
    Tripped {
        /// Why.
        reason: TripReason,
        /// End of the penalty.
        until: SimTime,
    },
    /// The probe succeeded; closed again, backoff reset.
    Closed,
}

/// Counters of a [`ConsecutiveFailureBreaker`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BreakerStats {
    /// Times opened.
    pub trips: u64,
    /// Requests shed.
    pub shed: u64,
    /// Probes admitted.
    pub probes: u64,
}

/// A consecutive-failures circuit breaker, what App Mesh lacked (Linkerd's consecutive failure
/// accrual): after `consecutive_failures` failures in a row it opens for a penalty; the first
/// request after the penalty is a probe; the probe's success closes it, its failure reopens it
/// for twice the previous penalty (jittered, capped at `max_penalty`).
///
/// Outcomes of ordinary requests that report while the breaker is open or half-open were sent
/// before it opened and are ignored.
#[derive(Clone, Debug)]
pub struct ConsecutiveFailureBreaker {
    config: FailureAccrualConfig,
    state: BreakerState,
    /// Trips since the breaker was last closed by a probe: the backoff exponent.
    trips_in_row: u32,
    stats: BreakerStats,
}

impl ConsecutiveFailureBreaker {
    /// A closed breaker.
    pub fn new(config: FailureAccrualConfig) -> Result<Self, BreakerConfigError> {
        if config.consecutive_failures == 0 {
            return Err(BreakerConfigError::ZeroFailures);
        }
        if config.min_penalty.is_zero() || config.min_penalty > config.max_penalty {
            return Err(BreakerConfigError::Penalties {
                min: config.min_penalty,
                max: config.max_penalty,
            });
        }
        if !(0.0..=1.0).contains(&config.jitter_ratio) {
            return Err(BreakerConfigError::Jitter(config.jitter_ratio));
        }
        Ok(ConsecutiveFailureBreaker {
            config,
            state: BreakerState::Closed {
                consecutive_failures: 0,
            },
            trips_in_row: 0,
            stats: BreakerStats::default(),
        })
    }

    /// The state as last changed (an `Open` whose penalty has passed turns half-open at the
    /// next [`ConsecutiveFailureBreaker::try_acquire`]).
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> BreakerStats {
        self.stats
    }

    /// Asks to send a request at `now`.
    pub fn try_acquire(&mut self, now: SimTime) -> Result<Permit, BreakerShed> {
        match self.state {
            BreakerState::Closed { .. } => Ok(Permit::Normal),
            BreakerState::Open { until, reason } if now < until => {
                self.stats.shed += 1;
                Err(BreakerShed::Open { until, reason })
            }
            BreakerState::Open { .. } => {
                self.state = BreakerState::HalfOpen { since: now };
                self.stats.probes += 1;
                Ok(Permit::Probe)
            }
            BreakerState::HalfOpen { .. } => {
                self.stats.shed += 1;
                Err(BreakerShed::ProbeInFlight)
            }
        }
    }

    /// Reports the outcome of a request sent with `permit`. The rng jitters a new penalty.
    pub fn record(
        &mut self,
        now: SimTime,
        permit: Permit,
        outcome: Outcome,
        rng: &mut impl rand::Rng,
    ) -> Option<Transition> {
        match (permit, outcome, self.state) {
            (Permit::Normal, Outcome::Success, BreakerState::Closed { .. }) => {
                self.state = BreakerState::Closed {
                    consecutive_failures: 0,
                };
                None
            }
            (
                Permit::Normal,
                Outcome::Failure,
                BreakerState::Closed {
                    consecutive_failures,
                },
            ) => {
                let count = consecutive_failures.saturating_add(1);
                if count >= self.config.consecutive_failures {
                    Some(self.trip(now, TripReason::ConsecutiveFailures { count }, rng))
                } else {
                    self.state = BreakerState::Closed {
                        consecutive_failures: count,
                    };
                    None
                }
            }
            (Permit::Probe, Outcome::Success, BreakerState::HalfOpen { .. }) => {
                self.state = BreakerState::Closed {
                    consecutive_failures: 0,
                };
                self.trips_in_row = 0;
                Some(Transition::Closed)
            }
            (Permit::Probe, Outcome::Failure, BreakerState::HalfOpen { .. }) => {
                let reason = TripReason::ProbeFailed {
                    consecutive_trips: self.trips_in_row.saturating_add(1),
                };
                Some(self.trip(now, reason, rng))
            }
            // Late reports from before the breaker opened.
            _ => None,
        }
    }

    /// The penalty before jitter for the `n`-th trip in a row (0-based): `min × 2ⁿ`, capped.
    pub fn base_penalty(&self, n: u32) -> Duration {
        self.config
            .min_penalty
            .saturating_mul(1u32 << n.min(31))
            .min(self.config.max_penalty)
    }

    fn trip(&mut self, now: SimTime, reason: TripReason, rng: &mut impl rand::Rng) -> Transition {
        let base = self.base_penalty(self.trips_in_row);
        // One draw per trip whatever the ratio, so the ratio never shifts later draws.
        let u: f64 = rng.random();
        let penalty =
            (base + base.mul_f64(self.config.jitter_ratio * u)).min(self.config.max_penalty);
        let until = now + penalty;
        self.trips_in_row = self.trips_in_row.saturating_add(1);
        self.stats.trips += 1;
        self.state = BreakerState::Open { until, reason };
        Transition::Tripped { reason, until }
    }
}

/// One breaker per upstream host of a cluster, keyed by the host's registry id: Linkerd
/// accrues failures per endpoint, so one bad task is taken out while its siblings keep
/// serving. Breakers are made on first use, and keyed by id rather than by position so that a
/// host keeps its state when discovery adds or removes another.
#[derive(Clone, Debug)]
pub struct HostBreakers {
    config: FailureAccrualConfig,
    hosts: std::collections::BTreeMap<String, ConsecutiveFailureBreaker>,
}

impl HostBreakers {
    /// Validates the configuration; no host has a breaker yet (all closed).
    pub fn new(config: FailureAccrualConfig) -> Result<HostBreakers, BreakerConfigError> {
        ConsecutiveFailureBreaker::new(config)?;
        Ok(HostBreakers {
            config,
            hosts: std::collections::BTreeMap::new(),
        })
    }

    /// Whether a request at `now` may be sent to `host`: closed, or open with the penalty
    /// over (the request becomes the probe). Open within its penalty, or half-open with the
    /// probe out, it may not.
    pub fn available(&self, now: SimTime, host: &str) -> bool {
        match self.hosts.get(host).map(ConsecutiveFailureBreaker::state) {
            None | Some(BreakerState::Closed { .. }) => true,
            Some(BreakerState::Open { until, .. }) => now >= until,
            Some(BreakerState::HalfOpen { .. }) => false,
        }
    }

    /// Asks to send a request to `host` at `now`.
    pub fn acquire(&mut self, now: SimTime, host: &str) -> Result<Permit, BreakerShed> {
        match self.hosts.get_mut(host) {
            Some(b) => b.try_acquire(now),
            None => {
                // Validated in `new`, so this cannot fail; a closed breaker admits at once.
                let Ok(mut b) = ConsecutiveFailureBreaker::new(self.config) else {
                    return Ok(Permit::Normal);
                };
                let permit = b.try_acquire(now);
                self.hosts.insert(host.to_string(), b);
                permit
            }
        }
    }

    /// Reports the outcome of a request sent to `host` with `permit`.
    pub fn record(
        &mut self,
        now: SimTime,
        host: &str,
        permit: Permit,
        outcome: Outcome,
        rng: &mut impl rand::Rng,
    ) -> Option<Transition> {
        self.hosts.get_mut(host)?.record(now, permit, outcome, rng)
    }

    /// The breaker of `host`, once it has one.
    pub fn get(&self, host: &str) -> Option<&ConsecutiveFailureBreaker> {
        self.hosts.get(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;
    use proptest::prelude::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn breaker(n: u32, jitter: f64) -> ConsecutiveFailureBreaker {
        ConsecutiveFailureBreaker::new(FailureAccrualConfig {
            consecutive_failures: n,
            min_penalty: Duration::from_secs(1),
            max_penalty: Duration::from_secs(5),
            jitter_ratio: jitter,
        })
        .expect("valid")
    }

    fn fail(
        b: &mut ConsecutiveFailureBreaker,
        now: SimTime,
        r: &mut seed::Rng,
    ) -> Option<Transition> {
        let p = b.try_acquire(now).expect("admitted");
        b.record(now, p, Outcome::Failure, r)
    }

    #[test]
    fn consecutive_failures_open_then_probe_then_close() {
        // N failures in a row open; a success in between resets the count.
        let mut r = seed::stream(1, "breaker/test");
        let mut b = breaker(3, 0.0);
        assert_eq!(fail(&mut b, ms(0), &mut r), None);
        assert_eq!(fail(&mut b, ms(0), &mut r), None);
        let p = b.try_acquire(ms(0)).expect("closed");
        assert_eq!(b.record(ms(0), p, Outcome::Success, &mut r), None);
        assert_eq!(fail(&mut b, ms(0), &mut r), None);
        assert_eq!(fail(&mut b, ms(0), &mut r), None);
        let opened = fail(&mut b, ms(100), &mut r);
        assert_eq!(
            opened,
            Some(Transition::Tripped {
                reason: TripReason::ConsecutiveFailures { count: 3 },
                until: ms(1_100)
            })
        );
        // Open: shed until the penalty ends.
        assert!(matches!(
            b.try_acquire(ms(1_099)),
            Err(BreakerShed::Open { .. })
        ));
        // Half-open: exactly one probe.
        let probe = b.try_acquire(ms(1_100)).expect("probe");
        assert_eq!(probe, Permit::Probe);
        assert_eq!(b.try_acquire(ms(1_101)), Err(BreakerShed::ProbeInFlight));
        assert_eq!(
            b.record(ms(1_200), probe, Outcome::Success, &mut r),
            Some(Transition::Closed)
        );
        assert!(b.try_acquire(ms(1_200)).is_ok());
    }

    #[test]
    fn failed_probes_back_off_exponentially_to_the_cap() {
        // Each failed probe doubles the penalty (1 s, 2 s, 4 s, then the 5 s cap).
        let mut r = seed::stream(1, "breaker/test");
        let mut b = breaker(1, 0.0);
        let mut now = ms(0);
        let mut penalties = Vec::new();
        let mut t = fail(&mut b, now, &mut r);
        for _ in 0..4 {
            let Some(Transition::Tripped { until, .. }) = t else {
                panic!("expected a trip")
            };
            penalties.push(until - now);
            now = until;
            t = fail(&mut b, now, &mut r);
        }
        let secs: Vec<u64> = penalties.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 5]);
        assert!(matches!(
            b.state(),
            BreakerState::Open {
                reason: TripReason::ProbeFailed {
                    consecutive_trips: 5
                },
                ..
            }
        ));
        // A late report from before the trip changes nothing.
        assert_eq!(
            b.record(now, Permit::Normal, Outcome::Failure, &mut r),
            None
        );
        assert_eq!(
            b.record(now, Permit::Normal, Outcome::Success, &mut r),
            None
        );
        assert!(matches!(b.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn jitter_stays_within_ratio_and_cap() {
        // penalty ∈ [base, min(max, base × (1 + jitter))].
        let mut r = seed::stream(9, "breaker/jitter");
        for _ in 0..200 {
            let mut b = breaker(1, 0.5);
            let Some(Transition::Tripped { until, .. }) = fail(&mut b, ms(0), &mut r) else {
                panic!("expected a trip")
            };
            let d = until - ms(0);
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_millis(1_500),
                "{d:?}"
            );
        }
    }

    #[test]
    fn invalid_breaker_configs_are_typed_errors() {
        let base = FailureAccrualConfig::default();
        let new = |c| ConsecutiveFailureBreaker::new(c).err();
        assert_eq!(
            new(FailureAccrualConfig {
                consecutive_failures: 0,
                ..base
            }),
            Some(BreakerConfigError::ZeroFailures)
        );
        assert!(matches!(
            new(FailureAccrualConfig {
                min_penalty: Duration::from_secs(61),
                ..base
            }),
            Some(BreakerConfigError::Penalties { .. })
        ));
        assert_eq!(
            new(FailureAccrualConfig {
                jitter_ratio: 1.5,
                ..base
            }),
            Some(BreakerConfigError::Jitter(1.5))
        );
        assert!(new(base).is_none());
    }

    #[test]
    fn host_breakers_trip_one_host_and_let_one_probe_through() {
        // Per host: host a trips after 2 failures, b is untouched; after the penalty a is
        // available again, the next request is its probe, and it is unavailable while the
        // probe is out.
        let mut r = seed::stream(1, "breaker/hosts");
        let mut hosts = HostBreakers::new(FailureAccrualConfig {
            consecutive_failures: 2,
            min_penalty: Duration::from_secs(1),
            max_penalty: Duration::from_secs(4),
            jitter_ratio: 0.0,
        })
        .expect("valid");
        for _ in 0..2 {
            let p = hosts.acquire(ms(0), "a").expect("closed");
            hosts.record(ms(0), "a", p, Outcome::Failure, &mut r);
        }
        assert!(!hosts.available(ms(999), "a"));
        assert!(hosts.available(ms(999), "b"));
        assert!(hosts.available(ms(1_000), "a"));
        assert_eq!(hosts.acquire(ms(1_000), "a"), Ok(Permit::Probe));
        assert!(!hosts.available(ms(1_001), "a"));
        assert_eq!(
            hosts.record(ms(1_010), "a", Permit::Probe, Outcome::Success, &mut r),
            Some(Transition::Closed)
        );
        assert!(hosts.available(ms(1_010), "a"));
        assert!(
            HostBreakers::new(FailureAccrualConfig {
                consecutive_failures: 0,
                ..FailureAccrualConfig::default()
            })
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn same_seed_same_decisions(seed in any::<u64>(), outcomes in prop::collection::vec(any::<bool>(), 1..200)) {
            // Jittered penalties come only from the seeded stream.
            let run = || {
                let mut b = breaker(2, 0.5);
                let mut r = seed::stream(seed, "breaker/determinism");
                let mut log = Vec::new();
                for (i, ok) in outcomes.iter().enumerate() {
                    let now = ms(i as u64 * 250);
                    match b.try_acquire(now) {
                        Ok(p) => {
                            let o = if *ok { Outcome::Success } else { Outcome::Failure };
                            log.push(Ok(b.record(now, p, o, &mut r)));
                        }
                        Err(e) => log.push(Err(e)),
                    }
                }
                log
            };
            prop_assert_eq!(run(), run());
        }
    }
}
