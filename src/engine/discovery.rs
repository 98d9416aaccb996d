//! A Cloud Map-like service registry and DNS names, with a propagation delay to the sidecars.
//!
//! (To follow.)
