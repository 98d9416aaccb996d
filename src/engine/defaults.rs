//! Which defaults App Mesh writes into the Envoy configuration it generates, by account.
//!
//! App Mesh user guide, `envoy-defaults.md` ("Envoy defaults set by App Mesh"): an account
//! that had no mesh before 2020-07-29 gets App Mesh's defaults on every Envoy; an account
//! that had one keeps Envoy's own, unless AWS support changed it on request:
//!
//! | setting | App Mesh's | Envoy's (meshes before 2020-07-29) |
//! |---|---|---|
//! | route retry policy when `retryPolicy` is unset | 2 retries on 503, gRPC `unavailable`, reset, connect-failure, refused-stream | none: no retries |
//! | circuit breakers `max_connections` / `max_pending_requests` / `max_requests` | 2147483647 | 1024 / 1024 / 1024 |
//! | `max_retries` (concurrent retries per cluster) | 2147483647 | 3 |
//!
//! The circuit breakers apply to every cluster an Envoy has: a caller's cluster of each
//! upstream virtual node (its egress side) and a node's cluster towards its local app, where a
//! listener's `connectionPool` replaces the thresholds it names (Envoy's
//! `cluster.CircuitBreakers.Thresholds` defaults, `envoy/config/cluster/v3/circuit_breaker.proto`).
//! The guide adds that neither set can be changed by users, so the switch is the scenario's
//! (`mesh.envoy_defaults`), not the mesh config's.

use super::breaker::{ConnectionPoolLimits, UNLIMITED};
use super::retry::RetryRules;
use crate::config::model::RetryPolicy;

/// Envoy's own circuit-breaker thresholds (`CircuitBreakers.Thresholds` defaults).
pub const ENVOY_MAX_CONNECTIONS: u32 = 1024;
/// Envoy's default `max_pending_requests`.
pub const ENVOY_MAX_PENDING_REQUESTS: u32 = 1024;
/// Envoy's default `max_requests`.
pub const ENVOY_MAX_REQUESTS: u32 = 1024;
/// Envoy's default `max_retries`: concurrent retries per cluster.
pub const ENVOY_MAX_RETRIES: u32 = 3;

/// The defaults in force in a mesh's Envoys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvoyDefaults {
    /// App Mesh's: accounts with no mesh before 2020-07-29 (the default).
    #[default]
    AppMesh,
    /// Envoy's own: accounts that had a mesh before 2020-07-29.
    Envoy,
}

impl EnvoyDefaults {
    /// The scenario's spelling (`app-mesh`, `envoy`).
    pub fn as_str(self) -> &'static str {
        match self {
            EnvoyDefaults::AppMesh => "app-mesh",
            EnvoyDefaults::Envoy => "envoy",
        }
    }

    /// The retry rules of a route with this `retryPolicy` (or none).
    pub fn retry_rules(self, policy: Option<&RetryPolicy>) -> RetryRules {
        match (self, policy) {
            (EnvoyDefaults::Envoy, None) => RetryRules::none(),
            (_, policy) => RetryRules::resolve(policy),
        }
    }

    /// The circuit-breaker thresholds of every cluster before a `connectionPool` names any.
    pub fn pool_limits(self) -> ConnectionPoolLimits {
        match self {
            EnvoyDefaults::AppMesh => ConnectionPoolLimits::app_mesh_default(),
            EnvoyDefaults::Envoy => ConnectionPoolLimits {
                max_connections: ENVOY_MAX_CONNECTIONS,
                max_pending_requests: ENVOY_MAX_PENDING_REQUESTS,
                max_requests: ENVOY_MAX_REQUESTS,
            },
        }
    }

    /// The `max_retries` threshold: concurrent retries per cluster.
    pub fn max_retries(self) -> u32 {
        match self {
            EnvoyDefaults::AppMesh => UNLIMITED,
            EnvoyDefaults::Envoy => ENVOY_MAX_RETRIES,
        }
    }

    /// Whether a caller's cluster can ever overflow (its thresholds are below App Mesh's
    /// 2147483647), so that the caller needs to count its requests at all.
    pub fn limits_callers(self) -> bool {
        self == EnvoyDefaults::Envoy
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::model::HttpRetryEvent;
    use crate::engine::retry::AttemptOutcome;

    #[test]
    fn meshes_before_2020_07_29_get_no_default_retries_and_envoy_s_breakers() {
        let shed = AttemptOutcome::status(503);
        // App Mesh's: the hidden default policy retries a 503 twice; breakers off.
        let app_mesh = EnvoyDefaults::AppMesh;
        let rules = app_mesh.retry_rules(None);
        assert_eq!(
            (rules.max_retries, rules.retriable(&shed).is_some()),
            (2, true)
        );
        assert_eq!(
            app_mesh.pool_limits(),
            ConnectionPoolLimits::app_mesh_default()
        );
        assert_eq!(app_mesh.max_retries(), 2_147_483_647);
        // Envoy's: no policy means no retries; 1024 / 1024 / 1024 and 3 concurrent retries.
        let envoy = EnvoyDefaults::Envoy;
        let rules = envoy.retry_rules(None);
        assert_eq!(
            (rules.max_retries, rules.retriable(&shed).is_some()),
            (0, false)
        );
        assert_eq!(
            envoy.pool_limits(),
            ConnectionPoolLimits {
                max_connections: 1024,
                max_pending_requests: 1024,
                max_requests: 1024
            }
        );
        assert_eq!(envoy.max_retries(), 3);
        // A route's own policy is the same either way.
        let policy = RetryPolicy {
            max_retries: 4,
            per_retry_timeout: Duration::from_millis(200),
            http_retry_events: vec![HttpRetryEvent::ServerError],
            tcp_retry_events: Vec::new(),
            grpc_retry_events: Vec::new(),
        };
        assert_eq!(
            envoy.retry_rules(Some(&policy)),
            app_mesh.retry_rules(Some(&policy))
        );
    }
}
