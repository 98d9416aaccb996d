//! The Ordering app's business logic on top of the generic service model, over plain values:
//! UI checkout and browse, Order's `POST /orders`, Inventory's items and reservations, against
//! the shared [`Databases`]. Both backends run it through [`AppCore`](crate::model::app::AppCore).
//!
//! **Order ids come from the user request's trace root**, so every retry of one checkout, at
//! any hop, carries the same order id; an idempotency key derived from it (`<order>/reserve`)
//! is therefore the same on a retry of `POST /orders` by the UI's sidecar as on a retry of
//! `POST /reserve` by Order's sidecar. A key per request (the model's `req-<id>/<call>`)
//! would not survive the first kind of retry, and double booking would slip through.

use std::collections::BTreeMap;

use super::{Inventory, Orders};
use crate::engine::SimTime;
use crate::model::calls::{CallOutcome, CallToMake};
use crate::model::request::{AppRequest, Body, TRACE_HEADER, trace_root};
use crate::model::service::AppKind;

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
    /// The identifiers of `req`, whose matched endpoint captured `params`.
    pub fn of(
        req: &AppRequest,
        params: &BTreeMap<String, String>,
        databases: &Databases,
    ) -> OrderContext {
        let header = |name: &str| req.text_header(name).map(str::to_string);
        let order = header("x-order-id").unwrap_or_else(|| {
            let root = req
                .text_header(TRACE_HEADER)
                .and_then(trace_root)
                .unwrap_or("untraced");
            format!("ord-{root}")
        });
        let sku = header("x-sku")
            .or_else(|| params.get("sku").cloned())
            .unwrap_or_else(|| {
                let n = databases.catalog.len().max(1);
                let h = order.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                let i = usize::try_from(h % n as u64).unwrap_or(0);
                databases
                    .catalog
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| "sku-1".into())
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

/// Logic that runs at `now`, before the calls; `Some` answers the request at once (status and
/// body).
pub fn before_calls(
    endpoint: Endpoint,
    ctx: &OrderContext,
    databases: &mut Databases,
    now: SimTime,
) -> Option<(u16, Body)> {
    match endpoint {
        Endpoint::GetItem => Some(match databases.inventory.item(&ctx.sku) {
            Some(stock) => (200, Body::Text(stock.to_string())),
            None => (404, Body::Empty),
        }),
        Endpoint::Reserve => {
            let outcome =
                databases
                    .inventory
                    .reserve(now, &ctx.order, &ctx.sku, 1, ctx.key.as_deref());
            // A replay answers what the first call was answered.
            Some(match outcome.status() {
                409 => (409, Body::Text("out of stock".into())),
                status => (status, Body::Empty),
            })
        }
        Endpoint::CreateOrder => {
            databases.orders.create(&ctx.order);
            None
        }
        Endpoint::Generic | Endpoint::Browse | Endpoint::Checkout => None,
    }
}

/// Logic that runs at `now`, after the calls (`failed`: how the first required call to fail
/// failed), and the answer: the endpoint's `status` and `response_bytes` of filler, or its
/// `failure_status`, or an out-of-stock conflict passed on.
#[allow(clippy::too_many_arguments)]
pub fn after_calls(
    endpoint: Endpoint,
    ctx: &OrderContext,
    databases: &mut Databases,
    now: SimTime,
    failed: Option<CallOutcome>,
    status: u16,
    response_bytes: u64,
    failure_status: u16,
) -> (u16, Body) {
    let out_of_stock = failed == Some(CallOutcome::Status(409));
    if endpoint == Endpoint::CreateOrder {
        let orders = &mut databases.orders;
        match failed {
            None => orders.confirm(&ctx.order, now),
            Some(_) if out_of_stock => orders.fail(&ctx.order, now, "out_of_stock"),
            Some(_) => orders.fail(&ctx.order, now, "reserve_failed"),
        }
    }
    match failed {
        None => (status, Body::Filler(response_bytes)),
        // An out-of-stock answer is the business outcome, passed on as such.
        Some(_) if out_of_stock && endpoint != Endpoint::Generic => {
            (409, Body::Text("out of stock".into()))
        }
        Some(_) => (failure_status, Body::Empty),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ordering::OrderState;

    fn db() -> Databases {
        Databases::new(&BTreeMap::from([
            ("sku-1".to_string(), 1),
            ("sku-2".to_string(), 5),
        ]))
    }

    #[test]
    fn the_order_and_sku_come_from_the_request_s_headers_else_its_trace_and_path() {
        let db = db();
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
        let params = BTreeMap::from([("sku".to_string(), "sku-1".to_string())]);
        let ctx = OrderContext::of(&traced, &params, &db);
        assert_eq!(ctx.order, "ord-1-abc");
        assert_eq!((ctx.sku.as_str(), ctx.key), ("sku-1", None));
        // An order id that is not text an HTTP library hands over is not read.
        let odd = AppRequest::new("GET", "/").with_header("x-order-id", "ordé");
        let ctx = OrderContext::of(&odd, &none, &db);
        assert_eq!(ctx.order, "ord-untraced");
        // No SKU anywhere: one picked from the catalog by the order id, the same every time.
        assert!(db.catalog.contains(&ctx.sku));
        assert_eq!(OrderContext::of(&odd, &none, &db).sku, ctx.sku);
        assert_eq!(
            ctx.fill("/items/{sku}/{order}"),
            format!("/items/{}/ord-untraced", ctx.sku)
        );
    }

    fn ctx(order: &str, sku: &str, key: Option<&str>) -> OrderContext {
        OrderContext {
            order: order.into(),
            sku: sku.into(),
            key: key.map(str::to_string),
        }
    }

    #[test]
    fn inventory_answers_items_and_reservations_before_any_call() {
        let mut db = db();
        let t = SimTime::from_millis(3);
        let item = before_calls(Endpoint::GetItem, &ctx("o", "sku-2", None), &mut db, t);
        assert_eq!(item, Some((200, Body::Text("5".into()))));
        let unknown = before_calls(Endpoint::GetItem, &ctx("o", "nope", None), &mut db, t);
        assert_eq!(unknown, Some((404, Body::Empty)));
        let first = ctx("o-1", "sku-1", Some("o-1/inventory/reserve"));
        assert_eq!(
            before_calls(Endpoint::Reserve, &first, &mut db, t),
            Some((200, Body::Empty))
        );
        // A replay of the same key answers the same; another order finds no stock.
        assert_eq!(
            before_calls(Endpoint::Reserve, &first, &mut db, t),
            Some((200, Body::Empty))
        );
        assert_eq!(
            before_calls(Endpoint::Reserve, &ctx("o-2", "sku-1", None), &mut db, t),
            Some((409, Body::Text("out of stock".into())))
        );
        assert_eq!(db.inventory.reservations().len(), 1);
        assert_eq!(
            before_calls(Endpoint::Checkout, &first, &mut db, t),
            None,
            "the UI only calls"
        );
    }

    #[test]
    fn an_order_is_created_then_confirmed_or_failed_by_its_reservation() {
        let mut db = db();
        let t = SimTime::from_millis(9);
        let c = ctx("o-1", "sku-1", None);
        assert_eq!(before_calls(Endpoint::CreateOrder, &c, &mut db, t), None);
        let ok = after_calls(Endpoint::CreateOrder, &c, &mut db, t, None, 201, 4, 502);
        assert_eq!(ok, (201, Body::Filler(4)));
        assert_eq!(
            db.orders.get("o-1").map(|o| (o.creations, o.state.clone())),
            Some((1, OrderState::Confirmed { at: t }))
        );
        let conflict = Some(CallOutcome::Status(409));
        let c2 = ctx("o-2", "sku-1", None);
        let out = after_calls(
            Endpoint::CreateOrder,
            &c2,
            &mut db,
            t,
            conflict,
            201,
            4,
            502,
        );
        assert_eq!(out, (409, Body::Text("out of stock".into())));
        let failed = after_calls(
            Endpoint::CreateOrder,
            &ctx("o-3", "sku-1", None),
            &mut db,
            t,
            Some(CallOutcome::TimedOut),
            201,
            4,
            502,
        );
        assert_eq!(failed, (502, Body::Empty));
        assert!(matches!(
            db.orders.get("o-3").map(|o| &o.state),
            Some(OrderState::Failed { reason, .. }) if reason == "reserve_failed"
        ));
        // A generic endpoint does not pass a 409 on as a business outcome.
        let generic = after_calls(Endpoint::Generic, &c, &mut db, t, conflict, 200, 4, 503);
        assert_eq!(generic, (503, Body::Empty));
    }
}
