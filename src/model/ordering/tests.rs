//! Tests of the stock table, the orders table and the invariants.

use super::*;

fn at(ms: u64) -> SimTime {
    SimTime::from_millis(ms)
}

fn catalog(items: &[(&str, u64)]) -> BTreeMap<String, u64> {
    items.iter().map(|(s, n)| (s.to_string(), *n)).collect()
}

#[test]
fn reserve_takes_stock_refuses_without_change_and_logs() {
    let mut inv = Inventory::new(&catalog(&[("sku-1", 3), ("sku-2", 0)]));
    assert_eq!(
        inv.reserve(at(1), "o-1", "sku-1", 2, None),
        Reserve::Reserved
    );
    assert_eq!(inv.item("sku-1"), Some(1));
    assert_eq!(
        inv.reserve(at(2), "o-2", "sku-1", 2, None),
        Reserve::OutOfStock
    );
    assert_eq!(
        inv.reserve(at(3), "o-3", "sku-2", 1, None),
        Reserve::OutOfStock
    );
    assert_eq!(
        inv.reserve(at(4), "o-4", "sku-9", 1, None),
        Reserve::UnknownSku
    );
    assert_eq!(inv.item("sku-9"), None);
    assert_eq!(
        inv.reserve(at(5), "o-5", "sku-1", 1, None),
        Reserve::Reserved
    );
    assert_eq!((inv.item("sku-1"), inv.item("sku-2")), (Some(0), Some(0)));
    let log: Vec<_> = inv
        .reservations()
        .iter()
        .map(|r| {
            (
                r.sequence,
                r.order.as_str(),
                r.sku.as_str(),
                r.quantity,
                r.at,
            )
        })
        .collect();
    assert_eq!(
        log,
        [(0, "o-1", "sku-1", 2, at(1)), (1, "o-5", "sku-1", 1, at(5))]
    );
    let s = inv.stats();
    assert_eq!(
        (s.reserved, s.out_of_stock, s.unknown_sku, s.replayed),
        (2, 2, 1, 0)
    );
    assert_eq!(
        [Reserve::Reserved, Reserve::OutOfStock, Reserve::UnknownSku].map(Reserve::status),
        [200, 409, 404]
    );
}

#[test]
fn a_replayed_key_answers_like_the_first_and_changes_nothing() {
    // Every kind of first outcome is kept: a replay of a success still succeeds after the
    // stock ran out, a replay of a 409 stays a 409, of a 404 a 404.
    let mut inv = Inventory::new(&catalog(&[("sku-1", 1)]));
    assert_eq!(
        inv.reserve(at(1), "o-1", "sku-1", 1, Some("o-1/reserve")),
        Reserve::Reserved
    );
    assert_eq!(
        inv.reserve(at(2), "o-2", "sku-1", 1, Some("o-2/reserve")),
        Reserve::OutOfStock
    );
    assert_eq!(
        inv.reserve(at(3), "o-3", "nope", 1, Some("o-3/reserve")),
        Reserve::UnknownSku
    );
    let replay = |inv: &mut Inventory, key: &str| inv.reserve(at(9), "o-1", "sku-1", 1, Some(key));
    let first = replay(&mut inv, "o-1/reserve");
    assert_eq!(
        first,
        Reserve::Replayed {
            original: Original::Reserved
        }
    );
    assert_eq!(first.status(), 200);
    assert_eq!(replay(&mut inv, "o-2/reserve").status(), 409);
    assert_eq!(replay(&mut inv, "o-3/reserve").status(), 404);
    assert_eq!(inv.reservations().len(), 1);
    assert_eq!(inv.item("sku-1"), Some(0));
    assert_eq!(inv.stats().replayed, 3);
    // Without a key, the same request is a new one.
    assert_eq!(
        inv.reserve(at(10), "o-1", "sku-1", 1, None),
        Reserve::OutOfStock
    );
}

#[test]
fn extreme_quantities_neither_wrap_nor_panic() {
    let mut inv = Inventory::new(&catalog(&[("big", u64::MAX)]));
    assert_eq!(
        inv.reserve(at(1), "o-1", "big", u64::MAX, None),
        Reserve::Reserved
    );
    assert_eq!(inv.item("big"), Some(0));
    assert_eq!(
        inv.reserve(at(2), "o-2", "big", u64::MAX, None),
        Reserve::OutOfStock
    );
    assert_eq!(inv.reserve(at(3), "o-3", "big", 0, None), Reserve::Reserved);
    assert_eq!(inv.balance("big"), Some(0));
}

#[test]
fn orders_count_creations_and_keep_the_latest_state() {
    let mut orders = Orders::new();
    assert_eq!(orders.create("o-1"), 1);
    assert_eq!(orders.create("o-1"), 2, "a retried POST /orders");
    assert_eq!(
        orders.get("o-1").map(|o| &o.state),
        Some(&OrderState::Pending)
    );
    orders.fail("o-1", at(5), "reserve_failed");
    orders.confirm("o-1", at(7));
    assert_eq!(
        orders.get("o-1"),
        Some(&Order {
            creations: 2,
            state: OrderState::Confirmed { at: at(7) }
        })
    );
    assert_eq!(orders.create("o-1"), 3);
    assert!(matches!(
        orders.get("o-1").map(|o| &o.state),
        Some(OrderState::Confirmed { .. })
    ));
    // A confirm without a create is recorded, not dropped.
    orders.confirm("o-2", at(8));
    assert_eq!(orders.get("o-2").map(|o| o.creations), Some(0));
    let ids: Vec<&str> = orders.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, ["o-1", "o-2"]);
    assert_eq!(orders.len(), 2);
}

// ---- invariants ----

use super::invariants::INVARIANT_NAMES;
use proptest::prelude::*;

/// The verdicts by name, checking the names come in the fixed order.
fn verdicts(inv: &Inventory, orders: &Orders) -> Vec<(bool, String)> {
    let all = check_invariants(inv, orders);
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, INVARIANT_NAMES);
    all.into_iter().map(|i| (i.held, i.detail)).collect()
}

fn held(inv: &Inventory, orders: &Orders) -> [bool; 5] {
    let v = verdicts(inv, orders);
    std::array::from_fn(|i| v[i].0)
}

#[test]
fn a_clean_run_holds_everything_and_says_what_was_counted() {
    // o-1 and o-2 reserved and confirmed; o-3 out of stock and failed: all hold.
    let mut inv = Inventory::new(&catalog(&[("sku-1", 2), ("sku-2", 5)]));
    let mut orders = Orders::new();
    for (order, sku) in [("o-1", "sku-1"), ("o-2", "sku-1"), ("o-3", "sku-1")] {
        orders.create(order);
        match inv.reserve(at(1), order, sku, 1, Some(order)) {
            Reserve::Reserved => orders.confirm(order, at(2)),
            _ => orders.fail(order, at(2), "out_of_stock"),
        }
    }
    let details: Vec<String> = verdicts(&inv, &orders)
        .into_iter()
        .map(|(held, detail)| {
            assert!(held, "{detail}");
            detail
        })
        .collect();
    assert_eq!(
        details,
        [
            "2 reservations for 2 orders, none reserved twice",
            "2 confirmed orders, each with exactly one reservation",
            "2 SKUs: 7 units at the start = 5 remaining + 2 reserved",
            "2 SKUs, none below zero; lowest: sku-1 at 0",
            "all 2 reservations belong to confirmed orders",
        ]
    );
    // Empty state: everything holds trivially.
    assert_eq!(held(&Inventory::default(), &Orders::new()), [true; 5]);
}

#[test]
fn double_booking_names_the_orders_and_the_kind_of_retry() {
    // o-1: POST /reserve retried without a key (created once, reserved twice).
    // o-2: POST /orders retried, each attempt reserving (created twice, reserved twice).
    let mut inv = Inventory::new(&catalog(&[("sku-1", 10)]));
    let mut orders = Orders::new();
    orders.create("o-2");
    orders.create("o-2");
    orders.create("o-1");
    for (order, qty) in [("o-2", 2), ("o-1", 1), ("o-2", 2), ("o-1", 1), ("o-3", 1)] {
        assert_eq!(
            inv.reserve(at(1), order, "sku-1", qty, None),
            Reserve::Reserved
        );
    }
    orders.create("o-3");
    for o in ["o-1", "o-2", "o-3"] {
        orders.confirm(o, at(2));
    }
    let v = verdicts(&inv, &orders);
    assert_eq!(
        v[0],
        (
            false,
            "2 of 3 orders reserved more than once: 2 extra reservations, 3 units \
             double-booked (1 of these orders were created more than once, so a retried \
             POST /orders reserved again; 1 were not, so a POST /reserve was retried without \
             an idempotency key): o-1 (reserved 2×, created 1×), o-2 (reserved 2×, created 2×)"
                .to_string()
        )
    );
    // Confirmed with two reservations each: the second invariant sees it too.
    assert!(!v[1].0);
    assert!(
        v[1].1
            .ends_with("o-1 (2 reservations), o-2 (2 reservations)"),
        "{}",
        v[1].1
    );
    // The stock itself still adds up: nothing was lost, only taken twice.
    assert!(v[2].0 && v[3].0 && v[4].0);
}

#[test]
fn confirming_without_a_reservation_is_reported() {
    let inv = Inventory::new(&catalog(&[("sku-1", 1)]));
    let mut orders = Orders::new();
    orders.create("o-1");
    orders.confirm("o-1", at(1));
    let v = verdicts(&inv, &orders);
    assert_eq!(
        v[1],
        (
            false,
            "1 of 1 confirmed orders do not have exactly one reservation (1 have none, so they \
             were confirmed without taking stock; 0 have several): o-1 (0 reservations)"
                .to_string()
        )
    );
    assert_eq!(held(&inv, &orders), [true, false, true, true, true]);
}

#[test]
fn leaked_reservations_are_reported_by_what_became_of_their_order() {
    // Failed after reserving (a timeout on the way back), still pending at the end, and a
    // reservation for an order the orders table never heard of.
    let mut inv = Inventory::new(&catalog(&[("sku-1", 10)]));
    let mut orders = Orders::new();
    for o in ["o-1", "o-2", "o-4"] {
        orders.create(o);
    }
    for o in ["o-1", "o-2", "o-3", "o-4"] {
        inv.reserve(at(1), o, "sku-1", 2, Some(o));
    }
    orders.fail("o-1", at(2), "reserve_failed");
    orders.confirm("o-4", at(2));
    let v = verdicts(&inv, &orders);
    assert_eq!(
        v[4],
        (
            false,
            "3 reservations (6 units) leaked on 3 orders that are not confirmed (1 failed, 1 \
             still pending, 1 never created): o-1 (failed: reserve_failed), o-2 (pending), \
             o-3 (never created)"
                .to_string()
        )
    );
    assert_eq!(held(&inv, &orders), [true, true, true, true, false]);
}

#[test]
fn a_corrupted_stock_table_breaks_conservation_and_sign() {
    // reserve() cannot produce these; a corrupted balance proves the checks look.
    let mut inv = Inventory::new(&catalog(&[("sku-1", 3), ("sku-2", 3)]));
    inv.reserve(at(1), "o-1", "sku-1", 3, None);
    inv.corrupt("sku-1", -2);
    inv.corrupt("sku-2", 1);
    let mut orders = Orders::new();
    orders.create("o-1");
    orders.confirm("o-1", at(2));
    let v = verdicts(&inv, &orders);
    assert_eq!(
        v[2].1,
        "2 of 2 SKUs do not add up to initial = remaining + reserved: sku-1 (initial 3, \
         remaining -2, reserved 3: 2 units missing), sku-2 (initial 3, remaining 4, reserved \
         0: 1 units appeared)"
    );
    assert_eq!(v[3].1, "1 of 2 SKUs below zero: sku-1 (-2)");
    assert_eq!(
        inv.item("sku-1"),
        Some(0),
        "GET shows no stock, not 2^64 − 2"
    );
    assert_eq!(held(&inv, &orders), [true, true, false, false, true]);
}

#[test]
fn details_show_the_first_few_offenders_sorted_whatever_the_order_of_events() {
    // Eight double-booked orders, reserved in two different orders: same bytes, the first
    // five ids in sorted order and a count of the rest.
    let run = |ids: &[&str]| {
        let mut inv = Inventory::new(&catalog(&[("sku-1", 100)]));
        let mut orders = Orders::new();
        for id in ids {
            orders.create(id);
            inv.reserve(at(1), id, "sku-1", 1, None);
            inv.reserve(at(2), id, "sku-1", 1, None);
            orders.confirm(id, at(3));
        }
        check_invariants(&inv, &orders)
    };
    let ids = ["o-8", "o-3", "o-1", "o-7", "o-2", "o-6", "o-5", "o-4"];
    let mut sorted = ids;
    sorted.sort_unstable();
    let forward = run(&ids);
    assert_eq!(forward, run(&sorted));
    assert!(
        forward[0].detail.ends_with(
            "o-1 (reserved 2×, created 1×), o-2 (reserved 2×, created 1×), o-3 (reserved 2×, \
             created 1×), o-4 (reserved 2×, created 1×), o-5 (reserved 2×, created 1×) and 3 \
             more"
        ),
        "{}",
        forward[0].detail
    );
    let json = serde_json::to_string(&forward[3]).expect("serialises");
    assert!(json.starts_with(r#"{"name":"no-negative-stock","held":true,"detail":"#));
}

// ---- properties ----

const SKUS: [&str; 4] = ["sku-0", "sku-1", "sku-2", "sku-x"]; // sku-x is not in the catalog

/// How an order's `POST /orders` ends after its reservation went through.
#[derive(Clone, Copy, Debug)]
enum End {
    /// Order saw the reservation's answer.
    Answered,
    /// The answer was lost (a timeout): Order failed the order.
    LostThenFailed,
    /// The answer was lost and the run ended first: the order stays pending.
    LostThenPending,
}

/// Orders, each with what it reserves and how it ends, the stock, and a sequence of
/// `POST /reserve` attempts, each naming an order (repeats are retries).
#[derive(Clone, Debug)]
struct Case {
    stock: [u64; 3],
    orders: Vec<(usize, u64, End)>,
    attempts: Vec<usize>,
}

fn case() -> impl Strategy<Value = Case> {
    let end = prop_oneof![
        3 => Just(End::Answered),
        1 => Just(End::LostThenFailed),
        1 => Just(End::LostThenPending),
    ];
    let order = (0usize..4, 0u64..4, end);
    (
        prop::array::uniform3(0u64..8),
        prop::collection::vec(order, 1..8),
    )
        .prop_flat_map(|(stock, orders)| {
            let n = orders.len();
            let attempts = prop::collection::vec(0..n, 0..24);
            (Just(stock), Just(orders), attempts)
        })
        .prop_map(|(stock, orders, attempts)| Case {
            stock,
            orders,
            attempts,
        })
}

fn id(i: usize) -> String {
    format!("ord-{i}")
}

impl Case {
    fn inventory(&self) -> Inventory {
        let catalog = (0..3)
            .map(|i| (SKUS[i].to_string(), self.stock[i]))
            .collect();
        Inventory::new(&catalog)
    }

    /// Runs every attempt, with a key per order or none; each order's outcomes in order.
    fn reserve(&self, inv: &mut Inventory, keyed: bool) -> Vec<Vec<Reserve>> {
        let mut outcomes = vec![Vec::new(); self.orders.len()];
        for (step, &i) in self.attempts.iter().enumerate() {
            let (sku, qty, _) = self.orders[i];
            let key = format!("{}/reserve", id(i));
            let key = keyed.then_some(key.as_str());
            let r = inv.reserve(at(step as u64), &id(i), SKUS[sku], qty, key);
            outcomes[i].push(r);
        }
        outcomes
    }
}

proptest! {
    #[test]
    fn with_idempotency_keys_only_lost_answers_can_break_an_invariant(case in case()) {
        // Retries carry the order's key, so however often an order's POST /reserve is
        // repeated it takes stock at most once, and every repeat answers like the first.
        // Order confirms exactly when it saw a reservation succeed; only an answer it never
        // saw (failed or pending order) leaves an orphan, and then always does.
        let mut inv = case.inventory();
        let outcomes = case.reserve(&mut inv, true);
        let mut orders = Orders::new();
        let mut orphans = false;
        for (i, rs) in outcomes.iter().enumerate() {
            let Some(first) = rs.first() else { continue };
            for r in &rs[1..] {
                prop_assert_eq!(r.status(), first.status(), "{} replay answered differently", id(i));
                let replayed = matches!(r, Reserve::Replayed { .. });
                prop_assert!(replayed, "{} retry not replayed: {:?}", id(i), r);
            }
            orders.create(&id(i));
            let reserved = *first == Reserve::Reserved;
            match (reserved, case.orders[i].2) {
                (true, End::Answered) => orders.confirm(&id(i), at(1000)),
                (true, End::LostThenFailed) => {
                    orphans = true;
                    orders.fail(&id(i), at(1000), "timeout");
                }
                (true, End::LostThenPending) => orphans = true,
                (false, _) => orders.fail(&id(i), at(1000), "out_of_stock"),
            }
        }
        prop_assert_eq!(held(&inv, &orders), [true, true, true, true, !orphans]);
    }

    #[test]
    fn without_keys_every_double_booked_order_is_reported(case in case()) {
        // The same retries without a key: reservation-once-per-order fails exactly when some
        // order got two successful reservations, and names the first such order.
        let mut inv = case.inventory();
        let outcomes = case.reserve(&mut inv, false);
        let mut orders = Orders::new();
        for i in 0..case.orders.len() {
            orders.create(&id(i));
            orders.confirm(&id(i), at(1000));
        }
        let twice: Vec<String> = (0..case.orders.len())
            .filter(|&i| outcomes[i].iter().filter(|r| **r == Reserve::Reserved).count() > 1)
            .map(id)
            .collect();
        let v = verdicts(&inv, &orders);
        prop_assert_eq!(v[0].0, twice.is_empty(), "{}", v[0].1);
        if let Some(first) = twice.first() {
            prop_assert!(v[0].1.contains(&format!("{first} (reserved ")), "{}", v[0].1);
        }
        prop_assert!(v[2].0 && v[3].0, "stock: {} / {}", v[2].1, v[3].1);
    }

    #[test]
    fn stock_is_conserved_under_any_sequence(
        stock in prop::array::uniform3(prop_oneof![0u64..10, Just(u64::MAX)]),
        calls in prop::collection::vec(
            (
                0usize..6,
                0usize..4,
                prop_oneof![0u64..5, Just(u64::MAX), any::<u64>()],
                prop::option::of(0u8..4),
            ),
            0..40,
        ),
    ) {
        // Any mix of keyed and unkeyed calls, keys reused across orders, unknown SKUs and
        // huge quantities: each SKU's stock is its initial stock minus exactly what the calls
        // answered Reserved took, the log holds exactly those, and both stock invariants hold.
        let catalog = (0..3).map(|i| (SKUS[i].to_string(), stock[i])).collect();
        let mut inv = Inventory::new(&catalog);
        let mut taken = [0i128; 3];
        for (step, (order, sku, qty, key)) in calls.iter().enumerate() {
            let key = key.map(|k| format!("key-{k}"));
            let before = inv.balance(SKUS[*sku]);
            let r = inv.reserve(at(step as u64), &id(*order), SKUS[*sku], *qty, key.as_deref());
            if r == Reserve::Reserved {
                taken[*sku] += i128::from(*qty);
            } else {
                prop_assert_eq!(inv.balance(SKUS[*sku]), before, "{:?} changed stock", r);
            }
        }
        for i in 0..3 {
            prop_assert_eq!(inv.balance(SKUS[i]), Some(i128::from(stock[i]) - taken[i]));
        }
        let sequences: Vec<u64> = inv.reservations().iter().map(|r| r.sequence).collect();
        prop_assert_eq!(sequences, (0..inv.stats().reserved).collect::<Vec<_>>());
        let v = verdicts(&inv, &Orders::new());
        prop_assert!(v[2].0 && v[3].0, "stock: {} / {}", v[2].1, v[3].1);
    }
}
