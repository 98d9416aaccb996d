//! The glue between hyper and turmoil: an executor for `!Send` tasks, simulated time, and the
//! settings every hyper connection in the simulation uses.
//!
//! Everything in a turmoil host runs on one thread in a `LocalSet`, so connection tasks are
//! spawned with `spawn_local` and may hold `Rc` state. Time is tokio's paused clock, which
//! turmoil advances one tick per step; hyper gets [`TokioTimer`] so its own timers run on it
//! too (without a timer hyper silently disables them, and hyper-util falls back to the wall
//! clock).

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::TokioTimer;

use crate::engine::SimTime;

/// Spawns hyper's connection and stream tasks on the host's `LocalSet`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

/// Simulated time now (turmoil's global clock; zero outside a simulation).
pub fn now() -> SimTime {
    SimTime::from_duration(turmoil::sim_elapsed().unwrap_or_default())
}

/// Sleeps until simulated time `at` (returns at once if it has passed).
pub async fn sleep_until(at: SimTime) {
    let wait = at.saturating_since(now());
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

/// Runs `fut` until simulated time `deadline`; `None` if the deadline came first.
pub async fn until<F: Future>(deadline: Option<SimTime>, fut: F) -> Option<F::Output> {
    match deadline {
        None => Some(fut.await),
        Some(d) => tokio::time::timeout(d.saturating_since(now()), fut)
            .await
            .ok(),
    }
}

/// An HTTP/1.1 server connection as every listener in the simulation runs it.
///
/// The 30 s header-read timeout hyper applies to idle keep-alive connections is turned off:
/// Envoy's idle timeout is the listener's, enforced by the proxy, and a server closing an
/// idle connection just as a client reuses it would add failures no real mesh has at this
/// rate. The `Date` header is off because it reads the wall clock.
pub fn http1_server() -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(None::<Duration>)
        .auto_date_header(false)
        .keep_alive(true);
    b
}

/// An HTTP/2 server connection (also gRPC).
///
/// Concurrent streams per connection are not limited, as Envoy's listeners announce
/// (`max_concurrent_streams` defaults to 2147483647 in Envoy's `Http2ProtocolOptions`, and
/// App Mesh sets no other): hyper's own default of 200 would queue a caller's 201st request
/// on a connection behind the others, a limit no sidecar in a real mesh has.
pub fn http2_server() -> hyper::server::conn::http2::Builder<LocalExec> {
    let mut b = hyper::server::conn::http2::Builder::new(LocalExec);
    b.timer(TokioTimer::new())
        .auto_date_header(false)
        .max_concurrent_streams(u32::MAX >> 1);
    b
}
