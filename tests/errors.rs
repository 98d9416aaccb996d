//! One fixture per error kind (`tests/fixtures/errors/`), each asserting the exact
//! `file:line:column`, field path and message of every diagnostic the fixture produces.
//!
//! Positions were worked out by reading the fixture text: lines and columns are 1-based and
//! count characters.

use std::process::Command;

use meshsim::config::{Diagnostic, LoadOptions, LoadedConfig, Severity, load_paths};

use Severity::{Error, Warning};

/// Fixture directory, relative to the package root (the working directory of integration
/// tests), so positions read `tests/fixtures/errors/<name>:<line>:<col>`.
const DIR: &str = "tests/fixtures/errors";

/// (severity, code, `name:line:col`, field path, message).
type Diag = (Severity, &'static str, String, String, String);

fn path_of(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// Loads fixtures together.
fn load_with(names: &[&str], opts: &LoadOptions) -> LoadedConfig {
    let paths: Vec<String> = names.iter().map(|n| path_of(n)).collect();
    load_paths(&paths, opts)
}

/// The position with the fixture directory stripped (it must be there).
fn position(loaded: &LoadedConfig, d: &Diagnostic) -> String {
    let pos = d.position(&loaded.sources);
    match pos.strip_prefix(&format!("{DIR}/")) {
        Some(rest) => rest.to_string(),
        None => panic!("position `{pos}` is not in {DIR}"),
    }
}

/// Every diagnostic of a load as a tuple, in the (sorted) order the library reports them.
fn tuples(loaded: &LoadedConfig) -> Vec<Diag> {
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.severity,
                d.code,
                position(loaded, d),
                d.path.clone(),
                d.message.clone(),
            )
        })
        .collect()
}

/// Loads one fixture and returns its diagnostics as tuples.
fn diags_with(name: &str, opts: &LoadOptions) -> Vec<Diag> {
    tuples(&load_with(&[name], opts))
}

/// Loads one fixture with the default (strict) options.
fn diags(name: &str) -> Vec<Diag> {
    diags_with(name, &LoadOptions::default())
}

/// The help texts, in diagnostic order.
fn helps(loaded: &LoadedConfig) -> Vec<Option<String>> {
    loaded.diagnostics.iter().map(|d| d.help.clone()).collect()
}

fn helps_of(name: &str, opts: &LoadOptions) -> Vec<Option<String>> {
    helps(&load_with(&[name], opts))
}

fn err(code: &'static str, pos: &str, path: &str, msg: &str) -> Diag {
    (Error, code, pos.into(), path.into(), msg.into())
}

fn warn(code: &'static str, pos: &str, path: &str, msg: &str) -> Diag {
    (Warning, code, pos.into(), path.into(), msg.into())
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

fn partial() -> LoadOptions {
    LoadOptions {
        partial: true,
        ..LoadOptions::default()
    }
}

fn lenient() -> LoadOptions {
    LoadOptions {
        lenient: true,
        ..LoadOptions::default()
    }
}

// 1. Weights out of 0..=100 -------------------------------------------------------------

#[test]
fn weight_out_of_range() {
    assert_eq!(
        diags("weight_out_of_range.json"),
        vec![
            err(
                "range",
                "weight_out_of_range.json:10:49",
                "spec.httpRoute.action.weightedTargets[0].weight",
                "-5 is out of range: expected at least 0 and at most 100",
            ),
            err(
                "range",
                "weight_out_of_range.json:11:49",
                "spec.httpRoute.action.weightedTargets[1].weight",
                "101 is out of range: expected at least 0 and at most 100",
            ),
        ]
    );
}

// 2. All weights 0 ------------------------------------------------------------------------

#[test]
fn all_weights_zero() {
    let name = "weights_zero.yaml";
    assert_eq!(
        diags(name),
        vec![err(
            "weights-zero",
            "weights_zero.yaml:28:13",
            "spec.routes[0].httpRoute.action.weightedTargets",
            "all weighted targets have weight 0; Envoy rejects a route whose total weight is 0",
        )]
    );
    assert_eq!(
        helps_of(name, &LoadOptions::default()),
        vec![some("give at least one target a weight above 0")]
    );
}

// 2b. Weights adding up to more than 100 ---------------------------------------------------

#[test]
fn weights_over_100() {
    // App Mesh API reference, WeightedTarget: "The total weight for all targets combined must
    // be less than or equal to 100."
    let name = "weights_over_100.yaml";
    assert_eq!(
        diags(name),
        vec![err(
            "weights-over-100",
            "weights_over_100.yaml:29:13",
            "spec.routes[0].httpRoute.action.weightedTargets",
            "the weights add up to 110 (90 + 20); App Mesh requires the total of a route's weighted targets to be at most 100",
        )]
    );
    // Through the binary: exit 2, file:line and the field, before anything runs.
    let file = path_of(name);
    let out = meshsim(&["validate", &file, "--diagnostics", "short"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr:
{stderr}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&format!(
                "{file}:29:13: error[weights-over-100]: the weights add up to 110"
            )) && l.contains("(at spec.routes[0].httpRoute.action.weightedTargets)")),
        "stderr:
{stderr}"
    );
}

// 2c. Outlier detection on a DNS LOADBALANCER node ----------------------------------------

#[test]
fn outlier_detection_on_a_logical_dns_node_is_a_warning() {
    // DNS LOADBALANCER (the default) is Envoy LOGICAL_DNS: one host for every task, which
    // outlier detection cannot eject (aws-app-mesh-roadmap#273). ENDPOINTS and Cloud Map
    // are fine. A warning: the config is valid, and validate still exits 0.
    let name = "outlier_logical_dns.yaml";
    assert_eq!(
        diags(name),
        vec![warn(
            "outlier-logical-dns",
            "outlier_logical_dns.yaml:15:13",
            "Resources.CartV1.Properties.Spec.Listeners[0].OutlierDetection",
            "outlier detection cannot eject a task here: DNS service discovery for `cart.shop.local` without `responseType: ENDPOINTS` is Envoy LOGICAL_DNS, one host for all tasks",
        )]
    );
    assert_eq!(
        helps_of(name, &LoadOptions::default()),
        vec![some(
            "set `responseType: ENDPOINTS` (one host per task) or use Cloud Map service discovery"
        )]
    );
    let file = path_of(name);
    let out = meshsim(&["validate", &file, "--diagnostics", "short"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "{file}:15:13: warning[outlier-logical-dns]: outlier detection cannot eject a task here"
        )),
        "stderr:\n{stderr}"
    );
}

// 3. More than 10 weighted targets ------------------------------------------------------

#[test]
fn more_than_ten_weighted_targets() {
    // The fixture's eleven weights also add up to 105, which is a second error of its own.
    assert_eq!(
        diags("too_many_targets.yaml"),
        vec![
            err(
                "list-size",
                "too_many_targets.yaml:23:15",
                "Resources.CatalogRoute.Properties.Spec.HttpRoute.Action.WeightedTargets",
                "expected 1 to 10 items, found 11",
            ),
            err(
                "weights-over-100",
                "too_many_targets.yaml:23:15",
                "Resources.CatalogRoute.Properties.Spec.HttpRoute.Action.WeightedTargets",
                "the weights add up to 105 (10 + 10 + 10 + 10 + 10 + 10 + 10 + 10 + 10 + 10 + 5); App Mesh requires the total of a route's weighted targets to be at most 100",
            ),
        ]
    );
}

// 4. Priority outside 0..=1000 ------------------------------------------------------------

#[test]
fn priority_out_of_range() {
    assert_eq!(
        diags("priority_out_of_range.json"),
        vec![err(
            "range",
            "priority_out_of_range.json:21:23",
            "Resources.FallbackRoute.Properties.Spec.Priority",
            "1001 is out of range: expected at least 0 and at most 1000",
        )]
    );
}

// 5. Incomplete retry policies ------------------------------------------------------------

#[test]
fn retry_policy_missing_fields() {
    let all = diags("retry_policy_incomplete.yaml");
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(
        all[..2],
        [
            err(
                "missing-field",
                "retry_policy_incomplete.yaml:48:9",
                "spec.routes[0].httpRoute.retryPolicy",
                "retry policy is missing required field `maxRetries`",
            ),
            err(
                "missing-field",
                "retry_policy_incomplete.yaml:64:9",
                "spec.routes[1].httpRoute.retryPolicy",
                "retry policy is missing required field `perRetryTimeout`",
            ),
        ]
    );
    // The third (no event list) is checked without its position here; see
    // `retry_policy_without_events_points_at_its_key` for the position.
    let (severity, code, _, path, message) = &all[2];
    assert_eq!(
        (*severity, *code, path.as_str(), message.as_str()),
        (
            Error,
            "missing-field",
            "spec.routes[2].httpRoute.retryPolicy",
            "retry policy needs at least one event list: `httpRetryEvents` or `tcpRetryEvents`",
        )
    );
}

#[test]
fn retry_policy_without_events_points_at_its_key() {
    let all = diags("retry_policy_incomplete.yaml");
    assert_eq!(
        all.get(2),
        Some(&err(
            "missing-field",
            "retry_policy_incomplete.yaml:78:9",
            "spec.routes[2].httpRoute.retryPolicy",
            "retry policy needs at least one event list: `httpRetryEvents` or `tcpRetryEvents`",
        ))
    );
}

// 6. More than 50 backends ----------------------------------------------------------------

#[test]
fn more_than_fifty_backends() {
    // A node file on its own: its 51 backends resolve nowhere, which `partial` makes warnings.
    let mut expected = vec![err(
        "quota",
        "too_many_backends.json:7:17",
        "spec.backends",
        "51 backends exceed App Mesh's quota of 50 per virtual node",
    )];
    for i in 0..51 {
        expected.push(warn(
            "unresolved-reference",
            &format!("too_many_backends.json:{}:51", 8 + i),
            &format!("spec.backends[{i}].virtualService.virtualServiceName"),
            &format!(
                "virtual service `svc-{:02}.shop.local` is not defined in mesh `shop`",
                i + 1
            ),
        ));
    }
    assert_eq!(diags_with("too_many_backends.json", &partial()), expected);
}

// 7. Lengths and patterns -------------------------------------------------------------------

#[test]
fn resource_name_too_long() {
    assert_eq!(
        diags("name_too_long.yaml"),
        vec![err(
            "length",
            "name_too_long.yaml:7:24",
            "Resources.OrdersNode.Properties.VirtualNodeName",
            "VirtualNode name must be 1 to 255 characters",
        )]
    );
}

#[test]
fn cloud_map_attribute_key_with_a_space() {
    assert_eq!(
        diags("cloud_map_attribute_key.json"),
        vec![err(
            "pattern",
            "cloud_map_attribute_key.json:14:20",
            "spec.serviceDiscovery.awsCloudMap.attributes[1].key",
            "attribute key `app version` may hold only printable ASCII characters without spaces",
        )]
    );
}

// 8. Dangling references, with suggestions -------------------------------------------------

#[test]
fn dangling_references_suggest_near_names() {
    let name = "dangling_references.yaml";
    let loaded = load_with(&[name], &LoadOptions::default());
    assert_eq!(
        tuples(&loaded),
        vec![
            err(
                "unresolved-reference",
                "dangling_references.yaml:12:30",
                "Resources.ColorTellerService.Properties.Spec.Provider.VirtualNode.VirtualNodeName",
                "virtual node `colorteller-whit` is not defined in mesh `colorapp`",
            ),
            err(
                "unresolved-reference",
                "dangling_references.yaml:21:35",
                "Resources.ColorGatewayNode.Properties.Spec.Backends[0].VirtualService.VirtualServiceName",
                "virtual service `colorteler.colorapp.local` is not defined in mesh `colorapp`",
            ),
            err(
                "unresolved-reference",
                "dangling_references.yaml:53:30",
                "Resources.ColorTellerRoute.Properties.Spec.HttpRoute.Action.WeightedTargets[1].VirtualNode",
                "virtual node `colortellr-white` is not defined in mesh `colorapp`",
            ),
            err(
                "unresolved-reference",
                "dangling_references.yaml:75:37",
                "Resources.ColorGatewayRoute.Properties.Spec.HttpRoute.Action.Target.VirtualService.VirtualServiceName",
                "virtual service `colortellr.colorapp.local` is not defined in mesh `colorapp`",
            ),
        ]
    );
    assert_eq!(
        helps(&loaded),
        vec![
            some("did you mean `colorteller-white`?"),
            some("did you mean `colorteller.colorapp.local`?"),
            some("did you mean `colorteller-white`?"),
            some("did you mean `colorteller.colorapp.local`?"),
        ]
    );
}

// 9. Route on a port its router does not listen on -----------------------------------------

const PORT_MISMATCH: &str = "route `apple` matches port 8090, but virtual router `fruit-router_fruit` has no listener on that port (listeners: 8080)";

#[test]
fn route_port_without_router_listener() {
    // Checked without position and path here; see `port_mismatch_points_at_match_port`.
    let all = diags("port_mismatch.yaml");
    let got: Vec<_> = all
        .iter()
        .map(|(s, c, _, _, m)| (*s, *c, m.as_str()))
        .collect();
    assert_eq!(got, vec![(Error, "port-mismatch", PORT_MISMATCH)]);
}

#[test]
fn port_mismatch_points_at_match_port() {
    assert_eq!(
        diags("port_mismatch.yaml"),
        vec![err(
            "port-mismatch",
            "port_mismatch.yaml:42:17",
            "spec.routes[0].httpRoute.match.port",
            PORT_MISMATCH,
        )]
    );
}

// 10. Virtual service without a provider -----------------------------------------------------

#[test]
fn virtual_service_without_provider() {
    let name = "no_provider.json";
    assert_eq!(
        diags(name),
        vec![err(
            "no-provider",
            "no_provider.json:7:21",
            "Resources.PaymentsService.Properties",
            "virtual service `payments.shop.local` has no provider: every request to it would fail",
        )]
    );
    assert_eq!(
        helps_of(name, &LoadOptions::default()),
        vec![some(
            "add `spec.provider` with a virtual node or a virtual router"
        )]
    );
}

// 11. Syntax errors and duplicate keys -------------------------------------------------------

#[test]
fn json_syntax_error() {
    assert_eq!(
        diags("syntax_error.json"),
        vec![err(
            "syntax",
            "syntax_error.json:9:3",
            "",
            "syntax error: while parsing a flow mapping, did not find expected ',' or '}'",
        )]
    );
}

#[test]
fn yaml_syntax_error() {
    assert_eq!(
        diags("syntax_error.yaml"),
        vec![err(
            "syntax",
            "syntax_error.yaml:11:6",
            "",
            "syntax error: while parsing a block mapping, did not find expected key",
        )]
    );
}

#[test]
fn duplicate_key_names_the_first_position() {
    assert_eq!(
        diags("duplicate_key.yaml"),
        vec![err(
            "syntax",
            "duplicate_key.yaml:16:9",
            "",
            "duplicate key `Listeners` (first written at line 9, column 9)",
        )]
    );
}

// 12. Unknown fields, with suggestions -------------------------------------------------------

#[test]
fn unknown_field_suggests_the_known_one() {
    // A route file on its own: `partial` turns its references into warnings.
    let name = "unknown_field.json";
    let loaded = load_with(&[name], &partial());
    assert_eq!(
        tuples(&loaded),
        vec![
            warn(
                "unresolved-reference",
                "unknown_field.json:3:24",
                "virtualRouterName",
                "virtual router `cart-router` is not defined in mesh `shop`",
            ),
            warn(
                "unresolved-reference",
                "unknown_field.json:8:56",
                "spec.httpRoute.action.weightedTargets[0].virtualNode",
                "virtual node `cart` is not defined in mesh `shop`",
            ),
            err(
                "missing-field",
                "unknown_field.json:9:7",
                "spec.httpRoute.retryPolicy",
                "retry policy is missing required field `maxRetries`",
            ),
            err(
                "unknown-field",
                "unknown_field.json:10:9",
                "spec.httpRoute.retryPolicy.maxRetrys",
                "unknown field `maxRetrys` in retry policy",
            ),
        ]
    );
    assert_eq!(helps(&loaded)[3], some("did you mean `maxRetries`?"));
}

#[test]
fn unknown_field_is_a_warning_under_lenient() {
    let opts = LoadOptions {
        lenient: true,
        partial: true,
        ..LoadOptions::default()
    };
    let all = diags_with("unknown_field.json", &opts);
    assert_eq!(
        all[2..],
        [
            // Still an error: the policy lacks `maxRetries` whatever the typo was.
            err(
                "missing-field",
                "unknown_field.json:9:7",
                "spec.httpRoute.retryPolicy",
                "retry policy is missing required field `maxRetries`",
            ),
            warn(
                "unknown-field",
                "unknown_field.json:10:9",
                "spec.httpRoute.retryPolicy.maxRetrys",
                "unknown field `maxRetrys` in retry policy is ignored (--lenient)",
            ),
        ]
    );
}

#[test]
fn unknown_field_in_cloudformation_suggests_cloudformation_spelling() {
    let name = "unknown_field_cfn.yaml";
    let loaded = load_with(&[name], &LoadOptions::default());
    assert_eq!(
        tuples(&loaded),
        vec![
            err(
                "missing-field",
                "unknown_field_cfn.yaml:15:11",
                "Resources.CartRoute.Properties.Spec.HttpRoute.RetryPolicy",
                "retry policy is missing required field `MaxRetries`",
            ),
            err(
                "unknown-field",
                "unknown_field_cfn.yaml:16:13",
                "Resources.CartRoute.Properties.Spec.HttpRoute.RetryPolicy.MaxRetrys",
                "unknown field `MaxRetrys` in retry policy",
            ),
        ]
    );
    assert_eq!(helps(&loaded)[1], some("did you mean `MaxRetries`?"));
}

// 13. Unset placeholders ----------------------------------------------------------------------

#[test]
fn unset_placeholders() {
    let name = "placeholder.json";
    let loaded = load_with(&[name], &LoadOptions::default());
    assert_eq!(
        tuples(&loaded),
        vec![
            err(
                "placeholder",
                "placeholder.json:2:15",
                "meshName",
                "placeholder `$MESH_NAME` is not set",
            ),
            err(
                "placeholder",
                "placeholder.json:9:28",
                "spec.serviceDiscovery.dns.hostname",
                "placeholder `$COLORTELLER_WHITE_HOST` is not set",
            ),
        ]
    );
    assert_eq!(
        helps(&loaded),
        vec![
            some("pass --var MESH_NAME=VALUE"),
            some("pass --var COLORTELLER_WHITE_HOST=VALUE"),
        ]
    );
}

#[test]
fn placeholders_set_with_vars_pass() {
    let mut opts = LoadOptions::default();
    opts.vars.insert("MESH_NAME".into(), "colorapp".into());
    opts.vars.insert(
        "COLORTELLER_WHITE_HOST".into(),
        "colorteller-white.colorapp.local".into(),
    );
    let loaded = load_with(&["placeholder.json"], &opts);
    assert_eq!(tuples(&loaded), vec![]);
    let mesh = &loaded.meshes["colorapp"];
    assert!(mesh.virtual_nodes.contains_key("colorteller-white-vn"));
}

// 14. CloudFormation parameter without a value --------------------------------------------------

#[test]
fn parameter_without_default_or_value() {
    let name = "parameter_without_default.yaml";
    let loaded = load_with(&[name], &LoadOptions::default());
    // Reported once, at its first use.
    assert_eq!(
        tuples(&loaded),
        vec![err(
            "parameter",
            "parameter_without_default.yaml:13:17",
            "Resources.Mesh.Properties.MeshName",
            "template parameter `EnvironmentName` has no value and no Default",
        )]
    );
    assert_eq!(
        helps(&loaded),
        vec![some("pass --param EnvironmentName=VALUE")]
    );
}

#[test]
fn parameter_given_with_param_passes() {
    let mut opts = LoadOptions::default();
    opts.params.insert("EnvironmentName".into(), "prod".into());
    let loaded = load_with(&["parameter_without_default.yaml"], &opts);
    assert_eq!(tuples(&loaded), vec![]);
    assert!(
        loaded.meshes["prod"]
            .virtual_nodes
            .contains_key("colorteller-white")
    );
}

// 15. CloudFormation key casing --------------------------------------------------------------------

const CASING_PATH: &str =
    "Resources.ColorTellerRed.Properties.Spec.Listeners[0].OutlierDetection.maxServerErrors";

#[test]
fn camel_case_key_in_cloudformation_is_an_error() {
    let name = "casing.yaml";
    let loaded = load_with(&[name], &LoadOptions::default());
    assert_eq!(
        tuples(&loaded),
        vec![err(
            "casing",
            "casing.yaml:14:15",
            CASING_PATH,
            "CloudFormation spells this key `MaxServerErrors`, not `maxServerErrors`",
        )]
    );
    assert_eq!(
        helps(&loaded),
        vec![some(
            "write `MaxServerErrors` (CloudFormation rejects other spellings), or pass --lenient"
        )]
    );
}

#[test]
fn camel_case_key_in_cloudformation_is_a_warning_under_lenient() {
    let loaded = load_with(&["casing.yaml"], &lenient());
    assert_eq!(
        tuples(&loaded),
        vec![warn(
            "casing",
            "casing.yaml:14:15",
            CASING_PATH,
            "CloudFormation spells this key `MaxServerErrors`, not `maxServerErrors` (accepted by --lenient)",
        )]
    );
    assert!(loaded.is_valid());
}

// 16. Unions, enums, regular expressions ------------------------------------------------------------

#[test]
fn prefix_and_path_in_one_match() {
    assert_eq!(
        diags("union_prefix_and_path.yaml"),
        vec![err(
            "union",
            "union_prefix_and_path.yaml:43:13",
            "spec.routes[0].httpRoute.match.path",
            "a route match takes `prefix` or `path`, not both",
        )]
    );
}

#[test]
fn misspelt_protocol_suggests_the_enum_value() {
    let name = "enum_protocol.json";
    let loaded = load_with(&[name], &LoadOptions::default());
    assert_eq!(
        tuples(&loaded),
        vec![err(
            "enum",
            "enum_protocol.json:6:52",
            "spec.listeners[0].portMapping.protocol",
            "expected one of http, http2, grpc, tcp, found `htp`",
        )]
    );
    assert_eq!(helps(&loaded), vec![some("did you mean `http`?")]);
}

#[test]
fn invalid_regex_in_header_match() {
    assert_eq!(
        diags("regex_header.yaml"),
        vec![err(
            "regex",
            "regex_header.yaml:24:26",
            "Resources.BlueRoute.Properties.Spec.HttpRoute.Match.Headers[0].Match.Regex",
            "invalid regular expression: unclosed character class",
        )]
    );
}

// 17. References across files, and fragments ----------------------------------------------------------

#[test]
fn references_resolve_across_files_given_together() {
    let loaded = load_with(
        &["cross_file_routes.yaml", "cross_file_nodes.yaml"],
        &LoadOptions::default(),
    );
    assert_eq!(tuples(&loaded), vec![]);
    let mesh = &loaded.meshes["colorapp"];
    let nodes: Vec<&str> = mesh.virtual_nodes.keys().map(String::as_str).collect();
    assert_eq!(
        nodes,
        ["colorteller-blue_colorapp", "colorteller-red_colorapp"]
    );

    // The routes file alone does not resolve: the same references are errors.
    let alone = diags("cross_file_routes.yaml");
    let got: Vec<_> = alone
        .iter()
        .map(|(s, c, p, _, m)| (*s, *c, p.as_str(), m.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                Error,
                "unresolved-reference",
                "cross_file_routes.yaml:40:23",
                "virtual node `colorteller-blue_colorapp` is not defined in mesh `colorapp`",
            ),
            (
                Error,
                "unresolved-reference",
                "cross_file_routes.yaml:43:23",
                "virtual node `colorteller-red_colorapp` is not defined in mesh `colorapp`",
            ),
        ]
    );
}

#[test]
fn kubernetes_reference_path_names_the_name_field() {
    let alone = diags("cross_file_routes.yaml");
    assert_eq!(
        alone[0],
        err(
            "unresolved-reference",
            "cross_file_routes.yaml:40:23",
            "spec.routes[0].httpRoute.action.weightedTargets[0].virtualNodeRef.name",
            "virtual node `colorteller-blue_colorapp` is not defined in mesh `colorapp`",
        )
    );
}

#[test]
fn fragment_is_warnings_under_partial_and_errors_otherwise() {
    let name = "fragment_route.json";
    let expected = |severity: Severity| -> Vec<Diag> {
        vec![
            (
                severity,
                "missing-parent",
                "fragment_route.json:1:1".into(),
                "".into(),
                "this Route does not say which virtualRouterName it belongs to".into(),
            ),
            (
                severity,
                "unresolved-reference",
                "fragment_route.json:7:28".into(),
                "spec.httpRoute.action.weightedTargets[0].virtualNode".into(),
                "virtual node `colorteller-blue` is not defined in mesh `default`".into(),
            ),
            (
                severity,
                "unresolved-reference",
                "fragment_route.json:8:28".into(),
                "spec.httpRoute.action.weightedTargets[1].virtualNode".into(),
                "virtual node `colorteller-red` is not defined in mesh `default`".into(),
            ),
        ]
    };
    let fragment = load_with(&[name], &partial());
    assert_eq!(tuples(&fragment), expected(Warning));
    assert!(fragment.is_valid());

    let strict = load_with(&[name], &LoadOptions::default());
    assert_eq!(tuples(&strict), expected(Error));
    assert!(!strict.is_valid());
}

// 18. Every error of a file in one run -------------------------------------------------------------------

#[test]
fn all_errors_of_a_file_are_reported_in_one_run() {
    assert_eq!(
        diags("many_errors.yaml"),
        vec![
            err(
                "enum",
                "many_errors.yaml:32:21",
                "Resources.CartRoute.Properties.Spec.HttpRoute.Match.Method",
                "expected one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH, found `GETT`",
            ),
            err(
                "range",
                "many_errors.yaml:38:25",
                "Resources.CartRoute.Properties.Spec.HttpRoute.Action.WeightedTargets[1].Weight",
                "110 is out of range: expected at least 0 and at most 100",
            ),
            err(
                "enum",
                "many_errors.yaml:40:33",
                "Resources.CartRoute.Properties.Spec.HttpRoute.Timeout.PerRequest.Unit",
                "expected one of s, ms, found `sec`",
            ),
            err(
                "range",
                "many_errors.yaml:52:31",
                "Resources.CartNodeV1.Properties.Spec.Listeners[0].HealthCheck.IntervalMillis",
                "1000 is out of range: expected at least 5000 and at most 300000",
            ),
            err(
                "unresolved-reference",
                "many_errors.yaml:59:51",
                "Resources.CartNodeV1.Properties.Spec.Backends[0].VirtualService.VirtualServiceName",
                "virtual service `pricing.shop.local` is not defined in mesh `shop`",
            ),
            err(
                "unknown-field",
                "many_errors.yaml:69:48",
                "Resources.CartNodeV2.Properties.Spec.ServiceDiscovery.DNS.ResponseTyp",
                "unknown field `ResponseTyp` in DNS service discovery",
            ),
        ]
    );
}

// Further kinds: duplicates, protocol mismatches, unknown kinds, byte order marks ---------------------------

#[test]
fn grpc_route_targeting_an_http_node() {
    assert_eq!(
        diags("protocol_mismatch.json"),
        vec![err(
            "protocol-mismatch",
            "protocol_mismatch.json:21:62",
            "Resources.GrpcRoute.Properties.Spec.GrpcRoute.Action.WeightedTargets[0].VirtualNode",
            "a grpc route targets virtual node `color-server`, whose listener on port 8080 speaks http",
        )]
    );
}

const DUPLICATE: &str = "VirtualNode `colorteller-black_colorapp` is defined twice";

#[test]
fn virtual_node_defined_twice() {
    // Checked without position and path here; see `duplicate_points_at_the_repeated_name`.
    let loaded = load_with(&["duplicate_resource.yaml"], &LoadOptions::default());
    let got: Vec<_> = tuples(&loaded)
        .into_iter()
        .map(|(s, c, _, _, m)| (s, c, m))
        .collect();
    assert_eq!(got, vec![(Error, "duplicate", DUPLICATE.to_string())]);
    assert_eq!(
        helps(&loaded),
        vec![some(
            "the first definition is at tests/fixtures/errors/duplicate_resource.yaml:1:1"
        )]
    );
}

#[test]
fn duplicate_points_at_the_repeated_name() {
    assert_eq!(
        diags("duplicate_resource.yaml"),
        vec![err(
            "duplicate",
            "duplicate_resource.yaml:22:9",
            "metadata.name",
            DUPLICATE
        )]
    );
}

const UNKNOWN_KIND: &str = "`VirtualRoute` is not an App Mesh kind";

#[test]
fn unknown_kubernetes_kind() {
    // Checked without position and path here; see `unknown_kind_points_at_kind`.
    let got: Vec<_> = diags("unknown_kind.yaml")
        .into_iter()
        .map(|(s, c, _, _, m)| (s, c, m))
        .collect();
    assert_eq!(got, vec![(Error, "unknown-kind", UNKNOWN_KIND.to_string())]);
}

#[test]
fn unknown_kind_points_at_kind() {
    assert_eq!(
        diags("unknown_kind.yaml"),
        vec![err(
            "unknown-kind",
            "unknown_kind.yaml:2:7",
            "kind",
            UNKNOWN_KIND
        )]
    );
}

#[test]
fn byte_order_mark_is_not_a_column() {
    // The file starts with U+FEFF; `0` is the 105th visible character of line 1.
    assert_eq!(
        diags("bom_first_line.json"),
        vec![err(
            "range",
            "bom_first_line.json:1:105",
            "spec.listeners[0].portMapping.port",
            "0 is out of range: expected at least 1 and at most 65535",
        )]
    );
}

// 19. The command line ---------------------------------------------------------------------------------------

fn meshsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run meshsim")
}

#[test]
fn cli_validate_invalid_file_exits_2_with_position() {
    let file = path_of("weight_out_of_range.json");
    let out = meshsim(&["validate", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("{file}:10:49: -5 is out of range")),
        "stderr:\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:11:49: 101 is out of range")),
        "stderr:\n{stderr}"
    );

    let out = meshsim(&["validate", &file, "--diagnostics", "short"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(
        stderr.lines().any(|l| l
            == format!(
                "{file}:10:49: error[range]: -5 is out of range: expected at least 0 and at most 100 (at spec.httpRoute.action.weightedTargets[0].weight)"
            )),
        "stderr:\n{stderr}"
    );
}

#[test]
fn cli_validate_valid_files_exit_0() {
    let routes = path_of("cross_file_routes.yaml");
    let nodes = path_of("cross_file_nodes.yaml");
    let out = meshsim(&["validate", &routes, &nodes]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The placeholder file is invalid without `--var` and valid with it.
    let file = path_of("placeholder.json");
    assert_eq!(meshsim(&["validate", &file]).status.code(), Some(2));
    let out = meshsim(&[
        "validate",
        &file,
        "--var",
        "MESH_NAME=colorapp",
        "--var",
        "COLORTELLER_WHITE_HOST=colorteller-white.colorapp.local",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
