//! Whole-run numbers for report.html: the HdrHistogram percentile curves of each version's
//! totals, and each hop's retry amplification.

use std::collections::BTreeMap;

use crate::metrics::{Latencies, Recorder};
use crate::report::ServiceReport;

/// HdrHistogram's percentile plot of one histogram: (1/(1-percentile), ms) at five ticks per
/// half distance, as `.hgrm` files list it (the 100th percentile has no place on the axis).
pub fn percentile_curve(lat: &Latencies) -> Vec<(f64, f64)> {
    let hist = lat.histogram();
    if hist.is_empty() {
        return Vec::new();
    }
    hist.iter_quantiles(5)
        .map(|v| {
            (
                v.quantile_iterated_to(),
                v.value_iterated_to() as f64 / 1000.0,
            )
        })
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, ms)| (1.0 / (1.0 - q), ms))
        .collect()
}

/// Every total histogram to plot: the users' (as the users' ledger measured them, from the
/// intended send time) and each virtual node and version's inbound one.
pub fn distributions(recorder: &Recorder, users: &Latencies) -> Vec<(String, Latencies)> {
    let mut out = vec![("users".to_string(), users.clone())];
    let mut merged: BTreeMap<String, Latencies> = BTreeMap::new();
    for (key, lat) in recorder.totals() {
        if key.route != "inbound" || key.node == "client" {
            continue;
        }
        let name = if key.version.is_empty() || key.node.ends_with(&key.version) {
            key.node.clone()
        } else {
            format!("{} {}", key.node, key.version)
        };
        merged.entry(name).or_default().merge(lat);
    }
    out.extend(merged);
    out.retain(|(_, l)| l.count() > 0);
    out
}

/// One hop's retry amplification.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    /// `caller -> service/route`.
    pub hop: String,
    /// Requests the caller made.
    pub requests: u64,
    /// Attempts its proxy sent.
    pub attempts: u64,
}

impl Hop {
    /// Attempts per request.
    pub fn amplification(&self) -> f64 {
        self.attempts as f64 / self.requests.max(1) as f64
    }
}

/// Each route's attempts per request (`report.json`'s `routes`), for routes that carried
/// requests (mirrored copies have no attempts of their own and are left out).
pub fn retry_amplification(routes: &BTreeMap<String, ServiceReport>) -> Vec<Hop> {
    routes
        .iter()
        .filter_map(|(hop, r)| {
            let attempts = r.attempts.filter(|a| *a > 0)?;
            (r.requests > 0).then(|| Hop {
                hop: hop.clone(),
                requests: r.requests,
                attempts,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::engine::SimTime;
    use crate::metrics::{OutcomeClass, SeriesKey};

    #[test]
    fn the_percentile_curve_is_hdrhistograms_one_over_one_minus_p() {
        let mut l = Latencies::new();
        for ms in 1..=1000u64 {
            l.record(Duration::from_millis(ms));
        }
        let curve = percentile_curve(&l);
        assert_eq!(curve[0].0, 1.0, "starts at the 0th percentile");
        assert!(
            curve
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
        );
        let near = |x: f64| {
            curve
                .iter()
                .find(|(p, _)| *p >= x)
                .map(|(_, ms)| *ms)
                .unwrap()
        };
        assert!((near(10.0) - 900.0).abs() < 5.0, "90% at {}", near(10.0));
        assert!((near(100.0) - 990.0).abs() < 5.0, "99% at {}", near(100.0));
        assert!(curve.iter().all(|(x, _)| x.is_finite()));
        assert!(percentile_curve(&Latencies::new()).is_empty());
    }

    #[test]
    fn distributions_are_the_users_then_each_version() {
        let mut users = Latencies::new();
        users.record(Duration::from_millis(20));
        let mut r = Recorder::new(Duration::from_secs(10));
        let key = |node: &str, version: &str, route: &str, outcome| SeriesKey {
            node: node.into(),
            version: version.into(),
            route: route.into(),
            outcome,
        };
        let (ok, failed) = (OutcomeClass::Success, OutcomeClass::ServerError);
        for k in [
            key("inventory-v2", "v2", "inbound", ok),
            key("inventory-v2", "v2", "inbound", failed),
            key("inventory-v1", "v1", "inbound", ok),
            key("blue", "v1", "inbound", ok),
            key("client", "", "", ok),
            key("ui-v1", "v1", "inventory/inventory", ok),
        ] {
            r.record(SimTime::from_millis(5), k, Duration::from_millis(3));
        }
        let d = distributions(&r, &users);
        let names: Vec<&str> = d.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["users", "blue v1", "inventory-v1", "inventory-v2"],
            "the load generator's own series and the routes are not versions"
        );
        assert_eq!(d[3].1.count(), 2, "v2's outcomes merged");
        let none = distributions(&Recorder::new(Duration::from_secs(1)), &Latencies::new());
        assert!(none.is_empty());
    }

    #[test]
    fn retry_amplification_is_attempts_per_request_of_routes_that_carried_any() {
        use crate::report::Percentiles;
        let route = |requests: u64, attempts: Option<u64>| ServiceReport {
            requests,
            succeeded: requests,
            failed: 0,
            latency_ms: Percentiles::default(),
            attempts,
        };
        let routes: BTreeMap<String, ServiceReport> = [
            (
                "ui-v1 -> inventory/inventory".to_string(),
                route(200, Some(250)),
            ),
            (
                "ui-v1 -> inventory/inventory (mirror)".to_string(),
                route(20, Some(0)),
            ),
            ("ui-v1 -> order/order".to_string(), route(0, Some(0))),
            ("ui-v1 -> idle".to_string(), route(5, None)),
        ]
        .into();
        let hops = retry_amplification(&routes);
        assert_eq!(hops.len(), 1);
        assert_eq!(hops[0].hop, "ui-v1 -> inventory/inventory");
        assert_eq!(hops[0].amplification(), 1.25);
    }
}
