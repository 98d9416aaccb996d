//! A/B testing, after Flagger: requests that match a header or a cookie go to the candidate
//! (all of them, whatever the weights), the rest stay on the stable version; every `interval`
//! the checks run; after `iterations` passed intervals the candidate is promoted, and
//! `threshold` failed checks roll back one tick later, as for a Flagger canary. App Mesh
//! routes match one header per route, so the match becomes a route of its own ahead of the
//! weighted one. A cookie is matched by name and value in the `cookie` header (Flagger writes
//! the regex `^(.*?;)?(name=value)(;.*)?$` for the same thing).

use super::build::{Errors, Problem, join};
use super::canary::schedule;
use super::plan::{RequestMatch, Step, ValueMatch};
use super::spec::{AbTestSpec, MatchSpec};

/// The steps of an A/B test (without the final promotion).
pub(super) fn steps(spec: &AbTestSpec, path: &str, e: &mut Errors) -> Vec<(Step, String)> {
    let matcher = request_match(&spec.matcher, &join(path, "match"), e);
    e.at_least(
        &join(path, "iterations"),
        "iterations",
        1,
        i64::from(spec.iterations),
    );
    let (interval, threshold) = schedule(spec.interval, spec.threshold, path, e);
    let mut out = vec![(Step::SetHeaderRoute(matcher), join(path, "match"))];
    for _ in 0..spec.iterations {
        out.push((
            Step::Gate {
                interval,
                threshold,
            },
            path.to_string(),
        ));
    }
    out
}

/// A header or cookie match, checked: one subject, one way to compare.
pub(super) fn request_match(m: &MatchSpec, path: &str, e: &mut Errors) -> Option<RequestMatch> {
    let at = |k: &str| join(path, k);
    let compares: Vec<(&str, &String)> = [
        ("exact", &m.exact),
        ("prefix", &m.prefix),
        ("regex", &m.regex),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    match (&m.header, &m.cookie) {
        (Some(_), Some(_)) => {
            e.push(
                at("cookie"),
                Problem::Conflict {
                    field: "cookie",
                    other: "header",
                    why: "a match tests one header or one cookie (App Mesh matches one \
                          condition per route)",
                },
            );
            None
        }
        (None, None) => {
            e.push(
                path,
                Problem::Missing("a match names a `header` or a `cookie`"),
            );
            None
        }
        (Some(name), None) => {
            if m.value.is_some() {
                e.push(
                    at("value"),
                    Problem::Invalid(
                        "`value` is a cookie's; a header takes `exact`, `prefix` or `regex`".into(),
                    ),
                );
            }
            if name.trim().is_empty() {
                e.push(at("header"), Problem::Empty("the header's name"));
            }
            match compares.as_slice() {
                [("exact", v)] => Some(ValueMatch::Exact((*v).clone())),
                [("prefix", v)] => Some(ValueMatch::Prefix((*v).clone())),
                [(_, v)] => match regex::Regex::new(&format!("^(?:{v})$")) {
                    Ok(r) => Some(ValueMatch::Regex(r)),
                    Err(err) => {
                        e.push(
                            at("regex"),
                            Problem::Invalid(format!("`{v}` is not a valid regex: {err}")),
                        );
                        None
                    }
                },
                [] => {
                    e.push(
                        path,
                        Problem::Missing("a header match needs `exact`, `prefix` or `regex`"),
                    );
                    None
                }
                [_, (second, _), ..] => {
                    e.push(
                        at(second),
                        Problem::Invalid(format!(
                            "a header match compares one way; `{second}` is one too many"
                        )),
                    );
                    None
                }
            }
            .map(|value| RequestMatch::Header {
                name: name.clone(),
                value,
            })
        }
        (None, Some(name)) => {
            if let Some((k, _)) = compares.first() {
                e.push(
                    at(k),
                    Problem::Invalid(format!("`{k}` is a header's; a cookie takes `value`")),
                );
            }
            if name.trim().is_empty() {
                e.push(at("cookie"), Problem::Empty("the cookie's name"));
            }
            match &m.value {
                Some(v) => Some(RequestMatch::Cookie {
                    name: name.clone(),
                    value: v.clone(),
                }),
                None => {
                    e.push(path, Problem::Missing("a cookie match needs its `value`"));
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
