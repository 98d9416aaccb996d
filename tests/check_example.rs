//! The README's example: your own proptest test over your mesh with `meshsim::check`'s
//! request strategies and the engine's evaluation.
//!
//! `requests(service)` generates requests aimed at each route of the service, near misses of
//! each condition and some noise; `evaluate` routes one with the sidecars' engine. A failure
//! is shrunk by proptest to the plainest failing request.

use meshsim::check::MeshUnderTest;
use meshsim::config::{LoadOptions, load_paths};
use proptest::prelude::*;

fn shop() -> MeshUnderTest {
    let loaded = load_paths(
        &[
            "tests/fixtures/check/shop.yaml",
            "tests/fixtures/check/routes-ok.yaml",
        ],
        &LoadOptions::default(),
    );
    assert!(loaded.is_valid());
    MeshUnderTest::new(&loaded.meshes["shop"])
}

#[test]
fn only_canary_requests_are_pinned_to_v2() {
    let mesh = shop();
    let requests = mesh
        .requests("cart.shop.local")
        .expect("a service of the mesh");
    proptest!(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() },
        |(req in requests)| {
        let ev = mesh.evaluate("cart.shop.local", &req);
        let canary = req.header("x-canary") == Some("true");
        if ev.route.is_some() {
            // Routed requests reach Cart, and only canary requests are pinned to v2.
            prop_assert!(ev.reachable_nodes().all(|n| n == "cart-v1" || n == "cart-v2"));
            prop_assert_eq!(ev.route.as_deref() == Some("cart-canary"), canary);
        } else {
            // Everything outside /cart is a 404 (Envoy NR).
            prop_assert!(!req.path.starts_with("/cart"));
            prop_assert_eq!(ev.status, Some(404));
        }
    });
}
