//! Property checking of routing policies: a policy file's properties tested against the
//! engine the sidecars run, with requests generated from the route table by proptest, failures
//! shrunk to a minimal `curl` line; and lints for the known retry and timeout traps.
//!
//! The request strategies and the engine evaluation are public so users can write their own
//! proptest tests:
//!
//! ```
//! use meshsim::check::{MeshUnderTest, runner};
//! use meshsim::config::{LoadOptions, load_paths};
//! use proptest::test_runner::TestCaseError;
//!
//! let loaded = load_paths(&["scenarios/ordering/mesh.cfn.yaml"], &LoadOptions::default());
//! let mesh = MeshUnderTest::new(&loaded.meshes["ordering"]);
//! let requests = mesh.requests("order.ordering.local").unwrap();
//! // Whatever the request, Order answers from one of its two versions or says 404.
//! runner(42, "my-test", 500)
//!     .run(&requests, |req| {
//!         let ev = mesh.evaluate("order.ordering.local", &req);
//!         let ok = ev.status == Some(404)
//!             || ev.reachable_nodes().all(|n| n == "order-v1" || n == "order-v2");
//!         if ok { Ok(()) } else { Err(TestCaseError::fail(format!("{ev:?}"))) }
//!     })
//!     .unwrap();
//! ```
//!
//! Layering: imports `config`, `engine` and `scenario::de` (for the policy file); nothing
//! below imports it.

mod counterexample;
mod coverage;
mod lint;
mod pattern;
mod policy;
mod property;
pub(crate) mod sendable;
pub(crate) mod strategy;
mod subject;

pub use counterexample::{Counterexample, curl};
pub use coverage::{Coverage, coverage};
pub use lint::lint;
pub use pattern::{PathPattern, Pattern};
pub use policy::{Condition, Outcome, Policy, PolicyError, Property, PropertyKind};
pub use property::{Failure, PropertyResult, Verdict, runner};
pub use strategy::Draft;
pub use subject::{Evaluation, MeshUnderTest};

use crate::config::source::SourceMap;

/// Default cases per property: enough that requests aimed at every route of a 50-route
/// router are generated (the coverage test holds this).
pub const DEFAULT_CASES: u32 = 1000;
/// Default seed.
pub const DEFAULT_SEED: u64 = 42;

/// Errors of the checking library.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The virtual service is not in the mesh.
    #[error("virtual service `{0}` is not in the mesh")]
    UnknownService(String),
    /// The policy could not be read or does not fit the mesh.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// How many cases, from which seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Cases per request property.
    pub cases: u32,
    /// Master seed; each property derives its own stream from it by name.
    pub seed: u64,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            cases: DEFAULT_CASES,
            seed: DEFAULT_SEED,
        }
    }
}

/// Every property's result.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// Results, in policy order.
    pub results: Vec<PropertyResult>,
}

impl CheckReport {
    /// Whether every property held.
    pub fn holds(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.verdict, Verdict::Holds))
    }
}

/// Checks every property of `policy`; `sources` turns locations into file:line.
pub fn check(
    subject: &MeshUnderTest,
    policy: &Policy,
    opts: &CheckOptions,
    sources: &SourceMap,
) -> Result<CheckReport, CheckError> {
    let mut results = Vec::new();
    for (i, p) in policy.properties.iter().enumerate() {
        results.push(property::evaluate(subject, p, i, opts, sources)?);
    }
    Ok(CheckReport { results })
}
