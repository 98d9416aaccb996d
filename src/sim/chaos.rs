//! Applying a fault [`Plan`] to the running world, between turmoil steps.
//!
//! - Links: `partition` and `hold` use turmoil's own link states (a cut link refuses new
//!   connections at once and leaves open ones hanging, as a black-holed route does; a held link
//!   delivers everything when released). `latency` and `loss` set the link's message latency
//!   each step while in force: the added delay, a jitter draw correlated with the previous one
//!   (netem's `correlation`), and for a lost segment the time TCP takes to resend it (Linux's
//!   200 ms minimum RTO, doubling while the resend is lost too). turmoil's TCP has no
//!   retransmission of its own, so loss is modelled by its effect at the receiver, a late
//!   segment, per link per tick.
//! - Tasks: crashes, restarts and rolling restarts through turmoil (`crash`, `bounce`); Cloud
//!   Map keeps a dead task registered for the fault's `deregistration_lag`, and a restarted
//!   task registers itself again as it starts.
//! - Everything else (gray failures, HTTP faults, leaks) goes through the [`Effects`] board
//!   that apps and sidecars read.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use rand::Rng as _;

use crate::engine::discovery::Registry;
use crate::engine::{SimTime, seed, time};
use crate::model::fault::plan::Reach;
use crate::model::fault::{Effects, Fault, FaultKind, LinkVerdict, Plan, TaskRef};

/// Linux's minimum retransmission timeout.
const MIN_RTO: Duration = Duration::from_millis(200);
/// How often effects are recomputed while a fault ramps.
const RAMP_STEP: Duration = Duration::from_millis(100);

/// Something the chaos layer did, for the report and the event log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChaosEvent {
    /// When.
    pub at: SimTime,
    /// What happened (`crash inventory-v1-2`, `partition order-v1-1 ↔ inventory-v1-1`).
    pub what: String,
    /// The fault's name.
    pub fault: String,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum HostAction {
    Crash,
    Deregister,
    Restart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LinkState {
    Normal,
    Cut { oneway: bool, forward: bool },
    Held,
}

/// Correlated draws of one shaped link.
#[derive(Clone, Debug, Default)]
struct Shaping {
    jitter: f64,
    loss: f64,
    active: bool,
}

/// The fault plan applied to a world.
pub(super) struct Chaos {
    plan: Plan,
    /// The board apps and sidecars read.
    pub effects: Rc<RefCell<Effects>>,
    boundaries: Vec<Duration>,
    host_actions: Vec<(SimTime, HostAction, String, usize)>,
    links: BTreeMap<(String, String), (LinkState, usize)>,
    cut_pairs: Vec<(String, String)>,
    shaped: BTreeMap<(String, String), Shaping>,
    addrs: BTreeMap<String, IpAddr>,
    base_latency: Duration,
    base_jitter: Duration,
    rng: seed::Rng,
    /// Puts each step's extra latency on a tick ([`time::dither`]).
    rounding: seed::Rng,
    next_update: SimTime,
    /// When each task last crashed: a deregistration fires only once its lag has run since
    /// the latest crash (one left over from an earlier crash must not cut a restart short).
    last_crash: BTreeMap<String, SimTime>,
    /// What happened, in order.
    pub log: Vec<ChaosEvent>,
}

impl Chaos {
    /// Prepares `plan` for a world whose links have `base_latency` + up to `base_jitter`.
    pub fn new(
        plan: Plan,
        effects: Rc<RefCell<Effects>>,
        seed: u64,
        base_latency: Duration,
        base_jitter: Duration,
    ) -> Chaos {
        let mut host_actions = Vec::new();
        let mut cut_pairs = BTreeSet::new();
        for i in 0..plan.faults.len() {
            schedule(&plan, i, &mut host_actions, &mut cut_pairs);
        }
        host_actions.sort();
        host_actions.reverse();
        let mut boundaries = plan.boundaries();
        boundaries.reverse();
        let shaped = plan
            .shaped_pairs()
            .into_iter()
            .map(|p| (p, Shaping::default()))
            .collect();
        Chaos {
            plan,
            effects,
            boundaries,
            host_actions,
            links: BTreeMap::new(),
            cut_pairs: cut_pairs.into_iter().collect(),
            shaped,
            addrs: BTreeMap::new(),
            base_latency,
            base_jitter,
            rng: seed::stream(seed, "faults/network"),
            rounding: seed::stream(seed, "faults/network/rounding"),
            next_update: SimTime::ZERO,
            last_crash: BTreeMap::new(),
            log: Vec::new(),
        }
    }

    /// The faults in the plan: the schedule the run started with, then any added while it
    /// ran.
    pub fn faults(&self) -> &[Fault] {
        &self.plan.faults
    }

    /// Adds `fault` to the plan at `now`, as though it had been written there from the start:
    /// it must start after `now`, so every moment it touches (its start, end, host actions) is
    /// still ahead and is met at the same step a run with it in the scenario meets it. The
    /// state built from the plan is extended in the order [`Chaos::new`] builds it, so the
    /// rest of the run is the one its scenario file would give. Returns why it cannot join.
    pub fn inject(&mut self, fault: Fault, tasks: &[TaskRef], now: SimTime) -> Result<(), String> {
        let since = now.since_start();
        if fault.window.start <= since {
            return Err(format!(
                "{} would start at {:?}, not after the current moment {:?}",
                fault.name, fault.window.start, since
            ));
        }
        let mut faults = self.plan.faults.clone();
        faults.push(fault);
        let plan = Plan::new(faults, tasks).map_err(|errors| {
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        let i = plan.faults.len() - 1;
        let mut cut: BTreeSet<(String, String)> = self.cut_pairs.iter().cloned().collect();
        schedule(&plan, i, &mut self.host_actions, &mut cut);
        self.host_actions.sort();
        self.host_actions.reverse();
        self.cut_pairs = cut.into_iter().collect();
        let mut boundaries: Vec<Duration> = plan
            .boundaries()
            .into_iter()
            .filter(|b| *b > since)
            .collect();
        boundaries.reverse();
        self.boundaries = boundaries;
        for pair in plan.shaped_pairs() {
            self.shaped.entry(pair).or_default();
        }
        self.plan = plan;
        Ok(())
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.plan.faults.is_empty()
    }

    fn addr(&mut self, sim: &turmoil::Sim<'_>, host: &str) -> IpAddr {
        if let Some(a) = self.addrs.get(host) {
            return *a;
        }
        let a = sim.lookup(host);
        self.addrs.insert(host.to_string(), a);
        a
    }

    fn note(&mut self, at: SimTime, what: String, fault: usize) {
        let fault = self
            .plan
            .faults
            .get(fault)
            .map(|f| f.name.clone())
            .unwrap_or_default();
        self.log.push(ChaosEvent { at, what, fault });
    }

    /// Applies whatever is due at `now`; called after every step.
    pub fn apply(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: SimTime,
        registry: &RefCell<Registry>,
    ) {
        if self.is_empty() {
            return;
        }
        let since = now.since_start();
        let mut boundary = false;
        while self.boundaries.last().is_some_and(|b| *b <= since) {
            self.boundaries.pop();
            boundary = true;
        }
        let ramping = self.plan.faults.iter().any(|f| {
            f.window
                .ramp
                .is_some_and(|r| f.window.contains(since) && since < f.window.start + r)
        });
        if boundary || (ramping && now >= self.next_update) {
            self.effects.borrow_mut().update(&self.plan, since);
            self.next_update = now + RAMP_STEP;
            self.update_links(sim, now);
        }
        self.shape(sim, since);
        self.host_actions(sim, now, registry);
        let crashes = self.effects.borrow_mut().take_crashes();
        for (host, fault) in crashes {
            self.leak_crash(sim, now, &host, fault);
        }
    }

    fn update_links(&mut self, sim: &mut turmoil::Sim<'_>, now: SimTime) {
        let since = now.since_start();
        let pairs = self.cut_pairs.clone();
        for (a, b) in pairs {
            let want = match self.plan.link_verdict(&a, &b, since) {
                LinkVerdict::Cut { fault } => match self.plan.faults[fault].kind {
                    FaultKind::Partition { oneway } => {
                        // One-way: only messages from `from`'s side are lost.
                        let forward = match &self.plan.reach[fault] {
                            Reach::Link(p) => p.contains(&(a.clone(), b.clone())),
                            Reach::Hosts(_) => true,
                        };
                        (LinkState::Cut { oneway, forward }, fault)
                    }
                    _ => (LinkState::Normal, fault),
                },
                LinkVerdict::Hold { fault } => (LinkState::Held, fault),
                _ => (LinkState::Normal, usize::MAX),
            };
            let key = (a.clone(), b.clone());
            let (have, cause) = self
                .links
                .get(&key)
                .copied()
                .unwrap_or((LinkState::Normal, usize::MAX));
            if have == want.0 {
                continue;
            }
            let (ia, ib) = (self.addr(sim, &a), self.addr(sim, &b));
            match have {
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => {
                    let (x, y) = if forward { (ia, ib) } else { (ib, ia) };
                    sim.repair_oneway(x, y);
                }
                LinkState::Cut { .. } => sim.repair(ia, ib),
                LinkState::Held => sim.release(ia, ib),
                LinkState::Normal => {}
            }
            match have {
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => {
                    let (from, to) = if forward { (&a, &b) } else { (&b, &a) };
                    self.note(now, format!("repair {from} → {to}"), cause);
                }
                LinkState::Cut { .. } => {
                    let (x, y) = self.as_written(cause, &a, &b);
                    self.note(now, format!("repair {x} ↔ {y}"), cause);
                }
                LinkState::Held => {
                    let (x, y) = self.as_written(cause, &a, &b);
                    self.note(now, format!("release {x} ↔ {y}"), cause);
                }
                LinkState::Normal => {}
            }
            match want.0 {
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => {
                    let (x, y) = if forward { (ia, ib) } else { (ib, ia) };
                    sim.partition_oneway(x, y);
                    let (from, to) = if forward { (&a, &b) } else { (&b, &a) };
                    self.note(now, format!("partition {from} → {to} (one-way)"), want.1);
                }
                LinkState::Cut { .. } => {
                    sim.partition(ia, ib);
                    let (x, y) = self.as_written(want.1, &a, &b);
                    self.note(now, format!("partition {x} ↔ {y}"), want.1);
                }
                LinkState::Held => {
                    sim.hold(ia, ib);
                    let (x, y) = self.as_written(want.1, &a, &b);
                    self.note(now, format!("hold {x} ↔ {y}"), want.1);
                }
                LinkState::Normal => {}
            }
            self.links.insert(key, want);
        }
    }

    /// The two ends of a link in the order fault `fault` names them (`from` first).
    fn as_written(&self, fault: usize, a: &str, b: &str) -> (String, String) {
        let forward = match self.plan.reach.get(fault) {
            Some(Reach::Link(pairs)) => pairs.iter().any(|(x, y)| x == a && y == b),
            _ => true,
        };
        if forward {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        }
    }

    /// Sets the latency of every shaped link for messages sent in the coming step.
    fn shape(&mut self, sim: &mut turmoil::Sim<'_>, since: Duration) {
        if self.shaped.is_empty() {
            return;
        }
        let keys: Vec<(String, String)> = self.shaped.keys().cloned().collect();
        for key in keys {
            let verdict = self.plan.link_verdict(&key.0, &key.1, since);
            let (ia, ib) = (self.addr(sim, &key.0), self.addr(sim, &key.1));
            let LinkVerdict::Shape { faults } = verdict else {
                let was_active = self.shaped.get(&key).is_some_and(|s| s.active);
                if was_active {
                    sim.set_link_latency(ia, ib, self.base_latency);
                    sim.set_link_max_message_latency(ia, ib, self.base_latency + self.base_jitter);
                    if let Some(s) = self.shaped.get_mut(&key) {
                        *s = Shaping::default();
                    }
                }
                continue;
            };
            let mut extra = Duration::ZERO;
            for i in faults {
                let fault = &self.plan.faults[i];
                let intensity = fault.window.intensity(since);
                let Some(state) = self.shaped.get_mut(&key) else {
                    continue;
                };
                match fault.kind {
                    FaultKind::Latency {
                        latency,
                        jitter,
                        correlation,
                    } => {
                        let fresh: f64 = self.rng.random_range(-1.0..=1.0);
                        state.jitter = correlation * state.jitter + (1.0 - correlation) * fresh;
                        let ms = latency.as_secs_f64() * 1000.0
                            + state.jitter * jitter.as_secs_f64() * 1000.0;
                        extra += Duration::from_secs_f64((ms * intensity).max(0.0) / 1000.0);
                    }
                    FaultKind::Loss { share, correlation } => {
                        let fresh: f64 = self.rng.random_range(0.0..1.0);
                        state.loss = correlation * state.loss + (1.0 - correlation) * fresh;
                        let p = share * intensity;
                        if state.loss < p {
                            // The resend is lost again with the same odds; each loss doubles
                            // the RTO.
                            let mut rto = MIN_RTO;
                            extra += rto;
                            while self.rng.random_bool(p.clamp(0.0, 0.999))
                                && rto < Duration::from_secs(60)
                            {
                                rto *= 2;
                                extra += rto;
                            }
                        }
                    }
                    _ => {}
                }
                state.active = true;
            }
            // turmoil delivers on the first tick at or after the latency: put the extra on a
            // tick without bias, as the apps' service times are.
            let extra = time::dither(SimTime::from_duration(extra), &mut self.rounding);
            sim.set_link_latency(ia, ib, self.base_latency + extra.since_start());
        }
    }

    fn host_actions(
        &mut self,
        sim: &mut turmoil::Sim<'_>,
        now: SimTime,
        registry: &RefCell<Registry>,
    ) {
        while self.host_actions.last().is_some_and(|(at, ..)| *at <= now) {
            let Some((_, action, host, fault)) = self.host_actions.pop() else {
                break;
            };
            match action {
                HostAction::Crash => {
                    if sim.is_host_running(host.as_str()) {
                        sim.crash(host.as_str());
                        self.last_crash.insert(host.clone(), now);
                        self.note(now, format!("crash {host}"), fault);
                    }
                }
                HostAction::Deregister => {
                    let lag = self.deregistration_lag(fault);
                    let since_crash = self
                        .last_crash
                        .get(&host)
                        .map_or(Duration::MAX, |t| now.saturating_since(*t));
                    if !sim.is_host_running(host.as_str()) && since_crash >= lag {
                        registry.borrow_mut().deregister(now, &host);
                        self.note(now, format!("deregister {host}"), fault);
                    }
                }
                HostAction::Restart => {
                    if !sim.is_host_running(host.as_str()) {
                        sim.bounce(host.as_str());
                        self.effects.borrow_mut().restarted(&host);
                        self.note(now, format!("restart {host}"), fault);
                    }
                }
            }
        }
    }

    /// The deregistration lag of a host fault.
    fn deregistration_lag(&self, fault: usize) -> Duration {
        match self.plan.faults.get(fault).map(|f| &f.kind) {
            Some(
                FaultKind::Crash {
                    deregistration_lag, ..
                }
                | FaultKind::RollingRestart {
                    deregistration_lag, ..
                }
                | FaultKind::Leak {
                    deregistration_lag, ..
                },
            ) => *deregistration_lag,
            _ => Duration::ZERO,
        }
    }

    fn leak_crash(&mut self, sim: &mut turmoil::Sim<'_>, now: SimTime, host: &str, fault: usize) {
        let Some(FaultKind::Leak {
            restart_after,
            deregistration_lag,
            ..
        }) = self.plan.faults.get(fault).map(|f| f.kind.clone())
        else {
            return;
        };
        if sim.is_host_running(host) {
            sim.crash(host);
            self.last_crash.insert(host.to_string(), now);
            self.note(now, format!("crash {host} (out of memory)"), fault);
        }
        self.host_actions.push((
            now + deregistration_lag,
            HostAction::Deregister,
            host.to_string(),
            fault,
        ));
        if let Some(r) = restart_after {
            self.host_actions
                .push((now + r, HostAction::Restart, host.to_string(), fault));
        }
        self.host_actions.sort();
        self.host_actions.reverse();
    }
}

/// What fault `i` of `plan` puts on the host-action queue and the list of links it may cut.
fn schedule(
    plan: &Plan,
    i: usize,
    host_actions: &mut Vec<(SimTime, HostAction, String, usize)>,
    cut_pairs: &mut BTreeSet<(String, String)>,
) {
    let (Some(f), Some(r)) = (plan.faults.get(i), plan.reach.get(i)) else {
        return;
    };
    let at = |d: Duration| SimTime::from_duration(d);
    match (&f.kind, r) {
        (
            FaultKind::Crash {
                restart_after,
                deregistration_lag,
            },
            Reach::Hosts(hosts),
        ) => {
            for h in hosts {
                let start = f.window.start;
                host_actions.push((at(start), HostAction::Crash, h.clone(), i));
                host_actions.push((
                    at(start + *deregistration_lag),
                    HostAction::Deregister,
                    h.clone(),
                    i,
                ));
                if let Some(r) = restart_after {
                    host_actions.push((at(start + *r), HostAction::Restart, h.clone(), i));
                }
            }
        }
        (
            FaultKind::RollingRestart {
                interval,
                downtime,
                deregistration_lag,
            },
            Reach::Hosts(hosts),
        ) => {
            for (n, h) in hosts.iter().enumerate() {
                let start = f.window.start + *interval * n as u32;
                host_actions.push((at(start), HostAction::Crash, h.clone(), i));
                if deregistration_lag < downtime {
                    host_actions.push((
                        at(start + *deregistration_lag),
                        HostAction::Deregister,
                        h.clone(),
                        i,
                    ));
                }
                host_actions.push((at(start + *downtime), HostAction::Restart, h.clone(), i));
            }
        }
        (FaultKind::Partition { .. } | FaultKind::Hold, Reach::Link(pairs)) => {
            // Undirected: two faults naming one link either way round are one link.
            cut_pairs.extend(pairs.iter().map(|(a, b)| {
                if a <= b {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                }
            }));
        }
        _ => {}
    }
}
