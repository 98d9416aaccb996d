//! The run loop: step turmoil, apply scheduled world events (task stops), drain the
//! proxies' telemetry into metrics, report progress, and collect what the run leaves behind.

use std::time::Duration;

use std::rc::Rc;

use super::SimError;
use super::chaos::{Chaos, ChaosEvent};
use super::control::{Change, Controller, ProxyRef, Uncontrolled, WorldView};
use super::ledger::UserLedger;
use super::tap::{AccessLogTap, Traces};
use super::world::{self, TaskInfo};
use crate::config::model::Mesh;
use crate::engine::SimTime;
use crate::metrics::{Counter, OutcomeClass, Recorder, SeriesKey};
use crate::model::fault::{Fault, Plan, TaskRef};
use crate::model::ordering::{Invariant, check_invariants};
use crate::proxy::{AccessLogEntry, Direction};
use crate::scenario::Scenario;

/// Options of one run (command-line overrides and test hooks).
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Overrides the scenario's duration.
    pub duration: Option<Duration>,
    /// Keep every access-log line in the result (for trace reconstruction).
    pub keep_access_log: bool,
    /// Overrides the scenario's `report.trace_sample` (the CLI turns sampling off when no
    /// output will show the traces).
    pub trace_sample: Option<f64>,
    /// Trace this request (by sequence number) and no other: a rerun to explain one.
    pub trace_only: Option<u64>,
    /// Access-log lines go to this sink as the run drains them.
    pub access_log: Option<AccessLogTap>,
}

/// Progress of a running world, reported about once per simulated second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Simulated time now.
    pub now: SimTime,
    /// Arrivals stop at.
    pub duration: Duration,
    /// User requests issued.
    pub issued: u64,
    /// User requests ended.
    pub ended: u64,
    /// User requests that succeeded.
    pub succeeded: u64,
}

/// What a run leaves behind.
#[derive(Debug)]
pub struct RunResult {
    /// Seed in force.
    pub seed: u64,
    /// Arrivals stopped at.
    pub duration: Duration,
    /// Simulated time when the last user request ended.
    pub simulated: Duration,
    /// turmoil steps taken.
    pub steps: u64,
    /// The users' ledger.
    pub ledger: UserLedger,
    /// Latencies and counters.
    pub recorder: Recorder,
    /// The tasks.
    pub tasks: Vec<TaskInfo>,
    /// The Ordering invariants, checked at the end; empty when no task runs the Ordering app.
    pub invariants: Vec<Invariant>,
    /// Every access-log line, if asked for.
    pub access_log: Vec<AccessLogEntry>,
    /// The fault schedule in force: the written faults, then the drawn ones, then any a
    /// controller added while the world ran ([`Change::Fault`]).
    pub faults: Vec<Fault>,
    /// What the faults did, in order (crashes, partitions, restarts, ...).
    pub chaos: Vec<ChaosEvent>,
    /// The sampled requests, hop by hop.
    pub traces: Traces,
}

/// One scheduled change to the world.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    StopTask(String),
}

/// The tasks of a scenario as faults see them.
fn task_refs(scenario: &Scenario, mesh: &Mesh) -> Vec<TaskRef> {
    scenario
        .tasks
        .iter()
        .flat_map(|t| {
            let version = t.version_in(mesh);
            t.hosts().map(move |host| TaskRef {
                host,
                node: t.node.clone(),
                version: version.clone(),
            })
        })
        .collect()
}

/// The fault schedule a run with `seed` applies: the written faults, then the ones drawn
/// from the seed (so a caller can print it before the run starts).
pub fn fault_schedule(scenario: &Scenario, mesh: &Mesh, seed: u64) -> Vec<Fault> {
    let mut faults = scenario.faults.clone();
    if let Some(random) = &scenario.random_faults {
        faults.extend(random.draw(seed, &task_refs(scenario, mesh)));
    }
    faults
}

/// Runs a scenario on a mesh. `progress` is called about once per simulated second.
pub fn run(
    scenario: &Scenario,
    mesh: &Mesh,
    options: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<RunResult, SimError> {
    run_with(scenario, mesh, options, progress, &mut Uncontrolled)
}

/// [`run`], with `controller` steering the mesh as it runs (a rollout).
pub fn run_with(
    scenario: &Scenario,
    mesh: &Mesh,
    options: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
    controller: &mut dyn Controller,
) -> Result<RunResult, SimError> {
    let seed = options.seed.unwrap_or(scenario.seed);
    let duration = options.duration.unwrap_or(scenario.duration);
    let (mut sim, state) = world::build(scenario, mesh, seed, duration)?;
    let mut traces = Traces {
        rate: options.trace_sample.unwrap_or(scenario.report.trace_sample),
        only: options.trace_only,
        ..Traces::default()
    };
    let tap = options.access_log.as_ref();
    state.telemetry.borrow_mut().tracing = traces.tracing(seed, tap);
    let task_refs = task_refs(scenario, mesh);
    let faults = fault_schedule(scenario, mesh, seed);
    let plan = Plan::new(faults, &task_refs).map_err(|errors| {
        SimError::Invalid(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let mut chaos = Chaos::new(
        plan,
        Rc::clone(&state.effects),
        seed,
        scenario.network.latency,
        scenario.network.jitter,
    );

    let mut events: Vec<(SimTime, Event)> = Vec::new();
    for t in &state.tasks {
        if let Some(stop) = t.stop {
            events.push((
                SimTime::from_duration(stop),
                Event::StopTask(t.host.clone()),
            ));
        }
    }
    events.sort();
    events.reverse();

    let mut proxies: Vec<ProxyRef> = state
        .tasks
        .iter()
        .map(|t| ProxyRef {
            task: t.host.clone(),
            node: t.node.clone(),
        })
        .collect();
    proxies.extend(state.gateways.iter().map(|g| ProxyRef {
        task: g.clone(),
        node: g.clone(),
    }));
    // Without a gateway the users' requests are routed by the load generator's sidecar: it
    // must hear of every route change, or it keeps the mesh config's split for the whole run.
    proxies.extend(state.client_sidecar.iter().map(|task| ProxyRef {
        task: task.clone(),
        node: task.clone(),
    }));
    controller.start(&proxies);

    let mut kept = Vec::new();
    let mut steps = 0u64;
    let mut next_report = SimTime::ZERO;
    loop {
        let done = sim.step().map_err(|e| SimError::Turmoil(e.to_string()))?;
        steps += 1;
        let now = SimTime::from_duration(sim.elapsed());
        chaos.apply(&mut sim, now, &state.registry);
        while events.last().is_some_and(|(at, _)| *at <= now) {
            let Some((_, event)) = events.pop() else {
                break;
            };
            match event {
                Event::StopTask(host) => {
                    state.registry.borrow_mut().deregister(now, &host);
                    sim.crash(host.as_str());
                }
            }
        }
        if now >= next_report || done {
            let keep = (options.keep_access_log, &mut kept, &mut traces, tap);
            drain(&state, now, keep, controller);
            let mut halt = false;
            for change in controller.tick(now) {
                halt |= apply(&state, &mut sim, now, change, &mut chaos, &task_refs);
            }
            let watched = {
                let recorder = state.recorder.borrow();
                let ledger = state.ledger.borrow();
                let world = WorldView {
                    recorder: &recorder,
                    chaos: &chaos.log,
                    ledger: &ledger,
                };
                controller.watch(now, &world)
            };
            for change in watched {
                halt |= apply(&state, &mut sim, now, change, &mut chaos, &task_refs);
            }
            let ledger = state.ledger.borrow();
            progress(&Progress {
                now,
                duration,
                issued: ledger.issued,
                ended: ledger.ended(),
                succeeded: ledger.succeeded,
            });
            next_report = now + Duration::from_secs(1);
            if halt {
                break;
            }
        }
        if done {
            break;
        }
    }
    let end = SimTime::from_duration(sim.elapsed());
    let keep = (options.keep_access_log, &mut kept, &mut traces, tap);
    drain(&state, end, keep, controller);
    let invariants = if scenario.runs_ordering() {
        let db = state.databases.borrow();
        check_invariants(&db.inventory, &db.orders)
    } else {
        Vec::new()
    };
    let simulated = sim.elapsed();
    drop(sim);
    let ledger = state.ledger.borrow().clone();
    let recorder = state.recorder.borrow().clone();
    Ok(RunResult {
        seed,
        duration,
        simulated,
        steps,
        ledger,
        recorder,
        tasks: state.tasks,
        invariants,
        access_log: kept,
        faults: chaos.faults().to_vec(),
        chaos: chaos.log,
        traces,
    })
}

/// Carries out a controller's change; returns whether it asks the run to end.
fn apply(
    state: &world::WorldState,
    sim: &mut turmoil::Sim<'_>,
    now: SimTime,
    change: Change,
    chaos: &mut Chaos,
    tasks: &[TaskRef],
) -> bool {
    match change {
        Change::Route {
            router,
            route,
            traffic,
            arrivals,
        } => {
            let mut control = state.control.borrow_mut();
            for (task, at) in arrivals {
                control.send(&task, &router, &route, at, Rc::clone(&traffic));
            }
        }
        Change::ScaleDown { node } => {
            for t in state.tasks.iter().filter(|t| t.node == node) {
                state.registry.borrow_mut().deregister(now, &t.host);
                sim.crash(t.host.as_str());
            }
        }
        Change::Fault(fault) => {
            let name = fault.name.clone();
            if let Err(why) = chaos.inject(*fault, tasks, now) {
                chaos.log.push(ChaosEvent {
                    at: now,
                    what: format!("refused: {why}"),
                    fault: name,
                });
            }
        }
        Change::Halt => return true,
    }
    false
}

/// Where drained lines go besides the metrics: every line when asked to keep them, the
/// sampled requests' traces, and an access-log sink.
type Keep<'a> = (
    bool,
    &'a mut Vec<AccessLogEntry>,
    &'a mut Traces,
    Option<&'a AccessLogTap>,
);

/// Moves the proxies' access-log lines and counters into the recorder, showing the lines
/// to the controller on the way. Counters land in the window of `now`: drained once a
/// simulated second, a counter may be placed up to a second after it happened.
fn drain(
    state: &world::WorldState,
    now: SimTime,
    (keep, kept, traces, tap): Keep<'_>,
    controller: &mut dyn Controller,
) {
    let lines = state.telemetry.borrow_mut().drain();
    controller.observe(&lines);
    traces.collect(&lines, &state.telemetry, tap);
    let mut recorder = state.recorder.borrow_mut();
    // Health checks are the mesh's own traffic, not the services' workload.
    for line in lines.iter().filter(|l| !l.health_check) {
        let outcome = if line.tcp.is_some() {
            // A pass-through connection: the proxy saw bytes, not statuses.
            if line.flags.is_empty() {
                OutcomeClass::Success
            } else {
                OutcomeClass::Reset
            }
        } else if line.status == 0 {
            OutcomeClass::Reset
        } else {
            OutcomeClass::of_status(line.status)
        };
        let route = match line.direction {
            Direction::Inbound => "inbound".to_string(),
            // Mirrored copies are nobody's requests: their own series, so a route's figures
            // stay what its callers saw.
            Direction::Outbound if line.shadow => format!(
                "{}/{} (mirror)",
                line.service.as_deref().unwrap_or_default(),
                line.route.as_deref().unwrap_or("-")
            ),
            Direction::Outbound => format!(
                "{}/{}",
                line.service.as_deref().unwrap_or_default(),
                line.route.as_deref().unwrap_or("-")
            ),
        };
        if line.direction == Direction::Outbound && !line.shadow {
            recorder.count_attempts(&line.node, &route, u64::from(line.attempts));
            if let Some(upstream) = &line.upstream_node {
                recorder.record_upstream(
                    &line.node,
                    upstream,
                    u64::from(line.attempts),
                    line.status,
                    line.duration,
                );
            }
        }
        let key = SeriesKey {
            node: line.node.clone(),
            version: line.version.clone(),
            route,
            outcome,
        };
        recorder.record(line.start + line.duration, key, line.duration);
    }
    let counters = std::mem::take(&mut state.telemetry.borrow_mut().counters);
    for ((node, counter), n) in counters {
        if counter == Counter::HealthCheckFailures {
            continue;
        }
        recorder.count_at(now, &node, counter, n);
    }
    if keep {
        kept.extend(lines);
    }
}
