//! The control plane's route changes per proxy; the state is the sidecar core's
//! ([`crate::sidecar::control`]), kept here under its old path for the world and the rollout
//! seam.

pub use crate::sidecar::control::*;
