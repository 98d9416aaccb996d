//! What the proxies tell the world: an access-log line per request per hop, Envoy-style
//! response flags, counters, and the trace context that ties the hops of one user request
//! together.
//!
//! The proxy layer only writes these; the simulated world drains them into metrics and
//! reports (the proxy sits below both and imports neither).

use std::collections::BTreeMap;
use std::time::Duration;

use super::attempts::{EnvoyFields, HopDetail, Tracing, UserRequest};
use crate::engine::SimTime;
pub use crate::engine::flags::{ResponseFlag, ResponseFlags};

/// The trace header, in AWS X-Ray's format: `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=1`.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// Response flags header: the simulation's stand-in for the flags Envoy writes in its access
/// log, set on a proxy's own (local) replies so the next hop and the load generator can name
/// the failure.
pub const FLAGS_HEADER: &str = "x-meshsim-response-flags";

/// The `user-agent` Envoy's HTTP health checks send.
pub const HEALTH_CHECK_AGENT: &str = "Envoy/HC";

/// Which side of a proxy a log line is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// A request arriving for the local app (or a gateway's downstream side).
    Inbound,
    /// A request the local app (or gateway) sends to a virtual service.
    Outbound,
}

/// Trace context of one hop: the user request's root, this span's parent, and whether the
/// request is sampled.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TraceContext {
    /// `Root=` value, the same on every hop of one user request.
    pub root: String,
    /// `Parent=` value: the span that sent this request.
    pub parent: Option<String>,
    /// `Sampled=1`: every proxy on the way records the request's detail
    /// ([`super::attempts`]). Absent counts as not sampled.
    pub sampled: bool,
}

impl TraceContext {
    /// Parses the header value; `None` without a `Root=`.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = false;
        for part in value.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", v)) => root = Some(v.to_string()),
                Some(("Parent", v)) => parent = Some(v.to_string()),
                Some(("Sampled", v)) => sampled = v == "1",
                _ => {}
            }
        }
        Some(TraceContext {
            root: root?,
            parent,
            sampled,
        })
    }

    /// The header value for a request sent from span `span`. The flag is one digit either
    /// way, so sampling never changes a request's size on the wire.
    pub fn header_from(&self, span: &str) -> String {
        format!(
            "Root={};Parent={span};Sampled={}",
            self.root,
            u8::from(self.sampled)
        )
    }

    /// Whether the header value of a request says it is sampled, without parsing the rest
    /// (the unsampled hot path).
    pub fn is_sampled(value: &str) -> bool {
        value.split(';').any(|p| p.trim() == "Sampled=1")
    }
}

/// One access-log line: one request through one proxy, one direction.
#[derive(Clone, Debug, PartialEq)]
pub struct AccessLogEntry {
    /// When the proxy got the request.
    pub start: SimTime,
    /// How long until it answered.
    pub duration: Duration,
    /// The proxy's virtual node (or virtual gateway).
    pub node: String,
    /// The proxy's task (turmoil host).
    pub task: String,
    /// The task's version label.
    pub version: String,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Outbound: the virtual service called.
    pub service: Option<String>,
    /// Outbound: the route (or gateway route) that matched.
    pub route: Option<String>,
    /// Outbound: the virtual node the request went to (the upstream cluster).
    pub upstream_node: Option<String>,
    /// Inbound: the app endpoint's method and path as requested.
    pub path: String,
    /// Status answered (0 when no response could be given).
    pub status: u16,
    /// This proxy's own response flags (`-` when empty): never an upstream's.
    pub flags: ResponseFlags,
    /// Attempts made (outbound; 1 inbound).
    pub attempts: u32,
    /// Trace root, if the request carried one.
    pub trace_root: Option<String>,
    /// This span's id.
    pub span: String,
    /// The span that sent the request, if known.
    pub parent_span: Option<String>,
    /// An active health check (`user-agent: Envoy/HC`; on a `tcp` listener, a connection
    /// that closed without carrying a byte), not traffic.
    pub health_check: bool,
    /// A mirrored copy of a request (Envoy's shadow: authority suffixed `-shadow`, answer
    /// discarded), not traffic anybody waits for.
    pub shadow: bool,
    /// A TCP pass-through connection rather than an HTTP request: the line is about the
    /// connection (its `status` is 0), and these are its bytes.
    pub tcp: Option<TcpBytes>,
    /// The rest of Envoy's default format, when access logs or a trace will print it.
    pub envoy: Option<Box<EnvoyFields>>,
    /// A sampled request's detail at this hop (`Sampled=1`); `None` otherwise.
    pub detail: Option<Box<HopDetail>>,
}

/// Bytes a TCP pass-through connection moved, from the proxy's downstream point of view
/// (Envoy's `%BYTES_RECEIVED%` and `%BYTES_SENT%`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpBytes {
    /// From downstream.
    pub received: u64,
    /// To downstream.
    pub sent: u64,
}

pub use crate::metrics::Counter;

/// The telemetry sink shared by all proxies of a world.
#[derive(Debug, Default)]
pub struct Telemetry {
    /// Access-log lines not yet drained.
    pub access_log: Vec<AccessLogEntry>,
    /// Counters, by (node, stat).
    pub counters: BTreeMap<(String, Counter), u64>,
    /// What to record beyond the lines (set by the world before it starts).
    pub tracing: Tracing,
    /// Sampled user requests (their traces' roots) not yet drained.
    pub users: Vec<UserRequest>,
}

impl Telemetry {
    /// Adds `n` to a counter.
    pub fn count(&mut self, node: &str, stat: Counter, n: u64) {
        if n == 0 {
            return;
        }
        match self.counters.get_mut(&(node.to_string(), stat)) {
            Some(c) => *c += n,
            None => {
                self.counters.insert((node.to_string(), stat), n);
            }
        }
    }

    /// Takes the access-log lines written so far.
    pub fn drain(&mut self) -> Vec<AccessLogEntry> {
        std::mem::take(&mut self.access_log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_header_round_trips() {
        let t = TraceContext::parse("Root=1-00000001-abc;Parent=0001;Sampled=1").expect("root");
        assert_eq!(t.root, "1-00000001-abc");
        assert_eq!(t.parent.as_deref(), Some("0001"));
        assert!(t.sampled);
        assert_eq!(
            t.header_from("00ff"),
            "Root=1-00000001-abc;Parent=00ff;Sampled=1"
        );
        let unsampled =
            TraceContext::parse("Root=1-00000001-abc;Parent=0001;Sampled=0").expect("root");
        assert!(!unsampled.sampled);
        assert_eq!(
            unsampled.header_from("00ff").len(),
            t.header_from("00ff").len()
        );
        assert!(TraceContext::is_sampled("Root=1-2-3;Parent=4;Sampled=1"));
        assert!(!TraceContext::is_sampled("Root=1-2-3;Parent=4;Sampled=0"));
        assert!(!TraceContext::is_sampled("Root=1-2-3;Parent=4"));
        assert_eq!(TraceContext::parse("Parent=1"), None);
    }
}
