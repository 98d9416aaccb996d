//! What the control plane has told each proxy about a route at run time: a rollout's weights,
//! a header or cookie that steers requests to the candidate (A/B), and a share of requests
//! mirrored to it. The world writes an entry per proxy with the moment it arrives there (App
//! Mesh's control plane is not instant, so for a while proxies disagree); a proxy reads the
//! newest entry that has arrived. Without entries a proxy routes by the mesh config.
//!
//! Keyed by task, not held by each sidecar, because a task that restarts gets a new proxy,
//! and a new Envoy starts from the control plane's current configuration.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::engine::SimTime;
use crate::engine::request::RequestHead;
use crate::engine::request_match::RequestMatch;
#[cfg(test)]
use crate::engine::request_match::ValueMatch;

/// Requests matching this go to `node` (Argo/Flagger A/B: a header or a cookie).
#[derive(Clone, Debug, PartialEq)]
pub struct Steer {
    /// The match.
    pub matcher: RequestMatch,
    /// Where matching requests go.
    pub node: String,
}

impl Steer {
    /// Whether the request matches.
    pub fn matches(&self, head: &RequestHead) -> bool {
        self.matcher.matches(|name| head.header(name))
    }
}

/// A copy of a share of the route's requests to a node; answers are discarded.
#[derive(Clone, Debug, PartialEq)]
pub struct Mirror {
    /// Where copies go.
    pub node: String,
    /// Share copied, 0..=1.
    pub share: f64,
}

/// A route's traffic as the control plane last set it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RouteOverride {
    /// Weighted targets (node, weight) replacing the config's; their sum is above zero.
    pub targets: Vec<(String, u32)>,
    /// A/B steering, checked before the weights.
    pub steer: Option<Steer>,
    /// Mirroring.
    pub mirror: Option<Mirror>,
}

impl RouteOverride {
    /// Total weight.
    pub fn total(&self) -> u32 {
        self.targets.iter().map(|(_, w)| w).sum()
    }
}

/// One proxy's overrides of one route, in the order they arrive.
type Arrivals = Vec<(SimTime, Rc<RouteOverride>)>;

/// What each proxy has received from the control plane: per task, per router and route,
/// overrides in the order they arrive. When the rollout's changes reach each proxy is
/// decided upstream by [`crate::rollout::Propagation`]; this only holds the result.
#[derive(Debug, Default)]
pub struct RouteOverrides {
    entries: BTreeMap<String, BTreeMap<String, BTreeMap<String, Arrivals>>>,
}

impl RouteOverrides {
    /// Schedules `o` to arrive at `task`'s proxy at `at`. Entries for one proxy and route
    /// arrive in the order they were sent, as a per-proxy xDS stream delivers them.
    pub fn send(
        &mut self,
        task: &str,
        router: &str,
        route: &str,
        at: SimTime,
        o: Rc<RouteOverride>,
    ) {
        let list = self
            .entries
            .entry(task.to_string())
            .or_default()
            .entry(router.to_string())
            .or_default()
            .entry(route.to_string())
            .or_default();
        let at = list.last().map_or(at, |(last, _)| at.max(*last));
        list.push((at, o));
    }

    /// What `task`'s proxy applies to `router`/`route` at `now` (`None`: the mesh config).
    pub fn current(
        &self,
        task: &str,
        router: &str,
        route: &str,
        now: SimTime,
    ) -> Option<Rc<RouteOverride>> {
        let list = self.entries.get(task)?.get(router)?.get(route)?;
        let arrived = list.partition_point(|(at, _)| *at <= now);
        arrived.checked_sub(1).map(|i| Rc::clone(&list[i].1))
    }

    /// Whether anything was ever sent (the common case is nothing: skip the lookups).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(s: u64) -> SimTime {
        SimTime::from_duration(Duration::from_secs(s))
    }

    fn weights(v1: u32, v2: u32) -> Rc<RouteOverride> {
        Rc::new(RouteOverride {
            targets: vec![("v1".into(), v1), ("v2".into(), v2)],
            ..RouteOverride::default()
        })
    }

    #[test]
    fn each_proxy_applies_what_has_arrived_there() {
        let mut cp = RouteOverrides::default();
        cp.send("a", "r", "route", t(10), weights(90, 10));
        cp.send("b", "r", "route", t(13), weights(90, 10));
        cp.send("a", "r", "route", t(20), weights(50, 50));
        assert_eq!(cp.current("a", "r", "route", t(9)), None, "the config");
        assert_eq!(cp.current("a", "r", "route", t(10)), Some(weights(90, 10)));
        assert_eq!(
            cp.current("b", "r", "route", t(12)),
            None,
            "b has not heard yet: for 3 s the proxies disagree"
        );
        assert_eq!(cp.current("b", "r", "route", t(13)), Some(weights(90, 10)));
        assert_eq!(cp.current("a", "r", "route", t(25)), Some(weights(50, 50)));
        assert_eq!(cp.current("a", "r", "other", t(25)), None);
    }

    #[test]
    fn a_later_change_never_overtakes_an_earlier_one_at_one_proxy() {
        let mut cp = RouteOverrides::default();
        cp.send("a", "r", "route", t(20), weights(90, 10));
        // Sent later with a shorter delay: it still arrives after the first.
        cp.send("a", "r", "route", t(15), weights(0, 100));
        assert_eq!(cp.current("a", "r", "route", t(16)), None);
        assert_eq!(cp.current("a", "r", "route", t(20)), Some(weights(0, 100)));
    }

    #[test]
    fn steering_reads_the_requests_headers_and_cookies() {
        let head = |name: &str, value: &str| {
            let mut h = RequestHead::new(crate::config::model::HttpMethod::Get, "s", 80, "/");
            h.headers.push((name.into(), value.into()));
            h
        };
        let header = Steer {
            matcher: RequestMatch::Header {
                name: "X-Canary".into(),
                value: ValueMatch::Exact("always".into()),
            },
            node: "v2".into(),
        };
        assert!(header.matches(&head("x-canary", "always")));
        assert!(!header.matches(&head("x-canary", "never")));
        let cookie = Steer {
            matcher: RequestMatch::Cookie {
                name: "canary".into(),
                value: "always".into(),
            },
            node: "v2".into(),
        };
        assert!(cookie.matches(&head("cookie", "a=b; canary=always")));
        assert!(!cookie.matches(&head("cookie", "canary=no")));
    }
}
