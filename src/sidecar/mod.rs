//! The sidecar core: what an Envoy-like sidecar decides about a hop, as sans-IO code that a
//! driver feeds with what happened and asks what to do next.
//!
//! It sits between [`engine`](crate::engine)/[`model`](crate::model) and the drivers
//! ([`proxy`](crate::proxy), the turmoil wire world today, and a discrete-event world later,
//! issue 14), so that both drivers make the same decisions from the same code. Like the
//! engine it imports no tokio, hyper, `http` or turmoil, and reads no clock: the caller passes
//! the simulated time and the seeded RNG in (the layering test below keeps it so).
//!
//! Modules:
//! - [`outbound`]: the outbound hop as a state machine in quinn-proto's shape (events in
//!   with `now`, [`outbound::Action`]s out, the next timer): plan (route, weighted target or
//!   the control plane's steering, the mirroring draw), cluster, the caller's cluster
//!   breaker (queueing as an action), host pick, attempts under their deadlines, retries
//!   after back-off under the retry breaker, the local replies, counters, and what the
//!   access-log line and the trace detail are written from;
//! - [`tcp`]: the outbound side of TCP pass-through per connection (route, target, cluster,
//!   host, one connect, the end judged for outlier detection and failure accrual, the flags);
//! - [`cluster`]: one upstream cluster of a sidecar (hosts from service discovery, the
//!   engine's endpoint state, failure accrual, the caller's breakers) and the host pick;
//! - [`classify`]: one reading of an upstream's answer (a [`ResponseHead`] the project owns,
//!   or a reset) into what the retry policy, outlier detection, failure accrual, the access
//!   log and the calling app each judge it by;
//! - [`inbound`]: the listener's inbound chain as a state machine (local rate limit, the
//!   listener pool's ticket, the fault filter, the app under the listener's deadlines);
//! - [`detail`] and [`notes`]: a sampled request's hop record and the decisions in words;
//! - [`mesh`] (the mesh as proxies use it), [`control`] (route changes the control plane
//!   sent each proxy); the counters it adds to are [`crate::metrics::Counter`].

pub mod classify;
pub mod cluster;
pub mod control;
pub mod detail;
pub mod inbound;
pub mod mesh;
pub mod notes;
pub mod outbound;
pub mod tcp;

pub use classify::{Answer, Classification, ResponseHead, grpc_to_http, http_to_grpc};

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn the_core_imports_no_driver_and_no_io() {
        // Every file of the layer, its code ahead of its tests and without its comments: a
        // driver's type or an I/O call there would tie the core to one backend.
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
            "Instant",
            "std::net",
            "std::fs",
        ];
        assert_layer_avoids("src/sidecar", &banned, 2);
    }
    /// Fails on any of `banned` in the code of the layer's files under `dir` (each file's
    /// code ahead of its tests, comments skipped), and when fewer than `min_files` were read;
    /// the sans-IO layers (this one, `fast`) each keep their imports in check with it.
    pub(crate) fn assert_layer_avoids(dir: &str, banned: &[&str], min_files: usize) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).expect("the layer's folder is readable") {
            let path = entry.expect("a directory entry").path();
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for b in banned {
                    assert!(!line.contains(b), "{}: `{b}` in {line}", path.display());
                }
            }
            files += 1;
        }
        assert!(
            files >= min_files,
            "found {files} files in {}",
            dir.display()
        );
    }
}
