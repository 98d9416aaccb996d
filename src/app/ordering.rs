//! The Ordering app's business logic on top of the generic service model: UI checkout and
//! browse, Order's `POST /orders`, Inventory's items and reservations, against the shared
//! databases in [`model::ordering`](crate::model::ordering).
//!
//! **Order ids come from the user request's trace root**, so every retry of one checkout, at
//! any hop, carries the same order id; an idempotency key derived from it (`<order>/reserve`)
//! is therefore the same on a retry of `POST /orders` by the UI's sidecar as on a retry of
//! `POST /reserve` by Order's sidecar. A key per request (the model's `req-<id>/<call>`)
//! would not survive the first kind of retry, and double booking would slip through.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::{respond, respond_text};
use crate::model::calls::{CallOutcome, CallToMake};
use crate::model::ordering::{Inventory, Orders};
use crate::model::request::AppRequest;
use crate::model::service::AppKind;
use crate::proxy::telemetry::{TRACE_HEADER, TraceContext};
use crate::proxy::{Payload, wire};

/// The Ordering app's databases, shared by every replica of a service (one stock table, one
/// orders table), as the app's real databases would be.
#[derive(Debug)]
pub struct Databases {
    /// Inventory's stock and reservations.
    pub inventory: Inventory,
    /// Order's orders.
    pub orders: Orders,
    /// SKUs, in order, for picking one when a request names none.
    pub catalog: Vec<String>,
}

impl Databases {
    /// Databases with this initial stock.
    pub fn new(catalog: &BTreeMap<String, u64>) -> Databases {
        Databases {
            inventory: Inventory::new(catalog),
            orders: Orders::default(),
            catalog: catalog.keys().cloned().collect(),
        }
    }
}

/// Which piece of Ordering logic an endpoint runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Timing, errors and calls only.
    Generic,
    /// UI `GET /`: browse items through Inventory.
    Browse,
    /// UI `POST /checkout`: place an order through Order.
    Checkout,
    /// Order `POST /orders`: reserve at Inventory, then confirm or fail.
    CreateOrder,
    /// Inventory `GET /items/{sku}`.
    GetItem,
    /// Inventory `POST /reserve`.
    Reserve,
}

impl Endpoint {
    /// The logic for a request to a service of `kind`.
    pub fn of(kind: AppKind, method: &str, path: &str) -> Endpoint {
        match (kind, method, path) {
            (AppKind::OrderingUi, "POST", "/checkout") => Endpoint::Checkout,
            (AppKind::OrderingUi, "GET", _) => Endpoint::Browse,
            (AppKind::OrderingOrder, "POST", "/orders") => Endpoint::CreateOrder,
            (AppKind::OrderingInventory, "POST", "/reserve") => Endpoint::Reserve,
            (AppKind::OrderingInventory, "GET", p) if p.starts_with("/items/") => Endpoint::GetItem,
            _ => Endpoint::Generic,
        }
    }
}

/// The business identifiers of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderContext {
    /// Order id (`x-order-id`, else `ord-<trace root>`).
    pub order: String,
    /// SKU (`x-sku`, the `{sku}` path parameter, else one picked from the order id).
    pub sku: String,
    /// The idempotency key the caller sent.
    pub key: Option<String>,
}

impl OrderContext {
    /// The identifiers of `req`.
    pub fn of(
        req: &AppRequest,
        params: &BTreeMap<String, String>,
        databases: &RefCell<Databases>,
    ) -> OrderContext {
        let header = |name: &str| req.text_header(name).map(str::to_string);
        let order = header("x-order-id").unwrap_or_else(|| {
            let root = header(TRACE_HEADER)
                .and_then(|t| TraceContext::parse(&t))
                .map_or_else(|| "untraced".to_string(), |t| t.root);
            format!("ord-{root}")
        });
        let sku = header("x-sku")
            .or_else(|| params.get("sku").cloned())
            .unwrap_or_else(|| {
                let db = databases.borrow();
                let n = db.catalog.len().max(1);
                let h = order.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                let i = usize::try_from(h % n as u64).unwrap_or(0);
                db.catalog.get(i).cloned().unwrap_or_else(|| "sku-1".into())
            });
        OrderContext {
            order,
            sku,
            key: header("idempotency-key"),
        }
    }

    /// A call path with `{sku}` and `{order}` filled in.
    pub fn fill(&self, path: &str) -> String {
        path.replace("{sku}", &self.sku)
            .replace("{order}", &self.order)
    }

    /// Headers every call carries onward.
    pub fn headers(&self) -> [(&'static str, &str); 2] {
        [("x-order-id", &self.order), ("x-sku", &self.sku)]
    }
}

/// The idempotency key a call carries, if its config asks for one.
pub fn idempotency_key(
    endpoint: Endpoint,
    ctx: &OrderContext,
    call: &CallToMake,
) -> Option<String> {
    if !call.call.idempotency_key {
        return None;
    }
    match endpoint {
        Endpoint::Generic => call.idempotency_key.clone(),
        _ => Some(format!(
            "{}/{}{}",
            ctx.order,
            call.call.service,
            ctx.fill(&call.call.path)
        )),
    }
}

/// Logic that runs before the calls; `Some` answers the request at once.
pub fn before_calls(
    endpoint: Endpoint,
    ctx: &OrderContext,
    databases: &RefCell<Databases>,
) -> Option<http::Response<Payload>> {
    let mut db = databases.borrow_mut();
    match endpoint {
        Endpoint::GetItem => Some(match db.inventory.item(&ctx.sku) {
            Some(stock) => respond_text(200, &stock.to_string()),
            None => respond(404, Payload::empty()),
        }),
        Endpoint::Reserve => {
            let outcome =
                db.inventory
                    .reserve(wire::now(), &ctx.order, &ctx.sku, 1, ctx.key.as_deref());
            // A replay answers what the first call was answered.
            Some(match outcome.status() {
                200 => respond(200, Payload::empty()),
                409 => respond_text(409, "out of stock"),
                status => respond(status, Payload::empty()),
            })
        }
        Endpoint::CreateOrder => {
            db.orders.create(&ctx.order);
            None
        }
        Endpoint::Generic | Endpoint::Browse | Endpoint::Checkout => None,
    }
}

/// What the calls came to.
#[derive(Debug)]
pub struct CallsResult {
    /// How the first required call to fail failed.
    pub failed: Option<CallOutcome>,
}

/// Logic that runs after the calls, and the answer.
pub fn after_calls(
    endpoint: Endpoint,
    ctx: &OrderContext,
    databases: &RefCell<Databases>,
    results: CallsResult,
    status: u16,
    response_bytes: u64,
    failure_status: u16,
) -> http::Response<Payload> {
    let out_of_stock = results.failed == Some(CallOutcome::Status(409));
    if endpoint == Endpoint::CreateOrder {
        let mut db = databases.borrow_mut();
        let now = wire::now();
        match results.failed {
            None => db.orders.confirm(&ctx.order, now),
            Some(_) if out_of_stock => db.orders.fail(&ctx.order, now, "out_of_stock"),
            Some(_) => db.orders.fail(&ctx.order, now, "reserve_failed"),
        }
    }
    match results.failed {
        None => respond(status, Payload::filler(response_bytes)),
        // An out-of-stock answer is the business outcome, passed on as such.
        Some(_) if out_of_stock && endpoint != Endpoint::Generic => {
            respond_text(409, "out of stock")
        }
        Some(_) => respond(failure_status, Payload::empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scenario's load-time traffic checks must know every header the apps set, or they
    /// would call a route matching on one unreachable.
    #[test]
    fn the_headers_calls_carry_are_known_to_the_traffic_checks() {
        let ctx = OrderContext {
            order: "o".into(),
            sku: "s".into(),
            key: Some("k".into()),
        };
        let known = crate::scenario::traffic::SET_BY_THE_RUN;
        for (name, _) in ctx.headers() {
            assert!(known.contains(&name), "{name}");
        }
        for name in ["idempotency-key", TRACE_HEADER] {
            assert!(known.contains(&name), "{name}");
        }
    }

    #[test]
    fn the_order_and_sku_come_from_the_request_s_headers_else_its_trace_and_path() {
        let db = RefCell::new(Databases::new(&BTreeMap::from([
            ("sku-1".to_string(), 5),
            ("sku-2".to_string(), 5),
        ])));
        let none = BTreeMap::new();
        let named = AppRequest::new("POST", "/orders")
            .with_header("x-order-id", "ord-7")
            .with_header("x-sku", "sku-2")
            .with_header("idempotency-key", "ord-7/inventory/reserve");
        let ctx = OrderContext::of(&named, &none, &db);
        assert_eq!(
            (ctx.order.as_str(), ctx.sku.as_str(), ctx.key.as_deref()),
            ("ord-7", "sku-2", Some("ord-7/inventory/reserve"))
        );
        // No order id: the trace root's, so every retry of one checkout shares it; the SKU
        // from the path parameter.
        let traced = AppRequest::new("GET", "/items/sku-1")
            .with_header(TRACE_HEADER, "Root=1-abc;Parent=00000000000000aa;Sampled=1");
        let root = TraceContext::parse("Root=1-abc;Parent=00000000000000aa;Sampled=1")
            .map(|t| t.root)
            .expect("a trace header");
        let params = BTreeMap::from([("sku".to_string(), "sku-1".to_string())]);
        let ctx = OrderContext::of(&traced, &params, &db);
        assert_eq!(ctx.order, format!("ord-{root}"));
        assert_eq!((ctx.sku.as_str(), ctx.key), ("sku-1", None));
        // An order id that is not text an HTTP library hands over is not read.
        let odd = AppRequest::new("GET", "/").with_header("x-order-id", "ordé");
        assert_eq!(OrderContext::of(&odd, &none, &db).order, "ord-untraced");
    }
}
