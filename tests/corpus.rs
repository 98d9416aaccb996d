//! Every real App Mesh file in the external corpus (`../shared/corpus`, or where
//! `MESHSIM_CORPUS` says) loads, validates and shows, with the values a user would pass for
//! its placeholders and parameters. Without the corpus each test says it was skipped; with
//! `MESHSIM_CORPUS` set (CI), a missing corpus fails them.

use crate::support;

use std::process::Command;

use meshsim::config::model::ResourceKind::{self, *};
use meshsim::config::{LoadOptions, Severity, load_paths};

/// One corpus file and how a user would validate it.
struct Case {
    path: &'static str,
    vars: &'static [(&'static str, &'static str)],
    params: &'static [(&'static str, &'static str)],
    /// A fragment: it refers to resources defined elsewhere.
    partial: bool,
    /// It carries a real-world quirk that only --lenient accepts.
    lenient: bool,
    /// Resources expected, by kind.
    expect: &'static [(ResourceKind, usize)],
}

const K8S_VARS: &[(&str, &str)] = &[
    ("APP_NAMESPACE", "howto-k8s"),
    ("MESH_NAME", "howto-k8s"),
    ("CLOUDMAP_NAMESPACE", "howto-k8s.pvt.aws.local"),
];

const CASES: &[Case] = &[
    Case {
        path: "appmesh-examples/walkthroughs/howto-grpc/mesh/route-retries.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-http-retries/blue-route.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-http2/mesh/route-red-blue-green.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-http-headers/color-route.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/examples/apps/colorapp/servicemesh/config/update_routes/colorteller-route-black-80-blue-20.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-circuit-breakers/mesh/colorteller-white-vn-update.json",
        vars: &[(
            "DNS_HOSTNAME",
            "colorteller-white.default.svc.cluster.local",
        )],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(VirtualNode, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-outlier-detection/mesh/color-vn-with-outlier-detection.json",
        vars: &[("NAMESPACE_NAME", "howto-outlier-detection.local")],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(VirtualNode, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-timeout-policy/mesh/colorteller-route-timeout20s.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-match-and-rewrite-at-ingress/mesh/colorgateway-route-updated-rewrite.json",
        vars: &[("VIRTUALSERVICE_NAME", "color.howto-match.local")],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(GatewayRoute, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-mutual-tls-file-provided/mesh/updates/colorteller-vn-strict-validation.json",
        vars: &[
            ("GATEWAY_SAN", "colorgateway.howto-mtls.local"),
            ("SERVICES_DOMAIN", "howto-mtls.local"),
        ],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(VirtualNode, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-multiple-listeners/mesh/foodteller-vn.json",
        vars: &[("DNS_HOSTNAME", "foodteller.default.svc.cluster.local")],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(VirtualNode, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-multiple-listeners/mesh/fruit-route.json",
        vars: &[],
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(Route, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-ingress-gateway/mesh/colorgateway-vg.json",
        vars: &[(
            "CERTIFICATE_ARN",
            "arn:aws:acm:us-east-1:123456789012:certificate/howto-ingress",
        )],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(VirtualGateway, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-external-traffic/mesh/mesh.yaml",
        vars: &[],
        params: &[
            ("MeshName", "howto-external"),
            ("ServicesDomain", "howto-external.local"),
        ],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-grpc/mesh.yaml",
        vars: &[],
        params: &[("ProjectName", "howto-grpc")],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-grpc-ingress-gateway/mesh.yaml",
        vars: &[],
        params: &[("ProjectName", "howto-grpc-ingress")],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-outlier-detection/mesh/mesh.yaml",
        vars: &[],
        params: &[("ProjectName", "howto-outlier")],
        partial: false,
        lenient: true,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-tls-file-provided/mesh/mesh.yaml",
        vars: &[],
        params: &[
            ("MeshName", "howto-tls"),
            ("ServicesDomain", "howto-tls.local"),
            ("EnableClientValidationFlag", "true"),
        ],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-http-headers/app.yaml",
        vars: &[],
        params: &[("ProjectName", "howto-http-headers")],
        partial: false,
        lenient: false,
        expect: &[
            (Mesh, 1),
            (VirtualService, 1),
            (VirtualNode, 8),
            (VirtualRouter, 1),
            (Route, 7),
        ],
    },
    Case {
        path: "appmesh-examples/blogs/ecs-ec2-crossvpc-with-tls/mesh.yml",
        vars: &[],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(Mesh, 1), (VirtualService, 3), (VirtualNode, 3)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-http-headers/v1beta2/manifest.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: false,
        lenient: false,
        expect: &[
            (Mesh, 1),
            (VirtualService, 1),
            (VirtualNode, 6),
            (VirtualRouter, 1),
            (Route, 5),
        ],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-timeout-policy/v1beta2/manifest.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-outlier-detection/v1beta2/manifest.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-connection-pools/v1beta2/manifest.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-grpc/v1beta2/manifest.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-http-ingress-v2/v1beta2/gatewayroutes/rewrite-path.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: true,
        lenient: false,
        expect: &[(GatewayRoute, 1)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-egress/v1beta2/manifest.yaml.template",
        vars: K8S_VARS,
        params: &[],
        partial: false,
        lenient: false,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-envoy-logging-custom-format/manifest.yaml.template",
        vars: &[],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[(Mesh, 1), (VirtualService, 1), (VirtualNode, 2)],
    },
    Case {
        path: "appmesh-examples/walkthroughs/howto-k8s-mtls-sds-based/v1beta2/manifest.yaml.template",
        vars: &[
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
        params: &[],
        partial: false,
        // `clientPolicy.tls.mode` is not a v1beta2 field; the API server prunes it.
        lenient: true,
        expect: &[],
    },
    Case {
        path: "appmesh-examples/blogs/eks-appmesh-connectivity/deployments/yaml/mesh/appmesh/yelb-db-mesh.yaml",
        vars: &[],
        params: &[],
        // The blog defines `yelb-rds-node` in another manifest.
        partial: true,
        lenient: false,
        expect: &[
            (VirtualService, 1),
            (VirtualNode, 1),
            (VirtualRouter, 1),
            (Route, 1),
        ],
    },
    Case {
        path: "seed-examples/appmesh-service-b.cfn.yaml",
        vars: &[],
        params: &[],
        partial: false,
        lenient: false,
        expect: &[
            (Mesh, 1),
            (VirtualService, 1),
            (VirtualNode, 2),
            (VirtualRouter, 1),
            (Route, 1),
        ],
    },
];

fn options(case: &Case) -> LoadOptions {
    LoadOptions {
        vars: case
            .vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        params: case
            .params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        lenient: case.lenient,
        partial: case.partial,
        mesh: None,
    }
}

#[test]
fn every_corpus_file_is_listed() {
    let Some(corpus) = support::corpus("every_corpus_file_is_listed") else {
        return;
    };
    let mut found = Vec::new();
    let mut stack = vec![corpus.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_none_or(|e| e != "md") {
                found.push(
                    path.strip_prefix(&corpus)
                        .expect("prefix")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.path.to_string()).collect();
    listed.sort();
    assert_eq!(found, listed, "the corpus and the cases differ");
}

#[test]
fn every_corpus_file_validates() {
    let Some(corpus) = support::corpus("every_corpus_file_validates") else {
        return;
    };
    let mut failures = Vec::new();
    for case in CASES {
        let path = corpus.join(case.path);
        let loaded = load_paths(&[&path], &options(case));
        let errors: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.one_line(&loaded.sources))
            .collect();
        if !errors.is_empty() {
            failures.push(format!("{}:\n  {}", case.path, errors.join("\n  ")));
            continue;
        }
        let counts = &loaded.files[0].counts;
        assert!(
            !counts.is_empty(),
            "{}: no App Mesh resources loaded",
            case.path
        );
        for (kind, n) in case.expect {
            assert_eq!(
                counts.get(kind).copied().unwrap_or(0),
                *n,
                "{}: {kind} count",
                case.path
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn strict_mode_rejects_the_corpus_quirks_that_lenient_accepts() {
    let Some(corpus) =
        support::corpus("strict_mode_rejects_the_corpus_quirks_that_lenient_accepts")
    else {
        return;
    };
    for case in CASES.iter().filter(|c| c.lenient) {
        let strict = LoadOptions {
            lenient: false,
            ..options(case)
        };
        let loaded = load_paths(&[corpus.join(case.path)], &strict);
        assert!(!loaded.is_valid(), "{} should need --lenient", case.path);
        let lenient = load_paths(&[corpus.join(case.path)], &options(case));
        assert!(
            lenient
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Warning),
            "{}: --lenient must warn about what it accepted",
            case.path
        );
    }
}

#[test]
fn corpus_fragments_need_partial() {
    let Some(corpus) = support::corpus("corpus_fragments_need_partial") else {
        return;
    };
    for case in CASES.iter().filter(|c| c.partial) {
        let whole = LoadOptions {
            partial: false,
            ..options(case)
        };
        let loaded = load_paths(&[corpus.join(case.path)], &whole);
        assert!(
            loaded
                .diagnostics
                .iter()
                .any(|d| d.code == "unresolved-reference" || d.code == "missing-parent"),
            "{} should have dangling references without --partial",
            case.path
        );
    }
}

#[test]
fn show_prints_a_graph_for_every_corpus_file() {
    let Some(corpus) = support::corpus("show_prints_a_graph_for_every_corpus_file") else {
        return;
    };
    for case in CASES {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshsim"));
        cmd.arg("show").arg(corpus.join(case.path));
        for (k, v) in case.vars {
            cmd.arg("--var").arg(format!("{k}={v}"));
        }
        for (k, v) in case.params {
            cmd.arg("--param").arg(format!("{k}={v}"));
        }
        if case.partial {
            cmd.arg("--partial");
        }
        if case.lenient {
            cmd.arg("--lenient");
        }
        let out = cmd.output().expect("run meshsim");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            case.path,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("mesh "), "{}: {stdout}", case.path);
    }
}
