//! A/B tests on simulated time, and request matching.

use crate::rollout::testkit::{World, rolled_back, s, spec};
use crate::rollout::{Action, RequestMatch, Verdict};

const NODES: &str =
    r#""router": "inventory", "route": "inventory", "stable": "v1", "candidate": "v2""#;

fn ab(matcher: &str, extra: &str) -> String {
    format!(
        r#"{{ {NODES}, "strategy": {{ "ab_test": {{ "match": {matcher}, "iterations": 3,
             "interval": "1m" {extra} }} }},
             "analysis": {{ "checks": [ {{ "success_rate": ">= 99%" }} ] }} }}"#
    )
}

const HEADER: &str = r#"{ "header": "x-canary", "exact": "insider" }"#;

fn header_routes(w: &World) -> Vec<(u64, Option<String>)> {
    w.actions
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SetHeaderRoute(m) => Some((
                t.as_nanos() / 1_000_000_000,
                m.as_ref().map(|m| m.to_string()),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn matching_requests_go_to_the_candidate_until_promotion() {
    let mut w = World::new(&ab(HEADER, ""));
    w.run_until(s(1000));
    // Flagger: iterations × interval, then everything to the candidate and the match removed.
    assert_eq!((w.verdict(), w.decided_at()), (Verdict::Promoted, s(180)));
    assert_eq!(
        header_routes(&w),
        vec![(0, Some("header x-canary = insider".into())), (180, None)]
    );
    assert_eq!(w.weight_changes(), vec![(180, 100)]);
    // 20 of 100 rps match: 1200 candidate requests a minute.
    assert!(w.rollout.report().checks.iter().all(|c| c.requests == 1200));
}

#[test]
fn failed_checks_reach_the_threshold_and_roll_back() {
    let mut w = World::new(&ab(HEADER, r#", "threshold": 2"#)).candidate_fails_from(s(0));
    w.run_until(s(1000));
    let v = w.verdict();
    assert_eq!(rolled_back(&v).2, s(120));
    assert_eq!(w.decided_at(), s(180));
    assert_eq!(header_routes(&w).last(), Some(&(180, None)));
    assert_eq!(w.weight_changes(), vec![], "weights never moved");
}

fn matcher(json: &str) -> RequestMatch {
    match crate::rollout::Rollout::from_spec(&spec(&ab(json, "")))
        .map(|r| r.plan().steps[0].clone())
    {
        Ok(crate::rollout::Step::SetHeaderRoute(Some(m))) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn headers_and_cookies_match_like_envoy() {
    let headers = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    };
    let exact = matcher(r#"{ "header": "X-Canary", "exact": "insider" }"#);
    assert!(exact.matches(headers(&[("x-canary", "insider")])));
    assert!(!exact.matches(headers(&[("x-canary", "insiders")])));
    let prefix = matcher(r#"{ "header": "user-agent", "prefix": "Mozilla" }"#);
    assert!(prefix.matches(headers(&[("user-agent", "Mozilla/5.0")])));
    let regex = matcher(r#"{ "header": "x-user", "regex": "[0-9]+" }"#);
    assert!(regex.matches(headers(&[("x-user", "42")])));
    assert!(
        !regex.matches(headers(&[("x-user", "42a")])),
        "the whole value"
    );
    assert_eq!(regex.to_string(), "header x-user ~ [0-9]+");
    let cookie = matcher(r#"{ "cookie": "canary", "value": "always" }"#);
    assert!(cookie.matches(headers(&[("cookie", "a=1; canary=always;b=2")])));
    assert!(!cookie.matches(headers(&[("cookie", "xcanary=always")])));
    assert!(!cookie.matches(headers(&[])));
}

#[test]
fn a_match_is_one_subject_compared_one_way() {
    let paths = |m: &str, extra: &str| -> Vec<String> {
        spec(&ab(m, extra))
            .build()
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.path)
            .collect()
    };
    assert_eq!(
        paths(r#"{ "header": "a", "cookie": "b", "exact": "x" }"#, ""),
        vec!["strategy.ab_test.match.cookie"]
    );
    assert_eq!(
        paths(r#"{ "header": "a" }"#, ""),
        vec!["strategy.ab_test.match"]
    );
    assert_eq!(
        paths(r#"{ "header": "a", "exact": "x", "regex": "y" }"#, ""),
        vec!["strategy.ab_test.match.regex"]
    );
    assert_eq!(
        paths(r#"{ "header": "a", "regex": "(" }"#, ""),
        vec!["strategy.ab_test.match.regex"]
    );
    assert_eq!(
        paths(r#"{ "cookie": "c", "exact": "x", "value": "v" }"#, ""),
        vec!["strategy.ab_test.match.exact"]
    );
    assert_eq!(
        paths(r#"{ "cookie": "c" }"#, ""),
        vec!["strategy.ab_test.match"]
    );
    let zero = format!(
        r#"{{ {NODES}, "strategy": {{ "ab_test": {{ "match": {HEADER}, "iterations": 0 }} }} }}"#
    );
    let e = spec(&zero).build().expect_err("zero");
    assert_eq!(e[0].path, "strategy.ab_test.iterations");
}
