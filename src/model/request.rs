//! A request as the app behind a sidecar reads it, in the project's own terms: what
//! [`Service::match_endpoint`](super::Service::match_endpoint) matches and the Ordering
//! logic reads its identifiers from. A driver converts its wire request into one once, as it
//! hands the request to the app, so the app's logic does not depend on an HTTP library.

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
}
