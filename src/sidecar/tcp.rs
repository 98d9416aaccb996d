//! The outbound side of TCP pass-through as the core decides it, in the hop's shape: per
//! *connection* the route (by port only), the weighted target, the cluster and a host, one
//! connect (Envoy's `tcp_proxy` defaults `max_connect_attempts` to 1, and App Mesh's TCP
//! routes have no retry policy), then the end of the connection judged for outlier detection
//! and failure accrual, and the flags of its access-log line.
//!
//! The driver moves the bytes; the core never sees them. It is told the connect's result
//! ([`Connection::on_connected`], [`Connection::on_connect_failed`]) and how the connection
//! ended ([`Connection::on_closed`]), and answers with [`TcpAction`]s.

use std::collections::VecDeque;

use super::classify::Answer;
use super::cluster::{self, ClusterKey, Picked, UpstreamHost};
use super::detail::HopDetail;
use super::outbound::{Env, Plan};
use crate::engine::SimTime;
use crate::engine::failure_accrual::Permit;
use crate::engine::flags::ResponseFlag;
use crate::engine::outlier::RequestResult;
use crate::engine::retry::ResetReason;
use crate::metrics::Counter;

/// How a pass-through connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Both sides closed their half.
    Normally,
    /// No byte moved for the idle timeout.
    IdleTimeout,
    /// A side broke off (a reset, a crashed host).
    Reset,
}

/// What the driver does next for a pass-through connection.
#[derive(Debug, PartialEq, Eq)]
pub enum TcpAction {
    /// Add one to the proxy's counter.
    Count(Counter),
    /// The cluster was just made and has active health checks: start them.
    StartHealthChecks(ClusterKey),
    /// Connect to the host (once), then report it.
    Connect(UpstreamHost),
    /// The connection is over (or never opened): write its line with these flags.
    Finish(TcpFinished),
}

/// How a connection ended, for its access-log line.
#[derive(Debug, PartialEq, Eq)]
pub struct TcpFinished {
    /// This proxy's flag (`NR`, `UH`, `UF`, `UC`, `SI`), if any.
    pub flag: Option<ResponseFlag>,
    /// Whether the connection was ever open (`false`: the app gets the flag as a refusal).
    pub opened: bool,
}

/// Where the connection is.
#[derive(Debug)]
enum State {
    New,
    Connecting {
        host: UpstreamHost,
        permit: Option<Permit>,
    },
    Open {
        host: UpstreamHost,
        permit: Option<Permit>,
    },
    Done,
}

/// One outbound pass-through connection at one proxy.
#[derive(Debug)]
pub struct Connection {
    start: SimTime,
    state: State,
    key: Option<ClusterKey>,
    /// The route taken.
    pub route: Option<String>,
    /// The target virtual node.
    pub upstream_node: Option<String>,
    /// 1 once a host was sought.
    pub attempts: u32,
    /// A sampled connection's detail: the plan's notes, the pick's events.
    pub detail: Option<Box<HopDetail>>,
    actions: VecDeque<TcpAction>,
}

impl Connection {
    /// A connection the app opens at `now`; `detail` is a sampled request's record.
    pub fn new(now: SimTime, detail: Option<Box<HopDetail>>) -> Connection {
        Connection {
            start: now,
            state: State::New,
            key: None,
            route: None,
            upstream_node: None,
            attempts: 0,
            detail,
            actions: VecDeque::new(),
        }
    }

    /// Starts on `plan` (`None`: no route matched).
    pub fn start(&mut self, now: SimTime, env: &mut Env<'_>, plan: Option<Plan>) {
        if !matches!(self.state, State::New) {
            return;
        }
        let Some(mut plan) = plan else {
            self.actions.push_back(TcpAction::Count(Counter::NoRoute));
            return self.refuse(ResponseFlag::NoRoute);
        };
        self.route = Some(plan.route.clone());
        self.upstream_node = Some(plan.node.clone());
        if let (Some(d), Some(notes)) = (self.detail.as_deref_mut(), plan.notes.take()) {
            *d = *notes;
        }
        let Some((key, checked)) = cluster::ensure(
            env.clusters,
            env.mesh,
            env.registry,
            &plan.node,
            plan.port,
            now,
            env.rng,
        ) else {
            return self.refuse(ResponseFlag::NoHealthyUpstream);
        };
        if checked {
            self.actions
                .push_back(TcpAction::StartHealthChecks(key.clone()));
        }
        self.actions.push_back(TcpAction::Count(Counter::Attempts));
        self.attempts = 1;
        let picked = env
            .clusters
            .get_mut(&key)
            .and_then(|c| c.pick(env.registry, now, &[], self.detail.as_deref_mut(), env.rng));
        self.key = Some(key);
        let Some(Picked { host, permit, .. }) = picked else {
            return self.refuse(ResponseFlag::NoHealthyUpstream);
        };
        self.actions.push_back(TcpAction::Connect(host.clone()));
        self.state = State::Connecting { host, permit };
    }

    /// The next thing to do.
    pub fn poll(&mut self) -> Option<TcpAction> {
        self.actions.pop_front()
    }

    /// The host the connection goes to, once picked.
    pub fn host(&self) -> Option<&UpstreamHost> {
        match &self.state {
            State::Connecting { host, .. } | State::Open { host, .. } => Some(host),
            State::New | State::Done => None,
        }
    }

    /// The connect succeeded: bytes may flow.
    pub fn on_connected(&mut self) {
        if let State::Connecting { host, permit } = std::mem::replace(&mut self.state, State::Done)
        {
            self.state = State::Open { host, permit };
        }
    }

    /// The connect failed (`UF`): the host's outlier detection and breaker hear it.
    pub fn on_connect_failed(&mut self, now: SimTime, env: &mut Env<'_>) {
        let State::Connecting { host, permit } = std::mem::replace(&mut self.state, State::Done)
        else {
            return;
        };
        self.actions.push_back(TcpAction::Count(Counter::Resets));
        let judged = Answer::Reset(ResetReason::ConnectFailure).classify();
        self.end(
            now,
            env,
            &host,
            judged.outlier.unwrap_or(RequestResult::Success),
            permit,
        );
        self.refuse(judged.local_flag.unwrap_or(ResponseFlag::ConnectFailure));
    }

    /// The open connection ended. An idle timeout closes it as Envoy's `SI` and is no failure
    /// of the host; a reset is one (`UC`).
    pub fn on_closed(&mut self, now: SimTime, closed: Closed, env: &mut Env<'_>) {
        let State::Open { host, permit } = std::mem::replace(&mut self.state, State::Done) else {
            return;
        };
        let (flag, outcome) = match closed {
            Closed::Normally => (None, RequestResult::Success),
            Closed::IdleTimeout => (
                Some(ResponseFlag::StreamIdleTimeout),
                RequestResult::Success,
            ),
            Closed::Reset => {
                let judged = Answer::Reset(ResetReason::Disconnect).classify();
                (
                    judged.local_flag,
                    judged.outlier.unwrap_or(RequestResult::Success),
                )
            }
        };
        if flag == Some(ResponseFlag::UpstreamReset) {
            self.actions.push_back(TcpAction::Count(Counter::Resets));
        }
        self.end(now, env, &host, outcome, permit);
        self.actions
            .push_back(TcpAction::Finish(TcpFinished { flag, opened: true }));
    }

    fn end(
        &mut self,
        now: SimTime,
        env: &mut Env<'_>,
        host: &UpstreamHost,
        outcome: RequestResult,
        permit: Option<Permit>,
    ) {
        let ended = match self.key.as_ref().and_then(|k| env.clusters.get_mut(k)) {
            Some(c) => c.end_request(&host.id, now, self.start, outcome, permit, env.rng),
            None => cluster::Ended::default(),
        };
        for s in ended.stats() {
            self.actions.push_back(TcpAction::Count(s));
        }
    }

    fn refuse(&mut self, flag: ResponseFlag) {
        self.state = State::Done;
        self.actions.push_back(TcpAction::Finish(TcpFinished {
            flag: Some(flag),
            opened: false,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::defaults::EnvoyDefaults;
    use crate::sidecar::outbound::tests::{World, ms};

    fn drain(c: &mut Connection) -> Vec<String> {
        std::iter::from_fn(|| c.poll())
            .map(|a| match a {
                TcpAction::Count(s) => format!("count {s:?}"),
                TcpAction::StartHealthChecks(k) => format!("health checks {}", k.0),
                TcpAction::Connect(h) => format!("connect {}:{}", h.address, h.port),
                TcpAction::Finish(f) => format!(
                    "finish {} {}",
                    f.flag.map_or("-", |f| f.code()),
                    if f.opened { "opened" } else { "refused" }
                ),
            })
            .collect()
    }

    /// A connection to `t.local`, started at `at` ms.
    fn open(w: &mut World, at: u64) -> Connection {
        let plan = w.plan("t.local", "/", at);
        let mut c = Connection::new(ms(at), None);
        c.start(ms(at), &mut w.env(), plan);
        c
    }

    #[test]
    fn no_route_refuses_the_connection_with_nr() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 0);
        let mut c = Connection::new(ms(0), None);
        c.start(ms(0), &mut w.env(), None);
        assert_eq!(drain(&mut c), ["count NoRoute", "finish NR refused"]);
        assert_eq!((c.route.as_deref(), c.attempts), (None, 0));
    }

    #[test]
    fn a_connection_connects_once_and_ends_with_the_flag_of_its_close() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 0);
        for (closed, end) in [
            (Closed::Normally, vec!["finish - opened"]),
            (Closed::IdleTimeout, vec!["finish SI opened"]),
            (Closed::Reset, vec!["count Resets", "finish UC opened"]),
        ] {
            let mut c = open(&mut w, 0);
            assert_eq!(drain(&mut c), ["count Attempts", "connect t-1:5000"]);
            assert_eq!(
                (c.route.as_deref(), c.attempts),
                (Some("t (virtual node provider)"), 1)
            );
            c.on_connected();
            c.on_closed(ms(10), closed, &mut w.env());
            assert_eq!(drain(&mut c), end, "{closed:?}");
        }
    }

    #[test]
    fn a_failed_connect_is_uf_and_ends_the_connection_once() {
        let mut w = World::new(EnvoyDefaults::AppMesh, 0);
        let mut c = open(&mut w, 0);
        drain(&mut c);
        c.on_connect_failed(ms(1), &mut w.env());
        assert_eq!(drain(&mut c), ["count Resets", "finish UF refused"]);
        // A close reported after the refusal changes nothing: the connection ended once.
        c.on_closed(ms(2), Closed::Reset, &mut w.env());
        assert!(drain(&mut c).is_empty());
    }
}
