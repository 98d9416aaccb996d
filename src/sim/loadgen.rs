//! The load generator: an open-loop client that sends each request at its scheduled arrival
//! time, whatever happened to the requests before it, and measures each latency from that
//! scheduled time (wrk2's rule). A stalled system therefore shows as a queue of late answers,
//! not as a lull in traffic: coordinated omission cannot hide a stall.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use http::Request;
use tokio::sync::Notify;

use super::ledger::{UserLedger, UserOutcome};
use crate::engine::SimTime;
use crate::engine::seed;
use crate::metrics::{OutcomeClass, Recorder, SeriesKey};
use crate::model::workload::Workload;
use crate::proxy::attempts::UserRequest;
use crate::proxy::outbound::effective_status;
use crate::proxy::pool::{HttpVersion, SendError, UpstreamPool};
use crate::proxy::telemetry::TRACE_HEADER;
use crate::proxy::{Payload, Sidecar, Telemetry, wire};

/// Where users' requests go.
#[derive(Clone, Debug)]
pub enum Entry {
    /// A virtual gateway's task, over HTTP.
    Gateway {
        /// Its host name.
        host: String,
        /// Its listener port.
        port: u16,
        /// HTTP/1.1 or HTTP/2.
        version: HttpVersion,
    },
    /// A virtual service, through the load generator's own sidecar.
    Service {
        /// The virtual service.
        service: String,
        /// The sidecar.
        sidecar: Rc<Sidecar>,
    },
}

/// What the load generator shares with the world.
#[derive(Clone, Debug)]
pub struct LoadGen {
    /// The workload.
    pub workload: Rc<Workload>,
    /// Where requests go.
    pub entry: Entry,
    /// The users' ledger.
    pub ledger: Rc<RefCell<UserLedger>>,
    /// Latency series (node `client`).
    pub recorder: Rc<RefCell<Recorder>>,
    /// The proxies' telemetry: which requests to sample, and where sampled requests' roots
    /// go.
    pub telemetry: Rc<RefCell<Telemetry>>,
    /// Master seed.
    pub seed: u64,
    /// Send requests until then.
    pub until: SimTime,
}

impl LoadGen {
    /// Sends every request of the workload, then waits until each has ended.
    pub async fn run(self) -> turmoil::Result {
        let pool = Rc::new(UpstreamPool::new());
        let outstanding = Rc::new(Cell::new(0u64));
        let drained = Rc::new(Notify::new());
        let rng = seed::stream(self.seed, "loadgen/arrivals");
        let arrivals = self.workload.arrivals(rng, self.until);
        for arrival in arrivals {
            wire::sleep_until(arrival.at).await;
            outstanding.set(outstanding.get() + 1);
            self.ledger.borrow_mut().issue();
            let this = self.clone();
            let pool = Rc::clone(&pool);
            let outstanding = Rc::clone(&outstanding);
            let drained = Rc::clone(&drained);
            tokio::task::spawn_local(async move {
                this.one(&pool, arrival.at, arrival.seq, arrival.entry)
                    .await;
                outstanding.set(outstanding.get() - 1);
                if outstanding.get() == 0 {
                    drained.notify_one();
                }
            });
        }
        while outstanding.get() > 0 {
            drained.notified().await;
        }
        Ok(())
    }

    async fn one(&self, pool: &UpstreamPool, intended: SimTime, seq: u64, entry: usize) {
        let Some(mix) = self.workload.entries().get(entry) else {
            return;
        };
        let mut builder = Request::builder()
            .method(mix.method.as_str())
            .uri(mix.path.as_str());
        let root = format!(
            "1-{:08x}-{:08x}{:016x}",
            intended.since_start().as_secs(),
            self.seed as u32,
            seq
        );
        // Decided here, once per user request, and carried in the header: every proxy on
        // the way agrees without asking anyone.
        let sampled = self.telemetry.borrow().tracing.sampler.sampled(seq);
        builder = builder.header(
            TRACE_HEADER,
            format!(
                "Root={root};Parent={:016x};Sampled={}",
                seq,
                u8::from(sampled)
            ),
        );
        let mut has_host = false;
        for (name, value) in &mix.headers {
            has_host |= name.eq_ignore_ascii_case("host");
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !has_host && let Entry::Gateway { host, .. } = &self.entry {
            builder = builder.header(http::header::HOST, host.as_str());
        }
        let outcome = match builder.body(Payload::empty()) {
            Err(_) => UserOutcome::Answered {
                status: 400,
                flag: None,
            },
            Ok(req) => self.send(pool, req).await,
        };
        let latency = wire::now().saturating_since(intended);
        self.ledger.borrow_mut().end(outcome, latency);
        if sampled {
            let (status, what) = match outcome {
                UserOutcome::Answered { status, flag } => (
                    status,
                    flag.map_or_else(|| "-".to_string(), |f| f.to_string()),
                ),
                UserOutcome::ClientTimeout => (0, "client_timeout".to_string()),
                UserOutcome::ConnectFailure => (0, "connect_failure".to_string()),
                UserOutcome::Reset => (0, "reset".to_string()),
            };
            self.telemetry.borrow_mut().users.push(UserRequest {
                root,
                seq,
                span: format!("{seq:016x}"),
                method: mix.method.as_str().to_string(),
                path: mix.path.clone(),
                start: intended,
                end: wire::now(),
                status,
                outcome: what,
            });
        }
        let class = match outcome {
            UserOutcome::Answered { status, .. } => OutcomeClass::of_status(status),
            UserOutcome::ClientTimeout => OutcomeClass::ServerError,
            UserOutcome::ConnectFailure | UserOutcome::Reset => OutcomeClass::Reset,
        };
        let key = SeriesKey {
            node: "client".into(),
            version: String::new(),
            route: format!("{} {}", mix.method, mix.path),
            outcome: class,
        };
        self.recorder.borrow_mut().record(wire::now(), key, latency);
    }

    async fn send(&self, pool: &UpstreamPool, req: Request<Payload>) -> UserOutcome {
        let timeout = self.workload.timeout();
        let answer = match &self.entry {
            Entry::Gateway {
                host,
                port,
                version,
            } => match tokio::time::timeout(timeout, pool.send(host, *port, *version, req)).await {
                Err(_) => return UserOutcome::ClientTimeout,
                Ok(Err(SendError::Connect)) => return UserOutcome::ConnectFailure,
                Ok(Err(SendError::Reset)) => return UserOutcome::Reset,
                Ok(Ok(resp)) => resp,
            },
            Entry::Service { service, sidecar } => {
                match tokio::time::timeout(timeout, sidecar.call(service, req)).await {
                    Err(_) => return UserOutcome::ClientTimeout,
                    Ok(resp) => resp,
                }
            }
        };
        let flag = crate::proxy::head::flag(answer.headers());
        // A gRPC answer is judged by its `grpc-status`, not the transport's 200.
        let status = effective_status(&answer);
        UserOutcome::Answered { status, flag }
    }
}
