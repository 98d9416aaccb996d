//! What the engine sees of a request: the head only (method, authority, path, headers).

use crate::config::model::{HttpMethod, Scheme};

/// A request head, split once so every route match reads it without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// Method.
    pub method: HttpMethod,
    /// `http` or `https` (HTTP/2 `:scheme`).
    pub scheme: Scheme,
    /// `Host` / `:authority` without the port.
    pub authority: String,
    /// The port the client called.
    pub port: u16,
    /// Path without the query.
    pub path: String,
    /// Raw query string without `?` (may be empty).
    pub query: String,
    /// Headers with lower-cased names, in arrival order.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// A GET for `path_and_query` on `authority:port`.
    pub fn get(authority: &str, port: u16, path_and_query: &str) -> Self {
        Self::new(HttpMethod::Get, authority, port, path_and_query)
    }

    /// A request with no headers.
    pub fn new(method: HttpMethod, authority: &str, port: u16, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_and_query, ""),
        };
        RequestHead {
            method,
            scheme: Scheme::Http,
            authority: authority.to_string(),
            port,
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
        }
    }

    /// Adds a header (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// The first value of a header, by lower-case name.
    pub fn header(&self, lower_name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == lower_name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter (no percent-decoding: App Mesh matches raw).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// gRPC service and method from a `/pkg.Service/Method` path.
    pub fn grpc_service_method(&self) -> Option<(&str, &str)> {
        let rest = self.path.strip_prefix('/')?;
        rest.split_once('/')
    }
}
