//! Engine micro-benchmarks (criterion). Figures and the machine go in docs/PERFORMANCE.md.
//!
//! `cargo bench --bench engine`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use std::time::Duration;

use meshsim::config::model::Protocol;
use meshsim::config::{LoadOptions, load_paths, load_texts};
use meshsim::engine::balancer::BalancerConfig;
use meshsim::engine::breaker::{Admission, ListenerPool};
use meshsim::engine::endpoints::Endpoints;
use meshsim::engine::exchange::Exchange;
use meshsim::engine::outlier::RequestResult;
use meshsim::engine::retry::{AttemptOutcome, RetryRules};
use meshsim::engine::{Engine, RequestHead, SimTime, seed};

/// A router with 50 routes: distinct prefixes, half with an exact header match, every fifth
/// with a regex header match. The request matches the last route, so selection walks all 50.
fn fifty_routes() -> Engine {
    let mut files = vec![
        (
            "vr.json".to_string(),
            r#"{"meshName":"m","virtualRouterName":"r","spec":{"listeners":[{"portMapping":{"port":80,"protocol":"http"}}]}}"#.to_string(),
        ),
        (
            "vs.json".to_string(),
            r#"{"meshName":"m","virtualServiceName":"s","spec":{"provider":{"virtualRouter":{"virtualRouterName":"r"}}}}"#.to_string(),
        ),
        (
            "n.json".to_string(),
            r#"{"meshName":"m","virtualNodeName":"n","spec":{"listeners":[{"portMapping":{"port":80,"protocol":"http"}}],"serviceDiscovery":{"dns":{"hostname":"n"}}}}"#.to_string(),
        ),
    ];
    for i in 0..50 {
        let header = if i % 5 == 0 {
            r#","headers":[{"name":"x-tenant","match":{"regex":"tenant-[0-9]+"}}]"#.to_string()
        } else if i % 2 == 0 {
            format!(r#","headers":[{{"name":"x-version","match":{{"exact":"v{i}"}}}}]"#)
        } else {
            String::new()
        };
        let prefix = if i == 49 {
            "/".to_string()
        } else {
            format!("/api/service-{i}/")
        };
        files.push((
            format!("r{i}.json"),
            format!(
                r#"{{"meshName":"m","virtualRouterName":"r","routeName":"route-{i:02}","spec":{{"priority":{i},"httpRoute":{{"match":{{"prefix":"{prefix}"{header}}},"action":{{"weightedTargets":[{{"virtualNode":"n","weight":1}}]}}}}}}}}"#
            ),
        ));
    }
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let loaded = load_texts(&refs, &LoadOptions::default());
    assert!(loaded.is_valid(), "benchmark mesh must be valid");
    Engine::new(&loaded.meshes["m"])
}

fn route_selection(c: &mut Criterion) {
    let engine = fifty_routes();
    let req = RequestHead::get("s", 80, "/orders/42")
        .with_header("x-tenant", "tenant-7")
        .with_header("x-version", "v3");
    assert_eq!(
        engine
            .route("s", &req)
            .map(|r| r.route.name.clone())
            .ok()
            .as_deref(),
        Some("route-49")
    );
    c.bench_function("route_select_50_routes_last_matches", |b| {
        b.iter(|| {
            engine
                .route(black_box("s"), black_box(&req))
                .map(|r| r.route.priority)
        })
    });
    let regex =
        RequestHead::get("s", 80, "/api/service-45/items").with_header("x-tenant", "tenant-7");
    assert_eq!(
        engine
            .route("s", &regex)
            .map(|r| r.route.name.clone())
            .ok()
            .as_deref(),
        Some("route-45")
    );
    c.bench_function("route_select_50_routes_regex_header_match", |b| {
        b.iter(|| {
            engine
                .route(black_box("s"), black_box(&regex))
                .map(|r| r.route.priority)
        })
    });
    let early = RequestHead::get("s", 80, "/api/service-3/items");
    c.bench_function("route_select_50_routes_early_match", |b| {
        b.iter(|| {
            engine
                .route(black_box("s"), black_box(&early))
                .map(|r| r.route.priority)
        })
    });
    let routed = engine.route("s", &req).expect("route").route;
    let mut rng = seed::stream(1, "bench");
    c.bench_function("weighted_split", |b| {
        b.iter(|| routed.choose_target(black_box(&mut rng)).weight)
    });
}

/// One full attempt decision as the client and server Envoys make it: route, weighted split,
/// endpoint pick (round robin with outlier detection), server listener admission, retry
/// bookkeeping for the outcome, then the completion on both sides.
fn per_attempt_decision(c: &mut Criterion) {
    let loaded = load_paths(
        &[concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/ordering/mesh.cfn.yaml"
        )],
        &LoadOptions::default(),
    );
    let mesh = &loaded.meshes["ordering"];
    let engine = Engine::new(mesh);
    let listener = &mesh.virtual_nodes["order-v1"].spec.listeners[0];
    let mut rng = seed::stream(7, "bench/attempt");
    let mut endpoints = Endpoints::new(
        BalancerConfig::default(),
        listener.outlier_detection.as_ref(),
        None,
        3,
        SimTime::ZERO,
        &mut rng,
    );
    let mut pool = ListenerPool::for_listener(Protocol::Http, listener.connection_pool.as_ref());
    let req = RequestHead::get("order.ordering.local", 8080, "/orders/42");
    let mut now = SimTime::ZERO;
    c.bench_function("per_attempt_decision", |b| {
        b.iter(|| {
            now = now + Duration::from_micros(100);
            let routed = engine
                .route("order.ordering.local", black_box(&req))
                .expect("route");
            let target = routed.route.choose_target(&mut rng);
            let pick = endpoints.pick(now, &mut rng).expect("host");
            endpoints.on_request_start(pick.host);
            let admitted = matches!(pool.admit(now), Admission::Dispatch { .. });
            let rules = RetryRules::resolve(routed.route.retry_policy.as_ref());
            let mut exchange = Exchange::new(now, rules, routed.route.per_request_timeout);
            let plan = exchange.start_attempt(now).expect("plan");
            let next = exchange.on_outcome(now, AttemptOutcome::status(200), &mut rng);
            pool.on_complete(now);
            endpoints.on_request_end(
                now,
                pick.host,
                Duration::from_millis(3),
                RequestResult::Success,
            );
            black_box((target.weight, admitted, plan.number, next))
        })
    });
}

criterion_group!(benches, route_selection, per_attempt_decision);
criterion_main!(benches);
