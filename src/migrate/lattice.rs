//! Amazon VPC Lattice: a CloudFormation template (`AWS::VpcLattice::*`) with a service
//! network, a Lattice service per App Mesh virtual service, a listener per router port whose
//! rules carry App Mesh's routes in App Mesh's order (priority 1, 2, …), and a target group per
//! virtual node with its health check.

use crate::config::Mesh;
use crate::config::model::{HeaderMatch, PathMatch, Protocol, RouteKind, ValueMatch};

use super::OutputFile;
use super::emit::{Value, map, yaml};
use super::loss::{Change, Entry, Losses};
use super::profile::{Certainty, Fact, LATTICE, Precedence, TimeoutDefault};
use super::resilience::route_losses;
use super::view::{RouteView, ServiceView, human};

/// Rules per listener: 5 on the English quota page, 10 on its Japanese copy (migration-targets
/// §6.2, unverified which is current).
const RULES_PER_LISTENER: Fact<u32> = Fact {
    value: 5,
    source: "docs.aws.amazon.com/vpc-lattice/latest/ug/quotas.html (ja_jp copy says 10)",
    certainty: Certainty::Unverified,
};

/// Path case: the controller matches every path case-insensitively (the profile's fact);
/// `PathMatch.CaseSensitive` exists in the Lattice API and defaults to false (CloudFormation
/// `aws-properties-vpclattice-rule-pathmatch`; CDK `CfnRule.PathMatchProperty`: "Default:
/// false"), so the template written here sets it.
const PATH_CASE_SOURCES: &str = "LAT-CTL:docs/api-types/http-route.md; CFN aws-properties-vpclattice-rule-pathmatch (CaseSensitive, default false)";

/// A CloudFormation logical id from a name: `order-router` → `OrderRouter`.
fn logical(prefix: &str, name: &str) -> String {
    let mut out = prefix.to_string();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

/// A Lattice resource name: lower-case letters, digits and single hyphens.
fn lattice_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn reference(id: &str) -> Value {
    map([("Ref", id.into())])
}

/// Writes `lattice.cfn.yaml`.
pub(crate) fn write(
    mesh: &Mesh,
    services: &[ServiceView<'_>],
    losses: &mut Losses,
) -> Vec<OutputFile> {
    let mut resources: Vec<(String, Value)> = Vec::new();
    resources.push((
        "ServiceNetwork".to_string(),
        map([
            ("Type", "AWS::VpcLattice::ServiceNetwork".into()),
            (
                "Properties",
                map([
                    ("Name", lattice_name(&mesh.name).into()),
                    ("AuthType", "NONE".into()),
                ]),
            ),
        ]),
    ));
    for s in services {
        if s.routes.is_empty() {
            continue;
        }
        if s.routes.iter().all(|r| r.protocol == Protocol::Tcp) {
            losses.not_translated(
                &format!("virtual service `{}`", s.name),
                "tcpRoute",
                "App Mesh TCP traffic (a Lattice TLS passthrough listener and TCP target group are not written yet)",
            );
            continue;
        }
        let svc_id = logical("Service", &s.short);
        resources.push((
            svc_id.clone(),
            map([
                ("Type", "AWS::VpcLattice::Service".into()),
                (
                    "Properties",
                    map([
                        ("Name", lattice_name(&s.short).into()),
                        ("CustomDomainName", s.name.into()),
                        ("AuthType", "NONE".into()),
                    ]),
                ),
            ]),
        ));
        resources.push((
            logical("Association", &s.short),
            map([
                (
                    "Type",
                    "AWS::VpcLattice::ServiceNetworkServiceAssociation".into(),
                ),
                (
                    "Properties",
                    map([
                        ("ServiceNetworkIdentifier", reference("ServiceNetwork")),
                        ("ServiceIdentifier", reference(&svc_id)),
                    ]),
                ),
            ]),
        ));
        // Idle timeout: Lattice closes idle connections to targets after 60 s.
        if let Some(idle) = s.routes.iter().find_map(|r| r.idle)
            && let TimeoutDefault::After(lattice) = LATTICE.timeouts.idle.value
            && idle != lattice
        {
            losses.add(
                Entry {
                    subject: &format!("virtual service `{}`", s.name),
                    field: "timeout.idle",
                    change: Change::Approximate,
                    app_mesh: format!("App Mesh closed idle streams after {}", human(idle)),
                    target: format!(
                        "Lattice closes idle connections to targets after {}",
                        human(lattice)
                    ),
                    effect: "long-quiet connections and streams end at a different time"
                        .to_string(),
                },
                &LATTICE.timeouts.idle,
            );
        }
        let listeners: Vec<u16> = if s.listeners.is_empty() {
            vec![80]
        } else {
            s.listeners.iter().map(|l| l.port).collect()
        };
        for port in listeners {
            let listener_id = format!("{svc_id}Listener{port}");
            let routes: Vec<&RouteView<'_>> = s
                .routes
                .iter()
                .filter(|r| {
                    r.kind()
                        .and_then(RouteKind::match_port)
                        .is_none_or(|p| p.value == port)
                })
                .collect();
            let not_found = map([("FixedResponse", map([("StatusCode", 404u32.into())]))]);
            let default_action = match (s.router, routes.first()) {
                (None, Some(only)) => forward(&only.targets),
                _ => not_found,
            };
            resources.push((
                listener_id.clone(),
                map([
                    ("Type", "AWS::VpcLattice::Listener".into()),
                    (
                        "Properties",
                        map([
                            ("ServiceIdentifier", reference(&svc_id)),
                            ("Name", lattice_name(&format!("{}-{port}", s.short)).into()),
                            ("Port", port.into()),
                            ("Protocol", "HTTP".into()),
                            ("DefaultAction", default_action),
                        ]),
                    ),
                ]),
            ));
            for r in &routes {
                route_losses(r, losses);
            }
            let Some(router) = s.router else {
                continue;
            };
            if routes.len() > 1 {
                losses.add(
                    Entry {
                        subject: &format!("virtual router `{router}`"),
                        field: "routes[].priority",
                        change: Change::Approximate,
                        app_mesh: "App Mesh tried routes by `priority` (0-1000)".to_string(),
                        target: "Lattice has no route precedence of its own: rules run by the priority numbers written here (1, 2, … in App Mesh's order); the AWS Gateway API Controller numbers rules by list position and does not honour Gateway API precedence".to_string(),
                        effect: "if the rules are rebuilt from an HTTPRoute in another order, requests that match several routes go to a different one".to_string(),
                    },
                    &LATTICE.matching.precedence,
                );
            }
            let Precedence::Priority { max, .. } = LATTICE.matching.precedence.value else {
                continue;
            };
            if routes.len() > RULES_PER_LISTENER.value as usize {
                losses.add(
                    Entry {
                        subject: &format!("virtual router `{router}`"),
                        field: "routes",
                        change: Change::Refused,
                        app_mesh: format!("App Mesh held {} routes on port {port}", routes.len()),
                        target: format!(
                            "Lattice: at most {} rules per listener by default",
                            RULES_PER_LISTENER.value
                        ),
                        effect: "the stack fails to create unless the quota is raised".to_string(),
                    },
                    &RULES_PER_LISTENER,
                );
            }
            for (i, r) in routes.iter().enumerate() {
                let priority = u32::try_from(i + 1).unwrap_or(u32::MAX);
                if r.protocol == Protocol::Tcp {
                    losses.not_translated(&r.subject, "tcpRoute", "App Mesh TCP route");
                    continue;
                }
                if priority > max {
                    losses.add(
                        Entry {
                            subject: &r.subject,
                            field: "priority",
                            change: Change::Refused,
                            app_mesh: format!("App Mesh tried this route {}th", i + 1),
                            target: format!("Lattice: rule priorities are 1 to {max}; not written"),
                            effect: "requests for this route fall through to the listener's 404"
                                .to_string(),
                        },
                        &LATTICE.matching.precedence,
                    );
                    continue;
                }
                resources.push((
                    format!("{listener_id}Rule{}", logical("", &r.name)),
                    map([
                        ("Type", "AWS::VpcLattice::Rule".into()),
                        (
                            "Properties",
                            map([
                                ("ServiceIdentifier", reference(&svc_id)),
                                ("ListenerIdentifier", reference(&listener_id)),
                                ("Name", lattice_name(&r.name).into()),
                                ("Priority", priority.into()),
                                ("Match", map([("HttpMatch", http_match(r, losses))])),
                                ("Action", forward(&r.targets)),
                            ]),
                        ),
                    ]),
                ));
            }
        }
    }
    for (name, node) in &mesh.virtual_nodes {
        let Some(l) = node
            .spec
            .listeners
            .iter()
            .find(|l| l.port_mapping.protocol != Protocol::Tcp)
        else {
            continue;
        };
        let version = match l.port_mapping.protocol {
            Protocol::Http | Protocol::Tcp => "HTTP1",
            Protocol::Http2 => "HTTP2",
            Protocol::Grpc => "GRPC",
        };
        let health = match &l.health_check {
            Some(h) => {
                let mut v = map([
                    ("Enabled", true.into()),
                    (
                        "Protocol",
                        if h.protocol == Protocol::Tcp {
                            "TCP"
                        } else {
                            "HTTP"
                        }
                        .into(),
                    ),
                ]);
                v.push_some("Path", h.path.as_deref());
                v.push_some("Port", h.port);
                v.push(
                    "HealthCheckIntervalSeconds",
                    Value::Int(i64::try_from(h.interval.as_secs()).unwrap_or(i64::MAX)),
                );
                v.push(
                    "HealthCheckTimeoutSeconds",
                    Value::Int(i64::try_from(h.timeout.as_secs().max(1)).unwrap_or(i64::MAX)),
                );
                v.push("HealthyThresholdCount", h.healthy_threshold);
                v.push("UnhealthyThresholdCount", h.unhealthy_threshold);
                v
            }
            // App Mesh checks nothing unless told to; Lattice checks HTTP/1 groups by default.
            None => map([("Enabled", false.into())]),
        };
        resources.push((
            logical("TargetGroup", name),
            map([
                ("Type", "AWS::VpcLattice::TargetGroup".into()),
                (
                    "Properties",
                    map([
                        ("Name", lattice_name(name).into()),
                        ("Type", "IP".into()),
                        (
                            "Config",
                            map([
                                ("Port", l.port_mapping.port.into()),
                                ("Protocol", "HTTP".into()),
                                ("ProtocolVersion", version.into()),
                                ("VpcIdentifier", reference("VpcId")),
                                ("HealthCheck", health),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ));
    }
    let template = map([
        ("AWSTemplateFormatVersion", "2010-09-09".into()),
        (
            "Description",
            format!(
                "VPC Lattice translation of App Mesh mesh {} (meshsim translate)",
                mesh.name
            )
            .into(),
        ),
        (
            "Parameters",
            map([("VpcId", map([("Type", "AWS::EC2::VPC::Id".into())]))]),
        ),
        ("Resources", Value::Map(resources)),
    ]);
    vec![OutputFile::new("lattice.cfn.yaml", yaml(&template))]
}

fn forward(targets: &[super::view::TargetView]) -> Value {
    map([(
        "Forward",
        map([(
            "TargetGroups",
            Value::List(
                targets
                    .iter()
                    .map(|t| {
                        map([
                            (
                                "TargetGroupIdentifier",
                                reference(&logical("TargetGroup", &t.node)),
                            ),
                            ("Weight", t.weight.into()),
                        ])
                    })
                    .collect(),
            ),
        )]),
    )])
}

fn http_match(r: &RouteView<'_>, losses: &mut Losses) -> Value {
    let mut m = Value::new_map();
    let mut path = |losses: &mut Losses, kind: &str, p: &str| {
        if p != "/" {
            losses.add_cited(
                Entry {
                    subject: &r.subject,
                    field: if kind == "Prefix" { "match.prefix" } else { "match.path.exact" },
                    change: Change::Approximate,
                    app_mesh: format!("App Mesh matched `{p}` case-sensitively"),
                    target: format!(
                        "Lattice matches paths case-insensitively: `{}` would take this route too (written with CaseSensitive: true, which the AWS Gateway API Controller cannot express)",
                        p.to_ascii_uppercase()
                    ),
                    effect: "requests whose path differs only in case reach this route through the controller".to_string(),
                },
                (PATH_CASE_SOURCES, LATTICE.matching.path_case.certainty),
            );
        }
        m.push(
            "PathMatch",
            map([
                ("Match", map([(kind, p.into())])),
                ("CaseSensitive", true.into()),
            ]),
        );
    };
    let headers: &[HeaderMatch] = match r.kind() {
        Some(RouteKind::Http(h) | RouteKind::Http2(h)) => {
            let x = &h.matcher;
            match (&x.prefix, &x.path) {
                (Some(p), _) => path(losses, "Prefix", p),
                (None, Some(PathMatch::Exact(p))) => path(losses, "Exact", p),
                (None, Some(PathMatch::Regex(p))) => refuse(
                    losses,
                    &r.subject,
                    "match.path.regex",
                    format!("App Mesh matched the path with regex `{p}`"),
                    "path matches are exact or prefix",
                    &LATTICE.matching.regex_path,
                ),
                (None, None) => {}
            }
            if let Some(method) = x.method {
                m.push("Method", method.as_str());
            }
            if !x.query_parameters.is_empty() {
                let names: Vec<&str> = x.query_parameters.iter().map(|q| q.name.as_str()).collect();
                refuse(
                    losses,
                    &r.subject,
                    "match.queryParameters",
                    format!("App Mesh matched query parameters {}", names.join(", ")),
                    "query parameter matches are not supported",
                    &LATTICE.matching.query_kinds,
                );
            }
            if x.scheme.is_some() {
                refuse(
                    losses,
                    &r.subject,
                    "match.scheme",
                    "App Mesh matched the scheme".to_string(),
                    "no scheme match",
                    &LATTICE.matching.routing,
                );
            }
            &x.headers
        }
        Some(RouteKind::Grpc(g)) => {
            let x = &g.matcher;
            match (&x.service_name, &x.method_name) {
                (Some(s), Some(method)) => path(losses, "Exact", &format!("/{s}/{method}")),
                (Some(s), None) => path(losses, "Prefix", &format!("/{s}/")),
                _ => {}
            }
            m.push("Method", "POST");
            &x.metadata
        }
        _ => &[],
    };
    let cap = LATTICE.matching.headers_per_match.value.unwrap_or(u32::MAX) as usize;
    let mut written = Vec::new();
    for h in headers {
        match (&h.value, h.invert) {
            (Some(ValueMatch::Exact(v)), false) if written.len() < cap => written.push(map([
                ("Name", h.name.as_str().into()),
                ("Match", map([("Exact", v.into())])),
                ("CaseSensitive", true.into()),
            ])),
            (Some(ValueMatch::Exact(_)), false) => refuse(
                losses,
                &r.subject,
                &format!("match.headers[{}]", h.name),
                format!("App Mesh matched {} headers", headers.len()),
                &format!("at most {cap} header matches per rule"),
                &LATTICE.matching.headers_per_match,
            ),
            _ => refuse(
                losses,
                &r.subject,
                &format!("match.headers[{}]", h.name),
                format!("App Mesh matched header `{}` beyond an exact value", h.name),
                "header matches must be exact",
                &LATTICE.matching.header_kinds,
            ),
        }
    }
    if !written.is_empty() {
        m.push("HeaderMatches", Value::List(written));
    }
    m
}

/// Records a match condition Lattice cannot express, quoting Lattice's limit.
fn refuse<T>(
    losses: &mut Losses,
    subject: &str,
    field: &str,
    app_mesh: String,
    limit: &str,
    fact: &Fact<T>,
) {
    losses.add(
        Entry {
            subject,
            field,
            change: Change::Refused,
            app_mesh,
            target: format!("Lattice: {limit}; left out"),
            effect: "the rule matches more requests than the route did".to_string(),
        },
        fact,
    );
}
