//! The sampled requests of a run, two ways: `requests.jsonl`, one JSON object per request
//! with every hop's decisions and attempts (what `meshsim explain` reads), and `traces.json`,
//! the same requests as Chrome/Perfetto trace events (what ui.perfetto.dev and
//! chrome://tracing open).
//!
//! Both are built from [`RequestRecord`]s, so the picture and the explanation cannot
//! disagree. In the trace, each sampled request is a process; each hop (a proxy's inbound
//! side, or one outbound exchange) is a thread of it, listed in call order, so the page
//! reads top-down users → gateway → UI → Order → Inventory. A hop's attempts and back-offs
//! are child slices of its exchange, decisions and failures are instant events, and flow
//! arrows join each attempt to the hop it reached. Threads rather than nesting on one track,
//! because a timed-out attempt's callee keeps working after its caller gave up, and
//! parallel calls overlap: neither nests.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::engine::SimTime;
use crate::proxy::attempts::{AttemptOutcome, HopDetail, TargetChoice, UserRequest};
use crate::proxy::{AccessLogEntry, Direction};
use crate::sim::Traces;

/// One sampled user request, every hop of it, in call order (a line of `requests.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The X-Ray trace id (`Root=` of `x-amzn-trace-id`).
    pub trace_id: String,
    /// The same 32 hex digits as a UUID: the `x-request-id` the access logs show.
    pub request_id: String,
    /// The request's number in the workload.
    pub seq: u64,
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Intended send time, µs of simulated time.
    pub start_us: u64,
    /// When the user got the answer or gave up, µs.
    pub end_us: u64,
    /// The status the user judged by (0: no answer).
    pub status: u16,
    /// The answer's response flag, or the client-side failure; `-` for none.
    pub outcome: String,
    /// Every hop, parents before children.
    pub hops: Vec<HopRecord>,
}

/// One hop: one proxy, one direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HopRecord {
    /// This hop's span id.
    pub span: String,
    /// The span that sent it.
    pub parent: Option<String>,
    /// 1 for the first proxy after the user, and so on.
    pub depth: u32,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Virtual node (or gateway, or `loadgen`).
    pub node: String,
    /// Task.
    pub task: String,
    /// Version label.
    pub version: String,
    /// Outbound: the virtual service called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Outbound: the route taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Outbound: the virtual node it went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_node: Option<String>,
    /// Path.
    pub path: String,
    /// Start, µs.
    pub start_us: u64,
    /// Duration, µs.
    pub duration_us: u64,
    /// Status answered (0: none).
    pub status: u16,
    /// Envoy response flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    /// Attempts made (outbound).
    pub attempts_made: u32,
    /// A mirrored copy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    /// Inbound: which attempt of the calling exchange reached this hop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_attempt: Option<u32>,
    /// Outbound: the route decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_choice: Option<RouteRecord>,
    /// Outbound: the target decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetRecord>,
    /// Outbound: the attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRec>,
    /// What happened on the way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventRec>,
}

/// The route decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// Virtual router.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    /// The route that matched (`None`: `NR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
    /// Routes tried first, with why each did not match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Why nothing matched, or how the route came about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A route that did not match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Route.
    pub route: String,
    /// Why not.
    pub why: String,
}

/// The target decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetRecord {
    /// `weighted` (a draw) or `steered` (an A/B match, or a mirror's copy).
    pub kind: String,
    /// The weights came from the control plane (a rollout step).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control_plane: bool,
    /// The weighted targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weights: Vec<Weight>,
    /// The roll, in `0..total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roll: Option<u32>,
    /// Sum of the weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// The node chosen.
    pub chosen: String,
}

/// One weighted target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weight {
    /// Virtual node.
    pub node: String,
    /// Weight.
    pub weight: u32,
}

/// One attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRec {
    /// 1 for the first try.
    pub number: u32,
    /// Upstream task.
    pub host: String,
    /// `host:port`.
    pub address: String,
    /// Why this host.
    pub pick: String,
    /// Sent, µs.
    pub start_us: u64,
    /// Ended, µs.
    pub end_us: u64,
    /// When it would time out, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_us: Option<u64>,
    /// Which timeout set the deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// How it ended: `200`, `503 UO`, `per-try timeout (UT)`, ...
    pub outcome: String,
    /// Whether it failed (5xx, timeout, reset, connect failure).
    pub failed: bool,
    /// What the exchange did next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// An event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRec {
    /// When, µs.
    pub at_us: u64,
    /// What kind (`retry`, `per_try_timeout`, `fault_abort`, `outlier_ejection`, ...).
    pub kind: String,
    /// The decision in words.
    pub detail: String,
}

fn us(t: SimTime) -> u64 {
    t.as_nanos() / 1_000
}

/// The `x-request-id` meshsim shows for a trace root: its 32 hex digits (8 of time, 24 of
/// seed and sequence number) as a UUID, where Envoy would generate a random one. `None`
/// for a root not in meshsim's form.
pub fn request_id(root: &str) -> Option<String> {
    let hex = root_hex(root)?;
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// The 32 hex digits of a trace root (`1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy`).
fn root_hex(root: &str) -> Option<String> {
    root_digits(root).map(|d| d.collect::<String>().to_ascii_lowercase())
}

/// The 32 hex digits of a trace root, without allocating (the access logs write one per
/// line).
pub(crate) fn root_digits(root: &str) -> Option<impl Iterator<Item = char> + '_> {
    let rest = root.strip_prefix("1-")?;
    let (time, id) = rest.split_once('-')?;
    let hex = |p: &str| p.bytes().all(|b| b.is_ascii_hexdigit());
    (time.len() == 8 && id.len() == 24 && hex(time) && hex(id))
        .then(|| time.chars().chain(id.chars()))
}

fn key(shape: bool, hex: &str) -> Option<String> {
    (shape && hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// The 32 hex digits an id names: a trace root, a request id (UUID), or the digits alone.
/// `None` when it is none of those.
pub fn id_key(id: &str) -> Option<String> {
    let id = id.trim();
    if let Some(k) = root_hex(id) {
        return Some(k);
    }
    let parts: Vec<&str> = id.split('-').collect();
    let uuid = parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]);
    key(uuid || parts.len() == 1, &parts.concat())
}

/// The seed (low 32 bits) and sequence number an id's digits carry (meshsim's roots are
/// `1-<seconds>-<seed:8><seq:16>`).
pub fn id_parts(key: &str) -> Option<(u32, u64)> {
    let seed = u32::from_str_radix(key.get(8..16)?, 16).ok()?;
    let seq = u64::from_str_radix(key.get(16..32)?, 16).ok()?;
    Some((seed, seq))
}

/// The sampled requests of a run, in request order, each with its hops in call order.
pub fn records(traces: &Traces) -> Vec<RequestRecord> {
    let mut by_root: BTreeMap<&str, Vec<&AccessLogEntry>> = BTreeMap::new();
    for h in &traces.hops {
        if let Some(root) = &h.trace_root {
            by_root.entry(root.as_str()).or_default().push(h);
        }
    }
    let mut users: Vec<&UserRequest> = traces.users.iter().collect();
    users.sort_by_key(|u| u.seq);
    let mut out: Vec<RequestRecord> = users
        .iter()
        .map(|u| {
            let hops = by_root.remove(u.root.as_str()).unwrap_or_default();
            RequestRecord {
                trace_id: u.root.clone(),
                request_id: request_id(&u.root).unwrap_or_default(),
                seq: u.seq,
                method: u.method.clone(),
                path: u.path.clone(),
                start_us: us(u.start),
                end_us: us(u.end),
                status: u.status,
                outcome: u.outcome.clone(),
                hops: tree(Some(&u.span), hops),
            }
        })
        .collect();
    // Hops whose user request has no root record (cannot happen in a finished run; kept so
    // that nothing recorded is dropped silently).
    for (root, hops) in by_root {
        let start = hops.iter().map(|h| us(h.start)).min().unwrap_or_default();
        let end = hops
            .iter()
            .map(|h| us(h.start + h.duration))
            .max()
            .unwrap_or_default();
        out.push(RequestRecord {
            trace_id: root.to_string(),
            request_id: request_id(root).unwrap_or_default(),
            seq: root_hex(root)
                .and_then(|k| id_parts(&k))
                .map_or(0, |(_, s)| s),
            method: "-".into(),
            path: "-".into(),
            start_us: start,
            end_us: end,
            status: 0,
            outcome: "-".into(),
            hops: tree(None, hops),
        });
    }
    out
}

/// Orders a request's hops parents first (depth-first, siblings by start time), with each
/// inbound hop tied to the attempt that reached it.
fn tree(root: Option<&str>, mut hops: Vec<&AccessLogEntry>) -> Vec<HopRecord> {
    hops.sort_by(|a, b| (a.start, &a.span).cmp(&(b.start, &b.span)));
    let spans: BTreeMap<&str, usize> = hops
        .iter()
        .enumerate()
        .map(|(i, h)| (h.span.as_str(), i))
        .collect();
    let mut children: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, h) in hops.iter().enumerate() {
        let parent = h
            .parent_span
            .as_deref()
            .filter(|p| Some(*p) != root)
            .and_then(|p| spans.get(p).copied());
        children.entry(parent).or_default().push(i);
    }
    let mut out = Vec::with_capacity(hops.len());
    let mut stack: Vec<(usize, u32)> = children
        .get(&None)
        .into_iter()
        .flatten()
        .rev()
        .map(|&i| (i, 1))
        .collect();
    while let Some((i, depth)) = stack.pop() {
        let parent = hops[i]
            .parent_span
            .as_deref()
            .and_then(|p| spans.get(p))
            .map(|&p| hops[p]);
        out.push(hop(hops[i], depth, parent));
        if let Some(c) = children.get(&Some(i)) {
            stack.extend(c.iter().rev().map(|&c| (c, depth + 1)));
        }
    }
    out
}

fn hop(h: &AccessLogEntry, depth: u32, parent: Option<&AccessLogEntry>) -> HopRecord {
    let empty = HopDetail::default();
    let d = h.detail.as_deref().unwrap_or(&empty);
    // The attempt that reached an inbound hop: the caller's latest attempt to this task
    // that started no later than the hop did (attempts of one exchange never overlap).
    let via_attempt = parent
        .filter(|_| h.direction == Direction::Inbound)
        .and_then(|p| p.detail.as_deref())
        .and_then(|pd| {
            pd.attempts
                .iter()
                .rev()
                .find(|a| a.host == h.task && a.start <= h.start)
                .map(|a| a.number)
        });
    HopRecord {
        span: h.span.clone(),
        parent: h.parent_span.clone(),
        depth,
        direction: match h.direction {
            Direction::Inbound => "inbound".into(),
            Direction::Outbound => "outbound".into(),
        },
        node: h.node.clone(),
        task: h.task.clone(),
        version: h.version.clone(),
        service: h.service.clone(),
        route: h.route.clone(),
        upstream_node: h.upstream_node.clone(),
        path: h.path.clone(),
        start_us: us(h.start),
        duration_us: h.duration.as_micros() as u64,
        status: h.status,
        flag: (!h.flags.is_empty()).then(|| h.flags.to_string()),
        attempts_made: h.attempts,
        shadow: h.shadow,
        via_attempt,
        route_choice: d.route.as_ref().map(|r| RouteRecord {
            router: r.router.clone(),
            matched: r.matched.clone(),
            skipped: r
                .skipped
                .iter()
                .map(|(route, why)| Skipped {
                    route: route.clone(),
                    why: why.clone(),
                })
                .collect(),
            note: r.note.clone(),
        }),
        target: d.target.as_ref().map(|t| match t {
            TargetChoice::Weighted {
                control_plane,
                targets,
                roll,
                chosen,
            } => TargetRecord {
                kind: "weighted".into(),
                control_plane: *control_plane,
                weights: targets
                    .iter()
                    .map(|(node, weight)| Weight {
                        node: node.clone(),
                        weight: *weight,
                    })
                    .collect(),
                roll: Some(*roll),
                total: Some(targets.iter().map(|(_, w)| w).sum()),
                chosen: chosen.clone(),
            },
            TargetChoice::Steered { node } => TargetRecord {
                kind: "steered".into(),
                control_plane: true,
                weights: Vec::new(),
                roll: None,
                total: None,
                chosen: node.clone(),
            },
        }),
        attempts: d
            .attempts
            .iter()
            .map(|a| AttemptRec {
                number: a.number,
                host: a.host.clone(),
                address: a.address.clone(),
                pick: a.pick.clone(),
                start_us: us(a.start),
                end_us: us(a.end),
                deadline_us: a.deadline.map(|(t, _)| us(t)),
                timeout: a.deadline.map(|(_, k)| k.to_string()),
                outcome: a.outcome.to_string(),
                failed: a.outcome.failed() || a.outcome == AttemptOutcome::Pending,
                then: a.then.clone(),
            })
            .collect(),
        events: d
            .events
            .iter()
            .map(|e| EventRec {
                at_us: us(e.at),
                kind: e.kind.name().to_string(),
                detail: e.detail.clone(),
            })
            .collect(),
    }
}

/// `requests.jsonl`: one request per line.
pub fn requests_jsonl(records: &[RequestRecord]) -> String {
    let mut out = String::new();
    for r in records {
        if let Ok(line) = serde_json::to_string(r) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// What serde_json found, without its "at line L column C" (the caller places it: in a
/// JSON Lines file serde_json's line is always 1).
pub fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// A line of `requests.jsonl` that is not a request record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: not a request record: {problem}")]
pub struct BadLine {
    /// Line number, from 1.
    pub line: usize,
    /// Column where reading failed, from 1.
    pub column: usize,
    /// What serde_json found.
    pub problem: String,
}

/// Reads `requests.jsonl`: one request record per line, blank lines aside. A line that is
/// not one (a file cut short by a full disk, edited, or from another version) is an error,
/// not skipped: a request lost from the file would be explained as "not sampled".
pub fn parse_requests(text: &str) -> Result<Vec<RequestRecord>, BadLine> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(line).map_err(|e| BadLine {
            line: i + 1,
            column: e.column().max(1),
            problem: json_problem(&e),
        })?;
        records.push(record);
    }
    Ok(records)
}

/// One trace event (Chrome's Trace Event Format, as Perfetto reads it).
#[derive(Clone, Debug, Serialize)]
struct Event {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'static str>,
    ph: &'static str,
    ts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<u64>,
    pid: u32,
    tid: u32,
    /// Instant events: `t`, scoped to their thread.
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    /// Flow events: the arrow's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    /// Flow ends: `e`, bound to the enclosing slice.
    #[serde(skip_serializing_if = "Option::is_none")]
    bp: Option<&'static str>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    args: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    fn new(ph: &'static str, name: impl Into<String>, pid: u32, tid: u32, ts: u64) -> Event {
        Event {
            name: name.into(),
            cat: None,
            ph,
            ts,
            dur: None,
            pid,
            tid,
            s: None,
            id: None,
            bp: None,
            args: serde_json::Map::new(),
        }
    }

    fn arg(mut self, k: &str, v: impl Into<serde_json::Value>) -> Event {
        self.args.insert(k.to_string(), v.into());
        self
    }

    fn meta(name: &str, pid: u32, tid: u32, key: &str, v: impl Into<serde_json::Value>) -> Event {
        Event::new("M", name, pid, tid, 0).arg(key, v)
    }
}

/// `traces.json`'s top level (Chrome's JSON Object Format).
#[derive(Serialize)]
struct TraceFile<'a> {
    #[serde(rename = "displayTimeUnit")]
    display_time_unit: &'static str,
    #[serde(rename = "otherData")]
    other_data: serde_json::Value,
    #[serde(rename = "traceEvents")]
    trace_events: &'a [Event],
}

/// What `traces.json` says about the run it came from.
#[derive(Clone, Debug, Default)]
pub struct TraceHeader {
    /// Scenario.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// The share sampled.
    pub rate: f64,
    /// The one request traced by a rerun, if that is what this is.
    pub only: Option<u64>,
}

/// `traces.json`: the sampled requests as trace events, timestamps in µs of simulated time.
pub fn traces_json(header: &TraceHeader, records: &[RequestRecord]) -> String {
    let mut events = Vec::new();
    let mut flow = 0u64;
    for (i, r) in records.iter().enumerate() {
        let pid = u32::try_from(i + 1).unwrap_or(u32::MAX);
        request_events(r, pid, &mut flow, &mut events);
    }
    let mut other = serde_json::Map::new();
    other.insert("scenario".into(), header.scenario.clone().into());
    other.insert("seed".into(), header.seed.into());
    other.insert("trace_sample".into(), header.rate.into());
    if let Some(seq) = header.only {
        other.insert("only_request".into(), seq.into());
    }
    other.insert("sampled_requests".into(), records.len().into());
    other.insert(
        "clock".into(),
        "simulated time; ts 0 is the run's start, 2026-01-01T00:00:00Z in the access logs".into(),
    );
    let file = TraceFile {
        display_time_unit: "ms",
        other_data: serde_json::Value::Object(other),
        trace_events: &events,
    };
    let mut s = serde_json::to_string(&file).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// A thread's display name: who, which side.
fn thread_name(h: &HopRecord) -> String {
    match (h.direction.as_str(), &h.service) {
        ("outbound", Some(service)) if h.shadow => format!("{} → {service} (mirror)", h.task),
        ("outbound", Some(service)) => format!("{} → {service}", h.task),
        _ => format!("{} inbound", h.task),
    }
}

fn request_events(r: &RequestRecord, pid: u32, flow: &mut u64, out: &mut Vec<Event>) {
    let label = format!(
        "{} {} → {} · {}",
        r.method,
        r.path,
        status_text(r.status, &r.outcome),
        r.trace_id
    );
    out.push(Event::meta("process_name", pid, 0, "name", label));
    out.push(Event::meta("process_sort_index", pid, 0, "sort_index", pid));
    out.push(Event::meta("thread_name", pid, 1, "name", "users"));
    out.push(Event::meta("thread_sort_index", pid, 1, "sort_index", 1));
    let mut user = Event::new("X", format!("{} {}", r.method, r.path), pid, 1, r.start_us)
        .arg("trace_id", r.trace_id.clone())
        .arg("request_id", r.request_id.clone())
        .arg("status", r.status)
        .arg("outcome", r.outcome.clone());
    user.cat = Some("user");
    user.dur = Some(r.end_us.saturating_sub(r.start_us));
    out.push(user);
    // Where each span's slice lives, for the flow arrows into its children.
    let mut threads: BTreeMap<&str, (u32, u64, u64)> = BTreeMap::new();
    threads.insert("", (1, r.start_us, r.end_us));
    for (i, h) in r.hops.iter().enumerate() {
        let tid = u32::try_from(i + 2).unwrap_or(u32::MAX);
        let end = h.start_us + h.duration_us;
        out.push(Event::meta("thread_name", pid, tid, "name", thread_name(h)));
        out.push(Event::meta(
            "thread_sort_index",
            pid,
            tid,
            "sort_index",
            tid,
        ));
        hop_events(h, pid, tid, out);
        // The arrow from the caller: from the attempt that reached this hop, else from the
        // calling hop's slice (or the user's).
        let from = h
            .parent
            .as_deref()
            .and_then(|p| threads.get(p).copied())
            .or_else(|| threads.get("").copied());
        if let Some((ptid, mut pstart, mut pend)) = from {
            if let Some(a) = h.via_attempt.and_then(|n| {
                r.hops
                    .iter()
                    .find(|p| Some(&p.span) == h.parent.as_ref())
                    .and_then(|p| p.attempts.iter().find(|a| a.number == n))
            }) {
                (pstart, pend) = (a.start_us, a.end_us);
            }
            *flow += 1;
            let mut s = Event::new(
                "s",
                "call",
                pid,
                ptid,
                h.start_us.clamp(pstart, pend.max(pstart)),
            );
            s.cat = Some("flow");
            s.id = Some(*flow);
            let mut f = Event::new("f", "call", pid, tid, h.start_us);
            f.cat = Some("flow");
            f.id = Some(*flow);
            f.bp = Some("e");
            out.push(s);
            out.push(f);
        }
        threads.insert(h.span.as_str(), (tid, h.start_us, end));
    }
}

fn status_text(status: u16, flag: &str) -> String {
    match (status, flag) {
        (0, f) => f.to_string(),
        (s, "-") => s.to_string(),
        (s, f) => format!("{s} {f}"),
    }
}

fn hop_events(h: &HopRecord, pid: u32, tid: u32, out: &mut Vec<Event>) {
    let name = match (&h.service, &h.route) {
        (Some(service), Some(route)) => format!("{service} route {route}"),
        (Some(service), None) => format!("{service} (no route)"),
        _ => format!("{} {}", h.node, h.path),
    };
    let mut slice = Event::new("X", name, pid, tid, h.start_us)
        .arg("span", h.span.clone())
        .arg("status", h.status)
        .arg("node", h.node.clone());
    if !h.version.is_empty() {
        slice = slice.arg("version", h.version.clone());
    }
    slice.cat = Some(if h.direction == "inbound" {
        "inbound"
    } else {
        "outbound"
    });
    slice.dur = Some(h.duration_us);
    if let Some(p) = &h.parent {
        slice = slice.arg("parent", p.clone());
    }
    if let Some(f) = &h.flag {
        slice = slice.arg("flag", f.clone());
    }
    if let Some(n) = &h.upstream_node {
        slice = slice.arg("upstream_node", n.clone());
    }
    if h.direction == "outbound" {
        slice = slice.arg("attempts", h.attempts_made);
    }
    if let Some(rc) = &h.route_choice {
        slice = slice.arg("route_decision", route_text(rc));
    }
    if let Some(t) = &h.target {
        slice = slice.arg("target_decision", target_text(t));
    }
    out.push(slice);
    let mut previous_end: Option<u64> = None;
    for a in &h.attempts {
        if let Some(end) = previous_end.filter(|&e| e < a.start_us) {
            let mut b = Event::new("X", "back-off", pid, tid, end);
            b.cat = Some("backoff");
            b.dur = Some(a.start_us - end);
            out.push(b);
        }
        let mut e = Event::new(
            "X",
            format!("attempt {} → {}", a.number, a.host),
            pid,
            tid,
            a.start_us,
        )
        .arg("outcome", a.outcome.clone())
        .arg("address", a.address.clone())
        .arg("pick", a.pick.clone());
        e.cat = Some(if a.failed {
            "attempt,failed"
        } else {
            "attempt"
        });
        e.dur = Some(a.end_us.saturating_sub(a.start_us));
        if let (Some(d), Some(t)) = (a.deadline_us, &a.timeout) {
            e = e.arg(
                "deadline",
                format!("{}.{:06}s ({t})", d / 1_000_000, d % 1_000_000),
            );
        }
        if let Some(then) = &a.then {
            e = e.arg("then", then.clone());
        }
        out.push(e);
        previous_end = Some(a.end_us);
    }
    for ev in &h.events {
        let mut i =
            Event::new("i", ev.kind.clone(), pid, tid, ev.at_us).arg("detail", ev.detail.clone());
        i.cat = Some("event");
        i.s = Some("t");
        out.push(i);
    }
}

/// The route decision in one line.
pub fn route_text(r: &RouteRecord) -> String {
    let mut s = match (&r.matched, &r.router) {
        (Some(m), Some(router)) => format!("route `{m}` of `{router}` matched"),
        (Some(m), None) => format!("route `{m}` matched"),
        (None, _) => "no route matched".to_string(),
    };
    for k in &r.skipped {
        let _ = write!(s, "; skipped `{}`: {}", k.route, k.why);
    }
    if let Some(n) = &r.note {
        let _ = write!(s, " ({n})");
    }
    s
}

/// The target decision in one line.
pub fn target_text(t: &TargetRecord) -> String {
    match t.kind.as_str() {
        "weighted" if t.weights.len() == 1 => format!("the only target, `{}`", t.chosen),
        "weighted" => {
            let mut s = String::new();
            let mut from = 0u32;
            for (i, w) in t.weights.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let to = from + w.weight;
                let _ = write!(s, "`{}` {} [{from}, {to})", w.node, w.weight);
                from = to;
            }
            let source = if t.control_plane {
                "weights from the control plane"
            } else {
                "weights from the route"
            };
            format!(
                "drew {} of {}: {s} -> `{}` ({source})",
                t.roll.unwrap_or_default(),
                t.total.unwrap_or_default(),
                t.chosen
            )
        }
        _ => format!("steered to `{}`", t.chosen),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_in_every_form_and_carry_seed_and_number() {
        let root = "1-0000000c-0000002a000000000000004d";
        let rid = request_id(root).expect("meshsim root");
        assert_eq!(rid, "0000000c-0000-002a-0000-00000000004d");
        let key = id_key(root).expect("root");
        assert_eq!(id_key(&rid).as_deref(), Some(key.as_str()));
        assert_eq!(id_key(&key.to_uppercase()).as_deref(), Some(key.as_str()));
        assert_eq!(id_parts(&key), Some((42, 77)));
        assert_eq!(id_key("1-0000000c-abc"), None);
        assert_eq!(id_key("not-an-id"), None);
        assert_eq!(id_key(""), None);
        assert_eq!(request_id("Root=whatever"), None);
    }

    #[test]
    fn weighted_choices_read_as_ranges() {
        let t = TargetRecord {
            kind: "weighted".into(),
            control_plane: false,
            weights: vec![
                Weight {
                    node: "order-v1".into(),
                    weight: 90,
                },
                Weight {
                    node: "order-v2".into(),
                    weight: 10,
                },
            ],
            roll: Some(93),
            total: Some(100),
            chosen: "order-v2".into(),
        };
        assert_eq!(
            target_text(&t),
            "drew 93 of 100: `order-v1` 90 [0, 90), `order-v2` 10 [90, 100) -> `order-v2` (weights from the route)"
        );
        let r = RouteRecord {
            router: Some("order".into()),
            matched: Some("order".into()),
            skipped: vec![Skipped {
                route: "canary".into(),
                why: "header x-canary missing".into(),
            }],
            note: None,
        };
        assert_eq!(
            route_text(&r),
            "route `order` of `order` matched; skipped `canary`: header x-canary missing"
        );
    }
}
