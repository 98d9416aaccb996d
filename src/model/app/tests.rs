//! Tests of the app core: each decision path, and the random stream's order.

use std::time::Duration;

use super::*;

fn ms(n: u64) -> SimTime {
    SimTime::from_millis(n)
}

fn config(json: &str) -> ServiceConfig {
    serde_json::from_str::<ServiceConfig>(json).expect("deserialises")
}

fn service(json: &str) -> Service {
    config(json).build().expect("valid")
}

fn app(json: &str) -> AppCore {
    AppCore::new(
        "svc-v1-1",
        &config(json),
        service(json),
        42,
        vec!["/ping".into()],
    )
}

fn db() -> Databases {
    Databases::new(&BTreeMap::from([("sku-1".to_string(), 1)]))
}

fn get(path: &str) -> AppRequest {
    AppRequest::new("GET", path)
}

fn actions(a: &mut AppCore) -> Vec<Action> {
    std::iter::from_fn(|| a.poll_action()).collect()
}

fn none() -> HostEffects {
    HostEffects::default()
}

fn accepted(a: Arrived) -> RequestId {
    match a {
        Arrived::Accepted(id) => id,
        Arrived::Answer { status } => panic!("answered {status} at once"),
    }
}

fn respond(request: RequestId, status: u16, body: Body, served: bool) -> Action {
    Action::Respond {
        request,
        status,
        body,
        served,
    }
}

const ONE_WORKER: &str = r#"{"workers": 1, "max_queue": 1,
    "endpoints": [{"path": "/work", "service_time": "2ms", "response_size": 10}]}"#;

#[test]
fn unmatched_paths_answer_at_once_without_a_request_number() {
    let mut a = app(ONE_WORKER);
    assert_eq!(
        a.arrive(ms(0), &get("/ping"), none()),
        Arrived::Answer { status: 200 },
        "a health path no endpoint claims"
    );
    assert_eq!(
        a.arrive(ms(0), &get("/nope"), none()),
        Arrived::Answer { status: 404 }
    );
    assert_eq!(
        a.arrive(ms(0), &get("/work"), none()),
        Arrived::Accepted(RequestId(0))
    );
    assert_eq!(a.in_flight(), 1);
}

#[test]
fn one_worker_serves_in_order_queues_rejects_and_starts_the_next_at_the_exact_end() {
    let mut a = app(ONE_WORKER);
    let mut db = db();
    let t0 = SimTime::from_duration(Duration::from_nanos(1_234_567));
    for i in 0..3 {
        assert_eq!(
            a.arrive(t0, &get("/work"), none()),
            Arrived::Accepted(RequestId(i))
        );
    }
    let end = t0 + Duration::from_millis(2);
    // The first starts, the second waits, the queue (1) is full for the third.
    assert_eq!(
        actions(&mut a),
        vec![
            Action::Wake {
                request: RequestId(0),
                at: end
            },
            respond(RequestId(2), 503, Body::Empty, false),
        ]
    );
    assert_eq!(a.service().queue_len(), 1);
    a.work_done(end, RequestId(0), &none(), &mut db);
    assert_eq!(
        actions(&mut a),
        vec![
            respond(RequestId(0), 200, Body::Filler(10), true),
            Action::Wake {
                request: RequestId(1),
                at: end + Duration::from_millis(2)
            },
        ]
    );
    assert_eq!(a.in_flight(), 1);
    assert_eq!(a.service().stats().rejected, 1);
}

#[test]
fn a_worker_answering_when_its_work_ended_is_free_from_the_exact_end() {
    // A driver on a tick reports the end late (at 3 ms for an end at 2.4 ms): answered in
    // that same report, the worker's next request starts from 2.4 ms, not 3 ms.
    let mut a = app(r#"{"workers": 1, "endpoints": [{"path": "/", "service_time": "2400us"}]}"#);
    let mut db = db();
    let first = accepted(a.arrive(ms(0), &get("/"), none()));
    let second = accepted(a.arrive(ms(0), &get("/"), none()));
    actions(&mut a);
    a.work_done(ms(3), first, &none(), &mut db);
    let wake = actions(&mut a).into_iter().find(|x| x.request() == second);
    assert_eq!(
        wake,
        Some(Action::Wake {
            request: second,
            at: SimTime::from_duration(Duration::from_micros(4800))
        })
    );
}

#[test]
fn a_worker_whose_calls_took_time_is_free_from_the_answer() {
    let json = r#"{"workers": 1, "endpoints": [{"path": "/", "service_time": "1ms",
        "calls": [{"call": {"service": "a", "path": "/a"}}]}]}"#;
    let mut a = app(json);
    let mut db = db();
    let first = accepted(a.arrive(ms(0), &get("/"), none()));
    let second = accepted(a.arrive(ms(0), &get("/"), none()));
    a.work_done(ms(1), first, &none(), &mut db);
    a.call_done(
        ms(7),
        first,
        CallIndex(0),
        CallOutcome::Status(200),
        &none(),
        &mut db,
    );
    let wake = actions(&mut a).into_iter().find(|x| x.request() == second);
    assert_eq!(
        wake,
        Some(Action::Wake {
            request: second,
            at: ms(8)
        })
    );
}

const CALLS: &str = r#"{"workers": 4, "endpoints": [{"path": "/", "service_time": "1ms",
    "error_status": 502, "response_size": 5, "calls": [
        {"call": {"service": "a", "path": "/a", "timeout": "50ms"}},
        {"parallel": [{"service": "b", "path": "/b"},
                      {"service": "c", "path": "/c", "on_failure": "tolerate"}]}
    ]}]}"#;

fn calls_of(actions: &[Action]) -> Vec<(usize, String, Option<SimTime>, bool)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Call { call, hung, .. } => Some((
                call.index.0,
                call.call.service.to_string(),
                call.deadline,
                *hung,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn the_call_plan_runs_step_by_step_and_answers_by_its_outcome() {
    let mut a = app(CALLS);
    let mut db = db();
    let id = accepted(a.arrive(ms(0), &get("/"), none()));
    assert_eq!(
        actions(&mut a),
        vec![Action::Wake {
            request: id,
            at: ms(1)
        }]
    );
    a.work_done(ms(1), id, &none(), &mut db);
    assert_eq!(
        calls_of(&actions(&mut a)),
        vec![(0, "a".into(), Some(ms(51)), false)]
    );
    a.call_done(
        ms(5),
        id,
        CallIndex(0),
        CallOutcome::Status(200),
        &none(),
        &mut db,
    );
    assert_eq!(
        calls_of(&actions(&mut a)),
        vec![(1, "b".into(), None, false), (2, "c".into(), None, false)]
    );
    // A tolerated failure does not fail the request; the step waits for both.
    a.call_done(
        ms(6),
        id,
        CallIndex(2),
        CallOutcome::Reset,
        &none(),
        &mut db,
    );
    assert!(actions(&mut a).is_empty());
    a.call_done(
        ms(9),
        id,
        CallIndex(1),
        CallOutcome::Status(200),
        &none(),
        &mut db,
    );
    assert_eq!(
        actions(&mut a),
        vec![respond(id, 200, Body::Filler(5), true)]
    );
    assert_eq!(a.in_flight(), 0);
}

#[test]
fn a_required_call_that_fails_fails_the_request_and_a_late_answer_is_ignored() {
    let mut a = app(CALLS);
    let mut db = db();
    let id = accepted(a.arrive(ms(0), &get("/"), none()));
    a.work_done(ms(1), id, &none(), &mut db);
    actions(&mut a);
    a.call_done(
        ms(51),
        id,
        CallIndex(0),
        CallOutcome::TimedOut,
        &none(),
        &mut db,
    );
    assert_eq!(actions(&mut a), vec![respond(id, 502, Body::Empty, true)]);
    a.call_done(
        ms(60),
        id,
        CallIndex(0),
        CallOutcome::Status(200),
        &none(),
        &mut db,
    );
    assert!(actions(&mut a).is_empty());
    // A 5xx answer fails it the same way; no later step starts.
    let id = accepted(a.arrive(ms(100), &get("/"), none()));
    a.work_done(ms(101), id, &none(), &mut db);
    actions(&mut a);
    a.call_done(
        ms(102),
        id,
        CallIndex(0),
        CallOutcome::Status(503),
        &none(),
        &mut db,
    );
    assert_eq!(actions(&mut a), vec![respond(id, 502, Body::Empty, true)]);
}

#[test]
fn a_gray_failure_slows_the_work_and_fails_its_share() {
    let mut a = app(CALLS);
    let mut db = db();
    let slow = HostEffects {
        slowdown: 3.0,
        errors: Some((1.0, 503)),
        ..HostEffects::default()
    };
    let id = accepted(a.arrive(ms(10), &get("/"), slow));
    assert_eq!(
        actions(&mut a),
        vec![Action::Wake {
            request: id,
            at: ms(13)
        }]
    );
    // The effects at arrival decide, not those when the work ends.
    a.work_done(ms(13), id, &none(), &mut db);
    assert_eq!(actions(&mut a), vec![respond(id, 503, Body::Empty, true)]);
    // A share of 0 fails nothing: the plan runs.
    let never = HostEffects {
        errors: Some((0.0, 503)),
        ..HostEffects::default()
    };
    let id = accepted(a.arrive(ms(20), &get("/"), never));
    a.work_done(ms(21), id, &none(), &mut db);
    assert_eq!(
        calls_of(&actions(&mut a)),
        vec![(0, "a".into(), Some(ms(71)), false)]
    );
}

#[test]
fn a_hang_is_read_when_the_call_is_made() {
    let mut a = app(CALLS);
    let mut db = db();
    let hang = HostEffects {
        hang: ["a".to_string()].into(),
        ..HostEffects::default()
    };
    // Hung at arrival, lifted when the call is made: it goes out.
    let id = accepted(a.arrive(ms(0), &get("/"), hang.clone()));
    a.work_done(ms(1), id, &none(), &mut db);
    assert_eq!(
        calls_of(&actions(&mut a)),
        vec![(0, "a".into(), Some(ms(51)), false)]
    );
    let id = accepted(a.arrive(ms(20), &get("/"), none()));
    a.work_done(ms(21), id, &hang, &mut db);
    assert_eq!(
        calls_of(&actions(&mut a)),
        vec![(0, "a".into(), Some(ms(71)), true)]
    );
}

#[test]
fn the_model_s_own_error_answers_without_calls() {
    let mut a = app(
        r#"{"workers": 1, "endpoints": [{"path": "/", "service_time": "1ms",
        "error_rate": 1.0, "error_status": 504,
        "calls": [{"call": {"service": "a", "path": "/a"}}]}]}"#,
    );
    let mut db = db();
    let id = accepted(a.arrive(ms(0), &get("/"), none()));
    a.work_done(ms(1), id, &none(), &mut db);
    assert_eq!(actions(&mut a)[1..], [respond(id, 504, Body::Empty, true)]);
}

#[test]
fn a_caller_that_leaves_gives_back_its_place_or_its_worker() {
    let mut a = app(ONE_WORKER);
    let mut db = db();
    let first = accepted(a.arrive(ms(0), &get("/work"), none()));
    let second = accepted(a.arrive(ms(0), &get("/work"), none()));
    actions(&mut a);
    // The queued one leaves: nothing else changes, and the queue has room again.
    a.abandon(ms(1), second);
    assert!(actions(&mut a).is_empty());
    assert_eq!((a.service().queue_len(), a.in_flight()), (0, 1));
    let third = accepted(a.arrive(ms(1), &get("/work"), none()));
    assert!(actions(&mut a).is_empty(), "queued");
    // The working one leaves: no answer, and its worker takes the third at once.
    a.abandon(ms(1), first);
    assert_eq!(
        actions(&mut a),
        vec![Action::Wake {
            request: third,
            at: ms(3)
        }]
    );
    a.work_done(ms(3), third, &none(), &mut db);
    assert_eq!(
        actions(&mut a),
        vec![respond(third, 200, Body::Filler(10), true)]
    );
    assert_eq!((a.in_flight(), a.service().busy()), (0, 0));
}

#[test]
fn calls_carry_the_trace_the_propagated_headers_the_order_ids_and_the_key() {
    let json = r#"{"app": "ordering-order", "workers": 1, "propagate_headers": ["X-Canary"],
        "endpoints": [{"method": "POST", "path": "/orders", "service_time": "1ms",
            "error_status": 502, "status": 201,
            "calls": [{"call": {"service": "inventory", "method": "POST", "path": "/reserve",
                "idempotency_key": true}}]}]}"#;
    let mut a = AppCore::new("order-v1-1", &config(json), service(json), 7, Vec::new());
    let mut db = db();
    let req = AppRequest::new("POST", "/orders")
        .with_header(TRACE_HEADER, "Root=1-abc;Parent=00000000000000aa;Sampled=1")
        .with_header("x-canary", "yes")
        .with_header("x-other", "no");
    let id = accepted(a.arrive(ms(0), &req, none()));
    actions(&mut a);
    a.work_done(ms(1), id, &none(), &mut db);
    let heads: Vec<AppRequest> = actions(&mut a)
        .into_iter()
        .filter_map(|x| match x {
            Action::Call { head, .. } => Some(head),
            _ => None,
        })
        .collect();
    let want = AppRequest::new("POST", "/reserve")
        .with_header(TRACE_HEADER, "Root=1-abc;Parent=00000000000000aa;Sampled=1")
        .with_header("x-canary", "yes")
        .with_header("x-order-id", "ord-1-abc")
        .with_header("x-sku", "sku-1")
        .with_header("idempotency-key", "ord-1-abc/inventory/reserve");
    assert_eq!(heads, vec![want]);
    // The order was created before the call, and fails on the reservation's 409.
    assert_eq!(db.orders.get("ord-1-abc").map(|o| o.creations), Some(1));
    a.call_done(
        ms(4),
        id,
        CallIndex(0),
        CallOutcome::Status(409),
        &none(),
        &mut db,
    );
    assert_eq!(
        actions(&mut a),
        vec![respond(id, 409, Body::Text("out of stock".into()), true)]
    );
    assert!(matches!(
        db.orders.get("ord-1-abc").map(|o| &o.state),
        Some(crate::model::ordering::OrderState::Failed { reason, .. }) if reason == "out_of_stock"
    ));
}

#[test]
fn inventory_answers_a_reservation_from_the_databases() {
    let json = r#"{"app": "ordering-inventory", "workers": 2, "endpoints": [
        {"method": "POST", "path": "/reserve", "service_time": "1ms"}]}"#;
    let mut a = AppCore::new(
        "inventory-v1-1",
        &config(json),
        service(json),
        7,
        Vec::new(),
    );
    let mut db = db();
    let reserve = |order: &str| {
        AppRequest::new("POST", "/reserve")
            .with_header("x-order-id", order)
            .with_header("x-sku", "sku-1")
    };
    let first = accepted(a.arrive(ms(0), &reserve("o-1"), none()));
    let second = accepted(a.arrive(ms(0), &reserve("o-2"), none()));
    actions(&mut a);
    a.work_done(ms(1), first, &none(), &mut db);
    a.work_done(ms(1), second, &none(), &mut db);
    assert_eq!(
        actions(&mut a),
        vec![
            respond(first, 200, Body::Empty, true),
            respond(second, 409, Body::Text("out of stock".into()), true),
        ]
    );
    assert_eq!(db.inventory.reservations().len(), 1);
}

#[test]
fn decisions_come_from_the_app_s_stream_in_its_order() {
    // Exponential service times through the app, against the same model driven directly
    // from `app/<task>` in the core's order (cap, arrive, …, complete).
    let json = r#"{"workers": 2, "endpoints": [{"path": "/", "service_time":
        {"distribution": "exponential", "mean": "10ms"}}]}"#;
    let mut a = app(json);
    let mut db = db();
    let mut reference = service(json);
    let mut rng = seed::stream(42, "app/svc-v1-1");
    let mut wakes = Vec::new();
    let mut want = Vec::new();
    for i in 0..3u64 {
        let now = ms(i);
        a.arrive(now, &get("/"), none());
        reference.set_worker_cap(now, None, &mut rng);
        if let Arrival::Started(s) = reference.arrive(now, RequestId(i), 0, &mut rng) {
            want.push(s.finish_at);
        }
    }
    // The first to finish frees its worker for the queued third.
    while let Some(action) = a.poll_action() {
        if let Action::Wake { at, .. } = action {
            wakes.push(at);
        }
    }
    assert_eq!(wakes, want);
    let first = want.iter().copied().enumerate().min_by_key(|(_, t)| *t);
    let (i, end) = first.expect("two started");
    a.work_done(end, RequestId(i as u64), &none(), &mut db);
    let next = reference
        .complete(end, RequestId(i as u64), &mut rng)
        .expect("the third starts");
    let woke: Vec<_> = std::iter::from_fn(|| a.poll_action())
        .filter_map(|x| match x {
            Action::Wake { at, .. } => Some(at),
            _ => None,
        })
        .collect();
    assert_eq!(woke, vec![next.finish_at]);
}
