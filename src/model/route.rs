//! Which requests an endpoint of a service answers: a method and a path pattern.
//!
//! Patterns are the small subset web frameworks share (`/items/{sku}`, `/static/*`), so a
//! scenario can copy its routes from the app it models:
//! - literal segments match themselves exactly (case-sensitive, no percent-decoding: the
//!   simulated clients send paths as written in the scenario);
//! - `{name}` matches exactly one non-empty segment and captures it;
//! - a final `*` matches the rest of the path, any number of segments including none (so
//!   `/items/*` matches `/items` too), captured under the name `*`.
//!
//! The query string is not part of the match. An empty segment (`/a//b`, a trailing `/`) can
//! only be matched by `*`: `/items/` is not `/items`, as in most routers, and a pattern may
//! not contain one, so that every pattern has one spelling.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::service::ServiceError;

/// The methods an endpoint answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodMatch {
    /// Any method (`*`).
    Any,
    /// This method only (HTTP methods are case-sensitive, so `get` is not `GET`).
    Exactly(String),
}

impl MethodMatch {
    /// `*`, or an upper-case method token: letters `A`–`Z`, digits, `-` and `_` (custom
    /// methods such as `M-SEARCH` included).
    pub fn parse(text: &str) -> Result<MethodMatch, ServiceError> {
        let token = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
        if text == "*" {
            Ok(MethodMatch::Any)
        } else if !text.is_empty() && text.bytes().all(token) {
            Ok(MethodMatch::Exactly(text.to_string()))
        } else {
            Err(ServiceError::Method(text.to_string()))
        }
    }

    /// Whether a request with `method` is answered.
    pub fn matches(&self, method: &str) -> bool {
        match self {
            MethodMatch::Any => true,
            MethodMatch::Exactly(m) => m == method,
        }
    }

    /// Whether every method `other` answers, this answers too.
    fn covers(&self, other: &MethodMatch) -> bool {
        match (self, other) {
            (MethodMatch::Any, _) => true,
            (MethodMatch::Exactly(a), MethodMatch::Exactly(b)) => a == b,
            (MethodMatch::Exactly(_), MethodMatch::Any) => false,
        }
    }
}

impl fmt::Display for MethodMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodMatch::Any => f.write_str("*"),
            MethodMatch::Exactly(m) => f.write_str(m),
        }
    }
}

/// Why a path pattern was refused; each reads after `path pattern "…"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternProblem {
    /// `items/{sku}`, `*`: the pattern as written, suggested with a `/` in front.
    #[error("must start with /; did you mean \"/{0}\"?")]
    NoLeadingSlash(String),
    /// `/a//b`, `/a/`.
    #[error("has an empty segment (`//` or a trailing `/`)")]
    EmptySegment,
    /// `/*/items`.
    #[error("has `*` before its last segment (`*` matches the rest of the path)")]
    RestNotLast,
    /// `/items/{}`, `/items/sku-{id}`, `/{a b}`.
    #[error(
        "has segment `{0}`, which is not a parameter: a parameter is a whole segment `{{name}}`, \
         the name made of letters, digits and `_`"
    )]
    BadParameter(String),
    /// `/{id}/x/{id}`.
    #[error("names the parameter `{0}` twice")]
    DuplicateParameter(String),
    /// A character that means something else in a URL or a pattern.
    #[error("has `{0}` in a literal segment (not allowed: `?`, `#`, `*`, whitespace, controls)")]
    BadCharacter(char),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest,
}

/// A validated path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    segments: Vec<Segment>,
}

impl PathPattern {
    /// Parses a pattern (see the [module](self) docs for the syntax).
    pub fn parse(text: &str) -> Result<PathPattern, ServiceError> {
        let refuse = |problem| ServiceError::Pattern {
            pattern: text.to_string(),
            problem,
        };
        let Some(rest) = text.strip_prefix('/') else {
            return Err(refuse(PatternProblem::NoLeadingSlash(text.to_string())));
        };
        let mut segments = Vec::new();
        let mut names = BTreeSet::new();
        // `/` alone is the root: no segments.
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.into_iter().enumerate() {
            let segment = match part {
                "" => return Err(refuse(PatternProblem::EmptySegment)),
                "*" if i == last => Segment::Rest,
                "*" => return Err(refuse(PatternProblem::RestNotLast)),
                _ if part.contains(['{', '}']) => {
                    let name = part
                        .strip_prefix('{')
                        .and_then(|p| p.strip_suffix('}'))
                        .filter(|n| {
                            !n.is_empty()
                                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        })
                        .ok_or_else(|| refuse(PatternProblem::BadParameter(part.to_string())))?;
                    if !names.insert(name) {
                        return Err(refuse(PatternProblem::DuplicateParameter(name.to_string())));
                    }
                    Segment::Param(name.to_string())
                }
                _ => {
                    let bad = |c: char| "?#*".contains(c) || c.is_whitespace() || c.is_control();
                    if let Some(c) = part.chars().find(|c| bad(*c)) {
                        return Err(refuse(PatternProblem::BadCharacter(c)));
                    }
                    Segment::Literal(part.to_string())
                }
            };
            segments.push(segment);
        }
        Ok(PathPattern {
            text: text.to_string(),
            segments,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameters captured from `path` if it matches; anything from `?` on is ignored.
    pub fn matches(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        let rest = path.strip_prefix('/')?;
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut params = BTreeMap::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest => {
                    let tail = parts.split_off(i.min(parts.len()));
                    params.insert("*".to_string(), tail.join("/"));
                    return Some(params);
                }
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = parts.get(i).filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), (*value).to_string());
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }

    /// Whether every path `other` matches, this matches too. Exact, not a heuristic: a
    /// parameter covers any one segment, `*` covers any tail (a `*` of `other`'s included),
    /// and a literal only itself.
    fn covers(&self, other: &PathPattern) -> bool {
        for (i, mine) in self.segments.iter().enumerate() {
            match (mine, other.segments.get(i)) {
                (Segment::Rest, _) => return true,
                // `other` ends (or matches any tail) where this still needs a segment.
                (_, None | Some(Segment::Rest)) => return false,
                (Segment::Param(_), Some(_)) => {}
                (Segment::Literal(a), Some(Segment::Literal(b))) if a == b => {}
                (Segment::Literal(_), Some(_)) => return false,
            }
        }
        other.segments.len() == self.segments.len()
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A method and a path pattern: which requests one endpoint of a service answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The methods answered.
    pub method: MethodMatch,
    /// The paths answered.
    pub path: PathPattern,
}

impl Route {
    /// The parameters captured if the request matches.
    pub fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method.matches(method) {
            self.path.matches(path)
        } else {
            None
        }
    }

    /// Whether this route answers every request `later` would, so that `later`, listed after
    /// it, can never be chosen.
    pub fn shadows(&self, later: &Route) -> bool {
        self.method.covers(&later.method) && self.path.covers(&later.path)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern(text: &str) -> PathPattern {
        PathPattern::parse(text).expect("valid pattern")
    }

    fn problem(text: &str) -> PatternProblem {
        match PathPattern::parse(text) {
            Err(ServiceError::Pattern { problem, .. }) => problem,
            other => panic!("{text}: expected a pattern problem, got {other:?}"),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn literals_parameters_and_rest() {
        let items = pattern("/items/{sku}");
        assert_eq!(items.matches("/items/sku-1"), params(&[("sku", "sku-1")]));
        assert_eq!(
            items.matches("/items/sku-1?fields=all"),
            params(&[("sku", "sku-1")])
        );
        for miss in ["/items", "/items/", "/items/a/b", "/Items/a", "items/a", ""] {
            assert_eq!(items.matches(miss), None, "{miss}");
        }
        let rest = pattern("/static/*");
        assert_eq!(rest.matches("/static"), params(&[("*", "")]));
        assert_eq!(rest.matches("/static/"), params(&[("*", "")]));
        assert_eq!(rest.matches("/static/a/b"), params(&[("*", "a/b")]));
        assert_eq!(rest.matches("/staticx"), None);
        assert_eq!(pattern("/*").matches("/"), params(&[("*", "")]));
        let root = pattern("/");
        assert_eq!(root.matches("/"), params(&[]));
        assert_eq!(root.matches("/?q=1"), params(&[]));
        assert_eq!(root.matches("/a"), None);
        assert_eq!(pattern("/reserve").matches("/reserve/"), None);
    }

    #[test]
    fn malformed_patterns_say_what_is_wrong() {
        assert_eq!(
            problem("items"),
            PatternProblem::NoLeadingSlash("items".into())
        );
        assert_eq!(problem(""), PatternProblem::NoLeadingSlash(String::new()));
        // A bare `*` is the catch-all written without its slash.
        assert_eq!(
            ServiceError::Pattern {
                pattern: "*".into(),
                problem: problem("*")
            }
            .to_string(),
            "path pattern \"*\" must start with /; did you mean \"/*\"?"
        );
        assert_eq!(problem("/a//b"), PatternProblem::EmptySegment);
        assert_eq!(problem("/a/"), PatternProblem::EmptySegment);
        assert_eq!(problem("/*/a"), PatternProblem::RestNotLast);
        assert_eq!(problem("/a/{}"), PatternProblem::BadParameter("{}".into()));
        assert_eq!(
            problem("/a/sku-{id}"),
            PatternProblem::BadParameter("sku-{id}".into())
        );
        assert_eq!(
            problem("/{a b}"),
            PatternProblem::BadParameter("{a b}".into())
        );
        assert_eq!(
            problem("/{id}/x/{id}"),
            PatternProblem::DuplicateParameter("id".into())
        );
        assert_eq!(problem("/a?x=1"), PatternProblem::BadCharacter('?'));
        assert_eq!(problem("/a*"), PatternProblem::BadCharacter('*'));
        assert_eq!(problem("/a b"), PatternProblem::BadCharacter(' '));
        let message = PathPattern::parse("/a//b").expect_err("empty").to_string();
        assert_eq!(
            message,
            "path pattern \"/a//b\" has an empty segment (`//` or a trailing `/`)"
        );
    }

    #[test]
    fn methods_are_upper_case_tokens_or_any() {
        assert_eq!(MethodMatch::parse("*"), Ok(MethodMatch::Any));
        assert_eq!(
            MethodMatch::parse("M-SEARCH"),
            Ok(MethodMatch::Exactly("M-SEARCH".into()))
        );
        for bad in ["", "get", "Get", "GET ", "G/T", "**"] {
            assert_eq!(
                MethodMatch::parse(bad),
                Err(ServiceError::Method(bad.into())),
                "{bad:?}"
            );
        }
        assert!(!MethodMatch::Exactly("GET".into()).matches("get"));
    }

    #[test]
    fn shadowing_is_exact() {
        let route = |m: &str, p: &str| Route {
            method: MethodMatch::parse(m).expect("method"),
            path: pattern(p),
        };
        let shadows = |a: (&str, &str), b: (&str, &str)| route(a.0, a.1).shadows(&route(b.0, b.1));
        assert!(shadows(("*", "/*"), ("GET", "/items/{sku}")));
        assert!(shadows(("GET", "/items/{a}"), ("GET", "/items/x")));
        assert!(shadows(("GET", "/items/*"), ("GET", "/items")));
        assert!(shadows(("GET", "/items/*"), ("GET", "/items/*")));
        assert!(shadows(("GET", "/a/{x}/*"), ("GET", "/a/b/c/*")));
        assert!(!shadows(("GET", "/items/{a}"), ("POST", "/items/x")));
        assert!(!shadows(("GET", "/items/x"), ("GET", "/items/{a}")));
        assert!(!shadows(("GET", "/items/{a}"), ("GET", "/items/*")));
        assert!(!shadows(("GET", "/items/{a}"), ("GET", "/items")));
        assert!(!shadows(("GET", "/items"), ("GET", "/items/*")));
        assert!(!shadows(("GET", "/items"), ("*", "/items")));
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("a".to_string()),
            Just("b".to_string()),
            Just("{p}".to_string()),
            Just("{q}".to_string()),
        ]
    }

    fn pattern_text() -> impl Strategy<Value = String> {
        (prop::collection::vec(segment(), 0..4), any::<bool>()).prop_map(|(mut segs, rest)| {
            // Distinct parameter names, so every generated pattern is valid.
            let mut n = 0;
            for s in &mut segs {
                if s.starts_with('{') {
                    *s = format!("{{p{n}}}");
                    n += 1;
                }
            }
            if rest {
                segs.push("*".to_string());
            }
            format!("/{}", segs.join("/"))
        })
    }

    fn path_text() -> impl Strategy<Value = String> {
        let seg = prop_oneof![Just("a"), Just("b"), Just("c"), Just("")];
        prop::collection::vec(seg, 0..6).prop_map(|segs| format!("/{}", segs.join("/")))
    }

    proptest! {
        #[test]
        fn a_shadowing_pattern_matches_every_path_the_shadowed_one_does(
            a in pattern_text(),
            b in pattern_text(),
            paths in prop::collection::vec(path_text(), 1..40),
        ) {
            // `covers` claims a ⊇ b; check it on sample paths, and check that when a path
            // matches b but not a, `covers` said no.
            let (pa, pb) = (pattern(&a), pattern(&b));
            for path in &paths {
                if pb.matches(path).is_some() && pa.matches(path).is_none() {
                    prop_assert!(!pa.covers(&pb), "{a} covers {b} but misses {path}");
                }
            }
            prop_assert!(pa.covers(&pa), "{a} does not cover itself");
        }
    }
}
