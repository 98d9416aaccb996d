//! Which requests a rollout's A/B step sends to the candidate, whatever the weights: a header
//! (exact, prefix or regex, as App Mesh route matches) or a cookie. Shared by the rollout that
//! decides the match and the proxies that apply it.

use std::fmt;

use serde::Serialize;

/// A header's value test.
#[derive(Clone, Debug)]
pub enum ValueMatch {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// The whole value matches (compiled anchored, as Envoy's `safe_regex`).
    Regex(regex::Regex),
}

impl PartialEq for ValueMatch {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ValueMatch::Exact(a), ValueMatch::Exact(b))
            | (ValueMatch::Prefix(a), ValueMatch::Prefix(b)) => a == b,
            (ValueMatch::Regex(a), ValueMatch::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// Which requests an A/B test sends to the candidate.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestMatch {
    /// A request header.
    Header {
        /// Name (case-insensitive, as HTTP's).
        name: String,
        /// Value test.
        value: ValueMatch,
    },
    /// A cookie `name=value` in the `cookie` header.
    Cookie {
        /// Cookie name.
        name: String,
        /// Cookie value, exactly.
        value: String,
    },
}

impl RequestMatch {
    /// Whether a request matches; `header` answers a header's value by lower-case name.
    pub fn matches<'a>(&self, header: impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            RequestMatch::Header { name, value } => {
                header(&name.to_ascii_lowercase()).is_some_and(|v| match value {
                    ValueMatch::Exact(e) => v == e,
                    ValueMatch::Prefix(p) => v.starts_with(p.as_str()),
                    ValueMatch::Regex(r) => r.is_match(v),
                })
            }
            RequestMatch::Cookie { name, value } => header("cookie").is_some_and(|c| {
                c.split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .any(|(n, v)| n.trim() == name && v.trim() == value)
            }),
        }
    }
}

impl fmt::Display for RequestMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestMatch::Header { name, value } => match value {
                ValueMatch::Exact(v) => write!(f, "header {name} = {v}"),
                ValueMatch::Prefix(v) => write!(f, "header {name} starts with {v}"),
                ValueMatch::Regex(r) => {
                    let shown = r
                        .as_str()
                        .strip_prefix("^(?:")
                        .and_then(|s| s.strip_suffix(")$"))
                        .unwrap_or(r.as_str());
                    write!(f, "header {name} ~ {shown}")
                }
            },
            RequestMatch::Cookie { name, value } => write!(f, "cookie {name} = {value}"),
        }
    }
}

impl Serialize for RequestMatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
