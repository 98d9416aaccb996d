//! The caller's own circuit breakers on each upstream cluster: the `max_retries` retry
//! breaker ([`RetryGate`]) and, when the mesh runs with Envoy's own defaults, the cluster's
//! connection and request thresholds ([`ListenerPool`], 1024 / 1024 / 1024). Under App Mesh's
//! defaults both are 2147483647: the gate never refuses and the pool is not kept at all.
//!
//! A slot taken here is given back exactly once however the request goes on (answered,
//! timed out, or abandoned), by dropping the value that holds it.

use std::rc::Rc;

use tokio::sync::oneshot;

use super::outbound::Sidecar;
use super::wire;
use crate::engine::SimTime;
use crate::engine::breaker::{Admission, Ticket};
use crate::engine::retry_breaker::{RetryShed, RetryToken};

/// Why the caller's cluster did not let an attempt go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// Over its thresholds: a local overflow reset (`UO`, never retried).
    Overflow,
    /// It waited in the pending queue until the route's deadline.
    Deadline,
}

/// A request's place in its caller's cluster pool (nothing when the cluster keeps none).
pub(super) struct ClusterSlot {
    sidecar: Rc<Sidecar>,
    key: (String, u16),
    state: State,
}

enum State {
    None,
    Queued(Ticket),
    Active,
}

/// A retry in flight on its cluster's retry breaker.
pub(super) struct RetrySlot {
    sidecar: Rc<Sidecar>,
    key: (String, u16),
    token: Option<RetryToken>,
}

impl Sidecar {
    /// Takes a place in the cluster's pool for one attempt, waiting in its pending queue (an
    /// HTTP/1 cluster whose connections are all busy) until `deadline` at most. Envoy's
    /// per-try timer starts only once a connection is ready, so only the route's deadline
    /// bounds the wait.
    pub(super) async fn admit_upstream(
        self: &Rc<Self>,
        key: &(String, u16),
        now: SimTime,
        deadline: Option<SimTime>,
    ) -> Result<ClusterSlot, Refused> {
        let mut slot = ClusterSlot {
            sidecar: Rc::clone(self),
            key: key.clone(),
            state: State::None,
        };
        let (admission, woken) = {
            let mut clusters = self.clusters.borrow_mut();
            let Some(cluster) = clusters.get_mut(key) else {
                return Ok(slot);
            };
            let Some(pool) = cluster.pool.as_mut() else {
                return Ok(slot);
            };
            let admission = pool.admit(now);
            let woken = match admission {
                Admission::Queued { ticket, .. } => {
                    let (tx, rx) = oneshot::channel();
                    cluster.waiters.insert(ticket.get(), tx);
                    Some(rx)
                }
                _ => None,
            };
            (admission, woken)
        };
        match (admission, woken) {
            (Admission::Dispatch { .. }, _) => {
                slot.state = State::Active;
                Ok(slot)
            }
            (Admission::Queued { ticket, .. }, Some(rx)) => {
                slot.state = State::Queued(ticket);
                match wire::until(deadline, rx).await {
                    Some(Ok(())) => {
                        slot.state = State::Active;
                        Ok(slot)
                    }
                    // Dropping the slot withdraws it from the queue.
                    _ => Err(Refused::Deadline),
                }
            }
            _ => Err(Refused::Overflow),
        }
    }

    /// Asks the cluster's retry breaker for a retry (`max_retries`).
    pub(super) fn start_retry(
        self: &Rc<Self>,
        key: &(String, u16),
    ) -> Result<RetrySlot, RetryShed> {
        let token = match self.clusters.borrow_mut().get_mut(key) {
            Some(cluster) => Some(cluster.retries.try_start_retry()?),
            None => None,
        };
        Ok(RetrySlot {
            sidecar: Rc::clone(self),
            key: key.clone(),
            token,
        })
    }
}

impl Drop for ClusterSlot {
    fn drop(&mut self) {
        let mut clusters = self.sidecar.clusters.borrow_mut();
        let Some(cluster) = clusters.get_mut(&self.key) else {
            return;
        };
        let Some(pool) = cluster.pool.as_mut() else {
            return;
        };
        match std::mem::replace(&mut self.state, State::None) {
            State::None => {}
            State::Queued(ticket) => {
                pool.cancel(ticket);
                cluster.waiters.remove(&ticket.get());
            }
            // The freed connection goes to the oldest waiter still there.
            State::Active => {
                while let Some(d) = pool.on_complete(wire::now()) {
                    let woken = cluster
                        .waiters
                        .remove(&d.ticket.get())
                        .is_some_and(|tx| tx.send(()).is_ok());
                    if woken {
                        break;
                    }
                }
            }
        }
    }
}

impl Drop for RetrySlot {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        if let Some(cluster) = self.sidecar.clusters.borrow_mut().get_mut(&self.key) {
            cluster.retries.finish_retry(token);
        }
    }
}
