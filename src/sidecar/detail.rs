//! What the sidecar records about a *sampled* request's hop, beyond its access-log line: the
//! decisions behind it (the route matched and the routes skipped, the weighted draw, the host
//! pick), each attempt with its outcome and the retry decision after it, and the events on
//! the way (timeouts, outlier ejections, breaker decisions, rate limits, faults). The report
//! layer turns these into traces and `meshsim explain` reads them back.
//!
//! The records are the core's, built from the hop's own decisions
//! ([`super::outbound::Hop`]); recording never draws from a random stream and never waits,
//! so a sampled request takes the same decisions at the same simulated times as an unsampled
//! one. The sampler and Envoy's format fields, which read the wire request, stay with the
//! driver (`proxy::attempts`).

use std::fmt;

use crate::engine::SimTime;
use crate::engine::flags::ResponseFlag;

/// A sampled request's detail at one proxy, one direction (it rides on that hop's
/// access-log line).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HopDetail {
    /// Outbound: how the route was chosen.
    pub route: Option<RouteChoice>,
    /// Outbound: how the target virtual node was chosen.
    pub target: Option<TargetChoice>,
    /// Outbound: each attempt, in order.
    pub attempts: Vec<AttemptRecord>,
    /// What happened on the way, in order.
    pub events: Vec<HopEvent>,
}

impl HopDetail {
    /// Notes an event.
    pub fn event(&mut self, at: SimTime, kind: EventKind, detail: impl Into<String>) {
        self.events.push(HopEvent {
            at,
            kind,
            detail: detail.into(),
        });
    }

    /// The attempt in flight (the last one started).
    pub fn current(&mut self) -> Option<&mut AttemptRecord> {
        self.attempts.last_mut()
    }
}

/// The route decision (from the engine's `RouteExplanation`, or a gateway route's match).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteChoice {
    /// The virtual router (or virtual gateway), if a router provided the service.
    pub router: Option<String>,
    /// The route that matched; `None`: no route (`NR`).
    pub matched: Option<String>,
    /// Routes tried before it, in evaluation order, with why each did not match.
    pub skipped: Vec<(String, String)>,
    /// Why nothing matched, or a note on a route App Mesh generates (a virtual node
    /// provider's).
    pub note: Option<String>,
}

/// How the target virtual node was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetChoice {
    /// A weighted draw among the route's targets.
    Weighted {
        /// The weights came from the control plane (a rollout step), not the mesh config.
        control_plane: bool,
        /// (virtual node, weight), in the route's order.
        targets: Vec<(String, u32)>,
        /// The roll, in `0..total`: the first target whose running sum of weights exceeds
        /// it wins.
        roll: u32,
        /// The chosen node.
        chosen: String,
    },
    /// An A/B rollout's header or cookie match steered the request.
    Steered {
        /// The node it steered to.
        node: String,
    },
}

impl TargetChoice {
    /// The node chosen.
    pub fn chosen(&self) -> &str {
        match self {
            TargetChoice::Weighted { chosen, .. } => chosen,
            TargetChoice::Steered { node } => node,
        }
    }
}

/// One attempt of an outbound exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// 1 for the first try.
    pub number: u32,
    /// The upstream task (registry instance id).
    pub host: String,
    /// `address:port` it was sent to.
    pub address: String,
    /// Why that host (the balancer's pick reason).
    pub pick: String,
    /// When it was sent.
    pub start: SimTime,
    /// When it ended.
    pub end: SimTime,
    /// When it would time out, and which timeout (`perRetryTimeout` or the route's).
    pub deadline: Option<(SimTime, &'static str)>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// What the exchange did next: a retry (with the event and back-off) or finish.
    pub then: Option<String>,
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Still running when the exchange ended (cannot stay so in a finished record).
    Pending,
    /// An answer, with the upstream's flag when it answered locally (`UO`, `FI`, `RL`).
    Response {
        /// Status the caller judges by (for gRPC, mapped from `grpc-status`).
        status: u16,
        /// The flag the upstream proxy set on a local reply.
        flag: Option<ResponseFlag>,
    },
    /// `perRetryTimeout` fired (`UT`).
    PerTryTimeout,
    /// The route's `perRequest` timeout fired during it (`UT`, 504 to the caller).
    RouteTimeout,
    /// The connection could not be made (`UF`).
    ConnectFailure,
    /// The connection was reset (`UC`).
    Reset,
}

impl AttemptOutcome {
    /// Whether the attempt failed (what outlier detection counts as an error: 5xx, timeouts,
    /// resets, connect failures).
    pub fn failed(self) -> bool {
        match self {
            AttemptOutcome::Pending => false,
            AttemptOutcome::Response { status, .. } => status >= 500,
            _ => true,
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Pending => f.write_str("no answer"),
            AttemptOutcome::Response { status, flag: None } => write!(f, "{status}"),
            AttemptOutcome::Response {
                status,
                flag: Some(flag),
            } => write!(f, "{status} {flag}"),
            AttemptOutcome::PerTryTimeout => f.write_str("per-try timeout (UT)"),
            AttemptOutcome::RouteTimeout => f.write_str("route timeout (UT)"),
            AttemptOutcome::ConnectFailure => f.write_str("connect failure (UF)"),
            AttemptOutcome::Reset => f.write_str("reset (UC)"),
        }
    }
}

/// Something that happened to a sampled request at one proxy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HopEvent {
    /// When.
    pub at: SimTime,
    /// What kind of thing.
    pub kind: EventKind,
    /// The decision in words (the engine's explanation where it has one).
    pub detail: String,
}

/// The kinds of event a trace shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    /// A gateway route matched (or none did).
    GatewayRoute,
    /// A rollout's mirroring drew (or spared) this request for a shadow copy.
    Mirror,
    /// No host could take the attempt (`UH`).
    NoHealthyUpstream,
    /// Failure accrual kept hosts out of the pick (their breakers open).
    BreakerOpen,
    /// `perRetryTimeout` fired.
    PerTryTimeout,
    /// The route's `perRequest` timeout fired.
    RouteTimeout,
    /// The exchange retries.
    Retry,
    /// The retry policy's attempts were used up (`URX`).
    RetriesExhausted,
    /// Outlier detection ejected the host (or the cap kept it in).
    Ejection,
    /// A failure-accrual breaker opened or closed on the host.
    Breaker,
    /// The local rate limit filter's decision.
    RateLimit,
    /// The listener's connection pool queued the request.
    Queued,
    /// The listener's connection pool refused the request (`UO`).
    Overflow,
    /// The fault filter delayed the request (`DI`).
    FaultDelay,
    /// The fault filter aborted the request (`FI`).
    FaultAbort,
    /// The fault filter spared the request (a fault is in force at this task).
    FaultSpared,
    /// The listener's per-request timeout fired before the app answered.
    ListenerTimeout,
    /// A route's or listener's idle timeout fired (`SI`).
    IdleTimeout,
}

impl EventKind {
    /// The event's name in traces and in `requests.jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::GatewayRoute => "gateway_route",
            EventKind::Mirror => "mirror",
            EventKind::NoHealthyUpstream => "no_healthy_upstream",
            EventKind::BreakerOpen => "breaker_open",
            EventKind::PerTryTimeout => "per_try_timeout",
            EventKind::RouteTimeout => "route_timeout",
            EventKind::Retry => "retry",
            EventKind::RetriesExhausted => "retries_exhausted",
            EventKind::Ejection => "outlier_ejection",
            EventKind::Breaker => "failure_accrual",
            EventKind::RateLimit => "rate_limit",
            EventKind::Queued => "pool_queued",
            EventKind::Overflow => "pool_overflow",
            EventKind::FaultDelay => "fault_delay",
            EventKind::FaultAbort => "fault_abort",
            EventKind::FaultSpared => "fault_spared",
            EventKind::ListenerTimeout => "listener_timeout",
            EventKind::IdleTimeout => "idle_timeout",
        }
    }
}
