//! Request matchers compiled from route matches: paths, headers, query parameters, gRPC.
//!
//! Semantics follow Envoy as App Mesh configures it: regexes match the whole value (RE2),
//! header names compare case-insensitively, `range` is `[start, end)` over a signed integer,
//! and a header matcher without `match` means "present". A request without the header fails
//! every matcher except the inverted "present" one (Envoy `HeaderUtility::matchHeaders`).

use std::borrow::Cow;
use std::fmt;

use regex::Regex;

use super::request::RequestHead;
use crate::config::model::{HeaderMatch, PathMatch, QueryParameterMatch, ValueMatch};

/// Why a route did not match a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The route is for another listener port.
    Port {
        /// `match.port`.
        want: u16,
        /// The port the request came in on.
        got: u16,
    },
    /// The path does not start with the prefix.
    Prefix(String),
    /// The path is not this exact path.
    ExactPath(String),
    /// The path does not match this regex.
    RegexPath(String),
    /// Another method.
    Method(&'static str),
    /// Another scheme.
    Scheme,
    /// A header matcher failed.
    Header(String),
    /// A query parameter matcher failed.
    Query(String),
    /// The gRPC service differs.
    GrpcService(String),
    /// The gRPC method differs.
    GrpcMethod(String),
    /// Not a gRPC path (`/pkg.Service/Method`).
    NotGrpc,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Port { want, got } => {
                write!(f, "route is for port {want}, request came on {got}")
            }
            Mismatch::Prefix(p) => write!(f, "path does not start with `{p}`"),
            Mismatch::ExactPath(p) => write!(f, "path is not `{p}`"),
            Mismatch::RegexPath(r) => write!(f, "path does not match /{r}/"),
            Mismatch::Method(m) => write!(f, "method is not {m}"),
            Mismatch::Scheme => write!(f, "scheme differs"),
            Mismatch::Header(h) => write!(f, "header {h}"),
            Mismatch::Query(q) => write!(f, "query parameter {q}"),
            Mismatch::GrpcService(s) => write!(f, "gRPC service is not `{s}`"),
            Mismatch::GrpcMethod(m) => write!(f, "gRPC method is not `{m}`"),
            Mismatch::NotGrpc => write!(f, "not a gRPC path"),
        }
    }
}

/// A compiled path matcher.
#[derive(Clone, Debug)]
pub(crate) enum PathMatcher {
    /// No prefix or path: every path (a match that carries only `port`).
    Any,
    Prefix(String),
    Exact(String),
    Regex(Regex, String),
}

impl PathMatcher {
    pub(crate) fn compile(prefix: Option<&str>, path: Option<&PathMatch>) -> PathMatcher {
        match (prefix, path) {
            (Some(p), _) => PathMatcher::Prefix(p.to_string()),
            (None, Some(PathMatch::Exact(p))) => PathMatcher::Exact(p.clone()),
            (None, Some(PathMatch::Regex(r))) => PathMatcher::Regex(whole(r), r.clone()),
            (None, None) => PathMatcher::Any,
        }
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        match self {
            PathMatcher::Any => true,
            PathMatcher::Prefix(p) => path.starts_with(p.as_str()),
            PathMatcher::Exact(p) => path == p,
            PathMatcher::Regex(re, _) => re.is_match(path),
        }
    }

    pub(crate) fn check(&self, path: &str) -> Result<(), Mismatch> {
        if self.matches(path) {
            Ok(())
        } else {
            Err(self.mismatch())
        }
    }

    /// Why [`PathMatcher::matches`] failed (allocates; for explanations only).
    pub(crate) fn mismatch(&self) -> Mismatch {
        match self {
            PathMatcher::Any => Mismatch::Prefix("/".into()),
            PathMatcher::Prefix(p) => Mismatch::Prefix(p.clone()),
            PathMatcher::Exact(p) => Mismatch::ExactPath(p.clone()),
            PathMatcher::Regex(_, src) => Mismatch::RegexPath(src.clone()),
        }
    }

    /// The literal every matching path starts with, for the route index.
    pub(crate) fn literal(&self) -> Option<&str> {
        match self {
            PathMatcher::Prefix(p) | PathMatcher::Exact(p) => Some(p),
            PathMatcher::Any | PathMatcher::Regex(..) => None,
        }
    }

    /// Sort rank: exact paths first, then regexes, then longer prefixes.
    pub(crate) fn specificity(&self) -> (u8, std::cmp::Reverse<usize>) {
        match self {
            PathMatcher::Exact(_) => (0, std::cmp::Reverse(0)),
            PathMatcher::Regex(..) => (1, std::cmp::Reverse(0)),
            PathMatcher::Prefix(p) => (2, std::cmp::Reverse(p.len())),
            PathMatcher::Any => (3, std::cmp::Reverse(0)),
        }
    }
}

/// A regex anchored to match the whole value, as Envoy's `safe_regex` does. Patterns were
/// checked when the configuration was loaded.
pub(crate) fn whole(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).unwrap_or_else(|_| never())
}

fn never() -> Regex {
    // A pattern that matches nothing; only reachable if validation was bypassed.
    Regex::new(r"[^\s\S]").expect("static regex")
}

/// A compiled header (or gRPC metadata) matcher.
#[derive(Clone, Debug)]
pub(crate) struct HeaderMatcher {
    name: String,
    invert: bool,
    value: ValueMatcher,
    display: String,
}

#[derive(Clone, Debug)]
enum ValueMatcher {
    Present,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(Regex),
    Range(i64, i64),
}

impl HeaderMatcher {
    pub(crate) fn compile(h: &HeaderMatch) -> HeaderMatcher {
        let value = match &h.value {
            None => ValueMatcher::Present,
            Some(ValueMatch::Exact(v)) => ValueMatcher::Exact(v.clone()),
            Some(ValueMatch::Prefix(v)) => ValueMatcher::Prefix(v.clone()),
            Some(ValueMatch::Suffix(v)) => ValueMatcher::Suffix(v.clone()),
            Some(ValueMatch::Regex(r)) => ValueMatcher::Regex(whole(r)),
            Some(ValueMatch::Range { start, end }) => ValueMatcher::Range(*start, *end),
        };
        let what = match &h.value {
            None => "present".to_string(),
            Some(ValueMatch::Exact(v)) => format!("= `{v}`"),
            Some(ValueMatch::Prefix(v)) => format!("starts with `{v}`"),
            Some(ValueMatch::Suffix(v)) => format!("ends with `{v}`"),
            Some(ValueMatch::Regex(r)) => format!("matches /{r}/"),
            Some(ValueMatch::Range { start, end }) => format!("in [{start}, {end})"),
        };
        let not = if h.invert { "not " } else { "" };
        HeaderMatcher {
            name: h.name.to_ascii_lowercase(),
            invert: h.invert,
            value,
            display: format!("`{}` {not}{what}", h.name),
        }
    }

    pub(crate) fn check(&self, req: &RequestHead) -> Result<(), Mismatch> {
        if self.matches(req) {
            Ok(())
        } else {
            Err(self.mismatch())
        }
    }

    /// Why [`HeaderMatcher::matches`] failed.
    pub(crate) fn mismatch(&self) -> Mismatch {
        Mismatch::Header(format!("{} failed", self.display))
    }

    /// Envoy's `HeaderUtility::matchHeaders` (source/common/http/header_utility.cc): with the
    /// header absent, only the inverted "present" matcher (`invert` without `match`) matches;
    /// an inverted value matcher (`exact`, `prefix`, `suffix`, `regex`, `range`) needs the
    /// header to be there with another value. `invert` flips the value test only.
    pub(crate) fn matches(&self, req: &RequestHead) -> bool {
        let Some(v) = req.header(&self.name) else {
            return self.invert && matches!(self.value, ValueMatcher::Present);
        };
        let hit = match &self.value {
            ValueMatcher::Present => true,
            ValueMatcher::Exact(e) => v == e,
            ValueMatcher::Prefix(p) => v.starts_with(p.as_str()),
            ValueMatcher::Suffix(s) => v.ends_with(s.as_str()),
            ValueMatcher::Regex(re) => re.is_match(v),
            ValueMatcher::Range(start, end) => v
                .trim()
                .parse::<i64>()
                .is_ok_and(|n| *start <= n && n < *end),
        };
        hit != self.invert
    }
}

/// A compiled query parameter matcher.
#[derive(Clone, Debug)]
pub(crate) struct QueryMatcher {
    name: String,
    exact: Option<String>,
}

impl QueryMatcher {
    pub(crate) fn compile(q: &QueryParameterMatch) -> QueryMatcher {
        QueryMatcher {
            name: q.name.clone(),
            exact: q.exact.clone(),
        }
    }

    pub(crate) fn matches(&self, req: &RequestHead) -> bool {
        match (req.query_param(&self.name), &self.exact) {
            (Some(_), None) => true,
            (Some(v), Some(e)) => v == e,
            (None, _) => false,
        }
    }

    pub(crate) fn check(&self, req: &RequestHead) -> Result<(), Mismatch> {
        match (req.query_param(&self.name), &self.exact) {
            (Some(_), None) => Ok(()),
            (Some(v), Some(e)) if v == e => Ok(()),
            (None, _) => Err(Mismatch::Query(format!("`{}` is absent", self.name))),
            (Some(v), Some(e)) => Err(Mismatch::Query(format!(
                "`{}` is `{v}`, not `{e}`",
                self.name
            ))),
        }
    }
}

/// Normalises a path as Envoy does with `normalize_path` and `merge_slashes` (App Mesh turns
/// both on): repeated slashes merge, `.` segments drop, `..` segments pop.
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if !path.contains("//") && !path.contains("/.") {
        return Cow::Borrowed(path);
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::with_capacity(path.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() || (path.ends_with('/') && !s.ends_with('/')) {
        s.push('/');
    }
    Cow::Owned(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, invert: bool, value: Option<ValueMatch>) -> HeaderMatcher {
        HeaderMatcher::compile(&HeaderMatch {
            name: name.into(),
            invert,
            value,
        })
    }

    #[test]
    fn header_semantics_follow_envoy() {
        let req = RequestHead::get("h", 80, "/").with_header("Color-Header", "125");
        // Names are case-insensitive.
        assert!(header("color-header", false, None).check(&req).is_ok());
        // Range is [start, end): 1-100 matches 1..=99 (howto-http-headers walkthrough).
        let range = |s, e| Some(ValueMatch::Range { start: s, end: e });
        assert!(
            header("color-header", false, range(100, 150))
                .check(&req)
                .is_ok()
        );
        assert!(
            header("color-header", false, range(100, 125))
                .check(&req)
                .is_err()
        );
        // An inverted presence matcher matches when the header is absent.
        assert!(header("x-absent", true, None).check(&req).is_ok());
        assert!(header("color-header", true, None).check(&req).is_err());
        // An inverted value matcher needs the header with another value: absent, it fails
        // (Envoy HeaderUtility::matchHeaders; App Mesh routes.md, "any request that has a
        // header that starts with anything other than 123").
        for value in [
            ValueMatch::Exact("a".into()),
            ValueMatch::Prefix("123".into()),
            ValueMatch::Suffix("z".into()),
            ValueMatch::Regex("a+".into()),
            ValueMatch::Range { start: 0, end: 10 },
        ] {
            assert!(
                header("x-absent", true, Some(value.clone()))
                    .check(&req)
                    .is_err(),
                "{value:?}"
            );
            let other = RequestHead::get("h", 80, "/").with_header("x-absent", "456");
            let present_other = header("x-absent", true, Some(value.clone())).check(&other);
            assert!(present_other.is_ok(), "{value:?} against 456");
        }
        // Regexes match the whole value.
        assert!(
            header("color-header", false, Some(ValueMatch::Regex("2".into())))
                .check(&req)
                .is_err()
        );
        assert!(
            header("color-header", false, Some(ValueMatch::Regex("1.5".into())))
                .check(&req)
                .is_ok()
        );
        // Non-numeric values never match a range.
        let text = RequestHead::get("h", 80, "/").with_header("color-header", "blue");
        assert!(
            header("color-header", false, range(0, 1000))
                .check(&text)
                .is_err()
        );
    }

    #[test]
    fn paths_normalise_like_envoy() {
        assert_eq!(normalize_path("/a//b/./c/../d"), "/a/b/d");
        assert_eq!(normalize_path("/orders/"), "/orders/");
        assert_eq!(normalize_path("/.."), "/");
        assert_eq!(normalize_path("/plain/path"), "/plain/path");
    }

    #[test]
    fn query_parameters_match_raw_values() {
        let req = RequestHead::get("h", 80, "/maroon/?fishes=nemo&x");
        let q = |name: &str, exact: Option<&str>| {
            QueryMatcher::compile(&QueryParameterMatch {
                name: name.into(),
                exact: exact.map(str::to_string),
            })
        };
        assert!(q("fishes", Some("nemo")).check(&req).is_ok());
        assert!(q("fishes", Some("dory")).check(&req).is_err());
        assert!(q("x", None).check(&req).is_ok());
        assert!(q("y", None).check(&req).is_err());
    }
}
