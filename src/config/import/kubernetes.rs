//! Kubernetes manifests of the App Mesh controller (`appmesh.k8s.aws/v1beta2`).
//!
//! The controller names AWS resources `spec.awsName`, else `${name}` for meshes,
//! `${name}.${namespace}` for virtual services and `${name}_${namespace}` for the rest.
//! References (`virtualNodeRef {name, namespace}`, `virtualServiceARN`, ...) are resolved to
//! those AWS names through an index of every manifest given in the run, so a reference may
//! point into another file. Routes are embedded in `VirtualRouter.spec.routes[]`.

use std::collections::BTreeMap;

use super::RawResource;
use crate::config::diagnostic::Diagnostics;
use crate::config::model::ResourceKind;
use crate::config::source::{FileId, Loc, Located, Span};
use crate::config::tree::{Key, Node, Value, join_index, join_key};

/// The only App Mesh CRD version the importer reads.
pub(crate) const API_VERSION: &str = "appmesh.k8s.aws/v1beta2";

/// What a manifest document is.
pub(crate) enum Manifest {
    /// An App Mesh resource of this kind.
    AppMesh(ResourceKind),
    /// A `BackendGroup` (not modelled: App Mesh has no such API resource).
    BackendGroup,
    /// Any other Kubernetes kind (Deployment, Service, Namespace, ...): skipped.
    Other,
    /// An App Mesh kind or version the importer does not know: the field at fault and why.
    Unsupported(&'static str, String),
}

/// Classifies a manifest by `apiVersion` and `kind`.
pub(crate) fn classify(doc: &Node) -> Manifest {
    let api = doc
        .get("apiVersion")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let kind = doc
        .get("kind")
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    if !api.starts_with("appmesh.k8s.aws/") {
        return Manifest::Other;
    }
    if api != API_VERSION {
        return Manifest::Unsupported(
            "apiVersion",
            format!("`{api}` is not supported; meshsim reads `{API_VERSION}` manifests"),
        );
    }
    match kind {
        "Mesh" => Manifest::AppMesh(ResourceKind::Mesh),
        "VirtualNode" => Manifest::AppMesh(ResourceKind::VirtualNode),
        "VirtualService" => Manifest::AppMesh(ResourceKind::VirtualService),
        "VirtualRouter" => Manifest::AppMesh(ResourceKind::VirtualRouter),
        "VirtualGateway" => Manifest::AppMesh(ResourceKind::VirtualGateway),
        "GatewayRoute" => Manifest::AppMesh(ResourceKind::GatewayRoute),
        "BackendGroup" => Manifest::BackendGroup,
        other => Manifest::Unsupported("kind", format!("`{other}` is not an App Mesh kind")),
    }
}

/// AWS names of every App Mesh manifest in the run, for resolving references.
#[derive(Default, Debug)]
pub(crate) struct Index {
    names: BTreeMap<(ResourceKind, String, String), String>,
    meshes: Vec<String>,
    gateways: Vec<(String, String)>,
}

pub(crate) fn meta(doc: &Node) -> (String, String) {
    let m = doc.get("metadata");
    let name = m
        .and_then(|m| m.get("name"))
        .and_then(Node::scalar_text)
        .unwrap_or_default();
    let ns = m
        .and_then(|m| m.get("namespace"))
        .and_then(Node::scalar_text)
        .unwrap_or("default");
    (name.to_string(), ns.to_string())
}

fn default_aws_name(kind: ResourceKind, name: &str, ns: &str) -> String {
    match kind {
        ResourceKind::Mesh => name.to_string(),
        ResourceKind::VirtualService => format!("{name}.{ns}"),
        _ => format!("{name}_{ns}"),
    }
}

pub(crate) fn aws_name(kind: ResourceKind, doc: &Node) -> String {
    let (name, ns) = meta(doc);
    doc.get("spec")
        .and_then(|s| s.get("awsName"))
        .and_then(Node::scalar_text)
        .map_or_else(|| default_aws_name(kind, &name, &ns), str::to_string)
}

impl Index {
    /// Records one App Mesh manifest.
    pub(crate) fn add(&mut self, kind: ResourceKind, doc: &Node) {
        let (name, ns) = meta(doc);
        let aws = aws_name(kind, doc);
        match kind {
            ResourceKind::Mesh => self.meshes.push(aws.clone()),
            ResourceKind::VirtualGateway => self.gateways.push((ns.clone(), aws.clone())),
            _ => {}
        }
        self.names.insert((kind, ns, name), aws);
    }

    fn resolve(&self, kind: ResourceKind, ns: &str, name: &str) -> String {
        self.names
            .get(&(kind, ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_else(|| default_aws_name(kind, name, ns))
    }
}

/// Imports one App Mesh manifest.
pub(crate) fn import(
    kind: ResourceKind,
    doc: &Node,
    file: FileId,
    index: &Index,
    diags: &mut Diagnostics,
) -> Vec<RawResource> {
    let (k8s_name, ns) = meta(doc);
    let at = Loc::new(file, doc.span, "");
    if k8s_name.is_empty() {
        diags.error(
            "missing-field",
            &at,
            format!("{kind} manifest is missing `metadata.name`"),
        );
        return Vec::new();
    }
    for (k, _) in doc.as_map().unwrap_or_default() {
        if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&k.name.as_str()) {
            diags.error(
                "unknown-field",
                &Loc::new(file, k.span, k.written.clone()),
                format!("unknown field `{}` in a {kind} manifest", k.written),
            );
        }
    }
    let name_node = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .unwrap_or(doc);
    let name = Located::new(
        aws_name(kind, doc),
        Loc::new(file, name_node.span, "metadata.name"),
    );
    let spec_node = doc.get("spec");
    let mesh = spec_node
        .and_then(|s| s.get("meshRef"))
        .and_then(|m| m.get("name"))
        .and_then(|n| n.scalar_text().map(|t| (t, n.span)))
        .map(|(t, span)| Located::new(t.to_string(), Loc::new(file, span, "spec.meshRef.name")))
        .or_else(|| match index.meshes.as_slice() {
            [only] => Some(Located::synthetic(only.clone())),
            _ => None,
        });
    let cx = Rewrite {
        file,
        ns: &ns,
        index,
    };
    let empty = Node {
        value: Value::Map(Vec::new()),
        span: doc.span,
        tag: None,
    };
    let spec = cx.spec(spec_node.unwrap_or(&empty), "spec", diags);
    let raw = |kind, name, parent, spec, at: &Loc| RawResource {
        kind,
        name: Some(name),
        mesh: mesh.clone(),
        parent,
        spec: Some(spec),
        at: at.clone(),
        syntax: super::Syntax::Kubernetes,
    };

    let mut out = Vec::new();
    match kind {
        ResourceKind::VirtualRouter => {
            let (router_spec, routes) = take(&spec, "routes");
            out.push(raw(
                kind,
                name.clone(),
                None,
                (router_spec, "spec".into()),
                &at,
            ));
            if let Some(routes) = routes {
                for (i, r) in routes.as_seq().unwrap_or_default().iter().enumerate() {
                    let rpath = join_index("spec.routes", i);
                    let (route_spec, route_name) = take(r, "name");
                    let Some(route_name) = route_name.as_ref().and_then(|n| {
                        n.scalar_text().map(|t| {
                            Located::new(
                                t.to_string(),
                                Loc::new(file, n.span, join_key(&rpath, "name")),
                            )
                        })
                    }) else {
                        diags.error(
                            "missing-field",
                            &Loc::new(file, r.span, rpath.clone()),
                            "route is missing required field `name`",
                        );
                        continue;
                    };
                    let parent = Located::new(name.value.clone(), name.at.clone());
                    let route_at = Loc::new(file, r.span, rpath.clone());
                    out.push(raw(
                        ResourceKind::Route,
                        route_name,
                        Some(parent),
                        (route_spec, rpath),
                        &route_at,
                    ));
                }
            }
        }
        ResourceKind::GatewayRoute => {
            let same_ns: Vec<&(String, String)> =
                index.gateways.iter().filter(|(n, _)| *n == ns).collect();
            let parent = match (index.gateways.as_slice(), same_ns.as_slice()) {
                ([(_, only)], _) | (_, [(_, only)]) => Some(Located::synthetic(only.clone())),
                ([], _) => None,
                _ => {
                    diags
                        .error(
                            "ambiguous-gateway",
                            &at,
                            format!("cannot tell which VirtualGateway GatewayRoute `{k8s_name}` belongs to"),
                        )
                        .help = Some("give one VirtualGateway per namespace".into());
                    None
                }
            };
            out.push(raw(kind, name, parent, (spec, "spec".into()), &at));
        }
        _ => out.push(raw(kind, name, None, (spec, "spec".into()), &at)),
    }
    out
}

/// Removes a key from a mapping node, returning the rest and the removed value.
fn take(node: &Node, key: &str) -> (Node, Option<Node>) {
    let mut taken = None;
    let value = match &node.value {
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .filter(|(k, v)| {
                    if k.name == key {
                        taken = Some(v.clone());
                        false
                    } else {
                        true
                    }
                })
                .cloned()
                .collect(),
        ),
        other => other.clone(),
    };
    (
        Node {
            value,
            span: node.span,
            tag: node.tag.clone(),
        },
        taken,
    )
}

/// Rewrites a manifest spec into the API's shape.
struct Rewrite<'a> {
    file: FileId,
    ns: &'a str,
    index: &'a Index,
}

/// Keys that exist only for the controller (pod selection, mesh membership, naming).
const CONTROLLER_ONLY: &[&str] = &[
    "awsName",
    "meshRef",
    "podSelector",
    "namespaceSelector",
    "gatewayRouteSelector",
    "meshOwner",
];

impl Rewrite<'_> {
    fn spec(&self, spec: &Node, path: &str, diags: &mut Diagnostics) -> Node {
        let Some(entries) = spec.as_map() else {
            return spec.clone();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            if CONTROLLER_ONLY.contains(&k.name.as_str()) {
                continue;
            }
            if k.name == "backendGroups" {
                if v.as_seq().is_some_and(|s| !s.is_empty()) {
                    diags.warning(
                        "not-modelled",
                        &Loc::new(self.file, k.span, join_key(path, &k.written)),
                        "backendGroups are a controller feature with no App Mesh resource; they are ignored",
                    );
                }
                continue;
            }
            let mut key = k.clone();
            if k.name == "meshServiceDiscovery" {
                key.name = "serviceDiscovery".into();
            }
            out.push((key, self.node(v, &join_key(path, &k.written), false)));
        }
        Node {
            value: Value::Map(out),
            span: spec.span,
            tag: None,
        }
    }

    /// Renames ARN spellings and resolves `*Ref`/`*ARN` references, recursively.
    fn node(&self, node: &Node, path: &str, in_target: bool) -> Node {
        let value = match &node.value {
            Value::Scalar(..) => return node.clone(),
            Value::Seq(items) => Value::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, n)| self.node(n, &join_index(path, i), false))
                    .collect(),
            ),
            Value::Map(entries) => {
                let weighted_target = entries.iter().any(|(k, _)| k.name == "weight");
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let kpath = join_key(path, &k.written);
                            match self.reference(k, v, weighted_target || in_target) {
                                Some(pair) => pair,
                                None => {
                                    let mut key = k.clone();
                                    key.name = match k.name.as_str() {
                                        "certificateARN" => "certificateArn".into(),
                                        "certificateAuthorityARNs" => {
                                            "certificateAuthorityArns".into()
                                        }
                                        other => other.to_string(),
                                    };
                                    (key, self.node(v, &kpath, false))
                                }
                            }
                        })
                        .collect(),
                )
            }
        };
        Node {
            value,
            span: node.span,
            tag: node.tag.clone(),
        }
    }

    /// `virtualNodeRef {name, namespace}` and friends, as the API's name field.
    fn reference(&self, k: &Key, v: &Node, weighted_target: bool) -> Option<(Key, Node)> {
        let (kind, api_key) = match k.name.as_str() {
            "virtualNodeRef" | "virtualNodeARN" if weighted_target => {
                (ResourceKind::VirtualNode, "virtualNode")
            }
            "virtualNodeRef" | "virtualNodeARN" => (ResourceKind::VirtualNode, "virtualNodeName"),
            "virtualServiceRef" | "virtualServiceARN" => {
                (ResourceKind::VirtualService, "virtualServiceName")
            }
            "virtualRouterRef" | "virtualRouterARN" => {
                (ResourceKind::VirtualRouter, "virtualRouterName")
            }
            _ => return None,
        };
        let (text, span): (String, Span) = if k.name.ends_with("ARN") {
            let arn = v.scalar_text()?;
            (arn.rsplit('/').next().unwrap_or(arn).to_string(), v.span)
        } else {
            let name = v.get("name")?;
            let ns = v
                .get("namespace")
                .and_then(Node::scalar_text)
                .unwrap_or(self.ns);
            (self.index.resolve(kind, ns, name.scalar_text()?), name.span)
        };
        // The path leads to the value that names the resource: `virtualNodeRef.name`.
        let written = if k.name.ends_with("ARN") {
            k.written.clone()
        } else {
            format!("{}.name", k.written)
        };
        let key = Key {
            name: api_key.into(),
            written,
            span: k.span,
        };
        Some((key, Node::string(text, span)))
    }
}
