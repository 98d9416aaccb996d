//! The routing and resilience engine: App Mesh and Envoy semantics as a sans-IO state
//! machine.
//!
//! The engine imports no tokio, no hyper, no I/O and no clock. Callers pass the current
//! [`SimTime`] and a seeded [`seed::Rng`]; decisions come back as plain values. The same
//! engine decides every request in every driver (the turmoil wire world, a future
//! event-driven fast world), so results can be compared request by request.
//!
//! Modules:
//! - [`compile`]: the [`Engine`] for one mesh: virtual services resolved to route tables.
//! - [`gateway`]: virtual gateway routes, hostname matches and rewrites.
//! - [`routing`]: route tables, first-match-wins selection, weighted targets, explanations.
//! - [`matchers`]: path, header, query and gRPC matchers.
//! - [`retry`]: retry events, Envoy backoff, App Mesh's hidden default policy, budgets.
//! - [`exchange`]: one request's attempts against its route and per-try timeouts.
//! - [`flags`]: Envoy's access-log response flags, and the set a line carries.
//! - [`balancer`]: endpoints of a virtual node: round robin and extensions, panic threshold.
//! - [`outlier`]: passive ejection (consecutive 5xx).
//! - [`health`]: active health checks.
//! - [`endpoints`]: balancer, outlier detection and health checks of a virtual node, wired.
//! - [`discovery`]: the Cloud Map-like registry and DNS names, with propagation delay; the
//!   cluster type a node's discovery makes (one host per task, or one LOGICAL_DNS host).
//! - [`listener`]: a node listener compiled with App Mesh's defaults; the stream idle timer.
//! - [`breaker`]: listener connection pools (circuit breakers).
//! - [`retry_breaker`]: the `max_retries` limit on a cluster's concurrent retries.
//! - [`defaults`]: App Mesh's or Envoy's defaults (accounts with meshes before 2020-07-29).
//! - [`failure_accrual`]: a consecutive-failures breaker (an extension).
//! - [`ratelimit`]: local token-bucket rate limiting (an extension).
//! - [`fault`]: L7 fault injection (an extension).
//! - [`extensions`]: which of those extensions a virtual node's sidecars run.
//! - [`time`], [`seed`], [`request`]: simulated time, seeded streams, the request head.

pub mod balancer;
pub mod breaker;
pub mod compile;
pub mod defaults;
pub mod discovery;
pub mod endpoints;
pub mod exchange;
pub mod extensions;
pub mod failure_accrual;
pub mod fault;
pub mod flags;
pub mod gateway;
pub mod health;
pub mod listener;
pub mod matchers;
pub mod outlier;
pub mod ratelimit;
pub mod request;
pub mod request_match;
pub mod retry;
pub mod retry_breaker;
mod route_index;
pub mod routing;
pub mod seed;
pub mod time;

pub use compile::{Engine, NoRoute, Routed};
pub use request::RequestHead;
pub use time::SimTime;
