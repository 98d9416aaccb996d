//! A failing request as a reader can replay it: a `curl` line, and the engine's account of
//! where the request went and why.

use std::fmt;

use super::subject::MeshUnderTest;
use crate::engine::RequestHead;

/// A minimal failing request with the engine's explanation.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The virtual service the request was sent to.
    pub service: String,
    /// The request.
    pub request: RequestHead,
    /// The request as a `curl` command line.
    pub curl: String,
    /// The engine's explanation, one line each: routes skipped and why, the route matched,
    /// its targets and weights, its attempts.
    pub explanation: Vec<String>,
}

impl Counterexample {
    /// Explains `request` to `service` with the engine.
    pub fn new(subject: &MeshUnderTest, service: &str, request: RequestHead) -> Counterexample {
        let mut explanation = Vec::new();
        let ev = subject.evaluate(service, &request);
        match subject.explain(service, &request) {
            Ok(why) => {
                for (route, mismatch) in &why.skipped {
                    explanation.push(format!("skipped route `{route}`: {mismatch}"));
                }
            }
            Err(e) => explanation.push(e.to_string()),
        }
        match (&ev.route, &ev.no_route) {
            (Some(route), _) => {
                let router = ev
                    .router
                    .as_deref()
                    .map_or(String::new(), |r| format!(" of {r}"));
                explanation.push(format!("matched route `{route}`{router}"));
                let targets: Vec<String> = ev
                    .targets
                    .iter()
                    .map(|t| format!("{} weight {}", t.virtual_node, t.weight))
                    .collect();
                explanation.push(format!("targets: {}", targets.join(", ")));
                explanation.push(format!("attempts allowed: {}", ev.attempts));
            }
            (None, Some(e)) => explanation.push(format!("404 NR: {e}")),
            (None, None) => {}
        }
        Counterexample {
            service: service.to_string(),
            curl: curl(&request),
            request,
            explanation,
        }
    }
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.curl)?;
        for line in &self.explanation {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// Quotes a word for a POSIX shell.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The request as a `curl` command (sent to the virtual service's name, as the app would).
pub fn curl(req: &RequestHead) -> String {
    let mut words = vec!["curl".to_string()];
    if req.method != crate::config::model::HttpMethod::Get {
        words.push("-X".into());
        words.push(req.method.as_str().to_string());
    }
    for (name, value) in &req.headers {
        words.push("-H".into());
        words.push(quote(&format!("{name}: {value}")));
    }
    let query = if req.query.is_empty() {
        String::new()
    } else {
        format!("?{}", req.query)
    };
    words.push(quote(&format!(
        "http://{}:{}{}{query}",
        req.authority, req.port, req.path
    )));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::HttpMethod;

    #[test]
    fn curl_lines_replay_in_a_shell() {
        let req = RequestHead::new(HttpMethod::Post, "cart.shop.local", 8080, "/a b?x=1")
            .with_header("X-Note", "it's");
        assert_eq!(
            curl(&req),
            r"curl -X POST -H 'x-note: it'\''s' 'http://cart.shop.local:8080/a b?x=1'"
        );
        let get = RequestHead::get("cart.shop.local", 8080, "/cart");
        assert_eq!(curl(&get), "curl http://cart.shop.local:8080/cart");
    }
}
