//! Service behaviour models: what a simulated app does with a request, as sans-IO state
//! machines.
//!
//! Like the [`engine`](crate::engine), these import no tokio, no I/O and no clock: the caller
//! passes the current [`SimTime`](crate::engine::SimTime) and a seeded RNG and gets decisions
//! back as plain values. The wire world (apps behind sidecars over turmoil) and a later
//! event-driven world drive the same models, so the two can be compared request by request.
//!
//! One request's life at a [`Service`] (a task's app):
//! 1. [`Service::match_endpoint`] picks the first endpoint, in the order written, whose method
//!    and path pattern match; none means 404.
//! 2. [`Service::arrive`]: a free worker starts it, or it waits in the FIFO queue, or a full
//!    queue rejects it. The workers and the queue are the service's, shared by all its
//!    endpoints, as a server's thread pool is: a burst on one endpoint delays the others.
//! 3. At start, the endpoint's [`Behaviour::decide`] fixes its fate: whether the app fails it
//!    (error rate), its service time and its response size.
//! 4. The worker does the local work until [`Started::finish_at`].
//! 5. Then, unless the app failed it, its [`CallPlan`] runs the backend calls, step by step.
//! 6. The response goes out (success, the app's own error, or the error status after a
//!    required call failed), and the caller reports [`Service::complete`], which frees the
//!    worker for the next queued request, of whichever endpoint.
//!
//! An [`Endpoint`] is the same with a single behaviour and no routing.
//!
//! **Service time comes before the calls**, all of it. Splitting it (some work before the
//! calls, some after) needs a second parameter that nobody has data for, and moves no
//! latency: the response goes out at the same time either way, only the moment the backends
//! see the call shifts by a fraction of one service time. And the worker stays held while the
//! calls run, as in thread-per-request servers, so a slow backend exhausts its callers'
//! workers: the mechanism behind cascading saturation and retry storms.
//!
//! Configuration is separate from the runtime types: scenario files deserialise into the
//! `*Config` structs (durations written `"20ms"`, unknown fields refused), and `build()`
//! validates them into the runtime types, reporting every problem with its field path.
//!
//! The Ordering app's state ([`ordering`]) is here too, sans-IO like the rest: the stock and
//! orders tables the app's replicas share, and the invariants a run is judged by (double
//! booking, leaked stock).
//!
//! Modules:
//! - [`app`]: one task's app as a sans-IO core, every decision of a request's life in it
//!   (the steps above, gray failures, the Ordering logic, the calls' heads, the answer), which
//!   the wire backend's `app` and the fast backend drive alike.
//! - [`service_time`]: distributions (constant, uniform, normal, lognormal, exponential,
//!   Pareto, empirical) of service times and response sizes.
//! - [`behaviour`]: what an endpoint does with a request: error roll, service time, size,
//!   calls.
//! - [`pool`]: workers and the FIFO queue, shared by a service's endpoints; rejection.
//! - [`service`]: a service's endpoints over one pool; its config.
//! - [`route`]: method and path patterns (`/items/{sku}`, `/static/*`).
//! - [`request`]: a request's head as the app reads it (method, path, headers).
//! - [`endpoint`]: a single-behaviour pool, and the request id.
//! - [`calls`]: backend calls in sequence or in parallel, per-call timeouts, idempotency keys.
//! - [`ordering`]: the Ordering app's stock and orders, its invariants, and its business
//!   logic over plain values (order ids from headers and the trace, reservations, orders).
//! - [`workload`]: the open-loop workload's config.
//! - [`fault`]: faults (network, host, gray failure, L7), their plan and rule chain, what is
//!   in force at each task, and randomised schedules.
//! - [`duration`]: the `"1.5s"` duration syntax.
//! - [`error`]: configuration problems with field paths.

pub mod app;
pub mod behaviour;
pub mod calls;
pub mod duration;
pub mod endpoint;
pub mod error;
pub mod fault;
pub mod ordering;
pub mod pool;
pub mod request;
pub mod route;
pub mod service;
pub mod service_time;
pub mod threshold;
pub mod workload;

pub use behaviour::{Behaviour, Decision, Outcome};
pub use calls::{CallOutcome, CallPlan, CallToMake, Calls, PlanNext, StepConfig};
pub use endpoint::{Endpoint, EndpointConfig, RequestId};
pub use error::ConfigError;
pub use ordering::{Invariant, Inventory, Orders, Reserve, check_invariants};
pub use pool::{Arrival, EndpointStats, Started};
pub use request::AppRequest;
pub use route::{MethodMatch, PathPattern, Route};
pub use service::{AppKind, EndpointMatch, PathConfig, Service, ServiceConfig, ServiceError};
pub use service_time::{ServiceTime, ServiceTimeConfig};
