//! `meshsim shrink`: from a scenario and a seed whose run fails an expectation, a smaller
//! scenario whose run with the same seed still fails that expectation the same way.
//!
//! **The same way**: the expectation with the same name fails, and what the run showed is of
//! the same kind: a number (every threshold is one-sided, `>=`, `<=`, `>` or `<`, so a failing
//! number is always on the same side of the bound), or the very same text (the rollout's
//! outcome, `promoted` where `rolled_back` was expected; an invariant's `violated`), or no
//! data at all. A reduction that makes a threshold fail for want of traffic ("no data") where
//! the original failed on a number is a different failure and is refused. And no new kind of
//! failure among the users' requests: every reason the candidate's users failed for
//! (report.json's `requests.failed_by_reason`) must be one the original's failed for too.
//! Without that rule a shrink "finds" that removing the front end's tasks still fails a
//! success-rate expectation — every request now fails for want of a host, a failure of its
//! own making, not the one being shrunk.
//!
//! **A candidate must load as cleanly as the original**: the loader refuses it (an error), or
//! it warns of something the original's load did not (a route to a node no task runs any
//! more): either way it is not run.
//!
//! **Edits are made to the file's text**, at the spans of the parsed YAML tree, as `--vary`
//! does ([`super::vary`]): a removed list item takes its lines (or, in a flow list, its text
//! and one comma) with it, a shortened value is replaced where it was written, and everything
//! else (comments, order, layout) stays as the user wrote it. Each candidate is loaded again
//! by the scenario loader, so one the loader refuses is never run.
//!
//! **The search is deterministic**: the reductions ([`STEPS`]) are tried in a fixed order,
//! and within one the candidates in file order; the first candidate (in that order) that
//! still fails the same way is taken, never the first to finish. Runs may be evaluated in
//! parallel batches (the CLI's `--jobs`): a run's result depends only on its text and seed,
//! so results are cached by text, and the run budget counts runs as the one-at-a-time search
//! would have consumed them. The written scenario, the list of changes and the run count are
//! therefore the same for every `--jobs`.
//!
//! Layering: above `rehearse` and `report` (verdicts are the report's own), beside `sweep`;
//! threads, signals and files are the CLI's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use crate::config::diagnostic::Severity;
use crate::config::source::{SourceFile, Span};
use crate::config::tree::{Key, Node, Value, parse_documents};
use crate::model::duration::parse_duration;
use crate::rehearse::{Watcher, rehearse_watched};
use crate::report::{Observed, Report, Verdict};
use crate::rollout::Rollout;
use crate::scenario::{self, Overrides};
use crate::sim::{Change, RunOptions, WorldView};

/// The run budget when `--max-runs` is not given: about an hour of a 10-minute scenario's
/// wire runs on two cores, or a minute of a 30-second test scenario's.
pub const DEFAULT_MAX_RUNS: usize = 50;

/// How an expectation failed (see the [module](self) docs for "the same way").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Way {
    /// A number on the failing side of a one-sided bound.
    Number,
    /// This text: a rollout outcome, an invariant's state.
    Text(String),
    /// No traffic to judge.
    NoData,
}

impl Way {
    fn of(v: &Verdict) -> Way {
        match &v.observed {
            Observed::Number(_) => Way::Number,
            Observed::Text(t) => Way::Text(t.clone()),
            Observed::Nothing => Way::NoData,
        }
    }
}

/// What one run showed that a shrink compares.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The expectations' verdicts, in the scenario's order.
    pub verdicts: Vec<Verdict>,
    /// The reasons the users' requests failed for (`requests.failed_by_reason`'s keys).
    pub user_failures: BTreeSet<String>,
    /// The loader's warnings (`code: message`).
    pub warnings: BTreeSet<String>,
}

/// The failure a shrink keeps: an expectation's name and how it failed, and what the
/// original run's users failed for and its load warned of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The expectation's name.
    pub name: String,
    /// How it failed.
    pub way: Way,
    /// The reasons the original's users failed for; a candidate may show no other.
    pub user_failures: BTreeSet<String>,
    /// The original's load warnings; a candidate may have no other.
    pub warnings: BTreeSet<String>,
}

impl Target {
    /// The failure to keep in `run`: the expectation named `wanted`, or without a name the
    /// first that failed (in the scenario's order). `Err` says why there is none.
    pub fn pick(run: &Run, wanted: Option<&str>) -> Result<Target, NoTarget> {
        let verdicts = &run.verdicts;
        let v =
            match wanted {
                Some(name) => {
                    let v = verdicts.iter().find(|v| v.name == name).ok_or_else(|| {
                        NoTarget::Unknown {
                            name: name.to_string(),
                            known: verdicts.iter().map(|v| v.name.clone()).collect(),
                        }
                    })?;
                    if v.held {
                        return Err(NoTarget::Held(v.name.clone(), v.observed_text()));
                    }
                    v
                }
                None => verdicts
                    .iter()
                    .find(|v| !v.held)
                    .ok_or(NoTarget::AllHeld(verdicts.len()))?,
            };
        Ok(Target {
            name: v.name.clone(),
            way: Way::of(v),
            user_failures: run.user_failures.clone(),
            warnings: run.warnings.clone(),
        })
    }

    /// Whether `run` fails this expectation the same way.
    pub fn fails_in(&self, run: &Run) -> bool {
        run.user_failures.is_subset(&self.user_failures)
            && run
                .verdicts
                .iter()
                .any(|v| v.name == self.name && !v.held && Way::of(v) == self.way)
    }
}

/// Why a run has no failure to shrink.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NoTarget {
    /// `--expect` names no expectation.
    #[error("the scenario has no expectation named `{name}`; its expectations are: {}", known.join("; "))]
    Unknown {
        /// As given.
        name: String,
        /// The scenario's expectations.
        known: Vec<String>,
    },
    /// The named one held.
    #[error("`{0}` held with this seed (observed {1}): there is no failure to shrink")]
    Held(String, String),
    /// None failed.
    #[error("all {0} expectations held with this seed: there is no failure to shrink")]
    AllHeld(usize),
}

/// What running one candidate gave.
#[derive(Clone, Debug, PartialEq)]
pub enum Tried {
    /// The loader refused it, or warned of something the original's load did not: not run,
    /// not counted.
    Invalid,
    /// Stopped before its end (Ctrl-C): the search stops.
    Halted,
    /// The simulation failed.
    Failed(String),
    /// What it showed.
    Ran(Run),
}

/// Halts a run when asked.
struct Stop<'a>(&'a dyn Fn() -> bool);

impl Watcher for Stop<'_> {
    fn watch(
        &mut self,
        _: crate::engine::SimTime,
        _: &WorldView<'_>,
        _: Option<&Rollout>,
    ) -> Vec<Change> {
        if (self.0)() {
            vec![Change::Halt]
        } else {
            Vec::new()
        }
    }
}

/// Loads `text` (as the file `name` in `base`) and runs it with `seed`, as `meshsim run
/// FILE --seed SEED` would; `stop` is asked once per simulated second. With `warnings`, a
/// load that warns of anything else is refused without a run.
pub fn try_text(
    name: &str,
    text: &str,
    base: &Path,
    seed: u64,
    warnings: Option<&BTreeSet<String>>,
    stop: &dyn Fn() -> bool,
) -> Tried {
    let loaded = scenario::load_text_with(name, text, base, &Overrides::default());
    let Some((scenario, mesh)) = loaded.runnable() else {
        return Tried::Invalid;
    };
    let warned: BTreeSet<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    if warnings.is_some_and(|allowed| !warned.is_subset(allowed)) {
        return Tried::Invalid;
    }
    let options = RunOptions {
        seed: Some(seed),
        // What `meshsim run` does without traces: sampling changes no other result.
        trace_sample: Some(0.0),
        ..RunOptions::default()
    };
    match rehearse_watched(scenario, mesh, &options, &mut |_| {}, &mut Stop(stop)) {
        Ok(r) if r.halted_at.is_some() => Tried::Halted,
        Ok(r) => {
            let report = Report::of_rehearsal(scenario, &r);
            Tried::Ran(Run {
                user_failures: report.requests.failed_by_reason.keys().cloned().collect(),
                verdicts: report.expectations,
                warnings: warned,
            })
        }
        Err(e) => Tried::Failed(e.to_string()),
    }
}

/// A smaller scenario to try: what changed, and the whole text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The change, for people: `removed fault \`slow-order\``.
    pub change: String,
    /// The scenario with it.
    pub text: String,
}

/// One kind of reduction: the candidates it makes of a text, in the order they are tried.
pub type Step = fn(&str) -> Vec<Candidate>;

/// The reductions, in the order they are tried: whole faults first (the largest cut), then
/// fault windows, the run's duration (with the rollout's times), the workload's rate,
/// replicas, and the requests and tasks the scenario names.
pub const STEPS: [Step; 6] = [
    drop_faults,
    shorten_windows,
    shorten_duration,
    lower_rate,
    fewer_replicas,
    fewer_routes,
];

/// Every candidate of every step, in order.
#[cfg(test)]
fn all_candidates(text: &str) -> Vec<Candidate> {
    STEPS.iter().flat_map(|step| step(text)).collect()
}

/// How a search ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Shrunk {
    /// The smallest failing text found (the original if nothing could go).
    pub text: String,
    /// What was removed or reduced, in the order it was.
    pub changes: Vec<String>,
    /// Runs the search consumed (as a one-at-a-time search would; the same for any jobs).
    pub runs: usize,
    /// Candidates run in parallel batches whose results the search never needed.
    pub speculative: usize,
    /// Candidates the loader refused (never run).
    pub invalid: usize,
    /// The budget ran out before the search did.
    pub exhausted: bool,
    /// A run was halted (Ctrl-C): the search stopped there.
    pub halted: bool,
    /// A run failed (the simulation, not the expectation): its message.
    pub failed: Option<String>,
}

/// Searches for the smallest text that still fails `target`, starting from `original`. `eval`
/// runs a batch of texts (in parallel if it likes) and returns each one's result in order; it
/// is given at most `jobs` texts at a time. At most `max_runs` runs are consumed.
pub fn search(
    original: &str,
    target: &Target,
    max_runs: usize,
    jobs: usize,
    eval: &mut dyn FnMut(&[String]) -> Vec<Tried>,
) -> Shrunk {
    let mut s = Searcher {
        target,
        max_runs,
        jobs: jobs.max(1),
        eval,
        cache: BTreeMap::new(),
        consumed: BTreeSet::new(),
        invalid: 0,
        exhausted: false,
        halted: false,
        failed: None,
    };
    let mut current = original.to_string();
    let mut changes = Vec::new();
    'passes: loop {
        let mut progress = false;
        for step in &STEPS {
            loop {
                let candidates: Vec<Candidate> = step(&current)
                    .into_iter()
                    .filter(|c| c.text != current)
                    .collect();
                match s.first_failing(&candidates) {
                    Some(c) => {
                        current = c.text.clone();
                        changes.push(c.change.clone());
                        progress = true;
                    }
                    None => break,
                }
                if s.stopped() {
                    break 'passes;
                }
            }
            if s.stopped() {
                break 'passes;
            }
        }
        if !progress {
            break;
        }
    }
    let runs = s.consumed.len();
    let evaluated = s
        .cache
        .values()
        .filter(|t| !matches!(t, Tried::Invalid))
        .count();
    Shrunk {
        text: current,
        changes,
        runs,
        speculative: evaluated.saturating_sub(runs),
        invalid: s.invalid,
        exhausted: s.exhausted,
        halted: s.halted,
        failed: s.failed,
    }
}

struct Searcher<'a> {
    target: &'a Target,
    max_runs: usize,
    jobs: usize,
    eval: &'a mut dyn FnMut(&[String]) -> Vec<Tried>,
    /// Every text run (or refused), by text: a run depends on nothing else.
    cache: BTreeMap<String, Tried>,
    /// The texts whose result the search has used: the runs it counts.
    consumed: BTreeSet<String>,
    invalid: usize,
    exhausted: bool,
    halted: bool,
    failed: Option<String>,
}

impl Searcher<'_> {
    fn stopped(&self) -> bool {
        self.exhausted || self.halted || self.failed.is_some()
    }

    /// The first of `candidates`, in order, that fails the target the same way.
    fn first_failing<'c>(&mut self, candidates: &'c [Candidate]) -> Option<&'c Candidate> {
        let mut i = 0;
        while i < candidates.len() {
            let c = &candidates[i];
            let Some(tried) = self.cache.get(&c.text) else {
                // Run this one and the next uncached ones, up to `jobs` of them, together.
                let mut batch: Vec<String> = Vec::new();
                for later in &candidates[i..] {
                    if batch.len() == self.jobs {
                        break;
                    }
                    if !self.cache.contains_key(&later.text) && !batch.contains(&later.text) {
                        batch.push(later.text.clone());
                    }
                }
                let results = (self.eval)(&batch);
                for (text, tried) in batch.into_iter().zip(results) {
                    if tried == Tried::Invalid {
                        self.invalid += 1;
                    }
                    self.cache.insert(text, tried);
                }
                if !self.cache.contains_key(&c.text) {
                    // The evaluator returned fewer results than asked: treat as refused.
                    self.cache.insert(c.text.clone(), Tried::Invalid);
                }
                continue;
            };
            match tried {
                Tried::Invalid => {}
                Tried::Halted => {
                    self.halted = true;
                    return None;
                }
                Tried::Failed(e) => {
                    self.failed = Some(e.clone());
                    return None;
                }
                Tried::Ran(run) => {
                    if !self.consumed.contains(&c.text) {
                        if self.consumed.len() >= self.max_runs {
                            self.exhausted = true;
                            return None;
                        }
                        self.consumed.insert(c.text.clone());
                    }
                    if self.target.fails_in(run) {
                        return Some(c);
                    }
                }
            }
            i += 1;
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// The reductions. Each reads the text's YAML tree and edits the text at its spans.

/// The first document's root, if the text parses.
fn root(text: &str) -> Option<Node> {
    let file = SourceFile::new("scenario", text);
    let (docs, problems) = parse_documents(&file);
    if !problems.is_empty() {
        return None;
    }
    docs.into_iter().find(|d| !d.is_null())
}

fn line_start(text: &str, pos: usize) -> usize {
    text[..pos.min(text.len())].rfind('\n').map_or(0, |i| i + 1)
}

/// Just past the end of the line holding `pos` (its newline included).
fn line_end(text: &str, pos: usize) -> usize {
    text[pos.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| pos + i + 1)
}

/// The text with `spans` (not overlapping) replaced, each by its string.
fn replace(text: &str, mut edits: Vec<(Span, String)>) -> String {
    edits.sort_by_key(|(s, _)| std::cmp::Reverse(s.start));
    let mut out = text.to_string();
    for (span, with) in edits {
        out.replace_range(span.start..span.end, &with);
    }
    out
}

fn cut(text: &str, start: usize, end: usize) -> String {
    replace(text, vec![(Span::new(start, end), String::new())])
}

fn is_flow(text: &str, node: &Node) -> bool {
    matches!(text.as_bytes().get(node.span.start), Some(b'[' | b'{'))
}

/// Only blanks between the start of its line and `pos`.
fn first_on_line(text: &str, pos: usize) -> bool {
    text[line_start(text, pos)..pos].trim().is_empty()
}

/// The text without the `i`-th of a list's items, or `None` when it cannot be cut cleanly.
/// The last item of a list is not cut here (the list would become null): the caller removes
/// the list's own entry instead.
fn remove_item(text: &str, list: &Node, i: usize) -> Option<String> {
    let items = list.as_seq()?;
    let item = items.get(i)?;
    if items.len() < 2 {
        return None;
    }
    if is_flow(text, list) {
        return Some(if i + 1 < items.len() {
            cut(text, item.span.start, items[i + 1].span.start)
        } else {
            cut(text, items[i - 1].span.end, item.span.end)
        });
    }
    // A block item: from its `-` (the first thing on its line) to the end of its last line.
    let before = text[..item.span.start].trim_end();
    if !before.ends_with('-') {
        return None;
    }
    let dash = before.len() - 1;
    if !first_on_line(text, dash) {
        return None;
    }
    let last = item.span.end.max(item.span.start + 1) - 1;
    Some(cut(text, comments_above(text, dash), line_end(text, last)))
}

/// The start of the comment lines right above the line of `pos` at its indentation (the
/// item's own comment, which goes with it), else of `pos`'s line.
fn comments_above(text: &str, pos: usize) -> usize {
    let mut start = line_start(text, pos);
    let indent = pos - start;
    while start > 0 {
        let above = line_start(text, start - 1);
        let line = &text[above..start - 1];
        let body = line.trim_start();
        if body.starts_with('#') && line.len() - body.len() == indent {
            start = above;
        } else {
            break;
        }
    }
    start
}

/// The text without the entry `i` of a mapping (`None` when it cannot be cut cleanly, or it
/// is the mapping's only entry).
fn remove_entry(text: &str, map: &Node, i: usize) -> Option<String> {
    let entries = map.as_map()?;
    let (key, value) = entries.get(i)?;
    if entries.len() < 2 {
        return None;
    }
    let end = entry_end(key, value);
    if is_flow(text, map) {
        return Some(if i + 1 < entries.len() {
            cut(text, key.span.start, entries[i + 1].0.span.start)
        } else {
            let (pk, pv) = &entries[i - 1];
            cut(text, entry_end(pk, pv), end)
        });
    }
    if !first_on_line(text, key.span.start) {
        return None;
    }
    Some(cut(
        text,
        line_start(text, key.span.start),
        line_end(text, end.max(1) - 1),
    ))
}

fn entry_end(key: &Key, value: &Node) -> usize {
    value.span.end.max(key.span.end)
}

/// A top-level entry's index.
fn top<'n>(root: &'n Node, name: &str) -> Option<(usize, &'n Node)> {
    root.as_map()?
        .iter()
        .enumerate()
        .find(|(_, (k, _))| k.written == name)
        .map(|(i, (_, v))| (i, v))
}

/// The text with `key: value` added as the last entry of a mapping.
fn insert_entry(text: &str, map: &Node, key: &str, value: &str) -> Option<String> {
    let entries = map.as_map()?;
    let (lk, lv) = entries.last()?;
    let end = entry_end(lk, lv);
    if is_flow(text, map) {
        let mut out = text.to_string();
        out.insert_str(end, &format!(", {key}: {value}"));
        return Some(out);
    }
    let (fk, _) = entries.first()?;
    let indent = fk.span.start - line_start(text, fk.span.start);
    let at = line_end(text, end.max(1) - 1);
    let mut out = text.to_string();
    let newline = if at == text.len() && !text.ends_with('\n') {
        "\n"
    } else {
        ""
    };
    out.insert_str(
        at,
        &format!("{newline}{}{key}: {value}\n", " ".repeat(indent)),
    );
    Some(out)
}

/// A duration as scenario files write it: whole seconds or minutes when it is, else ms.
fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// `d` times `num/den`, rounded down to whole seconds from 2 s up (to milliseconds below);
/// `d` itself (no change) where that would be under a second: shorter windows, runs and
/// intervals than that say nothing more about a failure and only add runs to the search.
fn scaled(d: Duration, num: u32, den: u32) -> Duration {
    let ms = d.as_millis() * u128::from(num) / u128::from(den);
    let ms = if ms >= 2000 { ms / 1000 * 1000 } else { ms };
    if ms < 1000 {
        return d;
    }
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// A duration scalar's value and the span of its text (inside any quotes).
fn duration_at(text: &str, node: &Node) -> Option<(Duration, Span)> {
    let s = node.scalar_text()?;
    // A bare number is not a duration in a scenario file; `0` alone is, but halving it
    // changes nothing.
    if !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let d = parse_duration(s).ok()?;
    Some((d, inner_span(text, node, s)?))
}

/// The span of a scalar's text without its quotes.
fn inner_span(text: &str, node: &Node, inner: &str) -> Option<Span> {
    let written = text.get(node.span.start..node.span.end)?;
    let offset = written.find(inner)?;
    let start = node.span.start + offset;
    Some(Span::new(start, start + inner.len()))
}

/// A number scalar's value and span.
fn number_at(text: &str, node: &Node) -> Option<(f64, Span)> {
    let s = node.scalar_text()?;
    let v: f64 = s.trim().parse().ok().filter(|v: &f64| v.is_finite())?;
    Some((v, inner_span(text, node, s)?))
}

/// `v` times `num/den`: whole when `v` was written whole, at least 1 (a rate or a count of
/// 0 is another scenario, not a smaller one).
fn scaled_number(v: f64, written: &str, num: f64, den: f64) -> Option<String> {
    let x = v * num / den;
    let out = if written.contains('.') {
        let x = (x * 100.0).floor() / 100.0;
        if x < 1.0 {
            return None;
        }
        format!("{x}")
    } else {
        let x = x.floor();
        if x < 1.0 {
            return None;
        }
        format!("{x:.0}")
    };
    (out != written).then_some(out)
}

/// The faults' list: `faults:` itself, or its `schedule:` — and the node holding that entry.
fn fault_list(root: &Node) -> Option<(&Node, usize, &Node)> {
    let (i, faults) = top(root, "faults")?;
    if faults.as_seq().is_some() {
        return Some((root, i, faults));
    }
    let (j, schedule) = faults
        .as_map()?
        .iter()
        .enumerate()
        .find(|(_, (k, _))| k.written == "schedule")
        .map(|(j, (_, v))| (j, v))?;
    schedule.as_seq().map(|_| (faults, j, schedule))
}

/// A fault's name for people: its `name:`, else its place and kind.
fn fault_label(f: &Node, i: usize) -> String {
    match f.get("name").and_then(Node::scalar_text) {
        Some(n) => format!("`{n}`"),
        None => format!(
            "#{} ({})",
            i + 1,
            f.get("kind").and_then(Node::scalar_text).unwrap_or("?")
        ),
    }
}

/// Each fault removed, in file order; then the random draw removed, then its count lowered.
fn drop_faults(text: &str) -> Vec<Candidate> {
    let Some(root) = root(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some((holder, entry, list)) = fault_list(&root) {
        let items = list.as_seq().unwrap_or_default();
        for (i, f) in items.iter().enumerate() {
            let edited = if items.len() > 1 {
                remove_item(text, list, i)
            } else {
                remove_entry(text, holder, entry)
            };
            if let Some(t) = edited {
                out.push(Candidate {
                    change: format!("removed fault {}", fault_label(f, i)),
                    text: t,
                });
            }
        }
    }
    if let Some((fi, faults)) = top(&root, "faults")
        && let Some(map) = faults.as_map()
        && let Some((ri, (_, random))) = map
            .iter()
            .enumerate()
            .find(|(_, (k, _))| k.written == "random")
    {
        let edited = if map.len() > 1 {
            remove_entry(text, faults, ri)
        } else {
            remove_entry(text, &root, fi)
        };
        if let Some(t) = edited {
            out.push(Candidate {
                change: "removed the random faults (`faults.random`)".into(),
                text: t,
            });
        }
        if let Some(count) = random.get("count")
            && let Some((n, span)) = number_at(text, count)
        {
            let written = &text[span.start..span.end];
            for (num, den) in [(1.0, 2.0), (n - 1.0, n)] {
                if let Some(v) = scaled_number(n, written, num, den) {
                    out.push(Candidate {
                        change: format!("random faults: count {written} → {v}"),
                        text: replace(text, vec![(span, v)]),
                    });
                }
            }
        }
    }
    dedup(out)
}

/// The run's duration as written (the scenario's `duration`).
fn run_duration(root: &Node, text: &str) -> Option<Duration> {
    top(root, "duration").and_then(|(_, d)| duration_at(text, d).map(|(d, _)| d))
}

/// Each fault's window halved: its `duration` if it has one; a fault that lasts to the end
/// of the run gets one, half of what it had (crashes and rolling restarts have no window).
fn shorten_windows(text: &str) -> Vec<Candidate> {
    let Some(root) = root(text) else {
        return Vec::new();
    };
    let Some((_, _, list)) = fault_list(&root) else {
        return Vec::new();
    };
    let run = run_duration(&root, text);
    let mut out = Vec::new();
    for (i, f) in list.as_seq().unwrap_or_default().iter().enumerate() {
        let label = fault_label(f, i);
        match f.get("duration").and_then(|d| duration_at(text, d)) {
            Some((d, span)) => {
                let half = scaled(d, 1, 2);
                if half < d {
                    out.push(Candidate {
                        change: format!("fault {label}: duration {} → {}", show(d), show(half)),
                        text: replace(text, vec![(span, show(half))]),
                    });
                }
            }
            None if f.get("duration").is_none() => {
                let kind = f.get("kind").and_then(Node::scalar_text).unwrap_or("");
                if matches!(kind, "crash" | "rolling-restart") {
                    continue;
                }
                let start = f
                    .get("start")
                    .and_then(|s| duration_at(text, s))
                    .map_or(Duration::ZERO, |(d, _)| d);
                let Some(left) = run.and_then(|r| r.checked_sub(start)) else {
                    continue;
                };
                let half = scaled(left, 1, 2);
                if half >= left {
                    continue;
                }
                if let Some(t) = insert_entry(text, f, "duration", &show(half)) {
                    out.push(Candidate {
                        change: format!(
                            "fault {label}: to the end of the run → duration {}",
                            show(half)
                        ),
                        text: t,
                    });
                }
            }
            None => {}
        }
    }
    out
}

/// Every duration written under `rollout:` (start, intervals, pauses, delays), each times
/// `num/den`: the rollout's whole schedule, faster.
fn rollout_scaled(text: &str, root: &Node, num: u32, den: u32) -> Option<Vec<(Span, String)>> {
    let (_, rollout) = top(root, "rollout")?;
    let mut edits = Vec::new();
    collect_durations(text, rollout, &mut |d, span| {
        let s = scaled(d, num, den);
        if s < d {
            edits.push((span, show(s)));
        }
    });
    (!edits.is_empty()).then_some(edits)
}

fn collect_durations(text: &str, node: &Node, f: &mut dyn FnMut(Duration, Span)) {
    match &node.value {
        Value::Scalar(..) => {
            if let Some((d, span)) = duration_at(text, node) {
                f(d, span);
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| collect_durations(text, n, f)),
        Value::Map(entries) => entries
            .iter()
            .for_each(|(_, n)| collect_durations(text, n, f)),
    }
}

/// The run halved; halved with the rollout's schedule halved too; the rollout's schedule
/// alone halved (so that a later pass can cut the run); the run to three quarters.
fn shorten_duration(text: &str) -> Vec<Candidate> {
    let Some(root) = root(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let run = top(&root, "duration").and_then(|(_, d)| duration_at(text, d));
    let rollout = rollout_scaled(text, &root, 1, 2);
    if let Some((d, span)) = run {
        let half = scaled(d, 1, 2);
        if half < d {
            out.push(Candidate {
                change: format!("duration {} → {}", show(d), show(half)),
                text: replace(text, vec![(span, show(half))]),
            });
            if let Some(edits) = &rollout {
                let mut all = edits.clone();
                all.push((span, show(half)));
                out.push(Candidate {
                    change: format!(
                        "duration {} → {}, and the rollout's times halved",
                        show(d),
                        show(half)
                    ),
                    text: replace(text, all),
                });
            }
        }
    }
    if let Some(edits) = rollout {
        out.push(Candidate {
            change: "the rollout's times halved".into(),
            text: replace(text, edits),
        });
    }
    if let Some((d, span)) = run {
        let three = scaled(d, 3, 4);
        if three < d {
            out.push(Candidate {
                change: format!("duration {} → {}", show(d), show(three)),
                text: replace(text, vec![(span, show(three))]),
            });
        }
    }
    dedup(out)
}

/// Every rate the workload writes (`constant`, a ramp's `from` and `to`, each step's `rps`)
/// halved together, then to three quarters; never below 1 request a second.
fn lower_rate(text: &str) -> Vec<Candidate> {
    let Some(root) = root(text) else {
        return Vec::new();
    };
    let Some(rate) = top(&root, "workload").and_then(|(_, w)| w.get("rate")) else {
        return Vec::new();
    };
    let mut numbers = Vec::new();
    collect_rates(text, rate, &mut numbers);
    let mut out = Vec::new();
    for (num, den, how) in [(1.0, 2.0, "halved"), (3.0, 4.0, "to three quarters")] {
        let mut edits = Vec::new();
        let mut shown = Vec::new();
        for (v, span) in &numbers {
            let written = &text[span.start..span.end];
            if let Some(s) = scaled_number(*v, written, num, den) {
                shown.push(format!("{written} → {s}"));
                edits.push((*span, s));
            }
        }
        if !edits.is_empty() {
            out.push(Candidate {
                change: format!("workload rate {how} ({} rps)", shown.join(", ")),
                text: replace(text, edits),
            });
        }
    }
    out
}

fn collect_rates(text: &str, node: &Node, out: &mut Vec<(f64, Span)>) {
    match &node.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if matches!(k.written.as_str(), "constant" | "from" | "to" | "rps")
                    && let Some(n) = number_at(text, v)
                {
                    out.push(n);
                } else {
                    collect_rates(text, v, out);
                }
            }
        }
        Value::Seq(items) => items.iter().for_each(|n| collect_rates(text, n, out)),
        _ => {}
    }
}

/// Each task group with more than one replica: down to 1, else to half.
fn fewer_replicas(text: &str) -> Vec<Candidate> {
    let Some(root) = root(text) else {
        return Vec::new();
    };
    let Some((_, tasks)) = top(&root, "tasks") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.as_seq().unwrap_or_default() {
        let node = t.get("node").and_then(Node::scalar_text).unwrap_or("?");
        let Some((r, span)) = t.get("replicas").and_then(|r| number_at(text, r)) else {
            continue;
        };
        let written = &text[span.start..span.end];
        for v in [1.0, (r / 2.0).ceil()] {
            if v >= 1.0 && v < r {
                let v = format!("{v:.0}");
                out.push(Candidate {
                    change: format!("task {node}: replicas {written} → {v}"),
                    text: replace(text, vec![(span, v)]),
                });
            }
        }
    }
    dedup(out)
}

/// Each request of the workload's mix removed, then each task group (a group some route,
/// rollout or fault still needs is refused by the loader and never run).
fn fewer_routes(text: &str) -> Vec<Candidate> {
    let Some(root) = root(text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(mix) = top(&root, "workload").and_then(|(_, w)| w.get("mix")) {
        for (i, m) in mix.as_seq().unwrap_or_default().iter().enumerate() {
            if let Some(t) = remove_item(text, mix, i) {
                let method = m.get("method").and_then(Node::scalar_text).unwrap_or("GET");
                let path = m.get("path").and_then(Node::scalar_text).unwrap_or("?");
                out.push(Candidate {
                    change: format!("removed the workload's {method} {path} requests"),
                    text: t,
                });
            }
        }
    }
    if let Some((_, tasks)) = top(&root, "tasks") {
        for (i, t) in tasks.as_seq().unwrap_or_default().iter().enumerate() {
            if let Some(edited) = remove_item(text, tasks, i) {
                let node = t.get("node").and_then(Node::scalar_text).unwrap_or("?");
                out.push(Candidate {
                    change: format!("removed the tasks of {node}"),
                    text: edited,
                });
            }
        }
    }
    out
}

/// Candidates with the same text as an earlier one dropped (the first keeps its place).
fn dedup(cands: Vec<Candidate>) -> Vec<Candidate> {
    let mut seen = BTreeSet::new();
    cands
        .into_iter()
        .filter(|c| seen.insert(c.text.clone()))
        .collect()
}

/// The scenario text with its mesh files' relative paths rewritten so that the file can be
/// moved from `from_dir` to `to_dir` (both as the scenario's directory) and still find them.
pub fn rebase_mesh_files(text: &str, from_dir: &Path, to_dir: &Path) -> String {
    let Some(root) = root(text) else {
        return text.to_string();
    };
    let Some(files) = top(&root, "mesh").and_then(|(_, m)| m.get("files")) else {
        return text.to_string();
    };
    let mut edits = Vec::new();
    for f in files.as_seq().unwrap_or_default() {
        let Some(p) = f.scalar_text() else { continue };
        if Path::new(p).is_absolute() {
            continue;
        }
        let target = from_dir.join(p);
        let rel = relative(&target, to_dir);
        let rel = rel.to_string_lossy();
        if rel != p
            && let Some(span) = inner_span(text, f, p)
        {
            edits.push((span, rel.into_owned()));
        }
    }
    replace(text, edits)
}

/// `path` relative to `dir`, both made absolute first (by the current directory); where
/// that fails, `path` as absolute as it can be made.
fn relative(path: &Path, dir: &Path) -> std::path::PathBuf {
    let abs = |p: &Path| {
        std::path::absolute(p)
            .map(|p| normalise(&p))
            .unwrap_or_else(|_| p.to_path_buf())
    };
    let (path, dir) = (abs(path), abs(dir));
    let (pc, dc): (Vec<_>, Vec<_>) = (path.components().collect(), dir.components().collect());
    let common = pc.iter().zip(&dc).take_while(|(a, b)| a == b).count();
    // Nothing in common but the root (a scratch folder and a checkout): the absolute path
    // reads better than a climb to `/`.
    if common <= 1 {
        return path;
    }
    let mut out = std::path::PathBuf::new();
    for _ in common..dc.len() {
        out.push("..");
    }
    for c in &pc[common..] {
        out.push(c);
    }
    out
}

/// `a/b/../c` as `a/c` (lexically: the scenario's paths name files, not symlinks to walk).
fn normalise(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep's test canary: one fault, block and flow lists, a rollout.
    const FIXTURE: &str = include_str!("../../tests/fixtures/sweep/canary.yaml");
    const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sweep");

    /// The fixture with a second, block-style fault that lasts to the end of the run.
    fn two_faults() -> String {
        FIXTURE.replacen(
            "    start: 0s\n\nexpect:",
            "    start: 0s\n  - name: ui-is-slow\n    kind: slowdown\n    target: { node: ui-v1 }\n    factor: 2\n    start: 10s\n\nexpect:",
            1,
        )
    }

    fn loads(text: &str) -> bool {
        let l = scenario::load_text_with(
            "tests/fixtures/sweep/canary.yaml",
            text,
            Path::new(BASE),
            &Overrides::default(),
        );
        if l.runnable().is_none() {
            eprintln!("{:#?}", l.diagnostics);
        }
        l.runnable().is_some()
    }

    fn by_change(cands: &[Candidate], prefix: &str) -> Candidate {
        cands
            .iter()
            .find(|c| c.change.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no `{prefix}` in {:?}",
                    cands.iter().map(|c| &c.change).collect::<Vec<_>>()
                )
            })
    }

    #[test]
    fn the_fixture_with_two_faults_loads() {
        let t = two_faults();
        assert_eq!(t.matches("ui-is-slow").count(), 1, "{t}");
        assert!(loads(&t));
    }

    #[test]
    fn every_candidate_of_every_step_loads_or_is_refused_by_the_loader_only() {
        // Every candidate parses as YAML; the ones this fixture should allow load.
        let t = two_faults();
        let cands = all_candidates(&t);
        assert!(cands.len() >= 10, "{cands:#?}");
        for c in &cands {
            assert!(root(&c.text).is_some(), "{}:\n{}", c.change, c.text);
            assert_ne!(c.text, t, "{}", c.change);
        }
        for prefix in [
            "removed fault `v2-returns-500s`",
            "removed fault `ui-is-slow`",
            "fault `ui-is-slow`: to the end of the run → duration 10s",
            "duration 30s → 15s",
            "duration 30s → 15s, and the rollout's times halved",
            "the rollout's times halved",
            "duration 30s → 22s",
            "workload rate halved (40 → 20 rps)",
            "task ui-v1: replicas 2 → 1",
            "task inventory-v1: replicas 3 → 1",
            "task inventory-v1: replicas 3 → 2",
            "removed the workload's POST /checkout requests",
        ] {
            let c = by_change(&cands, prefix);
            assert!(loads(&c.text), "{prefix}:\n{}", c.text);
        }
    }

    #[test]
    fn removing_a_fault_takes_its_lines_and_nothing_else() {
        let t = two_faults();
        let c = by_change(&drop_faults(&t), "removed fault `ui-is-slow`");
        assert_eq!(c.text, FIXTURE);
        let c = by_change(&drop_faults(&t), "removed fault `v2-returns-500s`");
        assert!(!c.text.contains("v2-returns-500s") && c.text.contains("ui-is-slow"));
        assert!(
            c.text.contains("faults:\n  - name: ui-is-slow\n"),
            "{}",
            c.text
        );
        // The only fault: the whole section goes.
        let c = by_change(&drop_faults(FIXTURE), "removed fault");
        assert!(
            !c.text.contains("faults:") && c.text.contains("\nexpect:\n"),
            "{}",
            c.text
        );
        assert!(loads(&c.text));
    }

    #[test]
    fn an_item_takes_its_own_comment_but_not_the_section_s() {
        let t = "faults:\n# the section\n  # the first\n  - name: a\n    kind: x\n  # the second\n  - name: b\n";
        let list = root(t).unwrap();
        let list = list.get("faults").unwrap();
        assert_eq!(
            remove_item(t, list, 1).unwrap(),
            "faults:\n# the section\n  # the first\n  - name: a\n    kind: x\n"
        );
        assert_eq!(
            remove_item(t, list, 0).unwrap(),
            "faults:\n# the section\n  # the second\n  - name: b\n"
        );
    }

    #[test]
    fn flow_lists_and_mappings_are_cut_at_their_commas() {
        let t = "faults: [{ name: a, kind: errors, percent: 1 }, { name: b, kind: errors, percent: 2, duration: 8s }]\nduration: 20s\n";
        let c = drop_faults(t);
        assert_eq!(
            c[0].text,
            "faults: [{ name: b, kind: errors, percent: 2, duration: 8s }]\nduration: 20s\n"
        );
        assert_eq!(
            c[1].text,
            "faults: [{ name: a, kind: errors, percent: 1 }]\nduration: 20s\n"
        );
        let w = shorten_windows(t);
        assert_eq!(
            w[0].change,
            "fault `a`: to the end of the run → duration 10s"
        );
        assert!(
            w[0].text.contains("percent: 1, duration: 10s }"),
            "{}",
            w[0].text
        );
        assert_eq!(w[1].change, "fault `b`: duration 8s → 4s");
        assert!(w[1].text.contains("duration: 4s }"), "{}", w[1].text);
    }

    #[test]
    fn a_block_fault_gets_its_window_at_its_own_indentation() {
        let t = two_faults();
        let c = by_change(&shorten_windows(&t), "fault `ui-is-slow`");
        assert!(
            c.text
                .contains("    start: 10s\n    duration: 10s\n\nexpect:"),
            "{}",
            c.text
        );
        // The other fault started at 0s and lasts the run: half of 30 s.
        let c = by_change(&shorten_windows(&t), "fault `v2-returns-500s`");
        assert!(
            c.text.contains("    start: 0s\n    duration: 15s\n"),
            "{}",
            c.text
        );
    }

    #[test]
    fn durations_and_numbers_keep_their_units_and_shape() {
        assert_eq!(show(Duration::from_secs(120)), "2m");
        assert_eq!(show(Duration::from_secs(90)), "90s");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
        assert_eq!(
            scaled(Duration::from_secs(15), 1, 2),
            Duration::from_secs(7)
        );
        assert_eq!(
            scaled(Duration::from_secs(3), 1, 2),
            Duration::from_millis(1500)
        );
        assert_eq!(
            scaled(Duration::from_millis(1500), 1, 2),
            Duration::from_millis(1500)
        );
        assert_eq!(scaled_number(40.0, "40", 1.0, 2.0).as_deref(), Some("20"));
        assert_eq!(scaled_number(1.0, "1", 1.0, 2.0), None);
        assert_eq!(scaled_number(2.5, "2.5", 1.0, 2.0).as_deref(), Some("1.25"));
        let c = by_change(&shorten_duration(FIXTURE), "the rollout's times halved");
        // start 2s → 1s, propagation 5s → 2s (whole seconds from 2 s), intervals 10s → 5s.
        assert!(c.text.contains("start: 1s\n"), "{}", c.text);
        assert!(c.text.contains("interval: 5s, threshold"), "{}", c.text);
        assert!(
            c.text.contains("  analysis:\n    interval: 2s\n"),
            "{}",
            c.text
        );
        assert!(c.text.contains("duration: 30s\n"), "{}", c.text);
        let t = "workload:\n  rate:\n    steps:\n      - { at: 0s, rps: 50 }\n      - { at: 1m, rps: \"9\" }\n";
        let r = lower_rate(t);
        assert_eq!(r[0].change, "workload rate halved (50 → 25, 9 → 4 rps)");
        assert!(r[0].text.contains("rps: 25 }") && r[0].text.contains("rps: \"4\" }"));
        assert!(
            r[0].text.contains("at: 1m"),
            "times are not rates: {}",
            r[0].text
        );
    }

    #[test]
    fn random_faults_can_go_or_draw_fewer() {
        let t = "faults:\n  random:\n    count: 5\n    start: [1s, 2s]\n    duration: [1s, 2s]\nduration: 10s\n";
        let c = drop_faults(t);
        assert_eq!(c[0].change, "removed the random faults (`faults.random`)");
        assert_eq!(c[0].text, "duration: 10s\n");
        assert_eq!(c[1].change, "random faults: count 5 → 2");
        assert_eq!(c[2].change, "random faults: count 5 → 4");
        let t = "faults:\n  schedule:\n    - { name: a, kind: crash, target: { node: x }, start: 1s }\n  random:\n    count: 1\n    start: [1s, 2s]\n    duration: [1s, 2s]\n";
        let c = drop_faults(t);
        assert_eq!(c[0].change, "removed fault `a`");
        assert!(
            c[0].text.starts_with("faults:\n  random:\n"),
            "{}",
            c[0].text
        );
        assert_eq!(
            c[1].text,
            "faults:\n  schedule:\n    - { name: a, kind: crash, target: { node: x }, start: 1s }\n"
        );
        // A crash has no window to shorten.
        assert!(shorten_windows(t).is_empty());
    }

    #[test]
    fn mesh_paths_follow_the_file_to_its_new_place() {
        let t = "mesh:\n  files: [../../../scenarios/ordering/mesh-canary.cfn.yaml, /abs/m.yaml]\n";
        let moved = rebase_mesh_files(
            t,
            Path::new("/r/tests/fixtures/sweep"),
            Path::new("/r/reports/x"),
        );
        assert_eq!(
            moved,
            "mesh:\n  files: [../../scenarios/ordering/mesh-canary.cfn.yaml, /abs/m.yaml]\n"
        );
    }

    fn verdict(name: &str, held: bool, observed: Observed) -> Verdict {
        Verdict {
            name: name.into(),
            description: String::new(),
            threshold: String::new(),
            observed,
            unit: None,
            held,
            detail: String::new(),
            judged_seconds: 0.0,
        }
    }

    fn run(verdicts: Vec<Verdict>, failures: &[&str]) -> Run {
        Run {
            verdicts,
            user_failures: failures.iter().map(|f| f.to_string()).collect(),
            warnings: BTreeSet::new(),
        }
    }

    #[test]
    fn the_same_way_is_the_same_name_failing_with_the_same_kind_of_observation() {
        let original = run(
            vec![
                verdict("a", true, Observed::Number(99.9)),
                verdict("rollout", false, Observed::Text("promoted".into())),
                verdict("b", false, Observed::Number(90.0)),
            ],
            &["http_500"],
        );
        let t = Target::pick(&original, None).unwrap();
        assert_eq!(t.name, "rollout");
        assert!(t.fails_in(&original));
        let one = |v| run(vec![v], &["http_500"]);
        let outcome = |held, text: &str| verdict("rollout", held, Observed::Text(text.into()));
        assert!(!t.fails_in(&one(outcome(false, "inconclusive"))));
        assert!(!t.fails_in(&one(outcome(true, "rolled_back"))));
        let b = Target::pick(&original, Some("b")).unwrap();
        assert!(b.fails_in(&one(verdict("b", false, Observed::Number(12.0)))));
        let fewer = run(vec![verdict("b", false, Observed::Number(12.0))], &[]);
        assert!(b.fails_in(&fewer));
        assert!(!b.fails_in(&one(verdict("b", false, Observed::Nothing))));
        // A new kind of failure among the users' requests is another failure.
        let other = run(
            vec![verdict("b", false, Observed::Number(12.0))],
            &["http_500", "no_healthy_upstream"],
        );
        assert!(!b.fails_in(&other));
        assert!(matches!(
            Target::pick(&original, Some("a")),
            Err(NoTarget::Held(..))
        ));
        assert!(matches!(
            Target::pick(&original, Some("zz")),
            Err(NoTarget::Unknown { .. })
        ));
        let passed = run(original.verdicts[..1].to_vec(), &[]);
        assert_eq!(Target::pick(&passed, None), Err(NoTarget::AllHeld(1)));
    }

    /// A fake world: the expectation fails while `needle` is in the text.
    fn fake(needle: &'static str) -> impl FnMut(&[String]) -> Vec<Tried> {
        move |batch| {
            batch
                .iter()
                .map(|t| {
                    let failed = verdict("x", !t.contains(needle), Observed::Number(1.0));
                    Tried::Ran(run(vec![failed], &[]))
                })
                .collect()
        }
    }

    #[test]
    fn the_search_keeps_the_failure_and_is_the_same_for_any_jobs() {
        let t = two_faults();
        let target = Target {
            name: "x".into(),
            way: Way::Number,
            user_failures: BTreeSet::new(),
            warnings: BTreeSet::new(),
        };
        let one = search(&t, &target, 200, 1, &mut fake("v2-returns-500s"));
        assert!(one.text.contains("v2-returns-500s"));
        assert!(!one.text.contains("ui-is-slow"), "{}", one.text);
        assert_eq!(one.changes[0], "removed fault `ui-is-slow`");
        assert!(
            one.changes
                .iter()
                .any(|c| c.starts_with("duration 30s → 15s"))
        );
        assert!(!one.exhausted && !one.halted);
        for jobs in [2, 3, 8] {
            let many = search(&t, &target, 200, jobs, &mut fake("v2-returns-500s"));
            assert_eq!(
                (&many.text, &many.changes, many.runs),
                (&one.text, &one.changes, one.runs),
                "jobs {jobs}"
            );
        }
        // A budget cuts it short, the same way for any jobs.
        let short = search(&t, &target, 3, 1, &mut fake("v2-returns-500s"));
        assert!(short.exhausted && short.runs == 3);
        assert_eq!(
            search(&t, &target, 3, 4, &mut fake("v2-returns-500s")).text,
            short.text
        );
        // Nothing can go when every candidate passes.
        let none = search(&t, &target, 200, 2, &mut fake("\u{0}"));
        assert_eq!((none.text.as_str(), none.changes.len()), (t.as_str(), 0));
    }
}
