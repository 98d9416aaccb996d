//! Active health checks: App Mesh `healthCheck`, run by each client Envoy against every
//! endpoint of the virtual node (appmesh-spec §3.2).
//!
//! The caller performs the checks (it owns the network); this module decides when each host
//! is due and what a result does to the host's health. Envoy behaviour reproduced here (read
//! from `health_checker_base_impl.cc` and `upstream_impl.cc`):
//! - **New hosts start failed.** Envoy marks every host of a health-checked cluster
//!   `FAILED_ACTIVE_HC` when it is added, and the **first** check that passes makes it healthy
//!   at once, whatever `healthyThreshold` says. The first check runs as soon as the host is
//!   added. Until then the panic threshold (see the balancer) routes to all hosts anyway.
//! - **Healthy again** after `healthyThreshold` consecutive passing checks.
//! - **Unhealthy** after `unhealthyThreshold` consecutive *network* failures (connect
//!   failure, reset, timeout). A host that answers with the wrong status (HTTP other than 200,
//!   gRPC other than SERVING) is marked unhealthy **at once**: Envoy applies the threshold to
//!   network failures only, and App Mesh sets no `retriable_statuses`.
//! - **Timing.** The next check is one `interval` after the previous result (Envoy re-arms its
//!   timer when a check completes or times out), so checks drift by their own duration.
//! - **Every passing check** un-ejects an outlier-ejected host
//!   (`successful_active_health_check_uneject_host`); the caller applies that (see
//!   `endpoints::Endpoints`), since this module does not own the outlier detector.
//!
//! Not modelled: interval jitter (Envoy's default is none and App Mesh exposes none),
//! `no_traffic_interval`, the unhealthy/edge intervals, and cluster warming.

use std::fmt;
use std::time::Duration;

use super::time::SimTime;
use crate::config::model::{HealthCheck, Protocol};

/// The shortest interval we run; zero would make a caller's event loop spin.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// How a check failed when the host did answer, or could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckFailure {
    /// HTTP/HTTP2 answered with a status other than 200: an active failure, immediate.
    Status(u16),
    /// gRPC Health answered with something other than SERVING: an active failure, immediate.
    NotServing,
    /// The connection could not be established: a network failure, counted.
    ConnectFailed,
    /// The connection or stream was reset: a network failure, counted.
    Reset,
}

impl CheckFailure {
    /// Whether Envoy counts this failure toward `unhealthyThreshold` (network failures) rather
    /// than failing the host at once (the host answered, and said no).
    pub fn is_network(self) -> bool {
        matches!(self, CheckFailure::ConnectFailed | CheckFailure::Reset)
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckFailure::Status(s) => write!(f, "status {s}"),
            CheckFailure::NotServing => f.write_str("not SERVING"),
            CheckFailure::ConnectFailed => f.write_str("connect failure"),
            CheckFailure::Reset => f.write_str("reset"),
        }
    }
}

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// HTTP 200, gRPC SERVING, or (tcp) the connection opened.
    Ok,
    /// The check failed.
    Failed(CheckFailure),
    /// No answer within `timeout`: a network failure, counted.
    TimedOut,
}

impl CheckResult {
    /// The result of an HTTP or HTTP/2 check: only 200 passes (App Mesh, roadmap#105).
    pub fn from_http_status(status: u16) -> CheckResult {
        if status == 200 {
            CheckResult::Ok
        } else {
            CheckResult::Failed(CheckFailure::Status(status))
        }
    }

    /// The result of a gRPC Health check.
    pub fn from_grpc_serving(serving: bool) -> CheckResult {
        if serving {
            CheckResult::Ok
        } else {
            CheckResult::Failed(CheckFailure::NotServing)
        }
    }

    /// The result of a TCP check: passes when the connection opens.
    pub fn from_tcp_connect(connected: bool) -> CheckResult {
        if connected {
            CheckResult::Ok
        } else {
            CheckResult::Failed(CheckFailure::ConnectFailed)
        }
    }

    /// Whether the check passed.
    pub fn passed(self) -> bool {
        self == CheckResult::Ok
    }

    /// Whether a failure counts toward the threshold (network) rather than failing at once.
    fn is_network_failure(self) -> bool {
        match self {
            CheckResult::Ok => false,
            CheckResult::TimedOut => true,
            CheckResult::Failed(f) => f.is_network(),
        }
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Ok => f.write_str("passed"),
            CheckResult::Failed(why) => write!(f, "failed ({why})"),
            CheckResult::TimedOut => f.write_str("timed out"),
        }
    }
}

/// Why a host's health changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionReason {
    /// The first check of a new host passed (Envoy skips `healthyThreshold` for it).
    FirstCheckPassed,
    /// `healthyThreshold` consecutive checks passed.
    HealthyThreshold(u32),
    /// `unhealthyThreshold` consecutive network failures; the last one.
    UnhealthyThreshold(u32, CheckResult),
    /// The host answered and said it is not healthy: immediate.
    ActiveFailure(CheckFailure),
}

/// A host changing health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The host.
    pub host: usize,
    /// When.
    pub at: SimTime,
    /// Healthy after the change.
    pub healthy: bool,
    /// Why.
    pub reason: TransitionReason,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, at) = (self.host, self.at);
        match self.reason {
            TransitionReason::FirstCheckPassed => {
                write!(f, "host {h} healthy at {at}: its first health check passed")
            }
            TransitionReason::HealthyThreshold(n) => write!(
                f,
                "host {h} healthy at {at}: {n} consecutive health checks passed (healthy_threshold)"
            ),
            TransitionReason::UnhealthyThreshold(n, last) => write!(
                f,
                "host {h} unhealthy at {at}: {n} consecutive health checks failed \
                 (unhealthy_threshold; last {last})"
            ),
            TransitionReason::ActiveFailure(why) => write!(
                f,
                "host {h} unhealthy at {at}: health check answered {why} \
                 (a host that answers unhealthy fails at once)"
            ),
        }
    }
}

/// One host's checker state (Envoy's `ActiveHealthCheckSession`).
#[derive(Clone, Copy, Debug)]
struct Session {
    healthy: bool,
    first_check: bool,
    successes: u32,
    failures: u32,
    next_at: SimTime,
    in_flight_since: Option<SimTime>,
}

impl Session {
    fn new(first_check_at: SimTime) -> Session {
        Session {
            healthy: false,
            first_check: true,
            successes: 0,
            failures: 0,
            next_at: first_check_at,
            in_flight_since: None,
        }
    }
}

/// Active health checking of one virtual node's endpoints by one client.
#[derive(Clone, Debug)]
pub struct HealthChecker {
    config: HealthCheck,
    interval: Duration,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    hosts: Vec<Session>,
}

impl HealthChecker {
    /// A checker for `host_count` hosts, all failed until their first check passes; every
    /// first check is due at `first_check_at`.
    ///
    /// Thresholds of 0 (outside App Mesh's 2..=10) are treated as 1.
    pub fn new(config: &HealthCheck, host_count: usize, first_check_at: SimTime) -> HealthChecker {
        HealthChecker {
            interval: config.interval.max(MIN_INTERVAL),
            healthy_threshold: config.healthy_threshold.max(1),
            unhealthy_threshold: config.unhealthy_threshold.max(1),
            config: config.clone(),
            hosts: vec![Session::new(first_check_at); host_count],
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthCheck {
        &self.config
    }

    /// The protocol the checks speak.
    pub fn protocol(&self) -> Protocol {
        self.config.protocol
    }

    /// Hosts whose check is due at `now`, in index order. Each is marked in flight from `now`
    /// and is not due again until its result arrives: the caller runs the check and reports
    /// it with [`HealthChecker::on_check_result`], or reports [`CheckResult::TimedOut`] at
    /// [`HealthChecker::timeout_at`].
    pub fn due(&mut self, now: SimTime) -> Vec<usize> {
        let mut due = Vec::new();
        for (host, s) in self.hosts.iter_mut().enumerate() {
            if s.in_flight_since.is_none() && s.next_at <= now {
                s.in_flight_since = Some(now);
                due.push(host);
            }
        }
        due
    }

    /// The earliest time a check not in flight is due; [`SimTime::NEVER`] if none.
    pub fn next_check_at(&self) -> SimTime {
        self.hosts
            .iter()
            .filter(|s| s.in_flight_since.is_none())
            .map(|s| s.next_at)
            .min()
            .unwrap_or(SimTime::NEVER)
    }

    /// When the host's check in flight times out; `None` if none is in flight.
    pub fn timeout_at(&self, host: usize) -> Option<SimTime> {
        let since = self.hosts.get(host)?.in_flight_since?;
        Some(since + self.config.timeout)
    }

    /// The earliest timeout among checks in flight; [`SimTime::NEVER`] if none.
    pub fn next_timeout_at(&self) -> SimTime {
        (0..self.hosts.len())
            .filter_map(|h| self.timeout_at(h))
            .min()
            .unwrap_or(SimTime::NEVER)
    }

    /// Applies one check's result and schedules the host's next check one interval from
    /// `now`. Returns the transition when the host's health changed; `None` otherwise and
    /// for hosts out of range. A result for a host with no check in flight is applied the
    /// same way.
    pub fn on_check_result(
        &mut self,
        now: SimTime,
        host: usize,
        result: CheckResult,
    ) -> Option<Transition> {
        let (healthy_threshold, unhealthy_threshold) =
            (self.healthy_threshold, self.unhealthy_threshold);
        let s = self.hosts.get_mut(host)?;
        s.in_flight_since = None;
        s.next_at = now + self.interval;
        let first = std::mem::replace(&mut s.first_check, false);
        let reason = if result.passed() {
            s.failures = 0;
            if s.healthy {
                return None;
            }
            s.successes = s.successes.saturating_add(1);
            if first {
                TransitionReason::FirstCheckPassed
            } else if s.successes >= healthy_threshold {
                TransitionReason::HealthyThreshold(healthy_threshold)
            } else {
                return None;
            }
        } else {
            s.successes = 0;
            if !s.healthy {
                return None;
            }
            s.failures = s.failures.saturating_add(1);
            match result {
                CheckResult::Failed(why) if !result.is_network_failure() => {
                    TransitionReason::ActiveFailure(why)
                }
                _ if s.failures >= unhealthy_threshold => {
                    TransitionReason::UnhealthyThreshold(unhealthy_threshold, result)
                }
                _ => return None,
            }
        };
        s.healthy = !s.healthy;
        s.successes = 0;
        s.failures = 0;
        Some(Transition {
            host,
            at: now,
            healthy: s.healthy,
            reason,
        })
    }

    /// Whether the host passes active health checking (false for hosts out of range).
    pub fn is_healthy(&self, host: usize) -> bool {
        self.hosts.get(host).is_some_and(|s| s.healthy)
    }

    /// How many hosts are healthy.
    pub fn healthy_count(&self) -> usize {
        self.hosts.iter().filter(|s| s.healthy).count()
    }

    /// Consecutive passing and failing checks counted toward the thresholds, for
    /// explanations ("1 of 3 passes needed").
    pub fn streak(&self, host: usize) -> Option<(u32, u32)> {
        self.hosts.get(host).map(|s| (s.successes, s.failures))
    }

    /// How many hosts the checker tracks.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Endpoints appended or truncated. New hosts start failed with their first check due at
    /// `now`, as Envoy starts a session for each added host.
    pub fn set_host_count(&mut self, now: SimTime, host_count: usize) {
        self.hosts.resize(host_count, Session::new(now));
    }

    /// Removes one endpoint; later indices shift down by one. Out of range does nothing.
    pub fn remove_host(&mut self, host: usize) {
        if host < self.hosts.len() {
            self.hosts.remove(host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(healthy: u32, unhealthy: u32) -> HealthCheck {
        HealthCheck {
            protocol: Protocol::Http,
            path: Some("/ping".into()),
            port: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: healthy,
            unhealthy_threshold: unhealthy,
        }
    }

    fn secs(s: u64) -> SimTime {
        SimTime::from_millis(s * 1000)
    }

    /// A checker whose host 0 has passed its first check.
    fn healthy_checker(healthy: u32, unhealthy: u32) -> HealthChecker {
        let mut c = HealthChecker::new(&config(healthy, unhealthy), 2, SimTime::ZERO);
        assert!(c.on_check_result(secs(0), 0, CheckResult::Ok).is_some());
        c
    }

    #[test]
    fn new_hosts_fail_until_their_first_check_passes() {
        // Envoy sets FAILED_ACTIVE_HC on hosts added to a health-checked cluster; the first
        // passing check clears it at once, ignoring healthy_threshold.
        let mut c = HealthChecker::new(&config(3, 2), 2, SimTime::ZERO);
        assert!(!c.is_healthy(0));
        assert_eq!(c.healthy_count(), 0);
        let t = c
            .on_check_result(secs(0), 0, CheckResult::Ok)
            .expect("transition");
        assert_eq!(t.reason, TransitionReason::FirstCheckPassed);
        assert!(t.healthy && c.is_healthy(0));
    }

    #[test]
    fn a_failed_first_check_then_needs_healthy_threshold() {
        // After a failed first check, the host needs healthy_threshold passes in a row.
        let mut c = HealthChecker::new(&config(3, 2), 1, SimTime::ZERO);
        assert_eq!(c.on_check_result(secs(0), 0, CheckResult::TimedOut), None);
        assert_eq!(c.on_check_result(secs(5), 0, CheckResult::Ok), None);
        assert_eq!(c.on_check_result(secs(10), 0, CheckResult::Ok), None);
        let t = c
            .on_check_result(secs(15), 0, CheckResult::Ok)
            .expect("third pass");
        assert_eq!(t.reason, TransitionReason::HealthyThreshold(3));
        assert!(c.is_healthy(0));
    }

    #[test]
    fn a_failure_restarts_the_healthy_streak() {
        // Consecutive: a failure between passes resets the count of passes.
        let mut c = HealthChecker::new(&config(2, 2), 1, SimTime::ZERO);
        c.on_check_result(secs(0), 0, CheckResult::TimedOut);
        c.on_check_result(secs(5), 0, CheckResult::Ok);
        c.on_check_result(secs(10), 0, CheckResult::TimedOut);
        assert_eq!(c.on_check_result(secs(15), 0, CheckResult::Ok), None);
        assert!(c.on_check_result(secs(20), 0, CheckResult::Ok).is_some());
    }

    #[test]
    fn network_failures_count_toward_unhealthy_threshold() {
        // unhealthy_threshold consecutive timeouts / connect failures / resets.
        let mut c = healthy_checker(2, 3);
        assert_eq!(c.on_check_result(secs(5), 0, CheckResult::TimedOut), None);
        let reset = CheckResult::Failed(CheckFailure::Reset);
        assert_eq!(c.on_check_result(secs(10), 0, reset), None);
        assert!(c.is_healthy(0));
        let connect = CheckResult::from_tcp_connect(false);
        let t = c
            .on_check_result(secs(15), 0, connect)
            .expect("third failure");
        assert_eq!(t.reason, TransitionReason::UnhealthyThreshold(3, connect));
        assert!(!c.is_healthy(0));
    }

    #[test]
    fn a_pass_restarts_the_unhealthy_streak() {
        let mut c = healthy_checker(2, 2);
        c.on_check_result(secs(5), 0, CheckResult::TimedOut);
        c.on_check_result(secs(10), 0, CheckResult::Ok);
        assert_eq!(c.on_check_result(secs(15), 0, CheckResult::TimedOut), None);
        assert!(
            c.on_check_result(secs(20), 0, CheckResult::TimedOut)
                .is_some()
        );
    }

    #[test]
    fn an_unhealthy_answer_fails_the_host_at_once() {
        // Envoy applies unhealthy_threshold to network failures only: a host that answers
        // non-200 (or gRPC NOT_SERVING) is failed immediately.
        let mut c = healthy_checker(2, 5);
        let t = c
            .on_check_result(secs(5), 0, CheckResult::from_http_status(503))
            .expect("immediate");
        assert_eq!(
            t.reason,
            TransitionReason::ActiveFailure(CheckFailure::Status(503))
        );
        let mut g = healthy_checker(2, 5);
        let t = g
            .on_check_result(secs(5), 0, CheckResult::from_grpc_serving(false))
            .expect("immediate");
        assert_eq!(
            t.reason,
            TransitionReason::ActiveFailure(CheckFailure::NotServing)
        );
        assert!(t.to_string().contains("at once"));
    }

    #[test]
    fn only_200_passes_http() {
        // App Mesh: only HTTP 200 counts as healthy.
        assert!(CheckResult::from_http_status(200).passed());
        assert!(!CheckResult::from_http_status(204).passed());
        assert!(!CheckResult::from_http_status(301).passed());
    }

    #[test]
    fn checks_are_due_one_interval_after_each_result() {
        // Envoy re-arms the interval timer when a check completes or times out.
        let mut c = HealthChecker::new(&config(2, 2), 2, secs(1));
        assert_eq!(c.next_check_at(), secs(1));
        assert!(c.due(secs(0)).is_empty());
        assert_eq!(c.due(secs(1)), vec![0, 1]);
        assert_eq!(c.next_check_at(), SimTime::NEVER, "both in flight");
        assert!(c.due(secs(100)).is_empty(), "not due again while in flight");
        assert_eq!(c.timeout_at(0), Some(secs(3)));
        assert_eq!(c.next_timeout_at(), secs(3));
        c.on_check_result(secs(1), 0, CheckResult::Ok);
        c.on_check_result(secs(3), 1, CheckResult::TimedOut);
        assert_eq!(c.timeout_at(0), None);
        assert_eq!(c.next_check_at(), secs(6));
        assert_eq!(c.due(secs(6)), vec![0]);
        assert_eq!(c.due(secs(8)), vec![1]);
    }

    #[test]
    fn added_hosts_start_failed_and_are_checked_at_once() {
        let mut c = healthy_checker(2, 2);
        c.set_host_count(secs(30), 3);
        assert!(!c.is_healthy(2));
        assert!(c.due(secs(30)).contains(&2));
        c.remove_host(0);
        assert!(!c.is_healthy(0), "old host 1 shifted down");
        assert_eq!(c.host_count(), 2);
        assert_eq!(c.on_check_result(secs(31), 9, CheckResult::Ok), None);
    }

    #[test]
    fn zero_thresholds_act_as_one() {
        let mut c = healthy_checker(0, 0);
        assert!(
            c.on_check_result(secs(5), 0, CheckResult::TimedOut)
                .is_some()
        );
        assert!(c.on_check_result(secs(10), 0, CheckResult::Ok).is_some());
    }
}
