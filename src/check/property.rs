//! Evaluating each property: request properties through proptest (generate, route with the
//! engine, shrink a failure), mesh-wide properties by walking the compiled tables.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use rand::RngCore;

use super::counterexample::Counterexample;
use super::policy::{Condition, Outcome, Property, PropertyKind};
use super::strategy;
use super::subject::{Evaluation, MeshUnderTest};
use super::{CheckError, CheckOptions};
use crate::config::model::{Provider, RouteResource};
use crate::config::source::{Loc, SourceMap};
use crate::engine::RequestHead;
use crate::engine::retry::RetryRules;
use crate::engine::routing::CompiledRoute;

/// Whether a property held.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// It held for every case.
    Holds,
    /// It failed (boxed: a failure carries a counterexample and its explanation).
    Fails(Box<Failure>),
}

fn fails(f: Failure) -> Verdict {
    Verdict::Fails(Box::new(f))
}

/// Why a property failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// One line: what does not hold.
    pub message: String,
    /// The minimal request that shows it, for request properties and shadowed routes.
    pub counterexample: Option<Counterexample>,
    /// Further lines (paths, routes with their file:line).
    pub detail: Vec<String>,
}

/// One property's result.
#[derive(Clone, Debug)]
pub struct PropertyResult {
    /// The property's name.
    pub name: String,
    /// Where it is written.
    pub at: String,
    /// Cases generated (0 for properties decided from the tables alone).
    pub cases: u32,
    /// The verdict.
    pub verdict: Verdict,
}

/// A proptest runner that gives the same cases for the same seed and name, whatever the
/// environment (no `PROPTEST_*` variables, no regression files).
pub fn runner(seed: u64, name: &str, cases: u32) -> TestRunner {
    let mut bytes = [0u8; 32];
    crate::engine::seed::stream(seed, name).fill_bytes(&mut bytes);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 10_000,
        max_shrink_time: 0,
        max_local_rejects: 65_536,
        max_global_rejects: 1024,
        fork: false,
        timeout: 0,
        verbose: 0,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

pub(crate) fn evaluate(
    subject: &MeshUnderTest,
    property: &Property,
    index: usize,
    opts: &CheckOptions,
    sources: &SourceMap,
) -> Result<PropertyResult, CheckError> {
    let stream = format!("check/{index}/{}", property.name);
    let (cases, verdict) = match &property.kind {
        PropertyKind::Always {
            service,
            when,
            outcome,
        } => {
            let verdict = for_all(subject, service, when.as_ref(), opts, &stream, |ev| {
                always(outcome, ev)
            })?;
            (opts.cases, verdict)
        }
        PropertyKind::Never {
            service,
            when,
            outcome,
        } => {
            let verdict = for_all(subject, service, when.as_ref(), opts, &stream, |ev| {
                never(outcome, ev)
            })?;
            (opts.cases, verdict)
        }
        PropertyKind::Share {
            service,
            when,
            node,
            min,
            max,
        } => {
            let verdict = for_all(subject, service, when.as_ref(), opts, &stream, |ev| {
                if ev.route.is_none() {
                    return Ok(());
                }
                let share = ev.share_percent(node);
                if share < *min || share > *max {
                    Err(format!(
                        "{node} gets {share:.1} % of this request's route (`{}`), outside {min}–{max} %",
                        ev.route.as_deref().unwrap_or("?")
                    ))
                } else {
                    Ok(())
                }
            })?;
            (opts.cases, verdict)
        }
        PropertyKind::ReachableFrom { gateway } => (0, reachable(subject, gateway, sources)),
        PropertyKind::MaxRetryAmplification { service, max } => {
            (0, amplification(subject, service.as_deref(), *max, sources))
        }
        PropertyKind::TimeoutCoversRetries => (0, timeouts(subject, sources)),
        PropertyKind::NoShadowedRoutes { service } => {
            shadowed(subject, service.as_deref(), opts, &stream, sources)?
        }
    };
    Ok(PropertyResult {
        name: property.name.clone(),
        at: property.at.clone(),
        cases,
        verdict,
    })
}

fn always(o: &Outcome, ev: &Evaluation) -> Result<(), String> {
    if let Some(n) = &o.node {
        let nodes: Vec<&str> = ev.reachable_nodes().collect();
        let ok = !nodes.is_empty() && (n == "*" || nodes.iter().all(|m| m == n));
        if !ok {
            return Err(if nodes.is_empty() {
                format!("the request reaches no node (404 NR), not {n}")
            } else {
                format!("the request can reach {}, not only {n}", nodes.join(", "))
            });
        }
    }
    if let Some(r) = &o.route
        && ev.route.as_ref() != Some(r)
    {
        return Err(format!(
            "route `{}` matched, not `{r}`",
            ev.route.as_deref().unwrap_or("none (404 NR)")
        ));
    }
    if o.status.is_some() && ev.status.is_none() {
        return Err(format!(
            "the request is routed (route `{}`), not 404",
            ev.route.as_deref().unwrap_or("?")
        ));
    }
    if let Some((lo, hi)) = o.attempts
        && (ev.attempts < lo || ev.attempts > hi)
    {
        return Err(format!(
            "the route allows {} attempts, outside {lo}..={hi}",
            ev.attempts
        ));
    }
    Ok(())
}

fn never(o: &Outcome, ev: &Evaluation) -> Result<(), String> {
    let mut said = Vec::new();
    if let Some(n) = &o.node {
        let hit = if n == "*" {
            ev.reachable_nodes().next().is_some()
        } else {
            ev.can_reach(n)
        };
        if !hit {
            return Ok(());
        }
        said.push(if n == "*" {
            format!(
                "reaches {}",
                ev.reachable_nodes().collect::<Vec<_>>().join(", ")
            )
        } else {
            format!("can reach {n}")
        });
    }
    if let Some(r) = &o.route {
        if ev.route.as_ref() != Some(r) {
            return Ok(());
        }
        said.push(format!("matches route `{r}`"));
    }
    if o.status.is_some() {
        if ev.status.is_none() {
            return Ok(());
        }
        said.push("gets 404 (no route)".into());
    }
    if let Some((lo, hi)) = o.attempts {
        if ev.attempts < lo || ev.attempts > hi {
            return Ok(());
        }
        said.push(format!("is allowed {} attempts", ev.attempts));
    }
    Err(format!("the request {}", said.join(" and ")))
}

/// Runs a request property over generated requests; a failure is shrunk by proptest.
fn for_all(
    subject: &MeshUnderTest,
    service: &str,
    when: Option<&Condition>,
    opts: &CheckOptions,
    stream: &str,
    test: impl Fn(&Evaluation) -> Result<(), String>,
) -> Result<Verdict, CheckError> {
    let strategy: BoxedStrategy<RequestHead> = match when {
        Some(c) => subject.requests_where(service, c)?,
        None => subject.requests(service)?,
    };
    let met = Cell::new(0u32);
    let mut runner = runner(opts.seed, stream, opts.cases);
    let result = runner.run(&strategy, |req| {
        if when.is_some_and(|c| !c.matches(&req)) {
            return Ok(());
        }
        met.set(met.get() + 1);
        test(&subject.evaluate(service, &req)).map_err(TestCaseError::fail)
    });
    Ok(match result {
        Ok(()) if met.get() == 0 => fails(Failure {
            message: "no generated request met `when`: the property was never tested".into(),
            counterexample: None,
            detail: Vec::new(),
        }),
        Ok(()) => Verdict::Holds,
        Err(TestError::Fail(reason, req)) => fails(Failure {
            message: reason.message().to_string(),
            counterexample: Some(Counterexample::new(subject, service, req)),
            detail: Vec::new(),
        }),
        Err(TestError::Abort(reason)) => fails(Failure {
            message: format!("proptest gave up: {}", reason.message()),
            counterexample: None,
            detail: Vec::new(),
        }),
    })
}

/// `file:line:col` of a location, or the resource's field path when it has no file.
pub(crate) fn position(sources: &SourceMap, loc: &Loc) -> String {
    match loc.file {
        Some(id) => sources.position(id, loc.span.start),
        None => "(generated)".into(),
    }
}

fn route_resource<'m>(
    subject: &'m MeshUnderTest,
    router: &str,
    route: &str,
) -> Option<&'m RouteResource> {
    subject
        .mesh()
        .routes
        .get(&(router.to_string(), route.to_string()))
}

/// A virtual service's routes as the engine compiled them, with the router's name.
fn routes_of<'m>(
    subject: &'m MeshUnderTest,
    service: &str,
) -> Vec<(Option<&'m str>, CompiledRoute)> {
    let mesh = subject.mesh();
    match mesh
        .virtual_services
        .get(service)
        .and_then(|vs| vs.spec.provider.as_ref())
    {
        Some(Provider::VirtualRouter(r)) => subject
            .engine()
            .route_table(&r.value)
            .map(|t| {
                t.routes()
                    .iter()
                    .map(|cr| (Some(r.value.as_str()), cr.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        Some(Provider::VirtualNode(n)) => {
            let protocol = mesh
                .virtual_nodes
                .get(&n.value)
                .and_then(|vn| vn.spec.listeners.first())
                .map_or(crate::config::model::Protocol::Http, |l| {
                    l.port_mapping.protocol
                });
            vec![(None, CompiledRoute::direct(&n.value, protocol))]
        }
        None => Vec::new(),
    }
}

fn reachable(subject: &MeshUnderTest, gateway: &str, sources: &SourceMap) -> Verdict {
    let mesh = subject.mesh();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = mesh
        .gateway_routes_of(gateway)
        .map(|g| {
            g.route
                .spec
                .kind
                .target()
                .virtual_service_name
                .value
                .clone()
        })
        .collect();
    while let Some(s) = todo.pop() {
        if !seen.insert(s.clone()) {
            continue;
        }
        for (_, route) in routes_of(subject, &s) {
            for t in route.targets().iter().filter(|t| t.weight > 0) {
                if let Some(node) = mesh.virtual_nodes.get(&t.virtual_node) {
                    todo.extend(
                        node.spec
                            .backends
                            .iter()
                            .map(|b| b.virtual_service_name.value.clone()),
                    );
                }
            }
        }
    }
    let missing: Vec<String> = mesh
        .virtual_services
        .iter()
        .filter(|(name, _)| !seen.contains(*name))
        .map(|(name, vs)| format!("{name} ({})", position(sources, vs.loc())))
        .collect();
    if missing.is_empty() {
        Verdict::Holds
    } else {
        fails(Failure {
            message: format!(
                "{} virtual service{} not reachable from {gateway} (through gateway routes, routes with weight > 0 and node backends)",
                missing.len(),
                if missing.len() == 1 { " is" } else { "s are" }
            ),
            counterexample: None,
            detail: missing,
        })
    }
}

/// One hop of a call path: the service called, the route, its attempts, the node reached.
#[derive(Clone, Debug)]
struct Hop {
    service: String,
    route: String,
    attempts: u32,
    node: String,
    at: String,
}

/// The worst path from `service`: the most attempts multiplied along it. `Err` on a cycle.
fn worst(
    subject: &MeshUnderTest,
    service: &str,
    stack: &mut Vec<String>,
    memo: &mut BTreeMap<String, (u64, Vec<Hop>)>,
    sources: &SourceMap,
) -> Result<(u64, Vec<Hop>), Vec<String>> {
    if let Some(hit) = memo.get(service) {
        return Ok(hit.clone());
    }
    if stack.iter().any(|s| s == service) {
        let mut cycle = stack.clone();
        cycle.push(service.to_string());
        return Err(cycle);
    }
    stack.push(service.to_string());
    let mut best: (u64, Vec<Hop>) = (1, Vec::new());
    for (router, route) in routes_of(subject, service) {
        let attempts = RetryRules::resolve(route.retry_policy.as_ref())
            .max_retries
            .saturating_add(1);
        let at = router
            .and_then(|r| route_resource(subject, r, &route.name))
            .map_or_else(
                || "App Mesh's generated route (default retry policy)".to_string(),
                |r| position(sources, r.route.loc()),
            );
        for t in route.targets().iter().filter(|t| t.weight > 0) {
            let backends: Vec<String> = subject
                .mesh()
                .virtual_nodes
                .get(&t.virtual_node)
                .map(|n| {
                    n.spec
                        .backends
                        .iter()
                        .map(|b| b.virtual_service_name.value.clone())
                        .collect()
                })
                .unwrap_or_default();
            let mut below: (u64, Vec<Hop>) = (1, Vec::new());
            for b in backends {
                let w = worst(subject, &b, stack, memo, sources)?;
                if w.0 > below.0 {
                    below = w;
                }
            }
            let total = u64::from(attempts).saturating_mul(below.0);
            if total > best.0 || best.1.is_empty() {
                let mut path = vec![Hop {
                    service: service.to_string(),
                    route: route.name.clone(),
                    attempts,
                    node: t.virtual_node.clone(),
                    at: at.clone(),
                }];
                path.extend(below.1);
                best = (total, path);
            }
        }
    }
    stack.pop();
    memo.insert(service.to_string(), best.clone());
    Ok(best)
}

fn amplification(
    subject: &MeshUnderTest,
    service: Option<&str>,
    max: u32,
    sources: &SourceMap,
) -> Verdict {
    let starts: Vec<String> = match service {
        Some(s) => vec![s.to_string()],
        None => subject.services().map(str::to_string).collect(),
    };
    let mut memo = BTreeMap::new();
    let mut worst_path: (u64, Vec<Hop>) = (0, Vec::new());
    for s in &starts {
        match worst(subject, s, &mut Vec::new(), &mut memo, sources) {
            Ok(w) if w.0 > worst_path.0 => worst_path = w,
            Ok(_) => {}
            Err(cycle) => {
                return fails(Failure {
                    message: format!(
                        "the call graph has a cycle, so retries along it are unbounded: {}",
                        cycle.join(" → ")
                    ),
                    counterexample: None,
                    detail: Vec::new(),
                });
            }
        }
    }
    if worst_path.0 <= u64::from(max) {
        return Verdict::Holds;
    }
    let detail = worst_path
        .1
        .iter()
        .map(|h| {
            format!(
                "→ {} route `{}` ({}): {} attempt{} → {}",
                h.service,
                h.route,
                h.at,
                h.attempts,
                if h.attempts == 1 { "" } else { "s" },
                h.node
            )
        })
        .collect();
    let mut detail: Vec<String> = detail;
    detail.push(
        "see the effect of retries at every hop: meshsim run scenarios/retry-storm.yaml".into(),
    );
    let product: Vec<String> = worst_path
        .1
        .iter()
        .map(|h| h.attempts.to_string())
        .collect();
    fails(Failure {
        message: format!(
            "one request to {} can become {} attempts at the last hop ({} = {}), more than {max}",
            worst_path.1.first().map_or("?", |h| h.service.as_str()),
            worst_path.0,
            product.join(" × "),
            worst_path.0
        ),
        counterexample: None,
        detail,
    })
}

fn timeouts(subject: &MeshUnderTest, sources: &SourceMap) -> Verdict {
    let mut bad = Vec::new();
    for (key, r) in &subject.mesh().routes {
        let Some(route) = subject
            .engine()
            .route_table(&key.0)
            .and_then(|t| t.routes().iter().find(|c| c.name == key.1))
        else {
            continue;
        };
        if let Some(v) = timeout_violation(route) {
            bad.push(format!(
                "{}/{} ({}): {v}",
                key.0,
                key.1,
                position(sources, r.route.loc())
            ));
        }
    }
    if bad.is_empty() {
        Verdict::Holds
    } else {
        fails(Failure {
            message: format!(
                "{} route{} cannot make the attempts {} retry polic{} promise{}",
                bad.len(),
                if bad.len() == 1 { "" } else { "s" },
                if bad.len() == 1 { "its" } else { "their" },
                if bad.len() == 1 { "y" } else { "ies" },
                if bad.len() == 1 { "s" } else { "" },
            ),
            counterexample: None,
            detail: {
                bad.push("see the effect: meshsim run scenarios/timeout-trap.yaml".into());
                bad
            },
        })
    }
}

/// `perRetryTimeout × (maxRetries + 1) > perRequest`, described; `None` when it fits.
pub(crate) fn timeout_violation(route: &CompiledRoute) -> Option<String> {
    let rules = RetryRules::resolve(route.retry_policy.as_ref());
    let per_try = rules.per_try_timeout?;
    let deadline = route.per_request_timeout?;
    let attempts = rules.max_retries.saturating_add(1);
    let needed = per_try.saturating_mul(attempts);
    (needed > deadline).then(|| {
        format!(
            "perRetryTimeout {per_try:?} × {attempts} attempts = {needed:?} > perRequest {deadline:?}"
        )
    })
}

fn shadowed(
    subject: &MeshUnderTest,
    service: Option<&str>,
    opts: &CheckOptions,
    stream: &str,
    sources: &SourceMap,
) -> Result<(u32, Verdict), CheckError> {
    let services: Vec<String> = match service {
        Some(s) => vec![s.to_string()],
        None => subject.services().map(str::to_string).collect(),
    };
    let samples = opts.cases.clamp(1, 256);
    let mut cases = 0;
    for s in services {
        let info = subject.info(&s)?;
        for (name, pattern) in &info.routes {
            let aimed = strategy::aimed(pattern, &info.shape, None);
            let mut r = runner(opts.seed, &format!("{stream}/{s}/{name}"), samples);
            let mut taken: BTreeMap<String, u32> = BTreeMap::new();
            let mut reached = false;
            for _ in 0..samples {
                cases += 1;
                let Ok(tree) = aimed.new_tree(&mut r) else {
                    break;
                };
                let ev = subject.evaluate(&s, &tree.current().head(&s));
                if ev.route.as_ref() == Some(name) {
                    reached = true;
                    break;
                }
                *taken
                    .entry(ev.route.unwrap_or_else(|| "none (404)".into()))
                    .or_default() += 1;
            }
            if reached {
                continue;
            }
            // Shadowed: let proptest shrink a request aimed at the route to the plainest one.
            let authority = s.clone();
            let heads = aimed.prop_map(move |d| d.head(&authority));
            let mut r = runner(opts.seed, &format!("{stream}/{s}/{name}/shrink"), 1);
            let counterexample = match r.run(&heads, |req| {
                let ev = subject.evaluate(&s, &req);
                if ev.route.as_ref() == Some(name) {
                    Ok(())
                } else {
                    Err(TestCaseError::fail("taken"))
                }
            }) {
                Err(TestError::Fail(_, req)) => Some(Counterexample::new(subject, &s, req)),
                _ => None,
            };
            let by: Vec<String> = taken.iter().map(|(k, n)| format!("`{k}` ({n})")).collect();
            let at = info
                .router
                .as_deref()
                .and_then(|router| route_resource(subject, router, name))
                .map(|r| position(sources, r.route.loc()))
                .unwrap_or_default();
            return Ok((
                cases,
                fails(Failure {
                    message: format!(
                        "route `{name}` of {s} ({at}) is shadowed: none of {samples} requests aimed at it reached it; they went to {}",
                        by.join(", ")
                    ),
                    counterexample,
                    detail: Vec::new(),
                }),
            ));
        }
    }
    Ok((cases, Verdict::Holds))
}
