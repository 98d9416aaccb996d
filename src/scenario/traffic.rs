//! Where the users' traffic can go, checked before a run: a route that sends a share to a
//! virtual node no task runs (those requests can only end in 503s), and a rollout that would
//! stop tasks some sidecar still sends to. Both are warnings: a scenario may mean to show
//! exactly that, but nobody should learn it from the report first.
//!
//! Only routes the run can reach count: those of the virtual services the users call (the
//! workload's target, or the target gateway's routes) and those the scenario's services call,
//! less the routes that match only requests carrying a header no request of the run carries
//! (the Ordering meshes' `x-canary: true` route to a v2 that most scenarios do not run).

use std::collections::{BTreeMap, BTreeSet};

use super::check::tasks_read;
use super::read::Parts;
use super::sink::Sink;
use crate::config::diagnostic::Severity;
use crate::config::model::{HeaderMatch, HttpMethod, Mesh, Provider, RouteKind, WeightedTarget};
use crate::engine::RequestHead;
use crate::engine::matchers::HeaderMatcher;
use crate::model::calls::StepConfig;
use crate::rollout::RolloutSpec;

/// Headers the simulated apps and proxies set on requests themselves, with values no
/// scenario fixes, so a route may match on them: the load generator's and every hop's
/// `host` and trace header (`sim/loadgen.rs`, `app/mod.rs`), the Ordering apps' business
/// identifiers and idempotency key (`app/ordering.rs`, whose test keeps this list whole).
pub(crate) const SET_BY_THE_RUN: [&str; 5] = [
    "host",
    "x-amzn-trace-id",
    "x-order-id",
    "x-sku",
    "idempotency-key",
];

/// Runs both checks; nothing is said while a task failed to read (its node would look idle).
pub(super) fn check(parts: &Parts, mesh: &Mesh, sink: &mut Sink<'_>) {
    let Some(tasks) = tasks_read(parts) else {
        return;
    };
    let run: BTreeSet<&str> = tasks.iter().map(|t| t.node.as_str()).collect();
    let reached = Reached {
        services: reached_services(parts, mesh, &run),
        headers: sent_headers(parts),
    };
    idle_targets(mesh, &reached, &run, sink);
    if let Some(spec) = &parts.rollout {
        stranded_scale_downs(spec, mesh, &reached, sink);
    }
}

/// What the run's requests can reach.
struct Reached<'m> {
    /// Virtual services some request is sent to.
    services: BTreeSet<&'m str>,
    /// The values the workload gives each header (lower-case name); the apps carry them on
    /// (`propagate_headers`), so any hop may see them.
    headers: BTreeMap<String, BTreeSet<&'m str>>,
}

impl Reached<'_> {
    /// Whether some request of the run can satisfy every header matcher of a route: each
    /// matcher matches a request without the header, or one with a value the workload sends,
    /// or names a header the run sets itself.
    fn can_match(&self, headers: &[HeaderMatch]) -> bool {
        headers.iter().all(|h| {
            let name = h.name.to_ascii_lowercase();
            if SET_BY_THE_RUN.contains(&name.as_str()) {
                return true;
            }
            let matcher = HeaderMatcher::compile(h);
            let bare = RequestHead::new(HttpMethod::Get, "", 0, "/");
            let values = self.headers.get(&name).into_iter().flatten();
            matcher.matches(&bare)
                || values
                    .into_iter()
                    .any(|v| matcher.matches(&bare.clone().with_header(&name, v)))
        })
    }
}

fn sent_headers(parts: &Parts) -> BTreeMap<String, BTreeSet<&str>> {
    let mut sent: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mix = parts.workload.iter().flat_map(|w| &w.mix);
    for (name, value) in mix.flat_map(|m| &m.headers) {
        sent.entry(name.to_ascii_lowercase())
            .or_default()
            .insert(value.as_str());
    }
    sent
}

/// The virtual services some request of the run is sent to.
fn reached_services<'m>(
    parts: &'m Parts,
    mesh: &'m Mesh,
    run: &BTreeSet<&str>,
) -> BTreeSet<&'m str> {
    let mut reached = BTreeSet::new();
    if let Some(w) = &parts.workload {
        if mesh.virtual_gateways.contains_key(&w.target) {
            let routes = mesh
                .gateway_routes
                .iter()
                .filter(|((g, _), _)| *g == w.target);
            for (_, gr) in routes {
                reached.insert(
                    gr.route
                        .spec
                        .kind
                        .target()
                        .virtual_service_name
                        .value
                        .as_str(),
                );
            }
        } else {
            reached.insert(w.target.as_str());
        }
    }
    let tasks = parts.tasks.iter().flatten().flatten();
    let served: BTreeSet<&str> = tasks
        .filter(|t| run.contains(t.node.as_str()))
        .map(|t| t.service.as_str())
        .collect();
    for (key, service) in parts.services.iter().flatten() {
        if !served.contains(key.as_str()) {
            continue;
        }
        for endpoint in &service.endpoints {
            for step in &endpoint.calls {
                match step {
                    StepConfig::Call(c) => {
                        reached.insert(c.service.as_str());
                    }
                    StepConfig::Parallel(group) => {
                        reached.extend(group.iter().map(|c| c.service.as_str()));
                    }
                }
            }
        }
    }
    reached
}

/// (router, route, weighted targets) of every route behind a reached virtual service that
/// some request of the run can match.
fn reached_routes<'m>(
    mesh: &'m Mesh,
    reached: &Reached<'_>,
) -> Vec<(&'m str, &'m str, &'m [WeightedTarget])> {
    let routers: BTreeSet<&str> = reached
        .services
        .iter()
        .filter_map(|s| mesh.virtual_services.get(*s))
        .filter_map(|s| match &s.spec.provider {
            Some(Provider::VirtualRouter(r)) => Some(r.value.as_str()),
            _ => None,
        })
        .collect();
    mesh.routes
        .iter()
        .filter(|((router, _), _)| routers.contains(router.as_str()))
        .filter(|(_, r)| match &r.route.spec.kind {
            RouteKind::Http(h) | RouteKind::Http2(h) => reached.can_match(&h.matcher.headers),
            RouteKind::Grpc(g) => reached.can_match(&g.matcher.metadata),
            RouteKind::Tcp(_) => true,
        })
        .map(|((router, route), r)| (router.as_str(), route.as_str(), r.route.spec.kind.targets()))
        .collect()
}

/// A weighted target with weight above 0 on a virtual node no task runs: every request the
/// route sends there ends in a 503 (no healthy upstream), retries or not.
fn idle_targets(mesh: &Mesh, reached: &Reached<'_>, run: &BTreeSet<&str>, sink: &mut Sink<'_>) {
    for (router, route, targets) in reached_routes(mesh, reached) {
        let total: u32 = targets.iter().map(|t| t.weight).sum();
        for t in targets {
            let node = t.virtual_node.value.as_str();
            if t.weight == 0 || run.contains(node) {
                continue;
            }
            sink.at_loc(
                Severity::Warning,
                "target-without-tasks",
                &t.virtual_node.at,
                "tasks",
                format!(
                    "route `{route}` of virtual router `{router}` sends weight {} of {total} to \
                     virtual node `{node}`, which no task runs: those requests will fail with \
                     503 (no healthy upstream)",
                    t.weight
                ),
            )
            .help = Some(format!(
                "add a `tasks:` entry for `{node}`, or set its weight to 0"
            ));
        }
    }
}

/// What the rollout stops once it has decided, and what still sends to it then: another
/// route of a reached service, a service the node provides directly, and the rollout's own
/// route at sidecars its change has not reached yet (a scale-down delay shorter than the
/// propagation).
fn stranded_scale_downs(
    spec: &RolloutSpec,
    mesh: &Mesh,
    reached: &Reached<'_>,
    sink: &mut Sink<'_>,
) {
    let Ok(plan) = spec.build() else {
        return;
    };
    let t = &plan.targets;
    let latest = plan.propagation.delay + plan.propagation.spread;
    let mut scaled = vec![
        ("stable", t.stable.as_str(), "a promotion"),
        ("candidate", t.candidate.as_str(), "a rollback"),
    ];
    if let Some(b) = &t.baseline {
        scaled.push(("baseline", b.as_str(), "the decision"));
    }
    for (router, route, targets) in reached_routes(mesh, reached) {
        if router == t.router && route == t.route {
            continue;
        }
        for target in targets.iter().filter(|w| w.weight > 0) {
            let node = target.virtual_node.value.as_str();
            for (field, _, after) in scaled.iter().filter(|s| s.1 == node) {
                sink.at_path(
                    Severity::Warning,
                    "scale-down-carries-traffic",
                    &format!("rollout.{field}"),
                    format!(
                        "after {after} the rollout scales `{node}` down, but route `{route}` \
                         of virtual router `{router}` still sends it weight {}: those requests \
                         will fail with 503 once its tasks stop",
                        target.weight
                    ),
                );
            }
        }
    }
    for service in &reached.services {
        let Some(Provider::VirtualNode(n)) = mesh
            .virtual_services
            .get(*service)
            .and_then(|s| s.spec.provider.as_ref())
        else {
            continue;
        };
        for (field, node, after) in scaled.iter().filter(|s| s.1 == n.value) {
            sink.at_path(
                Severity::Warning,
                "scale-down-carries-traffic",
                &format!("rollout.{field}"),
                format!(
                    "after {after} the rollout scales `{node}` down, but it provides virtual \
                     service `{service}` directly: its requests will fail with 503 once its \
                     tasks stop"
                ),
            );
        }
    }
    let delays = [
        (
            "scale_down_delay",
            plan.scale_down_delay,
            "a promotion",
            &t.stable,
        ),
        (
            "abort_scale_down_delay",
            plan.abort_scale_down_delay,
            "a rollback",
            &t.candidate,
        ),
    ];
    for (setting, delay, after, node) in delays {
        if delay >= latest {
            continue;
        }
        sink.at_path(
            Severity::Warning,
            "scale-down-carries-traffic",
            &format!("rollout.{setting}"),
            format!(
                "after {after} the rollout scales `{node}` down {delay:?} later, but its route \
                 change reaches the last sidecars only {latest:?} after it is made \
                 (propagation_delay + propagation_spread): until then they still send to \
                 `{node}`, and get 503s"
            ),
        );
    }
}
