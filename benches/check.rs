//! `meshsim check` on a 50-route mesh with 10 request properties, 10,000 cases each (the
//! issue's budget: ≤ 5 s in release). Figures and the machine go in docs/PERFORMANCE.md.
//!
//! `cargo bench --bench check`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use meshsim::check::{self, CheckOptions, MeshUnderTest, Policy};
use meshsim::config::{LoadOptions, load_paths};

fn fifty_routes_ten_properties(c: &mut Criterion) {
    let loaded = load_paths(
        &["tests/fixtures/check/fifty-routes.yaml"],
        &LoadOptions::default(),
    );
    assert!(loaded.is_valid(), "the bench mesh loads");
    let policy = Policy::from_path(
        std::path::Path::new("tests/fixtures/check/fifty-policy.yaml"),
        &loaded.meshes,
    )
    .expect("the bench policy loads");
    let mesh = MeshUnderTest::new(&loaded.meshes["big"]);
    let opts = CheckOptions {
        cases: 10_000,
        seed: 42,
    };
    let mut group = c.benchmark_group("check");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(40));
    group.bench_function("50 routes, 10 properties x 10000 cases", |b| {
        b.iter(|| {
            let report = check::check(&mesh, &policy, &opts, &loaded.sources).expect("runs");
            assert!(report.holds());
            black_box(report)
        })
    });
    group.finish();
}

criterion_group!(benches, fifty_routes_ten_properties);
criterion_main!(benches);
