//! Passive ejection: App Mesh `outlierDetection`, which is Envoy's `consecutive_5xx` detector.
//!
//! The client Envoy runs one detector per upstream cluster, so one [`OutlierDetector`] models
//! one virtual node as seen by one client. Envoy behaviour reproduced here (read from
//! `outlier_detection_impl.cc`):
//! - Each response is counted inline. A 5xx, or a local-origin failure (connect failure,
//!   reset, timeout; Envoy's default bucketing), extends the host's run of errors; anything
//!   else ends it.
//! - When the run reaches `maxServerErrors` the host is ejected at once, if the cap allows.
//!   Either way the run starts again from zero, so a refused host is reconsidered after
//!   another `maxServerErrors` errors.
//! - The cap: after this ejection, ejected hosts must be at most `maxEjectionPercent` of all
//!   hosts, and nothing overrides it (`DetectorImpl::ejectHost`, Envoy ≥ 1.28 after PR
//!   #27909; App Mesh's images are 1.29). So 0 % never ejects, and 10 % ejects nothing with
//!   fewer than 10 hosts. The API text "will eject at least one host regardless of the value"
//!   comes from an older Envoy comment; the opt-in `always_eject_one_host` that restores it is
//!   Envoy 1.31+ and not exposed by App Mesh.
//! - Ejection time is `baseEjectionDuration × k`, capped at `max(300 s, base)` (Envoy's
//!   `max_ejection_time` default). `k` grows by one at each ejection and shrinks by one at each
//!   sweep that finds the host back for at least a whole interval (`onIntervalTimer`: the
//!   host's last unejection is `interval` or more ago), so a host that keeps failing stays
//!   out longer, and one a health check returned just before a sweep keeps its `k` there.
//! - Hosts come back only at a sweep (Envoy's interval timer), not at the exact expiry: a
//!   host ejected for 30 s with a 10 s interval returns at the first sweep 30 s or more after
//!   its ejection. The run of errors restarts from zero on return.
//!
//! Not modelled, because App Mesh exposes none of it: success-rate and failure-percentage
//! detection, gateway-failure and split local-origin counters, `enforcing_*` probabilities
//! (App Mesh leaves `enforcing_consecutive_5xx` at 100 %), ejection-time jitter.

use std::fmt;
use std::time::Duration;

use super::time::SimTime;
use crate::config::model::OutlierDetection;

/// Envoy's `max_ejection_time` default; the cap is the larger of this and the base duration.
pub const DEFAULT_MAX_EJECTION_TIME: Duration = Duration::from_secs(300);

/// The shortest sweep interval we run. A zero interval would make a caller's event loop spin;
/// Envoy rejects it outright (`interval` must be greater than zero).
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// A local-origin failure: no HTTP status came back from the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LocalFailure {
    /// The connection could not be established.
    ConnectFailure,
    /// The connection or stream was reset.
    Reset,
    /// A per-try or route timeout fired.
    Timeout,
}

impl fmt::Display for LocalFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LocalFailure::ConnectFailure => "connect failure",
            LocalFailure::Reset => "reset",
            LocalFailure::Timeout => "timeout",
        })
    }
}

/// How one request to one host ended, as outlier detection sees it (named apart from
/// `failure_accrual`'s and the retry policy's own readings of the same answer, which the
/// sidecar core uses side by side).
///
/// For gRPC pass the HTTP status Envoy maps the `grpc-status` to (UNAVAILABLE is 503,
/// INTERNAL is 500, OK is 200): Envoy's router reports that mapped code, not the transport's
/// 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestResult {
    /// Any response below 500 (4xx included: only server errors count).
    Success,
    /// A 5xx response.
    ServerError(u16),
    /// No response: counted as a 5xx (Envoy's default, `split_external_local_origin_errors`
    /// off).
    LocalFailure(LocalFailure),
}

impl RequestResult {
    /// The outcome for an HTTP status.
    pub fn from_status(status: u16) -> RequestResult {
        if status >= 500 {
            RequestResult::ServerError(status)
        } else {
            RequestResult::Success
        }
    }

    /// Whether this outcome extends a host's run of errors.
    pub fn is_error(self) -> bool {
        !matches!(self, RequestResult::Success)
    }
}

impl fmt::Display for RequestResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestResult::Success => f.write_str("success"),
            RequestResult::ServerError(s) => write!(f, "{s}"),
            RequestResult::LocalFailure(l) => l.fmt(f),
        }
    }
}

/// Why the cap let an ejection through: ejected hosts, this one included, stay within
/// `maxEjectionPercent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// Ejected hosts after this ejection.
    pub ejected_after: usize,
    /// All hosts.
    pub hosts: usize,
    /// `maxEjectionPercent`.
    pub max_percent: u32,
}

impl fmt::Display for Allowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} hosts ejected now, within max_ejection_percent {} %",
            self.ejected_after, self.hosts, self.max_percent
        )
    }
}

/// What happened when a host reached `maxServerErrors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The host is ejected.
    Ejected {
        /// How long it stays out (it returns at the first sweep after this).
        duration: Duration,
        /// The multiplier `k` in `base × k` (ejections in a row, less decay).
        multiplier: u32,
        /// Why the cap allowed it.
        allowance: Allowance,
    },
    /// The cap forbids another ejection; the host keeps taking traffic.
    CapReached {
        /// Hosts already ejected.
        ejected: usize,
        /// All hosts.
        hosts: usize,
        /// `maxEjectionPercent`.
        max_percent: u32,
    },
}

/// An ejection decision, with its reasons, for explanations and event logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EjectionDecision {
    /// The host (index into the endpoint list).
    pub host: usize,
    /// When.
    pub at: SimTime,
    /// The run of errors that triggered the decision (`maxServerErrors`).
    pub consecutive_errors: u64,
    /// The last error of the run.
    pub last: RequestResult,
    /// Ejected or not, and why.
    pub verdict: Verdict,
}

impl EjectionDecision {
    /// Whether the host was ejected.
    pub fn ejected(&self) -> bool {
        matches!(self.verdict, Verdict::Ejected { .. })
    }
}

impl fmt::Display for EjectionDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let run = format!(
            "{} consecutive server errors (last: {})",
            self.consecutive_errors, self.last
        );
        match self.verdict {
            Verdict::Ejected {
                duration,
                multiplier,
                allowance,
            } => write!(
                f,
                "host {} ejected at {} for {:?} (base × {multiplier}) after {run}; {allowance}",
                self.host, self.at, duration
            ),
            Verdict::CapReached {
                ejected,
                hosts,
                max_percent,
            } => write!(
                f,
                "host {} not ejected after {run}: {} of {hosts} hosts ejected would exceed \
                 max_ejection_percent {max_percent} % ({ejected} already ejected)",
                self.host,
                ejected + 1
            ),
        }
    }
}

/// Why a host came back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnejectReason {
    /// Its ejection time was over at this sweep.
    TimeServed {
        /// The ejection time it served (`min(base × k, max)`).
        ejection_time: Duration,
    },
    /// An active health check passed (Envoy's `successful_active_health_check_uneject_host`,
    /// default true).
    HealthCheckPassed,
}

/// A host returning to the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unejection {
    /// The host.
    pub host: usize,
    /// When (the sweep's scheduled time, or the health check's).
    pub at: SimTime,
    /// How long it was out.
    pub ejected_for: Duration,
    /// Why.
    pub reason: UnejectReason,
}

impl fmt::Display for Unejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            UnejectReason::TimeServed { ejection_time } => write!(
                f,
                "host {} returned at sweep {} after {:?} (ejection time {:?})",
                self.host, self.at, self.ejected_for, ejection_time
            ),
            UnejectReason::HealthCheckPassed => write!(
                f,
                "host {} returned at {} after {:?}: an active health check passed",
                self.host, self.at, self.ejected_for
            ),
        }
    }
}

/// One host's detector state (Envoy's `DetectorHostMonitorImpl`).
#[derive(Clone, Copy, Debug, Default)]
struct HostMonitor {
    /// The current run of errors.
    consecutive: u64,
    /// Ejection multiplier `k`.
    backoff: u32,
    /// `Some(when)` while ejected.
    ejected_at: Option<SimTime>,
    /// When the host last came back (Envoy's `lastUnejectionTime`): `k` decays only at sweeps
    /// at least one interval after it.
    unejected_at: Option<SimTime>,
}

/// Consecutive-5xx ejection for one (client, virtual node).
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    max_errors: u64,
    interval: Duration,
    base: Duration,
    max_time: Duration,
    max_percent: u32,
    hosts: Vec<HostMonitor>,
    next_sweep: SimTime,
}

impl OutlierDetector {
    /// A detector for `host_count` hosts, none ejected; the first sweep is one interval after
    /// `now`.
    ///
    /// `maxServerErrors` of 0 (outside App Mesh's range, which starts at 1) never ejects, as in
    /// Envoy, where the incremented counter can never equal 0.
    pub fn new(config: &OutlierDetection, host_count: usize, now: SimTime) -> OutlierDetector {
        let interval = config.interval.max(MIN_INTERVAL);
        OutlierDetector {
            max_errors: config.max_server_errors,
            interval,
            base: config.base_ejection_duration,
            max_time: DEFAULT_MAX_EJECTION_TIME.max(config.base_ejection_duration),
            max_percent: config.max_ejection_percent.min(100),
            hosts: vec![HostMonitor::default(); host_count],
            next_sweep: now + interval,
        }
    }

    /// Counts one request's outcome. Returns a decision when the host's run of errors reached
    /// `maxServerErrors`, `None` otherwise (including for hosts out of range, and for hosts
    /// already ejected, which Envoy leaves alone until they return).
    pub fn on_result(
        &mut self,
        now: SimTime,
        host: usize,
        outcome: RequestResult,
    ) -> Option<EjectionDecision> {
        let hosts = self.hosts.len();
        let ejected = self.ejected_count();
        let (max_errors, base, max_time, max_percent) =
            (self.max_errors, self.base, self.max_time, self.max_percent);
        let m = self.hosts.get_mut(host)?;
        if m.ejected_at.is_some() {
            return None;
        }
        if !outcome.is_error() {
            m.consecutive = 0;
            return None;
        }
        m.consecutive = m.consecutive.saturating_add(1);
        if m.consecutive != max_errors {
            return None;
        }
        m.consecutive = 0;
        let allowance = allowance(ejected, hosts, max_percent);
        let verdict = match allowance {
            None => Verdict::CapReached {
                ejected,
                hosts,
                max_percent,
            },
            Some(allowance) => {
                // Envoy grows k only while base × k is below max + base, so k settles one step
                // past the cap and the decay takes that many clean sweeps to undo.
                if base.saturating_mul(m.backoff) < max_time.saturating_add(base) {
                    m.backoff = m.backoff.saturating_add(1);
                }
                m.ejected_at = Some(now);
                Verdict::Ejected {
                    duration: base.saturating_mul(m.backoff).min(max_time),
                    multiplier: m.backoff,
                    allowance,
                }
            }
        };
        Some(EjectionDecision {
            host,
            at: now,
            consecutive_errors: max_errors,
            last: outcome,
            verdict,
        })
    }

    /// Runs every sweep due at or before `now` (Envoy's interval timer), returning the hosts
    /// that came back. Calling it early does nothing; calling it late runs each missed sweep at
    /// its scheduled time, so results do not depend on how punctual the caller is.
    ///
    /// At a sweep, an ejected host whose ejection time is over returns; a host that is not
    /// ejected has its multiplier reduced by one.
    pub fn on_sweep(&mut self, now: SimTime) -> Vec<Unejection> {
        let mut back = Vec::new();
        while self.next_sweep <= now {
            if self.is_settled() {
                // Nothing can change until the next ejection: skip the idle sweeps at once.
                let missed = (now - self.next_sweep).as_nanos() / self.interval.as_nanos();
                let skip = u32::try_from(missed).unwrap_or(u32::MAX);
                self.next_sweep = self.next_sweep + self.interval.saturating_mul(skip);
                self.next_sweep = self.next_sweep + self.interval;
                break;
            }
            let at = self.next_sweep;
            for (host, m) in self.hosts.iter_mut().enumerate() {
                let Some(since) = m.ejected_at else {
                    // Envoy decays `k` after the unejection checks, and only for a host back
                    // for a whole interval: one returned at this sweep, or by a health check
                    // less than an interval ago, keeps it.
                    if m.unejected_at.is_some_and(|u| at - u >= self.interval) {
                        m.backoff = m.backoff.saturating_sub(1);
                    }
                    continue;
                };
                let ejection_time = self.base.saturating_mul(m.backoff).min(self.max_time);
                if at - since >= ejection_time {
                    m.ejected_at = None;
                    m.unejected_at = Some(at);
                    m.consecutive = 0;
                    back.push(Unejection {
                        host,
                        at,
                        ejected_for: at - since,
                        reason: UnejectReason::TimeServed { ejection_time },
                    });
                }
            }
            self.next_sweep = at + self.interval;
        }
        back
    }

    /// No host ejected and every multiplier at zero: sweeps change nothing.
    fn is_settled(&self) -> bool {
        self.hosts
            .iter()
            .all(|m| m.ejected_at.is_none() && m.backoff == 0)
    }

    /// When the next sweep is due.
    pub fn next_sweep(&self) -> SimTime {
        self.next_sweep
    }

    /// Returns an ejected host because an active health check passed (Envoy's
    /// `successful_active_health_check_uneject_host`, on by default). Its run of errors
    /// restarts; its multiplier is kept, as in Envoy. `None` if it was not ejected.
    pub fn uneject_on_health_check(&mut self, now: SimTime, host: usize) -> Option<Unejection> {
        let m = self.hosts.get_mut(host)?;
        let since = m.ejected_at.take()?;
        m.unejected_at = Some(now);
        m.consecutive = 0;
        Some(Unejection {
            host,
            at: now,
            ejected_for: now - since,
            reason: UnejectReason::HealthCheckPassed,
        })
    }

    /// Whether the host is ejected (false for hosts out of range).
    pub fn is_ejected(&self, host: usize) -> bool {
        self.hosts.get(host).is_some_and(|m| m.ejected_at.is_some())
    }

    /// How many hosts are ejected.
    pub fn ejected_count(&self) -> usize {
        self.hosts.iter().filter(|m| m.ejected_at.is_some()).count()
    }

    /// The host's current run of errors (0 for hosts out of range).
    pub fn consecutive_errors(&self, host: usize) -> u64 {
        self.hosts.get(host).map_or(0, |m| m.consecutive)
    }

    /// The host's ejection multiplier `k` (0 for hosts out of range).
    pub fn multiplier(&self, host: usize) -> u32 {
        self.hosts.get(host).map_or(0, |m| m.backoff)
    }

    /// How many hosts the detector tracks.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Endpoints appended or truncated: new hosts start clean; removed hosts take their
    /// ejection with them (Envoy drops the monitor of a removed host).
    pub fn set_host_count(&mut self, host_count: usize) {
        self.hosts.resize(host_count, HostMonitor::default());
    }

    /// Removes one endpoint; later indices shift down by one, like `Vec::remove`. Out of range
    /// does nothing.
    pub fn remove_host(&mut self, host: usize) {
        if host < self.hosts.len() {
            self.hosts.remove(host);
        }
    }
}

/// Whether one more ejection is allowed with `ejected` of `hosts` already out: Envoy's
/// `100 × (ejected + 1) / hosts <= maxEjectionPercent`, with no exception.
fn allowance(ejected: usize, hosts: usize, max_percent: u32) -> Option<Allowance> {
    let after = ejected + 1;
    // after / hosts <= max_percent / 100, in integers.
    let within = (after as u128) * 100 <= u128::from(max_percent) * (hosts as u128);
    within.then_some(Allowance {
        ejected_after: after,
        hosts,
        max_percent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config(errors: u64, interval_s: u64, base_s: u64, percent: u32) -> OutlierDetection {
        OutlierDetection {
            max_server_errors: errors,
            interval: Duration::from_secs(interval_s),
            base_ejection_duration: Duration::from_secs(base_s),
            max_ejection_percent: percent,
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime::from_millis(s * 1000)
    }

    const E503: RequestResult = RequestResult::ServerError(503);

    /// Feeds `n` errors to `host` at `now`, returning the last decision.
    fn errors(
        d: &mut OutlierDetector,
        now: SimTime,
        host: usize,
        n: u64,
    ) -> Option<EjectionDecision> {
        let mut last = None;
        for _ in 0..n {
            last = d.on_result(now, host, E503);
        }
        last
    }

    #[test]
    fn ejects_inline_at_max_server_errors() {
        // consecutive_5xx: the host is ejected by the response that completes the run, not at
        // a later sweep.
        let mut d = OutlierDetector::new(&config(3, 10, 30, 100), 4, SimTime::ZERO);
        assert_eq!(errors(&mut d, secs(1), 2, 2), None);
        assert!(!d.is_ejected(2));
        let dec = d.on_result(secs(1), 2, E503).expect("third error decides");
        assert!(dec.ejected());
        assert!(d.is_ejected(2));
        assert_eq!(d.ejected_count(), 1);
        assert_eq!(dec.consecutive_errors, 3);
    }

    #[test]
    fn local_origin_failures_count_as_5xx() {
        // Envoy's default bucketing: connect failures, resets and timeouts count toward
        // consecutive_5xx.
        let mut d = OutlierDetector::new(&config(3, 10, 30, 100), 2, SimTime::ZERO);
        d.on_result(
            secs(1),
            0,
            RequestResult::LocalFailure(LocalFailure::ConnectFailure),
        );
        d.on_result(secs(1), 0, RequestResult::LocalFailure(LocalFailure::Reset));
        let dec = d.on_result(
            secs(1),
            0,
            RequestResult::LocalFailure(LocalFailure::Timeout),
        );
        assert!(dec.is_some_and(|d| d.ejected()));
    }

    #[test]
    fn success_resets_the_run() {
        // A non-5xx response ends the run; 4xx is not a server error.
        let mut d = OutlierDetector::new(&config(3, 10, 30, 100), 2, SimTime::ZERO);
        errors(&mut d, secs(1), 0, 2);
        assert_eq!(
            d.on_result(secs(1), 0, RequestResult::from_status(404)),
            None
        );
        assert_eq!(d.consecutive_errors(0), 0);
        assert_eq!(errors(&mut d, secs(1), 0, 2), None);
        assert!(!d.is_ejected(0));
        assert!(errors(&mut d, secs(1), 0, 1).is_some_and(|d| d.ejected()));
    }

    #[test]
    fn ejection_time_grows_with_count_and_host_returns_at_a_sweep() {
        // base × k, and un-ejection happens at the interval sweep, not at exact expiry.
        let mut d = OutlierDetector::new(&config(1, 10, 30, 100), 2, SimTime::ZERO);
        let first = d.on_result(secs(5), 0, E503).expect("ejected");
        assert!(
            matches!(first.verdict, Verdict::Ejected { duration, multiplier: 1, .. }
            if duration == Duration::from_secs(30))
        );
        // Sweeps at 10, 20, 30: still out (25 s served at the 30 s sweep).
        assert!(d.on_sweep(secs(30)).is_empty());
        assert!(d.is_ejected(0));
        // Expiry is at 35 s, but it returns at the 40 s sweep.
        assert!(d.on_sweep(secs(39)).is_empty());
        let back = d.on_sweep(secs(40));
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].at, secs(40));
        assert_eq!(back[0].ejected_for, Duration::from_secs(35));
        assert!(!d.is_ejected(0));
        // Ejected again before any clean sweep: k = 2, so 60 s.
        let second = d.on_result(secs(41), 0, E503).expect("ejected");
        assert!(
            matches!(second.verdict, Verdict::Ejected { duration, multiplier: 2, .. }
            if duration == Duration::from_secs(60))
        );
        assert!(
            d.on_sweep(secs(100)).is_empty(),
            "59 s served at the 100 s sweep"
        );
        assert_eq!(d.on_sweep(secs(110)).len(), 1);
    }

    #[test]
    fn multiplier_decays_one_per_clean_sweep() {
        // Envoy: at each sweep that finds the host not ejected, k goes down by one.
        let mut d = OutlierDetector::new(&config(1, 10, 30, 100), 2, SimTime::ZERO);
        d.on_result(secs(1), 0, E503);
        d.on_sweep(secs(40)); // returns at 40 (k stays 1 at that sweep)
        d.on_result(secs(41), 0, E503); // k = 2
        d.on_sweep(secs(110)); // returns at 110
        assert_eq!(d.multiplier(0), 2);
        d.on_sweep(secs(120));
        assert_eq!(d.multiplier(0), 1);
        d.on_sweep(secs(130));
        assert_eq!(d.multiplier(0), 0);
        let again = d.on_result(secs(131), 0, E503).expect("ejected");
        assert!(matches!(
            again.verdict,
            Verdict::Ejected { multiplier: 1, .. }
        ));
    }

    #[test]
    fn ejection_time_is_capped_at_300s_or_base() {
        // max_ejection_time defaults to 300 s, or the base when the base is larger.
        let mut d = OutlierDetector::new(&config(1, 1, 100, 100), 1, SimTime::ZERO);
        let mut durations = Vec::new();
        let mut now = secs(0);
        for _ in 0..6 {
            now = now + Duration::from_millis(500);
            let dec = d.on_result(now, 0, E503).expect("decision");
            if let Verdict::Ejected { duration, .. } = dec.verdict {
                durations.push(duration.as_secs());
            }
            // Return it at the sweep that ends the ejection, before any clean sweep.
            while d.is_ejected(0) {
                now = now + Duration::from_secs(1);
                d.on_sweep(now);
            }
        }
        assert_eq!(durations, [100, 200, 300, 300, 300, 300]);

        let mut big = OutlierDetector::new(&config(1, 1, 400, 100), 1, SimTime::ZERO);
        let dec = big.on_result(secs(0), 0, E503).expect("decision");
        assert!(matches!(dec.verdict, Verdict::Ejected { duration, .. }
            if duration == Duration::from_secs(400)));
    }

    #[test]
    fn max_ejection_percent_caps_ejections() {
        // Ejected hosts after the ejection must be at most max_ejection_percent of all hosts.
        let mut d = OutlierDetector::new(&config(1, 10, 30, 50), 4, SimTime::ZERO);
        assert!(d.on_result(secs(1), 0, E503).is_some_and(|d| d.ejected()));
        assert!(d.on_result(secs(1), 1, E503).is_some_and(|d| d.ejected()));
        let refused = d.on_result(secs(1), 2, E503).expect("decision");
        assert_eq!(
            refused.verdict,
            Verdict::CapReached {
                ejected: 2,
                hosts: 4,
                max_percent: 50
            }
        );
        assert!(!d.is_ejected(2));
        assert!(
            refused.to_string().contains(
                "3 of 4 hosts ejected would exceed max_ejection_percent 50 % (2 already ejected)"
            ),
            "{refused}"
        );
        // The run restarted after the refusal: the next error decides again.
        assert!(d.on_result(secs(1), 2, E503).is_some_and(|d| !d.ejected()));
    }

    #[test]
    fn max_ejection_percent_is_never_exceeded() {
        // Envoy >= 1.28 (PR #27909, DetectorImpl::ejectHost): no "at least one host" rule.
        // 0 % never ejects.
        let mut none = OutlierDetector::new(&config(1, 10, 30, 0), 3, SimTime::ZERO);
        let refused = none.on_result(secs(1), 0, E503).expect("decision");
        assert_eq!(
            refused.verdict,
            Verdict::CapReached {
                ejected: 0,
                hosts: 3,
                max_percent: 0
            }
        );
        assert_eq!(none.ejected_count(), 0);
        // 10 % ejects nothing with fewer than 10 hosts, and one host of 10.
        for hosts in 1..10 {
            let mut d = OutlierDetector::new(&config(1, 10, 30, 10), hosts, SimTime::ZERO);
            for h in 0..hosts {
                assert!(d.on_result(secs(1), h, E503).is_some_and(|d| !d.ejected()));
            }
            assert_eq!(d.ejected_count(), 0, "{hosts} hosts");
        }
        let mut ten = OutlierDetector::new(&config(1, 10, 30, 10), 10, SimTime::ZERO);
        let first = ten.on_result(secs(1), 0, E503).expect("decision");
        assert!(matches!(
            first.verdict,
            Verdict::Ejected {
                allowance: Allowance {
                    ejected_after: 1,
                    hosts: 10,
                    max_percent: 10
                },
                ..
            }
        ));
        assert!(
            ten.on_result(secs(1), 1, E503)
                .is_some_and(|d| !d.ejected())
        );
        // A single host (a LOGICAL_DNS cluster's) is ejected only at 100 %.
        let mut one = OutlierDetector::new(&config(1, 10, 30, 99), 1, SimTime::ZERO);
        assert!(
            one.on_result(secs(1), 0, E503)
                .is_some_and(|d| !d.ejected())
        );
    }

    #[test]
    fn multiplier_decays_only_after_a_whole_healthy_interval() {
        // Envoy's onIntervalTimer decrements k only for a host whose last unejection is at
        // least one interval old: a health check that returns the host 0.5 s before a sweep
        // leaves k alone at that sweep; the next one decays it.
        let mut d = OutlierDetector::new(&config(1, 10, 30, 100), 2, SimTime::ZERO);
        d.on_result(secs(1), 0, E503);
        assert_eq!(d.multiplier(0), 1);
        assert!(
            d.uneject_on_health_check(SimTime::from_millis(9_500), 0)
                .is_some()
        );
        d.on_sweep(secs(10));
        assert_eq!(d.multiplier(0), 1, "back for 0.5 s only");
        d.on_sweep(secs(20));
        assert_eq!(d.multiplier(0), 0, "back for a whole interval");
    }

    #[test]
    fn hundred_percent_may_eject_every_host() {
        // App Mesh: 100 may eject every host.
        let mut d = OutlierDetector::new(&config(1, 10, 30, 100), 3, SimTime::ZERO);
        for h in 0..3 {
            assert!(d.on_result(secs(1), h, E503).is_some_and(|d| d.ejected()));
        }
        assert_eq!(d.ejected_count(), 3);
    }

    #[test]
    fn passing_health_check_unejects_and_resets_the_run() {
        // successful_active_health_check_uneject_host (default true).
        let mut d = OutlierDetector::new(&config(2, 10, 30, 100), 2, SimTime::ZERO);
        errors(&mut d, secs(1), 0, 2);
        assert!(d.is_ejected(0));
        let back = d.uneject_on_health_check(secs(6), 0).expect("was ejected");
        assert_eq!(back.reason, UnejectReason::HealthCheckPassed);
        assert_eq!(back.ejected_for, Duration::from_secs(5));
        assert!(!d.is_ejected(0));
        assert_eq!(d.uneject_on_health_check(secs(7), 0), None);
        assert_eq!(errors(&mut d, secs(8), 0, 1), None, "run restarted");
    }

    #[test]
    fn results_for_ejected_hosts_are_ignored_and_the_run_restarts_on_return() {
        // Envoy ignores a trigger for an already ejected host and resets counters on uneject.
        let mut d = OutlierDetector::new(&config(2, 10, 10, 100), 2, SimTime::ZERO);
        errors(&mut d, secs(1), 0, 2);
        assert_eq!(errors(&mut d, secs(2), 0, 5), None);
        assert_eq!(d.on_sweep(secs(20)).len(), 1);
        assert_eq!(d.consecutive_errors(0), 0);
    }

    #[test]
    fn late_sweeps_run_at_their_scheduled_times() {
        // A caller that sweeps late gets the same result as a punctual one.
        let mut late = OutlierDetector::new(&config(1, 10, 30, 100), 1, SimTime::ZERO);
        let mut punctual = late.clone();
        late.on_result(secs(1), 0, E503);
        punctual.on_result(secs(1), 0, E503);
        let back_late = late.on_sweep(secs(95));
        let mut back_punctual = Vec::new();
        for s in (10..=90).step_by(10) {
            back_punctual.extend(punctual.on_sweep(secs(s)));
        }
        assert_eq!(back_late, back_punctual);
        assert_eq!(back_late[0].at, secs(40));
        assert_eq!(late.multiplier(0), punctual.multiplier(0));
        assert_eq!(late.next_sweep(), secs(100));
        assert_eq!(punctual.next_sweep(), secs(100));
    }

    #[test]
    fn early_sweep_does_nothing_and_idle_sweeps_are_skipped() {
        let mut d = OutlierDetector::new(&config(1, 10, 30, 100), 1, secs(3));
        assert_eq!(d.next_sweep(), secs(13));
        assert!(d.on_sweep(secs(12)).is_empty());
        assert_eq!(d.next_sweep(), secs(13));
        d.on_sweep(secs(1_000_000));
        assert_eq!(d.next_sweep(), secs(1_000_003));
    }

    #[test]
    fn zero_max_server_errors_never_ejects_and_bad_hosts_are_ignored() {
        // Envoy compares the incremented counter for equality, so 0 never triggers.
        let mut d = OutlierDetector::new(&config(0, 0, 30, 100), 1, SimTime::ZERO);
        assert_eq!(errors(&mut d, secs(1), 0, 10), None);
        assert_eq!(d.on_result(secs(1), 7, E503), None);
        assert!(!d.is_ejected(7));
        assert_eq!(d.next_sweep(), SimTime::ZERO + MIN_INTERVAL);
    }

    #[test]
    fn host_changes_keep_or_drop_state() {
        let mut d = OutlierDetector::new(&config(1, 10, 30, 100), 3, SimTime::ZERO);
        d.on_result(secs(1), 2, E503);
        d.remove_host(0);
        assert!(d.is_ejected(1), "host 2 shifted to index 1");
        d.set_host_count(1);
        assert_eq!(d.ejected_count(), 0);
        d.set_host_count(3);
        assert!(!d.is_ejected(2));
    }

    proptest! {
        // Ejected hosts never exceed max_ejection_percent.
        #[test]
        fn ejections_respect_the_cap(
            hosts in 1usize..12,
            percent in 0u32..=100,
            max_errors in 1u64..4,
            steps in proptest::collection::vec((0usize..12, any::<bool>(), 0u64..20_000, 0u8..4), 1..300),
        ) {
            let mut d = OutlierDetector::new(&config(max_errors, 5, 10, percent), hosts, SimTime::ZERO);
            let mut now = SimTime::ZERO;
            for (host, error, advance_ms, action) in steps {
                now = now + Duration::from_millis(advance_ms);
                match action {
                    0 => { d.on_sweep(now); }
                    1 => { d.uneject_on_health_check(now, host % hosts); }
                    _ => {
                        let outcome = if error { E503 } else { RequestResult::Success };
                        d.on_result(now, host % hosts, outcome);
                    }
                }
                let ejected = d.ejected_count();
                let within = ejected * 100 <= percent as usize * hosts;
                prop_assert!(within, "{} of {} ejected at {} %", ejected, hosts, percent);
            }
        }
    }
}
