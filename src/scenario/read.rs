//! Reading the scenario document into its parts: one section at a time, each deserialized on
//! its own so that one run reports the mistakes of every section.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::de::from_node;
use super::expect::{ExpectEntry, RawExpectation};
use super::sections::{
    DEFAULT_SEED, Presence, RawDiscovery, RawFaults, RawMesh, RawMetrics, RawNetwork, RawOrdering,
    RawReport, RawSidecar, RawTask, SECTIONS,
};
use super::sink::Sink;
use super::{
    DiscoverySpec, MetricsSpec, NetworkSpec, OrderingSpec, ReportSpec, Scenario, TaskSpec,
};
use crate::config::diagnostic::{Severity, suggest};
use crate::config::source::Span;
use crate::config::tree::{Key, Node, Value, join_index, join_key};
use crate::model::duration::HumanDuration;
use crate::model::fault::FaultSpec;
use crate::model::fault::random::RandomSpec;
use crate::model::service::ServiceConfig;
use crate::model::workload::WorkloadConfig;

/// What the document holds, section by section; `None` where a section is absent or failed.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub name: Option<String>,
    pub description: Option<String>,
    pub seed: Option<u64>,
    pub duration: Option<Duration>,
    pub mesh: Option<RawMesh>,
    /// One slot per `tasks:` item, so checks can name `tasks[i]`.
    pub tasks: Option<Vec<Option<TaskSpec>>>,
    pub services: Option<BTreeMap<String, ServiceConfig>>,
    /// Every key written under `services:`, including those that failed to deserialize (a
    /// task naming one of those is not a dangling reference).
    pub service_keys: BTreeSet<String>,
    pub network: Option<NetworkSpec>,
    pub discovery: Option<DiscoverySpec>,
    pub workload: Option<WorkloadConfig>,
    pub metrics: Option<MetricsSpec>,
    pub ordering: Option<OrderingSpec>,
    pub report: Option<ReportSpec>,
    /// `faults:` items, each with the field path it was read from and its position.
    pub faults: Vec<(String, usize, FaultSpec)>,
    /// `faults: { random: ... }`.
    pub random_faults: Option<RandomSpec>,
    /// `sidecars:` entries that read, by virtual node (checked in `check`).
    pub sidecars: Option<BTreeMap<String, RawSidecar>>,
    /// One slot per `expect:` item as written (for reference checks by `expect[i]`), and the
    /// checks it makes; `None` where the item failed.
    pub expect: Option<Vec<Option<ExpectEntry>>>,
    /// `rollout:` as written (validated by `check`).
    pub rollout: Option<crate::rollout::RolloutSpec>,
    /// Every section present read without error, and every required one present.
    pub complete: bool,
}

impl Parts {
    /// The scenario, when every part of it was read.
    pub fn scenario(&self, default_name: &str) -> Option<Scenario> {
        if !self.complete {
            return None;
        }
        Some(Scenario {
            name: self
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            description: self.description.clone(),
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            duration: self.duration?,
            mesh: self.mesh.clone()?.into_source(),
            tasks: self.tasks.clone()?.into_iter().collect::<Option<_>>()?,
            services: self.services.clone()?,
            network: self.network.clone().unwrap_or_default(),
            discovery: self.discovery.clone().unwrap_or_default(),
            workload: self.workload.clone()?,
            metrics: self.metrics.clone().unwrap_or_default(),
            ordering: self
                .ordering
                .clone()
                .unwrap_or_else(OrderingSpec::default_catalog),
            report: match &self.report {
                Some(r) if !(0.0..=1.0).contains(&r.trace_sample) => return None,
                r => r.clone().unwrap_or_default(),
            },
            faults: self
                .faults
                .iter()
                .filter_map(|(_, i, f)| f.build(*i).ok())
                .collect(),
            random_faults: self.random_faults.clone(),
            sidecars: self
                .sidecars
                .iter()
                .flatten()
                .filter_map(|(node, raw)| Some((node.clone(), raw.build().ok()?)))
                .collect(),
            expect: match &self.expect {
                Some(items) => items
                    .iter()
                    .map(|item| item.as_ref().map(|e| e.checks.clone()))
                    .collect::<Option<Vec<_>>>()?
                    .into_iter()
                    .flatten()
                    .collect(),
                None => Vec::new(),
            },
            rollout: match &self.rollout {
                Some(r) if r.build().is_err() => return None,
                r => r.clone(),
            },
        })
    }
}

/// Reads the top-level mapping.
pub(crate) fn read(root: &Node, sink: &mut Sink<'_>) -> Parts {
    let mut parts = Parts {
        complete: true,
        ..Parts::default()
    };
    if let Some(deep) = too_deep(root) {
        sink.error(
            "nesting",
            deep.span,
            "",
            format!("the document nests deeper than {MAX_DEPTH} levels; no scenario needs that"),
        );
        parts.complete = false;
        return parts;
    }
    report_tags(root, "", sink);
    let Some(entries) = root.as_map() else {
        sink.error(
            "type",
            root.span,
            "",
            format!(
                "a scenario is a mapping of sections (name, duration, mesh, tasks, ...), found {}",
                root.describe()
            ),
        );
        parts.complete = false;
        return parts;
    };
    let mut found: BTreeMap<&str, (&Key, &Node)> = BTreeMap::new();
    for (key, node) in entries {
        match SECTIONS.iter().find(|(name, _)| *name == key.name) {
            Some((name, _)) => {
                found.insert(name, (key, node));
            }
            None => {
                let names = SECTIONS.iter().map(|(n, _)| *n);
                let help = match suggest(&key.written, names.clone()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("expected one of: {}", names.collect::<Vec<_>>().join(", ")),
                };
                sink.error(
                    "unknown-field",
                    key.span,
                    &key.written,
                    format!("unknown section `{}`", key.written),
                )
                .help = Some(help);
                parts.complete = false;
            }
        }
    }
    for (name, presence) in SECTIONS {
        let absent = found.get(name).is_none_or(|(_, n)| n.is_null());
        if *presence == Presence::Required && absent {
            let at = Span::new(root.span.start, root.span.start);
            sink.error(
                "missing-field",
                at,
                name,
                format!("the scenario is missing required section `{name}`"),
            );
            parts.complete = false;
        }
    }

    let mut r = Reader {
        found,
        sink,
        complete: true,
    };
    parts.name = r.one("name");
    parts.description = r.one("description");
    parts.seed = r.one("seed");
    parts.duration = r.one::<HumanDuration>("duration").map(HumanDuration::get);
    parts.mesh = r.one("mesh");
    parts.tasks = r.tasks();
    let services = r.services();
    parts.service_keys = services.1;
    parts.services = services.0;
    parts.network = r.one::<RawNetwork>("network").map(Into::into);
    parts.discovery = r.one::<RawDiscovery>("discovery").map(Into::into);
    parts.workload = r.one("workload");
    parts.metrics = r.one::<RawMetrics>("metrics").map(Into::into);
    parts.ordering = r.one::<RawOrdering>("ordering").map(Into::into);
    parts.report = r.one::<RawReport>("report").map(Into::into);
    (parts.faults, parts.random_faults) = r.faults();
    parts.sidecars = r.sidecars();
    parts.expect = r.expect();
    parts.rollout = r.one("rollout");
    parts.complete &= r.complete;
    parts
}

struct Reader<'n, 's, 't> {
    found: BTreeMap<&'static str, (&'n Key, &'n Node)>,
    sink: &'s mut Sink<'t>,
    complete: bool,
}

impl<'n> Reader<'n, '_, '_> {
    /// The section's node, unless absent or null.
    fn node(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.found.get(name).copied().filter(|(_, n)| !n.is_null())
    }

    fn de<T: Deserialize<'n>>(
        &mut self,
        node: &'n Node,
        path: &str,
        key: Option<Span>,
    ) -> Option<T> {
        match from_node(node, path, key) {
            Ok(v) => Some(v),
            Err(e) => {
                self.sink.de_error(e);
                self.complete = false;
                None
            }
        }
    }

    /// A whole section, deserialized at once.
    fn one<T: Deserialize<'n>>(&mut self, name: &str) -> Option<T> {
        let (key, node) = self.node(name)?;
        self.de(node, name, Some(key.span))
    }

    /// The node of a section that must be a list or a mapping, or a type error.
    fn shaped(&mut self, name: &str, list: bool) -> Option<(&'n Key, &'n Node)> {
        let (key, node) = self.node(name)?;
        let ok = if list {
            node.as_seq().is_some()
        } else {
            node.as_map().is_some()
        };
        if !ok {
            let want = if list { "a list" } else { "a mapping" };
            self.sink.error(
                "type",
                node.span,
                name,
                format!("expected {want}, found {}", node.describe()),
            );
            self.complete = false;
            return None;
        }
        Some((key, node))
    }

    fn tasks(&mut self) -> Option<Vec<Option<TaskSpec>>> {
        let (key, node) = self.shaped("tasks", true)?;
        let items = node.as_seq().unwrap_or_default();
        if items.is_empty() {
            self.sink.error(
                "list-size",
                key.span,
                "tasks",
                "a scenario needs at least one task",
            );
            self.complete = false;
        }
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    self.de::<RawTask>(item, &join_index("tasks", i), None)
                        .map(Into::into)
                })
                .collect(),
        )
    }

    /// `faults:` as a list (the schedule), or as a mapping with `schedule` and `random`.
    fn faults(&mut self) -> (Vec<(String, usize, FaultSpec)>, Option<RandomSpec>) {
        let Some((key, node)) = self.node("faults") else {
            return (Vec::new(), None);
        };
        if let Some(items) = node.as_seq() {
            let faults = items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let path = join_index("faults", i);
                    self.de::<FaultSpec>(item, &path, None)
                        .map(|f| (path, i, f))
                })
                .collect();
            return (faults, None);
        }
        let Some(raw) = self.de::<RawFaults>(node, "faults", Some(key.span)) else {
            return (Vec::new(), None);
        };
        let faults = raw
            .schedule
            .into_iter()
            .enumerate()
            .map(|(i, f)| (format!("faults.schedule[{i}]"), i, f))
            .collect();
        (faults, raw.random)
    }

    fn expect(&mut self) -> Option<Vec<Option<ExpectEntry>>> {
        let (_, node) = self.shaped("expect", true)?;
        let items = node.as_seq().unwrap_or_default();
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = join_index("expect", i);
                    let raw = self.de::<RawExpectation>(item, &path, None)?;
                    match raw.resolve(&path, self.sink) {
                        Some(checks) => Some(ExpectEntry { raw, checks }),
                        None => {
                            self.complete = false;
                            None
                        }
                    }
                })
                .collect(),
        )
    }

    /// `sidecars:`, a mapping from virtual node to its extensions, each entry read on its own.
    fn sidecars(&mut self) -> Option<BTreeMap<String, RawSidecar>> {
        let (_, node) = self.shaped("sidecars", false)?;
        let mut sidecars = BTreeMap::new();
        for (key, value) in node.as_map().unwrap_or_default() {
            let path = join_key("sidecars", &key.written);
            if let Some(s) = self.de(value, &path, Some(key.span)) {
                sidecars.insert(key.name.clone(), s);
            }
        }
        Some(sidecars)
    }

    fn services(&mut self) -> (Option<BTreeMap<String, ServiceConfig>>, BTreeSet<String>) {
        let Some((_, node)) = self.shaped("services", false) else {
            return (None, BTreeSet::new());
        };
        let mut keys = BTreeSet::new();
        let mut services = BTreeMap::new();
        for (key, value) in node.as_map().unwrap_or_default() {
            keys.insert(key.name.clone());
            let path = join_key("services", &key.written);
            if let Some(s) = self.de(value, &path, Some(key.span)) {
                services.insert(key.name.clone(), s);
            }
        }
        (Some(services), keys)
    }
}

/// Deeper than any scenario goes; the limit keeps the recursive readers (serde's, and the
/// walks here) far from the end of the stack on hostile input.
const MAX_DEPTH: usize = 64;

/// The first node deeper than [`MAX_DEPTH`], found without recursing.
fn too_deep(root: &Node) -> Option<&Node> {
    let mut stack = vec![(root, 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Some(node);
        }
        match &node.value {
            Value::Scalar(..) => {}
            Value::Seq(items) => stack.extend(items.iter().map(|n| (n, depth + 1))),
            Value::Map(entries) => stack.extend(entries.iter().map(|(_, n)| (n, depth + 1))),
        }
    }
    None
}

/// Drops a tree without recursing: a deep one's own drop would run off the end of the stack.
pub(crate) fn dismantle(node: Node) {
    let mut stack = vec![node];
    while let Some(mut n) = stack.pop() {
        match std::mem::replace(&mut n.value, Value::Seq(Vec::new())) {
            Value::Seq(items) => stack.extend(items),
            Value::Map(entries) => stack.extend(entries.into_iter().map(|(_, v)| v)),
            Value::Scalar(..) => {}
        }
    }
}

/// A YAML tag (`!Ref`) means nothing in a scenario; it is refused rather than ignored so that
/// a CloudFormation habit does not silently produce the literal text.
fn report_tags(node: &Node, path: &str, sink: &mut Sink<'_>) {
    if let Some(tag) = &node.tag {
        sink.push(
            Severity::Error,
            "tag",
            node.span,
            path,
            format!("the YAML tag `!{tag}` has no meaning in a scenario file"),
        )
        .help = Some("CloudFormation intrinsics belong in the mesh files; remove the tag".into());
    }
    match &node.value {
        Value::Scalar(..) => {}
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                report_tags(item, &join_index(path, i), sink);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                report_tags(v, &join_key(path, &k.written), sink);
            }
        }
    }
}
