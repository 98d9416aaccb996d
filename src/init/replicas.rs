//! How many tasks each virtual node runs, read from the deployment resources that often sit in
//! the same files as the mesh: Kubernetes Deployments (`spec.replicas`, matched to a
//! VirtualNode by its `podSelector`, as the App Mesh controller injects the sidecar into the
//! pods the selector picks) and ECS services in CloudFormation (`DesiredCount`, matched
//! through their task definition's App Mesh proxy configuration or Envoy environment, which
//! name the node as `mesh/<mesh>/virtualNode/<node>`).

use std::collections::BTreeMap;

use crate::config::LoadedConfig;
use crate::config::diagnostic::Diagnostics;
use crate::config::import::kubernetes::{aws_name, meta};
use crate::config::import::{Syntax, detect};
use crate::config::model::ResourceKind;
use crate::config::placeholders::{Substitution, Vars};
use crate::config::tree::{Node, Value, parse_documents, parse_int};

/// Replicas of one virtual node, and what said so (for the scenario's comments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replicas {
    /// Tasks to run.
    pub count: u32,
    /// `Deployment howto-k8s/front (spec.replicas)` and the like.
    pub source: String,
}

/// The replicas of every virtual node some deployment resource names, by AWS node name.
pub fn find(
    loaded: &LoadedConfig,
    vars: &Vars,
    params: &BTreeMap<String, String>,
) -> BTreeMap<String, Replicas> {
    let mut out = BTreeMap::new();
    for (id, file) in loaded.sources.iter() {
        let (docs, _) = parse_documents(file);
        let mut docs: Vec<Node> = docs.into_iter().filter(|d| !d.is_null()).collect();
        match docs.first().map(detect) {
            Some(Syntax::Kubernetes) => {
                let mut ignored = Diagnostics::new();
                for d in &mut docs {
                    Substitution::new(vars, id).apply(d, "", &mut ignored);
                }
                kubernetes(&docs, &mut out);
            }
            Some(Syntax::CloudFormation) => {
                let stem = file.name().rsplit(['/', '\\']).next().unwrap_or_default();
                let stack = stem.split('.').next().unwrap_or(stem).to_string();
                for d in &docs {
                    cloudformation(d, params, &stack, &mut out);
                }
            }
            _ => {}
        }
    }
    out
}

fn kubernetes(docs: &[Node], out: &mut BTreeMap<String, Replicas>) {
    let text = |n: Option<&Node>| {
        n.and_then(Node::scalar_text)
            .unwrap_or_default()
            .to_string()
    };
    let labels = |n: Option<&Node>| -> BTreeMap<String, String> {
        n.and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .map(|(k, v)| (k.name.clone(), text(Some(v))))
            .collect()
    };
    let deployments: Vec<(String, String, BTreeMap<String, String>, u32)> = docs
        .iter()
        .filter(|d| text(d.get("kind")) == "Deployment")
        .map(|d| {
            let (name, ns) = meta(d);
            let spec = d.get("spec");
            let pod_labels = labels(
                spec.and_then(|s| s.get("template"))
                    .and_then(|t| t.get("metadata"))
                    .and_then(|m| m.get("labels")),
            );
            // Kubernetes' default for a Deployment without `replicas`.
            let replicas = spec
                .and_then(|s| s.get("replicas"))
                .and_then(Node::scalar_text)
                .and_then(parse_int)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1);
            (name, ns, pod_labels, replicas)
        })
        .collect();
    for d in docs {
        if text(d.get("kind")) != "VirtualNode"
            || !text(d.get("apiVersion")).starts_with("appmesh.k8s.aws/")
        {
            continue;
        }
        let (_, ns) = meta(d);
        let selector = labels(
            d.get("spec")
                .and_then(|s| s.get("podSelector"))
                .and_then(|p| p.get("matchLabels")),
        );
        if selector.is_empty() {
            continue;
        }
        let matching: Vec<_> = deployments
            .iter()
            .filter(|(_, dns, pod, _)| {
                *dns == ns && selector.iter().all(|(k, v)| pod.get(k) == Some(v))
            })
            .collect();
        if matching.is_empty() {
            continue;
        }
        let count = matching.iter().map(|(.., r)| *r).sum::<u32>().max(1);
        let names: Vec<String> = matching
            .iter()
            .map(|(n, dns, ..)| format!("Deployment {dns}/{n}"))
            .collect();
        out.insert(
            aws_name(ResourceKind::VirtualNode, d),
            Replicas {
                count,
                source: format!("{} (spec.replicas)", names.join(" + ")),
            },
        );
    }
}

fn cloudformation(
    doc: &Node,
    params: &BTreeMap<String, String>,
    stack: &str,
    out: &mut BTreeMap<String, Replicas>,
) {
    let Some(resources) = doc.get("Resources").and_then(Node::as_map) else {
        return;
    };
    let mut values: BTreeMap<String, String> = doc
        .get("Parameters")
        .and_then(Node::as_map)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, decl)| {
            let v = params.get(&k.name).cloned().or_else(|| {
                decl.get("Default")
                    .and_then(Node::scalar_text)
                    .map(str::to_string)
            })?;
            Some((k.name.clone(), v))
        })
        .collect();
    let stack = params
        .get("AWS::StackName")
        .cloned()
        .unwrap_or_else(|| stack.to_string());
    values.insert("AWS::StackName".into(), stack);
    let ty = |r: &Node| {
        r.get("Type")
            .and_then(Node::scalar_text)
            .unwrap_or_default()
            .to_string()
    };
    for (logical, r) in resources {
        if ty(r) != "AWS::ECS::Service" {
            continue;
        }
        let props = r.get("Properties");
        let Some(task_def) = props
            .and_then(|p| p.get("TaskDefinition"))
            .and_then(reference)
            .and_then(|t| resources.iter().find(|(k, _)| k.name == t))
        else {
            continue;
        };
        let Some(node) = task_def
            .1
            .get("Properties")
            .and_then(|p| node_name(p, &values))
        else {
            continue;
        };
        // CloudFormation's default for a replica service without `DesiredCount`.
        let count = match props.and_then(|p| p.get("DesiredCount")) {
            None => 1,
            Some(n) => match n.scalar_text().filter(|_| n.tag.is_none()) {
                Some(t) => parse_int(t)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(1),
                None => reference(n)
                    .and_then(|p| values.get(&p))
                    .and_then(|v| parse_int(v))
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(1),
            },
        };
        out.insert(
            node,
            Replicas {
                count: count.max(1),
                source: format!("ECS service {} (DesiredCount)", logical.name),
            },
        );
    }
}

/// The logical id a `!Ref X` or `{Ref: X}` names.
fn reference(n: &Node) -> Option<String> {
    if n.tag.as_deref() == Some("Ref") {
        return n.scalar_text().map(str::to_string);
    }
    n.get("Ref").and_then(Node::scalar_text).map(str::to_string)
}

/// The virtual node a task definition's Envoy runs as: the first text below it of the form
/// `mesh/<mesh>/virtualNode/<node>` (the proxy configuration's `APPMESH_VIRTUAL_NODE_NAME`,
/// or `APPMESH_RESOURCE_ARN` in the Envoy container's environment), `${X}` filled in from
/// the template's parameters.
fn node_name(n: &Node, values: &BTreeMap<String, String>) -> Option<String> {
    match &n.value {
        Value::Scalar(text, _) => {
            let (_, rest) = text.split_once("virtualNode/")?;
            let mut name = rest.to_string();
            for (k, v) in values {
                name = name.replace(&format!("${{{k}}}"), v);
            }
            (!name.is_empty() && !name.contains("${")).then_some(name)
        }
        Value::Seq(items) => items.iter().find_map(|i| node_name(i, values)),
        Value::Map(entries) => entries.iter().find_map(|(_, v)| node_name(v, values)),
    }
}
