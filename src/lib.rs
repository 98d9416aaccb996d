//! meshsim: a deterministic local simulator and traffic-chaos testbed for AWS App Mesh-style
//! meshes.
//!
//! Modules, lowest layer first: a module imports only modules above it in this list (tests
//! included). The data flows config → engine → sidecar → proxy/app → sim → report, the world
//! records into metrics, and `rehearse` joins a rollout to the world.
//! - [`config`]: the App Mesh model, its three input syntaxes, validation with source spans.
//! - [`engine`]: sans-IO routing and resilience decisions and service discovery, driven by
//!   simulated time and a seeded RNG handed in.
//! - [`model`]: sans-IO behaviour: services (workers, queue, endpoints), the Ordering app's
//!   state and invariants, the open-loop workload, faults.
//! - [`metrics`]: HdrHistogram latencies per (node, version, route, outcome), in totals and
//!   per interval, counters, `.hgrm` output; imports only `engine`.
//! - [`rollout`]: sans-IO rollouts (canary, blue/green, A/B, mirroring, presets), analysis,
//!   the statistical judge and the control plane's propagation; imports only `engine`,
//!   `metrics` and `model`.
//! - [`scenario`]: scenario files, with errors located by file, line and field.
//! - [`sidecar`]: the sans-IO core of a sidecar, shared by every driver (today the answer's
//!   classification); no tokio, hyper, `http` or turmoil, time and RNG handed in.
//! - [`proxy`]: the wire driver: the Envoy-like sidecar and gateway on hyper over turmoil,
//!   deciding through `sidecar` and `engine`.
//! - [`app`]: the apps behind the sidecars.
//! - [`fast`]: the fast backend's discrete-event driver (issue 21, in progress): an event
//!   queue on exact time, links and connections, the app on events; beside `proxy`/`app` as
//!   a driver, importing only `config`, `engine`, `model`, `metrics` and `sidecar`.
//! - [`sim`]: the world, the load generator, the run loop.
//! - [`rehearse`]: a scenario run with its rollout at the controls, through `sim`'s
//!   `Controller` seam; a `Watcher` (the TUI, the CLI's signal handling) beside it.
//! - [`check`]: property checking of routing policies (`meshsim check`): request strategies
//!   derived from route tables, properties evaluated against the engine, lints; imports
//!   `config`, `engine` and `scenario::de` only.
//! - [`init`]: `meshsim init`, a runnable scenario and a `check` policy written from the mesh
//!   files; imports `config`, `engine`, `model` and `check`.
//! - [`migrate`]: leaving App Mesh: target profiles (Istio, Gateway API, Service Connect,
//!   Lattice, Linkerd, App Mesh before and after 2020-07-29) with each value's source, and
//!   `meshsim translate` with its loss report; imports `config` and `engine` only.
//! - [`report`]: `report.json`, `summary.md`, `.hgrm` files, verdicts on expectations, JUnit
//!   XML.
//! - [`sweep`]: `meshsim sweep`, one scenario over many seeds (and `--vary` values) with
//!   shadow judges beside the rollout; imports `rehearse`, `report`, `rollout`, `scenario`.
//! - [`diff`]: `meshsim diff`, a scenario run seed by seed against its own mesh and another,
//!   differences reported above a noise floor from other seeds; beside `sweep`, importing
//!   `rehearse`, `report`, `scenario` and `sim`.
//! - [`tui`]: `meshsim tui`, a rehearsal watched and steered live; with `sweep` and `diff`,
//!   the top layer, imported by nothing.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod app;
pub mod check;
pub mod config;
pub mod diff;
pub mod engine;
pub mod fast;
pub mod init;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod proxy;
pub mod rehearse;
pub mod report;
pub mod rollout;
pub mod scenario;
pub mod sidecar;
pub mod sim;
pub mod sweep;
pub mod tui;
