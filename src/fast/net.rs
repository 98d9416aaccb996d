//! What fast mode has in place of TCP and HTTP: links that delay, hold or lose messages, and
//! connections that are set up, reused and broken as Envoy's upstream connection pools and the
//! wire world's `proxy::pool` use them. Sans-IO: the driver passes the time and the seeded
//! RNG in, schedules the deliveries this returns on its [`EventQueue`](super::EventQueue),
//! and reports back what happened.
//!
//! **What the wire world does, read from turmoil 0.7.2's source, and what this does.**
//! - *Delay.* turmoil delays each segment by `latency + min(⌊jitter × X⌋ms, jitter)` with
//!   `X ~ Exp(5)` (`top.rs::delay`), the draw floored to whole milliseconds, and delivers on
//!   the first tick at or after it. Here the draw is the same law without the floor (exact
//!   time): with a jitter of several ms turmoil's floor takes about half a millisecond off
//!   each segment; every shipped scenario has no jitter, where the two agree exactly.
//! - *Order.* turmoil's TCP buffers segments by sequence number and hands them over in order
//!   (`host.rs::StreamSocket::buffer`), so a message on a connection is delivered no earlier
//!   than the one sent before it in the same direction. Here too ([`Network::send`]).
//! - *Partitions.* A cut link drops the messages in flight on it and every message sent while
//!   it is cut (`partition` clears the link's queue; a one-way cut drops only its sender's).
//!   turmoil's TCP never resends, so a connection that lost a message is stalled for good:
//!   later messages wait behind the gap forever. Here a lost message marks its connection
//!   [`ConnState::Stalled`] and later messages on it are lost too, as on the wire; a request
//!   on it ends only by a timeout (a sidecar's per-try or route timeout, the app's own). A new
//!   connection over a cut link fails at once (turmoil drops the SYN, whose dropped reply
//!   channel the client reads as connection refused).
//! - *Holds.* A held link keeps every message, in flight or sent while held, and delivers all
//!   of them at the instant it is released (`Link::release` sets each to deliver now).
//! - *Shaping.* `latency` and `loss` faults add a delay per link, re-decided each millisecond
//!   by the fault layer (`model::fault::link::Shaper` on the `inbound` branch, today
//!   `sim::chaos`); [`Network::set_extra`] takes that value. turmoil's `set_link_latency` sets
//!   the link's minimum and maximum to the shaped value, so the base jitter vanishes while a
//!   link is shaped; here it stays (no shipped scenario has base jitter).
//! - *Crashes.* A crashed task's messages are lost, with no reset (turmoil drops them and a
//!   crashed host answers nothing): requests to it end by timeout, connects by the cluster's
//!   connect timeout. Once it restarts, a message on a connection it had before arrives at a
//!   host with no such socket and is answered by a reset (turmoil sends `Rst`), so the caller
//!   sees [`Delivery::Reset`] one way later.
//! - *Connection set-up.* turmoil answers a SYN through a channel, not a message, so a new
//!   connection costs one one-way delay before the first request leaves. A real TCP client
//!   sends after the SYN-ACK, one round trip, as issue 21 asks; [`Handshake`] offers both,
//!   round trip by default, one way to match the wire world in differential tests.
//!
//! **Connections** ([`Pools`]). The wire world's `proxy::pool` keeps, per upstream host
//! (address, port, HTTP version): HTTP/1.1 connections that carry one request at a time, idle
//! ones reused last-in first-out, a new one opened when none is idle; and one HTTP/2
//! connection, multiplexing every stream. A request dropped midway (its timeout fired) closes
//! its HTTP/1.1 connection (hyper and Envoy do) but only resets its HTTP/2 stream. Limits are
//! not decided here: the circuit breakers (`max_connections`, `max_pending_requests`,
//! `max_requests`) are the engine's `ListenerPool`, asked by the sidecar before a request
//! reaches a pool, so this layer counts connections but never refuses one. One difference on
//! purpose: the wire pool registers an HTTP/2 connection only once its handshake is done, so
//! requests that arrive while it is being set up each open another; Envoy's HTTP/2 pool
//! queues them on the connection being set up, and so does [`Pools::checkout`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp};

use crate::engine::SimTime;

/// The shape turmoil gives its latency draws (`Exp(5)`, turmoil's default curve): most
/// messages take about the base latency, a few nearly the whole jitter.
const LATENCY_CURVE: f64 = 5.0;

/// The base delay of every link (the scenario's `network:` section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// One-way latency.
    pub latency: Duration,
    /// Extra latency, up to this much.
    pub jitter: Duration,
}

impl LinkConfig {
    /// One message's delay: the latency plus `min(jitter × X, jitter)`, `X ~ Exp(5)`. Draws
    /// nothing when there is no jitter, so a jitter-free scenario's stream is untouched.
    pub fn draw(&self, rng: &mut impl Rng) -> Duration {
        if self.jitter.is_zero() {
            return self.latency;
        }
        let x: f64 = Exp::new(LATENCY_CURVE).map_or(0.0, |e| e.sample(rng));
        self.latency + self.jitter.mul_f64(x.min(1.0))
    }
}

/// What a fault does to the messages between two tasks, as the fault layer decides it (the
/// same three states as `model::fault::link::LinkState` on the `inbound` branch; this type
/// goes once that lands).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LinkState {
    /// Delivered.
    #[default]
    Normal,
    /// Lost.
    Cut {
        /// Only the messages from one side are lost.
        oneway: bool,
        /// One-way: the side whose messages are lost is the pair's first (lesser) name.
        forward: bool,
    },
    /// Kept, then delivered together when released.
    Held,
}

/// How many one-way delays a new connection costs before its first request leaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handshake {
    /// SYN out, SYN-ACK back: one round trip, as real TCP.
    #[default]
    RoundTrip,
    /// The SYN's one way only, as turmoil (its SYN-ACK is a channel, not a message).
    OneWay,
}

/// Names a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// Names a message in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// Which way a message goes on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// Client to server: a SYN, a request.
    Up,
    /// Server to client: a response.
    Down,
}

/// What becomes of a message sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// It arrives at this instant: schedule its delivery, then call [`Network::delivered`].
    At(MessageId, SimTime),
    /// Its link is held: it arrives when [`Network::set_state`] releases the link.
    Held(MessageId),
    /// It is lost; the connection is stalled (or the connect fails at once, for a SYN).
    Lost,
    /// The far end restarted since the connection opened: a reset comes back at this
    /// instant.
    Reset(SimTime),
}

/// What a change of a link's state does to the messages on it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fates {
    /// Lost: cancel their deliveries (their connections are stalled).
    pub lost: Vec<MessageId>,
    /// Held: cancel their deliveries; they come back in `released` later.
    pub held: Vec<MessageId>,
    /// Released: they arrive now, in the order they were sent.
    pub released: Vec<MessageId>,
}

/// The state of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Its SYN (and SYN-ACK) are on the way.
    Connecting,
    /// Open.
    Open,
    /// A message on it was lost; nothing more gets through (turmoil's TCP has no resend).
    Stalled,
    /// Closed or reset; out of its pool.
    Closed,
}

#[derive(Clone, Debug)]
struct InFlight {
    conn: ConnId,
    direction: Direction,
    held: bool,
}

#[derive(Clone, Debug)]
struct ConnLink {
    client: String,
    server: String,
    /// The server's incarnation when the connection opened.
    incarnation: u64,
    state: ConnState,
    /// The latest delivery instant each way, for in-order delivery.
    last_up: SimTime,
    last_down: SimTime,
}

/// The links between tasks and the messages on them.
#[derive(Debug)]
pub struct Network {
    config: LinkConfig,
    handshake: Handshake,
    /// Links in a state other than normal, by (lesser, greater) name.
    states: BTreeMap<(String, String), LinkState>,
    /// Extra delay of shaped links, by (lesser, greater) name.
    extra: BTreeMap<(String, String), Duration>,
    conns: BTreeMap<ConnId, ConnLink>,
    in_flight: BTreeMap<MessageId, InFlight>,
    /// Tasks down (crashed, not yet restarted).
    down: BTreeSet<String>,
    /// How many times each task has started again.
    incarnations: BTreeMap<String, u64>,
    next_conn: u64,
    next_message: u64,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl Network {
    /// A network whose links all have `config`'s delay, connections set up by `handshake`.
    pub fn new(config: LinkConfig, handshake: Handshake) -> Network {
        Network {
            config,
            handshake,
            states: BTreeMap::new(),
            extra: BTreeMap::new(),
            conns: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            down: BTreeSet::new(),
            incarnations: BTreeMap::new(),
            next_conn: 0,
            next_message: 0,
        }
    }

    /// The state of the link between `a` and `b`.
    pub fn state(&self, a: &str, b: &str) -> LinkState {
        self.states.get(&pair(a, b)).copied().unwrap_or_default()
    }

    /// A connection's state (`Closed` for one unknown).
    pub fn conn_state(&self, conn: ConnId) -> ConnState {
        self.conns.get(&conn).map_or(ConnState::Closed, |c| c.state)
    }

    /// Messages in flight or held.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn blocked(&self, from: &str, to: &str) -> bool {
        match self.state(from, to) {
            LinkState::Cut { oneway: false, .. } => true,
            LinkState::Cut {
                oneway: true,
                forward,
            } => (from <= to) == forward,
            _ => false,
        }
    }

    fn delay(&self, from: &str, to: &str, rng: &mut impl Rng) -> Duration {
        let extra = self.extra.get(&pair(from, to)).copied().unwrap_or_default();
        self.config.draw(rng) + extra
    }

    /// Opens a connection from `client` to `server`: the SYN is sent now. `Delivery::At`
    /// is when the client may send its first request (the SYN's way, and back with
    /// [`Handshake::RoundTrip`]); `Held` when the link is held (the connect waits for the
    /// release, or for the connect timeout the driver arms); `Lost` fails the connect at
    /// once over a cut link; a task that is down never answers (`Held` on no link: only the
    /// connect timeout ends it).
    pub fn connect(
        &mut self,
        now: SimTime,
        client: &str,
        server: &str,
        rng: &mut impl Rng,
    ) -> (ConnId, Delivery) {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let incarnation = self.incarnations.get(server).copied().unwrap_or(0);
        self.conns.insert(
            id,
            ConnLink {
                client: client.to_string(),
                server: server.to_string(),
                incarnation,
                state: ConnState::Connecting,
                last_up: now,
                last_down: now,
            },
        );
        if self.down.contains(server) {
            // Nothing answers: the SYN waits forever, as on turmoil.
            let m = self.track(id, Direction::Up, true);
            return (id, Delivery::Held(m));
        }
        let there = self.blocked(client, server);
        let back = self.handshake == Handshake::RoundTrip && self.blocked(server, client);
        if there || back {
            if let Some(c) = self.conns.get_mut(&id) {
                c.state = ConnState::Closed;
            }
            return (id, Delivery::Lost);
        }
        if self.state(client, server) == LinkState::Held {
            let m = self.track(id, Direction::Up, true);
            return (id, Delivery::Held(m));
        }
        let mut at = now + self.delay(client, server, rng);
        if self.handshake == Handshake::RoundTrip {
            at = at + self.delay(server, client, rng);
        }
        let m = self.track(id, Direction::Up, false);
        if let Some(c) = self.conns.get_mut(&id) {
            c.last_up = at;
        }
        (id, Delivery::At(m, at))
    }

    fn track(&mut self, conn: ConnId, direction: Direction, held: bool) -> MessageId {
        let id = MessageId(self.next_message);
        self.next_message += 1;
        self.in_flight.insert(
            id,
            InFlight {
                conn,
                direction,
                held,
            },
        );
        id
    }

    /// Sends a message (a request `Up`, a response `Down`) on `conn` at `now`.
    pub fn send(
        &mut self,
        now: SimTime,
        conn: ConnId,
        direction: Direction,
        rng: &mut impl Rng,
    ) -> Delivery {
        let Some(c) = self.conns.get(&conn) else {
            return Delivery::Lost;
        };
        let (from, to) = match direction {
            Direction::Up => (c.client.clone(), c.server.clone()),
            Direction::Down => (c.server.clone(), c.client.clone()),
        };
        if c.state != ConnState::Open {
            return Delivery::Lost;
        }
        let restarted = self.incarnations.get(&c.server).copied().unwrap_or(0) != c.incarnation;
        if self.down.contains(&to) || self.down.contains(&from) || self.blocked(&from, &to) {
            self.stall(conn);
            return Delivery::Lost;
        }
        if restarted && direction == Direction::Up {
            // The new incarnation has no such socket: a reset comes back.
            let there = now + self.delay(&from, &to, rng);
            let back = there + self.delay(&to, &from, rng);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.state = ConnState::Closed;
            }
            return Delivery::Reset(back);
        }
        if self.state(&from, &to) == LinkState::Held {
            return Delivery::Held(self.track(conn, direction, true));
        }
        let own = now + self.delay(&from, &to, rng);
        let Some(c) = self.conns.get_mut(&conn) else {
            return Delivery::Lost;
        };
        let last = match direction {
            Direction::Up => &mut c.last_up,
            Direction::Down => &mut c.last_down,
        };
        let at = own.max(*last);
        *last = at;
        let m = self.track(conn, direction, false);
        Delivery::At(m, at)
    }

    /// A message's delivery event came: it leaves the network. A SYN's arrival opens its
    /// connection. Returns its connection and direction; `None` if it is not delivered: its
    /// receiver went down while it was on the way (a request or response is lost and its
    /// connection stalls; a SYN is never answered, so only the connect timeout ends it), or
    /// it was lost meanwhile (the driver cancelled too late, a caller bug).
    pub fn delivered(&mut self, message: MessageId) -> Option<(ConnId, Direction)> {
        let m = self.in_flight.remove(&message)?;
        let c = self.conns.get_mut(&m.conn)?;
        let to = match m.direction {
            Direction::Up => &c.server,
            Direction::Down => &c.client,
        };
        if self.down.contains(to) {
            if c.state == ConnState::Open {
                c.state = ConnState::Stalled;
            }
            return None;
        }
        if c.state == ConnState::Connecting {
            c.state = ConnState::Open;
        }
        Some((m.conn, m.direction))
    }

    fn stall(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && c.state != ConnState::Closed
        {
            c.state = ConnState::Stalled;
        }
    }

    /// Closes `conn` (its pool let it go, or it was reset); messages still on it are dropped
    /// and returned, for the driver to cancel.
    pub fn close(&mut self, conn: ConnId) -> Vec<MessageId> {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.state = ConnState::Closed;
        }
        let gone: Vec<MessageId> = self
            .in_flight
            .iter()
            .filter(|(_, m)| m.conn == conn)
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.in_flight.remove(id);
        }
        self.conns.remove(&conn);
        gone
    }

    /// Sets the extra delay of the link between `a` and `b` (zero: unshaped).
    pub fn set_extra(&mut self, a: &str, b: &str, extra: Duration) {
        if extra.is_zero() {
            self.extra.remove(&pair(a, b));
        } else {
            self.extra.insert(pair(a, b), extra);
        }
    }

    /// Puts the link between `a` and `b` in `state`; returns what that does to the messages on
    /// it, which the driver carries out on its queue. The old state is undone first, as the
    /// fault layer changes a link (`model::fault::link::LinkChange`: release, then cut): a
    /// hold that ends in a cut delivers what it held now, except what the cut loses.
    pub fn set_state(&mut self, a: &str, b: &str, state: LinkState) -> Fates {
        let key = pair(a, b);
        let before = self.states.get(&key).copied().unwrap_or_default();
        if state == LinkState::Normal {
            self.states.remove(&key);
        } else {
            self.states.insert(key.clone(), state);
        }
        let mut fates = Fates::default();
        let on_link: Vec<(MessageId, bool, bool)> = self
            .in_flight
            .iter()
            .filter_map(|(id, m)| {
                let c = self.conns.get(&m.conn)?;
                if pair(&c.client, &c.server) != key {
                    return None;
                }
                let from = match m.direction {
                    Direction::Up => &c.client,
                    Direction::Down => &c.server,
                };
                Some((*id, m.held, *from == key.0))
            })
            .collect();
        for (id, held, from_first) in on_link {
            let lose = match state {
                LinkState::Cut { oneway: false, .. } => true,
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => from_first == forward,
                _ => false,
            };
            if lose {
                if let Some(m) = self.in_flight.remove(&id) {
                    self.stall(m.conn);
                }
                fates.lost.push(id);
            } else if state == LinkState::Held {
                if !held {
                    if let Some(m) = self.in_flight.get_mut(&id) {
                        m.held = true;
                    }
                    fates.held.push(id);
                }
            } else if held && before == LinkState::Held {
                // Leaving a hold releases first (the fault layer undoes the old state before
                // it makes the new one): what the new state does not lose arrives now.
                if let Some(m) = self.in_flight.get_mut(&id) {
                    m.held = false;
                }
                fates.released.push(id);
            }
        }
        fates
    }

    /// `task` crashed: messages to and from it are lost from now on, and it answers nothing.
    pub fn crash(&mut self, task: &str) {
        self.down.insert(task.to_string());
    }

    /// `task` started again: connections opened to it before get a reset on their next
    /// request.
    pub fn restart(&mut self, task: &str) {
        self.down.remove(task);
        *self.incarnations.entry(task.to_string()).or_insert(0) += 1;
    }
}

/// An upstream host's pool key, as `proxy::pool` keys it: the host, the port, the version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PoolKey {
    /// The host (a task, or a DNS node's one logical host).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The HTTP version.
    pub version: HttpVersion,
}

/// Which HTTP version a pool speaks upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HttpVersion {
    /// One request at a time per connection.
    Http1,
    /// Streams multiplexed on one connection.
    Http2,
}

/// What a request does for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Checkout {
    /// Send on this open connection now.
    Use(ConnId),
    /// Open a new connection ([`Network::connect`]) and report it with
    /// [`Pools::opening`].
    Connect,
    /// Wait for this HTTP/2 connection being set up ([`Pools::connected`] hands the request
    /// back, or [`Pools::fail`] fails it).
    Await(ConnId),
}

#[derive(Clone, Debug, Default)]
struct HostPool {
    /// Idle HTTP/1.1 connections; the last one idled is reused first.
    idle: Vec<ConnId>,
    /// The HTTP/2 connection, open or being set up.
    h2: Option<ConnId>,
    /// Whether `h2` is set up.
    h2_ready: bool,
    /// Requests waiting for the HTTP/2 connection being set up, by token.
    waiting: VecDeque<u64>,
}

/// One proxy's upstream connections, by host.
#[derive(Debug, Default)]
pub struct Pools {
    hosts: BTreeMap<PoolKey, HostPool>,
    /// Every connection of these pools → (its key, requests on it now).
    conns: BTreeMap<ConnId, (PoolKey, u32)>,
    opened: u64,
}

impl Pools {
    /// No connections.
    pub fn new() -> Pools {
        Pools::default()
    }

    /// Connections ever opened (Envoy's `upstream_cx_total`).
    pub fn opened(&self) -> u64 {
        self.opened
    }

    /// Connections open or being set up now (`upstream_cx_active`).
    pub fn active(&self) -> usize {
        self.conns.len()
    }

    /// Requests on `conn` now.
    pub fn streams(&self, conn: ConnId) -> u32 {
        self.conns.get(&conn).map_or(0, |(_, n)| *n)
    }

    /// A request (named by the driver's `token`) wants a connection to `key`. `usable` says
    /// whether a connection the pool holds can carry it (the network's state: a stalled
    /// connection looks open to its pool, as on the wire, so pass `true` for it; a closed
    /// one is dropped here).
    pub fn checkout(
        &mut self,
        key: &PoolKey,
        token: u64,
        usable: impl Fn(ConnId) -> bool,
    ) -> Checkout {
        let host = self.hosts.entry(key.clone()).or_default();
        match key.version {
            HttpVersion::Http1 => {
                while let Some(conn) = host.idle.pop() {
                    if usable(conn) {
                        if let Some((_, n)) = self.conns.get_mut(&conn) {
                            *n += 1;
                        }
                        return Checkout::Use(conn);
                    }
                    self.conns.remove(&conn);
                }
                Checkout::Connect
            }
            HttpVersion::Http2 => match host.h2 {
                Some(conn) if usable(conn) => {
                    if let Some((_, n)) = self.conns.get_mut(&conn) {
                        *n += 1;
                    }
                    if host.h2_ready {
                        Checkout::Use(conn)
                    } else {
                        host.waiting.push_back(token);
                        Checkout::Await(conn)
                    }
                }
                Some(conn) => {
                    host.h2 = None;
                    self.conns.remove(&conn);
                    Checkout::Connect
                }
                None => Checkout::Connect,
            },
        }
    }

    /// The request `token` opened `conn` to `key` (after [`Checkout::Connect`]); it counts
    /// as the connection's first request. An HTTP/2 connection becomes the host's one.
    pub fn opening(&mut self, key: &PoolKey, conn: ConnId) {
        self.opened += 1;
        self.conns.insert(conn, (key.clone(), 1));
        if key.version == HttpVersion::Http2 {
            let host = self.hosts.entry(key.clone()).or_default();
            host.h2 = Some(conn);
            host.h2_ready = false;
        }
    }

    /// `conn`'s set-up finished: the HTTP/2 requests that waited for it, to send now in
    /// order (none for HTTP/1.1: its opener sends on it).
    pub fn connected(&mut self, conn: ConnId) -> Vec<u64> {
        let Some((key, _)) = self.conns.get(&conn) else {
            return Vec::new();
        };
        match self.hosts.get_mut(key) {
            Some(h) if h.h2 == Some(conn) => {
                h.h2_ready = true;
                h.waiting.drain(..).collect()
            }
            _ => Vec::new(),
        }
    }

    /// A request on `conn` got its whole response: an HTTP/1.1 connection is idle again.
    pub fn release(&mut self, conn: ConnId) {
        let Some((key, n)) = self.conns.get_mut(&conn) else {
            return;
        };
        *n = n.saturating_sub(1);
        if key.version == HttpVersion::Http1
            && let Some(host) = self.hosts.get_mut(key)
        {
            host.idle.push(conn);
        }
    }

    /// A request on `conn` was dropped midway (its timeout fired): an HTTP/1.1 connection is
    /// closed with it (returned: close it in the [`Network`]); an HTTP/2 stream is reset and
    /// the connection stays.
    pub fn abandon(&mut self, conn: ConnId) -> Option<ConnId> {
        let (key, n) = self.conns.get_mut(&conn)?;
        *n = n.saturating_sub(1);
        if key.version == HttpVersion::Http1 {
            self.conns.remove(&conn);
            return Some(conn);
        }
        None
    }

    /// `conn` failed (connect refused or timed out, reset): out of its pool. Returns the
    /// requests that waited for it, which fail too.
    pub fn fail(&mut self, conn: ConnId) -> Vec<u64> {
        let Some((key, _)) = self.conns.remove(&conn) else {
            return Vec::new();
        };
        let Some(host) = self.hosts.get_mut(&key) else {
            return Vec::new();
        };
        host.idle.retain(|c| *c != conn);
        if host.h2 == Some(conn) {
            host.h2 = None;
            host.h2_ready = false;
            return host.waiting.drain(..).collect();
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seed;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn at(n: u64) -> SimTime {
        SimTime::from_millis(n)
    }

    fn net(latency: u64, jitter: u64, handshake: Handshake) -> Network {
        Network::new(
            LinkConfig {
                latency: ms(latency),
                jitter: ms(jitter),
            },
            handshake,
        )
    }

    fn open(n: &mut Network, rng: &mut seed::Rng) -> (ConnId, SimTime) {
        let (c, d) = n.connect(SimTime::ZERO, "a", "b", rng);
        let Delivery::At(m, t) = d else {
            panic!("{d:?}")
        };
        assert_eq!(n.delivered(m), Some((c, Direction::Up)));
        (c, t)
    }

    #[test]
    fn a_new_connection_costs_a_round_trip_or_turmoils_one_way() {
        let mut rng = seed::stream(1, "net");
        let mut n = net(3, 0, Handshake::RoundTrip);
        let (c, t) = open(&mut n, &mut rng);
        assert_eq!(t, at(6));
        assert_eq!(n.conn_state(c), ConnState::Open);
        let mut n = net(3, 0, Handshake::OneWay);
        assert_eq!(open(&mut n, &mut rng).1, at(3));
    }

    #[test]
    fn jitter_follows_turmoils_law_without_its_floor() {
        let cfg = LinkConfig {
            latency: ms(1),
            jitter: ms(10),
        };
        let mut rng = seed::stream(2, "net");
        let n = 100_000;
        let draws: Vec<Duration> = (0..n).map(|_| cfg.draw(&mut rng)).collect();
        assert!(draws.iter().all(|d| *d >= ms(1) && *d <= ms(11)));
        // E[min(X, 1)] for X ~ Exp(5) is (1 - e^-5) / 5 = 0.19865: a mean of 2.9865 ms.
        let mean = draws.iter().map(|d| d.as_secs_f64()).sum::<f64>() / n as f64;
        assert!((mean * 1000.0 - 2.9865).abs() < 0.02, "mean {mean}");
        // Not on whole milliseconds (turmoil's floor would put every draw on one).
        assert!(draws.iter().any(|d| d.subsec_nanos() % 1_000_000 != 0));
        // No jitter: no draw, the stream is untouched.
        let mut a = seed::stream(3, "net");
        let mut b = seed::stream(3, "net");
        let flat = LinkConfig {
            latency: ms(1),
            jitter: Duration::ZERO,
        };
        assert_eq!(flat.draw(&mut a), ms(1));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn messages_on_a_connection_arrive_in_the_order_sent() {
        let mut rng = seed::stream(4, "net");
        let mut n = net(1, 20, Handshake::RoundTrip);
        let (c, t) = open(&mut n, &mut rng);
        let mut last = t;
        for i in 0..200u64 {
            let now = t + Duration::from_micros(i * 10);
            let Delivery::At(_, arrive) = n.send(now, c, Direction::Up, &mut rng) else {
                panic!()
            };
            assert!(arrive >= last && arrive >= now + ms(1));
            last = arrive;
        }
    }

    #[test]
    fn a_cut_link_loses_messages_in_flight_and_stalls_the_connection() {
        let mut rng = seed::stream(5, "net");
        let mut n = net(5, 0, Handshake::RoundTrip);
        let (c, t) = open(&mut n, &mut rng);
        let Delivery::At(m, _) = n.send(t, c, Direction::Up, &mut rng) else {
            panic!()
        };
        let cut = LinkState::Cut {
            oneway: false,
            forward: true,
        };
        let fates = n.set_state("b", "a", cut);
        assert_eq!(fates.lost, vec![m]);
        assert_eq!(n.conn_state(c), ConnState::Stalled);
        assert_eq!(n.delivered(m), None);
        // New connections fail at once; the stalled one swallows everything, even repaired.
        assert_eq!(n.connect(t, "a", "b", &mut rng).1, Delivery::Lost);
        n.set_state("a", "b", LinkState::Normal);
        assert_eq!(n.send(t, c, Direction::Up, &mut rng), Delivery::Lost);
        assert!(matches!(
            n.connect(t, "a", "b", &mut rng).1,
            Delivery::At(..)
        ));
    }

    #[test]
    fn a_one_way_cut_loses_only_its_senders_messages() {
        let mut rng = seed::stream(6, "net");
        let mut n = net(5, 0, Handshake::OneWay);
        let (c, t) = open(&mut n, &mut rng);
        // "a" is the pair's first name: forward loses a's messages.
        n.set_state(
            "a",
            "b",
            LinkState::Cut {
                oneway: true,
                forward: true,
            },
        );
        assert!(matches!(
            n.send(t, c, Direction::Down, &mut rng),
            Delivery::At(..)
        ));
        assert_eq!(n.send(t, c, Direction::Up, &mut rng), Delivery::Lost);
    }

    #[test]
    fn a_held_link_delivers_everything_at_release() {
        let mut rng = seed::stream(7, "net");
        let mut n = net(5, 0, Handshake::RoundTrip);
        let (c, t) = open(&mut n, &mut rng);
        let Delivery::At(m1, _) = n.send(t, c, Direction::Up, &mut rng) else {
            panic!()
        };
        let fates = n.set_state("a", "b", LinkState::Held);
        assert_eq!(fates.held, vec![m1]);
        let Delivery::Held(m2) = n.send(t, c, Direction::Down, &mut rng) else {
            panic!()
        };
        // A connect over a held link waits too.
        let (_, syn) = n.connect(t, "a", "b", &mut rng);
        let Delivery::Held(m3) = syn else { panic!() };
        let fates = n.set_state("a", "b", LinkState::Normal);
        assert_eq!(fates.released, vec![m1, m2, m3]);
        assert_eq!(n.delivered(m2), Some((c, Direction::Down)));
        assert_eq!(n.conn_state(c), ConnState::Open);
    }

    #[test]
    fn a_hold_that_ends_in_a_cut_releases_what_the_cut_does_not_lose() {
        let mut rng = seed::stream(10, "net");
        let mut n = net(5, 0, Handshake::RoundTrip);
        let (c, t) = open(&mut n, &mut rng);
        n.set_state("a", "b", LinkState::Held);
        let Delivery::Held(up) = n.send(t, c, Direction::Up, &mut rng) else {
            panic!()
        };
        let Delivery::Held(down) = n.send(t, c, Direction::Down, &mut rng) else {
            panic!()
        };
        // One-way cut of "a"'s side (the pair's first): its request is lost, the response
        // arrives now.
        let fates = n.set_state(
            "a",
            "b",
            LinkState::Cut {
                oneway: true,
                forward: true,
            },
        );
        assert_eq!(fates.lost, vec![up]);
        assert_eq!(fates.released, vec![down]);
        assert!(fates.held.is_empty());
        assert_eq!(n.in_flight(), 1);
    }

    #[test]
    fn a_crashed_task_answers_nothing_and_its_restart_resets_old_connections() {
        let mut rng = seed::stream(8, "net");
        let mut n = net(2, 0, Handshake::RoundTrip);
        let (c, t) = open(&mut n, &mut rng);
        // A request on the way when it crashes is not delivered.
        let Delivery::At(m, _) = n.send(t, c, Direction::Up, &mut rng) else {
            panic!()
        };
        n.crash("b");
        assert_eq!(n.delivered(m), None);
        assert_eq!(n.conn_state(c), ConnState::Stalled);
        assert!(matches!(
            n.connect(t, "a", "b", &mut rng).1,
            Delivery::Held(_)
        ));
        assert_eq!(n.send(t, c, Direction::Up, &mut rng), Delivery::Lost);
        let (c2, t2) = {
            n.restart("b");
            open(&mut n, &mut rng)
        };
        // The stalled connection stays stalled; an open one from before the restart is reset.
        assert_eq!(n.send(t2, c, Direction::Up, &mut rng), Delivery::Lost);
        n.restart("b");
        assert_eq!(
            n.send(t2, c2, Direction::Up, &mut rng),
            Delivery::Reset(t2 + ms(4))
        );
        assert_eq!(n.conn_state(c2), ConnState::Closed);
    }

    #[test]
    fn shaping_adds_its_extra_delay_until_lifted() {
        let mut rng = seed::stream(9, "net");
        let mut n = net(1, 0, Handshake::OneWay);
        let (c, t) = open(&mut n, &mut rng);
        n.set_extra("b", "a", ms(200));
        let Delivery::At(_, a1) = n.send(t, c, Direction::Up, &mut rng) else {
            panic!()
        };
        assert_eq!(a1, t + ms(201));
        n.set_extra("a", "b", Duration::ZERO);
        // In order: not before the shaped message.
        let Delivery::At(_, a2) = n.send(t, c, Direction::Up, &mut rng) else {
            panic!()
        };
        assert_eq!(a2, a1);
        let Delivery::At(_, a3) = n.send(a1, c, Direction::Up, &mut rng) else {
            panic!()
        };
        assert_eq!(a3, a1 + ms(1));
    }

    fn key(version: HttpVersion) -> PoolKey {
        PoolKey {
            host: "b".into(),
            port: 8080,
            version,
        }
    }

    #[test]
    fn http1_carries_one_request_per_connection_and_reuses_the_last_idled() {
        let mut p = Pools::new();
        let k = key(HttpVersion::Http1);
        assert_eq!(p.checkout(&k, 0, |_| true), Checkout::Connect);
        p.opening(&k, ConnId(1));
        // Busy: a second request opens another.
        assert_eq!(p.checkout(&k, 1, |_| true), Checkout::Connect);
        p.opening(&k, ConnId(2));
        p.release(ConnId(1));
        p.release(ConnId(2));
        assert_eq!(p.checkout(&k, 2, |_| true), Checkout::Use(ConnId(2)));
        assert_eq!(p.checkout(&k, 3, |_| true), Checkout::Use(ConnId(1)));
        assert_eq!(p.streams(ConnId(1)), 1);
        assert_eq!(p.opened(), 2);
        // A dropped request closes its connection; a closed idle one is skipped.
        assert_eq!(p.abandon(ConnId(1)), Some(ConnId(1)));
        p.release(ConnId(2));
        assert_eq!(p.checkout(&k, 4, |c| c != ConnId(2)), Checkout::Connect);
        assert_eq!(p.active(), 0);
    }

    #[test]
    fn http2_multiplexes_on_one_connection_and_queues_behind_its_set_up() {
        let mut p = Pools::new();
        let k = key(HttpVersion::Http2);
        assert_eq!(p.checkout(&k, 0, |_| true), Checkout::Connect);
        p.opening(&k, ConnId(7));
        // Being set up: the next requests wait on it, not on connections of their own.
        assert_eq!(p.checkout(&k, 1, |_| true), Checkout::Await(ConnId(7)));
        assert_eq!(p.checkout(&k, 2, |_| true), Checkout::Await(ConnId(7)));
        assert_eq!(p.connected(ConnId(7)), vec![1, 2]);
        assert_eq!(p.checkout(&k, 3, |_| true), Checkout::Use(ConnId(7)));
        assert_eq!(p.streams(ConnId(7)), 4);
        // A dropped stream leaves the connection.
        assert_eq!(p.abandon(ConnId(7)), None);
        assert_eq!(p.streams(ConnId(7)), 3);
        // A failed set-up takes its waiters with it and the next request reconnects.
        assert_eq!(p.fail(ConnId(7)), Vec::<u64>::new());
        assert_eq!(p.checkout(&k, 4, |_| true), Checkout::Connect);
        p.opening(&k, ConnId(8));
        assert_eq!(p.checkout(&k, 5, |_| true), Checkout::Await(ConnId(8)));
        assert_eq!(p.fail(ConnId(8)), vec![5]);
        assert_eq!(p.checkout(&k, 6, |_| true), Checkout::Connect);
        assert_eq!(p.opened(), 2);
    }
}
