//! What a proxy records about a *sampled* request, beyond its access-log line: the
//! decisions behind the hop (the route matched and the routes skipped, the weighted draw, the
//! host pick), each attempt with its outcome and the retry decision after it, and the events
//! on the way (timeouts, outlier ejections, breaker decisions, rate limits, faults). The
//! report layer turns these into traces and `meshsim explain` reads them back.
//!
//! Sampling is decided once, where the user request enters the world, and travels in the
//! trace header's `Sampled=` flag (X-Ray's), so every proxy on the way agrees without
//! sharing state, and an unsampled request costs each proxy one flag test.
//!
//! Recording never draws from a random stream and never waits: a sampled request takes the
//! same decisions at the same simulated times as an unsampled one, so sampling changes no
//! other result.

use std::fmt;
use std::time::Duration;

use super::telemetry::ResponseFlag;
use crate::engine::SimTime;
use crate::engine::seed;

/// Which user requests are traced: a pure function of the seed and the request's sequence
/// number, so deciding consumes no random stream (turning sampling up or down shifts no other
/// draw) and the same seed samples the same requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sampler {
    base: u64,
    /// Sampled when the hash's top 53 bits fall below this (2^53 samples everything).
    threshold: u64,
    /// Sample this request and no other (a rerun to explain one request).
    only: Option<u64>,
}

/// 2^53: hashes are compared on their top 53 bits, the precision of an `f64` rate.
const SCALE: u64 = 1 << 53;

impl Sampler {
    /// Samples about `rate` of the requests (clamped to 0..=1).
    pub fn new(seed: u64, rate: f64) -> Sampler {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        Sampler {
            base: seed::derive(seed, "trace/sample"),
            threshold: (rate * SCALE as f64) as u64,
            only: None,
        }
    }

    /// Samples request `seq` and no other.
    pub fn only(seq: u64) -> Sampler {
        Sampler {
            base: 0,
            threshold: 0,
            only: Some(seq),
        }
    }

    /// Whether request `seq` is traced.
    pub fn sampled(&self, seq: u64) -> bool {
        match self.only {
            Some(only) => seq == only,
            None => mix(self.base ^ seq) >> 11 < self.threshold,
        }
    }

    /// Whether any request can be sampled.
    pub fn is_on(&self) -> bool {
        self.only.is_some() || self.threshold > 0
    }
}

/// splitmix64's finaliser: consecutive sequence numbers give unrelated hashes.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What the world asks the proxies to record beyond the access-log line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tracing {
    /// Which user requests are traced.
    pub sampler: Sampler,
    /// Fill [`EnvoyFields`] on every line, not only sampled ones (`--access-log full`).
    pub envoy_fields: bool,
}

/// The fields of Envoy's default access-log format that the line itself does not hold,
/// captured only when someone will print them (a sampled request, or full access logs), so
/// the unsampled hot path allocates nothing for them. Header values are copied, not kept
/// as they came: a received header's bytes are a slice of its connection's read buffer, and
/// holding one would keep the whole buffer from being reused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvoyFields {
    /// `%REQ(:METHOD)%`.
    pub method: http::Method,
    /// `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%` is the line's path and this query string, when
    /// the request had one.
    pub query: Option<String>,
    /// `%PROTOCOL%`: `HTTP/1.1` or `HTTP/2`.
    pub protocol: &'static str,
    /// `%BYTES_RECEIVED%`: request body bytes.
    pub bytes_received: u64,
    /// `%BYTES_SENT%`: response body bytes.
    pub bytes_sent: u64,
    /// `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%`: how long the upstream (the next hop, or the
    /// local app behind an inbound listener) took with the answer that was returned; `None`
    /// for a reply the proxy made itself.
    pub upstream_service_time: Option<Duration>,
    /// `%REQ(USER-AGENT)%`.
    pub user_agent: Option<String>,
    /// `%REQ(:AUTHORITY)%`.
    pub authority: Authority,
    /// `%UPSTREAM_HOST%`: `task:port` of the last attempt's host outbound (turmoil host
    /// names stand in for IP addresses), `127.0.0.1:port` inbound when the app got the
    /// request.
    pub upstream_host: Option<String>,
}

/// `%REQ(:AUTHORITY)%` of a line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Authority {
    /// None was sent.
    #[default]
    None,
    /// The `host` header as received (inbound).
    Header(String),
    /// `<the line's virtual service>:<port>`, as the outbound proxy sends it.
    Service(u16),
}

/// The protocol name Envoy logs for an HTTP version.
pub fn protocol_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

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

/// A sampled user request as the load generator saw it: the root of its trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRequest {
    /// The trace's `Root=`.
    pub root: String,
    /// The request's sequence number in the workload.
    pub seq: u64,
    /// The root span's id (the `Parent=` the first hop sees).
    pub span: String,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// The intended send time (latency is measured from it).
    pub start: SimTime,
    /// When the user got the answer or gave up.
    pub end: SimTime,
    /// The status the user judged by (0: no answer).
    pub status: u16,
    /// The answer's flag, or the failure (`client_timeout`, `connect_failure`, `reset`).
    pub outcome: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_takes_its_share_and_depends_only_on_seed_and_number() {
        let s = Sampler::new(42, 0.1);
        let n = 100_000u64;
        let hits = (0..n).filter(|&i| s.sampled(i)).count() as f64;
        let sd = (n as f64 * 0.1 * 0.9).sqrt();
        assert!((hits - n as f64 * 0.1).abs() < 4.0 * sd, "{hits}");
        // The same seed samples the same requests; another seed, others.
        let again = Sampler::new(42, 0.1);
        assert!((0..1000).all(|i| s.sampled(i) == again.sampled(i)));
        let other = Sampler::new(43, 0.1);
        assert!((0..1000).any(|i| s.sampled(i) != other.sampled(i)));
        // A higher rate samples a superset: raising it never drops a traced request.
        let more = Sampler::new(42, 0.5);
        assert!((0..n).filter(|&i| s.sampled(i)).all(|i| more.sampled(i)));
    }

    #[test]
    fn the_ends_of_the_range_are_all_or_nothing() {
        let all = Sampler::new(7, 1.0);
        let none = Sampler::new(7, 0.0);
        assert!((0..10_000).all(|i| all.sampled(i)));
        assert!((0..10_000).all(|i| !none.sampled(i)));
        assert!(!none.is_on() && all.is_on());
        assert!(!Sampler::new(7, f64::NAN).is_on());
        assert!(!Sampler::default().is_on());
        let one = Sampler::only(12);
        assert!(one.is_on() && one.sampled(12) && !one.sampled(11) && !one.sampled(13));
    }

    #[test]
    fn outcomes_read_like_envoy_flags() {
        let fi = AttemptOutcome::Response {
            status: 503,
            flag: Some(ResponseFlag::FaultInjected),
        };
        assert_eq!(fi.to_string(), "503 FI");
        assert!(fi.failed());
        assert!(AttemptOutcome::PerTryTimeout.failed());
        assert!(
            !AttemptOutcome::Response {
                status: 200,
                flag: None
            }
            .failed()
        );
        assert_eq!(protocol_name(http::Version::HTTP_2), "HTTP/2");
        assert_eq!(protocol_name(http::Version::HTTP_11), "HTTP/1.1");
    }
}
