use std::time::Duration;

use super::*;
use crate::engine::SimTime;
use crate::metrics::SeriesKey;
use crate::model::fault::Window;

fn fault(name: &str, kind: FaultKind, start: u64, end: Option<u64>) -> Fault {
    Fault {
        name: name.into(),
        kind,
        target: None,
        link: None,
        window: Window {
            start: Duration::from_secs(start),
            end: end.map(Duration::from_secs),
            ramp: None,
        },
    }
}

fn errors() -> FaultKind {
    FaultKind::Errors {
        share: 0.1,
        status: 500,
    }
}

fn crash() -> FaultKind {
    FaultKind::Crash {
        restart_after: Some(Duration::from_secs(60)),
        deregistration_lag: Duration::from_secs(20),
    }
}

fn event(at: f64, what: &str, fault: &str) -> FaultEvent {
    FaultEvent {
        at_seconds: at,
        what: what.into(),
        fault: fault.into(),
    }
}

fn span(fault: &str, from_s: f64, to_s: f64) -> Span {
    Span {
        fault: fault.into(),
        from_s,
        to_s,
    }
}

#[test]
fn a_fault_window_is_shaded_from_start_to_end_or_to_the_end_of_the_run() {
    let faults = [
        fault("cut", errors(), 60, Some(120)),
        fault("slow", errors(), 30, None),
        fault("late", errors(), 500, None),
        fault("early", errors(), 0, Some(400)),
    ];
    assert_eq!(
        fault_spans(&faults, &[], 300.0),
        [
            span("cut", 60.0, 120.0),
            span("slow", 30.0, 300.0),
            span("early", 0.0, 300.0),
        ],
        "clipped to the axis; a fault that starts after it has no span"
    );
}

#[test]
fn a_crash_is_shaded_while_its_task_is_down_not_for_its_whole_window() {
    let faults = [fault("inv-2-crashes", crash(), 60, None)];
    let events = [
        event(60.0, "crash inventory-v1-2", "inv-2-crashes"),
        event(80.0, "deregister inventory-v1-2", "inv-2-crashes"),
        event(120.0, "restart inventory-v1-2", "inv-2-crashes"),
        event(90.0, "crash other-1", "someone-else"),
    ];
    assert_eq!(
        fault_spans(&faults, &events, 180.0),
        [span("inv-2-crashes", 60.0, 120.0)]
    );
    // Two tasks down at overlapping times: one span; a task never restarted: to the end.
    let events = [
        event(10.0, "crash a-1", "inv-2-crashes"),
        event(15.0, "crash a-2 (out of memory)", "inv-2-crashes"),
        event(20.0, "restart a-1", "inv-2-crashes"),
        event(25.0, "restart a-2", "inv-2-crashes"),
        event(100.0, "crash a-3", "inv-2-crashes"),
    ];
    assert_eq!(
        fault_spans(&faults, &events, 180.0),
        [
            span("inv-2-crashes", 10.0, 25.0),
            span("inv-2-crashes", 100.0, 180.0)
        ]
    );
    // A leak that never struck: nothing to shade.
    assert!(fault_spans(&faults, &[], 180.0).is_empty());
}

#[test]
fn the_timeline_ends_with_the_arrivals_and_cuts_the_last_window_short() {
    let t = Timeline::new(10.0, 25.0);
    assert_eq!(t.windows(), 0..3);
    assert_eq!((t.mid(0), t.mid(2)), (5.0, 22.5));
    assert_eq!((t.covered(1), t.covered(2)), (10.0, 5.0));
    // Nothing run: one window, so the axis is never empty.
    assert_eq!(Timeline::new(10.0, 0.0).windows(), 0..1);
}

#[test]
fn a_series_breaks_where_windows_have_no_value() {
    let t = Timeline::new(10.0, 100.0);
    let s = Series {
        label: "x".into(),
        values: [(0, 1.0), (1, 2.0), (4, 3.0), (5, 4.0), (7, 5.0)].into(),
    };
    assert_eq!(
        s.stretches(&t),
        [
            vec![(5.0, 1.0), (15.0, 2.0)],
            vec![(45.0, 3.0), (55.0, 4.0)],
            vec![(75.0, 5.0)]
        ]
    );
}

#[test]
fn versions_are_grouped_under_their_service() {
    assert_eq!(service_of("inventory-v2", "v2"), "inventory");
    assert_eq!(service_of("ui-v1", "v1"), "ui");
    assert_eq!(service_of("ingress", ""), "ingress");
    assert_eq!(service_of("blue", "v1"), "blue");
    assert_eq!(service_of("v1", "v1"), "v1");
    assert_eq!(service_of("client", ""), "users");
}

fn key(node: &str, version: &str, route: &str, outcome: OutcomeClass) -> SeriesKey {
    SeriesKey {
        node: node.into(),
        version: version.into(),
        route: route.into(),
        outcome,
    }
}

/// 10 s windows: users and inventory v1/v2 inbound, a route series (to be ignored), retries.
fn recorder() -> Recorder {
    let mut r = Recorder::new(Duration::from_secs(10));
    let ok = OutcomeClass::Success;
    let mut rec = |at_ms: u64, k: SeriesKey, ms: u64| {
        r.record(SimTime::from_millis(at_ms), k, Duration::from_millis(ms));
    };
    for i in 0..10 {
        rec(1_000 + i, key("inventory-v1", "v1", "inbound", ok), 4);
        rec(11_000 + i, key("inventory-v1", "v1", "inbound", ok), 6);
        rec(1_000 + i, key("client", "", "", ok), 20);
        rec(
            1_000 + i,
            key("ui-v1", "v1", "inventory.local/inventory", ok),
            500,
        );
    }
    // v2 has no requests in window 1: a gap; one error in window 2.
    rec(2_000, key("inventory-v2", "v2", "inbound", ok), 8);
    rec(
        22_000,
        key("inventory-v2", "v2", "inbound", OutcomeClass::ServerError),
        9,
    );
    // Past the arrivals (the drain): left out.
    rec(31_000, key("inventory-v1", "v1", "inbound", ok), 1_000);
    r.count_at(SimTime::from_millis(12_000), "ui-v1", Counter::Retries, 5);
    r.count_at(SimTime::from_millis(12_000), "ui-v1", Counter::Ejections, 1);
    r.count_at(SimTime::from_millis(3_000), "ui-v1", Counter::Overflows, 2);
    r
}

#[test]
fn latency_over_time_has_a_p50_and_p99_series_per_version() {
    let t = Timeline::new(10.0, 30.0);
    let services = latency_by_service(&recorder(), &t);
    let names: Vec<&str> = services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        names,
        ["users", "inventory"],
        "route series are not services"
    );
    let inventory = &services[1];
    let labels: Vec<&str> = inventory
        .versions
        .iter()
        .flat_map(|pair| pair.iter().map(|s| s.label.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            "inventory-v1 p50",
            "inventory-v1 p99",
            "inventory-v2 p50",
            "inventory-v2 p99"
        ]
    );
    let [v1_p50, _] = &inventory.versions[0];
    let windows: Vec<(u64, f64)> = v1_p50.values.iter().map(|(w, v)| (*w, v.round())).collect();
    assert_eq!(
        windows,
        [(0, 4.0), (1, 6.0)],
        "the drain's 1 s request is not drawn"
    );
    let [_, v2_p99] = &inventory.versions[1];
    assert_eq!(v2_p99.values.keys().copied().collect::<Vec<_>>(), [0, 2]);
    assert_eq!(
        v2_p99.stretches(&t).len(),
        2,
        "a gap where v2 had no requests"
    );
}

#[test]
fn rates_are_per_second_with_users_first_and_errors_only_where_there_were_some() {
    let t = Timeline::new(10.0, 30.0);
    let r = recorder();
    let rates = request_rates(&r, &t);
    let labels: Vec<&str> = rates.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["users", "inventory-v1", "inventory-v2"]);
    assert_eq!(rates[0].values, [(0, 1.0), (1, 0.0), (2, 0.0)].into());
    assert_eq!(rates[2].values, [(0, 0.1), (1, 0.0), (2, 0.1)].into());
    let errors = errors_and_retries(&r, &t);
    let labels: Vec<&str> = errors.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["inventory-v2 errors", "ui-v1 retries"]);
    assert_eq!(errors[0].values[&2], 0.1);
    assert_eq!(errors[1].values[&1], 0.5);
}

#[test]
fn resilience_events_are_counted_per_window_per_proxy() {
    let t = Timeline::new(10.0, 30.0);
    let events = resilience_events(&recorder(), &t);
    let got: Vec<(&str, Vec<f64>)> = events
        .iter()
        .map(|s| (s.label.as_str(), s.values.values().copied().collect()))
        .collect();
    assert_eq!(
        got,
        [
            ("ejections at ui-v1", vec![0.0, 1.0, 0.0]),
            ("overflows at ui-v1", vec![2.0, 0.0, 0.0]),
        ]
    );
    let empty = Recorder::new(Duration::from_secs(10));
    assert!(resilience_events(&empty, &t).is_empty());
    assert!(latency_by_service(&empty, &t).is_empty());
}
