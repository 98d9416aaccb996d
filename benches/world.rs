//! Whole-simulation speed: runs a shipped scenario in wire mode (real HTTP over turmoil) and
//! prints simulated time, wall time, the real-time factor and peak memory.
//!
//! After each run it also builds every report output (`--report all`) and writes it to a
//! temporary directory, and prints that time as a share of the run's: the budget
//! for reports is 10 % of baseline's run time.
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
use meshsim::report::{self, Outputs, Report};
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
    let mut write_walls = Vec::new();
    for i in 1..=runs {
        let start = Instant::now();
        // A rehearsal: the scenario's rollout, if it has one, steers the run as it would in
        // `meshsim run`.
        let rehearsal = match rehearse(scenario, mesh, &RunOptions::default(), &mut |_| {}) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(3);
            }
        };
        let wall = start.elapsed().as_secs_f64();
        let result = &rehearsal.run;
        let writing = Instant::now();
        let report = Report::of_rehearsal(scenario, &rehearsal);
        let out = std::env::temp_dir().join(format!("meshsim-bench-{}", std::process::id()));
        let written = match report::write(&out, &report, result, &Outputs::all()) {
            Ok(w) => w.len(),
            Err(e) => {
                eprintln!("{}: {e}", out.display());
                std::process::exit(3);
            }
        };
        let write_wall = writing.elapsed().as_secs_f64();
        let bytes: u64 = std::fs::read_dir(&out)
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let _ = std::fs::remove_dir_all(&out);
        write_walls.push(write_wall / wall);
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
        println!(
            "{path} run {i}: reports ({written} files, {} KB, every output) built and written \
             in {write_wall:.3} s = {:.1} % of the run",
            bytes / 1024,
            write_wall * 100.0 / wall
        );
    }
    walls.sort_by(f64::total_cmp);
    write_walls.sort_by(f64::total_cmp);
    println!(
        "median wall {:.2} s over {runs} run(s); reports {:.1} % of a run (median); peak RSS {}",
        walls[walls.len() / 2],
        write_walls[write_walls.len() / 2] * 100.0,
        peak_rss().unwrap_or_else(|| "unknown".into())
    );
}

/// Peak resident memory of this process (Linux `VmHWM`).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}
