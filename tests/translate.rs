//! `meshsim translate` through the binary: the written files (insta snapshots) for the bundled
//! Ordering mesh and the project's own `tests/fixtures/translate/shop.cfn.yaml`, the loss lines
//! issue 24 names, the same bytes from all three App Mesh syntaxes, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run meshsim")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-translate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const ORDERING: &str = "scenarios/ordering/mesh.cfn.yaml";
const SHOP: &str = "tests/fixtures/translate/shop.cfn.yaml";

/// Every file under `dir`, sorted by relative path, as `=== path ===` sections.
fn tree(dir: &Path) -> String {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read_to_string(&p).expect("read file")));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|(name, text)| format!("=== {name} ===\n{text}"))
        .collect()
}

/// Translates `files` to `target` in a fresh folder; the folder's files.
fn translate(name: &str, files: &[&str], target: &str) -> (Output, PathBuf) {
    let out = scratch(name);
    let mut args = vec!["translate"];
    args.extend_from_slice(files);
    args.extend_from_slice(&["--to", target, "--out"]);
    let out_str = out.to_string_lossy().into_owned();
    args.push(&out_str);
    let o = meshsim(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    (o, out)
}

fn loss_lines(dir: &Path) -> Vec<(String, String)> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("loss.json")).expect("loss.json"))
            .expect("loss.json parses");
    json["losses"]
        .as_array()
        .expect("losses")
        .iter()
        .map(|l| {
            (
                l["change"].as_str().expect("change").to_string(),
                l["rehearse"].as_str().expect("rehearse").to_string(),
            )
        })
        .collect()
}

fn assert_line(lines: &[(String, String)], change: &str, needle: &str) {
    assert!(
        lines.iter().any(|(c, l)| c == change && l.contains(needle)),
        "no {change} line containing {needle:?} in {lines:#?}"
    );
}

macro_rules! snapshot_test {
    ($name:ident, $mesh:expr, $target:expr) => {
        #[test]
        fn $name() {
            let (_, dir) = translate(stringify!($name), &[$mesh], $target);
            insta::assert_snapshot!(tree(&dir));
            let _ = std::fs::remove_dir_all(&dir);
        }
    };
}

snapshot_test!(ordering_to_istio, ORDERING, "istio");
snapshot_test!(ordering_to_gateway_api, ORDERING, "gateway-api");
snapshot_test!(ordering_to_service_connect, ORDERING, "service-connect");
snapshot_test!(ordering_to_lattice, ORDERING, "lattice");
snapshot_test!(shop_to_istio, SHOP, "istio");
snapshot_test!(shop_to_gateway_api, SHOP, "gateway-api");
snapshot_test!(shop_to_service_connect, SHOP, "service-connect");
snapshot_test!(shop_to_lattice, SHOP, "lattice");

/// Issue 24's examples: App Mesh's hidden 2 retries on 503 and its 15 s request timeout are
/// gone on Lattice; Lattice matches paths case-insensitively and has no precedence of its own.
#[test]
fn lattice_loses_hidden_retries_and_the_15_s_timeout_and_changes_path_matching() {
    let (o, dir) = translate("lattice-lines", &[ORDERING], "lattice");
    let lines = loss_lines(&dir);
    assert_line(
        &lines,
        "lost",
        "virtual service `inventory.ordering.local`: App Mesh retried 503 twice; Lattice will not retry",
    );
    assert_line(
        &lines,
        "lost",
        "virtual service `inventory.ordering.local`: App Mesh cut requests at 15 s; Lattice has no request timeout",
    );
    assert_line(
        &lines,
        "approximate",
        "route `order-router/order-canary-header`: App Mesh matched `/orders` case-sensitively; Lattice matches paths case-insensitively",
    );
    assert_line(
        &lines,
        "approximate",
        "virtual router `order-router`: App Mesh tried routes by `priority` (0-1000); Lattice has no route precedence of its own",
    );
    // Refused and lost lines are printed too.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("App Mesh retried 503 twice; Lattice will not retry"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// STRICT mutual TLS becomes one-way TLS on Service Connect; Lattice refuses what it cannot
/// match with its own limit.
#[test]
fn service_connect_loses_client_authentication_and_lattice_quotes_its_limits() {
    let (_, dir) = translate("sc-lines", &[SHOP], "service-connect");
    let lines = loss_lines(&dir);
    assert_line(
        &lines,
        "lost",
        "virtual node `cart-v1` listener 8080: App Mesh required STRICT mutual TLS (client certificates checked); Service Connect speaks one-way TLS 1.3 (AWS Private CA); it does not authenticate clients",
    );
    assert_line(
        &lines,
        "lost",
        "route `checkout-router/checkout`: App Mesh did not retry (maxRetries 0); Service Connect retries twice anyway",
    );
    let written =
        std::fs::read_to_string(dir.join("service-connect/cart-v1.json")).expect("cart-v1");
    assert!(written.contains("awsPcaAuthorityArn"), "{written}");
    let _ = std::fs::remove_dir_all(&dir);

    let (_, dir) = translate("lattice-limits", &[SHOP], "lattice");
    let lines = loss_lines(&dir);
    assert_line(
        &lines,
        "refused",
        "Lattice: at most 5 header matches per rule",
    );
    assert_line(
        &lines,
        "refused",
        "Lattice: query parameter matches are not supported",
    );
    assert_line(
        &lines,
        "refused",
        "Lattice: path matches are exact or prefix",
    );
    let _ = std::fs::remove_dir_all(&dir);

    let (_, dir) = translate("gw-precedence", &[SHOP], "gateway-api");
    let lines = loss_lines(&dir);
    assert_line(
        &lines,
        "approximate",
        "App Mesh tried route `cart-router/cart-api` before route `cart-router/cart-exact` (priority)",
    );
    assert_line(
        &lines,
        "approximate",
        "App Mesh matched `/Cart` as a string prefix",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The Ordering mesh as CloudFormation, as API JSON and as Kubernetes manifests translates to
/// the same bytes, for every target.
#[test]
fn all_three_syntaxes_translate_to_the_same_bytes() {
    let mut api: Vec<String> = std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ordering/api"),
    )
    .expect("api dir")
    .map(|e| {
        format!(
            "tests/fixtures/ordering/api/{}",
            e.expect("entry").file_name().to_string_lossy()
        )
    })
    .collect();
    api.sort();
    let api: Vec<&str> = api.iter().map(String::as_str).collect();
    for target in ["istio", "gateway-api", "service-connect", "lattice"] {
        let (_, cfn) = translate(&format!("cfn-{target}"), &[ORDERING], target);
        let (_, json) = translate(&format!("api-{target}"), &api, target);
        let (_, k8s) = translate(
            &format!("k8s-{target}"),
            &["tests/fixtures/ordering/k8s.yaml"],
            target,
        );
        let expected = tree(&cfn);
        assert_eq!(tree(&json), expected, "{target}: API JSON");
        assert_eq!(tree(&k8s), expected, "{target}: Kubernetes");
        for d in [cfn, json, k8s] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Bad input: exit 2 with file:line:col and the field path, and nothing written.
#[test]
fn bad_input_exits_2_with_file_line_and_field_and_writes_nothing() {
    let out = scratch("bad");
    let out_str = out.to_string_lossy().into_owned();
    let o = meshsim(&[
        "translate",
        "tests/fixtures/errors/enum_protocol.json",
        "--to",
        "lattice",
        "--out",
        &out_str,
        "--diagnostics",
        "short",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("tests/fixtures/errors/enum_protocol.json:6:52: error[enum]")
            && stderr.contains("(at spec.listeners[0].portMapping.protocol)"),
        "{stderr}"
    );
    assert!(!out.exists(), "wrote into {}", out.display());

    let o = meshsim(&["translate", ORDERING, "--to", "linkerd", "--out", &out_str]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "linkerd has a profile, not a writer"
    );
    let o = meshsim(&["translate", ORDERING]);
    assert_eq!(o.status.code(), Some(2), "--to is required");
    assert!(!out.exists());
}
