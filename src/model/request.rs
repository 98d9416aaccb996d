//! A request as the app behind a sidecar reads it, in the project's own terms: what
//! [`Service::match_endpoint`](super::Service::match_endpoint) matches and the Ordering
//! logic reads its identifiers from. A driver converts its wire request into one once, as it
//! hands the request to the app, so the app's logic does not depend on an HTTP library. The
//! calls the app makes are heads of the same kind ([`AppRequest::as_grpc_call`] frames one
//! for a gRPC backend), and its answers a status and a [`Body`].

/// The trace header (AWS X-Ray's), which every hop carries on and the Ordering app takes its
/// order ids from. The proxy layer's `proxy::telemetry::TRACE_HEADER` names the same header
/// (a test in `app` keeps the two equal until the proxy layer reads it from here).
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// The `Root=` of a trace header's value (the last one, as the proxy's
/// `TraceContext::parse` reads it); `None` without one.
pub fn trace_root(value: &str) -> Option<&str> {
    value
        .split(';')
        .rev()
        .filter_map(|part| part.trim().split_once('='))
        .find(|(k, _)| *k == "Root")
        .map(|(_, v)| v)
}

/// A response body as the app writes it; the driver turns it into its own bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// No body.
    Empty,
    /// `n` bytes of filler: a served request's modelled response size.
    Filler(u64),
    /// A short text (Inventory's stock count, "out of stock").
    Text(String),
}

impl Body {
    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Filler(n) => *n,
            Body::Text(t) => t.len() as u64,
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The head of a request to an app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppRequest {
    /// Method, as sent (custom methods such as `M-SEARCH` included: an endpoint may name
    /// them).
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Headers with lower-case names, in arrival order (a repeated name keeps each value).
    pub headers: Vec<(String, String)>,
}

impl AppRequest {
    /// A request with no headers.
    pub fn new(method: &str, path: &str) -> AppRequest {
        AppRequest {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
        }
    }

    /// Adds a header (the name is lower-cased).
    pub fn with_header(mut self, name: &str, value: &str) -> AppRequest {
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

    /// Sets a header to one value (lower-case name): the first of that name keeps its place
    /// and any later ones go, or it is added at the end, as `http::HeaderMap::insert` does.
    pub fn set_header(&mut self, lower_name: &str, value: &str) {
        let mut seen = false;
        self.headers.retain_mut(|(n, v)| {
            if n != lower_name {
                return true;
            }
            if seen {
                return false;
            }
            seen = true;
            *v = value.to_string();
            true
        });
        if !seen {
            self.headers
                .push((lower_name.to_string(), value.to_string()));
        }
    }

    /// Makes this outbound call a gRPC call, as a gRPC client sends every call: `POST`,
    /// `content-type: application/grpc`, `te: trailers` (gRPC over HTTP/2, "Requests").
    pub fn as_grpc_call(&mut self) {
        self.method = "POST".to_string();
        self.set_header("content-type", "application/grpc");
        self.set_header("te", "trailers");
    }

    /// The first value of a header whose characters are all visible ASCII (or tabs): the
    /// values an app's HTTP library hands over as text (the `http` crate's
    /// `HeaderValue::to_str`); any other is no identifier an app would read.
    pub fn text_header(&self, lower_name: &str) -> Option<&str> {
        self.header(lower_name)
            .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_found_by_lower_case_name_first_value_first() {
        let r = AppRequest::new("M-SEARCH", "/items/1")
            .with_header("X-Order-Id", "ord-1")
            .with_header("x-order-id", "ord-2")
            .with_header("x-note", "café");
        assert_eq!(r.header("x-order-id"), Some("ord-1"));
        assert_eq!(
            r.header("X-Order-Id"),
            None,
            "names are looked up lower-case"
        );
        assert_eq!(r.header("x-note"), Some("café"));
        // Not visible ASCII: no text an app would read as an identifier.
        assert_eq!(r.text_header("x-note"), None);
        assert_eq!(r.text_header("x-order-id"), Some("ord-1"));
        assert_eq!(r.method, "M-SEARCH");
    }

    #[test]
    fn a_grpc_call_is_a_post_with_its_content_type_and_te_set_once() {
        let mut r = AppRequest::new("GET", "/pkg.Svc/Get")
            .with_header("content-type", "text/plain")
            .with_header("x-a", "1")
            .with_header("content-type", "text/html");
        r.as_grpc_call();
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.headers,
            vec![
                ("content-type".to_string(), "application/grpc".to_string()),
                ("x-a".to_string(), "1".to_string()),
                ("te".to_string(), "trailers".to_string()),
            ]
        );
    }

    #[test]
    fn the_trace_root_is_the_last_root_part() {
        assert_eq!(
            trace_root("Root=1-abc;Parent=00000000000000aa;Sampled=1"),
            Some("1-abc")
        );
        assert_eq!(trace_root(" Sampled=0 ; Root=r1 ;Root=r2"), Some("r2"));
        assert_eq!(trace_root("Parent=p;Sampled=1"), None);
        assert_eq!(Body::Text("12".into()).len(), 2);
        assert_eq!(Body::Filler(7).len(), 7);
        assert!(Body::Empty.is_empty());
    }
}
