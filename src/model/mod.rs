//! Service behaviour models: what a simulated app does with a request, as sans-IO state
//! machines.
//!
//! Like the [`engine`](crate::engine), these import no tokio, no I/O and no clock: the caller
//! passes the current [`SimTime`](crate::engine::SimTime) and a seeded RNG and gets decisions
//! back as plain values. The wire world (apps behind sidecars over turmoil) and a later
//! event-driven world drive the same models, so the two can be compared request by request.
//!
//! One request's life at an [`Endpoint`]:
//! 1. [`Endpoint::arrive`]: a free worker starts it, or it waits in the FIFO queue, or a full
//!    queue rejects it.
//! 2. At start, [`Behaviour::decide`] fixes its fate: whether the app fails it (error rate),
//!    its service time and its response size.
//! 3. The worker does the local work until [`Started::finish_at`].
//! 4. Then, unless the app failed it, its [`CallPlan`] runs the backend calls, step by step.
//! 5. The response goes out (success, the app's own error, or the error status after a
//!    required call failed), and the caller reports [`Endpoint::complete`], which frees the
//!    worker for the next queued request.
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
//! Modules:
//! - [`service_time`]: distributions (constant, uniform, normal, lognormal, exponential,
//!   Pareto, empirical) of service times and response sizes.
//! - [`endpoint`]: workers, the FIFO queue, rejection, per-request decisions.
//! - [`calls`]: backend calls in sequence or in parallel, per-call timeouts, idempotency keys.
//! - [`duration`]: the `"1.5s"` duration syntax.
//! - [`error`]: configuration problems with field paths.

pub mod calls;
pub mod duration;
pub mod endpoint;
pub mod error;
pub mod ordering;
pub mod service;
pub mod service_time;
pub mod workload;

pub use calls::{CallOutcome, CallPlan, CallToMake, Calls, PlanNext, StepConfig};
pub use endpoint::{
    Arrival, Behaviour, Decision, Endpoint, EndpointConfig, Outcome, RequestId, Started,
};
pub use error::ConfigError;
pub use service_time::{ServiceTime, ServiceTimeConfig};
