//! Properties of the engine's routing and retry decisions (proptest).

use std::time::Duration;

use meshsim::config::model::{HttpRetryEvent, RetryPolicy};
use meshsim::config::{LoadOptions, load_texts};
use meshsim::engine::exchange::{Exchange, Next};
use meshsim::engine::retry::{AttemptOutcome, ResetReason, RetryRules};
use meshsim::engine::{Engine, RequestHead, SimTime, seed};
use proptest::prelude::*;

/// One route of a generated router: prefix, optional priority, optional exact header.
#[derive(Clone, Debug)]
struct GenRoute {
    prefix: String,
    priority: Option<u32>,
    header: Option<String>,
}

fn gen_route() -> impl Strategy<Value = GenRoute> {
    (
        prop::sample::select(vec!["/", "/a", "/a/b", "/b", "/a/b/c"]),
        prop::option::of(0u32..5),
        prop::option::of(prop::sample::select(vec!["x", "y"])),
    )
        .prop_map(|(p, priority, h)| GenRoute {
            prefix: p.to_string(),
            priority,
            header: h.map(str::to_string),
        })
}

/// A mesh (API JSON texts) with one router holding the generated routes, each to its own node.
fn mesh_texts(routes: &[GenRoute], weights: &[u32]) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "vr.json".to_string(),
            r#"{"meshName":"m","virtualRouterName":"r","spec":{"listeners":[{"portMapping":{"port":80,"protocol":"http"}}]}}"#.to_string(),
        ),
        (
            "vs.json".to_string(),
            r#"{"meshName":"m","virtualServiceName":"s","spec":{"provider":{"virtualRouter":{"virtualRouterName":"r"}}}}"#.to_string(),
        ),
    ];
    let nodes = routes.len().max(weights.len());
    for i in 0..nodes {
        files.push((
            format!("n{i}.json"),
            format!(
                r#"{{"meshName":"m","virtualNodeName":"n{i}","spec":{{"listeners":[{{"portMapping":{{"port":80,"protocol":"http"}}}}],"serviceDiscovery":{{"dns":{{"hostname":"n{i}"}}}}}}}}"#
            ),
        ));
    }
    for (i, r) in routes.iter().enumerate() {
        let priority = r
            .priority
            .map(|p| format!(r#""priority":{p},"#))
            .unwrap_or_default();
        let headers = r
            .header
            .as_ref()
            .map(|h| format!(r#","headers":[{{"name":"h","match":{{"exact":"{h}"}}}}]"#))
            .unwrap_or_default();
        let targets = if i == 0 && !weights.is_empty() {
            weights
                .iter()
                .enumerate()
                .map(|(j, w)| format!(r#"{{"virtualNode":"n{j}","weight":{w}}}"#))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            format!(r#"{{"virtualNode":"n{i}","weight":1}}"#)
        };
        files.push((
            format!("route{i}.json"),
            format!(
                r#"{{"meshName":"m","virtualRouterName":"r","routeName":"route{i}","spec":{{{priority}"httpRoute":{{"match":{{"prefix":"{}"{headers}}},"action":{{"weightedTargets":[{targets}]}}}}}}}}"#,
                r.prefix
            ),
        ));
    }
    files
}

fn engine_for(routes: &[GenRoute], weights: &[u32]) -> Engine {
    let texts = mesh_texts(routes, weights);
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let loaded = load_texts(&refs, &LoadOptions::default());
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .map(|d| d.one_line(&loaded.sources))
        .collect();
    assert!(loaded.is_valid(), "{errors:#?}");
    Engine::new(&loaded.meshes["m"])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The first matching route by priority always wins: checked against an independent
    /// reference (lowest priority; unset after set; then longest prefix, more constraints,
    /// name).
    #[test]
    fn the_first_matching_route_by_priority_wins(
        routes in prop::collection::vec(gen_route(), 1..8),
        path in prop::sample::select(vec!["/", "/a", "/a/b/c/d", "/b/x", "/c"]),
        header in prop::option::of(prop::sample::select(vec!["x", "y", "z"])),
    ) {
        let engine = engine_for(&routes, &[]);
        let mut req = RequestHead::get("s", 80, path);
        if let Some(h) = header {
            req = req.with_header("h", h);
        }
        let expected = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| path.starts_with(r.prefix.as_str()) && r.header.as_deref().is_none_or(|h| Some(h) == header))
            .min_by_key(|(i, r)| (r.priority.unwrap_or(1001), std::cmp::Reverse(r.prefix.len()), std::cmp::Reverse(usize::from(r.header.is_some())), format!("route{i}")))
            .map(|(i, _)| format!("route{i}"));
        let got = engine.route("s", &req).ok().map(|r| r.route.name.clone());
        prop_assert_eq!(got, expected);
    }

    /// Attempts never exceed maxRetries + 1, and no attempt and no answer outlives the route
    /// timeout, whatever the outcomes and their timing.
    #[test]
    fn attempts_are_bounded_by_max_retries_and_the_route_timeout(
        max_retries in 0u32..6,
        per_try_ms in 1u64..500,
        route_ms in prop::option::of(1u64..2000),
        outcomes in prop::collection::vec((0u8..6, 0u64..600), 1..12),
        seed_value in any::<u64>(),
    ) {
        let rules = RetryRules::resolve(Some(&RetryPolicy {
            max_retries,
            per_retry_timeout: Duration::from_millis(per_try_ms),
            http_retry_events: vec![HttpRetryEvent::ServerError],
            tcp_retry_events: Vec::new(),
            grpc_retry_events: Vec::new(),
        }));
        let route_deadline = route_ms.map(SimTime::from_millis);
        let mut ex = Exchange::new(SimTime::ZERO, rules, route_ms.map(Duration::from_millis));
        let mut rng = seed::stream(seed_value, "exchange");
        let mut now = SimTime::ZERO;
        let mut steps = outcomes.iter().cycle();
        let final_answer = loop {
            let plan = match ex.start_attempt(now) {
                Ok(plan) => plan,
                Err(f) => break f,
            };
            prop_assert!(plan.number <= max_retries + 1);
            if let (Some(d), Some(r)) = (plan.deadline, route_deadline) {
                prop_assert!(d <= r);
            }
            let &(kind, took_ms) = steps.next().expect("cycle");
            let mut end = now + Duration::from_millis(took_ms);
            let outcome = match plan.deadline {
                Some(d) if end >= d => {
                    end = d;
                    if Some(d) == route_deadline {
                        break ex.on_route_timeout(d);
                    }
                    AttemptOutcome::Reset(ResetReason::PerTryTimeout)
                }
                _ => match kind {
                    0 => AttemptOutcome::status(200),
                    1 => AttemptOutcome::status(503),
                    2 => AttemptOutcome::status(500),
                    3 => AttemptOutcome::Reset(ResetReason::Disconnect),
                    4 => AttemptOutcome::Reset(ResetReason::ConnectFailure),
                    _ => AttemptOutcome::status(404),
                },
            };
            match ex.on_outcome(end, outcome, &mut rng) {
                Next::Retry { at, .. } => now = at,
                Next::Finish(f) => break f,
            }
        };
        prop_assert!(final_answer.attempts <= max_retries + 1);
        if let Some(r) = route_deadline {
            prop_assert!(final_answer.at <= r, "answered at {} after the deadline {}", final_answer.at, r);
        }
    }

    /// The same seed and inputs give the same decisions.
    #[test]
    // Up to 4 weights of at most 25: App Mesh refuses a route whose weights add up past 100.
    fn the_same_seed_gives_the_same_decisions(seed_value in any::<u64>(), weights in prop::collection::vec(1u32..=25, 2..5)) {
        let routes = vec![GenRoute { prefix: "/".into(), priority: None, header: None }];
        let engine = engine_for(&routes, &weights);
        let route = engine.route("s", &RequestHead::get("s", 80, "/")).expect("route").route;
        let run = || {
            let mut rng = seed::stream(seed_value, "client/split");
            (0..200).map(|_| route.choose_target(&mut rng).virtual_node.clone()).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }
}

proptest! {
    // A statistical check: each target has a 0.1 % chance to fall outside its interval by
    // chance, so with freshly random cases some run would eventually fail for no reason. The
    // case generator is pinned, so the verdict is reproducible (a seed sweep of the split
    // itself: 5 of 5,000 seeds beyond 3.29 sigma, as expected of an unbiased split).
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d65_7368),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// The observed split of N choices lies within the 99.9 % binomial interval of the
    /// configured weights (normal approximation, 3.29 standard deviations), and a weight of 0
    /// is never chosen.
    #[test]
    fn weighted_split_matches_the_weights(
        // Up to 5 weights of at most 20, so the total stays within App Mesh's 100.
        weights in prop::collection::vec(0u32..=20, 1..6).prop_filter("total > 0", |w| w.iter().sum::<u32>() > 0),
        seed_value in any::<u64>(),
    ) {
        let routes = vec![GenRoute { prefix: "/".into(), priority: None, header: None }];
        let engine = engine_for(&routes, &weights);
        let route = engine.route("s", &RequestHead::get("s", 80, "/")).expect("route").route;
        let mut rng = seed::stream(seed_value, "split");
        let n = 20_000u32;
        let mut counts = vec![0u32; weights.len()];
        for _ in 0..n {
            let t = route.choose_target(&mut rng);
            let i: usize = t.virtual_node[1..].parse().expect("node index");
            counts[i] += 1;
        }
        let total: u32 = weights.iter().sum();
        for (w, c) in weights.iter().zip(&counts) {
            let p = f64::from(*w) / f64::from(total);
            if *w == 0 {
                prop_assert_eq!(*c, 0);
                continue;
            }
            let mean = p * f64::from(n);
            let sd = (f64::from(n) * p * (1.0 - p)).sqrt();
            prop_assert!((f64::from(*c) - mean).abs() <= 3.29 * sd + 1.0, "weight {} got {} of {} (mean {})", w, c, n, mean);
        }
    }
}
