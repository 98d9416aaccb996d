//! One upstream HTTP exchange over [`net`](super::net): what `proxy::pool::UpstreamPool::send`
//! gets from hyper and turmoil (a connection from the pool or a new one within the cluster's
//! connect timeout, the request out, the response back, or a named failure), as a sans-IO
//! state machine. The sidecar core decides which host, when to give up and whether to retry;
//! this only carries the bytes, so the fast world's hop adapter can drive the core with it.
//!
//! The driver feeds it the messages its queue delivers ([`Transport::message_arrived`]), the
//! connect timers it fires ([`Transport::connect_timed_out`]), the server's answer
//! ([`Transport::respond`]) and the caller giving up ([`Transport::abandon`]), and carries out
//! the [`Step`]s it returns through [`Transport::poll_step`].
//!
//! As on the wire:
//! - A connect that does not finish within [`CONNECT_TIMEOUT`] (App Mesh's 1 s) fails the
//!   request as a connect failure; a cut link fails it at once.
//! - A request whose caller gave up still reaches its server, which still does the work (the
//!   double-booking mechanism); only its answer is thrown away, and an HTTP/1.1 connection
//!   is not reused after it (hyper closes it).
//! - A lost request or response does not fail anything by itself: turmoil's TCP never
//!   resends, so the exchange hangs until the caller's timeout abandons it.
//! - A request on a connection to a task that restarted since gets a reset one round trip
//!   later.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;

use super::net::{
    Checkout, ConnId, ConnState, Delivery, Direction, Fates, HttpVersion, LinkState, MessageId,
    Network, PoolKey, Pools,
};
use crate::engine::SimTime;
use crate::engine::endpoints::CONNECT_TIMEOUT;

/// Names one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExchangeId(pub u64);

/// Why an exchange got no response (`proxy::pool::SendError`'s two kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connection could not be made: refused (a cut link) or the connect timed out.
    Connect,
    /// The connection was reset before the response arrived.
    Reset,
}

/// What the driver does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Deliver `message` at `at`: call [`Transport::message_arrived`] then.
    Deliver {
        /// The message.
        message: MessageId,
        /// When it arrives.
        at: SimTime,
    },
    /// Cancel the delivery of `message` (lost or held).
    Undeliver(MessageId),
    /// Fire [`Transport::connect_timed_out`] for `conn` at `at`.
    ArmConnectTimeout {
        /// The connection being set up.
        conn: ConnId,
        /// Its deadline.
        at: SimTime,
    },
    /// Cancel `conn`'s connect timer: it is set up or gone.
    DisarmConnectTimeout(ConnId),
    /// A reset reaches `exchange`'s caller at `at`: call [`Transport::reset_arrived`] then.
    DeliverReset {
        /// The exchange.
        exchange: ExchangeId,
        /// When.
        at: SimTime,
    },
    /// The request reached the server's task: hand it to its inbound listener, and call
    /// [`Transport::respond`] with the answer.
    AtServer(ExchangeId),
    /// The whole response reached the caller.
    Answered(ExchangeId),
    /// The exchange failed.
    Failed(ExchangeId, Failure),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for its connection to be set up.
    Connecting(ConnId),
    /// The request is on its way (or lost: then it hangs).
    Request(ConnId),
    /// At the server.
    Serving(ConnId),
    /// The response is on its way (or lost).
    Response(ConnId),
}

#[derive(Clone, Debug)]
struct Exchange {
    version: HttpVersion,
    phase: Phase,
    /// The caller gave up: nothing more is reported to it.
    abandoned: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Carried {
    Syn(ConnId),
    Request(ExchangeId),
    Response(ExchangeId),
}

/// One proxy's upstream exchanges, their pools, over a shared [`Network`].
#[derive(Debug)]
pub struct Transport {
    client: String,
    pools: Pools,
    exchanges: BTreeMap<ExchangeId, Exchange>,
    /// The exchange that opened each HTTP/1.1 connection being set up (HTTP/2 waiters are
    /// the pool's).
    openers: BTreeMap<ConnId, ExchangeId>,
    messages: BTreeMap<MessageId, Carried>,
    steps: VecDeque<Step>,
    next: u64,
}

impl Transport {
    /// The upstream side of the proxy on task `client`.
    pub fn new(client: &str) -> Transport {
        Transport {
            client: client.to_string(),
            pools: Pools::new(),
            exchanges: BTreeMap::new(),
            openers: BTreeMap::new(),
            messages: BTreeMap::new(),
            steps: VecDeque::new(),
            next: 0,
        }
    }

    /// The pools (connection counts).
    pub fn pools(&self) -> &Pools {
        &self.pools
    }

    /// Exchanges not yet ended (answered, failed, or abandoned and drained).
    pub fn open_exchanges(&self) -> usize {
        self.exchanges.len()
    }

    /// The next step, in the order decided.
    pub fn poll_step(&mut self) -> Option<Step> {
        self.steps.pop_front()
    }

    /// Sends a request to `key`'s host (the task `key.host`) at `now`.
    pub fn start(
        &mut self,
        now: SimTime,
        net: &mut Network,
        key: PoolKey,
        rng: &mut impl Rng,
    ) -> ExchangeId {
        let id = ExchangeId(self.next);
        self.next += 1;
        let checkout = self
            .pools
            .checkout(&key, id.0, |c| net.conn_state(c) != ConnState::Closed);
        match checkout {
            Checkout::Use(conn) => {
                self.exchanges.insert(
                    id,
                    Exchange {
                        version: key.version,
                        phase: Phase::Request(conn),
                        abandoned: false,
                    },
                );
                self.send_request(now, net, id, conn, rng);
            }
            Checkout::Await(conn) => {
                self.exchanges.insert(
                    id,
                    Exchange {
                        version: key.version,
                        phase: Phase::Connecting(conn),
                        abandoned: false,
                    },
                );
            }
            Checkout::Connect => {
                let (conn, syn) = net.connect(now, &self.client, &key.host, rng);
                self.pools.opening(&key, conn);
                self.exchanges.insert(
                    id,
                    Exchange {
                        version: key.version,
                        phase: Phase::Connecting(conn),
                        abandoned: false,
                    },
                );
                self.openers.insert(conn, id);
                match syn {
                    Delivery::At(m, at) => {
                        self.messages.insert(m, Carried::Syn(conn));
                        self.steps.push_back(Step::Deliver { message: m, at });
                        self.steps.push_back(Step::ArmConnectTimeout {
                            conn,
                            at: now + CONNECT_TIMEOUT,
                        });
                    }
                    Delivery::Held(m) => {
                        self.messages.insert(m, Carried::Syn(conn));
                        self.steps.push_back(Step::ArmConnectTimeout {
                            conn,
                            at: now + CONNECT_TIMEOUT,
                        });
                    }
                    Delivery::Lost | Delivery::Reset(_) => self.connect_failed(net, conn),
                }
            }
        }
        id
    }

    fn send_request(
        &mut self,
        now: SimTime,
        net: &mut Network,
        id: ExchangeId,
        conn: ConnId,
        rng: &mut impl Rng,
    ) {
        if let Some(e) = self.exchanges.get_mut(&id) {
            e.phase = Phase::Request(conn);
        }
        match net.send(now, conn, Direction::Up, rng) {
            Delivery::At(m, at) => {
                self.messages.insert(m, Carried::Request(id));
                self.steps.push_back(Step::Deliver { message: m, at });
            }
            Delivery::Held(m) => {
                self.messages.insert(m, Carried::Request(id));
            }
            // Stalled: it hangs until the caller gives up.
            Delivery::Lost => {}
            Delivery::Reset(at) => {
                self.pools.fail(conn);
                self.steps
                    .push_back(Step::DeliverReset { exchange: id, at });
            }
        }
    }

    fn connect_failed(&mut self, net: &mut Network, conn: ConnId) {
        for m in net.close(conn) {
            self.messages.remove(&m);
            self.steps.push_back(Step::Undeliver(m));
        }
        let mut failed: Vec<ExchangeId> = self.openers.remove(&conn).into_iter().collect();
        failed.extend(self.pools.fail(conn).into_iter().map(ExchangeId));
        for id in failed {
            if let Some(e) = self.exchanges.remove(&id)
                && !e.abandoned
            {
                self.steps.push_back(Step::Failed(id, Failure::Connect));
            }
        }
    }

    /// The delivery of `message` came at `now`.
    pub fn message_arrived(
        &mut self,
        now: SimTime,
        net: &mut Network,
        message: MessageId,
        rng: &mut impl Rng,
    ) {
        let Some(carried) = self.messages.remove(&message) else {
            return;
        };
        if net.delivered(message).is_none() {
            // Its receiver is down: a request or response is lost (the exchange hangs), a
            // SYN unanswered (the connect timer ends it).
            self.forget_if_abandoned(carried);
            return;
        }
        match carried {
            Carried::Syn(conn) => {
                self.steps.push_back(Step::DisarmConnectTimeout(conn));
                let mut ready: Vec<ExchangeId> = self.openers.remove(&conn).into_iter().collect();
                ready.extend(self.pools.connected(conn).into_iter().map(ExchangeId));
                for id in ready {
                    match self.exchanges.get(&id) {
                        Some(e) if !e.abandoned => self.send_request(now, net, id, conn, rng),
                        Some(_) => {
                            // Its caller left while it was set up: the connection idles.
                            self.exchanges.remove(&id);
                            self.pools.release(conn);
                        }
                        None => {}
                    }
                }
            }
            Carried::Request(id) => {
                let Some(e) = self.exchanges.get_mut(&id) else {
                    return;
                };
                if let Phase::Request(conn) = e.phase {
                    e.phase = Phase::Serving(conn);
                }
                // Even if its caller left: the server still does the work.
                self.steps.push_back(Step::AtServer(id));
            }
            Carried::Response(id) => {
                let Some(e) = self.exchanges.remove(&id) else {
                    return;
                };
                let Phase::Response(conn) = e.phase else {
                    return;
                };
                if e.abandoned {
                    // The answer nobody reads: an HTTP/1.1 connection, out of its pool since
                    // the caller gave up, closes now; an HTTP/2 stream was reset and its
                    // connection carries on.
                    if e.version == HttpVersion::Http1 {
                        for m in net.close(conn) {
                            self.messages.remove(&m);
                            self.steps.push_back(Step::Undeliver(m));
                        }
                    }
                } else {
                    self.pools.release(conn);
                    self.steps.push_back(Step::Answered(id));
                }
            }
        }
    }

    /// The server answered `exchange` at `now`: the response goes back.
    pub fn respond(
        &mut self,
        now: SimTime,
        net: &mut Network,
        exchange: ExchangeId,
        rng: &mut impl Rng,
    ) {
        let Some(e) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        let Phase::Serving(conn) = e.phase else {
            return;
        };
        e.phase = Phase::Response(conn);
        match net.send(now, conn, Direction::Down, rng) {
            Delivery::At(m, at) => {
                self.messages.insert(m, Carried::Response(exchange));
                self.steps.push_back(Step::Deliver { message: m, at });
            }
            Delivery::Held(m) => {
                self.messages.insert(m, Carried::Response(exchange));
            }
            Delivery::Lost | Delivery::Reset(_) => {
                // Lost: the caller's timeout ends it; if the caller already left, it is over.
                if self.exchanges.get(&exchange).is_some_and(|e| e.abandoned) {
                    self.exchanges.remove(&exchange);
                }
            }
        }
    }

    /// `conn`'s connect timer fired: if it is still being set up, its requests fail.
    pub fn connect_timed_out(&mut self, net: &mut Network, conn: ConnId) {
        if net.conn_state(conn) == ConnState::Connecting {
            self.connect_failed(net, conn);
        }
    }

    /// The reset `exchange` was sent arrived.
    pub fn reset_arrived(&mut self, exchange: ExchangeId) {
        if let Some(e) = self.exchanges.remove(&exchange)
            && !e.abandoned
        {
            self.steps.push_back(Step::Failed(exchange, Failure::Reset));
        }
    }

    /// The caller gave up on `exchange` (a per-try or route timeout, or its own caller left):
    /// nothing more is reported for it. An HTTP/1.1 connection leaves its pool (hyper closes
    /// it); an HTTP/2 stream is reset and the connection stays. A request on its way still
    /// reaches the server.
    pub fn abandon(&mut self, exchange: ExchangeId) {
        let Some(e) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        if e.abandoned {
            return;
        }
        e.abandoned = true;
        match e.phase {
            Phase::Connecting(_) => {}
            Phase::Request(conn) | Phase::Serving(conn) | Phase::Response(conn) => {
                self.pools.abandon(conn);
            }
        }
        // Nothing left to wait for once the request hangs on a stalled connection or the
        // exchange waits at the server only for a response no one reads: forget it when its
        // messages no longer can arrive.
        let waiting = self
            .messages
            .values()
            .any(|c| matches!(c, Carried::Request(id) | Carried::Response(id) if *id == exchange));
        let serving = matches!(e.phase, Phase::Serving(_));
        if !waiting && !serving && !matches!(e.phase, Phase::Connecting(_)) {
            self.exchanges.remove(&exchange);
        }
    }

    /// A request or response was lost: an exchange whose caller already left has nothing
    /// more to wait for (one whose caller still waits hangs until it gives up).
    fn forget_if_abandoned(&mut self, carried: Carried) {
        if let Carried::Request(id) | Carried::Response(id) = carried
            && self.exchanges.get(&id).is_some_and(|e| e.abandoned)
        {
            self.exchanges.remove(&id);
        }
    }

    /// Puts the link between `a` and `b` in `state` (a fault began or ended).
    pub fn set_link(
        &mut self,
        now: SimTime,
        net: &mut Network,
        a: &str,
        b: &str,
        state: LinkState,
    ) {
        let Fates {
            lost,
            held,
            released,
        } = net.set_state(a, b, state);
        for m in lost {
            let carried = self.messages.remove(&m);
            self.steps.push_back(Step::Undeliver(m));
            match carried {
                Some(Carried::Syn(conn)) => {
                    // turmoil drops the SYN and its reply channel: refused at once.
                    self.steps.push_back(Step::DisarmConnectTimeout(conn));
                    self.connect_failed(net, conn);
                }
                Some(c) => self.forget_if_abandoned(c),
                None => {}
            }
        }
        for m in held {
            self.steps.push_back(Step::Undeliver(m));
        }
        for m in released {
            self.steps.push_back(Step::Deliver {
                message: m,
                at: now,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;
    use crate::fast::EventQueue;
    use crate::fast::net::{Handshake, HttpVersion, LinkConfig};
    use std::time::Duration;

    enum Ev {
        Message(MessageId),
        ConnectTimeout(ConnId),
        Reset(ExchangeId),
        /// The caller's own deadline for an exchange (the proptest's caller).
        GiveUp(ExchangeId),
    }

    /// A caller proxy on "a", a server on "b" that answers after `serve`, and the queue that
    /// runs them; the record of what the caller saw.
    struct Rig {
        q: EventQueue<Ev>,
        net: Network,
        t: Transport,
        rng: seed::Rng,
        timers: BTreeMap<MessageId, crate::fast::TimerKey>,
        connect_timers: BTreeMap<ConnId, crate::fast::TimerKey>,
        seen: Vec<(SimTime, Step)>,
        served: Vec<(SimTime, ExchangeId)>,
        answer: bool,
        abandoned: Vec<ExchangeId>,
    }

    impl Rig {
        fn new(latency_ms: u64) -> Rig {
            Rig {
                q: EventQueue::new(),
                net: Network::new(
                    LinkConfig {
                        latency: Duration::from_millis(latency_ms),
                        jitter: Duration::ZERO,
                    },
                    Handshake::RoundTrip,
                ),
                t: Transport::new("a"),
                rng: seed::stream(1, "transport"),
                timers: BTreeMap::new(),
                connect_timers: BTreeMap::new(),
                seen: Vec::new(),
                served: Vec::new(),
                answer: true,
                abandoned: Vec::new(),
            }
        }

        fn start(&mut self, version: HttpVersion) -> ExchangeId {
            let key = PoolKey {
                host: "b".into(),
                port: 8080,
                version,
            };
            let id = self
                .t
                .start(self.q.now(), &mut self.net, key, &mut self.rng);
            self.steps();
            id
        }

        fn steps(&mut self) {
            while let Some(step) = self.t.poll_step() {
                let now = self.q.now();
                match step {
                    Step::Deliver { message, at } => {
                        let k = self.q.schedule_at(at, Ev::Message(message));
                        self.timers.insert(message, k);
                    }
                    Step::Undeliver(m) => {
                        if let Some(k) = self.timers.remove(&m) {
                            self.q.cancel(k);
                        }
                    }
                    Step::ArmConnectTimeout { conn, at } => {
                        let k = self.q.schedule_at(at, Ev::ConnectTimeout(conn));
                        self.connect_timers.insert(conn, k);
                    }
                    Step::DisarmConnectTimeout(conn) => {
                        if let Some(k) = self.connect_timers.remove(&conn) {
                            self.q.cancel(k);
                        }
                    }
                    Step::DeliverReset { exchange, at } => {
                        self.q.schedule_at(at, Ev::Reset(exchange));
                    }
                    Step::AtServer(id) => {
                        self.served.push((now, id));
                        if self.answer {
                            self.t.respond(now, &mut self.net, id, &mut self.rng);
                        }
                    }
                    other => self.seen.push((now, other)),
                }
            }
        }

        fn run_until(&mut self, ms: u64) {
            while let Some((_, ev)) = self.q.pop_until(SimTime::from_millis(ms)) {
                let now = self.q.now();
                match ev {
                    Ev::Message(m) => {
                        self.timers.remove(&m);
                        self.t.message_arrived(now, &mut self.net, m, &mut self.rng);
                    }
                    Ev::ConnectTimeout(c) => {
                        self.connect_timers.remove(&c);
                        self.t.connect_timed_out(&mut self.net, c);
                    }
                    Ev::Reset(id) => self.t.reset_arrived(id),
                    Ev::GiveUp(id) => {
                        let ended = self.seen.iter().any(|(_, s)| {
                            matches!(s, Step::Answered(x) | Step::Failed(x, _) if *x == id)
                        });
                        if !ended {
                            self.t.abandon(id);
                            self.abandoned.push(id);
                        }
                    }
                }
                self.steps();
            }
        }
    }

    fn at(ms: u64) -> SimTime {
        SimTime::from_millis(ms)
    }

    #[test]
    fn a_new_connection_costs_a_round_trip_and_a_reused_one_none() {
        let mut r = Rig::new(2);
        let first = r.start(HttpVersion::Http1);
        r.run_until(100);
        // Handshake 4 ms, request 2 ms, response 2 ms.
        assert_eq!(r.served, vec![(at(4 + 2), first)]);
        assert_eq!(r.seen, vec![(at(8), Step::Answered(first))]);
        let second = r.start(HttpVersion::Http1);
        r.run_until(200);
        assert_eq!(r.seen[1], (at(104), Step::Answered(second)));
        assert_eq!(r.t.pools().opened(), 1);
        assert_eq!(r.t.open_exchanges(), 0);
    }

    #[test]
    fn http2_requests_wait_for_the_one_connection_being_set_up() {
        let mut r = Rig::new(1);
        let a = r.start(HttpVersion::Http2);
        let b = r.start(HttpVersion::Http2);
        r.run_until(50);
        assert_eq!(
            r.seen,
            vec![(at(4), Step::Answered(a)), (at(4), Step::Answered(b))]
        );
        assert_eq!(r.t.pools().opened(), 1);
    }

    #[test]
    fn a_cut_link_refuses_at_once_and_a_crashed_host_times_the_connect_out() {
        let mut r = Rig::new(1);
        let cut = LinkState::Cut {
            oneway: false,
            forward: true,
        };
        r.t.set_link(r.q.now(), &mut r.net, "a", "b", cut);
        let refused = r.start(HttpVersion::Http1);
        assert_eq!(
            r.seen,
            vec![(at(0), Step::Failed(refused, Failure::Connect))]
        );
        r.t.set_link(r.q.now(), &mut r.net, "a", "b", LinkState::Normal);
        r.net.crash("b");
        let dead = r.start(HttpVersion::Http1);
        r.run_until(5_000);
        assert_eq!(r.seen[1], (at(1_000), Step::Failed(dead, Failure::Connect)));
        assert_eq!(r.t.open_exchanges(), 0);
        assert!(r.q.is_empty());
    }

    #[test]
    fn an_abandoned_request_still_reaches_the_server_and_its_http1_connection_is_not_reused() {
        let mut r = Rig::new(5);
        r.answer = false;
        let first = r.start(HttpVersion::Http1);
        r.run_until(12);
        // Set up at 10 ms, request on its way: the caller gives up at 12 ms.
        r.t.abandon(first);
        r.run_until(100);
        assert_eq!(r.served, vec![(at(15), first)]);
        r.t.respond(r.q.now(), &mut r.net, first, &mut r.rng);
        r.steps();
        r.run_until(200);
        assert!(r.seen.is_empty(), "{:?}", r.seen);
        r.answer = true;
        let second = r.start(HttpVersion::Http1);
        r.run_until(300);
        assert_eq!(r.t.pools().opened(), 2);
        assert_eq!(r.seen, vec![(at(220), Step::Answered(second))]);
        assert_eq!(r.t.open_exchanges(), 0);
    }

    #[test]
    fn an_abandoned_http2_stream_leaves_its_connection_in_use() {
        let mut r = Rig::new(5);
        r.answer = false;
        let first = r.start(HttpVersion::Http2);
        r.run_until(12);
        r.t.abandon(first);
        r.run_until(100);
        r.t.respond(r.q.now(), &mut r.net, first, &mut r.rng);
        r.steps();
        r.answer = true;
        let second = r.start(HttpVersion::Http2);
        r.run_until(300);
        assert_eq!(r.t.pools().opened(), 1);
        assert_eq!(r.seen, vec![(at(110), Step::Answered(second))]);
        assert_eq!(r.t.open_exchanges(), 0);
        assert_eq!(r.net.in_flight(), 0);
    }

    #[test]
    fn a_partition_mid_request_hangs_it_until_the_caller_gives_up() {
        let mut r = Rig::new(5);
        let first = r.start(HttpVersion::Http1);
        r.run_until(12);
        let cut = LinkState::Cut {
            oneway: false,
            forward: true,
        };
        r.t.set_link(r.q.now(), &mut r.net, "a", "b", cut);
        r.run_until(1_000);
        assert!(r.seen.is_empty() && r.served.is_empty());
        r.t.abandon(first);
        assert_eq!(r.t.open_exchanges(), 0);
        // Repaired: the stalled connection left the pool with the abandoned request.
        r.t.set_link(r.q.now(), &mut r.net, "a", "b", LinkState::Normal);
        let second = r.start(HttpVersion::Http1);
        r.run_until(2_000);
        assert_eq!(r.seen, vec![(at(1_020), Step::Answered(second))]);
    }

    #[test]
    fn a_request_to_a_restarted_task_on_an_old_connection_is_reset() {
        let mut r = Rig::new(1);
        r.start(HttpVersion::Http1);
        r.run_until(10);
        r.net.crash("b");
        r.net.restart("b");
        let second = r.start(HttpVersion::Http1);
        r.run_until(20);
        assert_eq!(r.seen[1], (at(12), Step::Failed(second, Failure::Reset)));
        // The next one opens a new connection.
        let third = r.start(HttpVersion::Http1);
        r.run_until(40);
        assert_eq!(r.seen[2], (at(24), Step::Answered(third)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Start(bool),
        Advance(u64),
        Link(u8),
        Crash,
        Restart,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => any::<bool>().prop_map(Op::Start),
            4 => (0u64..30).prop_map(Op::Advance),
            2 => (0u8..4).prop_map(Op::Link),
            1 => Just(Op::Crash),
            1 => Just(Op::Restart),
        ]
    }

    proptest::proptest! {
        /// Nothing lost: whatever the links and the server do, every exchange ends exactly
        /// once (answered, failed, or abandoned by its caller's deadline), nothing is
        /// reported after its caller left, and once the faults are gone nothing is left
        /// inside the transport or on the network.
        #[test]
        fn every_exchange_ends_exactly_once(ops in proptest::collection::vec(op(), 0..120)) {
            let mut r = Rig::new(2);
            let mut started = Vec::new();
            for op in ops {
                let now = r.q.now();
                match op {
                    Op::Start(h2) => {
                        let v = if h2 { HttpVersion::Http2 } else { HttpVersion::Http1 };
                        let id = r.start(v);
                        r.q.schedule_at(now + Duration::from_millis(50), Ev::GiveUp(id));
                        started.push(id);
                    }
                    Op::Advance(ms) => {
                        r.run_until(now.as_nanos() / 1_000_000 + ms);
                    }
                    Op::Link(k) => {
                        let state = match k {
                            0 => LinkState::Normal,
                            1 => LinkState::Held,
                            2 => LinkState::Cut { oneway: false, forward: true },
                            _ => LinkState::Cut { oneway: true, forward: k % 2 == 0 },
                        };
                        r.t.set_link(now, &mut r.net, "a", "b", state);
                        r.steps();
                    }
                    Op::Crash => r.net.crash("b"),
                    Op::Restart => r.net.restart("b"),
                }
            }
            r.t.set_link(r.q.now(), &mut r.net, "a", "b", LinkState::Normal);
            r.net.restart("b");
            r.steps();
            let end = r.q.now().as_nanos() / 1_000_000 + 10_000;
            r.run_until(end);
            for id in &started {
                let reported = r
                    .seen
                    .iter()
                    .filter(|(_, s)| matches!(s, Step::Answered(x) | Step::Failed(x, _) if x == id))
                    .count();
                let abandoned = r.abandoned.iter().filter(|x| *x == id).count();
                proptest::prop_assert_eq!(reported + abandoned, 1, "{:?}: {:?}", id, r.seen);
                // An answer comes from a server that got the request, once.
                let answered = r.seen.iter().any(|(_, s)| *s == Step::Answered(*id));
                let served = r.served.iter().filter(|(_, x)| x == id).count();
                proptest::prop_assert!(served <= 1 && (!answered || served == 1));
            }
            proptest::prop_assert_eq!(r.t.open_exchanges(), 0);
            proptest::prop_assert_eq!(r.net.in_flight(), 0);
        }
    }
}
