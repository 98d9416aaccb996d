//! Checks that need more than one field: times that must be above zero, in order, within
//! [`MAX_DURATION`] or before the run's end, a workload that sends something, names that
//! refer to services and to the mesh, and the models' own `build()` validation.
//!
//! Every problem is placed by its field path (see [`locate`](super::locate)), so a reference
//! error points at the name that dangles.

use std::collections::BTreeMap;
use std::time::Duration;

use super::TaskSpec;
use super::expect::{ExpectEntry, USERS, invariant_names};
use super::names::short_matches;
use super::read::Parts;
use super::runs_ordering;
use super::sink::Sink;
use super::{MAX_DURATION, Overrides};
use crate::config::diagnostic::{Severity, suggest};
use crate::config::model::Mesh;
use crate::config::tree::{join_index, join_key};
use crate::engine::SimTime;
use crate::engine::time::TICK;
use crate::model::calls::{CallConfig, StepConfig};
use crate::model::duration::written;
use crate::model::fault::random::RandomError;
use crate::model::fault::{FaultKind, Plan, TaskRef};
use crate::model::ordering::INVARIANT_NAMES;

/// Runs every check. `mesh` is `None` when no mesh could be loaded cleanly: references into
/// it are then not checked, since a resource dropped for an error of its own would make every
/// reference to it look dangling.
pub(crate) fn check(
    parts: &Parts,
    mesh: Option<&Mesh>,
    overrides: &Overrides,
    sink: &mut Sink<'_>,
) {
    positive(sink, "duration", parts.duration, "the scenario's duration");
    at_most(sink, "duration", parts.duration, "the scenario's duration");
    at_most(
        sink,
        "workload.timeout",
        parts.workload.as_ref().map(|w| w.timeout.get()),
        "the users' timeout",
    );
    let end = RunEnd::of(parts, overrides);
    if let Some(network) = &parts.network {
        whole_ticks(sink, network);
    }
    positive(
        sink,
        "metrics.interval",
        parts.metrics.as_ref().map(|m| m.interval),
        "the metrics interval",
    );
    if let Some(r) = &parts.report
        && !(0.0..=1.0).contains(&r.trace_sample)
    {
        sink.at_path(
            Severity::Error,
            "range",
            "report.trace_sample",
            format!(
                "trace_sample is a share of requests from 0 to 1 (0.01 is 1 %), got {}",
                r.trace_sample
            ),
        );
    }
    tasks(parts, mesh, end, sink);
    if let Some(mesh) = mesh {
        calls(parts, mesh, sink);
        target(parts, mesh, sink);
    }
    models(parts, sink);
    traffic(parts, end, sink);
    if let (Some(network), Some(end)) = (&parts.network, end)
        && network.tick == TICK
        && network.tick >= end.at
    {
        sink.at_path(
            Severity::Error,
            "range",
            "network.tick",
            format!(
                "the network tick ({}) is as long as the run ({end}): the run would be a single step of simulated time",
                written(network.tick)
            ),
        )
        .help = Some("run the scenario for longer than a millisecond".into());
    }
    faults(parts, mesh, end, sink);
    sidecars(parts, mesh, sink);
    expectations(parts, mesh, sink);
    rollout(parts, mesh, sink);
    if let Some(mesh) = mesh {
        super::traffic::check(parts, mesh, sink);
    }
}

/// Every task, when every `tasks:` item was read (a task that failed to deserialize would
/// make its node look idle and references to it dangling).
pub(super) fn tasks_read(parts: &Parts) -> Option<Vec<&TaskSpec>> {
    parts.tasks.as_ref()?.iter().map(Option::as_ref).collect()
}

/// The rollout's own validation, then its names against the mesh: the router and route
/// exist, and the route's weighted targets list every node the rollout moves traffic
/// between (App Mesh rewrites weights; it cannot add a target).
fn rollout(parts: &Parts, mesh: Option<&Mesh>, sink: &mut Sink<'_>) {
    let Some(spec) = &parts.rollout else {
        for (i, entry) in parts.expect.iter().flatten().enumerate() {
            if entry.as_ref().is_some_and(|e| e.raw.rollout.is_some()) {
                sink.at_path(
                    Severity::Error,
                    "unresolved-reference",
                    &format!("expect[{i}].rollout"),
                    "this scenario has no `rollout:` section, so there is no rollout outcome to expect",
                )
                .help = Some("add a `rollout:` section (docs/ROLLOUTS.md) or remove this expectation".into());
            }
        }
        return;
    };
    if let Err(errors) = spec.build() {
        for e in errors {
            let at = e.under("rollout");
            sink.at_path(
                Severity::Error,
                "invalid-value",
                &at.path,
                at.problem.to_string(),
            );
        }
    }
    // The pilot reads each arm's own inbound listeners, which see requests, not the callers'
    // attempts; a retry-amplification check would always read 1 and could never fail.
    let checks = spec.analysis.iter().flat_map(|a| a.checks.iter());
    for (i, c) in checks.enumerate() {
        if c.retry_amplification.is_some() {
            sink.at_path(
                Severity::Error,
                "unsupported",
                &format!("rollout.analysis.checks[{i}].retry_amplification"),
                "a rehearsal measures each arm at its own sidecars, which do not see the callers' retries, so this check could never fail",
            )
            .help = Some(
                "gate on retry amplification with an `expect:` entry (`route:` with `retry_amplification`) instead".into(),
            );
        }
    }
    let Some(mesh) = mesh else {
        return;
    };
    if !mesh.virtual_routers.contains_key(&spec.router) {
        let known: Vec<&str> = mesh.virtual_routers.keys().map(String::as_str).collect();
        sink.at_path(
            Severity::Error,
            "dangling-reference",
            "rollout.router",
            format!(
                "no virtual router `{}` in the mesh (routers: {})",
                spec.router,
                known.join(", ")
            ),
        );
        return;
    }
    let Some(route) = mesh.routes.get(&(spec.router.clone(), spec.route.clone())) else {
        let known: Vec<&str> = mesh
            .routes
            .keys()
            .filter(|(r, _)| *r == spec.router)
            .map(|(_, n)| n.as_str())
            .collect();
        sink.at_path(
            Severity::Error,
            "dangling-reference",
            "rollout.route",
            format!(
                "virtual router `{}` has no route `{}` (routes: {})",
                spec.router,
                spec.route,
                known.join(", ")
            ),
        );
        return;
    };
    let targets: Vec<String> = route
        .route
        .spec
        .kind
        .targets()
        .iter()
        .map(|t| t.virtual_node.value.clone())
        .collect();
    for (field, node) in [
        ("stable", Some(&spec.stable)),
        ("candidate", Some(&spec.candidate)),
        ("baseline", spec.baseline.as_ref()),
    ] {
        if let Some(node) = node
            && !targets.iter().any(|t| t == node)
        {
            // A node of the mesh the route does not list yet needs a target of weight 0;
            // any other name is a misspelling (or short for several) of a target, so say
            // which name was meant instead of asking for a new target.
            let (advice, help) = if mesh.virtual_nodes.contains_key(node) {
                (
                    "; add it with weight 0, as App Mesh needs before a rollout can move \
                     traffic to it"
                        .to_string(),
                    None,
                )
            } else {
                (
                    format!(", and the mesh has no virtual node `{node}`"),
                    did_you_mean(node, targets.iter().map(String::as_str)),
                )
            };
            sink.at_path(
                Severity::Error,
                "dangling-reference",
                &format!("rollout.{field}"),
                format!(
                    "route `{}` does not list `{node}` among its weighted targets ({}){advice}",
                    spec.route,
                    targets.join(", ")
                ),
            )
            .help = help;
        }
    }
    // The rollout moves weight only within the share its nodes have, leaving the route's
    // other targets theirs (rehearse::RouteShares); with no share there is nothing to move.
    let arms = [
        Some(&spec.stable),
        Some(&spec.candidate),
        spec.baseline.as_ref(),
    ];
    let (share, others) =
        route
            .route
            .spec
            .kind
            .targets()
            .iter()
            .fold((0, 0), |(share, others), t| {
                match arms.contains(&Some(&t.virtual_node.value)) {
                    true => (share + t.weight, others),
                    false => (share, others + t.weight),
                }
            });
    if share == 0 && others > 0 {
        sink.at_path(
            Severity::Error,
            "invalid-value",
            "rollout.route",
            format!(
                "route `{}` gives `{}` and `{}` weight 0 and its other targets all {others}: \
                 the rollout moves weight only between its own nodes, within the share they \
                 have, so it would have none to move",
                spec.route, spec.stable, spec.candidate
            ),
        )
        .help = Some(format!(
            "give `{}` the weight its traffic should have in the route",
            spec.stable
        ));
    }
}

/// `sidecars:`: each entry's values as Envoy and Linkerd would check them, and its key a
/// virtual node of the mesh. A rate limit on a node no task runs is a warning: it would
/// never refuse anything.
fn sidecars(parts: &Parts, mesh: Option<&Mesh>, sink: &mut Sink<'_>) {
    let Some(entries) = &parts.sidecars else {
        return;
    };
    for (node, raw) in entries {
        let at = join_key("sidecars", node);
        if let Err(errors) = raw.build() {
            for (field, problem) in errors {
                sink.at_path(
                    Severity::Error,
                    "invalid-value",
                    &join_key(&at, &field),
                    problem,
                );
            }
        }
        let Some(mesh) = mesh else {
            continue;
        };
        if !mesh.virtual_nodes.contains_key(node) {
            let help = if mesh.virtual_gateways.contains_key(node) {
                Some(format!(
                    "`{node}` is a virtual gateway; sidecar extensions apply to virtual nodes"
                ))
            } else {
                did_you_mean(node, mesh.virtual_nodes.keys().map(String::as_str))
            };
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at,
                format!("mesh `{}` has no virtual node `{node}`", mesh.name),
            )
            .help = help;
            continue;
        }
        let runs = parts
            .tasks
            .iter()
            .flatten()
            .flatten()
            .any(|t| &t.node == node);
        if raw.rate_limit.is_some() && parts.tasks.is_some() && !runs {
            sink.at_path(
                Severity::Warning,
                "unused",
                &join_key(&at, "rate_limit"),
                format!("no task runs `{node}`, so its rate limit never applies"),
            );
        }
    }
}

/// Each fault's own validation, then the schedule resolved against the scenario's tasks
/// (selectors that match nothing, contradictions on one link), the random draw's bounds, and
/// `hang` services that are not in the mesh.
fn faults(parts: &Parts, mesh: Option<&Mesh>, end: Option<RunEnd>, sink: &mut Sink<'_>) {
    let mut built = Vec::new();
    let mut paths = Vec::new();
    for (path, i, spec) in &parts.faults {
        if let Some(end) = end
            && spec.start.get() >= end.at
        {
            sink.at_path(
                Severity::Warning,
                "range",
                &format!("{path}.start"),
                format!(
                    "this fault starts at {}, when the run ({end}) is over; it never happens",
                    written(spec.start.get())
                ),
            );
        }
        match spec.build(*i) {
            Ok(f) => {
                built.push(f);
                paths.push(path.clone());
            }
            Err(errors) => {
                for e in errors {
                    let at = e.under(path);
                    sink.at_path(
                        Severity::Error,
                        "invalid-value",
                        &at.path,
                        at.problem.to_string(),
                    );
                }
            }
        }
    }
    if let Some(random) = &parts.random_faults {
        if let Some(end) = end
            && random.start[0].get() >= end.at
        {
            sink.at_path(
                Severity::Warning,
                "range",
                "faults.random.start",
                format!(
                    "the earliest start, {}, is when the run ({end}) is over; no drawn fault happens",
                    written(random.start[0].get())
                ),
            );
        }
        for e in random.check() {
            let RandomError::Bounds { field, .. } = &e;
            sink.at_path(
                Severity::Error,
                "invalid-value",
                &format!("faults.random.{field}"),
                e.to_string(),
            );
        }
    }
    if let Some(mesh) = mesh {
        for (f, path) in built.iter().zip(&paths) {
            if let FaultKind::Hang { service } = &f.kind
                && !mesh.virtual_services.contains_key(service)
            {
                let names = mesh.virtual_services.keys().map(String::as_str);
                sink.at_path(
                    Severity::Error,
                    "unknown-reference",
                    &format!("{path}.service"),
                    format!("`{service}` is not a virtual service of the mesh"),
                )
                .help = did_you_mean(service, names);
            }
        }
    }
    // Resolving needs every task; the faults that built are resolved on their own.
    let (Some(tasks), Some(mesh)) = (&parts.tasks, mesh) else {
        return;
    };
    if tasks.iter().any(Option::is_none) {
        return;
    }
    let refs: Vec<TaskRef> = tasks
        .iter()
        .flatten()
        .flat_map(|t| {
            let version = t.version_in(mesh);
            t.hosts().map(move |host| TaskRef {
                host,
                node: t.node.clone(),
                version: version.clone(),
            })
        })
        .collect();
    if let Err(errors) = Plan::new(built, &refs) {
        for e in errors {
            let (index, field) = e.location();
            let Some(path) = paths.get(index) else {
                continue;
            };
            sink.at_path(
                Severity::Error,
                "invalid-value",
                &format!("{path}.{field}"),
                e.to_string(),
            );
        }
    }
    if let Some(random) = &parts.random_faults {
        for (i, t) in random.targets.iter().enumerate() {
            let sel = crate::model::fault::Selector {
                task: t.task.clone(),
                node: t.node.clone(),
                version: t.version.clone(),
            };
            if !refs.iter().any(|r| sel.matches(r)) {
                sink.at_path(
                    Severity::Error,
                    "unknown-reference",
                    &format!("faults.random.targets[{i}]"),
                    format!("`{}` matches no task of this scenario", sel.describe()),
                );
            }
        }
    }
}

/// When arrivals stop: the scenario's `duration`, or `--duration`'s (and which, for messages).
#[derive(Clone, Copy, Debug)]
struct RunEnd {
    at: Duration,
    flag: bool,
}

impl RunEnd {
    fn of(parts: &Parts, overrides: &Overrides) -> Option<RunEnd> {
        let end = match (overrides.duration, parts.duration) {
            (Some(at), _) => RunEnd { at, flag: true },
            (None, Some(at)) => RunEnd { at, flag: false },
            (None, None) => return None,
        };
        (!end.at.is_zero()).then_some(end)
    }
}

impl std::fmt::Display for RunEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&written(self.at))?;
        if self.flag {
            f.write_str(" with --duration")?;
        }
        Ok(())
    }
}

/// A workload that sends nothing before the run ends makes no run: every number would be
/// empty and every expectation "no data". A rate of 0 throughout (`{ constant: 0 }`, a ramp
/// from 0 to 0), or steps that start only after the end, are refused where `rate` is written.
fn traffic(parts: &Parts, end: Option<RunEnd>, sink: &mut Sink<'_>) {
    let (Some(config), Some(end)) = (&parts.workload, end) else {
        return;
    };
    // A workload that does not build has had its problems reported by `models`.
    let Ok(workload) = config.build() else {
        return;
    };
    if workload.expected_arrivals(SimTime::from_duration(end.at)) > 0.0 {
        return;
    }
    sink.at_path(
        Severity::Error,
        "no-traffic",
        "workload.rate",
        format!("the rate is 0 for the whole run (0 to {end}): no user would send a request"),
    )
    .help = Some(
        "give the workload a rate above 0 before the end, like `rate: { constant: 10 }`".into(),
    );
}

/// Durations past [`MAX_DURATION`]: the run would take days of wall time.
fn at_most(sink: &mut Sink<'_>, path: &str, value: Option<Duration>, what: &str) {
    if let Some(d) = value
        && d > MAX_DURATION
    {
        sink.at_path(
            Severity::Error,
            "range",
            path,
            format!(
                "{what} is {}; meshsim runs at most {} of simulated time (a day at 100 \
                 requests per second already takes about an hour)",
                written(d),
                written(MAX_DURATION)
            ),
        )
        .help = Some("a shorter duration, like `10m`, `2h` or `24h`".into());
    }
}

/// The tick is the one the world can honour ([`TICK`]), and the link latency and jitter are
/// whole ticks: turmoil delivers a message on the first tick at or after its latency, so a
/// 1.5 ms latency would silently be 2 ms.
fn whole_ticks(sink: &mut Sink<'_>, network: &crate::scenario::NetworkSpec) {
    if network.tick != TICK {
        sink.at_path(
            Severity::Error,
            "range",
            "network.tick",
            format!(
                "the network tick must be {} (got {}): apps and sidecars sleep on tokio's timer, which counts whole milliseconds, so any other tick would put the apps' clock out of step with the network's",
                written(TICK),
                written(network.tick)
            ),
        )
        .help = Some(format!("remove `tick` (it defaults to {})", written(TICK)));
    }
    for (field, value) in [
        ("network.latency", network.latency),
        ("network.jitter", network.jitter),
    ] {
        if value.as_nanos() % TICK.as_nanos() != 0 {
            sink.at_path(
                Severity::Error,
                "range",
                field,
                format!(
                    "{} must be a whole number of ticks ({}), got {}: a message is delivered on a tick, so the rest would be silently rounded up",
                    field.trim_start_matches("network."),
                    written(TICK),
                    written(value)
                ),
            )
            .help = Some(format!(
                "write a whole number of milliseconds, such as {}",
                written(Duration::from_millis(
                    u64::try_from(value.as_millis()).unwrap_or(u64::MAX).max(1)
                ))
            ));
        }
    }
}

fn positive(sink: &mut Sink<'_>, path: &str, value: Option<Duration>, what: &str) {
    if value == Some(Duration::ZERO) {
        sink.at_path(
            Severity::Error,
            "range",
            path,
            format!("{what} must be above zero"),
        );
    }
}

/// A near name; or, for a short Kubernetes name (`red` of `red_howto-k8s`), the full names it
/// could mean; a misspelt short name (`rde`) gets the full name of the short one it is near.
fn did_you_mean<'a>(
    wanted: &str,
    names: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    let short = |n: &'a str| n.split(['_', '.']).next().unwrap_or(n);
    match short_matches(wanted, names.clone()).as_slice() {
        [] => suggest(wanted, names.clone())
            .or_else(|| {
                let near = suggest(wanted, names.clone().into_iter().map(short))?;
                let mut full = names.into_iter().filter(|n| short(n) == near);
                full.next().filter(|_| full.next().is_none())
            })
            .map(|s| format!("did you mean `{s}`?")),
        [one] => Some(format!("did you mean `{one}`?")),
        several => Some(format!(
            "`{wanted}` is short for several: {}; write the full name",
            several
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn tasks(parts: &Parts, mesh: Option<&Mesh>, end: Option<RunEnd>, sink: &mut Sink<'_>) {
    let Some(tasks) = &parts.tasks else {
        return;
    };
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, task) in tasks.iter().enumerate() {
        let Some(t) = task else {
            continue;
        };
        let at = |field: &str| join_key(&join_index("tasks", i), field);
        if t.replicas == 0 {
            sink.at_path(
                Severity::Error,
                "range",
                &at("replicas"),
                "a task needs at least 1 replica",
            );
        }
        if let Some(stop) = t.stop
            && stop <= t.start
        {
            sink.at_path(
                Severity::Error,
                "range",
                &at("stop"),
                format!("stop ({stop:?}) must be after start ({:?})", t.start),
            );
        }
        if let Some(end) = end
            && t.start >= end.at
        {
            sink.at_path(
                Severity::Warning,
                "range",
                &at("start"),
                format!(
                    "these tasks start at {}, when the run ({end}) is over; they never run",
                    written(t.start)
                ),
            );
        }
        if parts.services.is_some() && !parts.service_keys.contains(&t.service) {
            let help = did_you_mean(&t.service, parts.service_keys.iter().map(String::as_str));
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at("service"),
                format!("there is no service `{}` under `services`", t.service),
            )
            .help = help;
        }
        if let Some(j) = first.get(t.node.as_str()) {
            sink.at_path(
                Severity::Error,
                "duplicate",
                &at("node"),
                format!(
                    "virtual node `{}` already has tasks (tasks[{j}]); one entry per node",
                    t.node
                ),
            )
            .help = Some("set `replicas` on the first entry instead".into());
        } else {
            first.insert(&t.node, i);
        }
        if let Some(mesh) = mesh
            && !mesh.virtual_nodes.contains_key(&t.node)
        {
            let help = if mesh.virtual_gateways.contains_key(&t.node) {
                Some(format!(
                    "`{}` is a virtual gateway; tasks implement virtual nodes",
                    t.node
                ))
            } else {
                did_you_mean(&t.node, mesh.virtual_nodes.keys().map(String::as_str))
            };
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at("node"),
                format!("mesh `{}` has no virtual node `{}`", mesh.name, t.node),
            )
            .help = help;
        }
    }
}

/// Every call's virtual service exists; and every node that runs the calling service lists it
/// as a backend, since App Mesh routes a sidecar's traffic only to declared backends.
fn calls(parts: &Parts, mesh: &Mesh, sink: &mut Sink<'_>) {
    let Some(services) = &parts.services else {
        return;
    };
    let tasks: Vec<_> = parts.tasks.iter().flatten().flatten().collect();
    for (key, service) in services {
        // The nodes that run this service, once each.
        let mut nodes: Vec<&str> = tasks
            .iter()
            .filter(|t| &t.service == key)
            .map(|t| t.node.as_str())
            .collect();
        nodes.sort_unstable();
        nodes.dedup();
        let service_path = join_key("services", key);
        for (e, endpoint) in service.endpoints.iter().enumerate() {
            let endpoint_path = join_index(&join_key(&service_path, "endpoints"), e);
            for (s, step) in endpoint.calls.iter().enumerate() {
                let step_path = join_index(&join_key(&endpoint_path, "calls"), s);
                match step {
                    StepConfig::Call(c) => {
                        call(c, &join_key(&step_path, "call"), &nodes, mesh, sink)
                    }
                    StepConfig::Parallel(group) => {
                        for (k, c) in group.iter().enumerate() {
                            let path = join_index(&join_key(&step_path, "parallel"), k);
                            call(c, &path, &nodes, mesh, sink);
                        }
                    }
                }
            }
        }
    }
}

fn call(c: &CallConfig, path: &str, nodes: &[&str], mesh: &Mesh, sink: &mut Sink<'_>) {
    let at = join_key(path, "service");
    if !mesh.virtual_services.contains_key(&c.service) {
        let help = did_you_mean(&c.service, mesh.virtual_services.keys().map(String::as_str));
        sink.at_path(
            Severity::Error,
            "unresolved-reference",
            &at,
            format!(
                "mesh `{}` has no virtual service `{}`",
                mesh.name, c.service
            ),
        )
        .help = help;
        return;
    }
    for name in nodes {
        let Some(node) = mesh.virtual_nodes.get(*name) else {
            continue;
        };
        let declared = node
            .spec
            .backends
            .iter()
            .any(|b| b.virtual_service_name.value == c.service);
        if !declared {
            sink.at_path(
                Severity::Warning,
                "undeclared-backend",
                &at,
                format!(
                    "virtual node `{name}` runs this call but does not list `{}` as a backend; \
                     App Mesh would not route it",
                    c.service
                ),
            )
            .help = Some(format!(
                "add `{}` to the backends of virtual node `{name}`",
                c.service
            ));
        }
    }
}

fn target(parts: &Parts, mesh: &Mesh, sink: &mut Sink<'_>) {
    let Some(w) = &parts.workload else {
        return;
    };
    if w.target.is_empty()
        || mesh.virtual_gateways.contains_key(&w.target)
        || mesh.virtual_services.contains_key(&w.target)
    {
        return;
    }
    let names = mesh
        .virtual_gateways
        .keys()
        .chain(mesh.virtual_services.keys())
        .map(String::as_str);
    let help = did_you_mean(&w.target, names);
    sink.at_path(
        Severity::Error,
        "unresolved-reference",
        "workload.target",
        format!(
            "mesh `{}` has no virtual gateway or virtual service `{}`",
            mesh.name, w.target
        ),
    )
    .help = help;
}

/// The models' own validation, each problem placed by its path under the section.
fn models(parts: &Parts, sink: &mut Sink<'_>) {
    for (key, service) in parts.services.iter().flatten() {
        if let Err(errors) = service.build() {
            let prefix = join_key("services", key);
            for e in errors {
                let path = e.under(&prefix);
                sink.at_path(
                    Severity::Error,
                    "invalid-value",
                    &path.path,
                    path.problem.to_string(),
                );
            }
        }
    }
    if let Some(w) = &parts.workload
        && let Err(errors) = w.build()
    {
        for e in errors {
            let path = e.under("workload");
            sink.at_path(
                Severity::Error,
                "invalid-value",
                &path.path,
                path.problem.to_string(),
            );
        }
    }
}

/// Every name in `expect:` is one the run measures: a service is a task's virtual node, the
/// entry gateway or `users` (report.json's `services` keys and `requests`); a route is one of
/// the mesh's; an invariant one of those the run checks. A misspelt name would otherwise be an
/// expectation with no numbers, failing for the wrong reason at the end of a long run.
fn expectations(parts: &Parts, mesh: Option<&Mesh>, sink: &mut Sink<'_>) {
    let Some(items) = &parts.expect else {
        return;
    };
    // Node names are only known when every task was read: a task that failed to deserialize
    // would make references to its node look dangling.
    let tasks_read = parts
        .tasks
        .as_ref()
        .is_some_and(|t| t.iter().all(Option::is_some));
    let mut measured: Vec<&str> = parts
        .tasks
        .iter()
        .flatten()
        .flatten()
        .map(|t| t.node.as_str())
        .collect();
    if let Some(w) = &parts.workload {
        let gateway = mesh.is_none_or(|m| m.virtual_gateways.contains_key(&w.target));
        if gateway && !w.target.is_empty() {
            measured.push(&w.target);
        }
    }
    measured.sort_unstable();
    measured.dedup();
    let mut routers_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (router, route) in mesh.iter().flat_map(|m| m.routes.keys()) {
        routers_of.entry(route).or_default().push(router);
    }
    // Whether the run checks the Ordering app's invariants, once every task and the services
    // they name were read.
    let ordering = match (&parts.tasks, &parts.services) {
        (Some(tasks), Some(services))
            if tasks_read
                && tasks
                    .iter()
                    .flatten()
                    .all(|t| services.contains_key(&t.service)) =>
        {
            Some(runs_ordering(tasks.iter().flatten(), services))
        }
        _ => None,
    };
    let mut named: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, item) in items.iter().enumerate() {
        let Some(ExpectEntry { raw, checks }) = item else {
            continue;
        };
        let at = |field: &str| join_key(&join_index("expect", i), field);
        if let Some(s) = &raw.service
            && s != USERS
            && tasks_read
            && !measured.contains(&s.as_str())
        {
            let names = measured.iter().copied().chain([USERS]);
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at("service"),
                format!(
                    "no task runs `{s}` and it is not the gateway the users enter through, so \
                     the run has no numbers for it"
                ),
            )
            .help = did_you_mean(s, names).or_else(|| {
                Some(format!(
                    "expected `{USERS}` or one of: {}",
                    measured.join(", ")
                ))
            });
        }
        if let Some(f) = &raw.from
            && tasks_read
            && !measured.contains(&f.as_str())
        {
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at("from"),
                format!("no task runs `{f}` and it is not the gateway the users enter through"),
            )
            .help = did_you_mean(f, measured.iter().copied());
        }
        if let (Some(r), Some(mesh)) = (&raw.route, mesh) {
            match routers_of.get(r.as_str()) {
                None => {
                    let names = routers_of.keys().copied();
                    sink.at_path(
                        Severity::Error,
                        "unresolved-reference",
                        &at("route"),
                        format!(
                            "mesh `{}` has no route `{r}` in any of its virtual routers",
                            mesh.name
                        ),
                    )
                    .help = did_you_mean(r, names);
                }
                Some(routers) if routers.len() > 1 => {
                    sink.at_path(
                        Severity::Warning,
                        "ambiguous-route",
                        &at("route"),
                        format!(
                            "virtual routers {} each have a route `{r}`; their traffic is \
                             combined",
                            routers.join(", ")
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        if let Some(name) = &raw.invariant
            && INVARIANT_NAMES.contains(&name.as_str())
            && let Some(false) = ordering
        {
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at("invariant"),
                format!(
                    "`{name}` is an invariant of the Ordering app, and no task runs one of its \
                     services, so the run does not check it"
                ),
            )
            .help = Some(
                "remove the entry, or run a service with `app: ordering-ui`, `ordering-order` \
                 or `ordering-inventory`"
                    .into(),
            );
        }
        if let Some(name) = &raw.invariant
            && !invariant_names().any(|n| n == name)
        {
            let known = invariant_names();
            sink.at_path(
                Severity::Error,
                "unresolved-reference",
                &at("invariant"),
                format!("there is no invariant `{name}`"),
            )
            .help = did_you_mean(name, known.clone()).or_else(|| {
                Some(format!(
                    "expected one of: {}",
                    known.collect::<Vec<_>>().join(", ")
                ))
            });
        }
        for e in checks {
            match named.get(e.name.as_str()) {
                Some(j) => {
                    let field = if raw.name.is_some() { "name" } else { "" };
                    let path = if field.is_empty() {
                        join_index("expect", i)
                    } else {
                        at(field)
                    };
                    sink.at_path(
                        Severity::Warning,
                        "duplicate",
                        &path,
                        format!(
                            "expect[{j}] already has an expectation named `{}`; CI tools would \
                             show two results under one name",
                            e.name
                        ),
                    )
                    .help = Some("give one of them a `name`".into());
                }
                None => {
                    named.insert(&e.name, i);
                }
            }
        }
    }
}
