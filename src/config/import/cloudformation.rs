//! CloudFormation templates (`AWS::AppMesh::*` resources), YAML or JSON.
//!
//! Intrinsics are evaluated first (see [`super::intrinsics`]); then the spec's PascalCase
//! keys, with CloudFormation's irregular spellings (`DNS`, `TLS`, `AWSCloudMap`, `HTTP2`, ...),
//! are rewritten to the API's camelCase. A key CloudFormation would reject for its case
//! (`maxServerErrors` inside `OutlierDetection`, seen in a real walkthrough) is an error, or a
//! warning under `--lenient`.

use std::collections::{BTreeMap, BTreeSet};

use super::RawResource;
use super::intrinsics::{Context, Failed, Pseudo};
use crate::config::diagnostic::{Diagnostics, suggest};
use crate::config::model::ResourceKind;
use crate::config::placeholders::{Substitution, Vars};
use crate::config::source::{FileId, Loc, Located};
use crate::config::spelling::{api_key, cfn_key};
use crate::config::tree::{Key, Node, Value, join_index, join_key};

/// Options the CloudFormation importer takes from the command line.
pub(crate) struct CfnOptions<'a> {
    pub vars: &'a Vars,
    pub params: &'a BTreeMap<String, String>,
    pub lenient: bool,
}

/// The property that names a resource of an App Mesh type.
pub(crate) fn name_property(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "AWS::AppMesh::Mesh" => "MeshName",
        "AWS::AppMesh::VirtualService" => "VirtualServiceName",
        "AWS::AppMesh::VirtualNode" => "VirtualNodeName",
        "AWS::AppMesh::VirtualRouter" => "VirtualRouterName",
        "AWS::AppMesh::Route" => "RouteName",
        "AWS::AppMesh::VirtualGateway" => "VirtualGatewayName",
        "AWS::AppMesh::GatewayRoute" => "GatewayRouteName",
        _ => return None,
    })
}

fn kind_of(ty: &str) -> Option<ResourceKind> {
    Some(match ty {
        "AWS::AppMesh::Mesh" => ResourceKind::Mesh,
        "AWS::AppMesh::VirtualService" => ResourceKind::VirtualService,
        "AWS::AppMesh::VirtualNode" => ResourceKind::VirtualNode,
        "AWS::AppMesh::VirtualRouter" => ResourceKind::VirtualRouter,
        "AWS::AppMesh::Route" => ResourceKind::Route,
        "AWS::AppMesh::VirtualGateway" => ResourceKind::VirtualGateway,
        "AWS::AppMesh::GatewayRoute" => ResourceKind::GatewayRoute,
        _ => return None,
    })
}

/// What importing one template gave.
pub(crate) struct Imported {
    /// Its App Mesh resources.
    pub resources: Vec<RawResource>,
    /// How many other resources were skipped.
    pub skipped: usize,
    /// The names `--param` can set in it: its Parameters, and the exports it imports (named
    /// literally anywhere, or computed where an App Mesh resource asked for them).
    pub parameters: BTreeSet<String>,
}

/// Imports the App Mesh resources of a template.
pub(crate) fn import(
    doc: &Node,
    file: FileId,
    stem: &str,
    opts: &CfnOptions<'_>,
    diags: &mut Diagnostics,
) -> Imported {
    let mut parameters = BTreeSet::new();
    literal_imports(doc, &mut parameters);
    let (resources, skipped, imported) = resources(doc, file, stem, opts, diags);
    parameters.extend(imported);
    if let Some(params) = doc.get("Parameters").and_then(Node::as_map) {
        parameters.extend(params.iter().map(|(k, _)| k.name.clone()));
    }
    Imported {
        resources,
        skipped,
        parameters,
    }
}

/// The export names of every `Fn::ImportValue` whose argument is a literal.
fn literal_imports(node: &Node, out: &mut BTreeSet<String>) {
    let arg = match (node.tag.as_deref(), node.as_map()) {
        (Some("ImportValue"), _) => Some(node),
        (None, Some([(k, v)])) if k.name == "Fn::ImportValue" && v.tag.is_none() => Some(v),
        _ => None,
    };
    if let Some(name) = arg.and_then(Node::scalar_text) {
        out.insert(name.to_string());
        return;
    }
    match &node.value {
        Value::Scalar(..) => {}
        Value::Seq(items) => items.iter().for_each(|n| literal_imports(n, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| literal_imports(v, out)),
    }
}

/// The App Mesh resources, the count of others, and the exports their evaluation asked for.
fn resources(
    doc: &Node,
    file: FileId,
    stem: &str,
    opts: &CfnOptions<'_>,
    diags: &mut Diagnostics,
) -> (Vec<RawResource>, usize, BTreeSet<String>) {
    let mut ctx = Context::new(file, Pseudo::new(stem, opts.params));
    for (k, v) in opts.params {
        ctx.imports.insert(k.clone(), v.clone());
    }
    if let Some(params) = doc.get("Parameters").and_then(Node::as_map) {
        for (k, decl) in params {
            let value = match opts.params.get(&k.name) {
                Some(v) => Some(Node::string(v.clone(), k.span)),
                None => decl.get("Default").cloned(),
            };
            ctx.params.insert(k.name.clone(), value);
        }
    }
    if let Some(conds) = doc.get("Conditions").and_then(Node::as_map) {
        for (k, v) in conds {
            ctx.conditions.insert(k.name.clone(), v);
        }
    }
    ctx.mappings = doc.get("Mappings");
    let Some(resources) = doc.get("Resources").and_then(Node::as_map) else {
        diags.error(
            "missing-field",
            &Loc::new(file, doc.span, ""),
            "CloudFormation template has no `Resources` mapping",
        );
        return (Vec::new(), 0, BTreeSet::new());
    };
    for (k, r) in resources {
        let ty = r
            .get("Type")
            .and_then(Node::scalar_text)
            .unwrap_or_default()
            .to_string();
        ctx.resources
            .insert(k.name.clone(), (ty, r.get("Properties")));
    }

    let mut out = Vec::new();
    let mut skipped = 0;
    for (logical, r) in resources {
        let rpath = format!("Resources.{}", logical.written);
        let ty = r
            .get("Type")
            .and_then(Node::scalar_text)
            .unwrap_or_default();
        let Some(kind) = kind_of(ty) else {
            if ty.starts_with("AWS::AppMesh::") {
                diags.error(
                    "unknown-kind",
                    &Loc::new(file, r.span, join_key(&rpath, "Type")),
                    format!("`{ty}` is not an App Mesh resource type"),
                );
            } else {
                skipped += 1;
            }
            continue;
        };
        if let Some(cond) = r.get("Condition").and_then(Node::scalar_text) {
            let probe = Node::plain("", r.span);
            let test = Node {
                value: Value::Map(vec![(
                    Key {
                        name: "Condition".into(),
                        written: "Condition".into(),
                        span: r.span,
                    },
                    Node::plain(cond, r.span),
                )]),
                ..probe
            };
            match ctx.eval(&test, &rpath, diags) {
                Ok(Some(v)) if v.scalar_text() == Some("false") => continue,
                Ok(_) => {}
                Err(Failed) => continue,
            }
        }
        let Some(props) = r.get("Properties") else {
            diags.error(
                "missing-field",
                &Loc::new(file, logical.span, rpath.clone()),
                format!("{kind} `{}` has no Properties", logical.written),
            );
            continue;
        };
        let ppath = join_key(&rpath, "Properties");
        let mut props = props.clone();
        let mut sub = Substitution::new(opts.vars, file);
        sub.skip_key = Some("Fn::Sub");
        sub.skip_tag = Some("Sub");
        sub.apply(&mut props, &ppath, diags);
        let Ok(Some(props)) = ctx.eval(&props, &ppath, diags) else {
            continue;
        };
        if let Some(raw) = resource(kind, &logical.name, &props, file, &ppath, opts, diags) {
            out.push(raw);
        }
    }
    (out, skipped, ctx.imported)
}

/// One evaluated App Mesh resource's Properties.
fn resource(
    kind: ResourceKind,
    logical: &str,
    props: &Node,
    file: FileId,
    ppath: &str,
    opts: &CfnOptions<'_>,
    diags: &mut Diagnostics,
) -> Option<RawResource> {
    let name_prop = match kind {
        ResourceKind::Mesh => "MeshName",
        ResourceKind::VirtualService => "VirtualServiceName",
        ResourceKind::VirtualNode => "VirtualNodeName",
        ResourceKind::VirtualRouter => "VirtualRouterName",
        ResourceKind::Route => "RouteName",
        ResourceKind::VirtualGateway => "VirtualGatewayName",
        ResourceKind::GatewayRoute => "GatewayRouteName",
    };
    let parent_prop = match kind {
        ResourceKind::Route => Some("VirtualRouterName"),
        ResourceKind::GatewayRoute => Some("VirtualGatewayName"),
        _ => None,
    };
    let mut allowed = vec!["MeshName", "MeshOwner", "Spec", "Tags", name_prop];
    allowed.extend(parent_prop);
    let Some(entries) = props.as_map() else {
        diags.error(
            "type",
            &Loc::new(file, props.span, ppath),
            format!(
                "expected Properties (a mapping), found {}",
                props.describe()
            ),
        );
        return None;
    };
    for (k, _) in entries {
        if !allowed.contains(&k.name.as_str()) {
            diags
                .error(
                    "unknown-field",
                    &Loc::new(file, k.span, join_key(ppath, &k.written)),
                    format!("unknown property `{}` of AWS::AppMesh::{kind}", k.written),
                )
                .help =
                suggest(&k.name, allowed.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        }
    }
    let text_of = |key: &str, diags: &mut Diagnostics| -> Option<Located<String>> {
        let (k, v) = props.entry(key)?;
        let p = join_key(ppath, &k.written);
        match v.scalar_text() {
            Some(s) => Some(Located::new(s.to_string(), Loc::new(file, v.span, p))),
            None => {
                diags.error(
                    "type",
                    &Loc::new(file, v.span, p),
                    format!("expected a name (a string), found {}", v.describe()),
                );
                None
            }
        }
    };
    let mesh = text_of("MeshName", diags);
    if mesh.is_none() && props.get("MeshName").is_none() {
        diags.error(
            "missing-field",
            &Loc::new(file, props.span, ppath),
            format!("AWS::AppMesh::{kind} is missing required property `MeshName`"),
        );
    }
    // CloudFormation generates a name when the property is absent; the logical id stands in.
    let name = text_of(name_prop, diags).or_else(|| {
        Some(Located::new(
            logical.to_string(),
            Loc::new(file, props.span, ppath),
        ))
    });
    let parent = parent_prop.and_then(|p| {
        let v = text_of(p, diags);
        if v.is_none() && props.get(p).is_none() {
            diags.error(
                "missing-field",
                &Loc::new(file, props.span, ppath),
                format!("AWS::AppMesh::{kind} is missing required property `{p}`"),
            );
        }
        v
    });
    let spec = match props.entry("Spec") {
        Some((k, s)) => {
            let spath = join_key(ppath, &k.written);
            Some((to_api_spelling(s, file, &spath, opts.lenient, diags), spath))
        }
        None if kind == ResourceKind::Mesh => None,
        None => {
            diags.error(
                "missing-field",
                &Loc::new(file, props.span, ppath),
                format!("AWS::AppMesh::{kind} is missing required property `Spec`"),
            );
            return None;
        }
    };
    Some(RawResource {
        kind,
        name,
        mesh,
        parent,
        spec,
        at: Loc::new(file, props.span, ppath),
        syntax: super::Syntax::CloudFormation,
    })
}

/// Rewrites keys to the API's spelling, flagging keys CloudFormation would reject for case.
fn to_api_spelling(
    node: &Node,
    file: FileId,
    path: &str,
    lenient: bool,
    diags: &mut Diagnostics,
) -> Node {
    let value = match &node.value {
        Value::Scalar(..) => return node.clone(),
        Value::Seq(items) => Value::Seq(
            items
                .iter()
                .enumerate()
                .map(|(i, n)| to_api_spelling(n, file, &join_index(path, i), lenient, diags))
                .collect(),
        ),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| {
                    let kpath = join_key(path, &k.written);
                    let api = api_key(&k.name);
                    let expected = cfn_key(&api);
                    if expected != k.name {
                        let loc = Loc::new(file, k.span, kpath.clone());
                        let msg = format!("CloudFormation spells this key `{expected}`, not `{}`", k.written);
                        if lenient {
                            diags.warning("casing", &loc, format!("{msg} (accepted by --lenient)"));
                        } else {
                            diags.error("casing", &loc, msg).help = Some(format!(
                                "write `{expected}` (CloudFormation rejects other spellings), or pass --lenient"
                            ));
                        }
                    }
                    let key = Key {
                        name: api,
                        written: k.written.clone(),
                        span: k.span,
                    };
                    (key, to_api_spelling(v, file, &kpath, lenient, diags))
                })
                .collect(),
        ),
    };
    Node {
        value,
        span: node.span,
        tag: node.tag.clone(),
    }
}
