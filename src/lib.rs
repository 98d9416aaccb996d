//! meshsim: a deterministic local simulator and traffic-chaos testbed for AWS App Mesh-style
//! meshes.
//!
//! Modules, in data-flow order (a module never imports one below it in this list):
//! - [`config`]: the App Mesh model, its three input syntaxes, validation with source spans.
//! - [`engine`]: sans-IO routing and resilience decisions, driven by simulated time and a
//!   seeded RNG handed in.
//!
//! Planned (see docs/ARCHITECTURE.md): `proxy`/`app` (hyper over turmoil), `sim`, `rollout`,
//! `metrics`, `report`, `tui`.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]
#![deny(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod config;
pub mod engine;
