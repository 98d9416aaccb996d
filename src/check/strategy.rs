//! Request strategies derived from the route table, so the cases land on the edges the routes
//! draw (a prefix and one character short of it, a range's bounds and one past them, a
//! regex's language and a character outside it) instead of in random noise.
//!
//! Shape of a service's strategy: a weighted union whose first alternative is the plainest
//! request (`GET /` on the default port, no headers), then one alternative aimed at each route
//! in evaluation order, then one near miss per condition of each route, then noise. proptest
//! shrinks a union towards earlier alternatives and each part towards its simplest value, so
//! a counterexample comes out as the plainest request that still fails.
//!
//! Every request is one a client can send (see [`super::sendable`]): regexes are drawn from
//! their sendable text, and whatever else the mesh spells (a prefix with a space) is sent as
//! a client would send it.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::Union;

use super::pattern::{PathPattern, Pattern};
use super::sendable::{Part, as_sent, from_regex};
use crate::config::model::{HeaderMatch, HttpMethod, QueryParameterMatch, ValueMatch};
use crate::engine::RequestHead;

/// A request before it becomes a [`RequestHead`]: the parts the strategies vary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// Port called.
    pub port: u16,
    /// Method.
    pub method: HttpMethod,
    /// Path without the query.
    pub path: String,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Query parameters.
    pub query: Vec<(String, String)>,
}

impl Draft {
    /// The request head a client would send to `authority`.
    pub fn head(&self, authority: &str) -> RequestHead {
        let query = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        RequestHead {
            method: self.method,
            scheme: crate::config::model::Scheme::Http,
            authority: authority.to_string(),
            port: self.port,
            path: self.path.clone(),
            query,
            headers: self.headers.clone(),
        }
    }
}

/// What the generator knows about a service besides its routes.
#[derive(Clone, Debug)]
pub(crate) struct ServiceShape {
    /// The ports its router listens on (the first is the default); never empty.
    pub ports: Vec<u16>,
}

/// Methods tried where a route names none; GET first so it is what shrinking reaches.
const METHODS: [HttpMethod; 5] = [
    HttpMethod::Get,
    HttpMethod::Post,
    HttpMethod::Put,
    HttpMethod::Delete,
    HttpMethod::Patch,
];

/// A strategy for the requests of one service whose routes are `patterns` (in evaluation
/// order).
pub(crate) fn service_drafts(patterns: &[Pattern], shape: &ServiceShape) -> BoxedStrategy<Draft> {
    let default_port = shape.ports.first().copied().unwrap_or(80);
    let mut options: Vec<(u32, BoxedStrategy<Draft>)> = vec![(
        1,
        Just(Draft {
            port: default_port,
            method: HttpMethod::Get,
            path: "/".into(),
            headers: Vec::new(),
            query: Vec::new(),
        })
        .boxed(),
    )];
    for p in patterns {
        options.push((4, aimed(p, shape, None)));
    }
    for p in patterns {
        for k in 0..p.constraints() {
            options.push((1, aimed(p, shape, Some(k))));
        }
    }
    let ports = shape.ports.clone();
    options.push((
        1,
        (
            proptest::sample::select(ports),
            proptest::sample::select(METHODS.to_vec()),
            "/[a-z0-9]{0,6}",
        )
            .prop_map(|(port, method, path)| Draft {
                port,
                method,
                path,
                headers: Vec::new(),
                query: Vec::new(),
            })
            .boxed(),
    ));
    nested_union(options)
}

/// A weighted union built as a tree of small unions. proptest's `Union` sets up a lazy value
/// tree, with its own forked RNG, for every alternative before the one picked (so shrinking
/// can go back to them); over a flat list of a few hundred alternatives that set-up is most of
/// the cost of a case. Chunks of eight keep it to a few per level and keep the order, so
/// shrinking still heads for the first alternative.
fn nested_union(mut options: Vec<(u32, BoxedStrategy<Draft>)>) -> BoxedStrategy<Draft> {
    const FAN_OUT: usize = 8;
    while options.len() > FAN_OUT {
        let mut level = Vec::with_capacity(options.len().div_ceil(FAN_OUT));
        let mut rest = options.into_iter().peekable();
        while rest.peek().is_some() {
            let chunk: Vec<_> = rest.by_ref().take(FAN_OUT).collect();
            let weight = chunk.iter().map(|(w, _)| *w).sum();
            level.push((weight, Union::new_weighted(chunk).boxed()));
        }
        options = level;
    }
    Union::new_weighted(options).boxed()
}

/// Requests aimed at `p`: meeting every condition, or with condition `miss` broken.
pub(crate) fn aimed(
    p: &Pattern,
    shape: &ServiceShape,
    miss: Option<usize>,
) -> BoxedStrategy<Draft> {
    let mut k = 0usize;
    let mut broken = |present: bool| -> bool {
        if !present {
            return false;
        }
        let hit = miss == Some(k);
        k += 1;
        hit
    };
    let path_broken = broken(p.path != PathPattern::Any);
    let method_broken = broken(p.method.is_some());
    let port_broken = broken(p.port.is_some());
    let path = if path_broken {
        path_miss(&p.path)
    } else {
        path_hit(&p.path)
    };
    let default_port = shape.ports.first().copied().unwrap_or(80);
    let port: BoxedStrategy<u16> = match p.port {
        Some(want) if port_broken => {
            let other = shape
                .ports
                .iter()
                .copied()
                .find(|&q| q != want)
                .unwrap_or(want.wrapping_add(1));
            Just(other).boxed()
        }
        Some(want) => Just(want).boxed(),
        None => Just(default_port).boxed(),
    };
    let method: BoxedStrategy<HttpMethod> = match p.method {
        Some(m) if method_broken => {
            let other = if m == HttpMethod::Get {
                HttpMethod::Post
            } else {
                HttpMethod::Get
            };
            Just(other).boxed()
        }
        Some(m) => Just(m).boxed(),
        None if matches!(p.path, PathPattern::Grpc { .. }) => Just(HttpMethod::Post).boxed(),
        None => proptest::sample::select(METHODS.to_vec()).boxed(),
    };
    let headers: Vec<BoxedStrategy<Option<(String, String)>>> = p
        .headers
        .iter()
        .map(|h| {
            let name = h.name.to_ascii_lowercase();
            let value = if broken(true) {
                header_miss(h)
            } else {
                header_hit(h)
            };
            value
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    let query: Vec<BoxedStrategy<Option<(String, String)>>> = p
        .query
        .iter()
        .map(|q| {
            let name = q.name.clone();
            let value = if broken(true) {
                query_miss(q)
            } else {
                query_hit(q)
            };
            value
                .prop_map(move |v| v.map(|v| (name.clone(), v)))
                .boxed()
        })
        .collect();
    (port, method, path, headers, query)
        .prop_map(|(port, method, path, headers, query)| {
            as_sent(Draft {
                port,
                method,
                path,
                headers: headers.into_iter().flatten().collect(),
                query: query.into_iter().flatten().collect(),
            })
        })
        .boxed()
}

fn path_hit(p: &PathPattern) -> BoxedStrategy<String> {
    match p {
        PathPattern::Any => "/[a-z0-9]{0,6}".boxed(),
        PathPattern::Prefix(prefix) => {
            let prefix = prefix.clone();
            (prop_oneof![Just(String::new()), "/[a-z0-9]{1,6}", "[a-z0-9]{1,3}"])
                .prop_map(move |rest| format!("{prefix}{rest}"))
                .boxed()
        }
        PathPattern::Exact(e) => Just(e.clone()).boxed(),
        PathPattern::Regex(r) => {
            from_regex(r, Part::Path).unwrap_or_else(|| Just("/".to_string()).boxed())
        }
        PathPattern::Grpc { service, method } => {
            let service: BoxedStrategy<String> = match service {
                Some(s) => Just(s.clone()).boxed(),
                None => "[a-z]{1,4}\\.[A-Z][a-z]{0,5}".boxed(),
            };
            let method: BoxedStrategy<String> = match method {
                Some(m) => Just(m.clone()).boxed(),
                None => "[A-Z][a-z]{0,5}".boxed(),
            };
            (service, method)
                .prop_map(|(s, m)| format!("/{s}/{m}"))
                .boxed()
        }
    }
}

fn path_miss(p: &PathPattern) -> BoxedStrategy<String> {
    match p {
        PathPattern::Any => Just("/".to_string()).boxed(),
        PathPattern::Prefix(prefix) | PathPattern::Exact(prefix) => {
            let mut misses = vec![altered_last(prefix)];
            if prefix.chars().count() > 1 {
                misses.push(without_last(prefix));
            }
            if matches!(p, PathPattern::Exact(_)) {
                misses.push(format!("{prefix}x"));
            }
            proptest::sample::select(misses).boxed()
        }
        PathPattern::Regex(r) => match from_regex(r, Part::Path) {
            Some(s) => s.prop_map(|v| format!("{v}~")).boxed(),
            None => Just("/~".to_string()).boxed(),
        },
        PathPattern::Grpc { service, method } => {
            let service = service.clone().unwrap_or_else(|| "pkg.Svc".into());
            let method = method.clone().unwrap_or_else(|| "Call".into());
            proptest::sample::select(vec![
                format!("/{}/{method}", altered_last(&service)),
                format!("/{service}/{}", altered_last(&method)),
            ])
            .boxed()
        }
    }
}

fn without_last(s: &str) -> String {
    let mut t = s.to_string();
    t.pop();
    t
}

/// The text with its last character changed (to `x`, or `y` when it already is `x`).
fn altered_last(s: &str) -> String {
    let mut t = without_last(s);
    t.push(if s.ends_with('x') { 'y' } else { 'x' });
    t
}

/// A value meeting a header matcher; `None` is "send no such header". An inverted value
/// matcher needs the header, with another value: an absent header fails it (Envoy).
fn header_hit(h: &HeaderMatch) -> BoxedStrategy<Option<String>> {
    if h.invert {
        return match &h.value {
            None => Just(None).boxed(),
            Some(v) => value_miss(v).prop_map(Some).boxed(),
        };
    }
    match &h.value {
        None => "[a-z0-9]{0,4}".prop_map(Some).boxed(),
        Some(v) => value_hit(v).prop_map(Some).boxed(),
    }
}

/// A header that fails the matcher: absent, or a value just outside it.
fn header_miss(h: &HeaderMatch) -> BoxedStrategy<Option<String>> {
    if h.invert {
        return match &h.value {
            None => "[a-z0-9]{0,4}".prop_map(Some).boxed(),
            Some(v) => prop_oneof![Just(None), value_hit(v).prop_map(Some)].boxed(),
        };
    }
    match &h.value {
        None => Just(None).boxed(),
        Some(v) => prop_oneof![Just(None), value_miss(v).prop_map(Some)].boxed(),
    }
}

fn value_hit(v: &ValueMatch) -> BoxedStrategy<String> {
    match v {
        ValueMatch::Exact(e) => Just(e.clone()).boxed(),
        ValueMatch::Prefix(p) => {
            let p = p.clone();
            "[a-z0-9]{0,3}".prop_map(move |s| format!("{p}{s}")).boxed()
        }
        ValueMatch::Suffix(x) => {
            let x = x.clone();
            "[a-z0-9]{0,3}".prop_map(move |s| format!("{s}{x}")).boxed()
        }
        ValueMatch::Regex(r) => {
            from_regex(r, Part::HeaderValue).unwrap_or_else(|| Just(String::new()).boxed())
        }
        ValueMatch::Range { start, end } => {
            let (start, end) = (*start, *end);
            if start >= end {
                return Just(start.to_string()).boxed();
            }
            prop_oneof![Just(start), Just(end - 1), start..end]
                .prop_map(|n| n.to_string())
                .boxed()
        }
    }
}

fn value_miss(v: &ValueMatch) -> BoxedStrategy<String> {
    match v {
        ValueMatch::Exact(e) => {
            let mut misses = vec![format!("{e}x")];
            if !e.is_empty() {
                misses.push(without_last(e));
            }
            proptest::sample::select(misses).boxed()
        }
        ValueMatch::Prefix(p) if !p.is_empty() => {
            let first_changed: String = std::iter::once(if p.starts_with('x') { 'y' } else { 'x' })
                .chain(p.chars().skip(1))
                .collect();
            proptest::sample::select(vec![without_last(p), first_changed]).boxed()
        }
        ValueMatch::Suffix(x) if !x.is_empty() => {
            Just(x.chars().skip(1).collect::<String>()).boxed()
        }
        ValueMatch::Prefix(_) | ValueMatch::Suffix(_) => Just(String::new()).boxed(),
        ValueMatch::Regex(r) => match from_regex(r, Part::HeaderValue) {
            Some(s) => s.prop_map(|v| format!("{v}~")).boxed(),
            None => Just("~".to_string()).boxed(),
        },
        ValueMatch::Range { start, end } => proptest::sample::select(vec![
            end.to_string(),
            start.saturating_sub(1).to_string(),
            "x".to_string(),
        ])
        .boxed(),
    }
}

fn query_hit(q: &QueryParameterMatch) -> BoxedStrategy<Option<String>> {
    match &q.exact {
        Some(e) => Just(Some(e.clone())).boxed(),
        None => "[a-z0-9]{0,3}".prop_map(Some).boxed(),
    }
}

fn query_miss(q: &QueryParameterMatch) -> BoxedStrategy<Option<String>> {
    match &q.exact {
        Some(e) => prop_oneof![Just(None), Just(Some(format!("{e}x")))].boxed(),
        None => Just(None).boxed(),
    }
}

/// Requests of a service bent to meet a condition: every part the condition constrains is
/// taken from a request aimed at the condition, the rest from the service's own strategy. A
/// path the service's request already puts under the condition's prefix (or equal to its
/// exact path) is kept, so routes below the prefix are still told apart.
pub(crate) fn conformed(
    base: BoxedStrategy<Draft>,
    condition: &Pattern,
    shape: &ServiceShape,
) -> BoxedStrategy<Draft> {
    let cond = Arc::new(condition.clone());
    (base, aimed(condition, shape, None))
        .prop_map(move |(mut b, c)| {
            if cond.port.is_some() {
                b.port = c.port;
            }
            if cond.method.is_some() || matches!(cond.path, PathPattern::Grpc { .. }) {
                b.method = c.method;
            }
            let keep_path = match &cond.path {
                PathPattern::Any => true,
                PathPattern::Prefix(p) => b.path.starts_with(p.as_str()),
                PathPattern::Exact(e) => &b.path == e,
                PathPattern::Regex(_) | PathPattern::Grpc { .. } => false,
            };
            if !keep_path {
                b.path = c.path;
            }
            for h in &cond.headers {
                let name = h.name.to_ascii_lowercase();
                b.headers.retain(|(n, _)| *n != name);
                if let Some(v) = c.headers.iter().find(|(n, _)| *n == name) {
                    b.headers.push(v.clone());
                }
            }
            for q in &cond.query {
                b.query.retain(|(n, _)| *n != q.name);
                if let Some(v) = c.query.iter().find(|(n, _)| *n == q.name) {
                    b.query.push(v.clone());
                }
            }
            b
        })
        .boxed()
}
