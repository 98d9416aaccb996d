//! Short names. The App Mesh controller names a Kubernetes resource's AWS twin
//! `{name}_{namespace}` (virtual nodes, routers, gateways) or `{name}.{namespace}` (virtual
//! services), so a scenario over manifests would have to spell `red_howto-k8s-http2` where
//! the manifest says `red`. A name that is not in the mesh but is the short name of exactly
//! one resource of the kind asked for means that resource; errors name the full one.

use super::expect::{Check, Subject};
use super::read::Parts;
use crate::config::model::Mesh;
use crate::model::calls::StepConfig;

/// The full names among `names` whose short name is `short`.
pub(crate) fn short_matches<'a>(
    short: &str,
    names: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| {
            n.strip_prefix(short)
                .is_some_and(|rest| rest.starts_with(['_', '.']))
        })
        .collect()
}

/// `name` itself when it is in `names`, else the one full name it is short for.
fn resolve<'a>(name: &mut String, names: impl IntoIterator<Item = &'a str> + Clone) {
    if names.clone().into_iter().any(|n| n == name) {
        return;
    }
    if let [one] = short_matches(name, names).as_slice() {
        *name = one.to_string();
    }
}

/// Replaces every short name in the scenario's references into the mesh by its full name.
pub(crate) fn expand(parts: &mut Parts, mesh: &Mesh) {
    let nodes = || mesh.virtual_nodes.keys().map(String::as_str);
    let services = || mesh.virtual_services.keys().map(String::as_str);
    let entries = || {
        mesh.virtual_gateways
            .keys()
            .chain(mesh.virtual_services.keys())
            .map(String::as_str)
    };
    let measured = || {
        mesh.virtual_nodes
            .keys()
            .chain(mesh.virtual_gateways.keys())
            .map(String::as_str)
    };
    for t in parts.tasks.iter_mut().flatten().flatten() {
        resolve(&mut t.node, nodes());
    }
    if let Some(w) = &mut parts.workload {
        resolve(&mut w.target, entries());
    }
    for s in parts.services.iter_mut().flat_map(|s| s.values_mut()) {
        for e in &mut s.endpoints {
            for step in &mut e.calls {
                match step {
                    StepConfig::Call(c) => resolve(&mut c.service, services()),
                    StepConfig::Parallel(group) => {
                        for c in group {
                            resolve(&mut c.service, services());
                        }
                    }
                }
            }
        }
    }
    if let Some(sidecars) = parts.sidecars.take() {
        parts.sidecars = Some(
            sidecars
                .into_iter()
                .map(|(mut node, v)| {
                    resolve(&mut node, nodes());
                    (node, v)
                })
                .collect(),
        );
    }
    if let Some(r) = &mut parts.rollout {
        resolve(
            &mut r.router,
            mesh.virtual_routers.keys().map(String::as_str),
        );
        resolve(&mut r.stable, nodes());
        resolve(&mut r.candidate, nodes());
        if let Some(b) = &mut r.baseline {
            resolve(b, nodes());
        }
    }
    for e in parts.expect.iter_mut().flatten().flatten() {
        if let Some(s) = &mut e.raw.service {
            resolve(s, measured());
        }
        if let Some(f) = &mut e.raw.from {
            resolve(f, measured());
        }
        for c in &mut e.checks {
            if let Check::Slo { subject, .. } = &mut c.check {
                match subject {
                    Subject::Service(s) => resolve(s, measured()),
                    Subject::Route { from: Some(f), .. } => resolve(f, measured()),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_name_is_the_part_before_the_namespace() {
        let names = [
            "red_howto-k8s",
            "red-v2_howto-k8s",
            "color.howto-k8s",
            "blue",
        ];
        assert_eq!(short_matches("red", names), vec!["red_howto-k8s"]);
        assert_eq!(short_matches("color", names), vec!["color.howto-k8s"]);
        assert!(short_matches("blue", names).is_empty());
        let mut n = "red".to_string();
        resolve(&mut n, names);
        assert_eq!(n, "red_howto-k8s");
        // Ambiguous: left alone, for the reference check to report.
        let mut n = "red".to_string();
        resolve(&mut n, ["red_a", "red_b"]);
        assert_eq!(n, "red");
    }
}
