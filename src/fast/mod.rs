//! The fast backend (issue 21), in progress: a discrete-event world that is to drive the same
//! sidecar core, engine and models as the wire world, on exact simulated time, with no
//! sockets and no async runtime.
//!
//! It sits beside [`proxy`](crate::proxy) as a driver and imports only downward (`engine`,
//! `model`, `sidecar`, `config`, `metrics`); the layering test below keeps it free of tokio,
//! hyper, `http` and turmoil. It decides nothing a sidecar decides (routing, retries,
//! timeouts, outlier detection, breakers, rate limits, fault filters): those are asked of
//! [`sidecar`](crate::sidecar) and [`engine`](crate::engine). What it owns is what the wire
//! world gets from turmoil, TCP, HTTP and tokio: the clock, the order of events, message
//! delivery and connections.
//!
//! Modules:
//! - [`queue`], the event queue, (time in ns, sequence) order, cancellable timers.
//! - [`net`], links (latency, jitter, partitions, holds, in-order delivery per connection)
//!   and connections (set-up, Envoy-like reuse, HTTP/1.1 one request at a time, HTTP/2
//!   streams), as sans-IO state a driver feeds with the time and a seeded RNG.
//! - [`transport`], one upstream HTTP exchange over those links and pools (connect within
//!   the connect timeout, request, response, or a named failure), as a state machine the
//!   hop adapter will drive beside the sidecar core.
//! - The app has no module here: [`model::app::AppCore`](crate::model::app::AppCore) is the
//!   one core both backends drive (`closed_form` drives it on events).
//!
//! Not yet here: the world that joins them (load generator, sidecar hops through the core,
//! faults, rollout, metrics, reports); docs/ARCHITECTURE.md lists what remains.

mod closed_form;
pub mod net;
pub mod queue;
pub mod transport;

pub use queue::{EventQueue, TimerKey};

#[cfg(test)]
mod tests {
    #[test]
    fn the_fast_backend_imports_no_driver_and_no_io() {
        // Every file of the layer, its code ahead of its tests and without its comments: an
        // I/O type or a wire-world module here would make fast mode depend on the backend it
        // replaces, and a clock would break determinism.
        let banned = [
            "tokio",
            "hyper",
            "turmoil",
            "http::",
            "crate::proxy",
            "crate::sim",
            "crate::app",
            "crate::rollout",
            "crate::rehearse",
            "crate::report",
            "crate::tui",
            "crate::sweep",
            "Instant",
            "std::net",
            "std::fs",
            "HashMap",
            "HashSet",
        ];
        crate::sidecar::tests::assert_layer_avoids("src/fast", &banned, 4);
    }
}
