//! `meshsim init`: a commented, runnable scenario and a starting `check` policy, written from
//! the mesh files alone.
//!
//! What the mesh says is taken from it: one task entry per virtual node (replicas from the
//! Kubernetes Deployments or ECS services in the same files, else 2), one generic service per
//! node whose endpoints are the paths, methods and gRPC methods of the routes that reach it
//! and whose calls go to each backend it declares, the workload's target (the only gateway,
//! else the virtual service nothing calls) and a request mix aimed at every route, checked
//! against the engine the sidecars run. What it cannot say (service times, worker counts, the
//! rate) gets a plausible default and a comment saying so. The output depends on the mesh and
//! the options only, never on the order files were read in or on the clock, so the same input
//! gives the same bytes.
//!
//! Layering: imports `config`, `engine`, `model` and `check` (requests aimed at routes); the
//! command line and the tests import it.

mod plan;
mod render;
pub mod replicas;
mod requests;

use std::collections::BTreeMap;

use crate::config::LoadedConfig;
use crate::config::model::Mesh;

pub use plan::Coverage;
use plan::Plan;

/// What `init` needs besides the loaded mesh.
#[derive(Clone, Debug, Default)]
pub struct InitOptions {
    /// The mesh files as the scenario names them (relative to the scenario's folder).
    pub files: Vec<String>,
    /// `--var` values, carried into `mesh.vars`.
    pub vars: BTreeMap<String, String>,
    /// `--param` values, carried into `mesh.params`.
    pub params: BTreeMap<String, String>,
    /// `--lenient`, carried into `mesh.lenient`.
    pub lenient: bool,
    /// Whether the files hold several meshes (the scenario then names its own).
    pub several_meshes: bool,
    /// The policy file's name as the scenario's comments mention it.
    pub policy_name: String,
    /// The scenario file's name, for the commands in the comments.
    pub scenario_name: String,
}

/// The two files `init` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The scenario, YAML with comments.
    pub scenario: String,
    /// The `meshsim check` policy, YAML with comments.
    pub policy: String,
    /// What the mix covers.
    pub coverage: Coverage,
}

/// Why no scenario can be written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// Tasks implement virtual nodes; without one there is nothing to run.
    #[error(
        "mesh `{0}` has no virtual node, so no task can run; give the files that define its virtual nodes too"
    )]
    NoVirtualNodes(String),
}

/// Writes the scenario and the policy for `mesh`, loaded (without errors) as `loaded`.
pub fn generate(
    loaded: &LoadedConfig,
    mesh: &Mesh,
    opts: &InitOptions,
) -> Result<Generated, InitError> {
    let plan = Plan::new(loaded, mesh, opts)?;
    Ok(Generated {
        scenario: render::scenario(&plan, opts),
        policy: render::policy(&plan, opts),
        coverage: plan.coverage.clone(),
    })
}
