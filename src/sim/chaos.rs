//! Applying a fault [`Plan`] to the running world, between turmoil steps.
//!
//! - Links: what the plan does to a link at a moment is decided in
//!   [`model::fault::link`](crate::model::fault::link); this module carries it out on turmoil.
//!   `partition` and `hold` become turmoil's own link states (a cut link refuses new
//!   connections at once and leaves open ones hanging, as a black-holed route does; a held
//!   link delivers everything when released). `latency` and `loss` set the link's message
//!   latency each step while in force (turmoil's TCP has no retransmission of its own, so a
//!   lost segment shows as the late one its resend would be).
//! - Tasks: crashes, restarts and rolling restarts through turmoil (`crash`, `bounce`); Cloud
//!   Map keeps a dead task registered for the fault's `deregistration_lag`, and a restarted
//!   task registers itself again as it starts.
//! - Everything else (gray failures, HTTP faults, leaks) goes through the [`Effects`] board
//!   that apps and sidecars read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::engine::discovery::Registry;
use crate::engine::{SimTime, seed};
use crate::model::fault::link::{Latency, LinkState, Links, Shaper};
use crate::model::fault::plan::Reach;
use crate::model::fault::{Effects, Fault, FaultKind, Plan, TaskRef};
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

/// The fault plan applied to a world.
pub(super) struct Chaos {
    plan: Plan,
    /// The board apps and sidecars read.
    pub effects: Rc<RefCell<Effects>>,
    boundaries: Vec<Duration>,
    host_actions: Vec<(SimTime, HostAction, String, usize)>,
    /// The links a partition or hold may touch, and their states.
    links: Links,
    /// The links a latency or loss fault may touch, and their draws.
    shaper: Shaper,
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
        for i in 0..plan.faults.len() {
            schedule(&plan, i, &mut host_actions);
        }
        host_actions.sort();
        host_actions.reverse();
        let mut boundaries = plan.boundaries();
        boundaries.reverse();
        let links = Links::new(&plan);
        let shaper = Shaper::new(&plan);
        Chaos {
            plan,
            effects,
            boundaries,
            host_actions,
            links,
            shaper,
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
        schedule(&plan, i, &mut self.host_actions);
        self.host_actions.sort();
        self.host_actions.reverse();
        self.links.extend(&plan);
        let mut boundaries: Vec<Duration> = plan
            .boundaries()
            .into_iter()
            .filter(|b| *b > since)
            .collect();
        boundaries.reverse();
        self.boundaries = boundaries;
        self.shaper.extend(&plan);
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

    /// Carries out the link states the plan wants now: each change undoes the state the
    /// link leaves, then enters the new one.
    fn update_links(&mut self, sim: &mut turmoil::Sim<'_>, now: SimTime) {
        for change in self.links.update(&self.plan, now.since_start()) {
            let (ia, ib) = (
                self.addr(sim, &change.pair.0),
                self.addr(sim, &change.pair.1),
            );
            match change.from {
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
            match change.to {
                LinkState::Cut {
                    oneway: true,
                    forward,
                } => {
                    let (x, y) = if forward { (ia, ib) } else { (ib, ia) };
                    sim.partition_oneway(x, y);
                }
                LinkState::Cut { .. } => sim.partition(ia, ib),
                LinkState::Held => sim.hold(ia, ib),
                LinkState::Normal => {}
            }
            for (what, fault) in change.notes {
                self.note(now, what, fault);
            }
        }
    }

    /// Sets the latency of every shaped link for messages sent in the coming step.
    fn shape(&mut self, sim: &mut turmoil::Sim<'_>, since: Duration) {
        if self.shaper.is_empty() {
            return;
        }
        let latencies = self
            .shaper
            .shape(&self.plan, since, &mut self.rng, &mut self.rounding);
        for ((a, b), latency) in latencies {
            let (ia, ib) = (self.addr(sim, &a), self.addr(sim, &b));
            match latency {
                Latency::Base => {
                    sim.set_link_latency(ia, ib, self.base_latency);
                    sim.set_link_max_message_latency(ia, ib, self.base_latency + self.base_jitter);
                }
                Latency::Extra(extra) => sim.set_link_latency(ia, ib, self.base_latency + extra),
            }
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

/// What fault `i` of `plan` puts on the host-action queue.
fn schedule(plan: &Plan, i: usize, host_actions: &mut Vec<(SimTime, HostAction, String, usize)>) {
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
        _ => {}
    }
}
