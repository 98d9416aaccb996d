//! Rollouts on a mesh with no gateway, through the binary: the users call colorteller's
//! virtual service through the load generator's own sidecar (tests/fixtures/scenarios/
//! colorteller*.yaml, shaped like aws-app-mesh-examples' howto-servicediscovery-cloudmap).
//! What is checked is where that sidecar sent each request (its access log), so a route
//! change that never reached it shows, whatever the rollout's own report says.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fixtures' `propagation_delay + propagation_spread`: by then every sidecar has the
/// change.
const PROPAGATED_S: f64 = 3.0;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scenarios")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "meshsim-rollout-sidecars-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `meshsim run FIXTURE --out OUT --access-log full --diagnostics short`.
fn run(name: &str, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args([
            "run",
            "--access-log",
            "full",
            "--diagnostics",
            "short",
            "--out",
        ])
        .arg(out)
        .arg(fixture(name))
        .output()
        .expect("the binary runs")
}

fn report(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    serde_json::from_str(&text).expect("valid JSON")
}

/// One line of the load generator's sidecar's access log.
#[derive(Debug)]
struct Line {
    /// Simulated seconds at the start of the request.
    start: f64,
    status: u16,
    /// The upstream virtual node (`colorteller-green-node`), `-` when none was picked.
    node: String,
}

/// The users' requests as the load generator's own sidecar routed them.
fn users(out: &Path) -> Vec<Line> {
    let log = std::fs::read_to_string(out.join("access-logs/loadgen.log")).expect("loadgen.log");
    log.lines()
        .map(|l| {
            // [2026-01-01T00:MM:SS.mmmZ] "GET / HTTP/1.1" 200 ... "colorteller-blue-node-1:9080"
            let clock = &l[15..24];
            let start = clock[..2].parse::<f64>().expect("minutes") * 60.0
                + clock[3..].parse::<f64>().expect("seconds");
            let status = l
                .split('"')
                .nth(2)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|s| s.parse().ok())
                .expect("a status");
            let host = l.rsplit('"').nth(1).expect("an upstream host");
            let node = match host.rsplit_once('-') {
                Some((node, _)) => node.to_string(),
                None => host.to_string(),
            };
            Line {
                start,
                status,
                node,
            }
        })
        .collect()
}

/// A fixture run whose expectations hold and whose rollout ends with `outcome`: its report,
/// the users' requests, and when the rollout decided.
fn rehearsed(name: &str, outcome: &str) -> (serde_json::Value, Vec<Line>, f64) {
    let out = scratch(name);
    let o = run(name, &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "expectations hold: {stderr}");
    let report = report(&out);
    assert_eq!(report["rollout"]["outcome"], outcome);
    let decided = report["rollout"]["decided_at_s"]
        .as_f64()
        .expect("the rollout decided");
    let lines = users(&out);
    let _ = std::fs::remove_dir_all(&out);
    (report, lines, decided)
}

/// The requests sent once the rollout's decision had reached every sidecar.
fn settled(lines: &[Line], decided: f64) -> Vec<&Line> {
    let after: Vec<&Line> = lines
        .iter()
        .filter(|l| l.start >= decided + PROPAGATED_S)
        .collect();
    assert!(
        after.len() > 500,
        "{} requests after the decision",
        after.len()
    );
    after
}

#[test]
fn without_a_gateway_a_rollback_reaches_the_users_own_sidecar() {
    let (_, lines, decided) = rehearsed("colorteller_rollback.yaml", "rolled_back");
    let before = lines.iter().filter(|l| l.start < decided);
    assert!(
        before
            .filter(|l| l.node == "colorteller-green-node")
            .count()
            > 0,
        "green had traffic before the rollback"
    );
    let after = settled(&lines, decided);
    let to_green: Vec<&&Line> = after
        .iter()
        .filter(|l| l.node != "colorteller-blue-node")
        .collect();
    assert!(
        to_green.is_empty(),
        "after the rollback at {decided} s and {PROPAGATED_S} s of propagation the users \
         still sent {} of {} requests elsewhere than blue: {:?}",
        to_green.len(),
        after.len(),
        &to_green[..to_green.len().min(3)]
    );
    assert!(
        after.iter().all(|l| l.status == 200),
        "no 503 once green is gone"
    );
}

#[test]
fn without_a_gateway_a_promotion_moves_every_user_request_to_the_candidate() {
    let (report, lines, decided) = rehearsed("colorteller_promote.yaml", "promoted");
    let elsewhere = settled(&lines, decided)
        .iter()
        .filter(|l| l.node != "colorteller-green-node" || l.status != 200)
        .count();
    assert_eq!(
        elsewhere, 0,
        "after the promotion at {decided} s every request goes to green and succeeds"
    );
    assert_eq!(
        report["requests"]["failed"], 0,
        "blue's scale-down cost nothing"
    );
}

#[test]
fn a_rollout_moves_weight_only_within_its_nodes_share_of_the_route() {
    let (_, lines, decided) = rehearsed("colorteller_three_targets.yaml", "promoted");
    // Red keeps its configured 60 % in every 5 s window, before, during and after the
    // rollout (about 500 requests a window: 3 standard deviations are under 7 points).
    for window in 0..8 {
        let (from, to) = (window as f64 * 5.0, window as f64 * 5.0 + 5.0);
        let w: Vec<&Line> = lines
            .iter()
            .filter(|l| (from..to).contains(&l.start))
            .collect();
        let red = w
            .iter()
            .filter(|l| l.node == "colorteller-red-node")
            .count();
        let share = red as f64 / w.len() as f64;
        assert!(
            (share - 0.6).abs() < 0.1,
            "[{from}, {to}): red had {share:.3} of {} requests, configured 0.6",
            w.len()
        );
    }
    // After the promotion the 40 % blue and green shared is all green's.
    let after = settled(&lines, decided);
    assert!(after.iter().all(|l| l.node != "colorteller-blue-node"));
    let green = after
        .iter()
        .filter(|l| l.node == "colorteller-green-node")
        .count() as f64
        / after.len() as f64;
    assert!(
        (green - 0.4).abs() < 0.06,
        "green {green:.3} after promotion"
    );
}

#[test]
fn a_rollout_whose_nodes_have_no_share_of_the_route_is_refused() {
    let out = scratch("no-share");
    let o = run("colorteller_no_share.yaml", &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("colorteller_no_share.yaml:29:10: error[invalid-value]"),
        "{stderr}"
    );
    assert!(stderr.contains("rollout.route"), "{stderr}");
    assert!(!out.join("report.json").exists(), "nothing was run");
}

#[test]
fn loading_warns_of_idle_targets_and_scale_downs_that_strand_traffic() {
    let out = scratch("warnings");
    let o = run("colorteller_warnings.yaml", &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "warnings leave the exit code: {stderr}"
    );
    for (at, code, what) in [
        (
            "colorteller.cfn.yaml:59:30",
            "target-without-tasks",
            "sends weight 20 of 100 to virtual node `colorteller-red-node`, which no task runs",
        ),
        (
            "colorteller_warnings.yaml:36:11",
            "scale-down-carries-traffic",
            "route `blue-pinned` of virtual router `colorteller-vr` still sends it weight 1",
        ),
        (
            "colorteller_warnings.yaml:41:21",
            "scale-down-carries-traffic",
            "down 1s later, but its route change reaches the last sidecars only 3s after",
        ),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("{at}: warning[{code}]")))
            .unwrap_or_else(|| panic!("no warning at {at}:\n{stderr}"));
        assert!(line.contains(what), "{line}");
    }
    assert_eq!(
        stderr.matches(": warning[").count(),
        3,
        "nothing else: {stderr}"
    );
    assert!(out.join("report.json").exists(), "the run still ran");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_route_no_request_of_the_run_can_match_is_not_warned_of() {
    // The Ordering mesh routes `x-canary: true` to order-v2, which baseline.yaml does not
    // run; none of its requests carries the header, so nobody gets those 503s.
    let out = scratch("baseline");
    let o = Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(["run", "--duration", "1s", "--diagnostics", "short", "--out"])
        .arg(&out)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/baseline.yaml"))
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(!stderr.contains("warning["), "{stderr}");
    let _ = std::fs::remove_dir_all(&out);
}
