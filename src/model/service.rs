//! A service: one pool of workers and one FIFO queue shared by all its endpoints, each endpoint
//! (a method and a path pattern) with its own behaviour.
//!
//! (Runtime types to follow; the config shape below is the contract scenario files use.)

use super::calls::StepConfig;
use super::endpoint::ResponseSizeConfig;
use super::service_time::ServiceTimeConfig;

/// The built-in application logic that runs behind a service's endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppKind {
    /// Behaviour only: timing, errors and calls, no state.
    #[default]
    Generic,
    /// The Ordering UI: `GET /` browses items through Inventory, `POST /checkout` places an
    /// order through Order.
    OrderingUi,
    /// The Ordering Order service: `POST /orders` reserves at Inventory, then confirms.
    OrderingOrder,
    /// The Ordering Inventory service: `GET /items/{sku}`, `POST /reserve` (409 when out of
    /// stock).
    OrderingInventory,
}

/// A service as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ServiceConfig {
    /// The application logic behind the endpoints (default `generic`).
    #[serde(default)]
    pub app: AppKind,
    /// Requests served at once, across all endpoints; at least 1.
    pub workers: u32,
    /// Requests that may wait for a worker; unset, unbounded.
    #[serde(default)]
    pub max_queue: Option<u32>,
    /// Status of a request turned away by a full queue (default 503).
    #[serde(default = "default_reject_status")]
    pub reject_status: u16,
    /// Endpoints, matched in order; a request no endpoint matches gets 404.
    pub endpoints: Vec<PathConfig>,
}

/// One endpoint of a service as a scenario writes it.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct PathConfig {
    /// HTTP method, upper case, or `*` for any (default `*`).
    #[serde(default = "any_method")]
    pub method: String,
    /// Path pattern: literal segments, `{name}` for one segment, a final `*` for the rest.
    pub path: String,
    /// Local work per request.
    pub service_time: ServiceTimeConfig,
    /// Probability (0..=1) that the app fails a request itself; default 0.
    #[serde(default)]
    pub error_rate: f64,
    /// Status of a failed request (default 500).
    #[serde(default = "default_error_status")]
    pub error_status: u16,
    /// Status of a served request (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Size of a served response's body (default 0).
    #[serde(default)]
    pub response_size: ResponseSizeConfig,
    /// Calls made to backends after the local work (default none).
    #[serde(default)]
    pub calls: Vec<StepConfig>,
}

fn any_method() -> String {
    "*".to_string()
}
fn default_reject_status() -> u16 {
    503
}
fn default_error_status() -> u16 {
    500
}
fn default_status() -> u16 {
    200
}

/// A service-level field is wrong.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ServiceError {
    /// `endpoints: []`.
    #[error("a service needs at least one endpoint")]
    NoEndpoints,
}
