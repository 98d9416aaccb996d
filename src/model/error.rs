//! A problem in a model's configuration, located by its field path, so a scenario loader can
//! point at the line that holds it.

use std::fmt;

use super::calls::CallError;
use super::endpoint::EndpointError;
use super::service_time::DistributionError;

/// One problem found by a `build()`, with the path of the field at fault relative to the
/// config that was built (`service_time.max`, `calls[1].parallel[0].timeout`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError {
    /// Dotted field path, `[i]` for list items; empty for the config itself.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong, by the kind of model that refused it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    /// A service-time or response-size distribution.
    #[error(transparent)]
    Distribution(DistributionError),
    /// A backend call or call step.
    #[error(transparent)]
    Call(CallError),
    /// An endpoint field.
    #[error(transparent)]
    Endpoint(EndpointError),
    /// A service field (endpoints, path patterns).
    #[error(transparent)]
    Service(super::service::ServiceError),
    /// A workload field (rates, the request mix).
    #[error(transparent)]
    Workload(super::workload::WorkloadError),
    /// A fault of the `faults:` section.
    #[error(transparent)]
    Fault(super::fault::FaultError),
}

impl ConfigError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, problem: Problem) -> ConfigError {
        ConfigError {
            path: path.into(),
            problem,
        }
    }

    /// The same problem seen from a config that holds this one at `prefix`.
    pub fn under(mut self, prefix: &str) -> ConfigError {
        self.path = if self.path.is_empty() {
            prefix.to_string()
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_compose_from_the_inside_out() {
        // A list index attaches without a dot; a field with one; an empty path takes the prefix.
        let e = ConfigError::new("timeout", Problem::Call(CallError::ZeroTimeout))
            .under("[0]")
            .under("parallel")
            .under("[2]")
            .under("calls");
        assert_eq!(e.path, "calls[2].parallel[0].timeout");
        assert_eq!(
            ConfigError::new("", Problem::Call(CallError::EmptyGroup))
                .under("service_time")
                .path,
            "service_time"
        );
        assert!(e.to_string().starts_with("calls[2].parallel[0].timeout: "));
    }
}
