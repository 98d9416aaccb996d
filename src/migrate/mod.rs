//! Leaving App Mesh: target profiles and `meshsim translate`.
//!
//! - [`profile`]: each replacement's defaults and limits (retries, timeouts, outlier
//!   detection, health checks, load balancing, pools, weighted routing, matching, mirroring,
//!   fault injection, TLS, egress) as data, every value with its source.
//! - [`translate`]: an App Mesh mesh (as `config` loads it, routes ordered as the `engine`
//!   tries them) written as Istio, Gateway API, ECS Service Connect or VPC Lattice
//!   configuration, with a loss report ([`loss`]) of what each field becomes.
//! - [`istio_load`]: Istio's own VirtualService and DestinationRule files read into App Mesh's
//!   model, the engine's input, with the differences said at the field.
//!
//! Imports `config` and `engine` only. Nothing here runs a simulation: the behaviour
//! comparison (`meshsim diff`, issue 24) does not exist yet.

mod common;
pub mod emit;
mod gateway_api;
mod istio;
pub mod istio_load;
mod lattice;
pub mod loss;
pub mod profile;
mod resilience;
mod service_connect;
mod view;

pub use loss::{Change, Loss};
pub use profile::{Profile, Target};

use crate::config::Mesh;

/// A file the translation writes, relative to the output folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputFile {
    /// Relative path (`/`-separated).
    pub name: String,
    /// Its text.
    pub text: String,
}

impl OutputFile {
    fn new(name: &str, text: String) -> OutputFile {
        OutputFile {
            name: name.to_string(),
            text,
        }
    }
}

/// The targets `translate` writes configuration for.
pub const WRITERS: [Target; 4] = [
    Target::Istio,
    Target::GatewayApi,
    Target::ServiceConnect,
    Target::Lattice,
];

/// A mesh translated for one target.
#[derive(Clone, Debug)]
pub struct Translation {
    /// The target.
    pub target: Target,
    /// The target's files, then `loss.md` and `loss.json`, in a fixed order.
    pub files: Vec<OutputFile>,
    /// The loss report's entries.
    pub losses: Vec<Loss>,
}

/// The target has no writer (App Mesh itself, Linkerd).
#[derive(Debug, thiserror::Error)]
#[error("meshsim translate writes istio, gateway-api, service-connect or lattice; not {0}")]
pub struct NoWriter(pub Target);

/// Translates a validated mesh. Output depends only on the mesh: maps are ordered, routes
/// come in the engine's evaluation order.
pub fn translate(mesh: &Mesh, target: Target) -> Result<Translation, NoWriter> {
    let services = view::services(mesh);
    let mut losses = loss::Losses::new(target);
    let mut files = match target {
        Target::Istio => istio::write(mesh, &services, &mut losses),
        Target::GatewayApi => gateway_api::write(mesh, &services, &mut losses),
        Target::ServiceConnect => service_connect::write(mesh, &services, &mut losses),
        Target::Lattice => lattice::write(mesh, &services, &mut losses),
        other => return Err(NoWriter(other)),
    };
    common::node_and_mesh_losses(mesh, &mut losses);
    let list = losses.list;
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    let md = loss::markdown(&mesh.name, target, &names, &list);
    let json = loss::json(&mesh.name, target, &names, &list);
    files.push(OutputFile::new("loss.md", md));
    files.push(OutputFile::new("loss.json", json));
    Ok(Translation {
        target,
        files,
        losses: list,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load_texts};

    const ORDERING: &str = include_str!("../../scenarios/ordering/mesh.cfn.yaml");
    const SHOP: &str = include_str!("../../tests/fixtures/translate/shop.cfn.yaml");

    fn mesh(name: &str, text: &str) -> Mesh {
        let loaded = load_texts(&[(name, text)], &LoadOptions::default());
        assert!(loaded.is_valid(), "{:?}", loaded.diagnostics);
        loaded.meshes.into_values().next().expect("one mesh")
    }

    fn rehearse(t: &Translation) -> Vec<&str> {
        t.losses.iter().map(|l| l.rehearse.as_str()).collect()
    }

    fn has(t: &Translation, change: Change, needle: &str) -> bool {
        t.losses
            .iter()
            .any(|l| l.change == change && l.rehearse.contains(needle))
    }

    #[test]
    fn only_the_four_writers_write() {
        let m = mesh("ordering.yaml", ORDERING);
        for t in Target::ALL {
            assert_eq!(translate(&m, t).is_ok(), WRITERS.contains(&t), "{t}");
        }
    }

    #[test]
    fn translation_is_deterministic_and_every_entry_is_sourced() {
        for text in [ORDERING, SHOP] {
            let m = mesh("mesh.yaml", text);
            for t in WRITERS {
                let a = translate(&m, t).expect("writer");
                let b = translate(&m, t).expect("writer");
                assert_eq!(a.files, b.files, "{t}");
                for l in &a.losses {
                    assert!(!l.source.is_empty(), "{t}: {l:?}");
                    assert!(l.rehearse.starts_with(&l.subject), "{t}: {l:?}");
                }
                let names: Vec<&str> = a.files.iter().map(|f| f.name.as_str()).collect();
                assert!(names.ends_with(&["loss.md", "loss.json"]), "{names:?}");
            }
        }
    }

    #[test]
    fn written_yaml_reads_back_through_the_project_s_parser_and_json_through_serde() {
        for text in [ORDERING, SHOP] {
            let m = mesh("mesh.yaml", text);
            for t in WRITERS {
                for f in translate(&m, t).expect("writer").files {
                    if f.name.ends_with(".json") {
                        let v: Result<serde_json::Value, _> = serde_json::from_str(&f.text);
                        assert!(v.is_ok(), "{t} {}: {v:?}", f.name);
                    } else if f.name.ends_with(".yaml") {
                        let file = crate::config::SourceFile::new(f.name.as_str(), f.text.as_str());
                        let (docs, problems) = crate::config::tree::parse_documents(&file);
                        assert!(problems.is_empty(), "{t} {}: {problems:?}", f.name);
                        assert!(!docs.is_empty(), "{t} {}", f.name);
                    }
                }
            }
        }
    }

    /// The losses issue 24 names: hidden retries on 503 and the 15 s timeout gone on Lattice,
    /// Lattice's case-insensitive paths and missing precedence, STRICT mTLS becoming one-way
    /// TLS on Service Connect.
    #[test]
    fn the_losses_issue_24_names_are_reported() {
        let ordering = mesh("ordering.yaml", ORDERING);
        let lattice = translate(&ordering, Target::Lattice).expect("lattice");
        assert!(
            has(
                &lattice,
                Change::Lost,
                "virtual service `inventory.ordering.local`: App Mesh retried 503 twice; Lattice will not retry"
            ),
            "{:#?}",
            rehearse(&lattice)
        );
        assert!(has(
            &lattice,
            Change::Lost,
            "virtual service `inventory.ordering.local`: App Mesh cut requests at 15 s; Lattice has no request timeout"
        ));
        assert!(has(
            &lattice,
            Change::Approximate,
            "App Mesh matched `/orders` case-sensitively; Lattice matches paths case-insensitively"
        ));
        assert!(has(
            &lattice,
            Change::Approximate,
            "virtual router `order-router`: App Mesh tried routes by `priority` (0-1000); Lattice has no route precedence of its own"
        ));
        let shop = mesh("shop.yaml", SHOP);
        let sc = translate(&shop, Target::ServiceConnect).expect("service connect");
        assert!(has(
            &sc,
            Change::Lost,
            "virtual node `cart-v1` listener 8080: App Mesh required STRICT mutual TLS (client certificates checked); Service Connect speaks one-way TLS 1.3"
        ));
        let lattice = translate(&shop, Target::Lattice).expect("lattice");
        assert!(has(
            &lattice,
            Change::Refused,
            "Lattice: at most 5 header matches per rule"
        ));
    }

    /// What Istio can express it is given: App Mesh's hidden defaults are written out, and
    /// nothing about retries or timeouts is lost.
    #[test]
    fn istio_keeps_retries_and_timeouts_by_writing_them_out() {
        let m = mesh("ordering.yaml", ORDERING);
        let t = translate(&m, Target::Istio).expect("istio");
        assert!(has(
            &t,
            Change::WrittenOut,
            "App Mesh retried 503 twice; written as `retries`"
        ));
        assert!(has(
            &t,
            Change::WrittenOut,
            "App Mesh cut requests at 15 s; written as `timeout: 15s`"
        ));
        assert!(!t.losses.iter().any(|l| l.field.starts_with("retryPolicy")
            && matches!(l.change, Change::Lost | Change::Refused)));
        let vs = &t.files[0].text;
        assert!(
            vs.contains("retryOn: \"503,connect-failure,refused-stream,reset,unavailable\""),
            "{vs}"
        );
    }
}
