//! Amazon ECS Service Connect: one `serviceConnectConfiguration` per virtual node (an ECS
//! service), for `aws ecs create-service --service-connect-configuration file://…`. Each
//! virtual service becomes a client alias of the one node that takes its traffic; Service
//! Connect has no request routing and no steady weighted split.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Mesh;
use crate::config::model::{Protocol, ServiceDiscovery, TlsMode};

use super::OutputFile;
use super::emit::{Value, json, map};
use super::loss::{Change, Entry, Losses};
use super::profile::SERVICE_CONNECT;
use super::resilience::route_losses;
use super::view::{RouteView, ServiceView, human, short_name};

/// The Service Connect namespace: the first Cloud Map namespace a node names, else the domain
/// of the first DNS hostname, else the mesh's name.
fn namespace(mesh: &Mesh) -> String {
    let nodes = || {
        mesh.virtual_nodes
            .values()
            .filter_map(|n| n.spec.service_discovery.as_ref())
    };
    nodes()
        .find_map(|d| match d {
            ServiceDiscovery::CloudMap { namespace_name, .. } => Some(namespace_name.clone()),
            ServiceDiscovery::Dns { .. } => None,
        })
        .or_else(|| {
            nodes().find_map(|d| match d {
                ServiceDiscovery::Dns { hostname, .. } => hostname
                    .split_once('.')
                    .map(|(_, domain)| domain.to_string()),
                ServiceDiscovery::CloudMap { .. } => None,
            })
        })
        .unwrap_or_else(|| mesh.name.clone())
}

/// The node that takes a virtual service's traffic: the heaviest target of the route App Mesh
/// tries last (the catch-all, usually), ties to the first listed.
fn primary<'a>(s: &'a ServiceView<'_>) -> Option<&'a str> {
    let last = s.routes.last()?;
    let mut best: Option<(&str, u32)> = None;
    for t in &last.targets {
        if best.is_none_or(|(_, w)| t.weight > w) {
            best = Some((&t.node, t.weight));
        }
    }
    best.map(|(n, _)| n)
}

fn describe_match(r: &RouteView<'_>) -> Option<String> {
    use crate::config::model::{PathMatch, RouteKind};
    let mut parts = Vec::new();
    match r.kind()? {
        RouteKind::Http(h) | RouteKind::Http2(h) => {
            let m = &h.matcher;
            match (&m.prefix, &m.path) {
                (Some(p), _) if p != "/" => parts.push(format!("prefix `{p}`")),
                (None, Some(PathMatch::Exact(p))) => parts.push(format!("path `{p}`")),
                (None, Some(PathMatch::Regex(p))) => parts.push(format!("path regex `{p}`")),
                _ => {}
            }
            if let Some(method) = m.method {
                parts.push(format!("method {}", method.as_str()));
            }
            parts.extend(m.headers.iter().map(|h| format!("header `{}`", h.name)));
            parts.extend(
                m.query_parameters
                    .iter()
                    .map(|q| format!("query `{}`", q.name)),
            );
        }
        RouteKind::Grpc(g) => {
            if let Some(s) = &g.matcher.service_name {
                parts.push(format!("gRPC service `{s}`"));
            }
            parts.extend(
                g.matcher
                    .metadata
                    .iter()
                    .map(|h| format!("metadata `{}`", h.name)),
            );
        }
        RouteKind::Tcp(_) => {}
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Writes `service-connect/<node>.json` for every virtual node.
pub(crate) fn write(
    mesh: &Mesh,
    services: &[ServiceView<'_>],
    losses: &mut Losses,
) -> Vec<OutputFile> {
    let ns = namespace(mesh);
    // Per node: (client aliases, per-request timeouts of the routes that reach it).
    let mut aliases: BTreeMap<&str, Vec<(&str, Option<u16>)>> = BTreeMap::new();
    let mut timeouts: BTreeMap<&str, Vec<(Option<Duration>, String)>> = BTreeMap::new();
    for s in services {
        let Some(node) = primary(s) else {
            continue;
        };
        let port = s.listeners.first().map(|l| l.port);
        aliases.entry(node).or_default().push((s.name, port));
        for r in &s.routes {
            route_losses(r, losses);
            if r.protocol != Protocol::Tcp {
                timeouts
                    .entry(node)
                    .or_default()
                    .push((r.per_request, r.subject.clone()));
            }
            if let Some(what) = describe_match(r) {
                losses.add(
                    Entry {
                        subject: &r.subject,
                        field: "match",
                        change: Change::Lost,
                        app_mesh: format!("App Mesh sent requests matching {what} to this route"),
                        target: format!("Service Connect has no request routing: every request to `{}` goes to `{node}`", s.name),
                        effect: "requests this route steered elsewhere reach the default version".to_string(),
                    },
                    &SERVICE_CONNECT.matching.routing,
                );
            }
            let live: Vec<_> = r.targets.iter().filter(|t| t.weight > 0).collect();
            if live.len() > 1 || live.first().is_some_and(|t| t.node != node) {
                let split = if live.len() == 1 {
                    format!("sent this route's requests to `{}`", live[0].node)
                } else {
                    format!(
                        "split traffic {}",
                        r.targets
                            .iter()
                            .map(|t| format!("{} {}", t.node, t.weight))
                            .collect::<Vec<_>>()
                            .join(" / ")
                    )
                };
                losses.add(
                    Entry {
                        subject: &r.subject,
                        field: "action.weightedTargets",
                        change: Change::Lost,
                        app_mesh: format!("App Mesh {split}"),
                        target: format!("Service Connect cannot hold a steady split: all of it goes to `{node}`; shift versions with an ECS canary (5 %, 10 min bake) or linear (10 % every 6 min) deployment instead"),
                        effect: "no long-running canary: a deployment moves traffic on a fixed cadence and ends at 100 %".to_string(),
                    },
                    &SERVICE_CONNECT.split,
                );
            }
        }
    }

    let mut files = Vec::new();
    for (name, node) in &mesh.virtual_nodes {
        let mut config = map([("enabled", true.into()), ("namespace", ns.as_str().into())]);
        let mut entries = Vec::new();
        for l in &node.spec.listeners {
            let port = l.port_mapping.port;
            let mut svc = map([
                ("portName", format!("{name}-{port}").into()),
                ("discoveryName", short_name(name).into()),
            ]);
            let client: Vec<Value> = aliases
                .get(name.as_str())
                .map(|a| {
                    a.iter()
                        .filter(|(_, p)| {
                            p.is_none_or(|p| p == port) || node.spec.listeners.len() == 1
                        })
                        .map(|(dns, p)| {
                            map([
                                ("port", p.unwrap_or(port).into()),
                                ("dnsName", (*dns).into()),
                            ])
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !client.is_empty() {
                svc.push("clientAliases", Value::List(client));
            }
            if l.port_mapping.protocol != Protocol::Tcp
                && let Some(t) = timeouts.get(name.as_str())
            {
                // One per-request timeout per service: the longest the routes had.
                let longest = t.iter().map(|(d, _)| d.unwrap_or(Duration::ZERO)).max();
                let any_off = t.iter().any(|(d, _)| d.is_none());
                let secs = if any_off {
                    0
                } else {
                    longest.map_or(15, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
                };
                let distinct: std::collections::BTreeSet<Option<Duration>> =
                    t.iter().map(|(d, _)| *d).collect();
                if distinct.len() > 1 {
                    let list = t
                        .iter()
                        .map(|(d, s)| format!("{s} {}", d.map_or("off".to_string(), human)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    losses.add(
                        Entry {
                            subject: &format!("virtual node `{name}`"),
                            field: "timeout.perRequest",
                            change: Change::Approximate,
                            app_mesh: format!("App Mesh timed routes to this node separately ({list})"),
                            target: format!("Service Connect has one per-request timeout per service: written as {secs} s"),
                            effect: "requests on the routes with shorter timeouts now run longer before failing".to_string(),
                        },
                        &SERVICE_CONNECT.timeouts.request_configurable,
                    );
                }
                svc.push(
                    "timeout",
                    map([(
                        "perRequestTimeoutSeconds",
                        Value::Int(i64::try_from(secs).unwrap_or(i64::MAX)),
                    )]),
                );
            }
            if let Some(tls) = &l.tls
                && tls.mode != TlsMode::Disabled
            {
                svc.push(
                    "tls",
                    map([(
                        "issuerCertificateAuthority",
                        map([(
                            "awsPcaAuthorityArn",
                            "REPLACE_WITH_AWS_PRIVATE_CA_ARN".into(),
                        )]),
                    )]),
                );
            }
            entries.push(svc);
        }
        if !entries.is_empty() {
            config.push("services", Value::List(entries));
        }
        files.push(OutputFile::new(
            &format!("service-connect/{name}.json"),
            json(&config),
        ));
    }
    files
}
