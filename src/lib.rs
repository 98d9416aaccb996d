//! meshsim: a deterministic local simulator and traffic-chaos testbed for AWS App Mesh-style
//! meshes.
//!
//! Modules, lowest layer first (a module imports only modules above it in this list; the data
//! flows config → engine → proxy/app → sim → rollout → report/tui, and every layer from sim
//! up records into metrics):
//! - [`config`]: the App Mesh model, its three input syntaxes, validation with source spans.
//! - [`engine`]: sans-IO routing and resilience decisions, driven by simulated time and a
//!   seeded RNG handed in.
//! - [`model`]: sans-IO service behaviour: service-time distributions, workers and queues,
//!   backend calls.
//! - [`metrics`]: HdrHistogram latencies per (node, version, route, outcome), in totals and
//!   per interval, counters, `.hgrm` output.
//!
//! Planned (see docs/ARCHITECTURE.md): `proxy`/`app` (hyper over turmoil), `sim`, `rollout`,
//! `report`, `tui`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod config;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod scenario;
