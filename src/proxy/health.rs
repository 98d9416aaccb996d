//! Active health checks of a sidecar's upstream clusters, in the protocol the virtual node's
//! `healthCheck` names (App Mesh: `http`, `http2`, `grpc` or `tcp`):
//! - `http` / `http2`: a GET of the configured path; a 200 passes (Envoy's default expected
//!   statuses);
//! - `grpc`: the gRPC health-checking protocol, a `grpc.health.v1.Health/Check` call over
//!   HTTP/2; `grpc-status: 0` passes (App Mesh sends no service name, so the server's
//!   overall health is asked);
//! - `tcp`: a connection that opens passes (Envoy's TCP check with no payload).
//!
//! Checks run on connections of their own (Envoy keeps health-check connections apart from
//! traffic) and carry `user-agent: Envoy/HC`, so reports can leave them out.

use std::rc::Rc;

use http::Request;

use super::body::Payload;
use super::outbound::{Sidecar, effective_status};
use super::pool::{self, HttpVersion, SendError, UpstreamPool};
use super::telemetry::{Counter, HEALTH_CHECK_AGENT};
use super::wire;
use crate::config::model::{HealthCheck, Protocol};
use crate::engine::health::{CheckFailure, CheckResult};

/// The path of the gRPC health-checking protocol's `Check` method.
pub const GRPC_HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

impl Sidecar {
    /// Runs a cluster's active health checks for as long as the sidecar lives: the core's
    /// [`Cluster::health_round`](crate::sidecar::cluster::Cluster::health_round) says which
    /// are due and when to come back; this loop runs them over the wire.
    pub(super) async fn health_checks(self: Rc<Self>, key: (String, u16)) {
        let pool = Rc::new(UpstreamPool::new());
        loop {
            let now = wire::now();
            let round = {
                let mut clusters = self.clusters.borrow_mut();
                let Some(cluster) = clusters.get_mut(&key) else {
                    return;
                };
                cluster.health_round(now, &self.shared.registry)
            };
            for (host, config) in round.due {
                let this = Rc::clone(&self);
                let pool = Rc::clone(&pool);
                let key = key.clone();
                tokio::task::spawn_local(async move {
                    let result = tokio::time::timeout(
                        config.timeout,
                        check(&pool, &host.address, host.port, &config),
                    )
                    .await
                    .unwrap_or(CheckResult::TimedOut);
                    if !result.passed() {
                        this.count(Counter::HealthCheckFailures, 1);
                    }
                    if let Some(cluster) = this.clusters.borrow_mut().get_mut(&key) {
                        cluster.on_check_result(wire::now(), &host.id, result);
                    }
                });
            }
            wire::sleep_until(round.wake).await;
        }
    }
}

/// One check of one host, without its timeout (the caller applies it).
async fn check(pool: &UpstreamPool, address: &str, port: u16, config: &HealthCheck) -> CheckResult {
    let (version, req) = match config.protocol {
        Protocol::Tcp => {
            return match pool::connect(address, port).await {
                Ok(_) => CheckResult::Ok,
                Err(_) => CheckResult::Failed(CheckFailure::ConnectFailed),
            };
        }
        Protocol::Grpc => (
            HttpVersion::Http2,
            Request::post(GRPC_HEALTH_CHECK_PATH)
                .header(http::header::CONTENT_TYPE, "application/grpc")
                .header("te", "trailers"),
        ),
        Protocol::Http2 => (
            HttpVersion::Http2,
            Request::get(config.path.as_deref().unwrap_or("/")),
        ),
        Protocol::Http => (
            HttpVersion::Http1,
            Request::get(config.path.as_deref().unwrap_or("/")),
        ),
    };
    let req = req
        .header(http::header::HOST, address)
        .header(http::header::USER_AGENT, HEALTH_CHECK_AGENT)
        .body(Payload::empty());
    let Ok(req) = req else {
        return CheckResult::Failed(CheckFailure::Reset);
    };
    match pool.send(address, port, version, req).await {
        Err(SendError::Connect) => CheckResult::Failed(CheckFailure::ConnectFailed),
        Err(SendError::Reset) => CheckResult::Failed(CheckFailure::Reset),
        Ok(resp) if config.protocol == Protocol::Grpc => {
            if effective_status(&resp) == 200 {
                CheckResult::Ok
            } else {
                CheckResult::Failed(CheckFailure::NotServing)
            }
        }
        Ok(resp) => CheckResult::from_http_status(resp.status().as_u16()),
    }
}
