//! The Ordering app's state and logic: Inventory's stock ledger and Order's orders, the invariants
//! checked at the end of every run, and the business logic over plain values (`logic`).
//!
//! The app: the UI's `POST /checkout` places an order through Order; Order's `POST /orders`
//! creates the order, reserves stock at Inventory's `POST /reserve`, then confirms the order
//! or fails it; Inventory answers `GET /items/{sku}` and `POST /reserve` (409 when out of
//! stock). Every Inventory replica shares one stock table and every Order replica one orders
//! table, as the real databases would be, so these types are the databases: one
//! [`Inventory`] and one [`Orders`] per run, whatever the number of tasks.
//!
//! What the simulation is after is the classic distributed-systems failure: a `POST /reserve`
//! whose response is lost (a timeout, a reset) gets retried by a sidecar or by the app, and
//! without an idempotency key the retry reserves the same order's stock a second time. Each
//! operation here is atomic (a database transaction), so the only way to break the
//! invariants is through the requests the mesh delivers, which is the point.
//!
//! Choices:
//! - **An idempotency key is scoped to the whole stock table** and identifies the call by
//!   itself: a request whose key was seen before gets the first outcome back, even if its
//!   order, SKU or quantity differ (keys are derived from the order and the call, so a
//!   differing payload would be a caller bug, and answering the first outcome is what keyed
//!   APIs do for a true replay). Outcomes of every kind are kept, a 409 or 404 included, so
//!   a replay answers exactly like the first attempt.
//! - **Stock is kept as `i128`**: every `u64` stock and quantity fits, subtraction cannot
//!   wrap, and a balance below zero, which `reserve` never produces, would show as such to
//!   [`check_invariants`] instead of as a huge positive number.
//! - **An order's state is the latest write**, as an `UPDATE` would leave it: an order failed
//!   by one attempt of a retried `POST /orders` and confirmed by the next is confirmed.
//! - **Nothing is ever released**: the app has no compensation step, so stock reserved for
//!   an order that then failed stays taken, and `no-orphan-reservations` reports it.

mod invariants;
mod logic;

use std::collections::BTreeMap;

use crate::engine::SimTime;

pub use invariants::{INVARIANT_NAMES, Invariant, check_invariants};
pub use logic::{Databases, Endpoint, OrderContext, after_calls, before_calls, idempotency_key};

/// One applied reservation, as the stock table's log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Position in the log: 0 for the first reservation applied, 1 for the next, ….
    pub sequence: u64,
    /// The order it was made for.
    pub order: String,
    /// The SKU taken.
    pub sku: String,
    /// Units taken.
    pub quantity: u64,
    /// When it was applied.
    pub at: SimTime,
}

/// What the first reservation request with a given idempotency key came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Original {
    /// Stock was taken.
    Reserved,
    /// Not enough stock (409).
    OutOfStock,
    /// No such SKU (404).
    UnknownSku,
}

impl Original {
    /// The HTTP status Inventory answers with.
    pub fn status(self) -> u16 {
        match self {
            Original::Reserved => 200,
            Original::OutOfStock => 409,
            Original::UnknownSku => 404,
        }
    }
}

/// What a `POST /reserve` came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserve {
    /// Stock was decremented and the reservation recorded (200).
    Reserved,
    /// The idempotency key was seen before: nothing changed, and the request is answered
    /// like the first one with that key (`original.status()`).
    Replayed {
        /// The first request's outcome.
        original: Original,
    },
    /// Less stock than asked for: nothing changed (409).
    OutOfStock,
    /// No such SKU: nothing changed (404).
    UnknownSku,
}

impl Reserve {
    /// The HTTP status Inventory answers with; a replay answers like the original.
    pub fn status(self) -> u16 {
        match self {
            Reserve::Reserved => Original::Reserved.status(),
            Reserve::Replayed { original } => original.status(),
            Reserve::OutOfStock => Original::OutOfStock.status(),
            Reserve::UnknownSku => Original::UnknownSku.status(),
        }
    }
}

/// Counts of reservation requests by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InventoryStats {
    /// Reservations applied.
    pub reserved: u64,
    /// Requests answered from an idempotency key seen before.
    pub replayed: u64,
    /// Requests refused for lack of stock (replays not included).
    pub out_of_stock: u64,
    /// Requests for an unknown SKU (replays not included).
    pub unknown_sku: u64,
}

/// Inventory's stock table, shared by every Inventory replica.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    initial: BTreeMap<String, u64>,
    stock: BTreeMap<String, i128>,
    reservations: Vec<Reservation>,
    keys: BTreeMap<String, Original>,
    stats: InventoryStats,
}

impl Inventory {
    /// A stock table holding `catalog` (SKU → units).
    pub fn new(catalog: &BTreeMap<String, u64>) -> Inventory {
        Inventory {
            initial: catalog.clone(),
            stock: catalog
                .iter()
                .map(|(sku, n)| (sku.clone(), i128::from(*n)))
                .collect(),
            ..Inventory::default()
        }
    }

    /// Current stock of `sku` for `GET /items/{sku}` (a balance below zero, which only a bug
    /// could cause, reads 0 here; see [`Inventory::balance`]); `None` if there is no such SKU.
    pub fn item(&self, sku: &str) -> Option<u64> {
        self.balance(sku).map(|b| u64::try_from(b).unwrap_or(0))
    }

    /// Current stock of `sku`, signed, as the invariants see it.
    pub fn balance(&self, sku: &str) -> Option<i128> {
        self.stock.get(sku).copied()
    }

    /// Stock of `sku` when the run started.
    pub fn initial(&self, sku: &str) -> Option<u64> {
        self.initial.get(sku).copied()
    }

    /// The SKUs, in order.
    pub fn skus(&self) -> impl Iterator<Item = &str> {
        self.initial.keys().map(String::as_str)
    }

    /// Every reservation applied, in the order applied.
    pub fn reservations(&self) -> &[Reservation] {
        &self.reservations
    }

    /// Counts by outcome.
    pub fn stats(&self) -> InventoryStats {
        self.stats
    }

    /// `POST /reserve`: takes `quantity` units of `sku` for `order` at `at`, atomically. A
    /// request carrying an `idempotency_key` seen before changes nothing and gets the first
    /// outcome back.
    pub fn reserve(
        &mut self,
        at: SimTime,
        order: &str,
        sku: &str,
        quantity: u64,
        idempotency_key: Option<&str>,
    ) -> Reserve {
        if let Some(original) = idempotency_key.and_then(|k| self.keys.get(k)) {
            self.stats.replayed += 1;
            return Reserve::Replayed {
                original: *original,
            };
        }
        let wanted = i128::from(quantity);
        let outcome = match self.stock.get_mut(sku) {
            None => {
                self.stats.unknown_sku += 1;
                Original::UnknownSku
            }
            Some(stock) if *stock < wanted => {
                self.stats.out_of_stock += 1;
                Original::OutOfStock
            }
            Some(stock) => {
                *stock -= wanted;
                self.reservations.push(Reservation {
                    sequence: self.stats.reserved,
                    order: order.to_string(),
                    sku: sku.to_string(),
                    quantity,
                    at,
                });
                self.stats.reserved += 1;
                Original::Reserved
            }
        };
        if let Some(key) = idempotency_key {
            self.keys.insert(key.to_string(), outcome);
        }
        match outcome {
            Original::Reserved => Reserve::Reserved,
            Original::OutOfStock => Reserve::OutOfStock,
            Original::UnknownSku => Reserve::UnknownSku,
        }
    }

    /// Moves `sku`'s balance by `delta` behind the ledger's back, to prove the invariants
    /// notice a corrupted table.
    #[cfg(test)]
    pub(crate) fn corrupt(&mut self, sku: &str, delta: i128) {
        *self.stock.entry(sku.to_string()).or_default() += delta;
    }
}

/// Where an order stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// Created, neither confirmed nor failed yet (in flight, or its request was lost).
    Pending,
    /// Confirmed to the customer.
    Confirmed {
        /// When.
        at: SimTime,
    },
    /// Failed.
    Failed {
        /// When.
        at: SimTime,
        /// Why (`out_of_stock`, `reserve_failed`, …).
        reason: String,
    },
}

/// One order, as the orders table holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Times `POST /orders` created it: more than 1 means a retried request created it again;
    /// 0 means it was confirmed or failed without ever being created (a caller bug).
    pub creations: u64,
    /// The latest state written.
    pub state: OrderState,
}

/// Order's orders table, shared by every Order replica.
#[derive(Clone, Debug, Default)]
pub struct Orders {
    orders: BTreeMap<String, Order>,
}

impl Orders {
    /// An empty table.
    pub fn new() -> Orders {
        Orders::default()
    }

    /// `POST /orders` creates `order`; returns how many times it has been created, this time
    /// included. Creating an order again leaves its state as it was.
    pub fn create(&mut self, order: &str) -> u64 {
        let entry = self.entry(order);
        entry.creations = entry.creations.saturating_add(1);
        entry.creations
    }

    /// Confirms `order` at `at` (the latest write wins).
    pub fn confirm(&mut self, order: &str, at: SimTime) {
        self.entry(order).state = OrderState::Confirmed { at };
    }

    /// Fails `order` at `at` for `reason` (the latest write wins).
    pub fn fail(&mut self, order: &str, at: SimTime, reason: &str) {
        self.entry(order).state = OrderState::Failed {
            at,
            reason: reason.to_string(),
        };
    }

    /// One order.
    pub fn get(&self, order: &str) -> Option<&Order> {
        self.orders.get(order)
    }

    /// Every order, by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Order)> {
        self.orders.iter().map(|(id, o)| (id.as_str(), o))
    }

    /// Number of orders.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
    }

    /// The order, recorded with no creation if unknown, so that a confirm or a fail is never
    /// lost even when it comes without a create.
    fn entry(&mut self, order: &str) -> &mut Order {
        self.orders.entry(order.to_string()).or_insert(Order {
            creations: 0,
            state: OrderState::Pending,
        })
    }
}

#[cfg(test)]
mod tests;
