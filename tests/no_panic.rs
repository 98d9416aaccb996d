//! No input panics the loader: random bytes, random YAML trees, mutated mesh files (the
//! project's own, and the external corpus's when it is there).
//! A panic is a bug; bad input must come back as diagnostics.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use meshsim::config::{LoadOptions, load_texts};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Every file under `dirs` but Markdown, in a stable order.
fn texts_under(dirs: Vec<PathBuf>) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = dirs;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_none_or(|e| e != "md" && e != "snap")
                && let Ok(t) = std::fs::read_to_string(&p)
            {
                out.push(t);
            }
        }
    }
    out
}

/// The repository's own mesh and scenario files: the shipped scenarios and the test fixtures
/// (real App Mesh examples among them).
static OWN: LazyLock<Vec<String>> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let texts = texts_under(vec![root.join("scenarios"), root.join("tests/fixtures")]);
    assert!(texts.len() > 50, "only {} fixture files", texts.len());
    texts
});

/// `text` with a few random edits: bytes deleted, printable ones inserted.
fn mutate(text: &str, edits: Vec<(prop::sample::Index, usize, String)>) -> String {
    let mut text = text.to_string();
    for (at, delete, insert) in edits {
        let mut i = at.index(text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        let mut j = (i + delete).min(text.len());
        while !text.is_char_boundary(j) {
            j -= 1;
        }
        text.replace_range(i..j.max(i), &insert);
    }
    text
}

fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, usize, String)>> {
    prop::collection::vec(
        (any::<prop::sample::Index>(), 0usize..8, "[ -~\n]{0,6}"),
        1..6,
    )
}

fn options(lenient: bool, partial: bool) -> LoadOptions {
    LoadOptions {
        vars: [
            ("APP_NAMESPACE", "ns"),
            ("MESH_NAME", "m"),
            ("DNS_HOSTNAME", "h"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        params: [("ProjectName", "p"), ("MeshName", "m")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        lenient,
        partial,
        mesh: None,
    }
}

/// YAML-ish fragments that steer random trees towards App Mesh shapes.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-5".to_string()),
        Just("99999999999999999999".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("http".to_string()),
        Just("\"/\"".to_string()),
        Just("!Ref Mesh".to_string()),
        Just("!GetAtt A.B".to_string()),
        Just("!Sub ${X}".to_string()),
        Just("$VAR".to_string()),
        Just("*anchor".to_string()),
        "[a-zA-Z0-9_./-]{0,12}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("spec"),
        Just("Spec"),
        Just("meshName"),
        Just("routeName"),
        Just("virtualRouterName"),
        Just("httpRoute"),
        Just("HttpRoute"),
        Just("match"),
        Just("action"),
        Just("weightedTargets"),
        Just("weight"),
        Just("virtualNode"),
        Just("listeners"),
        Just("portMapping"),
        Just("port"),
        Just("protocol"),
        Just("retryPolicy"),
        Just("perRetryTimeout"),
        Just("unit"),
        Just("value"),
        Just("Resources"),
        Just("Type"),
        Just("Properties"),
        Just("apiVersion"),
        Just("kind"),
        Just("metadata"),
        Just("name"),
        Just("Fn::If"),
        Just("Ref"),
        Just("Fn::Sub"),
        Just("Condition"),
        Just("provider"),
        Just("serviceDiscovery"),
        Just("dns"),
        Just("hostname"),
        Just("routes"),
    ]
    .prop_map(str::to_string)
}

fn tree() -> impl Strategy<Value = String> {
    let leaf = scalar();
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((key(), inner), 0..6).prop_map(|entries| {
                let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), lenient: bool, partial: bool) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = load_texts(&[("random.yaml", &text)], &options(lenient, partial));
    }

    #[test]
    fn random_trees_never_panic(
        docs in prop::collection::vec(tree(), 1..4),
        header in prop_oneof![
            Just(""),
            Just("AWSTemplateFormatVersion: '2010-09-09'\n"),
            Just("apiVersion: appmesh.k8s.aws/v1beta2\nkind: VirtualRouter\n"),
        ],
        lenient: bool,
        partial: bool,
    ) {
        let body: Vec<String> = docs.iter().map(|d| format!("{header}x: {d}\n")).collect();
        let text = body.join("---\n");
        let _ = load_texts(&[("tree.yaml", &text)], &options(lenient, partial));
        let _ = load_texts(&[("tree.json", &docs[0])], &options(lenient, partial));
    }

    #[test]
    fn mutated_own_files_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in edits(),
        lenient: bool,
        partial: bool,
    ) {
        let text = mutate(&OWN[pick.index(OWN.len())], edits);
        let _ = load_texts(&[("mutated.yaml", &text)], &options(lenient, partial));
    }
}

#[test]
fn mutated_corpus_files_never_panic() {
    let Some(corpus) = support::corpus("mutated_corpus_files_never_panic") else {
        return;
    };
    let texts = texts_under(vec![corpus]);
    assert!(texts.len() >= 30, "only {} corpus files", texts.len());
    let mut runner = TestRunner::new(Config {
        cases: 256,
        ..Config::default()
    });
    let cases = (
        any::<prop::sample::Index>(),
        edits(),
        any::<bool>(),
        any::<bool>(),
    );
    let result = runner.run(&cases, |(pick, edits, lenient, partial)| {
        let text = mutate(&texts[pick.index(texts.len())], edits);
        let _ = load_texts(&[("mutated.yaml", &text)], &options(lenient, partial));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
