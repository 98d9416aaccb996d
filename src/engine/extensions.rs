//! Sidecar extensions: what Envoy and Linkerd offer and App Mesh never exposed, turned on per
//! virtual node by a scenario's `sidecars:` section.
//!
//! App Mesh's API has no rate limiting and no failure accrual, so they cannot come from the
//! mesh files; a scenario adds them beside the mesh, the way a team would add an Envoy
//! filter or move to a mesh that has them.

use super::failure_accrual::FailureAccrualConfig;
use super::ratelimit::LocalRateLimitConfig;

/// The extensions of one virtual node.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SidecarExtensions {
    /// Envoy's `local_ratelimit` filter on the node's inbound listeners, one bucket per task
    /// (each Envoy has its own).
    pub rate_limit: Option<LocalRateLimitConfig>,
    /// Linkerd's consecutive failure accrual for the node's hosts, applied by every sidecar
    /// that calls the node, per host. Like App Mesh's `outlierDetection` (set on the listener
    /// of the node called) and Linkerd's annotations (set on the Service called), it belongs
    /// to the node called, not to the callers.
    pub failure_accrual: Option<FailureAccrualConfig>,
}
