//! The counters a sidecar keeps, which the core's decisions add to and the driver writes
//! into the world's telemetry.

/// Envoy-style counters (`upstream_rq_retry`, `upstream_rq_timeout`, …), per proxy node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    /// Upstream attempts sent.
    Attempts,
    /// Retries.
    Retries,
    /// Per-try or route timeouts.
    Timeouts,
    /// Outlier ejections.
    Ejections,
    /// Circuit-breaker overflows.
    Overflows,
    /// No route (404 NR).
    NoRoute,
    /// Upstream resets and connect failures.
    Resets,
    /// Health checks that failed.
    HealthCheckFailures,
    /// Requests the fault filter delayed or aborted.
    FaultsInjected,
    /// Requests the local rate limit refused (Envoy's `local_rate_limit.enforced`).
    RateLimited,
    /// Times a failure-accrual breaker opened on an upstream host.
    BreakerTrips,
}
