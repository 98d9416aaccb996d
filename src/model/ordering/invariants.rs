//! The Ordering app's invariants, checked against the final state of a run.
//!
//! Each one is reported whether it held or not, with a detail meant for the person reading
//! the report: counts first, then the first few offenders by id (ids sort as strings), and
//! where it helps, which kind of retry produces that failure. Everything is iterated from
//! ordered maps, so the same state always gives the same bytes.

use std::collections::BTreeMap;

use super::{Inventory, OrderState, Orders};

/// The invariants, in the order [`check_invariants`] reports them.
pub const INVARIANT_NAMES: [&str; 5] = [
    "reservation-once-per-order",
    "confirmed-orders-reserved",
    "stock-conserved",
    "no-negative-stock",
    "no-orphan-reservations",
];

/// Offenders listed in a detail; the rest are counted.
const SHOWN: usize = 5;

/// One invariant's verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Invariant {
    /// One of [`INVARIANT_NAMES`].
    pub name: String,
    /// Whether it held.
    pub held: bool,
    /// What was counted, and when it failed, the first offenders.
    pub detail: String,
}

/// Checks every invariant of the Ordering app, in the order of [`INVARIANT_NAMES`]:
/// - `reservation-once-per-order`: no order has more than one applied reservation (a retried
///   `POST /reserve` without an idempotency key, or a retried `POST /orders`, double-books);
/// - `confirmed-orders-reserved`: every confirmed order has exactly one reservation;
/// - `stock-conserved`: per SKU, initial stock = remaining + reserved;
/// - `no-negative-stock`: no SKU's balance is below zero;
/// - `no-orphan-reservations`: every reservation belongs to a confirmed order (stock reserved
///   for an order that failed, or never finished, is leaked).
pub fn check_invariants(inventory: &Inventory, orders: &Orders) -> Vec<Invariant> {
    let ledger = Ledger::of(inventory);
    vec![
        reservation_once_per_order(&ledger, orders),
        confirmed_orders_reserved(&ledger, orders),
        stock_conserved(&ledger, inventory),
        no_negative_stock(inventory),
        no_orphan_reservations(&ledger, orders),
    ]
}

/// An order's applied reservations.
#[derive(Clone, Copy, Debug, Default)]
struct Reserved {
    count: u64,
    units: i128,
    first_units: i128,
}

/// The reservation log, summed by order and by SKU.
struct Ledger<'a> {
    by_order: BTreeMap<&'a str, Reserved>,
    units_by_sku: BTreeMap<&'a str, i128>,
    total: usize,
}

impl<'a> Ledger<'a> {
    fn of(inventory: &'a Inventory) -> Ledger<'a> {
        let mut by_order: BTreeMap<&str, Reserved> = BTreeMap::new();
        let mut units_by_sku: BTreeMap<&str, i128> = BTreeMap::new();
        for r in inventory.reservations() {
            let units = i128::from(r.quantity);
            let o = by_order.entry(&r.order).or_default();
            if o.count == 0 {
                o.first_units = units;
            }
            o.count += 1;
            o.units = o.units.saturating_add(units);
            let s = units_by_sku.entry(&r.sku).or_default();
            *s = s.saturating_add(units);
        }
        Ledger {
            by_order,
            units_by_sku,
            total: inventory.reservations().len(),
        }
    }

    fn count(&self, order: &str) -> u64 {
        self.by_order.get(order).map_or(0, |r| r.count)
    }
}

fn verdict(name: &str, held: bool, detail: String) -> Invariant {
    Invariant {
        name: name.to_string(),
        held,
        detail,
    }
}

/// `a, b, c` for the first [`SHOWN`] of `items` (already in order), then `and N more`.
fn first_few(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().collect();
    let shown = items
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

fn reservation_once_per_order(ledger: &Ledger, orders: &Orders) -> Invariant {
    let twice: Vec<(&str, Reserved)> = ledger
        .by_order
        .iter()
        .filter(|(_, r)| r.count > 1)
        .map(|(id, r)| (*id, *r))
        .collect();
    let name = INVARIANT_NAMES[0];
    if twice.is_empty() {
        let detail = format!(
            "{} reservations for {} orders, none reserved twice",
            ledger.total,
            ledger.by_order.len()
        );
        return verdict(name, true, detail);
    }
    let creations = |id: &str| orders.get(id).map_or(0, |o| o.creations);
    let extra: u64 = twice.iter().map(|(_, r)| r.count - 1).sum();
    let units = twice
        .iter()
        .fold(0i128, |n, (_, r)| n.saturating_add(r.units - r.first_units));
    let recreated = twice.iter().filter(|(id, _)| creations(id) > 1).count();
    let detail = format!(
        "{} of {} orders reserved more than once: {extra} extra reservations, {units} units \
         double-booked ({recreated} of these orders were created more than once, so a retried \
         POST /orders reserved again; {} were not, so a POST /reserve was retried without an \
         idempotency key): {}",
        twice.len(),
        ledger.by_order.len(),
        twice.len() - recreated,
        first_few(twice.iter().map(|(id, r)| {
            format!("{id} (reserved {}×, created {}×)", r.count, creations(id))
        })),
    );
    verdict(name, false, detail)
}

fn confirmed_orders_reserved(ledger: &Ledger, orders: &Orders) -> Invariant {
    let confirmed: Vec<&str> = orders
        .iter()
        .filter(|(_, o)| matches!(o.state, OrderState::Confirmed { .. }))
        .map(|(id, _)| id)
        .collect();
    let bad: Vec<(&str, u64)> = confirmed
        .iter()
        .map(|id| (*id, ledger.count(id)))
        .filter(|(_, n)| *n != 1)
        .collect();
    let name = INVARIANT_NAMES[1];
    if bad.is_empty() {
        let detail = format!(
            "{} confirmed orders, each with exactly one reservation",
            confirmed.len()
        );
        return verdict(name, true, detail);
    }
    let none = bad.iter().filter(|(_, n)| *n == 0).count();
    let detail = format!(
        "{} of {} confirmed orders do not have exactly one reservation ({none} have none, so \
         they were confirmed without taking stock; {} have several): {}",
        bad.len(),
        confirmed.len(),
        bad.len() - none,
        first_few(bad.iter().map(|(id, n)| format!("{id} ({n} reservations)"))),
    );
    verdict(name, false, detail)
}

fn stock_conserved(ledger: &Ledger, inventory: &Inventory) -> Invariant {
    // Every SKU of the catalog, and any SKU the log names that the catalog lacks.
    let mut skus: Vec<&str> = inventory.skus().collect();
    skus.extend(ledger.units_by_sku.keys().copied());
    skus.sort_unstable();
    skus.dedup();
    let mut sums = (0i128, 0i128, 0i128);
    let mut off = Vec::new();
    for sku in &skus {
        let initial = inventory.initial(sku).map_or(0, i128::from);
        let remaining = inventory.balance(sku).unwrap_or(0);
        let reserved = ledger.units_by_sku.get(sku).copied().unwrap_or(0);
        sums = (
            sums.0.saturating_add(initial),
            sums.1.saturating_add(remaining),
            sums.2.saturating_add(reserved),
        );
        let accounted = remaining.saturating_add(reserved);
        if accounted != initial {
            let gap = if accounted < initial {
                format!("{} units missing", initial - accounted)
            } else {
                format!("{} units appeared", accounted - initial)
            };
            off.push(format!(
                "{sku} (initial {initial}, remaining {remaining}, reserved {reserved}: {gap})"
            ));
        }
    }
    let name = INVARIANT_NAMES[2];
    if off.is_empty() {
        let detail = format!(
            "{} SKUs: {} units at the start = {} remaining + {} reserved",
            skus.len(),
            sums.0,
            sums.1,
            sums.2
        );
        return verdict(name, true, detail);
    }
    let detail = format!(
        "{} of {} SKUs do not add up to initial = remaining + reserved: {}",
        off.len(),
        skus.len(),
        first_few(off.iter().cloned())
    );
    verdict(name, false, detail)
}

fn no_negative_stock(inventory: &Inventory) -> Invariant {
    let balances: Vec<(&str, i128)> = inventory
        .skus()
        .map(|sku| (sku, inventory.balance(sku).unwrap_or(0)))
        .collect();
    let negative: Vec<String> = balances
        .iter()
        .filter(|(_, b)| *b < 0)
        .map(|(sku, b)| format!("{sku} ({b})"))
        .collect();
    let name = INVARIANT_NAMES[3];
    if negative.is_empty() {
        let lowest = balances
            .iter()
            .min_by_key(|(sku, b)| (*b, *sku))
            .map_or_else(String::new, |(sku, b)| format!("; lowest: {sku} at {b}"));
        let detail = format!("{} SKUs, none below zero{lowest}", balances.len());
        return verdict(name, true, detail);
    }
    let detail = format!(
        "{} of {} SKUs below zero: {}",
        negative.len(),
        balances.len(),
        first_few(negative.iter().cloned())
    );
    verdict(name, false, detail)
}

fn no_orphan_reservations(ledger: &Ledger, orders: &Orders) -> Invariant {
    let mut orphans = Vec::new();
    let (mut failed, mut pending, mut unknown) = (0, 0, 0);
    let (mut reservations, mut units) = (0u64, 0i128);
    for (id, r) in &ledger.by_order {
        let why = match orders.get(id).map(|o| &o.state) {
            Some(OrderState::Confirmed { .. }) => continue,
            Some(OrderState::Failed { reason, .. }) => {
                failed += 1;
                format!("failed: {reason}")
            }
            Some(OrderState::Pending) => {
                pending += 1;
                "pending".to_string()
            }
            None => {
                unknown += 1;
                "never created".to_string()
            }
        };
        reservations += r.count;
        units = units.saturating_add(r.units);
        orphans.push(format!("{id} ({why})"));
    }
    let name = INVARIANT_NAMES[4];
    if orphans.is_empty() {
        let detail = format!(
            "all {} reservations belong to confirmed orders",
            ledger.total
        );
        return verdict(name, true, detail);
    }
    let detail = format!(
        "{reservations} reservations ({units} units) leaked on {} orders that are not \
         confirmed ({failed} failed, {pending} still pending, {unknown} never created): {}",
        orphans.len(),
        first_few(orphans.iter().cloned())
    );
    verdict(name, false, detail)
}
