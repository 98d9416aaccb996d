//! Tests of services: configuration, routing, the shared pool.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::engine::seed;
use crate::model::behaviour::testing::{constant, failing};
use crate::model::endpoint::Outcome;
use crate::model::error::Problem;

fn ms(n: u64) -> SimTime {
    SimTime::from_millis(n)
}

fn rng() -> seed::Rng {
    seed::stream(5, "model/service/test")
}

fn route(method: &str, path: &str) -> Route {
    Route {
        method: MethodMatch::parse(method).expect("method"),
        path: PathPattern::parse(path).expect("pattern"),
    }
}

/// One worker; `GET /fast` takes 10 ms, `POST /slow` 50 ms.
fn two_speeds(max_queue: Option<u32>) -> Service {
    Service::new(
        AppKind::Generic,
        1,
        max_queue,
        503,
        vec![
            (route("GET", "/fast"), Behaviour::serving(constant(10))),
            (route("POST", "/slow"), Behaviour::serving(constant(50))),
        ],
    )
}

fn started(a: Arrival) -> Started {
    match a {
        Arrival::Started(s) => *s,
        other => panic!("expected started, got {other:?}"),
    }
}

#[test]
fn config_builds_a_service_and_requests_find_their_endpoint() {
    let config: ServiceConfig = serde_json::from_str(
        r#"{
            "app": "ordering-inventory",
            "workers": 8,
            "max_queue": 50,
            "endpoints": [
                {"method": "GET", "path": "/items/{sku}", "service_time": "2ms"},
                {"method": "POST", "path": "/reserve", "service_time": "5ms",
                 "error_rate": 0.01, "response_size": 64},
                {"path": "/*", "service_time": "1ms", "status": 204}
            ]
        }"#,
    )
    .expect("deserialises");
    let s = config.build().expect("valid");
    assert_eq!(
        (s.app(), s.workers(), s.endpoint_count()),
        (AppKind::OrderingInventory, 8, 3)
    );
    assert_eq!(s.reject_status(), 503);
    let item = s
        .match_endpoint("GET", "/items/sku-7?fields=stock")
        .expect("item");
    assert_eq!(item.index, 0);
    assert_eq!(item.params.get("sku").map(String::as_str), Some("sku-7"));
    assert_eq!(
        s.match_endpoint("POST", "/reserve").map(|m| m.index),
        Some(1)
    );
    // The catch-all answers what the others do not, whatever the method.
    let rest = s
        .match_endpoint("DELETE", "/items/sku-7")
        .expect("catch-all");
    assert_eq!(
        (rest.index, rest.params.get("*").map(String::as_str)),
        (2, Some("items/sku-7"))
    );
    assert_eq!(s.match_endpoint("GET", "no-slash"), None);
    assert_eq!(s.behaviour(2).map(|b| b.status), Some(204));
    assert_eq!(s.behaviour(3), None);
    assert_eq!(
        s.route(0).map(ToString::to_string).as_deref(),
        Some("GET /items/{sku}")
    );
    assert_eq!(s.route(2).map(ToString::to_string).as_deref(), Some("* /*"));
    // Without a catch-all, an unmatched request is a 404 for the caller to send.
    let narrow = two_speeds(None);
    assert_eq!(narrow.match_endpoint("GET", "/slow"), None);
    assert_eq!(narrow.match_endpoint("GET", "/fast/"), None);
}

#[test]
fn endpoints_share_one_pool_and_one_fifo_queue() {
    // One worker: a slow POST holds it, so a fast GET waits behind it; requests leave the
    // queue in arrival order whatever their endpoint, each decided by its own behaviour.
    let mut s = two_speeds(None);
    let mut r = rng();
    let slow = started(s.arrive(ms(0), RequestId(1), 1, &mut r));
    assert_eq!((slow.endpoint, slow.finish_at), (1, ms(50)));
    assert_eq!(
        s.arrive(ms(1), RequestId(2), 0, &mut r),
        Arrival::Queued { position: 0 }
    );
    assert_eq!(
        s.arrive(ms(2), RequestId(3), 1, &mut r),
        Arrival::Queued { position: 1 }
    );
    assert_eq!((s.busy(), s.queue_len()), (1, 2));
    let fast = s.complete(ms(50), RequestId(1), &mut r).expect("next");
    assert_eq!(
        (fast.request, fast.endpoint, fast.waited, fast.finish_at),
        (RequestId(2), 0, Duration::from_millis(49), ms(60))
    );
    let slow2 = s.complete(ms(60), RequestId(2), &mut r).expect("next");
    assert_eq!(
        (slow2.request, slow2.endpoint, slow2.finish_at),
        (RequestId(3), 1, ms(110))
    );
    assert_eq!(s.complete(ms(110), RequestId(3), &mut r), None);
    let (all, fast_stats, slow_stats) = (
        s.stats(),
        s.endpoint_stats(0).expect("0"),
        s.endpoint_stats(1).expect("1"),
    );
    assert_eq!((all.arrived, all.served, all.max_queue_len), (3, 3, 2));
    assert_eq!((fast_stats.arrived, fast_stats.max_queue_len), (1, 1));
    assert_eq!((slow_stats.arrived, slow_stats.max_queue_len), (2, 2));
}

#[test]
fn a_full_queue_rejects_for_every_endpoint() {
    let mut s = two_speeds(Some(1));
    let mut r = rng();
    started(s.arrive(ms(0), RequestId(1), 0, &mut r));
    assert_eq!(
        s.arrive(ms(0), RequestId(2), 1, &mut r),
        Arrival::Queued { position: 0 }
    );
    assert_eq!(
        s.arrive(ms(0), RequestId(3), 0, &mut r),
        Arrival::Rejected { status: 503 }
    );
    assert_eq!(s.endpoint_stats(0).map(|e| e.rejected), Some(1));
}

#[test]
fn abandon_removes_only_waiting_requests() {
    let mut s = two_speeds(None);
    let mut r = rng();
    started(s.arrive(ms(0), RequestId(1), 0, &mut r));
    for id in 2..=4 {
        s.arrive(ms(1), RequestId(id), 1, &mut r);
    }
    assert!(s.abandon(RequestId(3)));
    assert!(!s.abandon(RequestId(3)), "already gone");
    assert!(!s.abandon(RequestId(1)), "in service");
    assert!(!s.abandon(RequestId(9)), "unknown");
    assert!(!s.is_queued(RequestId(3)) && s.is_in_service(RequestId(1)));
    assert_eq!(s.queue_len(), 2);
    // The queue closes up: 2, then 4.
    let next = s.complete(ms(10), RequestId(1), &mut r).expect("2");
    assert_eq!(next.request, RequestId(2));
    assert_eq!(
        s.complete(ms(60), RequestId(2), &mut r).map(|s| s.request),
        Some(RequestId(4))
    );
    // The id is free again.
    assert_eq!(
        s.arrive(ms(61), RequestId(3), 0, &mut r),
        Arrival::Queued { position: 0 }
    );
    let st = s.stats();
    assert_eq!((st.arrived, st.started, st.abandoned), (5, 3, 1));
    assert_eq!(s.endpoint_stats(1).map(|e| e.abandoned), Some(1));
}

#[test]
fn caller_bugs_change_nothing() {
    let mut s = two_speeds(None);
    let mut r = rng();
    started(s.arrive(ms(0), RequestId(1), 0, &mut r));
    assert_eq!(s.arrive(ms(0), RequestId(1), 1, &mut r), Arrival::Duplicate);
    assert_eq!(
        s.arrive(ms(0), RequestId(2), 2, &mut r),
        Arrival::Rejected { status: 404 }
    );
    assert_eq!(
        (
            s.busy(),
            s.queue_len(),
            s.stats().arrived,
            s.stats().rejected
        ),
        (1, 0, 1, 0)
    );
}

#[test]
fn every_invalid_field_is_reported_with_its_path() {
    let config: ServiceConfig = serde_json::from_str(
        r#"{
            "workers": 0,
            "reject_status": 200,
            "endpoints": [
                {"method": "get", "path": "items", "service_time": "1ms"},
                {"method": "GET", "path": "/items/{sku}",
                 "service_time": {"distribution": "lognormal", "median": "20ms", "p99": "5ms"},
                 "error_rate": 2,
                 "calls": [{"call": {"service": "", "path": "/"}}]},
                {"method": "GET", "path": "/items/sku-1", "service_time": "1ms"},
                {"path": "/a//b", "service_time": "1ms"}
            ]
        }"#,
    )
    .expect("deserialises");
    let errors = config.build().expect_err("invalid");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "workers",
            "reject_status",
            "endpoints[0].method",
            "endpoints[0].path",
            "endpoints[1].error_rate",
            "endpoints[1].service_time.p99",
            "endpoints[1].calls[0].call.service",
            "endpoints[2]",
            "endpoints[3].path",
        ]
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages[0], "workers: a service needs at least one worker");
    assert_eq!(
        messages[2],
        "endpoints[0].method: method \"get\" must be upper case (GET, POST, …) or * for any"
    );
    assert_eq!(
        messages[3],
        "endpoints[0].path: path pattern \"items\" must start with /; did you mean \"/items\"?"
    );
    assert_eq!(
        messages[7],
        "endpoints[2]: never matched: endpoints[1] (GET /items/{sku}) comes first and \
         answers every request this one would"
    );
    assert!(matches!(
        errors[8].problem,
        Problem::Service(ServiceError::Pattern {
            problem: PatternProblem::EmptySegment,
            ..
        })
    ));
    let none: ServiceConfig =
        serde_json::from_str(r#"{"workers": 1, "endpoints": []}"#).expect("deserialises");
    let errors = none.build().expect_err("no endpoints");
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "endpoints: a service needs at least one endpoint"
    );
    let unknown = serde_json::from_str::<ServiceConfig>(
        r#"{"workers": 1, "endpoints": [{"path": "/", "service_time": "1ms", "verb": "GET"}]}"#,
    )
    .expect_err("unknown field");
    assert!(unknown.to_string().contains("unknown field `verb`"));
}

#[test]
fn each_endpoint_decides_with_its_own_behaviour() {
    // Same pool, same stream: endpoint 0 always fails, endpoint 1 never does.
    let mut s = Service::new(
        AppKind::Generic,
        4,
        None,
        503,
        vec![
            (route("GET", "/bad"), failing(1.0)),
            (route("GET", "/good"), failing(0.0)),
        ],
    );
    let mut r = rng();
    let bad = started(s.arrive(ms(0), RequestId(1), 0, &mut r));
    let good = started(s.arrive(ms(0), RequestId(2), 1, &mut r));
    assert_eq!(bad.decision.outcome, Outcome::Fail { status: 502 });
    assert!(matches!(
        good.decision.outcome,
        Outcome::Serve { status: 200, .. }
    ));
    assert_eq!(
        (s.endpoint_stats(0).map(|e| e.failed), s.stats().failed),
        (Some(1), 1)
    );
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// A request for endpoint `e` (2 is not an endpoint).
    Arrive(usize),
    /// Complete the k-th request in service (by start order).
    Complete(usize),
    /// Abandon the k-th waiting request.
    Abandon(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..3).prop_map(Op::Arrive),
        3 => (0usize..4).prop_map(Op::Complete),
        1 => (0usize..4).prop_map(Op::Abandon),
    ]
}

proptest! {
    #[test]
    fn one_fifo_pool_across_endpoints(
        workers in 1u32..4,
        max_queue in prop::option::of(0u32..4),
        ops in prop::collection::vec(op(), 0..200),
        seed in any::<u64>(),
    ) {
        // A reference model (a list in service, a FIFO of (id, endpoint)) agrees with the
        // service after every step: workers bound service, the queue is shared FIFO across
        // endpoints, abandoned requests never start, and the counters add up.
        let mut s = Service::new(
            AppKind::Generic,
            workers,
            max_queue,
            503,
            vec![(route("GET", "/a"), failing(0.5)), (route("GET", "/b"), failing(0.0))],
        );
        let mut r = seed::stream(seed, "model/service/prop");
        let mut next_id = 0u64;
        let mut in_service: Vec<RequestId> = Vec::new();
        let mut waiting: VecDeque<(RequestId, usize)> = VecDeque::new();
        let mut abandoned: BTreeSet<RequestId> = BTreeSet::new();
        let mut arrived = [0u64; 2];
        for (i, op) in ops.into_iter().enumerate() {
            let now = ms(i as u64);
            match op {
                Op::Arrive(e) => {
                    let id = RequestId(next_id);
                    next_id += 1;
                    let busy = s.busy();
                    match s.arrive(now, id, e, &mut r) {
                        Arrival::Rejected { status: 404 } => prop_assert_eq!(e, 2),
                        Arrival::Started(st) => {
                            prop_assert!(busy < workers && waiting.is_empty());
                            prop_assert_eq!((st.request, st.endpoint), (id, e));
                            in_service.push(id);
                            arrived[e] += 1;
                        }
                        Arrival::Queued { position } => {
                            prop_assert_eq!(position as usize, waiting.len());
                            waiting.push_back((id, e));
                            arrived[e] += 1;
                        }
                        Arrival::Rejected { status } => {
                            prop_assert_eq!(status, 503);
                            prop_assert_eq!(Some(waiting.len() as u32), max_queue);
                            arrived[e] += 1;
                        }
                        Arrival::Duplicate => prop_assert!(false, "fresh id refused"),
                    }
                }
                Op::Complete(k) => {
                    let Some(id) = in_service.get(k).copied() else { continue };
                    in_service.retain(|x| *x != id);
                    let next = s.complete(now, id, &mut r);
                    let expected = waiting.pop_front();
                    prop_assert_eq!(next.as_ref().map(|st| (st.request, st.endpoint)), expected);
                    if let Some(st) = next {
                        prop_assert!(!abandoned.contains(&st.request));
                        in_service.push(st.request);
                    }
                }
                Op::Abandon(k) => {
                    let id = waiting.get(k).map(|(id, _)| *id);
                    let target = id.unwrap_or(RequestId(u64::MAX));
                    prop_assert_eq!(s.abandon(target), id.is_some());
                    if let Some(id) = id {
                        waiting.retain(|(x, _)| *x != id);
                        abandoned.insert(id);
                    }
                }
            }
            prop_assert_eq!(s.busy() as usize, in_service.len());
            prop_assert_eq!(s.queue_len() as usize, waiting.len());
            prop_assert!(waiting.is_empty() || s.busy() == workers);
        }
        let (all, a, b) = (s.stats(), s.endpoint_stats(0).expect("a"), s.endpoint_stats(1).expect("b"));
        prop_assert_eq!([a.arrived, b.arrived], arrived);
        let waiting_for = |e: usize| waiting.iter().filter(|(_, x)| *x == e).count() as u64;
        for (st, queued) in [(all, waiting.len() as u64), (a, waiting_for(0)), (b, waiting_for(1))] {
            prop_assert_eq!(st.arrived, st.started + st.rejected + st.abandoned + queued);
        }
        prop_assert_eq!(all.abandoned, abandoned.len() as u64);
        prop_assert_eq!(all.arrived, a.arrived + b.arrived);
    }
}

#[test]
fn a_worker_cap_queues_work_and_lifting_it_starts_the_queue() {
    let mut s = Service::new(
        AppKind::Generic,
        3,
        None,
        503,
        vec![(route("GET", "/fast"), Behaviour::serving(constant(10)))],
    );
    let mut r = rng();
    assert!(s.set_worker_cap(ms(0), Some(1), &mut r).is_empty());
    let first = started(s.arrive(ms(0), RequestId(1), 0, &mut r));
    assert!(matches!(
        s.arrive(ms(0), RequestId(2), 0, &mut r),
        Arrival::Queued { position: 0 }
    ));
    assert!(matches!(
        s.arrive(ms(0), RequestId(3), 0, &mut r),
        Arrival::Queued { position: 1 }
    ));
    // Lifting the cap starts both queued requests, oldest first.
    let now_free = s.set_worker_cap(ms(5), None, &mut r);
    assert_eq!(
        now_free.iter().map(|x| x.request).collect::<Vec<_>>(),
        vec![RequestId(2), RequestId(3)]
    );
    assert_eq!(s.busy(), 3);
    // Lowering it below the busy count lets work in service finish, then starts nothing.
    assert!(s.set_worker_cap(ms(6), Some(1), &mut r).is_empty());
    assert!(matches!(
        s.arrive(ms(6), RequestId(4), 0, &mut r),
        Arrival::Queued { .. }
    ));
    assert_eq!(s.complete(ms(10), first.request, &mut r), None);
    assert_eq!(s.complete(ms(15), RequestId(2), &mut r), None);
    let next = s
        .complete(ms(15), RequestId(3), &mut r)
        .expect("one worker again");
    assert_eq!(next.request, RequestId(4));
}
