//! The sidecar's side of fault injection: the HTTP faults a scenario puts in force at a task
//! become one Envoy fault filter ([`FaultFilter`]) on each of its inbound listeners, ahead of
//! the app, as Envoy places the filter before the router. The filter is the listener's for
//! the whole run ([`ListenerFaults`]): it counts the requests with a fault in progress, so
//! `max_active_faults` holds across requests and across changes of the faults in force.

use http::{HeaderValue, Response};

use super::body::Payload;
use super::outbound::local_reply;
use super::telemetry::ResponseFlag;
use crate::engine::SimTime;
use crate::engine::fault::{
    Abort, AbortFault, AbortSource, DelayFault, DelaySource, FaultConfig, FaultDecision,
    FaultFilter, Percent,
};
use crate::engine::request::RequestHead;
use crate::model::fault::effects::HttpFault;

/// One listener's fault filter, kept for the run.
#[derive(Debug, Default)]
pub struct ListenerFaults {
    /// The filter and the configuration it was last given; `None` until a fault is in force.
    filter: Option<(FaultConfig, FaultFilter)>,
}

impl ListenerFaults {
    /// The filter's decision for a request arriving at `now` under the faults in force
    /// (`None`: no HTTP fault is, and the request passes untouched). A decision that
    /// injected a fault must be ended with [`ListenerFaults::on_fault_end`] when the request
    /// is over.
    pub fn decide(
        &mut self,
        faults: &[HttpFault],
        now: SimTime,
        head: &RequestHead,
        rng: &mut impl rand::Rng,
    ) -> Option<FaultDecision> {
        let config = filter_config(faults)?;
        match &mut self.filter {
            Some((current, _)) if *current == config => {}
            Some((current, filter)) => {
                filter.reconfigure(&config).ok()?;
                *current = config;
            }
            None => self.filter = Some((config.clone(), FaultFilter::new(&config).ok()?)),
        }
        let (_, filter) = self.filter.as_mut()?;
        Some(filter.decide(now, head, rng))
    }

    /// A request that had a fault injected is over (answered, aborted or reset).
    pub fn on_fault_end(&mut self) {
        if let Some((_, filter)) = &mut self.filter {
            filter.on_fault_end();
        }
    }
}

/// The filter configuration for the faults in force: the first delay and the first abort in
/// chain order (a filter has one of each), under the smallest `max_active_faults` any of them
/// sets; `None` when there are none.
pub fn filter_config(faults: &[HttpFault]) -> Option<FaultConfig> {
    let mut config = FaultConfig::default();
    for f in faults {
        let cap = match *f {
            HttpFault::Delay {
                max_active_faults, ..
            }
            | HttpFault::Abort {
                max_active_faults, ..
            } => max_active_faults,
        };
        if let Some(cap) = cap {
            config.max_active_faults = Some(config.max_active_faults.map_or(cap, |c| c.min(cap)));
        }
        match *f {
            HttpFault::Delay {
                delay,
                share,
                headers,
                ..
            } if config.delay.is_none() => {
                let source = match (headers, delay) {
                    (false, Some(d)) => DelaySource::Fixed(d),
                    _ => DelaySource::Header,
                };
                config.delay = Some(DelayFault {
                    source,
                    percentage: Percent::new(share * 100.0).ok()?,
                });
            }
            HttpFault::Abort {
                status,
                grpc_status,
                share,
                headers,
                ..
            } if config.abort.is_none() => {
                let source = match (headers, grpc_status) {
                    (true, _) => AbortSource::Header,
                    (false, Some(g)) => AbortSource::Grpc(g),
                    (false, None) => AbortSource::Http(status),
                };
                config.abort = Some(AbortFault {
                    source,
                    percentage: Percent::new(share * 100.0).ok()?,
                });
            }
            _ => {}
        }
    }
    (config.delay.is_some() || config.abort.is_some()).then_some(config)
}

/// Envoy's local reply for an injected abort, flagged `FI`.
pub fn abort_reply(abort: Abort, grpc_listener: bool) -> Response<Payload> {
    match abort {
        Abort::Grpc(code) => {
            let mut resp = local_reply(200, ResponseFlag::FaultInjected, false);
            if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
                resp.headers_mut().insert("grpc-status", v);
            }
            resp
        }
        Abort::Http(status) => local_reply(status, ResponseFlag::FaultInjected, grpc_listener),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proxy::telemetry::FLAGS_HEADER;

    #[test]
    fn the_first_delay_and_abort_in_force_make_the_filter() {
        let faults = [
            HttpFault::Delay {
                delay: Some(Duration::from_millis(300)),
                share: 0.5,
                headers: false,
                max_active_faults: None,
            },
            HttpFault::Abort {
                status: 503,
                grpc_status: None,
                share: 0.1,
                headers: false,
                max_active_faults: Some(5),
            },
            HttpFault::Abort {
                status: 500,
                grpc_status: None,
                share: 1.0,
                headers: false,
                max_active_faults: Some(2),
            },
        ];
        let c = filter_config(&faults).expect("faults");
        assert_eq!(
            c.delay.map(|d| d.source),
            Some(DelaySource::Fixed(Duration::from_millis(300)))
        );
        assert_eq!(c.abort.map(|a| a.source), Some(AbortSource::Http(503)));
        // One filter, one cap: the smallest any fault in force sets.
        assert_eq!(c.max_active_faults, Some(2));
        assert_eq!(filter_config(&[]), None);
        let reply = abort_reply(Abort::Http(503), false);
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()[FLAGS_HEADER], "FI");
        let grpc = abort_reply(Abort::Grpc(14), true);
        assert_eq!(grpc.status(), 200);
        assert_eq!(grpc.headers()["grpc-status"], "14");
    }

    #[test]
    fn the_listener_s_filter_counts_faults_in_progress_across_requests() {
        use crate::engine::fault::FaultReason;
        let delay = |max| HttpFault::Delay {
            delay: Some(Duration::from_millis(500)),
            share: 1.0,
            headers: false,
            max_active_faults: max,
        };
        let head = RequestHead::get("back.local", 80, "/");
        let mut rng = crate::engine::seed::stream(1, "faults");
        let mut listener = ListenerFaults::default();
        let mut decide = |l: &mut ListenerFaults, faults: &[HttpFault]| {
            l.decide(faults, SimTime::ZERO, &head, &mut rng)
                .expect("a fault is in force")
        };
        // max_active_faults 2: two delays in progress, the third request passes untouched.
        assert!(decide(&mut listener, &[delay(Some(2))]).is_fault());
        assert!(decide(&mut listener, &[delay(Some(2))]).is_fault());
        let third = decide(&mut listener, &[delay(Some(2))]);
        assert!(!third.is_fault());
        assert!(matches!(
            third.reason,
            FaultReason::Overflow { active: 2, .. }
        ));
        // One ends: room for one more.
        listener.on_fault_end();
        assert!(decide(&mut listener, &[delay(Some(2))]).is_fault());
        // The faults in force change: those in progress still count against the new cap.
        assert!(!decide(&mut listener, &[delay(Some(1))]).is_fault());
        assert!(decide(&mut listener, &[delay(Some(3))]).is_fault());
        // No fault in force: no filter to ask.
        assert!(
            listener
                .decide(&[], SimTime::ZERO, &head, &mut rng)
                .is_none()
        );
    }
}
