//! Lints for the known traps of App Mesh retry, timeout and outlier settings (the list in
//! docs/CHECK.md). Each is a config [`Diagnostic`] at the route or virtual node, so it prints
//! with file:line and a source snippet like `meshsim validate`'s; where a shipped scenario
//! shows the effect, the help names the command that runs it.

use crate::config::diagnostic::{Diagnostic, Diagnostics, Severity};
use crate::config::model::{HttpMethod, HttpRetryEvent, Mesh};
use crate::engine::routing::CompiledRoute;

use super::pattern::Pattern;
use super::property::timeout_violation;

/// The lints in mesh order (routes, then virtual nodes): one diagnostic per warning, and one
/// per kind of note (see [`fold`]).
pub fn lint(mesh: &Mesh) -> Diagnostics {
    let mut out = Findings::default();
    for r in mesh.routes.values() {
        let route = CompiledRoute::compile(r);
        let at = r.route.loc();
        let name = format!("{}/{}", r.virtual_router.value, r.route.name);
        out.subject = format!("route {name}");
        let Some(pattern) = Pattern::of_route(&r.route.spec.kind) else {
            continue;
        };
        if let Some(v) = timeout_violation(&route) {
            out.push(
                Diagnostic::new(
                    Severity::Warning,
                    "retry-timeout-trap",
                    at,
                    format!("route {name}: {v}; the route timeout ends the request before the retries the policy promises"),
                )
                .with_help("set perRequest to at least perRetryTimeout × (maxRetries + 1), or lower perRetryTimeout; see the effect: meshsim run scenarios/timeout-trap.yaml"),
            );
        }
        let explicit_post = matches!(pattern.method, Some(HttpMethod::Post | HttpMethod::Patch));
        match &route.retry_policy {
            Some(p) => {
                if p.http_retry_events.contains(&HttpRetryEvent::ClientError) {
                    out.push(
                        Diagnostic::new(
                            Severity::Warning,
                            "retry-client-error",
                            at,
                            format!("route {name} retries `client-error` (HTTP 409): a conflict is resent up to {} times, and a conflict rarely clears by resending", p.max_retries),
                        )
                        .with_help("drop client-error from httpRetryEvents unless the app answers 409 for transient states"),
                    );
                }
                let after_send = !p.per_retry_timeout.is_zero()
                    || p.http_retry_events.iter().any(|e| {
                        matches!(
                            e,
                            HttpRetryEvent::ServerError | HttpRetryEvent::GatewayError
                        )
                    });
                if pattern.admits_non_idempotent() && after_send && p.max_retries > 0 {
                    let which = if explicit_post {
                        "matches"
                    } else {
                        "matches any method, so also"
                    };
                    out.push(
                        Diagnostic::new(
                            Severity::Warning,
                            "retry-non-idempotent",
                            at,
                            format!("route {name} {which} POST/PATCH and retries after the request was sent (per-try timeout, 5xx, reset): the server may already have acted on the first attempt"),
                        )
                        .with_help("give non-idempotent requests their own route without retries, or an idempotency key; see the effect: meshsim run scenarios/double-booking.yaml"),
                    );
                }
            }
            None if pattern.admits_non_idempotent() => {
                let (severity, which) = if explicit_post {
                    (Severity::Warning, "matches POST/PATCH")
                } else {
                    (
                        Severity::Note,
                        "matches any method, POST and PATCH included,",
                    )
                };
                out.push(
                    Diagnostic::new(
                        severity,
                        "default-retries-non-idempotent",
                        at,
                        format!("route {name} {which} and has no retryPolicy, so App Mesh's hidden default applies: 2 retries on 503, reset and connect failure; a reset after the request was sent resends it"),
                    )
                    .with_help("set an explicit retryPolicy (maxRetries: 0 for non-idempotent requests)"),
                );
            }
            None => {}
        }
    }
    for node in mesh.virtual_nodes.values() {
        for l in &node.spec.listeners {
            let Some(od) = &l.outlier_detection else {
                continue;
            };
            // The cap is part of the name: a folded note lists other nodes with their own.
            out.subject = format!(
                "virtual node {} (port {}, maxEjectionPercent {})",
                node.name, l.port_mapping.port, od.max_ejection_percent
            );
            let pct = od.max_ejection_percent;
            if pct > 50 {
                out.push(
                    Diagnostic::new(
                        Severity::Warning,
                        "ejection-panic",
                        node.loc(),
                        format!("virtual node {} (port {}): maxEjectionPercent {pct} lets ejections pass Envoy's 50 % panic threshold; below half healthy, Envoy balances over every host, ejected ones included, and the ejections stop protecting anyone", node.name, l.port_mapping.port),
                    )
                    .with_help("keep maxEjectionPercent at 50 or below (App Mesh's panic threshold is fixed at 50 %)"),
                );
            }
            // Envoy >= 1.28 (App Mesh runs 1.29) never exceeds the cap: no "at least one
            // host" exception (see engine::outlier).
            if pct == 0 {
                out.push(
                    Diagnostic::new(
                        Severity::Warning,
                        "ejection-never",
                        node.loc(),
                        format!("virtual node {} (port {}): maxEjectionPercent 0 never ejects a host: Envoy never exceeds the cap, so outlier detection here only counts errors", node.name, l.port_mapping.port),
                    )
                    .with_help("set maxEjectionPercent to the share of tasks you accept losing (50 ejects one of 2 tasks)"),
                );
            } else if pct < 100 {
                let min_tasks = 100u32.div_ceil(pct);
                out.push(
                    Diagnostic::new(
                        Severity::Note,
                        "ejection-small-cluster",
                        node.loc(),
                        format!("virtual node {} (port {}): with maxEjectionPercent {pct}, one ejection stays within the cap only with at least {min_tasks} tasks; the mesh files do not say how many tasks run, so check cannot tell. With fewer, no host is ever ejected: Envoy never exceeds the cap", node.name, l.port_mapping.port),
                    )
                    .with_help("compare with the task count the node runs (ECS desired count, Kubernetes replicas)"),
                );
            }
        }
    }
    fold(out.found)
}

/// The findings so far, each with the thing it is about (`route r/x`, `virtual node n (port
/// p, maxEjectionPercent m)`), named for [`fold`].
#[derive(Default)]
struct Findings {
    found: Vec<(Diagnostic, String)>,
    subject: String,
}

impl Findings {
    fn push(&mut self, d: Diagnostic) {
        self.found.push((d, self.subject.clone()));
    }
}

/// Warnings of one kind printed in full; the rest are named in the last one's help.
const WARNINGS_SHOWN: usize = 3;

/// Notes are the lints that cannot tell whether the trap is sprung (a route that matches any
/// method may never see a POST; a task count is not in mesh files), so they fire on most
/// meshes: printed once per route they would bury the warnings. Each kind of note is printed
/// once, at its first place, and its help names the others, so none is lost. Warnings are
/// printed at their first [`WARNINGS_SHOWN`] places per kind and the rest named in the last
/// one's help: a generated mesh with thousands of routes made thousands of snippets, which
/// took 28 times as long to print as the check itself.
fn fold(found: Vec<(Diagnostic, String)>) -> Diagnostics {
    let mut out = Diagnostics::new();
    let mut kept: Vec<(Diagnostic, Vec<String>)> = Vec::new();
    // Per code: how many were printed, and where the last printed one is.
    let mut shown: Vec<((&'static str, Severity), usize, usize)> = Vec::new();
    for (d, subject) in found {
        let limit = match d.severity {
            Severity::Note => 1,
            Severity::Warning => WARNINGS_SHOWN,
            Severity::Error => usize::MAX,
        };
        let kind = (d.code, d.severity);
        match shown.iter_mut().find(|(k, ..)| *k == kind) {
            Some((_, n, at)) if *n >= limit => kept[*at].1.push(subject),
            Some((_, n, at)) => {
                *n += 1;
                *at = kept.len();
                kept.push((d, Vec::new()));
            }
            None => {
                shown.push((kind, 1, kept.len()));
                kept.push((d, Vec::new()));
            }
        }
    }
    for (mut d, others) in kept {
        if !others.is_empty() {
            let n = others.len();
            let list = others.join(", ");
            let also = format!("the same applies to {n} more: {list}",);
            d.help = Some(match d.help.take() {
                Some(h) => format!("{h}; {also}"),
                None => also,
            });
        }
        out.push(d);
    }
    out
}
