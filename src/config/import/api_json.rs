//! App Mesh API / CLI JSON: `describe-*` outputs, `create-*`/`update-*` bodies
//! (`--cli-input-json`), and spec-only bodies whose names were given on the command line.

use super::RawResource;
use crate::config::diagnostic::Diagnostics;
use crate::config::model::ResourceKind;
use crate::config::source::{FileId, Loc, Located};
use crate::config::tree::{Node, join_key, loc};

/// `describe-*` outputs wrap the resource in a key named after its kind.
const DESCRIBE_WRAPPERS: &[(&str, ResourceKind)] = &[
    ("mesh", ResourceKind::Mesh),
    ("virtualService", ResourceKind::VirtualService),
    ("virtualNode", ResourceKind::VirtualNode),
    ("virtualRouter", ResourceKind::VirtualRouter),
    ("route", ResourceKind::Route),
    ("virtualGateway", ResourceKind::VirtualGateway),
    ("gatewayRoute", ResourceKind::GatewayRoute),
];

/// Envelope keys that carry no model data.
const ENVELOPE: &[&str] = &["clientToken", "tags", "metadata", "status", "meshOwner"];

/// Imports one API JSON document. `stem` is the file name without extension: the name of a
/// spec-only resource, and a hint to its kind when the spec alone cannot tell.
pub(crate) fn import(
    doc: &Node,
    file: FileId,
    stem: &str,
    diags: &mut Diagnostics,
) -> Vec<RawResource> {
    let Some(entries) = doc.as_map() else {
        diags.error(
            "type",
            &loc(file, doc, ""),
            format!(
                "expected an App Mesh resource (a JSON object), found {}",
                doc.describe()
            ),
        );
        return Vec::new();
    };
    // describe-* output: {"virtualNode": {...}}
    if entries.len() == 1
        && let Some((kind, key)) = DESCRIBE_WRAPPERS
            .iter()
            .find_map(|(k, kind)| doc.entry(k).map(|(key, _)| (*kind, key)))
        && let Some(inner) = doc.get(&key.name)
        && inner.get("spec").is_some()
    {
        return body(inner, Some(kind), file, &key.written, stem, diags);
    }
    body(doc, None, file, "", stem, diags)
}

fn body(
    node: &Node,
    kind: Option<ResourceKind>,
    file: FileId,
    path: &str,
    stem: &str,
    diags: &mut Diagnostics,
) -> Vec<RawResource> {
    let mut name_of = |key: &str| -> Option<Located<String>> {
        let (k, v) = node.entry(key)?;
        let p = join_key(path, &k.written);
        match v.scalar_text() {
            Some(s) => Some(Located::new(s.to_string(), loc(file, v, &p))),
            None => {
                diags.error(
                    "type",
                    &loc(file, v, &p),
                    format!("expected a name (a string), found {}", v.describe()),
                );
                None
            }
        }
    };
    let spec = node.entry("spec");
    let kind = kind
        .or_else(|| kind_from_names(node))
        .or_else(|| spec.and_then(|(_, s)| kind_from_spec(s, stem)));
    let Some(kind) = kind else {
        diags
            .error(
                "unknown-kind",
                &loc(file, node, path),
                "cannot tell which App Mesh resource this is",
            )
            .help = Some(
            "add `meshName` and the resource's name field (e.g. `virtualNodeName`), or a `spec`"
                .into(),
        );
        return Vec::new();
    };
    let (name_key, parent_key) = match kind {
        ResourceKind::Mesh => ("meshName", None),
        ResourceKind::VirtualService => ("virtualServiceName", None),
        ResourceKind::VirtualNode => ("virtualNodeName", None),
        ResourceKind::VirtualRouter => ("virtualRouterName", None),
        ResourceKind::Route => ("routeName", Some("virtualRouterName")),
        ResourceKind::VirtualGateway => ("virtualGatewayName", None),
        ResourceKind::GatewayRoute => ("gatewayRouteName", Some("virtualGatewayName")),
    };
    let mesh = name_of("meshName");
    let name = name_of(name_key).or_else(|| {
        // Spec-only bodies: the walkthrough scripts pass the name as a flag; use the file's.
        (!stem.is_empty()).then(|| Located::new(stem.to_string(), Loc::new(file, node.span, path)))
    });
    let parent = parent_key.and_then(name_of);
    let at = Loc::new(file, node.span, path);
    let mut known: Vec<&str> = vec!["meshName", "spec", name_key];
    known.extend(parent_key);
    known.extend(ENVELOPE);
    for (k, _) in node.as_map().unwrap_or_default() {
        if !known.contains(&k.name.as_str()) {
            diags
                .error(
                    "unknown-field",
                    &Loc::new(file, k.span, join_key(path, &k.written)),
                    format!("unknown field `{}` in a {kind} request body", k.written),
                )
                .help = crate::config::diagnostic::suggest(&k.name, known.iter().copied())
                .map(|s| format!("did you mean `{s}`?"));
        }
    }
    let spec = match spec {
        Some((k, s)) => Some((s.clone(), join_key(path, &k.written))),
        None if kind == ResourceKind::Mesh => None,
        None => {
            diags.error(
                "missing-field",
                &at,
                format!("{kind} body is missing required field `spec`"),
            );
            return Vec::new();
        }
    };
    vec![RawResource {
        kind,
        name,
        mesh,
        parent,
        spec,
        at,
        syntax: super::Syntax::ApiJson,
    }]
}

/// The kind, from the name fields a create body carries.
fn kind_from_names(node: &Node) -> Option<ResourceKind> {
    let has = |k: &str| node.get(k).is_some();
    Some(if has("gatewayRouteName") {
        ResourceKind::GatewayRoute
    } else if has("routeName") {
        ResourceKind::Route
    } else if has("virtualNodeName") {
        ResourceKind::VirtualNode
    } else if has("virtualServiceName") {
        ResourceKind::VirtualService
    } else if has("virtualGatewayName") {
        ResourceKind::VirtualGateway
    } else if has("virtualRouterName") {
        ResourceKind::VirtualRouter
    } else if has("meshName") && node.as_map().is_some_and(|m| m.len() <= 3) {
        ResourceKind::Mesh
    } else {
        return None;
    })
}

/// The kind of a spec-only body, from the spec's shape; the file name breaks the one tie the
/// shape leaves (listeners without discovery: a router or a gateway).
fn kind_from_spec(spec: &Node, stem: &str) -> Option<ResourceKind> {
    let has = |k: &str| spec.get(k).is_some();
    let route_kinds = ["httpRoute", "http2Route", "grpcRoute", "tcpRoute"];
    if let Some(r) = route_kinds.iter().find_map(|k| spec.get(k)) {
        let gateway = r.get("action").is_some_and(|a| a.get("target").is_some());
        return Some(if gateway {
            ResourceKind::GatewayRoute
        } else {
            ResourceKind::Route
        });
    }
    if has("provider") {
        return Some(ResourceKind::VirtualService);
    }
    if has("egressFilter")
        || spec.get("serviceDiscovery").is_some_and(|s| {
            s.get("ipPreference").is_some()
                && s.get("dns").is_none()
                && s.get("awsCloudMap").is_none()
        })
    {
        return Some(ResourceKind::Mesh);
    }
    if has("serviceDiscovery") || has("backends") {
        return Some(ResourceKind::VirtualNode);
    }
    if let Some(listeners) = spec.get("listeners").and_then(Node::as_seq) {
        let stem = stem.to_ascii_lowercase();
        let only_port_mappings = listeners.iter().all(|l| {
            l.as_map()
                .is_some_and(|m| m.iter().all(|(k, _)| k.name == "portMapping"))
        });
        let named = |words: &[&str]| words.iter().any(|w| stem.contains(w));
        return Some(if named(&["gateway", "-vg", "_vg"]) {
            ResourceKind::VirtualGateway
        } else if named(&["router", "-vr", "_vr"]) {
            ResourceKind::VirtualRouter
        } else if named(&["node", "-vn", "_vn"]) {
            ResourceKind::VirtualNode
        } else if only_port_mappings {
            ResourceKind::VirtualRouter
        } else if has("backendDefaults") || has("logging") {
            ResourceKind::VirtualGateway
        } else {
            ResourceKind::VirtualNode
        });
    }
    if has("backendDefaults") || has("logging") {
        return Some(ResourceKind::VirtualNode);
    }
    None
}
