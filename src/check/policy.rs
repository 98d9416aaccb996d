//! The policy file: properties a mesh must have, read with the scenario files' spanned
//! deserializer so every mistake is reported at its file, line and column.
//!
//! Format (docs/CHECK.md has the full reference):
//!
//! ```yaml
//! mesh: ordering            # optional when the files hold one mesh
//! properties:
//!   - name: canary header reaches v2
//!     service: order.ordering.local
//!     when: { headers: { x-canary: { exact: "true" } } }
//!     always: { node: order-v2 }
//!   - noShadowedRoutes: true
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::pattern::Pattern;
use crate::config::model::{
    GrpcRoute, GrpcRouteMatch, HeaderMatch, HttpMethod, HttpRoute, HttpRouteMatch, Mesh, PathMatch,
    QueryParameterMatch, Resource, RouteKind, RouteResource, RouteSpec, ValueMatch,
};
use crate::config::source::{Located, SourceFile, Span};
use crate::config::tree::{Node, parse_documents};
use crate::engine::RequestHead;
use crate::engine::matchers::normalize_path;
use crate::engine::routing::CompiledRoute;
use crate::scenario::de::from_node;

/// A policy that could not be read or does not fit the mesh, with where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}{}", if path.is_empty() { String::new() } else { format!(" (at {path})") })]
pub struct PolicyError {
    /// The policy file's name.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Field path (`properties[2].when.headers`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// A request condition: an App Mesh route match, compiled by the engine so that a condition
/// means exactly what the same match on a route would.
#[derive(Clone, Debug)]
pub struct Condition {
    pattern: Pattern,
    compiled: CompiledRoute,
}

impl Condition {
    /// A condition from an HTTP route match.
    pub fn http(m: HttpRouteMatch) -> Condition {
        let pattern = Pattern::http(&m);
        let kind = RouteKind::Http(HttpRoute {
            matcher: m,
            targets: Vec::new(),
            retry_policy: None,
            timeout: None,
        });
        Condition::compile(pattern, kind)
    }

    /// A condition from a gRPC route match.
    pub fn grpc(m: GrpcRouteMatch) -> Condition {
        let pattern = Pattern::grpc(&m);
        let kind = RouteKind::Grpc(GrpcRoute {
            matcher: m,
            targets: Vec::new(),
            retry_policy: None,
            timeout: None,
        });
        Condition::compile(pattern, kind)
    }

    fn compile(pattern: Pattern, kind: RouteKind) -> Condition {
        let resource = RouteResource {
            virtual_router: Located::synthetic(String::new()),
            route: Resource {
                name: "when".into(),
                spec: RouteSpec {
                    priority: None,
                    kind,
                },
                at: Located::synthetic(()),
            },
        };
        Condition {
            pattern,
            compiled: CompiledRoute::compile(&resource),
        }
    }

    /// Whether a request meets the condition (path normalised first, as the sidecar does).
    pub fn matches(&self, req: &RequestHead) -> bool {
        match normalize_path(&req.path) {
            std::borrow::Cow::Borrowed(_) => self.compiled.matches(req),
            std::borrow::Cow::Owned(path) => self.compiled.matches(&RequestHead {
                path,
                ..req.clone()
            }),
        }
    }

    pub(crate) fn pattern(&self) -> &Pattern {
        &self.pattern
    }
}

/// What a request's outcome is tested against; every field given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A virtual node, or `*` for any. In `always`: every node the request can reach is this
    /// one; in `never`: the request can reach it.
    pub node: Option<String>,
    /// The matched route's name.
    pub route: Option<String>,
    /// 404 (no route, Envoy `NR`) is the only status routing decides.
    pub status: Option<u16>,
    /// Attempts the matched route allows, inclusive bounds.
    pub attempts: Option<(u32, u32)>,
}

/// One property of the policy.
#[derive(Clone, Debug)]
pub enum PropertyKind {
    /// Every request to `service` meeting `when` has the outcome.
    Always {
        /// Virtual service.
        service: String,
        /// Requests considered (all when absent).
        when: Option<Condition>,
        /// Required outcome.
        outcome: Outcome,
    },
    /// No request to `service` meeting `when` has the outcome.
    Never {
        /// Virtual service.
        service: String,
        /// Requests considered.
        when: Option<Condition>,
        /// Forbidden outcome.
        outcome: Outcome,
    },
    /// Every routed request to `service` meeting `when` gives `node` between `min` and `max`
    /// percent of the matched route's weight.
    Share {
        /// Virtual service.
        service: String,
        /// Requests considered.
        when: Option<Condition>,
        /// Virtual node.
        node: String,
        /// Lower bound, percent.
        min: f64,
        /// Upper bound, percent.
        max: f64,
    },
    /// Every virtual service is reachable from the gateway.
    ReachableFrom {
        /// Virtual gateway.
        gateway: String,
    },
    /// Worst-case attempts along any call path from `service` (every service when `None`).
    MaxRetryAmplification {
        /// Start of the paths.
        service: Option<String>,
        /// Bound on the product of attempts per hop.
        max: u32,
    },
    /// Every route's perRequest timeout ≥ perRetryTimeout × (maxRetries + 1).
    TimeoutCoversRetries,
    /// No route is unreachable behind higher-priority routes.
    NoShadowedRoutes {
        /// Only this service's routes (all when `None`).
        service: Option<String>,
    },
}

/// A named property with where it was written.
#[derive(Clone, Debug)]
pub struct Property {
    /// Its name (given, or made from its kind).
    pub name: String,
    /// What it says.
    pub kind: PropertyKind,
    /// `file:line` of its entry.
    pub at: String,
}

/// A policy resolved against one mesh.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The mesh it is about.
    pub mesh: String,
    /// Its properties, in file order.
    pub properties: Vec<Property>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPolicy {
    mesh: Option<String>,
    properties: Vec<RawProperty>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProperty {
    name: Option<String>,
    service: Option<String>,
    when: Option<RawCondition>,
    always: Option<RawOutcome>,
    never: Option<RawOutcome>,
    share: Option<RawShare>,
    reachable_from: Option<String>,
    max_retry_amplification: Option<u32>,
    timeout_covers_retries: Option<bool>,
    no_shadowed_routes: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCondition {
    method: Option<String>,
    prefix: Option<String>,
    path: Option<String>,
    regex: Option<String>,
    headers: Option<BTreeMap<String, RawHeader>>,
    query: Option<BTreeMap<String, RawQuery>>,
    port: Option<u16>,
    grpc_service: Option<String>,
    grpc_method: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHeader {
    exact: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    regex: Option<String>,
    range: Option<RawRange>,
    present: Option<bool>,
    absent: Option<bool>,
    #[serde(default)]
    invert: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    start: i64,
    end: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    exact: Option<String>,
    present: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutcome {
    node: Option<String>,
    route: Option<String>,
    status: Option<u16>,
    attempts: Option<RawAttempts>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttempts {
    min: Option<u32>,
    max: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShare {
    node: String,
    min: f64,
    max: f64,
}

/// Resolves field paths to spans for errors found after deserializing.
struct Locator<'a> {
    file: &'a SourceFile,
    root: &'a Node,
}

impl Locator<'_> {
    /// The node at `keys` under `properties[index]` (the deepest one that exists).
    fn node(&self, index: usize, keys: &[&str]) -> (Span, String) {
        let mut path = format!("properties[{index}]");
        let mut node = match self
            .root
            .get("properties")
            .and_then(Node::as_seq)
            .and_then(|s| s.get(index))
        {
            Some(n) => n,
            None => return (self.root.span, path),
        };
        for k in keys {
            match node.entry(k) {
                Some((key, child)) => {
                    path = format!("{path}.{}", key.written);
                    node = child;
                }
                None => break,
            }
        }
        (node.span, path)
    }

    fn error(&self, index: usize, keys: &[&str], message: impl Into<String>) -> PolicyError {
        let (span, path) = self.node(index, keys);
        self.at(span, path, message)
    }

    fn at(&self, span: Span, path: String, message: impl Into<String>) -> PolicyError {
        let (line, column) = self.file.line_col(span.start);
        PolicyError {
            file: self.file.name().to_string(),
            line,
            column,
            path,
            message: message.into(),
        }
    }
}

impl Policy {
    /// Reads a policy file.
    pub fn from_path(
        path: &std::path::Path,
        meshes: &BTreeMap<String, Mesh>,
    ) -> Result<Policy, PolicyError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::from_text(&name, &text, meshes),
            Err(e) => Err(PolicyError {
                file: name,
                line: 1,
                column: 1,
                path: String::new(),
                message: match crate::config::paths::not_found_help(path, &e) {
                    Some(help) => format!("cannot read the policy: {e}; {help}"),
                    None => format!("cannot read the policy: {e}"),
                },
            }),
        }
    }

    /// Reads a policy from text and resolves it against the mesh it names (or the only one).
    pub fn from_text(
        name: &str,
        text: &str,
        meshes: &BTreeMap<String, Mesh>,
    ) -> Result<Policy, PolicyError> {
        let file = SourceFile::new(name, text);
        let (docs, problems) = parse_documents(&file);
        let placeholder = Node::plain("", Span::default());
        let root = docs.iter().find(|d| !d.is_null()).unwrap_or(&placeholder);
        let loc = Locator { file: &file, root };
        if let Some(p) = problems.first() {
            return Err(loc.at(p.span, String::new(), p.message.clone()));
        }
        if root.is_null() {
            return Err(loc.at(Span::default(), String::new(), "the policy file is empty"));
        }
        let raw: RawPolicy = from_node(root, "", None).map_err(|e| {
            let (span, path) =
                e.at.as_ref()
                    .map_or((root.span, String::new()), |p| (p.span, p.path.clone()));
            let mut message = e.message.clone();
            if let Some(help) = &e.help {
                message = format!("{message} ({help})");
            }
            loc.at(span, path, message)
        })?;
        let mesh = match &raw.mesh {
            Some(m) => meshes.get(m).ok_or_else(|| {
                let names: Vec<&str> = meshes.keys().map(String::as_str).collect();
                let span = root.get("mesh").map_or(root.span, |n| n.span);
                loc.at(
                    span,
                    "mesh".into(),
                    format!(
                        "no mesh `{m}` in the files (they hold: {})",
                        names.join(", ")
                    ),
                )
            })?,
            None => match meshes.values().collect::<Vec<_>>().as_slice() {
                [only] => *only,
                _ => {
                    return Err(loc.at(
                        root.span,
                        String::new(),
                        "the files hold several meshes (or none); name one with `mesh:`",
                    ));
                }
            },
        };
        let mut properties = Vec::new();
        for (i, p) in raw.properties.into_iter().enumerate() {
            properties.push(resolve(i, p, mesh, &loc)?);
        }
        Ok(Policy {
            mesh: mesh.name.clone(),
            properties,
        })
    }
}

fn resolve(
    i: usize,
    p: RawProperty,
    mesh: &Mesh,
    loc: &Locator<'_>,
) -> Result<Property, PolicyError> {
    let (span, _) = loc.node(i, &[]);
    let (line, _) = loc.file.line_col(span.start);
    let at = format!("{}:{line}", loc.file.name());
    let kinds = [
        ("always", p.always.is_some()),
        ("never", p.never.is_some()),
        ("share", p.share.is_some()),
        ("reachableFrom", p.reachable_from.is_some()),
        ("maxRetryAmplification", p.max_retry_amplification.is_some()),
        ("timeoutCoversRetries", p.timeout_covers_retries.is_some()),
        ("noShadowedRoutes", p.no_shadowed_routes.is_some()),
    ];
    let given: Vec<&str> = kinds.iter().filter(|(_, g)| *g).map(|(k, _)| *k).collect();
    if given.len() != 1 {
        let all: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
        return Err(loc.error(
            i,
            &[],
            format!(
                "a property needs exactly one of {}; found {}",
                all.join(", "),
                if given.is_empty() {
                    "none".into()
                } else {
                    given.join(", ")
                }
            ),
        ));
    }
    if let Some(s) = &p.service
        && !mesh.virtual_services.contains_key(s)
    {
        return Err(loc.error(
            i,
            &["service"],
            format!("no virtual service `{s}` in mesh `{}`", mesh.name),
        ));
    }
    let needs_service = |what: &str| -> Result<String, PolicyError> {
        p.service
            .clone()
            .ok_or_else(|| loc.error(i, &[], format!("`{what}` needs `service:`")))
    };
    let when = match &p.when {
        Some(w) => Some(condition(i, w, loc)?),
        None => None,
    };
    let kind = if let Some(o) = &p.always {
        PropertyKind::Always {
            service: needs_service("always")?,
            when,
            outcome: outcome(i, "always", o, mesh, p.service.as_deref(), loc)?,
        }
    } else if let Some(o) = &p.never {
        PropertyKind::Never {
            service: needs_service("never")?,
            when,
            outcome: outcome(i, "never", o, mesh, p.service.as_deref(), loc)?,
        }
    } else if let Some(s) = &p.share {
        if !mesh.virtual_nodes.contains_key(&s.node) {
            return Err(loc.error(
                i,
                &["share", "node"],
                format!("no virtual node `{}`", s.node),
            ));
        }
        if !(0.0..=100.0).contains(&s.min) || !(0.0..=100.0).contains(&s.max) || s.min > s.max {
            return Err(loc.error(
                i,
                &["share"],
                "`min` and `max` are percentages, 0 ≤ min ≤ max ≤ 100",
            ));
        }
        PropertyKind::Share {
            service: needs_service("share")?,
            when,
            node: s.node.clone(),
            min: s.min,
            max: s.max,
        }
    } else if let Some(g) = &p.reachable_from {
        if !mesh.virtual_gateways.contains_key(g) {
            return Err(loc.error(i, &["reachableFrom"], format!("no virtual gateway `{g}`")));
        }
        PropertyKind::ReachableFrom { gateway: g.clone() }
    } else if let Some(max) = p.max_retry_amplification {
        if max == 0 {
            return Err(loc.error(
                i,
                &["maxRetryAmplification"],
                "every request makes at least 1 attempt",
            ));
        }
        PropertyKind::MaxRetryAmplification {
            service: p.service.clone(),
            max,
        }
    } else if p.timeout_covers_retries.is_some() {
        PropertyKind::TimeoutCoversRetries
    } else {
        PropertyKind::NoShadowedRoutes {
            service: p.service.clone(),
        }
    };
    if p.when.is_some()
        && !matches!(
            kind,
            PropertyKind::Always { .. } | PropertyKind::Never { .. } | PropertyKind::Share { .. }
        )
    {
        return Err(loc.error(
            i,
            &["when"],
            "`when` applies to always, never and share only",
        ));
    }
    if matches!(
        kind,
        PropertyKind::TimeoutCoversRetries | PropertyKind::NoShadowedRoutes { .. }
    ) && (p.timeout_covers_retries == Some(false) || p.no_shadowed_routes == Some(false))
    {
        return Err(loc.error(i, &[], "write the property as `true`, or leave it out"));
    }
    let name = p.name.unwrap_or_else(|| default_name(&kind));
    Ok(Property { name, kind, at })
}

fn default_name(kind: &PropertyKind) -> String {
    match kind {
        PropertyKind::Always { service, .. } => format!("always ({service})"),
        PropertyKind::Never { service, .. } => format!("never ({service})"),
        PropertyKind::Share {
            service,
            node,
            min,
            max,
            ..
        } => {
            format!("{node} gets {min}–{max} % of {service}")
        }
        PropertyKind::ReachableFrom { gateway } => {
            format!("every virtual service is reachable from {gateway}")
        }
        PropertyKind::MaxRetryAmplification { max, .. } => {
            format!("retry amplification at most {max}")
        }
        PropertyKind::TimeoutCoversRetries => {
            "every route's timeout covers perRetryTimeout × (maxRetries + 1)".into()
        }
        PropertyKind::NoShadowedRoutes { .. } => "no shadowed routes".into(),
    }
}

fn outcome(
    i: usize,
    key: &str,
    o: &RawOutcome,
    mesh: &Mesh,
    service: Option<&str>,
    loc: &Locator<'_>,
) -> Result<Outcome, PolicyError> {
    if o.node.is_none() && o.route.is_none() && o.status.is_none() && o.attempts.is_none() {
        return Err(loc.error(
            i,
            &[key],
            "give at least one of node, route, status, attempts",
        ));
    }
    if let Some(n) = &o.node
        && n != "*"
        && !mesh.virtual_nodes.contains_key(n)
    {
        return Err(loc.error(
            i,
            &[key, "node"],
            format!("no virtual node `{n}` (`*` is any node)"),
        ));
    }
    if let Some(r) = &o.route {
        let router = service
            .and_then(|s| mesh.virtual_services.get(s))
            .and_then(|vs| match &vs.spec.provider {
                Some(crate::config::model::Provider::VirtualRouter(r)) => Some(r.value.clone()),
                _ => None,
            });
        let known = router.is_some_and(|rt| mesh.routes.contains_key(&(rt, r.clone())));
        if !known {
            return Err(loc.error(
                i,
                &[key, "route"],
                format!("the service's router has no route `{r}`"),
            ));
        }
    }
    if let Some(s) = o.status
        && s != 404
    {
        return Err(loc.error(
                i,
                &[key, "status"],
                "routing decides one status only, 404 (no route, Envoy NR); a routed request's status is the app's",
            ));
    }
    let attempts = o
        .attempts
        .as_ref()
        .map(|a| (a.min.unwrap_or(0), a.max.unwrap_or(u32::MAX)));
    Ok(Outcome {
        node: o.node.clone(),
        route: o.route.clone(),
        status: o.status,
        attempts,
    })
}

fn condition(i: usize, w: &RawCondition, loc: &Locator<'_>) -> Result<Condition, PolicyError> {
    let err = |keys: &[&str], m: String| loc.error(i, &[&["when"][..], keys].concat(), m);
    let paths = [w.prefix.is_some(), w.path.is_some(), w.regex.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if paths > 1 {
        return Err(err(&[], "give one of prefix, path, regex".into()));
    }
    let grpc = w.grpc_service.is_some() || w.grpc_method.is_some();
    if grpc && (paths > 0 || w.method.is_some() || w.query.is_some()) {
        return Err(err(
            &[],
            "a gRPC condition (grpcService, grpcMethod) has no path, method or query".into(),
        ));
    }
    if w.grpc_method.is_some() && w.grpc_service.is_none() {
        return Err(err(
            &["grpcMethod"],
            "grpcMethod needs grpcService (as in App Mesh)".into(),
        ));
    }
    for (k, p) in [("prefix", &w.prefix), ("path", &w.path)] {
        if p.as_deref().is_some_and(|p| !p.starts_with('/')) {
            return Err(err(&[k], format!("`{k}` starts with `/`")));
        }
    }
    if let Some(r) = &w.regex
        && let Err(e) = regex::Regex::new(r)
    {
        return Err(err(&["regex"], format!("not a valid regex: {e}")));
    }
    let method = match &w.method {
        Some(m) => Some(
            HttpMethod::parse(m)
                .ok_or_else(|| err(&["method"], format!("unknown method `{m}`")))?,
        ),
        None => None,
    };
    let mut headers = Vec::new();
    for (name, h) in w.headers.iter().flatten() {
        let mut values = Vec::new();
        if let Some(v) = &h.exact {
            values.push(Some(ValueMatch::Exact(v.clone())));
        }
        if let Some(v) = &h.prefix {
            values.push(Some(ValueMatch::Prefix(v.clone())));
        }
        if let Some(v) = &h.suffix {
            values.push(Some(ValueMatch::Suffix(v.clone())));
        }
        if let Some(v) = &h.regex {
            if let Err(e) = regex::Regex::new(v) {
                return Err(err(&["headers", name], format!("not a valid regex: {e}")));
            }
            values.push(Some(ValueMatch::Regex(v.clone())));
        }
        if let Some(r) = &h.range {
            if r.start >= r.end {
                return Err(err(
                    &["headers", name],
                    "range is [start, end): start < end".into(),
                ));
            }
            values.push(Some(ValueMatch::Range {
                start: r.start,
                end: r.end,
            }));
        }
        let mut invert = h.invert;
        if h.present == Some(true) {
            values.push(None);
        }
        if h.absent == Some(true) {
            values.push(None);
            invert = !invert;
        }
        let [value] = values.as_slice() else {
            return Err(err(
                &["headers", name],
                "give exactly one of exact, prefix, suffix, regex, range, present: true, absent: true".into(),
            ));
        };
        headers.push(HeaderMatch {
            name: name.clone(),
            invert,
            value: value.clone(),
        });
    }
    let mut query = Vec::new();
    for (name, q) in w.query.iter().flatten() {
        if q.exact.is_some() == (q.present == Some(true)) {
            return Err(err(
                &["query", name],
                "give one of exact, present: true".into(),
            ));
        }
        query.push(QueryParameterMatch {
            name: name.clone(),
            exact: q.exact.clone(),
        });
    }
    let port = w.port.map(Located::synthetic);
    if grpc {
        return Ok(Condition::grpc(GrpcRouteMatch {
            service_name: w.grpc_service.clone(),
            method_name: w.grpc_method.clone(),
            metadata: headers,
            port,
        }));
    }
    let path = match (&w.path, &w.regex) {
        (Some(p), _) => Some(PathMatch::Exact(p.clone())),
        (None, Some(r)) => Some(PathMatch::Regex(r.clone())),
        (None, None) => None,
    };
    Ok(Condition::http(HttpRouteMatch {
        prefix: w.prefix.clone(),
        path,
        method,
        scheme: None,
        headers,
        query_parameters: query,
        port,
    }))
}
