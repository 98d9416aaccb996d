//! TCP pass-through: what a sidecar does for a virtual node listener or route of protocol
//! `tcp`, as Envoy's `tcp_proxy` filter does it.
//!
//! The proxy sees bytes, not requests. Per *connection* it picks the route (by port only),
//! the weighted target and a host, connects once (Envoy's `max_connect_attempts` defaults to
//! 1; App Mesh's TCP routes have no retry policy), and then copies bytes both ways until
//! both sides have closed or the route's idle timeout (App Mesh default 300 s) passes with no
//! byte moving. Inbound, the listener's `tcp.maxConnections` pool admits or refuses the
//! connection; there is no per-request timeout, because there are no requests.
//!
//! The apps in this simulation speak HTTP/1.1 inside such a connection (one request per
//! connection): the proxies never parse it, so routing, weights and breakers act per
//! connection, and a 500 inside the stream is invisible to outlier detection, exactly the
//! trade-off a team makes when it declares a listener `tcp`. The access log has one line per
//! connection with bytes each way, like Envoy's TCP access log.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use hyper::client::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, DuplexStream};
use tokio::time::Instant;

use super::attempts::{Authority, EnvoyFields};
use super::body::Payload;
use super::inbound::Inbound;
use super::outbound::{Sidecar, local_reply};
use super::pool;
use super::telemetry::{
    AccessLogEntry, Counter, Direction, ResponseFlag, ResponseFlags, TcpBytes, TraceContext,
};
use super::wire;
use crate::engine::SimTime;
use crate::engine::breaker::Admission;
use crate::sidecar::tcp::{Connection, TcpAction};

/// Size of the in-process pipe between an app and its sidecar: a socket buffer's worth.
const PIPE_BYTES: usize = 64 * 1024;

pub use crate::sidecar::tcp::Closed;

/// Bytes moved by [`pump`] and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pumped {
    /// Downstream to upstream.
    pub sent: u64,
    /// Upstream to downstream.
    pub received: u64,
    /// How it ended.
    pub closed: Closed,
}

/// Copies bytes between `downstream` and `upstream` until both directions reach EOF (a
/// half-close is passed on as a shutdown of the other side's write half), a side fails, or
/// `idle` passes with no byte moving either way.
pub async fn pump<D, U>(downstream: D, upstream: U, idle: Option<Duration>) -> Pumped
where
    D: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    // tokio's clock, which turmoil drives in a simulation (and tests pause), so the idle
    // timer runs on simulated time either way.
    let last = Cell::new(Instant::now());
    let (mut dr, mut dw) = tokio::io::split(downstream);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let sent = Cell::new(0u64);
    let received = Cell::new(0u64);
    let up = copy_half(&mut dr, &mut uw, &sent, &last);
    let down = copy_half(&mut ur, &mut dw, &received, &last);
    let both = async { tokio::try_join!(up, down).map(|_| ()) };
    let watchdog = async {
        let Some(idle) = idle else {
            return std::future::pending::<()>().await;
        };
        loop {
            let due = last.get() + idle;
            if Instant::now() >= due {
                return;
            }
            tokio::time::sleep_until(due).await;
        }
    };
    let closed = tokio::select! {
        r = both => if r.is_ok() { Closed::Normally } else { Closed::Reset },
        () = watchdog => Closed::IdleTimeout,
    };
    Pumped {
        sent: sent.get(),
        received: received.get(),
        closed,
    }
}

async fn copy_half<R, W>(
    from: &mut R,
    to: &mut W,
    count: &Cell<u64>,
    last: &Cell<Instant>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            // Pass the half-close on; the other direction may still be talking.
            let _ = to.shutdown().await;
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
        to.flush().await?;
        count.set(count.get() + n as u64);
        last.set(Instant::now());
    }
}

impl Sidecar {
    /// Sends `req` to a virtual service whose listener is `tcp`: the app opens a connection
    /// through its sidecar and speaks HTTP/1.1 inside it, one request per connection. A
    /// connection the proxy could not make comes back as a local reply carrying the flag, so
    /// the caller can name the failure (the app itself would see a closed socket).
    pub async fn call_over_tcp(
        self: &Rc<Self>,
        service: &str,
        port: u16,
        req: Request<Payload>,
    ) -> Response<Payload> {
        let trace = req
            .headers()
            .get(super::telemetry::TRACE_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse);
        let stream = match self.open_tcp(service, port, trace).await {
            Ok(s) => s,
            Err(flag) => return local_reply(503, flag, false),
        };
        match http1_exchange(stream, service, port, req).await {
            Some(resp) => resp,
            None => local_reply(503, ResponseFlag::UpstreamReset, false),
        }
    }

    /// Opens a pass-through connection to `service:port` and returns the app's end of it;
    /// the proxy's end is pumped to the chosen upstream host by a task of its own, which
    /// writes the access-log line when the connection ends.
    pub async fn open_tcp(
        self: &Rc<Self>,
        service: &str,
        port: u16,
        trace: Option<TraceContext>,
    ) -> Result<DuplexStream, ResponseFlag> {
        let start = wire::now();
        let span = self.next_span();
        let mut log = AccessLogEntry {
            service: Some(service.to_string()),
            tcp: Some(TcpBytes::default()),
            ..self.log_entry(Direction::Outbound, start, span, trace.as_ref())
        };
        let head = crate::engine::RequestHead::get(service, port, "/");
        let plan = self.plan(service, &head, log.detail.is_some());
        let plan_idle = plan.as_ref().and_then(|p| p.idle);
        let mut conn = Connection::new(start, log.detail.take());
        self.core(|env| conn.start(start, env, plan));
        log.route = conn.route.take();
        log.upstream_node = conn.upstream_node.take();
        log.attempts = conn.attempts;
        log.detail = conn.detail.take();
        let host = loop {
            match conn.poll() {
                Some(TcpAction::Count(stat)) => self.count_stat(stat),
                Some(TcpAction::StartHealthChecks(key)) => {
                    tokio::task::spawn_local(Rc::clone(self).health_checks(key));
                }
                Some(TcpAction::Connect(host)) => break host,
                Some(TcpAction::Finish(f)) => {
                    return Err(self.fail(log, f.flag.unwrap_or(ResponseFlag::UpstreamReset)));
                }
                // Not reached: a connection starts with a connect or a refusal.
                None => return Err(self.fail(log, ResponseFlag::UpstreamReset)),
            }
        };
        if self.wants_envoy_fields(log.detail.is_some()) {
            log.envoy = Some(Box::new(EnvoyFields {
                authority: Authority::Service(port),
                upstream_host: Some(format!("{}:{}", host.address, host.port)),
                ..EnvoyFields::default()
            }));
        }
        let upstream = match pool::connect(&host.address, host.port).await {
            Ok(s) => s,
            Err(_) => {
                let now = wire::now();
                self.core(|env| conn.on_connect_failed(now, env));
                let mut flag = ResponseFlag::ConnectFailure;
                while let Some(action) = conn.poll() {
                    match action {
                        TcpAction::Count(stat) => self.count_stat(stat),
                        TcpAction::Finish(f) => flag = f.flag.unwrap_or(flag),
                        TcpAction::StartHealthChecks(_) | TcpAction::Connect(_) => {}
                    }
                }
                return Err(self.fail(log, flag));
            }
        };
        conn.on_connected();
        let (app_end, proxy_end) = tokio::io::duplex(PIPE_BYTES);
        let this = Rc::clone(self);
        let idle = plan_idle;
        tokio::task::spawn_local(async move {
            let pumped = pump(proxy_end, upstream, idle).await;
            let now = wire::now();
            this.core(|env| conn.on_closed(now, pumped.closed, env));
            while let Some(action) = conn.poll() {
                match action {
                    TcpAction::Count(stat) => this.count_stat(stat),
                    TcpAction::Finish(f) => {
                        log.flags = f.flag.map(ResponseFlags::of).unwrap_or_default();
                    }
                    TcpAction::StartHealthChecks(_) | TcpAction::Connect(_) => {}
                }
            }
            log.duration = wire::now().saturating_since(log.start);
            log.tcp = Some(TcpBytes {
                sent: pumped.sent,
                received: pumped.received,
            });
            this.log_line(log);
        });
        Ok(app_end)
    }

    fn fail(&self, mut log: AccessLogEntry, flag: ResponseFlag) -> ResponseFlag {
        log.flags = ResponseFlags::of(flag);
        log.duration = wire::now().saturating_since(log.start);
        self.log_line(log);
        flag
    }
}

/// The app's HTTP/1.1 client inside a pass-through connection: one request, then close.
async fn http1_exchange(
    stream: DuplexStream,
    service: &str,
    port: u16,
    req: Request<Payload>,
) -> Option<Response<Payload>> {
    let (mut sender, conn) = http1::Builder::new()
        .handshake::<_, Payload>(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let (mut parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if let Ok(uri) = format!("http://{service}:{port}{path}").parse() {
        parts.uri = uri;
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{service}:{port}")) {
        parts.headers.insert(http::header::HOST, v);
    }
    parts
        .headers
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    let response = sender
        .send_request(Request::from_parts(parts, body))
        .await
        .ok()?;
    let (parts, body) = response.into_parts();
    let body = Payload::collect(body).await.ok()?;
    Some(Response::from_parts(parts, body))
}

impl Inbound {
    /// One connection on a `tcp` listener: admitted by the listener's `maxConnections`
    /// (refused connections are closed at once, counted as overflows), then piped to the app,
    /// which reads HTTP/1.1 from its end.
    pub(super) async fn serve_tcp(
        self: Rc<Self>,
        stream: super::toxics::ToxicStream<turmoil::net::TcpStream>,
    ) {
        let start = wire::now();
        let mut log = AccessLogEntry {
            attempts: 1,
            tcp: Some(TcpBytes::default()),
            ..self
                .sidecar
                .log_entry(Direction::Inbound, start, self.sidecar.next_span(), None)
        };
        let slot = match self.admit_connection(start) {
            Ok(slot) => slot,
            Err(()) => {
                self.count(Counter::Overflows);
                drop(stream);
                log.flags = ResponseFlags::of(ResponseFlag::Overflow);
                log.duration = wire::now().saturating_since(log.start);
                self.log_line(log);
                return;
            }
        };
        let (app_end, proxy_end) = tokio::io::duplex(PIPE_BYTES);
        let handler = self.handler.clone();
        tokio::task::spawn_local(async move {
            let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let response = match Payload::collect(body).await {
                        Ok(body) => handler(Request::from_parts(parts, body)).await,
                        Err(_) => local_reply(400, ResponseFlag::UpstreamReset, false),
                    };
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = wire::http1_server()
                .serve_connection(TokioIo::new(app_end), svc)
                .await;
        });
        // The listener has no idle timeout of its own in App Mesh; the caller's route has.
        let pumped = pump(stream, proxy_end, None).await;
        drop(slot);
        if pumped.closed != Closed::Normally {
            log.flags = ResponseFlags::of(ResponseFlag::UpstreamReset);
        }
        log.duration = wire::now().saturating_since(log.start);
        // A connection that opened and closed without a byte is what a TCP health check
        // is; the proxy cannot see more than that, and it is not the service's traffic.
        log.health_check =
            pumped.closed == Closed::Normally && pumped.sent == 0 && pumped.received == 0;
        log.tcp = Some(TcpBytes {
            sent: pumped.received,
            received: pumped.sent,
        });
        self.log_line(log);
    }

    fn admit_connection(self: &Rc<Self>, now: SimTime) -> Result<super::inbound::Slot, ()> {
        let mut slot = super::inbound::Slot::free(Rc::clone(self));
        if let Some(pool) = &self.pool {
            let admission = pool.borrow_mut().admit(now);
            match admission {
                Admission::Dispatch { .. } => slot.activate(),
                // A TCP pool never queues: it has connections, not pending requests.
                Admission::Queued { ticket, .. } => {
                    pool.borrow_mut().cancel(ticket);
                    return Err(());
                }
                Admission::Rejected(_) => return Err(()),
            }
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pump_moves_bytes_both_ways_and_passes_half_closes() {
        let (mut client, proxy_down) = tokio::io::duplex(1024);
        let (proxy_up, mut server) = tokio::io::duplex(1024);
        let talk = async {
            client.write_all(b"hello").await.expect("write");
            client.shutdown().await.expect("shutdown");
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.expect("read");
            assert_eq!(got, b"hello");
            server.write_all(b"world!").await.expect("write");
            server.shutdown().await.expect("shutdown");
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.expect("read");
            assert_eq!(back, b"world!");
        };
        let (pumped, ()) = tokio::join!(pump(proxy_down, proxy_up, None), talk);
        assert_eq!(
            pumped,
            Pumped {
                sent: 5,
                received: 6,
                closed: Closed::Normally
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pump_closes_a_connection_idle_for_the_idle_timeout() {
        let (_client, proxy_down) = tokio::io::duplex(1024);
        let (proxy_up, _server) = tokio::io::duplex(1024);
        let t0 = tokio::time::Instant::now();
        let pumped = pump(proxy_down, proxy_up, Some(Duration::from_secs(300))).await;
        assert_eq!(pumped.closed, Closed::IdleTimeout);
        assert_eq!(t0.elapsed(), Duration::from_secs(300));
    }
}
