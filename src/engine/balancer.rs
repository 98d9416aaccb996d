//! Load balancing across the endpoints of one virtual node, as seen by one client Envoy.
//!
//! App Mesh offers one behaviour: Envoy's `ROUND_ROBIN` with equal weights over the healthy
//! endpoints (appmesh-spec §8.3). [`Policy`] adds extensions for experiments: random,
//! least-request power of two choices, and peak-EWMA power of two choices.
//!
//! Health and panic (Envoy `healthy_panic_threshold`, default 50 %): a host is healthy when it
//! is neither outlier-ejected nor failing active health checks. The pick is made among the
//! healthy hosts, unless fewer than the threshold share of hosts is healthy: then Envoy
//! ignores health and balances over **all** hosts (so ejecting the only host changes
//! nothing, envoy#2671). With no hosts at all, or no healthy host and panic turned off, the
//! request fails with 503 "no healthy upstream" (`UH`).
//!
//! Which hosts are healthy is not decided here: each pick is told. [`Endpoints`] wires a
//! balancer to outlier detection and active health checks, so the balancing policy and the
//! panic rule can be reasoned about without either.
//!
//! [`Endpoints`]: super::endpoints::Endpoints

use std::fmt;
use std::time::Duration;

use super::time::SimTime;

/// Envoy's `healthy_panic_threshold` default.
pub const DEFAULT_PANIC_THRESHOLD_PERCENT: u32 = 50;
/// Default peak-EWMA decay time constant.
pub const DEFAULT_EWMA_DECAY: Duration = Duration::from_secs(10);
/// Default latency estimate of a host with no samples yet (linkerd2-proxy's default RTT,
/// recalled, not re-read).
pub const DEFAULT_EWMA_RTT: Duration = Duration::from_millis(30);

/// How a host is chosen among the candidates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Policy {
    /// Envoy `ROUND_ROBIN` with equal weights: App Mesh's only behaviour.
    #[default]
    RoundRobin,
    /// Uniformly random (Envoy `RANDOM`); an extension.
    Random,
    /// Envoy `LEAST_REQUEST` with equal weights, `choice_count` 2: two distinct random
    /// hosts, the one with fewer requests in flight wins; an extension.
    LeastRequest,
    /// Peak-EWMA power of two choices (Finagle, linkerd, tower): cost = latency estimate ×
    /// (requests in flight + 1), the cheaper of two distinct random hosts wins; an extension.
    PeakEwma,
}

impl Policy {
    /// A short name for explanations.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::RoundRobin => "round robin",
            Policy::Random => "random",
            Policy::LeastRequest => "least request (P2C)",
            Policy::PeakEwma => "peak EWMA (P2C)",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Balancer settings. The default is App Mesh's: round robin, panic below 50 % healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BalancerConfig {
    /// The policy.
    pub policy: Policy,
    /// Panic below this healthy share, 0..=100 (larger values act as 100); 0 turns panic off.
    pub panic_threshold_percent: u32,
    /// Peak-EWMA decay time constant.
    pub ewma_decay: Duration,
    /// Peak-EWMA estimate for a host with no samples yet; it decays like any estimate, so an
    /// idle new host soon looks cheap and gets tried.
    pub ewma_default_rtt: Duration,
}

impl Default for BalancerConfig {
    fn default() -> Self {
        BalancerConfig {
            policy: Policy::RoundRobin,
            panic_threshold_percent: DEFAULT_PANIC_THRESHOLD_PERCENT,
            ewma_decay: DEFAULT_EWMA_DECAY,
            ewma_default_rtt: DEFAULT_EWMA_RTT,
        }
    }
}

/// Envoy's 503 `UH`: no host to send the request to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoHealthyUpstream {
    /// Healthy hosts.
    pub healthy: usize,
    /// All hosts.
    pub total: usize,
    /// Whether panic mode was off (threshold 0), which is why unhealthy hosts were not used.
    pub panic_disabled: bool,
}

impl fmt::Display for NoHealthyUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no healthy upstream (503 UH): {} of {} hosts healthy",
            self.healthy, self.total
        )?;
        if self.panic_disabled && self.total > 0 {
            f.write_str(", and panic mode is off")?;
        }
        Ok(())
    }
}

impl std::error::Error for NoHealthyUpstream {}

/// The panic computation for one pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PanicState {
    /// Healthy hosts.
    pub healthy: usize,
    /// All hosts.
    pub total: usize,
    /// The threshold, percent.
    pub threshold_percent: u32,
    /// Whether the balancer ignored health: healthy / total < threshold.
    pub panic: bool,
}

/// How the policy chose, for explanations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Choice {
    /// The round-robin cursor's position in the candidate list.
    RoundRobin {
        /// Position in the candidate list (ascending host index).
        position: usize,
    },
    /// A uniform draw.
    Random,
    /// Least request: the other sampled host and both loads (`None`: a single candidate).
    LeastRequest {
        /// The losing host.
        other: Option<usize>,
        /// Requests in flight on the chosen host.
        active: u32,
        /// Requests in flight on the other host.
        other_active: u32,
    },
    /// Peak EWMA: the other sampled host and both costs, in milliseconds × requests.
    PeakEwma {
        /// The losing host.
        other: Option<usize>,
        /// The chosen host's cost.
        cost: f64,
        /// The other host's cost.
        other_cost: f64,
    },
}

/// Why a host was picked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PickReason {
    /// The policy.
    pub policy: Policy,
    /// Health and panic.
    pub panic: PanicState,
    /// Hosts the policy chose among.
    pub candidates: usize,
    /// Hosts left out because an earlier attempt used them; 0 when the avoidance fell back.
    pub avoided: usize,
    /// Every candidate had been tried, so the avoidance was dropped (it never fails a pick).
    pub avoidance_dropped: bool,
    /// The policy's own reasoning.
    pub choice: Choice,
}

/// A picked host, with the reason.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pick {
    /// The host (index into the endpoint list).
    pub host: usize,
    /// Why.
    pub reason: PickReason,
}

impl fmt::Display for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.reason;
        let p = &r.panic;
        write!(
            f,
            "host {} by {} among {} candidates",
            self.host, r.policy, r.candidates
        )?;
        if p.panic {
            write!(
                f,
                " (panic: {} of {} hosts healthy, below {} %: health ignored)",
                p.healthy, p.total, p.threshold_percent
            )?;
        } else {
            write!(f, " ({} of {} hosts healthy)", p.healthy, p.total)?;
        }
        if r.avoided > 0 {
            write!(f, "; avoided {} previously tried", r.avoided)?;
        }
        if r.avoidance_dropped {
            f.write_str("; every candidate was tried before, so any may be reused")?;
        }
        match r.choice {
            Choice::RoundRobin { position } => write!(f, "; round-robin position {position}"),
            Choice::Random => Ok(()),
            Choice::LeastRequest {
                other: Some(o),
                active,
                other_active,
            } => write!(f, "; {active} in flight vs {other_active} on host {o}"),
            Choice::PeakEwma {
                other: Some(o),
                cost,
                other_cost,
            } => write!(f, "; cost {cost:.3} vs {other_cost:.3} on host {o}"),
            Choice::LeastRequest { other: None, .. } | Choice::PeakEwma { other: None, .. } => {
                Ok(())
            }
        }
    }
}

/// Peak-EWMA latency estimate of one host (tower's `RttEstimate`).
#[derive(Clone, Copy, Debug)]
struct Ewma {
    /// Estimate in nanoseconds, as of `at`.
    nanos: f64,
    at: SimTime,
}

impl Ewma {
    /// The estimate decayed toward zero since the last sample, as tower's `load()` does. A
    /// read here does not store the decay: picking must not change what later picks see.
    fn at(&self, now: SimTime, decay_nanos: f64) -> f64 {
        let elapsed = (now - self.at).as_nanos() as f64;
        self.nanos * (-elapsed / decay_nanos).exp()
    }

    /// A sample above the estimate replaces it (peak); one below pulls the estimate toward it
    /// by how much time has passed since the last sample.
    fn update(&mut self, now: SimTime, sample: f64, decay_nanos: f64) {
        if sample > self.nanos {
            self.nanos = sample;
        } else {
            let elapsed = (now - self.at).as_nanos() as f64;
            let decay = (-elapsed / decay_nanos).exp();
            self.nanos = self.nanos * decay + sample * (1.0 - decay);
        }
        self.at = now;
    }
}

/// Per-host load state.
#[derive(Clone, Copy, Debug)]
struct HostLoad {
    active: u32,
    ewma: Ewma,
}

/// The balancer of one (client, virtual node): policy state and per-host load.
///
/// Health lives elsewhere (the outlier detector and health checker); each pick is told which
/// hosts are healthy.
#[derive(Clone, Debug)]
pub struct Balancer {
    config: BalancerConfig,
    hosts: Vec<HostLoad>,
    /// Round-robin cursors: Envoy keeps one per host source, so the healthy list and the
    /// panic (all hosts) list advance separately.
    rr_healthy: u64,
    rr_all: u64,
}

impl Balancer {
    /// A balancer for `host_count` hosts with nothing in flight.
    ///
    /// Both round-robin cursors start at one random offset drawn from `rng`, as Envoy seeds
    /// its round-robin index randomly: clients sharing a configuration do not all send their
    /// first request to the same host.
    pub fn new(
        config: BalancerConfig,
        host_count: usize,
        now: SimTime,
        rng: &mut impl rand::Rng,
    ) -> Balancer {
        let start: u32 = rng.random();
        let mut b = Balancer {
            config,
            hosts: Vec::new(),
            rr_healthy: u64::from(start),
            rr_all: u64::from(start),
        };
        b.set_host_count(now, host_count);
        b
    }

    /// The configuration.
    pub fn config(&self) -> &BalancerConfig {
        &self.config
    }

    /// How many hosts the balancer tracks.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Whether health would be ignored with `healthy` of the hosts healthy.
    pub fn panic_state(&self, healthy: usize) -> PanicState {
        self.panic_among(healthy, self.hosts.len())
    }

    /// The panic computation over `total` usable hosts, `healthy` of them healthy.
    fn panic_among(&self, healthy: usize, total: usize) -> PanicState {
        let threshold = self.config.panic_threshold_percent.min(100);
        // healthy / total < threshold / 100, in integers; no hosts is 0 % healthy.
        let panic = (healthy as u128) * 100 < u128::from(threshold) * (total as u128)
            || (total == 0 && threshold > 0);
        PanicState {
            healthy,
            total,
            threshold_percent: threshold,
            panic,
        }
    }

    /// Picks a host. `healthy(host)` says whether a host passes outlier detection and active
    /// health checks.
    pub fn pick(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
        healthy: impl Fn(usize) -> bool,
    ) -> Result<Pick, NoHealthyUpstream> {
        self.pick_excluding(now, rng, healthy, &[])
    }

    /// Picks a host, avoiding `exclude` (hosts earlier attempts of this request used) when
    /// another candidate exists. Like Envoy's `previous_hosts` retry predicate, avoidance
    /// never fails a pick: if every candidate is excluded, any candidate may be chosen.
    /// (Envoy re-draws up to `host_selection_retry_max_attempts` times and then keeps the last
    /// draw; we filter instead, which is the same as unlimited re-draws.)
    pub fn pick_excluding(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
        healthy: impl Fn(usize) -> bool,
        exclude: &[usize],
    ) -> Result<Pick, NoHealthyUpstream> {
        self.pick_usable(now, rng, |_| true, healthy, exclude)
    }

    /// [`Balancer::pick_excluding`] over the hosts `usable` keeps only: the others are out of
    /// the pick entirely, panic included (panic is computed over the usable hosts). This is
    /// how a failure-accrual breaker takes a host out: Linkerd's balancer only considers
    /// endpoints that are ready, and has no panic mode that would bring a tripped one back.
    pub fn pick_usable(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
        usable: impl Fn(usize) -> bool,
        healthy: impl Fn(usize) -> bool,
        exclude: &[usize],
    ) -> Result<Pick, NoHealthyUpstream> {
        let usable_hosts: Vec<usize> = (0..self.hosts.len()).filter(|&h| usable(h)).collect();
        let total = usable_hosts.len();
        let healthy_hosts: Vec<usize> = usable_hosts
            .iter()
            .copied()
            .filter(|&h| healthy(h))
            .collect();
        let panic = self.panic_among(healthy_hosts.len(), total);
        let pool = if panic.panic {
            usable_hosts
        } else {
            healthy_hosts
        };
        if pool.is_empty() {
            return Err(NoHealthyUpstream {
                healthy: panic.healthy,
                total,
                panic_disabled: panic.threshold_percent == 0,
            });
        }
        let kept: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|h| !exclude.contains(h))
            .collect();
        let (candidates, avoided, avoidance_dropped) = if kept.is_empty() {
            (pool, 0, true)
        } else {
            let avoided = pool.len() - kept.len();
            (kept, avoided, false)
        };
        let (host, choice) = self.choose(now, rng, &candidates, panic.panic);
        Ok(Pick {
            host,
            reason: PickReason {
                policy: self.config.policy,
                panic,
                candidates: candidates.len(),
                avoided,
                avoidance_dropped,
                choice,
            },
        })
    }

    /// Applies the policy to a non-empty candidate list.
    fn choose(
        &mut self,
        now: SimTime,
        rng: &mut impl rand::Rng,
        candidates: &[usize],
        panic: bool,
    ) -> (usize, Choice) {
        let n = candidates.len();
        match self.config.policy {
            Policy::RoundRobin => {
                let cursor = if panic {
                    &mut self.rr_all
                } else {
                    &mut self.rr_healthy
                };
                let position = usize::try_from(*cursor % n as u64).unwrap_or(0);
                *cursor = cursor.wrapping_add(1);
                (candidates[position], Choice::RoundRobin { position })
            }
            Policy::Random => (candidates[rng.random_range(0..n)], Choice::Random),
            Policy::LeastRequest => {
                let (a, b) = two_distinct(rng, candidates);
                let Some(b) = b else {
                    let active = self.active(a);
                    return (
                        a,
                        Choice::LeastRequest {
                            other: None,
                            active,
                            other_active: active,
                        },
                    );
                };
                let (la, lb) = (self.active(a), self.active(b));
                // Ties go to the first draw, as in Envoy: a tie broken by index would starve
                // the highest-indexed hosts whenever all are idle.
                let (host, other, active, other_active) = if lb < la {
                    (b, a, lb, la)
                } else {
                    (a, b, la, lb)
                };
                (
                    host,
                    Choice::LeastRequest {
                        other: Some(other),
                        active,
                        other_active,
                    },
                )
            }
            Policy::PeakEwma => {
                let (a, b) = two_distinct(rng, candidates);
                let ca = self.cost(now, a);
                let Some(b) = b else {
                    return (
                        a,
                        Choice::PeakEwma {
                            other: None,
                            cost: ca,
                            other_cost: ca,
                        },
                    );
                };
                let cb = self.cost(now, b);
                let (host, other, cost, other_cost) = if cb < ca {
                    (b, a, cb, ca)
                } else {
                    (a, b, ca, cb)
                };
                (
                    host,
                    Choice::PeakEwma {
                        other: Some(other),
                        cost,
                        other_cost,
                    },
                )
            }
        }
    }

    /// Requests in flight on a host (0 for hosts out of range).
    pub fn active(&self, host: usize) -> u32 {
        self.hosts.get(host).map_or(0, |h| h.active)
    }

    /// Peak-EWMA cost of a host at `now`: latency estimate in milliseconds × (in flight + 1).
    pub fn cost(&self, now: SimTime, host: usize) -> f64 {
        let Some(h) = self.hosts.get(host) else {
            return f64::INFINITY;
        };
        let estimate_ms = h.ewma.at(now, self.decay_nanos()) / 1e6;
        estimate_ms * (f64::from(h.active) + 1.0)
    }

    fn decay_nanos(&self) -> f64 {
        (self.config.ewma_decay.as_nanos() as f64).max(1.0)
    }

    /// A request was sent to `host`.
    pub fn on_request_start(&mut self, host: usize) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.active = h.active.saturating_add(1);
        }
    }

    /// A request to `host` finished after `latency`. A failure never lowers the latency
    /// estimate (it counts as at least the current estimate): a host that fails fast must not
    /// look fast and draw more traffic. That guard is our choice; tower has none.
    pub fn on_request_end(&mut self, now: SimTime, host: usize, latency: Duration, ok: bool) {
        let decay = self.decay_nanos();
        let Some(h) = self.hosts.get_mut(host) else {
            return;
        };
        h.active = h.active.saturating_sub(1);
        let mut sample = latency.as_nanos() as f64;
        if !ok {
            sample = sample.max(h.ewma.nanos);
        }
        h.ewma.update(now, sample, decay);
    }

    /// Endpoints appended or truncated; new hosts start idle with the default estimate.
    pub fn set_host_count(&mut self, now: SimTime, host_count: usize) {
        let fresh = HostLoad {
            active: 0,
            ewma: Ewma {
                nanos: self.config.ewma_default_rtt.as_nanos() as f64,
                at: now,
            },
        };
        self.hosts.resize(host_count, fresh);
    }

    /// Removes one endpoint; later indices shift down by one. Out of range does nothing.
    pub fn remove_host(&mut self, host: usize) {
        if host < self.hosts.len() {
            self.hosts.remove(host);
        }
    }
}

/// Two distinct random candidates (the second is `None` when there is only one).
fn two_distinct(rng: &mut impl rand::Rng, candidates: &[usize]) -> (usize, Option<usize>) {
    let n = candidates.len();
    if n < 2 {
        return (candidates[0], None);
    }
    let i = rng.random_range(0..n);
    let mut j = rng.random_range(0..n - 1);
    if j >= i {
        j += 1;
    }
    (candidates[i], Some(candidates[j]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;

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

    #[test]
    fn exactly_half_healthy_is_not_panic() {
        // Panic is healthy < threshold, strictly.
        let mut r = rng("half");
        let b = Balancer::new(BalancerConfig::default(), 4, secs(0), &mut r);
        assert!(!b.panic_state(2).panic);
        assert!(b.panic_state(1).panic);
    }

    #[test]
    fn ewma_is_peak_sensitive_and_decays() {
        // A sample above the estimate replaces it; lower samples pull it down over time.
        let mut r = rng("peak");
        let mut b = Balancer::new(lb(Policy::PeakEwma), 1, secs(0), &mut r);
        b.on_request_end(secs(0), 0, Duration::from_millis(500), true);
        assert!((b.cost(secs(0), 0) - 500.0).abs() < 1e-6);
        b.on_request_end(secs(0), 0, Duration::from_millis(10), true);
        assert!(
            (b.cost(secs(0), 0) - 500.0).abs() < 1e-6,
            "no time passed: no pull"
        );
        b.on_request_end(secs(10), 0, Duration::from_millis(10), true);
        let expected = 500.0 * (-1.0f64).exp() + 10.0 * (1.0 - (-1.0f64).exp());
        assert!((b.cost(secs(10), 0) - expected).abs() < 1e-6);
        // Reads decay toward zero but do not store it.
        assert!(b.cost(secs(20), 0) < b.cost(secs(10), 0));
        assert!((b.cost(secs(10), 0) - expected).abs() < 1e-6);
    }

    #[test]
    fn fast_failures_do_not_lower_the_estimate() {
        // Our guard: a failed request counts as at least the current estimate.
        let mut r = rng("fail");
        let mut b = Balancer::new(lb(Policy::PeakEwma), 1, secs(0), &mut r);
        b.on_request_end(secs(0), 0, Duration::from_millis(200), true);
        b.on_request_end(secs(60), 0, Duration::from_millis(1), false);
        assert!((b.cost(secs(60), 0) - 200.0).abs() < 1e-6);
    }
}
