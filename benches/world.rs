//! Whole-simulation speed: runs a shipped scenario in wire mode (real HTTP over turmoil) and
//! prints simulated time, wall time, the real-time factor and peak memory.
//!
//! `cargo bench --bench world` runs `scenarios/baseline.yaml` (10 simulated minutes);
//! `cargo bench --bench world -- scenarios/retry-storm.yaml 3` runs another scenario, three
//! times; `scenarios/canary.yaml` rehearses its rollout as `meshsim run` does. The issue's
//! target for baseline is at least 30x real time (10 simulated minutes in
//! 20 s of wall time) and at most 200 MB of peak memory; docs/PERFORMANCE.md has the figures.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)] // wall-clock timing

use std::path::Path;
use std::time::Instant;

use meshsim::rehearse::rehearse;
use meshsim::scenario;
use meshsim::sim::RunOptions;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "scenarios/baseline.yaml".into());
    let runs: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    let loaded = scenario::load(Path::new(&path));
    let Some((scenario, mesh)) = loaded.runnable() else {
        eprintln!("{path}: the scenario does not load; run `meshsim run {path}` to see why");
        std::process::exit(2);
    };
    let mut walls = Vec::new();
    for i in 1..=runs {
        let start = Instant::now();
        // A rehearsal: the scenario's rollout, if it has one, steers the run as it would in
        // `meshsim run`.
        let result = match rehearse(scenario, mesh, &RunOptions::default(), &mut |_| {}) {
            Ok(r) => r.run,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(3);
            }
        };
        let wall = start.elapsed().as_secs_f64();
        let simulated = result.simulated.as_secs_f64();
        walls.push(wall);
        println!(
            "{path} run {i}: {simulated:.1} s simulated in {wall:.2} s wall = {:.1}x real time; \
             {} requests ({:.0} per wall-second), {} turmoil steps ({:.2} us per step)",
            simulated / wall,
            result.ledger.issued,
            result.ledger.issued as f64 / wall,
            result.steps,
            wall * 1e6 / result.steps as f64,
        );
    }
    walls.sort_by(f64::total_cmp);
    println!(
        "median wall {:.2} s over {runs} run(s); peak RSS {}",
        walls[walls.len() / 2],
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}
