//! Golden report hashes: the sha256 of report.json for every shipped scenario, run for 60
//! simulated seconds with two seeds, through the binary. A refactor (issue 20 moves the
//! sidecar's hop logic into a sans-IO core) must leave every one of them unchanged; a change
//! of behaviour made on purpose updates `tests/fixtures/golden-reports.txt` in the same commit,
//! which says why.
//!
//! The 34 runs take about 5 CPU-minutes in a debug build and about one in release, so the test
//! is ignored in the debug suite and `.ci/run` runs it against its release binary:
//!
//! ```sh
//! cargo build --release --locked
//! MESHSIM_BIN=target/release/meshsim cargo test --locked --test suite -- --ignored golden::
//! ```
//!
//! With `MESHSIM_GOLDEN_UPDATE=1` it rewrites the file; without, a mismatch fails and prints
//! the lines that differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const HASHES: &str = "tests/fixtures/golden-reports.txt";
const SEEDS: [u64; 2] = [1, 2];
const DURATION: &str = "60s";

fn shipped_scenarios() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("scenarios"))
        .expect("scenarios/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    out.sort();
    out
}

/// The binary under test: `MESHSIM_BIN` (a release build, as CI passes), else this build's.
fn meshsim() -> PathBuf {
    match std::env::var_os("MESHSIM_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => Path::new(ROOT).join(bin),
        None => PathBuf::from(env!("CARGO_BIN_EXE_meshsim")),
    }
}

/// `scenario seed` → the hex sha256 of the report.json that run writes.
fn report_hash(scenario: &Path, seed: u64, scratch: &Path) -> String {
    let name = scenario.file_stem().expect("name").to_string_lossy();
    let out = scratch.join(format!("{name}-{seed}"));
    let o = Command::new(meshsim())
        .args(["run", "-q", "--duration", DURATION, "--seed"])
        .arg(seed.to_string())
        .arg("--out")
        .arg(&out)
        // As written in the repository: report.json's rerun command names the scenario as
        // given, so an absolute path would tie the hash to the checkout's folder.
        .arg(Path::new("scenarios").join(scenario.file_name().expect("name")))
        .current_dir(ROOT)
        .output()
        .expect("the binary runs");
    // Exit 1 (an expectation failed, as a 60 s cut of a 10 min scenario may) still wrote
    // the report; anything else did not.
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{name} seed {seed}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report = std::fs::read(out.join("report.json")).expect("report.json written");
    let _ = std::fs::remove_dir_all(&out);
    format!("{:x}", Sha256::digest(&report))
}

#[test]
#[ignore = "34 simulations: run with --ignored, ideally with MESHSIM_BIN=target/release/meshsim"]
fn every_shipped_scenario_writes_the_same_report_as_before() {
    let scratch = std::env::temp_dir().join(format!("meshsim-golden-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch");
    let jobs: Vec<(PathBuf, u64)> = shipped_scenarios()
        .into_iter()
        .flat_map(|s| SEEDS.map(|seed| (s.clone(), seed)))
        .collect();
    let queue = Mutex::new(jobs.into_iter());
    let got = Mutex::new(BTreeMap::new());
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let Some((scenario, seed)) = queue.lock().expect("queue").next() else {
                        break;
                    };
                    let hash = report_hash(&scenario, seed, &scratch);
                    let name = scenario
                        .file_name()
                        .expect("name")
                        .to_string_lossy()
                        .into_owned();
                    got.lock().expect("results").insert((name, seed), hash);
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let got = got.into_inner().expect("results");
    let text: String = got
        .iter()
        .map(|((name, seed), hash)| format!("{name} {seed} {hash}\n"))
        .collect();
    let path = Path::new(ROOT).join(HASHES);
    if std::env::var_os("MESHSIM_GOLDEN_UPDATE").is_some() {
        std::fs::write(&path, &text).expect("write the golden hashes");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    let changed: Vec<String> = text
        .lines()
        .filter(|l| !want.lines().any(|w| w == *l))
        .map(|l| format!("  now {l}"))
        .chain(
            want.lines()
                .filter(|w| !text.lines().any(|l| l == *w))
                .map(|w| format!("  was {w}")),
        )
        .collect();
    assert!(
        changed.is_empty(),
        "report.json changed for {} run(s) of {DURATION}; if on purpose, rerun with \
         MESHSIM_GOLDEN_UPDATE=1 and say why in the commit:\n{}",
        changed.len() / 2,
        changed.join("\n")
    );
}
