//! `meshsim init` → `meshsim run` → `meshsim check` on every file of the external App Mesh
//! corpus (aws-app-mesh-examples, `../shared/corpus`, or the folder `MESHSIM_CORPUS` names).
//!
//! Without the corpus the suite says so in the test output and passes; when `MESHSIM_CORPUS`
//! is set (CI sets it) a missing corpus fails it. Each run is 5 simulated seconds, enough to
//! send a request down every route the scenario claims.

use crate::init_support;
use crate::support;

use init_support::{Case, init, meshsim, reached_in_report, run_and_check, scratch};

/// What `init` does with a corpus file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// A whole mesh: init writes a scenario that runs.
    Runs,
    /// A fragment (a route or gateway route alone): init refuses, naming what is missing.
    Fragment,
    /// A virtual gateway alone: no virtual node, nothing to run.
    NoNodes,
}

struct File {
    path: &'static str,
    vars: &'static [(&'static str, &'static str)],
    params: &'static [(&'static str, &'static str)],
    lenient: bool,
    expect: Expect,
}

const K8S: &[(&str, &str)] = &[
    ("APP_NAMESPACE", "howto-k8s"),
    ("MESH_NAME", "howto-k8s"),
    ("CLOUDMAP_NAMESPACE", "howto-k8s.pvt.aws.local"),
];

const fn file(path: &'static str, expect: Expect) -> File {
    File {
        path,
        vars: &[],
        params: &[],
        lenient: false,
        expect,
    }
}

const fn with(
    path: &'static str,
    vars: &'static [(&'static str, &'static str)],
    params: &'static [(&'static str, &'static str)],
) -> File {
    File {
        path,
        vars,
        params,
        lenient: false,
        expect: Expect::Runs,
    }
}

const FILES: &[File] = &[
    file(
        "appmesh-examples/walkthroughs/howto-grpc/mesh/route-retries.json",
        Expect::Fragment,
    ),
    file(
        "appmesh-examples/walkthroughs/howto-http-retries/blue-route.json",
        Expect::Fragment,
    ),
    file(
        "appmesh-examples/walkthroughs/howto-http2/mesh/route-red-blue-green.json",
        Expect::Fragment,
    ),
    file(
        "appmesh-examples/walkthroughs/howto-http-headers/color-route.json",
        Expect::Fragment,
    ),
    file(
        "appmesh-examples/examples/apps/colorapp/servicemesh/config/update_routes/colorteller-route-black-80-blue-20.json",
        Expect::Fragment,
    ),
    with(
        "appmesh-examples/walkthroughs/howto-circuit-breakers/mesh/colorteller-white-vn-update.json",
        &[(
            "DNS_HOSTNAME",
            "colorteller-white.default.svc.cluster.local",
        )],
        &[],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-outlier-detection/mesh/color-vn-with-outlier-detection.json",
        &[("NAMESPACE_NAME", "howto-outlier-detection.local")],
        &[],
    ),
    file(
        "appmesh-examples/walkthroughs/howto-timeout-policy/mesh/colorteller-route-timeout20s.json",
        Expect::Fragment,
    ),
    File {
        vars: &[("VIRTUALSERVICE_NAME", "color.howto-match.local")],
        ..file(
            "appmesh-examples/walkthroughs/howto-match-and-rewrite-at-ingress/mesh/colorgateway-route-updated-rewrite.json",
            Expect::Fragment,
        )
    },
    with(
        "appmesh-examples/walkthroughs/howto-mutual-tls-file-provided/mesh/updates/colorteller-vn-strict-validation.json",
        &[
            ("GATEWAY_SAN", "colorgateway.howto-mtls.local"),
            ("SERVICES_DOMAIN", "howto-mtls.local"),
        ],
        &[],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-multiple-listeners/mesh/foodteller-vn.json",
        &[("DNS_HOSTNAME", "foodteller.default.svc.cluster.local")],
        &[],
    ),
    file(
        "appmesh-examples/walkthroughs/howto-multiple-listeners/mesh/fruit-route.json",
        Expect::Fragment,
    ),
    File {
        vars: &[(
            "CERTIFICATE_ARN",
            "arn:aws:acm:us-east-1:123456789012:certificate/howto-ingress",
        )],
        ..file(
            "appmesh-examples/walkthroughs/howto-ingress-gateway/mesh/colorgateway-vg.json",
            Expect::NoNodes,
        )
    },
    with(
        "appmesh-examples/walkthroughs/howto-external-traffic/mesh/mesh.yaml",
        &[],
        &[
            ("MeshName", "howto-external"),
            ("ServicesDomain", "howto-external.local"),
        ],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-grpc/mesh.yaml",
        &[],
        &[("ProjectName", "howto-grpc")],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-grpc-ingress-gateway/mesh.yaml",
        &[],
        &[("ProjectName", "howto-grpc-ingress")],
    ),
    File {
        lenient: true,
        ..with(
            "appmesh-examples/walkthroughs/howto-outlier-detection/mesh/mesh.yaml",
            &[],
            &[("ProjectName", "howto-outlier")],
        )
    },
    with(
        "appmesh-examples/walkthroughs/howto-tls-file-provided/mesh/mesh.yaml",
        &[],
        &[
            ("MeshName", "howto-tls"),
            ("ServicesDomain", "howto-tls.local"),
            ("EnableClientValidationFlag", "true"),
        ],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-http-headers/app.yaml",
        &[],
        &[("ProjectName", "howto-http-headers")],
    ),
    file(
        "appmesh-examples/blogs/ecs-ec2-crossvpc-with-tls/mesh.yml",
        Expect::Runs,
    ),
    with(
        "appmesh-examples/walkthroughs/howto-k8s-http-headers/v1beta2/manifest.yaml.template",
        K8S,
        &[],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-k8s-timeout-policy/v1beta2/manifest.yaml.template",
        K8S,
        &[],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-k8s-outlier-detection/v1beta2/manifest.yaml.template",
        K8S,
        &[],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-k8s-connection-pools/v1beta2/manifest.yaml.template",
        K8S,
        &[],
    ),
    with(
        "appmesh-examples/walkthroughs/howto-k8s-grpc/v1beta2/manifest.yaml.template",
        K8S,
        &[],
    ),
    File {
        vars: K8S,
        ..file(
            "appmesh-examples/walkthroughs/howto-k8s-http-ingress-v2/v1beta2/gatewayroutes/rewrite-path.yaml.template",
            Expect::Fragment,
        )
    },
    with(
        "appmesh-examples/walkthroughs/howto-k8s-egress/v1beta2/manifest.yaml.template",
        K8S,
        &[],
    ),
    file(
        "appmesh-examples/walkthroughs/howto-k8s-envoy-logging-custom-format/manifest.yaml.template",
        Expect::Runs,
    ),
    File {
        // `clientPolicy.tls.mode` is not a v1beta2 field; the API server prunes it.
        lenient: true,
        ..with(
            "appmesh-examples/walkthroughs/howto-k8s-mtls-sds-based/v1beta2/manifest.yaml.template",
            &[
                ("APP_NAMESPACE", "howto-k8s-mtls-sds-based"),
                ("MESH_NAME", "howto-k8s-mtls-sds-based"),
                (
                    "FRONTEND_APP_SVID",
                    "spiffe://howto-k8s-mtls-sds-based.aws/front",
                ),
                (
                    "SVID_CA_TRUST_DOMAIN",
                    "spiffe://howto-k8s-mtls-sds-based.aws",
                ),
                (
                    "COLORAPP_BLUE_SVID",
                    "spiffe://howto-k8s-mtls-sds-based.aws/colorblue",
                ),
                (
                    "COLORAPP_RED_SVID",
                    "spiffe://howto-k8s-mtls-sds-based.aws/colorred",
                ),
                (
                    "COLORAPP_GREEN_SVID",
                    "spiffe://howto-k8s-mtls-sds-based.aws/colorgreen",
                ),
            ],
            &[],
        )
    },
    // The blog defines `yelb-rds-node` in another manifest.
    file(
        "appmesh-examples/blogs/eks-appmesh-connectivity/deployments/yaml/mesh/appmesh/yelb-db-mesh.yaml",
        Expect::Fragment,
    ),
    file("seed-examples/appmesh-service-b.cfn.yaml", Expect::Runs),
];

#[test]
fn every_corpus_file_is_listed() {
    let Some(root) = support::corpus("every_corpus_file_is_listed") else {
        return;
    };
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "md") {
                let rel = path.strip_prefix(&root).expect("prefix");
                found.push(rel.display().to_string());
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = FILES.iter().map(|f| f.path.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "the corpus and this suite's list differ");
}

#[test]
fn init_then_run_and_check_on_every_corpus_mesh() {
    let Some(root) = support::corpus("init_then_run_and_check_on_every_corpus_mesh") else {
        return;
    };
    let mut failures = Vec::new();
    for (i, f) in FILES.iter().enumerate() {
        let case = Case {
            files: vec![root.join(f.path).display().to_string()],
            vars: f
                .vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            params: f
                .params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            lenient: f.lenient,
        };
        let dir = scratch(&format!("corpus-{i}"));
        let outcome = init(&case, &dir);
        let problem = match (f.expect, outcome) {
            (Expect::Runs, Ok(claimed)) => match run_and_check(&case, &dir, "5s") {
                Err(e) => Some(e),
                Ok(()) => {
                    let missing = reached_in_report(&case, &dir, &claimed);
                    (!missing.is_empty())
                        .then(|| format!("claimed routes not in report.json: {missing:?}"))
                }
            },
            (Expect::Runs, Err(e)) => Some(e),
            (Expect::Fragment, Err(e))
                if e.contains("exit Some(2)")
                    && (e.contains("unresolved-reference") || e.contains("missing-parent")) =>
            {
                None
            }
            (Expect::NoNodes, Err(e))
                if e.contains("exit Some(2)") && e.contains("has no virtual node") =>
            {
                None
            }
            (expect, Ok(_)) => Some(format!("expected {expect:?}, but init wrote a scenario")),
            (expect, Err(e)) => Some(format!("expected {expect:?}: {e}")),
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", f.path));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_corpus_fragment_is_refused_with_the_reference_that_dangles() {
    let Some(root) =
        support::corpus("a_corpus_fragment_is_refused_with_the_reference_that_dangles")
    else {
        return;
    };
    let path =
        root.join("appmesh-examples/walkthroughs/howto-http2/mesh/route-red-blue-green.json");
    let dir = scratch("fragment");
    let out = dir.join("s.yaml").display().to_string();
    let o = meshsim(&[
        "init",
        &path.display().to_string(),
        "--out",
        &out,
        "--diagnostics",
        "short",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error[unresolved-reference]") || err.contains("error[missing-parent]"),
        "{err}"
    );
    assert!(
        !dir.join("s.yaml").exists(),
        "nothing is written for a fragment"
    );
}
