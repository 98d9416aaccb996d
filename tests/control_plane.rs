//! The world as a control plane steers it: route changes reach each proxy at its own time
//! (so for a while proxies disagree), mirroring copies a share of requests whose answers
//! nobody waits for, and a scale-down stops a node's tasks. Driven by a scripted controller,
//! so what is tested is the world's side of the seam the rollouts use.

use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use meshsim::engine::SimTime;
use meshsim::proxy::control::{Mirror, RouteOverride};
use meshsim::proxy::{AccessLogEntry, Direction};
use meshsim::scenario;
use meshsim::sim::{self, Change, Controller, ProxyRef, RunOptions, RunResult};

/// Sends its changes at their times, and remembers what it saw.
#[derive(Default)]
struct Script {
    changes: Vec<(u64, Change)>,
    proxies: Vec<ProxyRef>,
    observed: usize,
    ticks: Vec<SimTime>,
}

impl Controller for Script {
    fn start(&mut self, proxies: &[ProxyRef]) {
        self.proxies = proxies.to_vec();
    }
    fn observe(&mut self, lines: &[AccessLogEntry]) {
        self.observed += lines.len();
    }
    fn tick(&mut self, now: SimTime) -> Vec<Change> {
        self.ticks.push(now);
        let due = |s: &u64| SimTime::from_duration(Duration::from_secs(*s)) <= now;
        let (now_due, later): (Vec<_>, Vec<_>) = self.changes.drain(..).partition(|(s, _)| due(s));
        self.changes = later;
        now_due.into_iter().map(|(_, c)| c).collect()
    }
}

fn at(s: u64) -> SimTime {
    SimTime::from_duration(Duration::from_secs(s))
}

fn run(script: &mut Script) -> RunResult {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let loaded = scenario::load(&dir.join("ordering_two_orders.yaml"));
    assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let options = RunOptions {
        keep_access_log: true,
        ..RunOptions::default()
    };
    sim::run_with(scenario, mesh, &options, &mut |_| {}, script).expect("runs")
}

fn weights(v1: u32, v2: u32) -> Rc<RouteOverride> {
    Rc::new(RouteOverride {
        targets: vec![("order-v1".into(), v1), ("order-v2".into(), v2)],
        ..RouteOverride::default()
    })
}

/// (start second, upstream node) of a UI task's calls to Order.
fn ui_calls(r: &RunResult, task: &str) -> Vec<(f64, String)> {
    r.access_log
        .iter()
        .filter(|l| l.direction == Direction::Outbound && l.task == task && !l.shadow)
        .filter(|l| l.service.as_deref() == Some("order.ordering.local"))
        .map(|l| {
            (
                l.start.since_start().as_secs_f64(),
                l.upstream_node.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_weight_change_reaches_each_proxy_at_its_own_time() {
    let mut script = Script {
        changes: vec![(
            10,
            Change::Route {
                router: "order-router".into(),
                route: "order".into(),
                traffic: weights(0, 100),
                arrivals: vec![("ui-v1-1".into(), at(10)), ("ui-v1-2".into(), at(16))],
            },
        )],
        ..Script::default()
    };
    let r = run(&mut script);
    assert!(
        script
            .proxies
            .iter()
            .any(|p| p.task == "ui-v1-2" && p.node == "ui-v1")
            && script.proxies.iter().any(|p| p.task == "ingress"),
        "{:?}",
        script.proxies
    );
    assert!(script.observed > 1000, "the controller saw the lines");
    assert!(script.ticks.len() >= 30, "ticked about once a second");
    let on = |task: &str, from: f64, to: f64| -> Vec<String> {
        ui_calls(&r, task)
            .into_iter()
            .filter(|(t, _)| (from..to).contains(t))
            .map(|(_, n)| n)
            .collect()
    };
    let all = |v: &[String], node: &str| !v.is_empty() && v.iter().all(|n| n == node);
    // The change was sent at the first tick at or after 10 s; ui-v1-1 hears it at once.
    assert!(all(&on("ui-v1-1", 0.0, 9.9), "order-v1"));
    assert!(all(&on("ui-v1-1", 11.1, 30.0), "order-v2"));
    // ui-v1-2 hears it 6 s later: until then the two UI proxies disagree.
    assert!(all(&on("ui-v1-2", 11.1, 15.9), "order-v1"));
    assert!(all(&on("ui-v1-2", 16.1, 30.0), "order-v2"));
    assert_eq!(
        r.ledger.issued, r.ledger.succeeded,
        "nothing failed in the switch"
    );
}

#[test]
fn mirroring_copies_a_share_that_nobody_waits_for() {
    let mirror = Rc::new(RouteOverride {
        targets: vec![("order-v1".into(), 100)],
        mirror: Some(Mirror {
            node: "order-v2".into(),
            share: 0.25,
        }),
        ..RouteOverride::default()
    });
    let mut script = Script {
        changes: vec![(
            0,
            Change::Route {
                router: "order-router".into(),
                route: "order".into(),
                traffic: mirror,
                arrivals: vec![("ui-v1-1".into(), at(0)), ("ui-v1-2".into(), at(0))],
            },
        )],
        ..Script::default()
    };
    let r = run(&mut script);
    let inbound = |node: &str| {
        r.access_log
            .iter()
            .filter(|l| l.direction == Direction::Inbound && l.node == node && !l.health_check)
            .count()
    };
    let (v1, v2) = (inbound("order-v1"), inbound("order-v2"));
    let shadows: Vec<&AccessLogEntry> = r.access_log.iter().filter(|l| l.shadow).collect();
    eprintln!(
        "order-v1 served {v1}, order-v2 {v2}, shadow lines {}",
        shadows.len()
    );
    // A quarter of v1's requests, within 5 σ of a binomial share.
    let p = 0.25;
    let sd = (p * (1.0 - p) * v1 as f64).sqrt();
    assert!(
        ((v2 as f64) - p * v1 as f64).abs() <= 5.0 * sd,
        "{v2} of {v1}"
    );
    // Every copy is marked on both sides: one outbound line at the UI, one inbound at v2.
    let out = shadows
        .iter()
        .filter(|l| l.direction == Direction::Outbound)
        .count();
    let inn = shadows
        .iter()
        .filter(|l| l.direction == Direction::Inbound)
        .count();
    assert_eq!(out, v2);
    assert_eq!(inn, v2);
    assert!(
        shadows
            .iter()
            .filter(|l| l.direction == Direction::Outbound)
            .all(|l| l.attempts == 1)
    );
    // The users only ever waited for v1.
    assert_eq!(r.ledger.issued, r.ledger.succeeded);
    let report = meshsim::report::Report::new("m", &r);
    assert!(
        report.routes.keys().any(|k| k.ends_with("(mirror)")),
        "mirrored requests are their own series: {:?}",
        report.routes.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_scale_down_stops_the_nodes_tasks() {
    let both = |traffic: Rc<RouteOverride>, s: u64| Change::Route {
        router: "order-router".into(),
        route: "order".into(),
        traffic,
        arrivals: vec![("ui-v1-1".into(), at(s)), ("ui-v1-2".into(), at(s))],
    };
    let mut script = Script {
        changes: vec![
            (0, both(weights(50, 50), 0)),
            (
                15,
                Change::ScaleDown {
                    node: "order-v2".into(),
                },
            ),
        ],
        ..Script::default()
    };
    let r = run(&mut script);
    let v2: Vec<f64> = r
        .access_log
        .iter()
        .filter(|l| l.direction == Direction::Inbound && l.node == "order-v2")
        .map(|l| l.start.since_start().as_secs_f64())
        .collect();
    assert!(
        v2.iter().filter(|t| **t < 15.0).count() > 500,
        "v2 took half"
    );
    let last = v2.iter().copied().fold(0.0, f64::max);
    assert!(
        last < 15.1,
        "the stopped tasks serve nothing after 15 s: {last}"
    );
    // The weights still send half the traffic to v2, which is gone: a scale-down before the
    // traffic moved away fails those requests (a rollout moves the weights first).
    assert!(r.ledger.failed() > 100, "{:?}", r.ledger.failed_by_reason);
}
