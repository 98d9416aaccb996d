//! `meshsim explain`'s text: one sampled request, hop by hop, with why each hop went where
//! it went (the route matched and the routes skipped, the weighted draw, the host pick), each
//! attempt and what the exchange did after it, and what got in the way (timeouts, faults,
//! ejections, breakers, rate limits), all from `requests.jsonl`.

use std::fmt::Write as _;

use super::trace::{HopRecord, RequestRecord, id_key, route_text, target_text};

/// What an id names among a run's sampled requests.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// A sampled request.
    Found(&'a RequestRecord),
    /// Not among the sampled ones; the digits it carries (for a rerun that samples it).
    NotSampled {
        /// The id's 32 hex digits.
        key: String,
    },
    /// Not an id meshsim gives out.
    Malformed,
}

/// Finds `id` (a trace id, a request id, or their 32 hex digits) among `records`.
pub fn lookup<'a>(records: &'a [RequestRecord], id: &str) -> Lookup<'a> {
    let Some(key) = id_key(id) else {
        return Lookup::Malformed;
    };
    match records
        .iter()
        .find(|r| id_key(&r.trace_id).as_deref() == Some(key.as_str()))
    {
        Some(r) => Lookup::Found(r),
        None => Lookup::NotSampled { key },
    }
}

fn secs(us: u64) -> String {
    format!("{}.{:06}s", us / 1_000_000, us % 1_000_000)
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// The explanation of one request.
pub fn explain(r: &RequestRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "request {} (x-request-id {}, request #{})",
        r.trace_id, r.request_id, r.seq
    );
    let answer = match (r.status, r.outcome.as_str()) {
        (0, what) => format!("no answer ({what})"),
        (s, "-") => s.to_string(),
        (s, flag) => format!("{s} {flag}"),
    };
    let _ = writeln!(
        out,
        "users: {} {} sent at {} -> {answer} after {}",
        r.method,
        r.path,
        secs(r.start_us),
        ms(r.end_us.saturating_sub(r.start_us))
    );
    for (i, h) in r.hops.iter().enumerate() {
        hop(&mut out, i + 1, h);
    }
    out
}

fn hop(out: &mut String, n: usize, h: &HopRecord) {
    let indent = "  ".repeat(h.depth.saturating_sub(1) as usize);
    let flag = h
        .flag
        .as_deref()
        .map(|f| format!(" {f}"))
        .unwrap_or_default();
    if h.direction == "inbound" {
        let mut about = h.node.clone();
        if !h.version.is_empty() && h.version != h.node {
            let _ = write!(about, " {}", h.version);
        }
        if let Some(a) = h.via_attempt {
            let _ = write!(about, ", reached by attempt {a}");
        }
        let _ = writeln!(
            out,
            "{indent}{n}. {} inbound ({about}): {} at {} -> {}{flag} in {}",
            h.task,
            h.path,
            secs(h.start_us),
            h.status,
            ms(h.duration_us)
        );
    } else {
        let mirror = if h.shadow { " (mirrored copy)" } else { "" };
        let _ = writeln!(
            out,
            "{indent}{n}. {} -> {}{mirror}: {} at {} -> {}{flag} after {} attempt{} in {}",
            h.task,
            h.service.as_deref().unwrap_or("-"),
            h.path,
            secs(h.start_us),
            h.status,
            h.attempts_made,
            if h.attempts_made == 1 { "" } else { "s" },
            ms(h.duration_us)
        );
    }
    let pad = format!("{indent}     ");
    for e in h.events.iter().filter(|e| e.kind == "gateway_route") {
        let _ = writeln!(out, "{pad}gateway: {}", e.detail);
    }
    if let Some(rc) = &h.route_choice {
        let _ = writeln!(out, "{pad}route:   {}", route_text(rc));
    }
    if let Some(t) = &h.target {
        let _ = writeln!(out, "{pad}target:  {}", target_text(t));
    }
    // Attempts and events, in time order (an attempt before the events it caused).
    let mut timeline: Vec<(u64, u8, String)> = Vec::new();
    for a in &h.attempts {
        let mut s = format!(
            "attempt {} -> {} ({}) {}..{}: {}",
            a.number,
            a.host,
            a.address,
            secs(a.start_us),
            secs(a.end_us),
            a.outcome
        );
        if let (Some(d), Some(t)) = (a.deadline_us, &a.timeout) {
            let _ = write!(s, "; {t} deadline {}", secs(d));
        }
        if !a.pick.is_empty() {
            let _ = write!(s, "\n{pad}    pick: {}", a.pick);
        }
        if let Some(then) = &a.then {
            let _ = write!(s, "\n{pad}    then: {then}");
        }
        timeline.push((a.start_us, 0, s));
    }
    // A retry is already its attempt's `then`.
    for e in h
        .events
        .iter()
        .filter(|e| e.kind != "gateway_route" && e.kind != "retry")
    {
        timeline.push((
            e.at_us,
            1,
            format!("{} {}: {}", secs(e.at_us), e.kind, e.detail),
        ));
    }
    timeline.sort_by_key(|a| (a.0, a.1));
    for (_, _, line) in timeline {
        let _ = writeln!(out, "{pad}{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::trace::{AttemptRec, EventRec, RouteRecord, Skipped};

    fn record() -> RequestRecord {
        RequestRecord {
            trace_id: "1-00000001-0000002a0000000000000005".into(),
            request_id: "00000001-0000-002a-0000-000000000005".into(),
            seq: 5,
            method: "GET".into(),
            path: "/".into(),
            start_us: 1_000_000,
            end_us: 1_250_000,
            status: 200,
            outcome: "-".into(),
            hops: vec![HopRecord {
                span: "0000010000000001".into(),
                parent: Some("0000000000000005".into()),
                depth: 1,
                direction: "outbound".into(),
                node: "front-v1".into(),
                task: "front-v1-1".into(),
                version: "v1".into(),
                service: Some("back.ex.local".into()),
                route: Some("back".into()),
                upstream_node: Some("back-v1".into()),
                path: "/work".into(),
                start_us: 1_000_000,
                duration_us: 240_000,
                status: 200,
                flag: None,
                attempts_made: 2,
                shadow: false,
                via_attempt: None,
                route_choice: Some(RouteRecord {
                    router: Some("back".into()),
                    matched: Some("back".into()),
                    skipped: vec![Skipped {
                        route: "canary".into(),
                        why: "header x-canary".into(),
                    }],
                    note: None,
                }),
                target: None,
                attempts: vec![
                    AttemptRec {
                        number: 1,
                        host: "back-v1-2".into(),
                        address: "back-v1-2:8080".into(),
                        pick: "back-v1-2 is host 1".into(),
                        start_us: 1_000_000,
                        end_us: 1_100_000,
                        deadline_us: Some(1_100_000),
                        timeout: Some("perRetryTimeout".into()),
                        outcome: "per-try timeout (UT)".into(),
                        failed: true,
                        then: Some("retry".into()),
                    },
                    AttemptRec {
                        number: 2,
                        host: "back-v1-3".into(),
                        address: "back-v1-3:8080".into(),
                        pick: String::new(),
                        start_us: 1_130_000,
                        end_us: 1_240_000,
                        deadline_us: None,
                        timeout: None,
                        outcome: "200".into(),
                        failed: false,
                        then: None,
                    },
                ],
                events: vec![EventRec {
                    at_us: 1_100_000,
                    kind: "per_try_timeout".into(),
                    detail: "perRetryTimeout fired".into(),
                }],
            }],
        }
    }

    #[test]
    fn an_explanation_lists_route_attempts_and_events_in_time_order() {
        let text = explain(&record());
        assert!(
            text.contains("users: GET / sent at 1.000000s -> 200 after 250.0 ms"),
            "{text}"
        );
        assert!(text.contains("skipped `canary`: header x-canary"), "{text}");
        let first = text.find("attempt 1 -> back-v1-2").expect("attempt 1");
        let timeout = text
            .find("per_try_timeout: perRetryTimeout fired")
            .expect("event");
        let second = text.find("attempt 2 -> back-v1-3").expect("attempt 2");
        assert!(first < timeout && timeout < second, "{text}");
    }

    #[test]
    fn lookups_take_any_form_of_the_id() {
        let records = vec![record()];
        for id in [
            "1-00000001-0000002a0000000000000005",
            "00000001-0000-002a-0000-000000000005",
            "000000010000002A0000000000000005",
        ] {
            assert!(matches!(lookup(&records, id), Lookup::Found(_)), "{id}");
        }
        assert!(matches!(
            lookup(&records, "1-00000001-0000002a0000000000000006"),
            Lookup::NotSampled { .. }
        ));
        assert!(matches!(lookup(&records, "nonsense"), Lookup::Malformed));
    }
}
