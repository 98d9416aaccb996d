//! The sidecar's side of fault injection: the HTTP faults a scenario puts in force at a task
//! become one Envoy fault filter ([`FaultFilter`](crate::engine::fault::FaultFilter)) on its
//! inbound listener, ahead of the app, as Envoy places the filter before the router.

use http::{HeaderValue, Response};

use super::body::Payload;
use super::outbound::local_reply;
use super::telemetry::ResponseFlag;
use crate::engine::fault::{
    Abort, AbortFault, AbortSource, DelayFault, DelaySource, FaultConfig, Percent,
};
use crate::model::fault::effects::HttpFault;

/// The filter configuration for the faults in force: the first delay and the first abort in
/// chain order (a filter has one of each); `None` when there are none.
pub fn filter_config(faults: &[HttpFault]) -> Option<FaultConfig> {
    let mut config = FaultConfig::default();
    for f in faults {
        match *f {
            HttpFault::Delay {
                delay,
                share,
                headers,
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
            },
            HttpFault::Abort {
                status: 503,
                grpc_status: None,
                share: 0.1,
                headers: false,
            },
            HttpFault::Abort {
                status: 500,
                grpc_status: None,
                share: 1.0,
                headers: false,
            },
        ];
        let c = filter_config(&faults).expect("faults");
        assert_eq!(
            c.delay.map(|d| d.source),
            Some(DelaySource::Fixed(Duration::from_millis(300)))
        );
        assert_eq!(c.abort.map(|a| a.source), Some(AbortSource::Http(503)));
        assert_eq!(filter_config(&[]), None);
        let reply = abort_reply(Abort::Http(503), false);
        assert_eq!(reply.status(), 503);
        assert_eq!(reply.headers()[FLAGS_HEADER], "FI");
        let grpc = abort_reply(Abort::Grpc(14), true);
        assert_eq!(grpc.status(), 200);
        assert_eq!(grpc.headers()["grpc-status"], "14");
    }
}
