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

use std::time::Duration;

use crate::engine::SimTime;
use crate::engine::seed;
pub use crate::sidecar::detail::{
    AttemptOutcome, AttemptRecord, EventKind, HopDetail, HopEvent, RouteChoice, TargetChoice,
};

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
    use crate::engine::flags::ResponseFlag;

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
