//! A virtual node's listener as the engine uses it: what client Envoys apply towards it
//! (outlier detection, active health checks) and what its own Envoy applies towards the local
//! app (connection pool limits, listener timeouts), with App Mesh's defaults filled in.
//!
//! Listener timeouts (`timeout.<protocol>`): per request 15 s and idle 300 s when unset, 0
//! disables; TCP has idle only. A request timeout above 15 s needs raising on both the route
//! and the target's listener, because each hop applies its own.

use std::time::Duration;

use super::breaker::ConnectionPoolLimits;
use super::defaults::EnvoyDefaults;
use super::routing::{DEFAULT_IDLE_TIMEOUT, DEFAULT_PER_REQUEST_TIMEOUT, effective};
use crate::config::model::{HealthCheck, Listener, OutlierDetection, Protocol};

/// One listener of a virtual node, compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeListener {
    /// Listener port.
    pub port: u16,
    /// Listener protocol.
    pub protocol: Protocol,
    /// Passive ejection, enforced by clients.
    pub outlier_detection: Option<OutlierDetection>,
    /// Active health check, run by clients.
    pub health_check: Option<HealthCheck>,
    /// Circuit-breaker thresholds of the node's own Envoy: the `connectionPool`'s, over the
    /// mesh's defaults (App Mesh's 2147483647, or Envoy's 1024).
    pub connection_pool: ConnectionPoolLimits,
    /// Server-side per-request timeout towards the app; `None` when disabled (and for TCP).
    pub per_request_timeout: Option<Duration>,
    /// Server-side idle timeout; `None` when disabled.
    pub idle_timeout: Option<Duration>,
}

impl NodeListener {
    /// Compiles a listener with App Mesh's defaults, and the circuit-breaker thresholds of
    /// `defaults` where its `connectionPool` names none.
    pub fn compile(l: &Listener, defaults: EnvoyDefaults) -> NodeListener {
        let protocol = l.port_mapping.protocol;
        let configured = l
            .timeout
            .filter(|t| t.protocol == protocol)
            .map(|t| t.timeouts);
        NodeListener {
            port: l.port_mapping.port,
            protocol,
            outlier_detection: l.outlier_detection.clone(),
            health_check: l.health_check.clone(),
            connection_pool: defaults.pool_limits().with_pool(l.connection_pool.as_ref()),
            per_request_timeout: (protocol != Protocol::Tcp)
                .then(|| {
                    effective(
                        configured.and_then(|t| t.per_request),
                        DEFAULT_PER_REQUEST_TIMEOUT,
                    )
                })
                .flatten(),
            idle_timeout: effective(configured.and_then(|t| t.idle), DEFAULT_IDLE_TIMEOUT),
        }
    }
}

/// An idle timer (route or listener `idle`, HTTP, HTTP/2 and gRPC alike): fires when nothing
/// happened on the stream for the idle duration.
///
/// It is Envoy's stream idle timer (`ConnectionManagerImpl::ActiveStream`): the listener's
/// `idle` is the connection manager's `stream_idle_timeout`, and a route's `idle` replaces it
/// for the streams the route takes (`RouteAction.idle_timeout`). It restarts on every
/// request or response headers or data passing through the stream; retries and back-offs
/// towards the upstream are not such events, so on a stream whose request has arrived it
/// bounds the wait for the response. What firing does is [`IdleTimer::expiry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleTimer {
    idle: Option<Duration>,
    last_activity: super::SimTime,
}

impl IdleTimer {
    /// A timer started at `now`; `None` never fires.
    pub fn new(now: super::SimTime, idle: Option<Duration>) -> IdleTimer {
        IdleTimer {
            idle,
            last_activity: now,
        }
    }

    /// Bytes moved at `now`: the timer restarts.
    pub fn on_activity(&mut self, now: super::SimTime) {
        self.last_activity = self.last_activity.max(now);
    }

    /// When the timer fires if nothing else happens.
    pub fn deadline(&self) -> Option<super::SimTime> {
        self.idle.map(|d| self.last_activity + d)
    }

    /// The earlier of this timer's deadline and `other` (a request or per-try timeout): how
    /// long a wait may last.
    pub fn bound(&self, other: Option<super::SimTime>) -> Option<super::SimTime> {
        match (self.deadline(), other) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether this timer fires strictly before `other`; at the same instant the other
    /// timeout wins (it was armed for this wait, the idle timer for the whole stream).
    pub fn fires_before(&self, other: Option<super::SimTime>) -> bool {
        self.deadline().is_some_and(|a| other.is_none_or(|b| a < b))
    }

    /// What firing does (Envoy 1.29 `ActiveStream::onIdleTimeout`): a local reply with flag
    /// `SI` while no response headers have gone downstream, else a reset of the stream. The
    /// reply is 504 when the whole request had arrived and 408 when it had not
    /// (`Http::Utility::maybeRequestTimeoutCode`, since Envoy PR #20026, 1.22). Route
    /// docs still say 408 before headers; the code answers 504 for a complete request.
    pub fn expiry(request_complete: bool, response_started: bool) -> IdleExpiry {
        match (response_started, request_complete) {
            (true, _) => IdleExpiry::Reset,
            (false, true) => IdleExpiry::Reply(504),
            (false, false) => IdleExpiry::Reply(408),
        }
    }
}

/// What an idle timeout does to the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleExpiry {
    /// A local reply with this status and response flag `SI`.
    Reply(u16),
    /// The response had started: the stream is reset.
    Reset,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::{ListenerTimeout, PortMapping, Timeouts};
    use crate::engine::SimTime;

    fn listener(protocol: Protocol, timeout: Option<ListenerTimeout>) -> Listener {
        Listener {
            port_mapping: PortMapping {
                port: 8080,
                protocol,
            },
            health_check: None,
            outlier_detection: None,
            connection_pool: None,
            timeout,
            tls: None,
        }
    }

    #[test]
    fn unset_listener_timeouts_take_app_mesh_defaults() {
        // envoy-defaults: per request 15 s, idle 300 s; the connection pool is unlimited.
        let l = NodeListener::compile(&listener(Protocol::Http, None), EnvoyDefaults::AppMesh);
        assert_eq!(l.per_request_timeout, Some(Duration::from_secs(15)));
        assert_eq!(l.idle_timeout, Some(Duration::from_secs(300)));
        assert_eq!(l.connection_pool, ConnectionPoolLimits::app_mesh_default());
    }

    #[test]
    fn envoy_s_defaults_fill_the_thresholds_a_pool_does_not_name() {
        // Meshes before 2020-07-29: 1024 where App Mesh would write 2147483647.
        let mut l = listener(Protocol::Http, None);
        let bare = NodeListener::compile(&l, EnvoyDefaults::Envoy);
        assert_eq!(bare.connection_pool, EnvoyDefaults::Envoy.pool_limits());
        l.connection_pool = Some(crate::config::model::ConnectionPool::Http {
            max_connections: 8,
            max_pending_requests: 4,
        });
        let pooled = NodeListener::compile(&l, EnvoyDefaults::Envoy);
        assert_eq!(
            pooled.connection_pool,
            ConnectionPoolLimits {
                max_connections: 8,
                max_pending_requests: 4,
                max_requests: 1024
            }
        );
        let app_mesh = NodeListener::compile(&l, EnvoyDefaults::AppMesh);
        assert_eq!(app_mesh.connection_pool.max_requests, 2_147_483_647);
    }

    #[test]
    fn zero_disables_and_tcp_has_no_request_timeout() {
        let t = |p, per, idle| {
            Some(ListenerTimeout {
                protocol: p,
                timeouts: Timeouts {
                    per_request: per,
                    idle,
                },
            })
        };
        let http = NodeListener::compile(
            &listener(
                Protocol::Http,
                t(
                    Protocol::Http,
                    Some(Duration::ZERO),
                    Some(Duration::from_secs(60)),
                ),
            ),
            EnvoyDefaults::AppMesh,
        );
        assert_eq!(
            (http.per_request_timeout, http.idle_timeout),
            (None, Some(Duration::from_secs(60)))
        );
        let tcp = NodeListener::compile(
            &listener(
                Protocol::Tcp,
                t(Protocol::Tcp, None, Some(Duration::from_secs(5))),
            ),
            EnvoyDefaults::AppMesh,
        );
        assert_eq!(
            (tcp.per_request_timeout, tcp.idle_timeout),
            (None, Some(Duration::from_secs(5)))
        );
    }

    #[test]
    fn idle_timer_restarts_on_activity() {
        let mut t = IdleTimer::new(SimTime::ZERO, Some(Duration::from_secs(1)));
        assert_eq!(t.deadline(), Some(SimTime::from_millis(1000)));
        t.on_activity(SimTime::from_millis(700));
        assert_eq!(t.deadline(), Some(SimTime::from_millis(1700)));
        let (early, late) = (SimTime::from_millis(900), SimTime::from_millis(1700));
        assert_eq!(t.bound(Some(early)), Some(early));
        assert_eq!(t.bound(None), Some(late));
        assert!(!t.fires_before(Some(early)));
        assert!(
            !t.fires_before(Some(late)),
            "a tie goes to the other timeout"
        );
        assert!(t.fires_before(None));
        let off = IdleTimer::new(SimTime::ZERO, None);
        assert_eq!(off.bound(Some(early)), Some(early));
        assert!(!off.fires_before(None));
        assert_eq!(IdleTimer::new(SimTime::ZERO, None).deadline(), None);
    }

    #[test]
    fn idle_expiry_is_504_for_a_whole_request_408_for_a_partial_one_and_a_reset_after_headers() {
        // Envoy ActiveStream::onIdleTimeout with maybeRequestTimeoutCode (PR #20026).
        assert_eq!(IdleTimer::expiry(true, false), IdleExpiry::Reply(504));
        assert_eq!(IdleTimer::expiry(false, false), IdleExpiry::Reply(408));
        assert_eq!(IdleTimer::expiry(true, true), IdleExpiry::Reset);
        assert_eq!(IdleTimer::expiry(false, true), IdleExpiry::Reset);
    }
}
