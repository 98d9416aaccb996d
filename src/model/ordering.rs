//! The Ordering app's state: Inventory's stock ledger and Order's orders, and the invariants
//! checked at the end of every run.
//!
//! (To follow.)
