//! The mesh as the proxies use it; the view is the sidecar core's ([`crate::sidecar::mesh`]).

pub use crate::sidecar::mesh::*;
