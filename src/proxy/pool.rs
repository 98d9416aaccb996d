//! Upstream connections of one proxy: HTTP/1.1 keep-alive connections used one request at a
//! time, or one multiplexed HTTP/2 connection per upstream host, as Envoy's connection pools
//! keep them.
//!
//! A pool belongs to a host, and a host is usually one task's address. The one host of a DNS
//! `LOADBALANCER` node (Envoy LOGICAL_DNS) is not: a new connection goes to the address its
//! name resolves to first at that moment, and connections already open stay in its pool,
//! and in use, whatever the name resolves to later ([`UpstreamPool::send_to`]).
//!
//! A request that is dropped midway (its timeout fired) takes its HTTP/1 connection with it:
//! hyper closes a connection whose response was abandoned, and Envoy does the same, so a
//! retry after a per-try timeout always opens a new connection.

use http::{Request, Response};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::cell::RefCell;
use std::collections::BTreeMap;

use super::body::Payload;
use super::wire::LocalExec;
use crate::engine::endpoints::CONNECT_TIMEOUT;

pub use crate::sidecar::cluster::HttpVersion;

/// Why an upstream request got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The TCP connection could not be made (refused, partitioned, or connect timeout).
    Connect,
    /// The connection broke before the whole response arrived.
    Reset,
}

type Key = (String, u16, HttpVersion);

/// The connections of one proxy to its upstream hosts.
#[derive(Debug, Default)]
pub struct UpstreamPool {
    idle_h1: RefCell<BTreeMap<Key, Vec<http1::SendRequest<Payload>>>>,
    h2: RefCell<BTreeMap<Key, http2::SendRequest<Payload>>>,
}

impl UpstreamPool {
    /// An empty pool.
    pub fn new() -> UpstreamPool {
        UpstreamPool::default()
    }

    /// Sends `req` to `host:port` and reads the whole response.
    pub async fn send(
        &self,
        host: &str,
        port: u16,
        version: HttpVersion,
        req: Request<Payload>,
    ) -> Result<Response<Payload>, SendError> {
        self.send_to(host, host, port, version, req).await
    }

    /// Sends `req` over a connection of host `pool_key`'s pool, opening a new one to
    /// `address:port` when none is free: an open connection is reused wherever it was opened
    /// to.
    pub async fn send_to(
        &self,
        pool_key: &str,
        address: &str,
        port: u16,
        version: HttpVersion,
        req: Request<Payload>,
    ) -> Result<Response<Payload>, SendError> {
        let key = (pool_key.to_string(), port, version);
        match version {
            HttpVersion::Http1 => self.send_h1(key, address, req).await,
            HttpVersion::Http2 => self.send_h2(key, address, req).await,
        }
    }

    async fn send_h1(
        &self,
        key: Key,
        address: &str,
        req: Request<Payload>,
    ) -> Result<Response<Payload>, SendError> {
        let mut sender = match self.take_idle_h1(&key).await {
            Some(s) => s,
            None => {
                let io = connect(address, key.1).await.map(TokioIo::new)?;
                let (sender, conn) = http1::Builder::new()
                    .handshake::<_, Payload>(io)
                    .await
                    .map_err(|_| SendError::Connect)?;
                tokio::task::spawn_local(async move {
                    let _ = conn.await;
                });
                sender
            }
        };
        let response = sender
            .send_request(req)
            .await
            .map_err(|_| SendError::Reset)?;
        let (parts, body) = response.into_parts();
        let body = Payload::collect(body).await.map_err(|_| SendError::Reset)?;
        if !sender.is_closed() {
            self.idle_h1
                .borrow_mut()
                .entry(key)
                .or_default()
                .push(sender);
        }
        Ok(Response::from_parts(parts, body))
    }

    async fn take_idle_h1(&self, key: &Key) -> Option<http1::SendRequest<Payload>> {
        loop {
            let candidate = self.idle_h1.borrow_mut().get_mut(key)?.pop()?;
            let mut sender = candidate;
            if sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn send_h2(
        &self,
        key: Key,
        address: &str,
        req: Request<Payload>,
    ) -> Result<Response<Payload>, SendError> {
        let existing = self.h2.borrow().get(&key).cloned();
        let mut sender = match existing {
            Some(s) if !s.is_closed() => s,
            _ => {
                let io = connect(address, key.1).await.map(TokioIo::new)?;
                let (sender, conn) = http2::Builder::new(LocalExec)
                    .timer(TokioTimer::new())
                    .handshake::<_, Payload>(io)
                    .await
                    .map_err(|_| SendError::Connect)?;
                tokio::task::spawn_local(async move {
                    let _ = conn.await;
                });
                self.h2.borrow_mut().insert(key.clone(), sender.clone());
                sender
            }
        };
        if sender.ready().await.is_err() {
            self.h2.borrow_mut().remove(&key);
            return Err(SendError::Reset);
        }
        let response = sender
            .send_request(req)
            .await
            .map_err(|_| SendError::Reset)?;
        let (parts, body) = response.into_parts();
        let body = Payload::collect(body).await.map_err(|_| SendError::Reset)?;
        Ok(Response::from_parts(parts, body))
    }
}

/// Opens a TCP connection to `host:port` within the cluster's connect timeout (App Mesh's
/// 1 s, [`CONNECT_TIMEOUT`]).
pub async fn connect(host: &str, port: u16) -> Result<turmoil::net::TcpStream, SendError> {
    let connect = turmoil::net::TcpStream::connect((host, port));
    tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| SendError::Connect)?
        .map_err(|_| SendError::Connect)
}
