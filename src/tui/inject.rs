//! Faults injected from the screen, for teaching: "kill a task now". Each is written as the
//! scenario file would write it (a `faults:` entry) and built by the same validation, so what
//! ran is exactly what `--save-scenario` writes and a replay of that file runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::source::SourceFile;
use crate::config::tree::{Node, Value as TreeValue, parse_documents};
use crate::model::fault::{Fault, FaultSpec};
use crate::scenario::Scenario;

/// Names of injected faults start with this, so the log and the report tell them apart.
pub const LIVE_PREFIX: &str = "live-";

/// How long an injected fault lasts (a crash: how long until the task restarts). Long enough
/// to see on the charts and for a rollout's analysis window to catch it.
pub const LIVE_FOR: Duration = Duration::from_secs(60);

/// What the fault menu offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum InjectKind {
    /// Crash one task; it restarts after [`LIVE_FOR`].
    Kill,
    /// Every task of one version serves 5× slower.
    Slow,
    /// Cut the link between two versions.
    Partition,
    /// 10 % segment loss on the link between two versions.
    Loss,
}

impl InjectKind {
    /// Every kind, in menu order.
    pub const ALL: [InjectKind; 4] = [
        InjectKind::Kill,
        InjectKind::Slow,
        InjectKind::Partition,
        InjectKind::Loss,
    ];

    /// The menu's words.
    pub fn label(self) -> &'static str {
        match self {
            InjectKind::Kill => "kill a task",
            InjectKind::Slow => "slow a version (service time ×5)",
            InjectKind::Partition => "partition a link",
            InjectKind::Loss => "add 10% loss on a link",
        }
    }

    /// What it is aimed at: task hosts, virtual nodes, or caller → callee node pairs.
    pub fn targets(self, topology: &Targets) -> Vec<Target> {
        match self {
            InjectKind::Kill => topology.tasks.iter().cloned().map(Target::Task).collect(),
            InjectKind::Slow => topology.nodes.iter().cloned().map(Target::Node).collect(),
            InjectKind::Partition | InjectKind::Loss => topology
                .links
                .iter()
                .map(|(a, b)| Target::Link(a.clone(), b.clone()))
                .collect(),
        }
    }
}

/// What a fault can be aimed at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// One task (turmoil host).
    Task(String),
    /// Every task of a virtual node.
    Node(String),
    /// Between every task of one node and every task of the other.
    Link(String, String),
}

impl Target {
    /// The menu's words.
    pub fn label(&self) -> String {
        match self {
            Target::Task(t) => t.clone(),
            Target::Node(n) => n.clone(),
            Target::Link(a, b) => format!("{a} ↔ {b}"),
        }
    }

    fn slug(&self) -> String {
        match self {
            Target::Task(t) => t.clone(),
            Target::Node(n) => n.clone(),
            Target::Link(a, b) => format!("{a}-{b}"),
        }
    }
}

/// What the menu can aim at in one scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Targets {
    /// Task hosts, in scenario order.
    pub tasks: Vec<String>,
    /// Virtual nodes, in scenario order.
    pub nodes: Vec<String>,
    /// Links between nodes of consecutive services (the call chain as the scenario lists
    /// its services: UI → Order → Inventory).
    pub links: Vec<(String, String)>,
}

impl Targets {
    /// The targets of `scenario`.
    pub fn of(scenario: &Scenario) -> Targets {
        let mut tasks = Vec::new();
        let mut nodes: Vec<String> = Vec::new();
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for t in &scenario.tasks {
            tasks.extend(t.hosts());
            if !nodes.contains(&t.node) {
                nodes.push(t.node.clone());
            }
            match groups.iter_mut().find(|(s, _)| *s == t.service) {
                Some((_, ns)) if !ns.contains(&t.node) => ns.push(t.node.clone()),
                Some(_) => {}
                None => groups.push((t.service.clone(), vec![t.node.clone()])),
            }
        }
        let mut links = Vec::new();
        for pair in groups.windows(2) {
            for a in &pair[0].1 {
                for b in &pair[1].1 {
                    links.push((a.clone(), b.clone()));
                }
            }
        }
        Targets {
            tasks,
            nodes,
            links,
        }
    }
}

/// A fault asked for from the screen, not yet placed in time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Injection {
    /// What.
    pub kind: InjectKind,
    /// On what.
    pub target: Target,
}

/// Why an injection could not become a fault.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    /// The entry did not read as a fault (a bug: the entry is made here).
    #[error("the injected fault does not read as a `faults:` entry: {0}")]
    Read(#[from] serde_json::Error),
    /// The entry was refused by the scenario's fault validation.
    #[error("the injected fault is not valid: {0}")]
    Invalid(String),
}

impl Injection {
    /// What and where, as injected faults' names end: `kill-inventory-v2-1`.
    pub fn slug(&self) -> String {
        let kind = match self.kind {
            InjectKind::Kill => "kill",
            InjectKind::Slow => "slow",
            InjectKind::Partition => "partition",
            InjectKind::Loss => "loss",
        };
        format!("{kind}-{}", self.target.slug())
    }

    /// The `faults:` entry, starting at `start` (whole milliseconds), named with its
    /// sequence number `n` (1-based).
    pub fn entry(&self, n: usize, start: Duration) -> Value {
        let name = format!("{LIVE_PREFIX}{n}-{}", self.slug());
        let start = if start.subsec_millis() == 0 {
            format!("{}s", start.as_secs())
        } else {
            format!("{}ms", start.as_millis())
        };
        let lasting = format!("{}s", LIVE_FOR.as_secs());
        let on = match &self.target {
            Target::Task(t) => json!({ "target": { "task": t } }),
            Target::Node(n) => json!({ "target": { "node": n } }),
            Target::Link(a, b) => json!({ "link": { "from": { "node": a }, "to": { "node": b } } }),
        };
        let mut entry = match self.kind {
            InjectKind::Kill => json!({
                "name": name, "kind": "crash", "start": start, "restart_after": lasting
            }),
            InjectKind::Slow => json!({
                "name": name, "kind": "slowdown", "factor": 5.0, "start": start,
                "duration": lasting
            }),
            InjectKind::Partition => json!({
                "name": name, "kind": "partition", "start": start, "duration": lasting
            }),
            InjectKind::Loss => json!({
                "name": name, "kind": "loss", "percent": 10.0, "start": start,
                "duration": lasting
            }),
        };
        if let (Some(e), Some(o)) = (entry.as_object_mut(), on.as_object()) {
            for (k, v) in o {
                e.insert(k.clone(), v.clone());
            }
        }
        entry
    }

    /// The fault the entry builds, as the scenario loader builds it.
    pub fn fault(&self, n: usize, start: Duration) -> Result<Fault, InjectError> {
        build(&self.entry(n, start), n)
    }
}

/// Builds one `faults:` entry written as JSON.
pub fn build(entry: &Value, index: usize) -> Result<Fault, InjectError> {
    let spec: FaultSpec = serde_json::from_value(entry.clone())?;
    spec.build(index).map_err(|errors| {
        InjectError::Invalid(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// The moment an injection asked for at `now` starts: the next whole simulated second after
/// it (the world must meet a fault's start ahead of it, and a whole second reads well in the
/// saved scenario).
pub fn start_after(now: Duration) -> Duration {
    Duration::from_secs(now.as_secs() + 1)
}

/// Why the scenario could not be saved.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The original scenario file could not be read or parsed again.
    #[error("cannot read the scenario {}: {why}", path.display())]
    Source {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// The new file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The scenario text `original` (read from `original_path`) with `entries` added to its
/// `faults:` section and its mesh files named so they resolve from `saved_path`'s folder.
/// The rest of the file, comments included, is kept as written.
pub fn with_faults(
    original: &str,
    original_path: &Path,
    saved_path: &Path,
    entries: &[Value],
) -> Result<String, SaveError> {
    let file = SourceFile::new(original_path.display().to_string(), original);
    let (docs, problems) = parse_documents(&file);
    let source_error = |why: String| SaveError::Source {
        path: original_path.to_path_buf(),
        why,
    };
    if let Some(p) = problems.first() {
        return Err(source_error(p.message.clone()));
    }
    let Some(root) = docs.first() else {
        return Err(source_error("the file has no document".into()));
    };
    let flow: Vec<String> = entries.iter().map(Value::to_string).collect();
    // (byte offset, text to insert or replace, bytes replaced), applied from the end.
    let mut edits: Vec<(usize, String, usize)> = Vec::new();
    match root.get("faults") {
        _ if entries.is_empty() => {}
        Some(Node {
            value: TreeValue::Seq(items),
            span,
            ..
        }) if original[span.start..].starts_with('[') => {
            let close = closing_bracket(original, span.start).unwrap_or(span.end);
            let sep = if items.is_empty() { "" } else { ", " };
            edits.push((close, format!("{sep}{}", flow.join(", ")), 0));
        }
        Some(Node {
            value: TreeValue::Seq(items),
            ..
        }) if !items.is_empty() => {
            let last = &items[items.len() - 1];
            let first = &items[0];
            let line_start = original[..first.span.start]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let dash = original[line_start..first.span.start]
                .find('-')
                .map_or(line_start, |i| line_start + i);
            let indent = " ".repeat(dash - line_start);
            let text: String = flow.iter().map(|f| format!("\n{indent}- {f}")).collect();
            edits.push((last.span.end, text, 0));
        }
        Some(node) => {
            // `faults:` with nothing (null) or an empty block: replace the value.
            let text: String = flow.iter().map(|f| format!("\n  - {f}")).collect();
            edits.push((node.span.start, text, node.span.end - node.span.start));
        }
        None => {
            let nl = if original.ends_with('\n') { "" } else { "\n" };
            let text: String = flow.iter().map(|f| format!("\n  - {f}")).collect();
            edits.push((original.len(), format!("{nl}faults:{text}\n"), 0));
        }
    }
    let from = original_path.parent().unwrap_or(Path::new(""));
    let to = saved_path.parent().unwrap_or(Path::new(""));
    if let Some(files) = root.get("mesh").and_then(|m| m.get("files")) {
        let items: Vec<&Node> = match &files.value {
            TreeValue::Seq(items) => items.iter().collect(),
            TreeValue::Scalar(..) => vec![files],
            TreeValue::Map(_) => Vec::new(),
        };
        for item in items {
            let Some(name) = item.as_str() else { continue };
            let moved = relocate(Path::new(name), from, to);
            let text = Value::String(moved.display().to_string()).to_string();
            edits.push((item.span.start, text, item.span.end - item.span.start));
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = original.to_string();
    for (at, text, replaced) in edits {
        out.replace_range(at..at + replaced, &text);
    }
    Ok(out)
}

/// The byte offset of the `]` closing the flow sequence opened at `open`, skipping nested
/// brackets and quoted text (the parser's spans stop at the last item's content).
fn closing_bracket(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text[open..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `file`, named relative to `from`, named so it resolves from `to`: relative when both
/// folders resolve, absolute otherwise.
fn relocate(file: &Path, from: &Path, to: &Path) -> PathBuf {
    if file.is_absolute() {
        return file.to_path_buf();
    }
    // A folder that does not exist yet (the saved file's, before it is written) is taken as
    // written, made absolute.
    let dir = |p: &Path| {
        let p = if p.as_os_str().is_empty() {
            Path::new(".")
        } else {
            p
        };
        std::fs::canonicalize(p).or_else(|_| std::path::absolute(p))
    };
    let (Ok(from), Ok(to)) = (dir(from), dir(to)) else {
        return from.join(file);
    };
    let target = from.join(file);
    let common = target
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut rel = PathBuf::new();
    for _ in to.components().skip(common) {
        rel.push("..");
    }
    for c in target.components().skip(common) {
        rel.push(c);
    }
    rel
}

/// Writes `text` to `path`, creating its folder.
pub fn save(path: &Path, text: &str) -> Result<(), SaveError> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)
    };
    write().map_err(|source| SaveError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fault::FaultKind;

    fn kill() -> Injection {
        Injection {
            kind: InjectKind::Kill,
            target: Target::Task("inventory-v2-1".into()),
        }
    }

    #[test]
    fn every_kind_builds_through_the_scenario_validation() {
        for kind in InjectKind::ALL {
            let target = match kind {
                InjectKind::Kill => Target::Task("a-1".into()),
                InjectKind::Slow => Target::Node("a".into()),
                _ => Target::Link("a".into(), "b".into()),
            };
            let f = Injection { kind, target }
                .fault(3, Duration::from_secs(62))
                .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert_eq!(f.window.start, Duration::from_secs(62), "{kind:?}");
            assert!(f.name.starts_with("live-3-"), "{}", f.name);
        }
        let f = kill().fault(1, Duration::from_secs(5)).expect("builds");
        assert_eq!(
            f.kind,
            FaultKind::Crash {
                restart_after: Some(LIVE_FOR),
                deregistration_lag: crate::model::fault::spec::DEFAULT_DEREGISTRATION_LAG,
            }
        );
        assert_eq!(f.name, "live-1-kill-inventory-v2-1");
    }

    #[test]
    fn injections_start_at_the_next_whole_second() {
        assert_eq!(
            start_after(Duration::from_millis(61_004)),
            Duration::from_secs(62)
        );
        assert_eq!(
            start_after(Duration::from_secs(61)),
            Duration::from_secs(62)
        );
    }

    #[test]
    fn entries_join_a_block_list_a_flow_list_or_a_new_section() {
        let e = [kill().entry(1, Duration::from_secs(62))];
        let here = Path::new("x.yaml");
        let block = "name: x\nfaults:\n  - name: a\n    kind: hold\n    start: 1s\nexpect: []\n";
        let out = with_faults(block, here, here, &e).expect("saves");
        assert!(
            out.contains("    start: 1s\n  - {\"kind\":\"crash\""),
            "{out}"
        );
        assert!(out.ends_with("expect: []\n"), "{out}");
        let flow = "name: x\nfaults: [{ name: a, kind: hold, start: 1s }]\n";
        let out = with_faults(flow, here, here, &e).expect("saves");
        assert!(out.contains("start: 1s }, {\"kind\":\"crash\""), "{out}");
        let none = "name: x\nseed: 1";
        let out = with_faults(none, here, here, &e).expect("saves");
        assert!(
            out.starts_with("name: x\nseed: 1\nfaults:\n  - {\"kind\""),
            "{out}"
        );
        for text in [&out, &with_faults(block, here, here, &e).expect("saves")] {
            let file = SourceFile::new("t", text.as_str());
            let (docs, problems) = parse_documents(&file);
            assert!(problems.is_empty(), "{text}");
            let faults = docs[0]
                .get("faults")
                .and_then(Node::as_seq)
                .expect("a list");
            assert_eq!(
                faults
                    .last()
                    .and_then(|f| f.get("name"))
                    .and_then(Node::as_str),
                Some("live-1-kill-inventory-v2-1")
            );
        }
    }

    #[test]
    fn mesh_files_are_renamed_for_the_new_folder() {
        let dir = std::env::temp_dir().join(format!("meshsim-tui-save-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b/c"));
        std::fs::create_dir_all(&a).expect("mkdir");
        // b/c does not exist yet: the saved file's folder is made when it is written.
        let text = "mesh:\n  files: [ordering/mesh.yaml]\n";
        let out = with_faults(text, &a.join("s.yaml"), &b.join("s.yaml"), &[]).expect("saves");
        assert!(
            out.contains("files: [\"../../a/ordering/mesh.yaml\"]"),
            "{out}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
