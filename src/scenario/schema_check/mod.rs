//! Keeps `schemas/scenario.schema.json` honest against the loader, both ways:
//! - every closed object of the schema (`additionalProperties: false`) lists exactly the
//!   fields its Rust type accepts (read off the unknown-field error a probe key draws), its
//!   `required` list is exactly what the type needs, and its `default`s are the type's;
//! - every shipped scenario the loader accepts, and the documented example, validate against
//!   the schema, with a small validator that refuses any keyword it does not implement (so a
//!   keyword added to the schema cannot be silently skipped).

mod validator;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use validator::{to_json, validate};

use super::de::{ErrorKind, from_node};
use super::expect::{RawExpectation, RolloutOutcome, invariant_names};
use super::sections::{
    DEFAULT_SEED, Presence, RawDiscovery, RawFailureAccrual, RawFaults, RawMesh, RawMetrics,
    RawNetwork, RawOrdering, RawRateLimit, RawReport, RawSidecar, RawTask, SECTIONS,
};
use super::{DiscoverySpec, MetricsSpec, NetworkSpec, OrderingSpec, ReportSpec, TaskSpec};
use crate::config::source::SourceFile;
use crate::config::tree::{Node, parse_documents};
use crate::model::calls::{CallConfig, StepConfig};
use crate::model::endpoint::ResponseSizeConfig;
use crate::model::fault::random::RandomSpec;
use crate::model::fault::{FaultSpec, LinkSpec, SelectorSpec};
use crate::model::service::{PathConfig, ServiceConfig};
use crate::model::service_time::ServiceTimeConfig;
use crate::model::workload::{MixEntry, RateConfig, RateStep, WorkloadConfig};

const SCHEMA: &str = include_str!("../../../schemas/scenario.schema.json");

fn schema() -> Json {
    serde_json::from_str(SCHEMA).expect("the schema is JSON")
}

fn tree(text: &str) -> Node {
    let (mut docs, problems) = parse_documents(&SourceFile::new("probe", text));
    assert!(problems.is_empty(), "{text}: {problems:?}");
    docs.remove(0)
}

fn valid(text: &str) -> Vec<String> {
    let schema = schema();
    let mut out = Vec::new();
    validate(&schema, &schema, &to_json(&tree(text)), "", &mut out);
    out
}

#[test]
fn the_example_and_every_shipped_scenario_the_loader_accepts_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("tests/fixtures/scenarios/ordering.yaml"),
        root.join("tests/fixtures/scenarios/shop.yaml"),
        root.join("tests/fixtures/scenarios/expectations.yaml"),
    ];
    let mut shipped: Vec<_> = std::fs::read_dir(root.join("scenarios"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    shipped.sort();
    files.extend(shipped);
    for path in files {
        let loaded = super::load(&path);
        if path.starts_with(root.join("tests")) {
            assert!(loaded.is_valid(), "{} does not load", path.display());
        } else if !loaded.is_valid() {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        assert_eq!(valid(&text), Vec::<String>::new(), "{}", path.display());
    }
}

#[test]
fn the_validator_is_not_vacuous() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/shop.yaml"),
    )
    .expect("readable");
    for (from, to) in [
        ("replicas: 2", "replcias: 2"),
        ("replicas: 2", "replicas: 0"),
        ("duration: 1m", "duration: \"60\""),
        (
            "service_time: 2ms",
            "service_time: {distribution: lognormal, median: 2ms}",
        ),
        ("constant: 20", "constant: -1"),
        (
            "workload:",
            "expect: [{service: users, p99: 250}]\nworkload:",
        ),
        (
            "workload:",
            "expect: [{service: users, success_rate: 1.5}]\nworkload:",
        ),
        (
            "workload:",
            "expect: [{service: users, invariant: stock-conserved}]\nworkload:",
        ),
        (
            "workload:",
            "expect: [{invariant: no-request-lots}]\nworkload:",
        ),
        (
            "workload:",
            "expect: [{service: a, retry_amplification: \"<= 0.5\"}]\nworkload:",
        ),
        (
            "- call: { service: back.shop.local, path: /data }",
            "- { call: { service: back.shop.local, path: /data }, parallel: [] }",
        ),
    ] {
        let mutated = text.replacen(from, to, 1);
        assert_ne!(mutated, text, "{from} is in the fixture");
        assert_ne!(valid(&mutated), Vec::<String>::new(), "{to}");
    }
}

// ---- the schema's closed objects against the types -----------------------------------------

/// The fields a type accepts, as listed by the error a probe document draws.
fn accepted<T: DeserializeOwned + Debug>(probe: &str) -> BTreeSet<String> {
    let node = tree(probe);
    match from_node::<T>(&node, "", None).map_err(|e| e.kind.clone()) {
        Err(ErrorKind::UnknownField { expected, .. } | ErrorKind::UnknownVariant { expected }) => {
            expected.iter().map(|s| s.to_string()).collect()
        }
        other => panic!("probe {probe} drew {other:?}"),
    }
}

fn keys(schema: &Json) -> BTreeSet<String> {
    schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// Every closed object in the schema, by JSON pointer.
fn closed_objects(schema: &Json, at: &str, out: &mut BTreeSet<String>) {
    match schema {
        Json::Object(m) => {
            if m.get("additionalProperties") == Some(&Json::Bool(false)) {
                out.insert(at.to_string());
            }
            for (k, v) in m {
                closed_objects(v, &format!("{at}/{k}"), out);
            }
        }
        Json::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                closed_objects(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

struct Checker {
    schema: Json,
    checked: BTreeSet<String>,
}

impl Checker {
    fn at(&self, pointer: &str) -> &Json {
        self.schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} not in the schema"))
    }

    /// Fields, required fields and defaults of one closed object whose type is `T`, compared
    /// after `view` (the loader's conversion, where the written type keeps `Option`s).
    fn object<T, U>(&mut self, pointer: &str, minimal: Json, view: impl Fn(T) -> U)
    where
        T: DeserializeOwned + Debug,
        U: PartialEq + Debug,
    {
        let s = self.at(pointer).clone();
        assert_eq!(
            keys(&s),
            accepted::<T>(r#"{"zz_probe": 1}"#),
            "fields of {pointer}"
        );
        let required: BTreeSet<String> = s["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(String::from))
            .collect();
        let minimal = minimal.as_object().cloned().unwrap_or_default();
        assert_eq!(
            minimal.keys().cloned().collect::<BTreeSet<_>>(),
            required,
            "{pointer}"
        );
        let read = |m: &Map<String, Json>| {
            let text = Json::Object(m.clone()).to_string();
            from_node::<T>(&tree(&text), "", None).map(&view)
        };
        let base = read(&minimal).unwrap_or_else(|e| panic!("{pointer}: minimal: {e}"));
        for r in &required {
            let mut less = minimal.clone();
            less.remove(r);
            let e = read(&less).expect_err("a required field is missing");
            assert_eq!(
                e.kind,
                ErrorKind::MissingField,
                "{pointer} without {r}: {e}"
            );
        }
        for (name, prop) in s["properties"].as_object().into_iter().flatten() {
            if let Some(default) = prop.get("default") {
                let mut with = minimal.clone();
                with.insert(name.clone(), default.clone());
                let explicit = read(&with).unwrap_or_else(|e| panic!("{pointer}.{name}: {e}"));
                assert_eq!(explicit, base, "default of {pointer}.{name}");
            }
        }
        self.checked.insert(pointer.to_string());
    }

    /// A union of one-key objects: their keys are the variants `T` accepts.
    fn tags<T: DeserializeOwned + Debug>(&mut self, pointer: &str) {
        let variants = self.at(pointer)["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut union = BTreeSet::new();
        for (i, v) in variants.iter().enumerate() {
            union.extend(keys(v));
            self.checked.insert(format!("{pointer}/oneOf/{i}"));
        }
        assert_eq!(
            union,
            accepted::<T>(r#"{"zz_probe": 1}"#),
            "variants of {pointer}"
        );
    }

    /// A distribution: the `distribution:` tags, and each variant's fields.
    fn distribution<T: DeserializeOwned + Debug>(&mut self, pointer: &str) {
        let variants = self.at(pointer)["oneOf"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut tags = BTreeSet::new();
        for (i, v) in variants.iter().enumerate() {
            let Some(tag) = v
                .pointer("/properties/distribution/const")
                .and_then(Json::as_str)
            else {
                continue;
            };
            tags.insert(tag.to_string());
            let mut fields = keys(v);
            fields.remove("distribution");
            let probe = format!(r#"{{"distribution": "{tag}", "zz_probe": 1}}"#);
            assert_eq!(fields, accepted::<T>(&probe), "fields of {pointer} {tag}");
            self.checked.insert(format!("{pointer}/oneOf/{i}"));
            if tag == "empirical" {
                let point = format!("{pointer}/oneOf/{i}/properties/points/items");
                let probe = r#"{"distribution": "empirical", "points": [{"zz_probe": 1}]}"#;
                assert_eq!(keys(self.at(&point)), accepted::<T>(probe), "{point}");
                self.checked.insert(point);
            }
        }
        let probe = r#"{"distribution": "zz_probe"}"#;
        assert_eq!(tags, accepted::<T>(probe), "tags of {pointer}");
    }
}

#[test]
fn closed_objects_match_the_types_field_for_field() {
    let mut c = Checker {
        schema: schema(),
        checked: BTreeSet::new(),
    };
    let j = |text: &str| -> Json { serde_json::from_str(text).expect("JSON") };
    c.object::<RawMesh, _>("/$defs/Mesh", j("{}"), RawMesh::into_source);
    c.object::<RawTask, _>(
        "/$defs/Task",
        j(r#"{"node": "n", "service": "s"}"#),
        TaskSpec::from,
    );
    c.object::<ServiceConfig, _>(
        "/$defs/Service",
        j(r#"{"workers": 1, "endpoints": []}"#),
        std::convert::identity,
    );
    c.object::<PathConfig, _>(
        "/$defs/Endpoint",
        j(r#"{"path": "/", "service_time": "1ms"}"#),
        std::convert::identity,
    );
    c.object::<CallConfig, _>(
        "/$defs/Call",
        j(r#"{"service": "s", "path": "/"}"#),
        std::convert::identity,
    );
    c.object::<RawNetwork, _>("/$defs/Network", j("{}"), NetworkSpec::from);
    c.object::<RawDiscovery, _>("/$defs/Discovery", j("{}"), DiscoverySpec::from);
    c.object::<RawMetrics, _>("/$defs/Metrics", j("{}"), MetricsSpec::from);
    c.object::<RawOrdering, _>("/$defs/Ordering", j("{}"), OrderingSpec::from);
    c.object::<RawReport, _>("/$defs/Report", j("{}"), ReportSpec::from);
    let workload = r#"{"target": "t", "rate": {"constant": 1}, "mix": []}"#;
    c.object::<WorkloadConfig, _>("/$defs/Workload", j(workload), std::convert::identity);
    c.object::<RateStep, _>(
        "/$defs/RateStep",
        j(r#"{"at": "0s", "rps": 1}"#),
        std::convert::identity,
    );
    c.object::<MixEntry, _>(
        "/$defs/MixEntry",
        j(r#"{"weight": 1, "path": "/"}"#),
        std::convert::identity,
    );
    c.object::<FaultSpec, _>(
        "/$defs/Fault",
        j(r#"{"kind": "hold", "start": "1s"}"#),
        std::convert::identity,
    );
    c.object::<SelectorSpec, _>("/$defs/Selector", j("{}"), std::convert::identity);
    c.object::<LinkSpec, _>(
        "/$defs/Link",
        j(r#"{"from": {}, "to": {}}"#),
        std::convert::identity,
    );
    c.object::<RawFaults, _>("/$defs/Faults", j("{}"), std::convert::identity);
    c.object::<RandomSpec, _>(
        "/$defs/RandomFaults",
        j(r#"{"count": 1, "start": ["0s", "1s"], "duration": ["1s", "2s"]}"#),
        std::convert::identity,
    );
    c.object::<RawSidecar, _>("/$defs/Sidecar", j("{}"), std::convert::identity);
    c.object::<RawRateLimit, _>(
        "/$defs/RateLimit",
        j(r#"{"max_tokens": 1, "fill_interval": "1s"}"#),
        std::convert::identity,
    );
    c.object::<RawFailureAccrual, _>("/$defs/FailureAccrual", j("{}"), std::convert::identity);
    // `holds` is read as written (so that one written where it means nothing is refused);
    // the loader's default is `true`.
    c.object::<RawExpectation, _>("/$defs/Expectation", j("{}"), |r| RawExpectation {
        holds: Some(r.holds.unwrap_or(true)),
        ..r
    });
    let expectation = c.at("/$defs/Expectation").clone();
    let subjects: BTreeSet<String> = expectation["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|b| b["required"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    assert_eq!(
        subjects,
        ["invariant", "rollout", "route", "service"]
            .map(String::from)
            .into(),
        "an expectation's subjects"
    );
    let listed = |p: &str| -> Vec<String> {
        expectation["properties"][p]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        listed("invariant"),
        invariant_names().map(String::from).collect::<Vec<_>>(),
        "invariant names"
    );
    assert_eq!(
        listed("rollout").into_iter().collect::<BTreeSet<_>>(),
        accepted::<RolloutOutcome>("zz_probe"),
        "rollout outcomes"
    );
    c.tags::<StepConfig>("/$defs/Step");
    c.tags::<RateConfig>("/$defs/Rate");
    let ramp = "/$defs/Rate/oneOf/1/properties/ramp";
    assert_eq!(
        keys(c.at(ramp)),
        accepted::<RateConfig>(r#"{"ramp": {"zz_probe": 1}}"#)
    );
    c.checked.insert(ramp.to_string());
    c.distribution::<ServiceTimeConfig>("/$defs/ServiceTime");
    c.distribution::<ResponseSizeConfig>("/$defs/ResponseSize");

    // The top level is read by hand, from SECTIONS.
    let s = c.schema.clone();
    let supported: BTreeSet<String> = SECTIONS.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(keys(&s), supported, "top-level sections");
    let required: BTreeSet<String> = SECTIONS
        .iter()
        .filter(|(_, p)| *p == Presence::Required)
        .map(|(n, _)| n.to_string())
        .collect();
    let written: BTreeSet<String> = s["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(String::from))
        .collect();
    assert_eq!(written, required, "required sections");
    assert_eq!(s["properties"]["seed"]["default"], Json::from(DEFAULT_SEED));
    c.checked.insert(String::new());

    let mut all = BTreeSet::new();
    closed_objects(&s, "", &mut all);
    assert_eq!(
        all, c.checked,
        "closed objects of the schema without a check (or vice versa)"
    );
}
