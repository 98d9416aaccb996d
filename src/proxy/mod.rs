//! The Envoy-like proxy: a sidecar beside every task and the virtual gateway's Envoy, built
//! with hyper over turmoil's simulated TCP, driving the [`engine`](crate::engine) for every
//! decision.
//!
//! **App and sidecar talk in-process.** In a pod the app reaches its sidecar over loopback,
//! which costs microseconds. turmoil delivers each loopback segment one tick later (a known
//! limitation, turmoil issue #132), so a loopback hop would add at least two ticks (2 ms by
//! default) per call, and the report would show that simulator artefact as service latency.
//! So the app hands a request to its sidecar with a function call ([`Sidecar::call`]) and
//! the sidecar's inbound listener hands requests to the app the same way ([`Handler`]). Every
//! hop *between* tasks is real HTTP (HTTP/1.1, or HTTP/2 for http2 and grpc listeners) over
//! turmoil TCP.
//!
//! What a proxy does on each side:
//! - outbound ([`outbound`]): route, weighted target, host pick from service discovery,
//!   attempts with per-try and route timeouts, retries with back-off, outlier detection,
//!   the caller's own breakers on each cluster: the decisions are the sans-IO core's
//!   [`crate::sidecar::outbound::Hop`], this driver carries them out on the wire;
//! - inbound ([`inbound`]): the listener's connection-pool circuit breaker and per-request
//!   timeout, then the app;
//! - gateway ([`gateway`]): gateway routes and rewrites, then outbound;
//! - tcp ([`tcp`]): for `tcp` listeners, pass-through per connection (route, weighted
//!   target, host, connect, then bytes both ways until close or idle timeout).
//!
//! How an upstream's answer is judged (retry, outlier detection, flags, the app's status) is
//! the sans-IO core's ([`crate::sidecar::classify`]); [`head`] reads a hyper response into it.
//!
//! Everything a proxy observes goes to [`telemetry`]: an access-log line per request per
//! hop, with Envoy's response flags and the trace context, and Envoy-style counters. For a
//! sampled request (`Sampled=1` in the trace header) the line also carries the hop's
//! decisions and attempts ([`attempts`]).

pub mod attempts;
pub mod body;
pub mod cluster;
pub mod control;
pub mod faults;
pub mod gateway;
pub mod head;
pub mod health;
pub mod inbound;
pub mod mesh;
pub mod notes;
pub mod outbound;
pub mod pool;
pub mod tcp;
pub mod telemetry;
pub mod toxics;
pub mod wire;

pub use body::Payload;
pub use inbound::{Handler, Inbound};
pub use mesh::MeshView;
pub use outbound::{Identity, Shared, Sidecar};
pub use telemetry::{
    AccessLogEntry, Counter, Direction, ResponseFlag, ResponseFlags, TcpBytes, Telemetry,
    TraceContext,
};
