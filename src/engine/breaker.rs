//! Listener connection pools: App Mesh's `connectionPool`, Envoy's cluster circuit-breaker
//! thresholds.
//!
//! A listener's `connectionPool` is applied by the virtual node's own (server-side) Envoy to
//! the cluster that points at its local app (appmesh-spec §3.4). Every other threshold, and
//! every client-side pool, keeps App Mesh's default of 2147483647, so it never trips (§8.5),
//! unless the mesh runs with Envoy's own defaults (accounts with a mesh before 2020-07-29,
//! [`EnvoyDefaults`](super::defaults::EnvoyDefaults)): then every threshold a pool does not
//! name is 1024, and a caller's cluster of each upstream node is a pool too, with the same
//! rules.
//!
//! Where Envoy's behaviour depends on timing this engine does not model, we choose:
//! - Connections are set up instantly and an idle one is reused at once. So an HTTP/1 request
//!   waits in the pending queue only while all `max_connections` connections carry a request,
//!   and HTTP/2 and gRPC never queue (Envoy queues them only while the first connection is
//!   being set up).
//! - Limits are exact. Envoy's are shared loosely by worker threads and can briefly overshoot;
//!   one engine instance is one counter.
//! - A TCP connection over `max_connections` is closed at once with no bytes, as `tcp_proxy`
//!   does (it checks the limit itself rather than wait in a queue that may never drain), flag
//!   `UO`, stat `upstream_cx_overflow`.
//!
//! The other breakers live apart because they count different things: the client side's
//! retry concurrency (`max_retries`) is [`retry_breaker`](super::retry_breaker), and
//! the consecutive-failures breaker, which counts outcomes rather than concurrency, is
//! [`failure_accrual`](super::failure_accrual).

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::time::SimTime;
use crate::config::model::{ConnectionPool, Protocol};

/// App Mesh's value for every Envoy threshold it does not let users set: 2³¹ − 1, in effect
/// no limit.
pub const UNLIMITED: u32 = 2_147_483_647;
/// The header Envoy adds to a local reply caused by a circuit breaker.
pub const OVERLOADED_HEADER: (&str, &str) = ("x-envoy-overloaded", "true");
/// Access-log response flag for an upstream overflow.
pub const RESPONSE_FLAG: &str = "UO";
/// Body of Envoy's local reply to a request overflow.
pub const OVERFLOW_BODY: &str =
    "upstream connect error or disconnect/reset before headers. reset reason: overflow";

/// The circuit-breaker thresholds a listener pool enforces (Envoy `CircuitBreakers.Thresholds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionPoolLimits {
    /// Concurrent connections to the app (HTTP/1: also concurrent requests; TCP: the limit).
    pub max_connections: u32,
    /// HTTP/1 requests waiting for a connection.
    pub max_pending_requests: u32,
    /// Concurrent requests (HTTP/2 and gRPC streams; also caps HTTP/1).
    pub max_requests: u32,
}

impl ConnectionPoolLimits {
    /// What App Mesh configures when `connectionPool` is unset: 2147483647 everywhere.
    pub const fn app_mesh_default() -> ConnectionPoolLimits {
        ConnectionPoolLimits {
            max_connections: UNLIMITED,
            max_pending_requests: UNLIMITED,
            max_requests: UNLIMITED,
        }
    }

    /// The limits a listener's `connectionPool` sets; the thresholds its member does not name
    /// keep App Mesh's default.
    pub fn from_config(pool: Option<&ConnectionPool>) -> ConnectionPoolLimits {
        ConnectionPoolLimits::app_mesh_default().with_pool(pool)
    }

    /// These limits with the thresholds a listener's `connectionPool` names replaced.
    pub fn with_pool(self, pool: Option<&ConnectionPool>) -> ConnectionPoolLimits {
        let d = self;
        match pool {
            None => d,
            Some(ConnectionPool::Tcp { max_connections }) => ConnectionPoolLimits {
                max_connections: *max_connections,
                ..d
            },
            Some(ConnectionPool::Http {
                max_connections,
                max_pending_requests,
            }) => ConnectionPoolLimits {
                max_connections: *max_connections,
                max_pending_requests: *max_pending_requests,
                ..d
            },
            Some(
                ConnectionPool::Http2 { max_requests } | ConnectionPool::Grpc { max_requests },
            ) => ConnectionPoolLimits {
                max_requests: *max_requests,
                ..d
            },
        }
    }
}

impl Default for ConnectionPoolLimits {
    fn default() -> Self {
        ConnectionPoolLimits::app_mesh_default()
    }
}

/// Identifies one admitted request (dispatched or queued) of a [`ListenerPool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ticket(u64);

impl Ticket {
    /// The sequence number (tickets count up from 0 per pool).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which threshold refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowCause {
    /// HTTP/1: every connection carries a request and the pending queue is full.
    PendingQueueFull {
        /// `max_connections`.
        max_connections: u32,
        /// `max_pending_requests`.
        max_pending_requests: u32,
    },
    /// `max_requests` requests already in flight.
    MaxRequests {
        /// `max_requests`.
        max_requests: u32,
    },
    /// TCP: `max_connections` connections already open.
    MaxConnections {
        /// `max_connections`.
        max_connections: u32,
    },
}

impl OverflowCause {
    /// The Envoy stat this overflow increments.
    pub fn stat(self) -> &'static str {
        match self {
            // Envoy counts a max_requests overflow under the pending-overflow stat too.
            OverflowCause::PendingQueueFull { .. } | OverflowCause::MaxRequests { .. } => {
                "upstream_rq_pending_overflow"
            }
            OverflowCause::MaxConnections { .. } => "upstream_cx_overflow",
        }
    }
}

impl fmt::Display for OverflowCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OverflowCause::PendingQueueFull {
                max_connections,
                max_pending_requests,
            } => write!(
                f,
                "all {max_connections} connections (maxConnections) carry a request and \
                 {max_pending_requests} requests (maxPendingRequests) already wait"
            ),
            OverflowCause::MaxRequests { max_requests } => {
                write!(f, "{max_requests} requests (maxRequests) already in flight")
            }
            OverflowCause::MaxConnections { max_connections } => {
                write!(
                    f,
                    "{max_connections} connections (maxConnections) already open"
                )
            }
        }
    }
}

/// How a refused request surfaces to the downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowResponse {
    /// HTTP/1.1 and HTTP/2: a local 503 with `x-envoy-overloaded: true`.
    Http503,
    /// gRPC: Envoy turns the local 503 into a trailers-only reply, `:status` 200 and
    /// `grpc-status` 14 (UNAVAILABLE), still with `x-envoy-overloaded: true`.
    GrpcUnavailable,
    /// TCP: the downstream connection is closed without a byte.
    CloseConnection,
}

impl OverflowResponse {
    /// The `:status` of the local reply, if there is one.
    pub fn http_status(self) -> Option<u16> {
        match self {
            OverflowResponse::Http503 => Some(503),
            OverflowResponse::GrpcUnavailable => Some(200),
            OverflowResponse::CloseConnection => None,
        }
    }

    /// The `grpc-status` of the local reply, for gRPC.
    pub fn grpc_status(self) -> Option<u8> {
        (self == OverflowResponse::GrpcUnavailable).then_some(14)
    }

    /// `x-envoy-overloaded: true` on every HTTP or gRPC reply; nothing for TCP.
    pub fn overloaded_header(self) -> Option<(&'static str, &'static str)> {
        (self != OverflowResponse::CloseConnection).then_some(OVERLOADED_HEADER)
    }
}

/// A request refused by the pool: why, and what the downstream sees (always flag `UO`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow {
    /// The threshold.
    pub cause: OverflowCause,
    /// The reply.
    pub response: OverflowResponse,
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.response.http_status() {
            Some(_) if self.response == OverflowResponse::GrpcUnavailable => {
                write!(f, "UNAVAILABLE (UO, overflow): {}", self.cause)
            }
            Some(s) => write!(f, "{s} (UO, overflow): {}", self.cause),
            None => write!(f, "connection closed (UO, overflow): {}", self.cause),
        }
    }
}

/// What the pool does with an arriving request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Send it to the app now.
    Dispatch {
        /// Its ticket.
        ticket: Ticket,
    },
    /// HTTP/1: wait for a connection; [`ListenerPool::on_complete`] dispatches in FIFO order.
    Queued {
        /// Its ticket.
        ticket: Ticket,
        /// Requests ahead of it (0: next to go).
        position: u32,
    },
    /// Refused at once.
    Rejected(Overflow),
}

impl fmt::Display for Admission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Admission::Dispatch { ticket } => write!(f, "{ticket} dispatched: under the limits"),
            Admission::Queued { ticket, position } => write!(
                f,
                "{ticket} queued behind {position}: every connection (maxConnections) is busy"
            ),
            Admission::Rejected(o) => write!(f, "rejected: {o}"),
        }
    }
}

/// A queued request that got a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatched {
    /// Its ticket.
    pub ticket: Ticket,
    /// Time it spent in the queue.
    pub waited: Duration,
}

/// Counters of a [`ListenerPool`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests dispatched on arrival.
    pub dispatched: u64,
    /// Requests queued on arrival (each is a connection overflow, `upstream_cx_overflow`).
    pub queued: u64,
    /// Queued requests later dispatched.
    pub dispatched_from_queue: u64,
    /// Queued requests withdrawn before dispatch ([`ListenerPool::cancel`]).
    pub cancelled: u64,
    /// Requests refused (503 or closed connection, flag `UO`).
    pub rejected: u64,
    /// Dispatched requests that completed.
    pub completed: u64,
    /// Highest number in flight at once.
    pub peak_active: u32,
    /// Highest number queued at once.
    pub peak_pending: u32,
}

/// How a protocol uses the thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Discipline {
    /// One request per connection, then a pending queue.
    Http1,
    /// Streams over shared connections, limited by `max_requests`, no queue.
    Multiplexed { grpc: bool },
    /// Connections, limited by `max_connections`, no queue.
    Tcp,
}

/// The circuit breaker of one Envoy cluster: the server-side pool of a virtual-node listener
/// towards its local app, or, under Envoy's own defaults, a caller's cluster of an upstream
/// node (the same thresholds and rules, counted by the caller).
///
/// Invariants: never more than the limit in flight, never more than `max_pending_requests`
/// queued, and a queued request is dispatched only when a connection frees, oldest first.
#[derive(Clone, Debug)]
pub struct ListenerPool {
    discipline: Discipline,
    limits: ConnectionPoolLimits,
    active: u32,
    queue: VecDeque<(Ticket, SimTime)>,
    next_ticket: u64,
    stats: PoolStats,
}

impl ListenerPool {
    /// A pool for a listener of this protocol.
    pub fn new(protocol: Protocol, limits: ConnectionPoolLimits) -> ListenerPool {
        let discipline = match protocol {
            Protocol::Http => Discipline::Http1,
            Protocol::Http2 => Discipline::Multiplexed { grpc: false },
            Protocol::Grpc => Discipline::Multiplexed { grpc: true },
            Protocol::Tcp => Discipline::Tcp,
        };
        ListenerPool {
            discipline,
            limits,
            active: 0,
            queue: VecDeque::new(),
            next_ticket: 0,
            stats: PoolStats::default(),
        }
    }

    /// A pool for a listener as configured: its protocol and its `connectionPool`, if any.
    pub fn for_listener(protocol: Protocol, pool: Option<&ConnectionPool>) -> ListenerPool {
        ListenerPool::new(protocol, ConnectionPoolLimits::from_config(pool))
    }

    /// The limits.
    pub fn limits(&self) -> ConnectionPoolLimits {
        self.limits
    }

    /// Requests (or TCP connections) in flight to the app.
    pub fn active(&self) -> u32 {
        self.active
    }

    /// Requests waiting in the queue.
    pub fn pending(&self) -> u32 {
        u32::try_from(self.queue.len()).unwrap_or(u32::MAX)
    }

    /// Requests refused so far.
    pub fn rejected(&self) -> u64 {
        self.stats.rejected
    }

    /// Counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Decides a request (or TCP connection) arriving at `now`.
    pub fn admit(&mut self, now: SimTime) -> Admission {
        let l = self.limits;
        let refuse = |cause, response| Admission::Rejected(Overflow { cause, response });
        let admission = match self.discipline {
            Discipline::Http1 if self.active < l.max_connections => {
                if self.active < l.max_requests {
                    Admission::Dispatch {
                        ticket: self.ticket(),
                    }
                } else {
                    refuse(
                        OverflowCause::MaxRequests {
                            max_requests: l.max_requests,
                        },
                        OverflowResponse::Http503,
                    )
                }
            }
            Discipline::Http1 if self.pending() < l.max_pending_requests => {
                let ticket = self.ticket();
                let position = self.pending();
                self.queue.push_back((ticket, now));
                Admission::Queued { ticket, position }
            }
            Discipline::Http1 => refuse(
                OverflowCause::PendingQueueFull {
                    max_connections: l.max_connections,
                    max_pending_requests: l.max_pending_requests,
                },
                OverflowResponse::Http503,
            ),
            Discipline::Multiplexed { .. } if self.active < l.max_requests => Admission::Dispatch {
                ticket: self.ticket(),
            },
            Discipline::Multiplexed { grpc } => refuse(
                OverflowCause::MaxRequests {
                    max_requests: l.max_requests,
                },
                if grpc {
                    OverflowResponse::GrpcUnavailable
                } else {
                    OverflowResponse::Http503
                },
            ),
            Discipline::Tcp if self.active < l.max_connections => Admission::Dispatch {
                ticket: self.ticket(),
            },
            Discipline::Tcp => refuse(
                OverflowCause::MaxConnections {
                    max_connections: l.max_connections,
                },
                OverflowResponse::CloseConnection,
            ),
        };
        match admission {
            Admission::Dispatch { .. } => {
                self.active += 1;
                self.stats.dispatched += 1;
                self.stats.peak_active = self.stats.peak_active.max(self.active);
            }
            Admission::Queued { .. } => {
                self.stats.queued += 1;
                self.stats.peak_pending = self.stats.peak_pending.max(self.pending());
            }
            Admission::Rejected(_) => self.stats.rejected += 1,
        }
        admission
    }

    /// A dispatched request (or connection) finished at `now`. Its connection goes to the
    /// oldest queued request, which is returned. Without any request in flight this does
    /// nothing (a caller bug, tolerated so counters never wrap).
    pub fn on_complete(&mut self, now: SimTime) -> Option<Dispatched> {
        if self.active == 0 {
            return None;
        }
        self.active -= 1;
        self.stats.completed += 1;
        if self.active >= self.limits.max_connections.min(self.limits.max_requests) {
            return None;
        }
        let (ticket, since) = self.queue.pop_front()?;
        self.active += 1;
        self.stats.dispatched_from_queue += 1;
        Some(Dispatched {
            ticket,
            waited: now - since,
        })
    }

    /// Withdraws a queued request (its timeout fired or its downstream went away). Returns
    /// whether it was still queued.
    pub fn cancel(&mut self, ticket: Ticket) -> bool {
        let Some(i) = self.queue.iter().position(|(t, _)| *t == ticket) else {
            return false;
        };
        self.queue.remove(i);
        self.stats.cancelled += 1;
        true
    }

    fn ticket(&mut self) -> Ticket {
        let t = Ticket(self.next_ticket);
        self.next_ticket += 1;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn http1(max_connections: u32, max_pending_requests: u32) -> ListenerPool {
        ListenerPool::for_listener(
            Protocol::Http,
            Some(&ConnectionPool::Http {
                max_connections,
                max_pending_requests,
            }),
        )
    }

    fn is_overloaded_503(a: Admission) -> bool {
        matches!(a, Admission::Rejected(o)
            if o.response.http_status() == Some(503)
                && o.response.overloaded_header() == Some(("x-envoy-overloaded", "true")))
    }

    #[test]
    fn app_mesh_default_is_int32_max_everywhere() {
        // "Envoy defaults set by App Mesh": 2147483647 for every threshold, max_retries too.
        let d = ConnectionPoolLimits::app_mesh_default();
        assert_eq!(d.max_connections, 2_147_483_647);
        assert_eq!(d.max_pending_requests, 2_147_483_647);
        assert_eq!(d.max_requests, 2_147_483_647);
        assert_eq!(ConnectionPoolLimits::from_config(None), d);
        // A member sets only its own thresholds.
        let h2 =
            ConnectionPoolLimits::from_config(Some(&ConnectionPool::Http2 { max_requests: 5 }));
        assert_eq!((h2.max_requests, h2.max_connections), (5, UNLIMITED));
        // Unset pools never reject in practice.
        let mut p = ListenerPool::for_listener(Protocol::Http, None);
        for _ in 0..10_000 {
            assert!(matches!(p.admit(ms(0)), Admission::Dispatch { .. }));
        }
    }

    #[test]
    fn http1_overflows_with_503_overloaded_only_past_both_limits() {
        // HTTP/1: max_connections in flight, then max_pending_requests queued, then 503 UO.
        let mut p = http1(2, 1);
        assert!(matches!(p.admit(ms(0)), Admission::Dispatch { .. }));
        assert!(matches!(p.admit(ms(0)), Admission::Dispatch { .. }));
        assert!(matches!(
            p.admit(ms(0)),
            Admission::Queued { position: 0, .. }
        ));
        assert_eq!((p.active(), p.pending(), p.rejected()), (2, 1, 0));
        let over = p.admit(ms(0));
        assert!(is_overloaded_503(over), "{over:?}");
        let Admission::Rejected(o) = over else {
            unreachable!()
        };
        assert_eq!(o.cause.stat(), "upstream_rq_pending_overflow");
        assert_eq!((p.active(), p.pending(), p.rejected()), (2, 1, 1));
        // One completion frees a connection for the queued request, and room in the queue.
        assert!(p.on_complete(ms(5)).is_some());
        assert!(matches!(p.admit(ms(5)), Admission::Queued { .. }));
        assert!(is_overloaded_503(p.admit(ms(5))));
    }

    #[test]
    fn queue_dispatches_fifo() {
        // Envoy attaches the oldest pending stream to a freed connection.
        let mut p = http1(1, 10);
        assert!(matches!(p.admit(ms(0)), Admission::Dispatch { .. }));
        let queued: Vec<Ticket> = (1..=3)
            .map(|i| match p.admit(ms(i)) {
                Admission::Queued { ticket, position } => {
                    assert_eq!(u64::from(position), i - 1);
                    ticket
                }
                other => panic!("expected queued, got {other:?}"),
            })
            .collect();
        let d1 = p.on_complete(ms(10)).expect("dispatch");
        assert_eq!(d1.ticket, queued[0]);
        assert_eq!(d1.waited, Duration::from_millis(9));
        // A cancelled request is skipped.
        assert!(p.cancel(queued[1]));
        assert!(!p.cancel(queued[1]));
        assert_eq!(p.on_complete(ms(20)).map(|d| d.ticket), Some(queued[2]));
        assert_eq!(p.on_complete(ms(30)), None);
        assert_eq!(p.active(), 0);
        assert_eq!(p.on_complete(ms(40)), None, "no underflow");
        let s = p.stats();
        assert_eq!(
            (s.queued, s.dispatched_from_queue, s.cancelled, s.completed),
            (3, 2, 1, 3)
        );
    }

    #[test]
    fn http2_and_grpc_have_no_queue() {
        // max_requests streams, then an immediate overflow; nothing waits.
        let mut h2 = ListenerPool::for_listener(
            Protocol::Http2,
            Some(&ConnectionPool::Http2 { max_requests: 2 }),
        );
        assert!(matches!(h2.admit(ms(0)), Admission::Dispatch { .. }));
        assert!(matches!(h2.admit(ms(0)), Admission::Dispatch { .. }));
        assert!(is_overloaded_503(h2.admit(ms(0))));
        assert_eq!(h2.pending(), 0);
        assert_eq!(h2.on_complete(ms(1)), None, "nothing queued to dispatch");
        assert!(matches!(h2.admit(ms(1)), Admission::Dispatch { .. }));
        // gRPC: the 503 becomes grpc-status 14 on a 200, still x-envoy-overloaded.
        let mut g = ListenerPool::for_listener(
            Protocol::Grpc,
            Some(&ConnectionPool::Grpc { max_requests: 1 }),
        );
        assert!(matches!(g.admit(ms(0)), Admission::Dispatch { .. }));
        let Admission::Rejected(o) = g.admit(ms(0)) else {
            panic!("expected overflow")
        };
        assert_eq!(o.response, OverflowResponse::GrpcUnavailable);
        assert_eq!(
            (o.response.http_status(), o.response.grpc_status()),
            (Some(200), Some(14))
        );
        assert!(o.response.overloaded_header().is_some());
    }

    #[test]
    fn tcp_overflow_closes_the_connection() {
        // tcp_proxy checks max_connections itself and closes the downstream connection (UO).
        let mut p = ListenerPool::for_listener(
            Protocol::Tcp,
            Some(&ConnectionPool::Tcp { max_connections: 1 }),
        );
        assert!(matches!(p.admit(ms(0)), Admission::Dispatch { .. }));
        let Admission::Rejected(o) = p.admit(ms(0)) else {
            panic!("expected overflow")
        };
        assert_eq!(o.response, OverflowResponse::CloseConnection);
        assert_eq!(o.response.http_status(), None);
        assert_eq!(o.response.overloaded_header(), None);
        assert_eq!(o.cause.stat(), "upstream_cx_overflow");
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn http1_max_requests_below_max_connections_rejects_without_queueing() {
        // Envoy checks max_requests when attaching a stream to a connection: overflow, no queue.
        let mut p = ListenerPool::new(
            Protocol::Http,
            ConnectionPoolLimits {
                max_connections: 3,
                max_pending_requests: 5,
                max_requests: 1,
            },
        );
        assert!(matches!(p.admit(ms(0)), Admission::Dispatch { .. }));
        let a = p.admit(ms(0));
        assert!(matches!(
            a,
            Admission::Rejected(Overflow {
                cause: OverflowCause::MaxRequests { .. },
                ..
            })
        ));
        assert!(is_overloaded_503(a));
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Arrive,
        Complete,
        Cancel(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Arrive),
            3 => Just(Op::Complete),
            1 => (0usize..8).prop_map(Op::Cancel),
        ]
    }

    fn protocol() -> impl Strategy<Value = Protocol> {
        prop_oneof![
            Just(Protocol::Http),
            Just(Protocol::Http2),
            Just(Protocol::Grpc),
            Just(Protocol::Tcp)
        ]
    }

    proptest! {
        #[test]
        fn breaker_never_exceeds_limits_and_queues_fifo(
            protocol in protocol(),
            max_connections in 1u32..5,
            max_pending_requests in 0u32..5,
            max_requests in 1u32..6,
            ops in prop::collection::vec(op(), 0..200),
        ) {
            // Never more than the limit in flight, never more than max_pending queued, a
            // rejection only at the limits, and queued requests leave oldest first.
            let limits = ConnectionPoolLimits { max_connections, max_pending_requests, max_requests };
            let mut p = ListenerPool::new(protocol, limits);
            let limit = match protocol {
                Protocol::Http => max_connections.min(max_requests),
                Protocol::Http2 | Protocol::Grpc => max_requests,
                Protocol::Tcp => max_connections,
            };
            let can_queue = protocol == Protocol::Http && max_requests >= max_connections;
            let mut model: VecDeque<Ticket> = VecDeque::new();
            for (i, op) in ops.into_iter().enumerate() {
                let now = ms(i as u64);
                match op {
                    Op::Arrive => {
                        let (active, pending) = (p.active(), p.pending());
                        match p.admit(now) {
                            Admission::Dispatch { .. } => prop_assert!(active < limit),
                            Admission::Queued { ticket, position } => {
                                prop_assert!(can_queue && active == limit);
                                prop_assert_eq!(position as usize, model.len());
                                model.push_back(ticket);
                            }
                            Admission::Rejected(_) => {
                                prop_assert_eq!(active, limit);
                                if can_queue {
                                    prop_assert_eq!(pending, max_pending_requests);
                                }
                            }
                        }
                    }
                    Op::Complete => {
                        let was_active = p.active();
                        let next = p.on_complete(now).map(|d| d.ticket);
                        let expected = if was_active > 0 { model.pop_front() } else { None };
                        prop_assert_eq!(next, expected);
                    }
                    Op::Cancel(k) => {
                        if let Some(&t) = model.get(k) {
                            prop_assert!(p.cancel(t));
                            model.remove(k);
                        }
                    }
                }
                prop_assert!(p.active() <= limit);
                prop_assert!(p.pending() <= max_pending_requests);
                prop_assert_eq!(p.pending() as usize, model.len());
                // Nobody waits while a connection is free.
                prop_assert!(p.pending() == 0 || p.active() == limit);
            }
        }

    }
}
