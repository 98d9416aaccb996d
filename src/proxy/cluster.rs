//! A sidecar's upstream clusters; their state is the sidecar core's
//! ([`crate::sidecar::cluster`]), the driver holds them and the connection pools.

pub use crate::sidecar::cluster::*;
