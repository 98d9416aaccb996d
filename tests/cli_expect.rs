//! `expect:` through the binary, as a CI job uses it: exit 0 when every expectation holds, 1
//! when one fails, 2 for a bad expectation (with its file and line), and `--junit` XML that
//! a CI system's JUnit reader accepts.
//!
//! The scenario is `tests/fixtures/scenarios/expectations.yaml` (the small shop mesh at 20
//! requests per second), run for 5 simulated seconds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURE: &str = "tests/fixtures/scenarios/expectations.yaml";

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("meshsim-cli-expect-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs a scenario for 5 s with `--out DIR/out --junit DIR/junit/results.xml`.
fn run(scenario: &Path, dir: &Path) -> Output {
    let out = dir.join("out");
    let junit = dir.join("junit").join("results.xml");
    meshsim(&[
        "run",
        utf8(scenario),
        "--duration",
        "5s",
        "--quiet",
        "--out",
        utf8(&out),
        "--junit",
        utf8(&junit),
    ])
}

/// The fixture with one expectation made impossible, written beside nothing: its mesh is
/// named by absolute path.
fn failing_variant(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(FIXTURE).expect("fixture");
    let mesh = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios/shop.cfn.yaml");
    let variant = text
        .replace("[shop.cfn.yaml]", &format!("[\"{}\"]", utf8(&mesh)))
        .replace("p50: \"<= 100ms\"", "p50: \"< 1us\"");
    assert_eq!(variant.matches("< 1us").count(), 1, "the fixture changed");
    let path = dir.join("impossible.yaml");
    std::fs::write(&path, variant).expect("write");
    path
}

// ---- JUnit: what Jenkins' junit-10.xsd allows, for the elements a run writes --------------

/// An element's child elements, the attributes it may have, and those it must have.
type Rule = (
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// Per element, its [`Rule`] in Jenkins' `junit-10.xsd`, the schema JUnit readers follow
/// (GitLab, GitHub reporters and Azure read the same shape).
fn xsd_rule(element: &str) -> Option<Rule> {
    Some(match element {
        "testsuites" => (
            &["testsuite"],
            &["name", "time", "tests", "failures", "errors"],
            &[],
        ),
        "testsuite" => (
            &[
                "testsuite",
                "properties",
                "testcase",
                "system-out",
                "system-err",
            ],
            &[
                "name",
                "tests",
                "failures",
                "errors",
                "group",
                "time",
                "skipped",
                "timestamp",
                "hostname",
                "id",
                "package",
                "file",
                "log",
                "url",
            ],
            &["name", "tests", "failures", "errors"],
        ),
        "properties" => (&["property"], &[], &[]),
        "property" => (&[], &["name", "value"], &["name", "value"]),
        "testcase" => (
            &[
                "skipped",
                "error",
                "failure",
                "rerunFailure",
                "rerunError",
                "flakyFailure",
                "flakyError",
                "system-out",
                "system-err",
            ],
            &["name", "time", "classname", "group"],
            &["name"],
        ),
        "failure" | "error" | "skipped" => (&[], &["type", "message"], &[]),
        _ => return None,
    })
}

/// Checks a document against [`xsd_rule`], and that every count attribute is an integer and
/// every suite `time` matches the schema's `SUREFIRE_TIME` pattern.
fn assert_junit_schema(doc: &roxmltree::Document) {
    let time =
        regex::Regex::new(r"^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$").expect("pattern");
    let root = doc.root_element();
    assert!(
        ["testsuites", "testsuite"].contains(&root.tag_name().name()),
        "root <{}>",
        root.tag_name().name()
    );
    for node in root.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            node.tag_name().namespace().is_none(),
            "<{name}> has a namespace"
        );
        let (children, allowed, required) =
            xsd_rule(name).unwrap_or_else(|| panic!("<{name}> is not a JUnit element"));
        for child in node.children().filter(|c| c.is_element()) {
            assert!(
                children.contains(&child.tag_name().name()),
                "<{}> inside <{name}>",
                child.tag_name().name()
            );
        }
        if name == "properties" || name == "testsuites" || name == "property" {
            assert!(
                node.children()
                    .all(|c| !c.is_text() || c.text().is_some_and(|t| t.trim().is_empty())),
                "text inside <{name}>"
            );
        }
        for a in node.attributes() {
            assert!(allowed.contains(&a.name()), "<{name} {}>", a.name());
        }
        for r in required {
            assert!(node.has_attribute(*r), "<{name}> without {r}");
        }
        for count in ["tests", "failures", "errors", "skipped"] {
            if let Some(v) = node.attribute(count) {
                assert!(v.parse::<u64>().is_ok(), "<{name} {count}=\"{v}\">");
            }
        }
        if matches!(name, "testsuite" | "testsuites")
            && let Some(t) = node.attribute("time")
        {
            assert!(time.is_match(t), "<{name} time=\"{t}\">");
        }
    }
}

/// A test case: its name, and its failure's message if it failed.
type Case = (String, Option<String>);

/// The one suite a run writes: its attributes and its test cases.
struct Suite {
    attrs: BTreeMap<String, String>,
    cases: Vec<Case>,
}

/// Parses and checks a JUnit file, and returns its one suite.
fn junit_suite(xml: &str) -> Suite {
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    assert_junit_schema(&doc);
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), 1, "one suite per run");
    let suite = suites[0];
    let attrs = suite
        .attributes()
        .map(|a| (a.name().to_string(), a.value().to_string()))
        .collect();
    let cases = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|case| {
            let failure = case
                .children()
                .find(|n| n.has_tag_name("failure"))
                .map(|f| f.attribute("message").unwrap_or_default().to_string());
            (
                case.attribute("name").unwrap_or_default().to_string(),
                failure,
            )
        })
        .collect();
    Suite { attrs, cases }
}

#[test]
fn the_junit_checker_refuses_what_the_schema_refuses() {
    let good = r#"<testsuites><testsuite name="s" tests="1" failures="1" errors="0" time="1.5"><testcase name="c"><failure message="m" type="t">x</failure></testcase></testsuite></testsuites>"#;
    let check = |xml: &str| {
        let xml = xml.to_string();
        std::panic::catch_unwind(move || {
            let doc = roxmltree::Document::parse(&xml).expect("well-formed");
            assert_junit_schema(&doc);
        })
        .is_ok()
    };
    assert!(check(good));
    for (from, to) in [
        (r#"<testsuite name="s" "#, "<testsuite "),
        (r#"tests="1" failures"#, r#"tests="one" failures"#),
        (r#"time="1.5""#, r#"time="1.5s""#),
        (
            r#"<testcase name="c">"#,
            r#"<testcase name="c" outcome="x">"#,
        ),
        (r#"<testcase name="c">"#, "<testcase>"),
        ("<failure ", "<failed "),
        (
            "<testsuites><testsuite",
            "<testsuites><testcase name=\"c\"/><testsuite",
        ),
    ] {
        let bad = good.replacen(from, to, 1);
        assert_ne!(bad, good, "{from}");
        assert!(!check(&bad), "accepted: {bad}");
    }
}

#[test]
fn holding_expectations_exit_0_and_print_their_observed_values() {
    let dir = scratch("pass");
    let o = run(Path::new(FIXTURE), &dir);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    // After the summary table, one line per expectation with its observed value.
    let table = stdout.find("(users)").expect("the summary table");
    let verdicts = stdout
        .find("expectations: 7 of 7 held")
        .expect("a verdict count");
    assert!(table < verdicts, "{stdout}");
    for line in [
        "held    users success_rate >= 99%: observed 100% (101 of 101 requests succeeded)",
        "held    invariant no-request-lost holds: observed held (101 issued = 101 succeeded + 0 failed)",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    assert!(
        stdout.contains("held    users p99 <= 1s: observed "),
        "{stdout}"
    );
    assert!(!stdout.contains("FAILED"), "{stdout}");

    let report = std::fs::read_to_string(dir.join("out/report.json")).expect("report.json");
    let json: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    let verdicts = json["expectations"].as_array().expect("expectations");
    assert_eq!(verdicts.len(), 7);
    assert!(verdicts.iter().all(|v| v["held"] == true), "{verdicts:?}");
    assert_eq!(verdicts[0]["observed"], 100.0);
    assert_eq!(verdicts[0]["unit"], "%");
    assert_eq!(verdicts[0]["threshold"], ">= 99%");
    let p99 = verdicts[1]["observed"].as_f64().expect("a number");
    assert_eq!(
        p99,
        json["requests"]["latency_ms"]["p99"].as_f64().expect("p99")
    );
    assert_eq!(
        verdicts[3]["observed"], 1.0,
        "front's sidecar does not retry"
    );
    assert_eq!(verdicts[5]["observed"], "held");
    assert_eq!(verdicts[6]["observed"], 100.0);

    let xml = std::fs::read_to_string(dir.join("junit/results.xml")).expect("JUnit written");
    let Suite {
        attrs: suite,
        cases,
    } = junit_suite(&xml);
    assert_eq!(suite["name"], "expectations");
    assert_eq!(
        (suite["tests"].as_str(), suite["failures"].as_str()),
        ("7", "0")
    );
    assert_eq!(suite["errors"], "0");
    assert_eq!(suite["skipped"], "0");
    // Escaped on the way out, the same text on the way in.
    assert_eq!(cases[2], ("back <is> \"fast\" & steady".to_string(), None));
    assert!(cases.iter().all(|(_, f)| f.is_none()));
    // Simulated time only: nothing a second run would write differently.
    for attr in ["timestamp", "hostname"] {
        assert!(!xml.contains(attr), "{attr} in:\n{xml}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_expectation_exits_1_and_is_a_junit_failure() {
    let dir = scratch("fail");
    let scenario = failing_variant(&dir);
    let o = run(&scenario, &dir);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("expectations: 6 of 7 held"), "{stdout}");
    let failed = stdout
        .lines()
        .find(|l| l.contains("FAILED"))
        .expect("a FAILED line");
    assert!(
        failed.starts_with("  FAILED  back <is> \"fast\" & steady: observed ")
            && failed.ends_with("ms (over 101 requests)"),
        "{failed}"
    );
    assert!(stderr.contains("1 of 7 expectations failed"), "{stderr}");
    // The run's files are written all the same: a failed gate still leaves its evidence.
    let report = std::fs::read_to_string(dir.join("out/report.json")).expect("report.json");
    let json: serde_json::Value = serde_json::from_str(&report).expect("JSON");
    assert_eq!(json["expectations"][2]["held"], false);
    assert_eq!(json["expectations"][2]["threshold"], "< 1µs");
    let summary = std::fs::read_to_string(dir.join("out/summary.md")).expect("summary.md");
    assert!(
        summary.contains("## Expectations\n\n6 of 7 held."),
        "{summary}"
    );

    let xml = std::fs::read_to_string(dir.join("junit/results.xml")).expect("JUnit written");
    let Suite {
        attrs: suite,
        cases,
    } = junit_suite(&xml);
    assert_eq!(
        (suite["tests"].as_str(), suite["failures"].as_str()),
        ("7", "1")
    );
    let failures: Vec<_> = cases
        .iter()
        .filter_map(|(n, f)| Some((n, f.as_ref()?)))
        .collect();
    assert_eq!(failures.len(), 1);
    let (name, message) = failures[0];
    assert_eq!(name, "back <is> \"fast\" & steady");
    assert!(
        message.starts_with("observed ") && message.ends_with("ms, expected < 1µs"),
        "{message}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_expectation_exits_2_with_its_line_and_runs_nothing() {
    let dir = scratch("bad");
    let o = meshsim(&[
        "run",
        "tests/fixtures/scenarios/bad_expectations.yaml",
        "--diagnostics",
        "short",
        "--out",
        utf8(&dir.join("out")),
        "--junit",
        utf8(&dir.join("results.xml")),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for line in [
        "bad_expectations.yaml:31:19: error[invalid-value]: a success rate is between 0% and 100%, got \"140%\" (at expect[0].success_rate)",
        "bad_expectations.yaml:33:10: error[invalid-value]: latency threshold: duration \"-3ms\" is negative (at expect[1].p99)",
    ] {
        assert!(stderr.contains(line), "no `{line}` in:\n{stderr}");
    }
    assert!(stderr.contains("nothing was run"), "{stderr}");
    assert!(!dir.join("out").exists() && !dir.join("results.xml").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
