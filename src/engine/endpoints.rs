//! The endpoints of one virtual node as one client Envoy sees them: the balancer, outlier
//! detection and active health checks, wired together.
//!
//! Each of those is a state machine that knows nothing of the others: the balancer is told
//! which hosts are healthy at every pick, and the health checker does not own the outlier
//! detector. Envoy couples them in a few specific ways (a host is healthy only when it is
//! neither ejected nor failing checks, a passing check un-ejects a host, endpoint changes
//! reach all three), and [`Endpoints`] is the one place that encodes those couplings, so
//! callers drive one thing.

use std::time::Duration;

use super::balancer::{Balancer, BalancerConfig, NoHealthyUpstream, PanicState, Pick};
use super::health::{CheckResult, HealthChecker, Transition};
use super::outlier::{EjectionDecision, OutlierDetector, RequestResult, Unejection};
use super::time::SimTime;
use crate::config::model::{HealthCheck, OutlierDetection};

/// The `connect_timeout` of the upstream clusters App Mesh generates: 1 s, as public config
/// dumps of App Mesh Envoys show (`cds_egress_…` clusters, e.g. djannot/envoyctl#2, 2021),
/// not bare Envoy's 5 s default. An attempt at a host that does not answer (crashed,
/// black-holed) fails as a connect failure after this long, and the retry policy decides.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What a health-check result did, for explanations and event logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HealthUpdate {
    /// The host's active-health change, if any.
    pub transition: Option<Transition>,
    /// The host returning from outlier ejection because the check passed.
    pub unejected: Option<Unejection>,
}

/// The endpoints of one virtual node as seen by one client: balancer, outlier detector and
/// health checker, wired together the way a client Envoy wires them.
///
/// The caller drives time: call [`Endpoints::on_sweep`] and [`Endpoints::due_checks`] at
/// [`Endpoints::next_event`], run the checks it returns, and report their results.
#[derive(Clone, Debug)]
pub struct Endpoints {
    balancer: Balancer,
    outlier: Option<OutlierDetector>,
    health: Option<HealthChecker>,
}

impl Endpoints {
    /// Endpoints for `host_count` hosts at `now`. Without a health check every host passes
    /// active checking; with one, every host is failed until its first check, due at `now`.
    pub fn new(
        lb: BalancerConfig,
        outlier: Option<&OutlierDetection>,
        health: Option<&HealthCheck>,
        host_count: usize,
        now: SimTime,
        rng: &mut impl rand::Rng,
    ) -> Endpoints {
        Endpoints {
            balancer: Balancer::new(lb, host_count, now, rng),
            outlier: outlier.map(|c| OutlierDetector::new(c, host_count, now)),
            health: health.map(|c| HealthChecker::new(c, host_count, now)),
        }
    }

    /// The balancer.
    pub fn balancer(&self) -> &Balancer {
        &self.balancer
    }

    /// The outlier detector, if `outlierDetection` is configured.
    pub fn outlier(&self) -> Option<&OutlierDetector> {
        self.outlier.as_ref()
    }

    /// The health checker, if `healthCheck` is configured.
    pub fn health(&self) -> Option<&HealthChecker> {
        self.health.as_ref()
    }

    /// How many hosts there are.
    pub fn host_count(&self) -> usize {
        self.balancer.host_count()
    }

    /// Whether a host is healthy: not ejected and passing active checks.
    pub fn is_healthy(&self, host: usize) -> bool {
        healthy(self.outlier.as_ref(), self.health.as_ref(), host)
            && host < self.balancer.host_count()
    }

    /// How many hosts are healthy.
    pub fn healthy_count(&self) -> usize {
        (0..self.host_count())
            .filter(|&h| self.is_healthy(h))
            .count()
    }

    /// The panic computation as of now.
    pub fn panic_state(&self) -> PanicState {
        self.balancer.panic_state(self.healthy_count())
    }

    /// Picks a host for a request.
    pub fn pick(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
    ) -> Result<Pick, NoHealthyUpstream> {
        self.pick_excluding(now, rng, &[])
    }

    /// Picks a host for a retry, avoiding hosts already tried when possible.
    pub fn pick_excluding(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
        exclude: &[usize],
    ) -> Result<Pick, NoHealthyUpstream> {
        let (outlier, health) = (self.outlier.as_ref(), self.health.as_ref());
        self.balancer
            .pick_excluding(now, rng, |h| healthy(outlier, health, h), exclude)
    }

    /// [`Endpoints::pick_excluding`] among the hosts `usable` keeps (see
    /// [`Balancer::pick_usable`]): hosts a failure-accrual breaker has taken out are not
    /// candidates, whatever their health.
    pub fn pick_usable(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
        usable: impl Fn(usize) -> bool,
        exclude: &[usize],
    ) -> Result<Pick, NoHealthyUpstream> {
        let (outlier, health) = (self.outlier.as_ref(), self.health.as_ref());
        self.balancer
            .pick_usable(now, rng, usable, |h| healthy(outlier, health, h), exclude)
    }

    /// A request was sent to `host`.
    pub fn on_request_start(&mut self, host: usize) {
        self.balancer.on_request_start(host);
    }

    /// A request to `host` ended: updates load and latency, and feeds outlier detection.
    /// Returns the ejection decision when the host reached `maxServerErrors`.
    pub fn on_request_end(
        &mut self,
        now: SimTime,
        host: usize,
        latency: Duration,
        outcome: RequestResult,
    ) -> Option<EjectionDecision> {
        self.balancer
            .on_request_end(now, host, latency, !outcome.is_error());
        self.outlier.as_mut()?.on_result(now, host, outcome)
    }

    /// A request to `host` was cut off by its downstream stream ending (an idle timeout):
    /// Envoy's router resets the upstream stream and reports nothing to outlier detection
    /// (`Filter::onDestroy`, `resetAll`), so only the balancer's load forgets it.
    pub fn on_request_abandoned(&mut self, now: SimTime, host: usize, latency: Duration) {
        self.balancer.on_request_end(now, host, latency, false);
    }

    /// The next time something is due: an outlier sweep or a health check.
    /// [`SimTime::NEVER`] when neither is configured. Check timeouts are the caller's to
    /// schedule (see [`HealthChecker::next_timeout_at`]).
    pub fn next_event(&self) -> SimTime {
        let sweep = self
            .outlier
            .as_ref()
            .map_or(SimTime::NEVER, OutlierDetector::next_sweep);
        let check = self
            .health
            .as_ref()
            .map_or(SimTime::NEVER, HealthChecker::next_check_at);
        sweep.min(check)
    }

    /// Runs outlier sweeps due by `now`; returns the hosts that came back.
    pub fn on_sweep(&mut self, now: SimTime) -> Vec<Unejection> {
        self.outlier
            .as_mut()
            .map_or_else(Vec::new, |o| o.on_sweep(now))
    }

    /// Health checks due at `now`; the caller runs them and reports each result.
    pub fn due_checks(&mut self, now: SimTime) -> Vec<usize> {
        self.health.as_mut().map_or_else(Vec::new, |h| h.due(now))
    }

    /// Applies a health-check result. A passing check also returns an outlier-ejected host to
    /// the pool (Envoy's `successful_active_health_check_uneject_host`, default true): Envoy
    /// does this on every passing check, not only on a change to healthy.
    pub fn on_check_result(
        &mut self,
        now: SimTime,
        host: usize,
        result: CheckResult,
    ) -> HealthUpdate {
        let transition = self
            .health
            .as_mut()
            .and_then(|h| h.on_check_result(now, host, result));
        let unejected = if result.passed() {
            self.outlier
                .as_mut()
                .and_then(|o| o.uneject_on_health_check(now, host))
        } else {
            None
        };
        HealthUpdate {
            transition,
            unejected,
        }
    }

    /// Endpoints appended or truncated at `now`.
    pub fn set_host_count(&mut self, now: SimTime, host_count: usize) {
        self.balancer.set_host_count(now, host_count);
        if let Some(o) = &mut self.outlier {
            o.set_host_count(host_count);
        }
        if let Some(h) = &mut self.health {
            h.set_host_count(now, host_count);
        }
    }

    /// Removes one endpoint; later indices shift down by one.
    pub fn remove_host(&mut self, host: usize) {
        self.balancer.remove_host(host);
        if let Some(o) = &mut self.outlier {
            o.remove_host(host);
        }
        if let Some(h) = &mut self.health {
            h.remove_host(host);
        }
    }
}

/// Healthy = not ejected and passing active checks (each only when configured).
fn healthy(outlier: Option<&OutlierDetector>, health: Option<&HealthChecker>, host: usize) -> bool {
    !outlier.is_some_and(|o| o.is_ejected(host)) && health.is_none_or(|h| h.is_healthy(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::Protocol;
    use crate::engine::balancer::{Choice, Policy};
    use crate::engine::seed;
    use proptest::prelude::*;

    fn secs(s: u64) -> SimTime {
        SimTime::from_millis(s * 1000)
    }

    fn rng(name: &str) -> seed::Rng {
        seed::stream(7, name)
    }

    fn lb(policy: Policy) -> BalancerConfig {
        BalancerConfig {
            policy,
            ..BalancerConfig::default()
        }
    }

    fn outlier(errors: u64, percent: u32) -> OutlierDetection {
        OutlierDetection {
            max_server_errors: errors,
            interval: Duration::from_secs(10),
            base_ejection_duration: Duration::from_secs(30),
            max_ejection_percent: percent,
        }
    }

    fn check() -> HealthCheck {
        HealthCheck {
            protocol: Protocol::Http,
            path: Some("/health".into()),
            port: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
    }

    fn picks(e: &mut Endpoints, r: &mut seed::Rng, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| e.pick(secs(1), r).expect("a host").host)
            .collect()
    }

    /// Hosts 0..n with round-robin's random start removed: rotate so the list starts at 0.
    fn from_zero(mut v: Vec<usize>) -> Vec<usize> {
        let start = v.iter().position(|&h| h == 0).unwrap_or(0);
        v.rotate_left(start);
        v
    }

    #[test]
    fn round_robin_visits_hosts_in_order() {
        // Envoy ROUND_ROBIN, equal weights: each host once per cycle, in list order.
        let mut r = rng("rr");
        let mut e = Endpoints::new(lb(Policy::RoundRobin), None, None, 4, secs(0), &mut r);
        let seen = picks(&mut e, &mut r, 8);
        assert_eq!(from_zero(seen[..4].to_vec()), [0, 1, 2, 3]);
        assert_eq!(seen[..4], seen[4..]);
    }

    #[test]
    fn round_robin_starts_at_a_random_offset() {
        // Envoy seeds its round-robin index randomly, so clients differ in their first host.
        let firsts: Vec<usize> = (0..16)
            .map(|i| {
                let mut r = seed::stream(i, "rr-start");
                let mut e = Endpoints::new(lb(Policy::RoundRobin), None, None, 4, secs(0), &mut r);
                e.pick(secs(0), &mut r).expect("a host").host
            })
            .collect();
        assert!(firsts.iter().any(|&h| h != firsts[0]), "{firsts:?}");
    }

    #[test]
    fn round_robin_skips_ejected_hosts() {
        // The candidate set excludes outlier-ejected hosts (3 of 4 healthy: no panic).
        let mut r = rng("rr-skip");
        let mut e = Endpoints::new(
            lb(Policy::RoundRobin),
            Some(&outlier(1, 100)),
            None,
            4,
            secs(0),
            &mut r,
        );
        let d = e.on_request_end(
            secs(1),
            2,
            Duration::from_millis(5),
            RequestResult::ServerError(500),
        );
        assert!(d.is_some_and(|d| d.ejected()));
        let seen = picks(&mut e, &mut r, 6);
        assert!(!seen.contains(&2), "{seen:?}");
        assert_eq!(from_zero(seen[..3].to_vec()), [0, 1, 3]);
        assert_eq!(seen[..3], seen[3..]);
    }

    #[test]
    fn unusable_hosts_stay_out_even_in_panic() {
        // A host a failure-accrual breaker took out is not a candidate, and panic (computed
        // over the usable hosts) does not bring it back: host 0 is unusable, host 1 ejected,
        // so the one usable host is unhealthy, panic balances over the usable hosts only.
        let mut r = rng("usable");
        let mut e = Endpoints::new(
            lb(Policy::RoundRobin),
            Some(&outlier(1, 100)),
            None,
            2,
            secs(0),
            &mut r,
        );
        e.on_request_end(secs(1), 1, Duration::ZERO, RequestResult::ServerError(503));
        for _ in 0..6 {
            let p = e
                .pick_usable(secs(1), &mut r, |h| h != 0, &[])
                .expect("a host");
            assert_eq!(p.host, 1);
            assert!(p.reason.panic.panic);
            assert_eq!(p.reason.panic.total, 1);
        }
        let none = e.pick_usable(secs(1), &mut r, |_| false, &[]);
        assert_eq!(none.map(|p| p.host).map_err(|e| e.total), Err(0));
    }

    #[test]
    fn unhealthy_hosts_are_skipped() {
        // Hosts failing active health checks are not candidates.
        let mut r = rng("hc-skip");
        let mut e = Endpoints::new(
            lb(Policy::RoundRobin),
            None,
            Some(&check()),
            3,
            secs(0),
            &mut r,
        );
        assert_eq!(e.due_checks(secs(0)), vec![0, 1, 2]);
        for h in 0..3 {
            e.on_check_result(secs(0), h, CheckResult::Ok);
        }
        e.on_check_result(secs(5), 1, CheckResult::from_http_status(500));
        let seen = picks(&mut e, &mut r, 4);
        assert!(seen.iter().all(|&h| h != 1), "{seen:?}");
    }

    #[test]
    fn panic_mode_routes_to_all_hosts() {
        // healthy_panic_threshold 50 %: with 1 of 3 healthy, Envoy balances over all hosts.
        let mut r = rng("panic");
        let mut e = Endpoints::new(
            lb(Policy::RoundRobin),
            Some(&outlier(1, 100)),
            None,
            3,
            secs(0),
            &mut r,
        );
        e.on_request_end(secs(1), 0, Duration::ZERO, RequestResult::ServerError(503));
        // 2 of 3 healthy: no panic, host 0 skipped.
        let seen = picks(&mut e, &mut r, 4);
        assert!(!seen.contains(&0));
        e.on_request_end(secs(1), 1, Duration::ZERO, RequestResult::ServerError(503));
        assert!(e.panic_state().panic);
        let p = e.pick(secs(1), &mut r).expect("a host");
        assert!(p.reason.panic.panic);
        assert_eq!(p.reason.candidates, 3);
        assert!(p.to_string().contains("panic: 1 of 3 hosts healthy"), "{p}");
        let mut seen = picks(&mut e, &mut r, 3);
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
    }

    #[test]
    fn ejecting_the_only_host_changes_nothing() {
        // envoy#2671: one host, ejected (only maxEjectionPercent 100 allows it), is 0 %
        // healthy: panic sends traffic to it anyway.
        let mut r = rng("only");
        let mut e = Endpoints::new(
            lb(Policy::RoundRobin),
            Some(&outlier(1, 100)),
            None,
            1,
            secs(0),
            &mut r,
        );
        e.on_request_end(secs(1), 0, Duration::ZERO, RequestResult::ServerError(503));
        assert!(e.outlier().is_some_and(|o| o.is_ejected(0)));
        assert_eq!(e.pick(secs(1), &mut r).map(|p| p.host), Ok(0));
    }

    #[test]
    fn no_hosts_is_no_healthy_upstream() {
        // Envoy 503 UH: no host at all, or none healthy with panic off.
        let mut r = rng("uh");
        let mut e = Endpoints::new(BalancerConfig::default(), None, None, 0, secs(0), &mut r);
        let err = e.pick(secs(0), &mut r).expect_err("no hosts");
        assert_eq!(err.total, 0);
        assert!(err.to_string().starts_with("no healthy upstream"));

        let no_panic = BalancerConfig {
            panic_threshold_percent: 0,
            ..BalancerConfig::default()
        };
        let mut e = Endpoints::new(no_panic, None, Some(&check()), 2, secs(0), &mut r);
        let err = e.pick(secs(0), &mut r).expect_err("none healthy yet");
        assert!(err.panic_disabled);
        e.on_check_result(secs(0), 1, CheckResult::Ok);
        assert_eq!(e.pick(secs(0), &mut r).map(|p| p.host), Ok(1));
    }

    #[test]
    fn new_hosts_with_health_checks_get_traffic_through_panic() {
        // All hosts start failed until their first check; panic (0 % healthy) still routes.
        let mut r = rng("warm");
        let mut e = Endpoints::new(
            BalancerConfig::default(),
            None,
            Some(&check()),
            2,
            secs(0),
            &mut r,
        );
        let p = e.pick(secs(0), &mut r).expect("panic routes");
        assert!(p.reason.panic.panic);
    }

    #[test]
    fn p2c_prefers_the_less_loaded_host() {
        // Least request, choice_count 2: with two hosts both are always sampled, and the one
        // with fewer requests in flight wins.
        let mut r = rng("p2c");
        let mut e = Endpoints::new(lb(Policy::LeastRequest), None, None, 2, secs(0), &mut r);
        for _ in 0..3 {
            e.on_request_start(0);
        }
        for _ in 0..20 {
            let p = e.pick(secs(0), &mut r).expect("a host");
            assert_eq!(p.host, 1);
            assert!(matches!(
                p.reason.choice,
                Choice::LeastRequest {
                    active: 0,
                    other_active: 3,
                    ..
                }
            ));
        }
        // With more hosts, the single most loaded host loses every pair it is drawn into.
        let mut e = Endpoints::new(lb(Policy::LeastRequest), None, None, 5, secs(0), &mut r);
        e.on_request_start(3);
        let seen = picks(&mut e, &mut r, 200);
        assert!(!seen.contains(&3));
        assert!((0..5).filter(|&h| h != 3).all(|h| seen.contains(&h)));
    }

    #[test]
    fn ewma_prefers_the_faster_host() {
        // Peak EWMA: cost = latency estimate × (in flight + 1); the faster host wins.
        let mut r = rng("ewma");
        let mut e = Endpoints::new(lb(Policy::PeakEwma), None, None, 2, secs(0), &mut r);
        for (host, ms) in [(0, 100), (1, 10)] {
            e.on_request_start(host);
            e.on_request_end(
                secs(1),
                host,
                Duration::from_millis(ms),
                RequestResult::Success,
            );
        }
        for _ in 0..20 {
            assert_eq!(e.pick(secs(1), &mut r).map(|p| p.host), Ok(1));
        }
        // Load counts too: 10 ms with 15 in flight costs more than 100 ms idle.
        for _ in 0..15 {
            e.on_request_start(1);
        }
        assert_eq!(e.pick(secs(1), &mut r).map(|p| p.host), Ok(0));
    }

    #[test]
    fn random_spreads_over_candidates() {
        let mut r = rng("random");
        let mut e = Endpoints::new(lb(Policy::Random), None, None, 3, secs(0), &mut r);
        let seen = picks(&mut e, &mut r, 100);
        assert!((0..3).all(|h| seen.contains(&h)));
    }

    #[test]
    fn retries_avoid_previous_hosts_but_never_fail_for_it() {
        // previous_hosts predicate: avoid tried hosts; if all were tried, reuse one.
        for policy in [
            Policy::RoundRobin,
            Policy::Random,
            Policy::LeastRequest,
            Policy::PeakEwma,
        ] {
            let mut r = rng("avoid");
            let mut e = Endpoints::new(lb(policy), None, None, 3, secs(0), &mut r);
            for _ in 0..20 {
                let p = e.pick_excluding(secs(0), &mut r, &[0, 2]).expect("a host");
                assert_eq!(p.host, 1, "{policy}");
                assert_eq!(p.reason.avoided, 2);
            }
            let p = e
                .pick_excluding(secs(0), &mut r, &[0, 1, 2])
                .expect("falls back");
            assert!(p.reason.avoidance_dropped);
            assert_eq!(p.reason.candidates, 3);
        }
    }

    #[test]
    fn passing_check_unejects_an_ejected_host() {
        // successful_active_health_check_uneject_host: any passing check returns the host,
        // even one that changes nothing for active health.
        let mut r = rng("uneject");
        let mut e = Endpoints::new(
            BalancerConfig::default(),
            Some(&outlier(1, 100)),
            Some(&check()),
            2,
            secs(0),
            &mut r,
        );
        for h in 0..2 {
            e.on_check_result(secs(0), h, CheckResult::Ok);
        }
        e.on_request_end(secs(1), 0, Duration::ZERO, RequestResult::ServerError(502));
        assert!(!e.is_healthy(0));
        let failed = e.on_check_result(secs(5), 0, CheckResult::TimedOut);
        assert_eq!(failed, HealthUpdate::default());
        let update = e.on_check_result(secs(10), 0, CheckResult::Ok);
        assert_eq!(update.transition, None, "already passing active checks");
        assert!(update.unejected.is_some());
        assert!(e.is_healthy(0));
    }

    #[test]
    fn next_event_is_the_earliest_sweep_or_check() {
        let mut r = rng("next");
        let mut e = Endpoints::new(
            BalancerConfig::default(),
            Some(&outlier(1, 100)),
            Some(&check()),
            1,
            secs(0),
            &mut r,
        );
        assert_eq!(e.next_event(), secs(0));
        assert_eq!(e.due_checks(secs(0)), vec![0]);
        assert_eq!(
            e.next_event(),
            secs(10),
            "check in flight: the sweep is next"
        );
        e.on_check_result(secs(1), 0, CheckResult::Ok);
        assert_eq!(e.next_event(), secs(6));
        let bare = Endpoints::new(BalancerConfig::default(), None, None, 1, secs(0), &mut r);
        assert_eq!(bare.next_event(), SimTime::NEVER);
    }

    #[test]
    fn an_abandoned_request_is_not_an_outlier_error() {
        // One error to go before ejection: an abandoned request neither ejects nor resets
        // the run, and its load is gone.
        let mut r = rng("abandon");
        let mut e = Endpoints::new(
            lb(Policy::LeastRequest),
            Some(&outlier(2, 100)),
            None,
            2,
            secs(0),
            &mut r,
        );
        e.on_request_start(0);
        e.on_request_end(secs(1), 0, Duration::ZERO, RequestResult::ServerError(503));
        e.on_request_start(0);
        e.on_request_abandoned(secs(2), 0, Duration::from_secs(1));
        assert!(e.is_healthy(0));
        assert_eq!(e.outlier().map(|o| o.consecutive_errors(0)), Some(1));
        assert_eq!(e.balancer().active(0), 0);
    }

    #[test]
    fn host_changes_reach_every_component() {
        let mut r = rng("hosts");
        let mut e = Endpoints::new(
            BalancerConfig::default(),
            Some(&outlier(1, 100)),
            Some(&check()),
            2,
            secs(0),
            &mut r,
        );
        e.set_host_count(secs(3), 3);
        assert_eq!(e.host_count(), 3);
        assert_eq!(e.outlier().map(OutlierDetector::host_count), Some(3));
        assert_eq!(e.health().map(HealthChecker::host_count), Some(3));
        e.remove_host(0);
        assert_eq!(e.host_count(), 2);
        assert_eq!(e.health().map(HealthChecker::host_count), Some(2));
        assert!(!e.is_healthy(5));
    }

    /// One step of a random scenario.
    #[derive(Clone, Debug)]
    enum Op {
        Pick(Vec<usize>),
        Start(usize),
        End(usize, u16, u64),
        Check(usize, u8),
        Sweep,
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => proptest::collection::vec(0usize..8, 0..3).prop_map(Op::Pick),
            2 => (0usize..8).prop_map(Op::Start),
            4 => (0usize..8, prop_oneof![Just(200u16), Just(404), Just(500), Just(503)], 0u64..500)
                .prop_map(|(h, s, l)| Op::End(h, s, l)),
            2 => (0usize..8, 0u8..3).prop_map(|(h, c)| Op::Check(h, c)),
            1 => Just(Op::Sweep),
            2 => (0u64..20_000).prop_map(Op::Advance),
        ]
    }

    fn policy() -> impl Strategy<Value = Policy> {
        prop_oneof![
            Just(Policy::RoundRobin),
            Just(Policy::Random),
            Just(Policy::LeastRequest),
            Just(Policy::PeakEwma),
        ]
    }

    /// Runs a scenario; checks every pick against the health rules; returns the picks.
    fn run(
        seed_value: u64,
        config: BalancerConfig,
        hosts: usize,
        with_health: bool,
        ops: &[Op],
    ) -> Result<Vec<Result<usize, NoHealthyUpstream>>, TestCaseError> {
        let mut r = seed::stream(seed_value, "balancer-prop");
        let hc = check();
        let mut e = Endpoints::new(
            config,
            Some(&outlier(2, 50)),
            with_health.then_some(&hc),
            hosts,
            SimTime::ZERO,
            &mut r,
        );
        let mut now = SimTime::ZERO;
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Pick(exclude) => {
                    let healthy = e.healthy_count();
                    let panic = healthy * 100 < config.panic_threshold_percent as usize * hosts
                        || (hosts == 0 && config.panic_threshold_percent > 0);
                    let res = e.pick_excluding(now, &mut r, exclude);
                    match &res {
                        Ok(p) => {
                            prop_assert!(p.host < hosts);
                            prop_assert_eq!(p.reason.panic.panic, panic);
                            prop_assert!(panic || e.is_healthy(p.host), "{}", p);
                        }
                        Err(_) => prop_assert!(hosts == 0 || (healthy == 0 && !panic)),
                    }
                    out.push(res.map(|p| p.host));
                }
                Op::Start(h) => e.on_request_start(h % hosts.max(1)),
                Op::End(h, status, ms) => {
                    e.on_request_end(
                        now,
                        h % hosts.max(1),
                        Duration::from_millis(*ms),
                        RequestResult::from_status(*status),
                    );
                }
                Op::Check(h, c) => {
                    let result = match c {
                        0 => CheckResult::Ok,
                        1 => CheckResult::TimedOut,
                        _ => CheckResult::from_http_status(503),
                    };
                    e.on_check_result(now, h % hosts.max(1), result);
                }
                Op::Sweep => {
                    e.on_sweep(now);
                }
                Op::Advance(ms) => now = now + Duration::from_millis(*ms),
            }
        }
        Ok(out)
    }

    proptest! {
        // A pick is always a host in range, never an ejected or unhealthy host unless in
        // panic mode, and fails (UH) only with no hosts or none healthy and panic off.
        #[test]
        fn picks_respect_health_unless_in_panic(
            seed_value in any::<u64>(),
            policy in policy(),
            threshold in prop_oneof![Just(0u32), Just(50), 0u32..=120],
            hosts in 0usize..7,
            with_health in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..120),
        ) {
            let config = BalancerConfig { policy, panic_threshold_percent: threshold.min(100), ..BalancerConfig::default() };
            run(seed_value, config, hosts, with_health, &ops)?;
        }

        // Same seed and inputs give the same picks.
        #[test]
        fn same_seed_same_picks(
            seed_value in any::<u64>(),
            policy in policy(),
            hosts in 1usize..7,
            with_health in any::<bool>(),
            ops in proptest::collection::vec(op(), 0..120),
        ) {
            let config = BalancerConfig { policy, ..BalancerConfig::default() };
            let a = run(seed_value, config, hosts, with_health, &ops)?;
            let b = run(seed_value, config, hosts, with_health, &ops)?;
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn different_seeds_give_different_random_picks() {
        // The rng is actually consulted: two fixed seeds disagree somewhere in 50 picks.
        let ops: Vec<Op> = (0..50).map(|_| Op::Pick(Vec::new())).collect();
        let config = lb(Policy::Random);
        let a = run(1, config, 5, false, &ops).expect("run");
        let b = run(2, config, 5, false, &ops).expect("run");
        assert_ne!(a, b);
    }
}
