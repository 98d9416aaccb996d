//! The engine on real App Mesh configurations: route order, header semantics, gateway
//! rewrites, weights. Each test names the walkthrough whose documented behaviour it checks;
//! the files are copies in tests/fixtures/appmesh-examples (see the README there).

use std::path::Path;

use meshsim::config::{LoadOptions, Mesh, load_paths, load_texts};
use meshsim::engine::{Engine, NoRoute, RequestHead, seed};

fn example(path: &str, vars: &[(&str, &str)], params: &[(&str, &str)], partial: bool) -> Mesh {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    let opts = LoadOptions {
        vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        partial,
        ..LoadOptions::default()
    };
    let loaded = load_paths(&[full], &opts);
    assert!(loaded.is_valid(), "{path}");
    loaded.meshes.into_values().next().expect("one mesh")
}

fn node_for(engine: &Engine, service: &str, req: &RequestHead) -> String {
    let routed = engine.route(service, req).expect("a route");
    let mut rng = seed::stream(1, "test");
    routed.route.choose_target(&mut rng).virtual_node.clone()
}

#[test]
fn kubernetes_header_routes_follow_priority_then_the_catch_all() {
    // howto-k8s-http-headers: exact `blue` (10), regex `.*green.*` (20), prefix `red` (30),
    // present (40), and a catch-all without priority that must come last.
    let mesh = example(
        "appmesh-examples/walkthroughs/howto-k8s-http-headers/v1beta2/manifest.yaml.template",
        &[("APP_NAMESPACE", "ns"), ("MESH_NAME", "m")],
        &[],
        false,
    );
    let engine = Engine::new(&mesh);
    let vs = "color.ns.svc.cluster.local";
    let req = |v: Option<&str>| {
        let r = RequestHead::get(vs, 8080, "/");
        match v {
            Some(v) => r.with_header("color_header", v),
            None => r,
        }
    };
    assert_eq!(node_for(&engine, vs, &req(Some("blue"))), "blue_ns");
    assert_eq!(
        node_for(&engine, vs, &req(Some("lightgreenish"))),
        "green_ns"
    );
    assert_eq!(node_for(&engine, vs, &req(Some("redish"))), "red_ns");
    assert_eq!(node_for(&engine, vs, &req(Some("anything"))), "yellow_ns");
    assert_eq!(node_for(&engine, vs, &req(None)), "white_ns");
    // `blue` must match exactly: `blue2` falls through to "present".
    assert_eq!(node_for(&engine, vs, &req(Some("blue2"))), "yellow_ns");
}

#[test]
fn cloudformation_priorities_let_a_catch_all_shadow_later_routes() {
    // howto-http-headers/app.yaml: the catch-all `black` route has priority 300, so the range,
    // presence, method and inverted routes (900..1000) can never match: first match wins.
    let mesh = example(
        "appmesh-examples/walkthroughs/howto-http-headers/app.yaml",
        &[],
        &[("ProjectName", "p")],
        false,
    );
    let engine = Engine::new(&mesh);
    let vs = "color.p.local";
    let with = |v: &str| RequestHead::get(vs, 8080, "/").with_header("color_header", v);
    assert_eq!(node_for(&engine, vs, &with("redorgreen")), "green-node");
    assert_eq!(node_for(&engine, vs, &with("125")), "black-node");
    assert_eq!(
        node_for(&engine, vs, &RequestHead::get(vs, 8080, "/")),
        "black-node"
    );
    let why = engine.explain(vs, &with("125")).expect("explanation");
    assert_eq!(why.matched.as_deref(), Some("color-route-black"));
    assert_eq!(why.skipped.len(), 2, "{why:?}");
}

#[test]
fn a_zero_weight_target_gets_nothing() {
    // eks-appmesh-connectivity yelb-db: tcp route weighted 100/0.
    let mesh = example(
        "appmesh-examples/blogs/eks-appmesh-connectivity/deployments/yaml/mesh/appmesh/yelb-db-mesh.yaml",
        &[],
        &[],
        true,
    );
    let engine = Engine::new(&mesh);
    let req = RequestHead::get("yelb-db", 5432, "/");
    let route = engine.route("yelb-db", &req).expect("route").route;
    let mut rng = seed::stream(9, "split");
    for _ in 0..10_000 {
        assert_eq!(route.choose_target(&mut rng).virtual_node, "yelb-db-node");
    }
}

#[test]
fn gateway_rewrites_prefix_and_host() {
    // howto-match-and-rewrite-at-ingress: `/maroon/` with `fishes=nemo` goes to the color
    // service as `/red/`, and Host becomes the service name.
    let gw = r#"{"meshName": "m", "virtualGatewayName": "gw", "spec": {"listeners": [{"portMapping": {"port": 9080, "protocol": "http"}}]}}"#;
    let route = r#"{"meshName": "m", "virtualGatewayName": "gw", "gatewayRouteName": "maroon", "spec": {"httpRoute": {
        "match": {"prefix": "/maroon/", "queryParameters": [{"name": "fishes", "match": {"exact": "nemo"}}]},
        "action": {"target": {"virtualService": {"virtualServiceName": "color.local"}}, "rewrite": {"prefix": {"value": "/red/"}}}}}}"#;
    let plain = r#"{"meshName": "m", "virtualGatewayName": "gw", "gatewayRouteName": "default", "spec": {"httpRoute": {
        "match": {"prefix": "/color/"},
        "action": {"target": {"virtualService": {"virtualServiceName": "color.local"}}}}}}"#;
    let vs = r#"{"meshName": "m", "virtualServiceName": "color.local", "spec": {"provider": {"virtualNode": {"virtualNodeName": "red"}}}}"#;
    let vn = r#"{"meshName": "m", "virtualNodeName": "red", "spec": {"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}], "serviceDiscovery": {"dns": {"hostname": "red.local"}}}}"#;
    let loaded = load_texts(
        &[
            ("gw.json", gw),
            ("r.json", route),
            ("p.json", plain),
            ("vs.json", vs),
            ("vn.json", vn),
        ],
        &LoadOptions::default(),
    );
    assert!(loaded.is_valid());
    let engine = Engine::new(&loaded.meshes["m"]);
    let d = engine
        .gateway_route(
            "gw",
            &RequestHead::get("public.example", 9080, "/maroon/fish?fishes=nemo"),
        )
        .expect("match");
    assert_eq!(
        (d.route.as_str(), d.service.as_str()),
        ("maroon", "color.local")
    );
    assert_eq!(
        (d.request.path.as_str(), d.request.authority.as_str()),
        ("/red/fish", "color.local")
    );
    // Without the query parameter the maroon route does not match.
    assert_eq!(
        engine.gateway_route("gw", &RequestHead::get("h", 9080, "/maroon/fish")),
        Err(NoRoute::NoGatewayMatch("gw".into()))
    );
    // The default rewrite replaces the matched prefix with `/`.
    let d = engine
        .gateway_route("gw", &RequestHead::get("h", 9080, "/color/blue"))
        .expect("match");
    assert_eq!(d.request.path, "/blue");
}

#[test]
fn no_route_is_a_404_and_unknown_services_are_named() {
    let loaded = load_paths(
        &[Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ordering/mesh.cfn.yaml")],
        &LoadOptions::default(),
    );
    let engine = Engine::new(&loaded.meshes["ordering"]);
    let err = engine
        .route(
            "payments.ordering.local",
            &RequestHead::get("payments.ordering.local", 8080, "/"),
        )
        .expect_err("unknown");
    assert_eq!(
        err,
        NoRoute::UnknownService("payments.ordering.local".into())
    );
    assert_eq!(err.status(), 404);
    let wrong_port = engine.route(
        "order.ordering.local",
        &RequestHead::get("order.ordering.local", 9090, "/"),
    );
    assert!(matches!(
        wrong_port,
        Err(NoRoute::NoListener { port: 9090, .. })
    ));
    // Paths are normalised before matching (merge_slashes, normalize_path).
    let routed = engine
        .route(
            "order.ordering.local",
            &RequestHead::get("o", 8080, "//orders/./42").with_header("x-canary", "true"),
        )
        .expect("route");
    assert_eq!(routed.route.name, "order-canary-header");
}

#[test]
fn listener_config_drives_endpoint_state() {
    // order-v1: outlierDetection maxServerErrors 5, 30 s base ejection, 50 %; connection pool
    // 100 connections / 50 pending; listener timeout 5 s per request.
    use meshsim::engine::SimTime;
    use meshsim::engine::balancer::BalancerConfig;
    use meshsim::engine::outlier::RequestResult;
    use std::time::Duration;

    let loaded = load_paths(
        &[Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/ordering/mesh.cfn.yaml")],
        &LoadOptions::default(),
    );
    let engine = Engine::new(&loaded.meshes["ordering"]);
    let l = engine.listener("order-v1", None).expect("one listener");
    assert_eq!(l.per_request_timeout, Some(Duration::from_secs(5)));
    assert_eq!(l.connection_pool.max_connections, 100);
    assert_eq!(l.connection_pool.max_pending_requests, 50);
    // The UI's listener sets no timeout: App Mesh's 15 s default applies.
    assert_eq!(
        engine
            .listener("ui-v1", Some(8080))
            .and_then(|l| l.per_request_timeout),
        Some(Duration::from_secs(15))
    );

    let mut rng = seed::stream(3, "ui-v1/order-v1/endpoints");
    let mut eps = engine
        .endpoints_for(
            "order-v1",
            None,
            BalancerConfig::default(),
            4,
            SimTime::ZERO,
            &mut rng,
        )
        .expect("endpoints");
    let mut ejected = None;
    for i in 0..5 {
        ejected = eps.on_request_end(
            SimTime::from_millis(i),
            2,
            Duration::from_millis(1),
            RequestResult::ServerError(503),
        );
    }
    let decision = ejected.expect("the fifth consecutive 5xx ejects the host");
    assert!(decision.ejected(), "{decision}");
    assert!(!eps.is_healthy(2));
    for _ in 0..100 {
        let pick = eps
            .pick(SimTime::from_millis(10), &mut rng)
            .expect("a host");
        assert_ne!(
            pick.host, 2,
            "an ejected host gets no traffic outside panic mode"
        );
    }
}
