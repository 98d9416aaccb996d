//! Loading: files in, meshes and diagnostics out.
//!
//! Every file is parsed before any is imported, because Kubernetes references and mesh
//! membership resolve across all files given in one call (a walkthrough's files together form
//! one mesh).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::decode::{self, Decoder, Field};
use super::diagnostic::{Diagnostic, Diagnostics, Severity, suggest};
use super::import::intrinsics::PSEUDO_PARAMETERS;
use super::import::kubernetes::{self, Manifest};
use super::import::{RawResource, Syntax, api_json, cloudformation, detect};
use super::model::*;
use super::placeholders::{Substitution, Vars};
use super::source::{FileId, Loc, Located, SourceFile, SourceMap};
use super::spelling::Spelling;
use super::tree::{Node, parse_documents};
use super::validate;

/// What the command line says about loading.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// `--var K=V`: shell-template placeholders.
    pub vars: Vars,
    /// `--param K=V`: CloudFormation parameters, pseudo parameters (`AWS::StackName`, ...) and
    /// `Fn::ImportValue` exports. A name nothing reads is not refused by the loader, which
    /// does not know where it was written: see [`LoadedConfig::unknown_params`].
    pub params: BTreeMap<String, String>,
    /// `--lenient`: accept real-world casing quirks with a warning.
    pub lenient: bool,
    /// `--partial`: the files are a fragment; references that resolve nowhere are warnings.
    pub partial: bool,
    /// `--mesh NAME`: the mesh of resources that do not name one.
    pub mesh: Option<String>,
}

/// What was found in one file.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The file.
    pub file: FileId,
    /// Its syntax (of its first document), if it parsed.
    pub syntax: Option<Syntax>,
    /// Resources decoded, by kind.
    pub counts: BTreeMap<ResourceKind, usize>,
    /// Documents or template resources that are not App Mesh resources.
    pub skipped: usize,
}

/// Everything a load produced.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The files, for showing diagnostics.
    pub sources: SourceMap,
    /// The meshes, by name.
    pub meshes: BTreeMap<String, Mesh>,
    /// All diagnostics, sorted by file and position.
    pub diagnostics: Diagnostics,
    /// One report per file, in the order given.
    pub files: Vec<FileReport>,
    /// The names `--param` can set besides the pseudo parameters: every template's
    /// Parameters and the exports it imports.
    pub parameters: BTreeSet<String>,
}

/// A `--param` name that nothing reads, whose value would otherwise be silently ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownParam {
    /// The name as given.
    pub name: String,
    /// What to do about it: the likely intended name, or the names there are.
    pub help: String,
}

impl UnknownParam {
    /// What is wrong, the same wherever the name was written.
    pub fn message(&self) -> String {
        format!(
            "`{}` is not a parameter of the templates, an export they import, or a pseudo \
             parameter; its value would be ignored",
            self.name
        )
    }
}

impl LoadedConfig {
    /// No errors anywhere.
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.has_errors()
    }

    /// The diagnostics of one file.
    pub fn diagnostics_of(&self, file: FileId) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(move |d| d.file == Some(file))
    }

    /// The names of `given` that no template declares or imports and that are not pseudo
    /// parameters, each with a did-you-mean or the names there are.
    pub fn unknown_params<'a>(
        &self,
        given: impl IntoIterator<Item = &'a String>,
    ) -> Vec<UnknownParam> {
        let known = || {
            self.parameters
                .iter()
                .map(String::as_str)
                .chain(PSEUDO_PARAMETERS)
        };
        given
            .into_iter()
            .filter(|name| !known().any(|k| k == name.as_str()))
            .map(|name| {
                let help = match suggest(name, known()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if self.parameters.is_empty() => format!(
                        "the files declare no parameters; the pseudo parameters are {}",
                        PSEUDO_PARAMETERS.join(", ")
                    ),
                    None => format!(
                        "the files take {}, and the pseudo parameters {}",
                        self.parameters
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .join(", "),
                        PSEUDO_PARAMETERS.join(", ")
                    ),
                };
                UnknownParam {
                    name: name.clone(),
                    help,
                }
            })
            .collect()
    }

    /// Whether one file has errors.
    pub fn file_has_errors(&self, file: FileId) -> bool {
        self.diagnostics_of(file)
            .any(|d| d.severity == Severity::Error)
    }
}

/// Loads files from disk. An unreadable file is a diagnostic, not a failure of the call.
pub fn load_paths<P: AsRef<Path>>(paths: &[P], opts: &LoadOptions) -> LoadedConfig {
    let mut sources = SourceMap::new();
    let mut unreadable = Vec::new();
    for p in paths {
        let p = p.as_ref();
        let name = p.display().to_string();
        match std::fs::read(p) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    sources.add(SourceFile::new(name, text));
                }
                Err(e) => {
                    let id = sources.add(SourceFile::new(name, ""));
                    unreadable.push((
                        id,
                        format!(
                            "file is not UTF-8 text (invalid byte at offset {})",
                            e.utf8_error().valid_up_to()
                        ),
                        None,
                    ));
                }
            },
            Err(e) => {
                let id = sources.add(SourceFile::new(name, ""));
                let help = super::paths::not_found_help(p, &e);
                unreadable.push((id, format!("cannot read file: {e}"), help));
            }
        }
    }
    let mut diags = Diagnostics::new();
    for (id, msg, help) in unreadable {
        diags
            .error("io", &Loc::new(id, Default::default(), ""), msg)
            .help = help;
    }
    load(sources, diags, opts)
}

/// Loads in-memory texts as `(name, text)` pairs (tests, fuzzing, embedding).
pub fn load_texts(files: &[(&str, &str)], opts: &LoadOptions) -> LoadedConfig {
    let mut sources = SourceMap::new();
    for (name, text) in files {
        sources.add(SourceFile::new(*name, *text));
    }
    load(sources, Diagnostics::new(), opts)
}

/// A parsed document waiting to be imported.
struct Doc {
    file: FileId,
    syntax: Syntax,
    node: Node,
    k8s_kind: Option<ResourceKind>,
}

fn load(sources: SourceMap, mut diags: Diagnostics, opts: &LoadOptions) -> LoadedConfig {
    let mut files: Vec<FileReport> = Vec::new();
    let mut docs = Vec::new();
    let mut index = kubernetes::Index::default();

    // Pass 1: parse, substitute placeholders, index Kubernetes names.
    for (id, file) in sources.iter() {
        let mut report = FileReport {
            file: id,
            syntax: None,
            counts: BTreeMap::new(),
            skipped: 0,
        };
        let (nodes, problems) = parse_documents(file);
        let parsed = problems.is_empty();
        for p in problems {
            diags.error("syntax", &Loc::new(id, p.span, ""), p.message);
        }
        // A file that was read but holds nothing is a mistake (a wrong path, a failed
        // export), not a valid empty mesh. An unreadable file has its own error already.
        let unread = diags.iter().any(|d| d.file == Some(id) && d.code == "io");
        if parsed && !unread && nodes.iter().all(Node::is_null) {
            diags.error(
                "empty",
                &Loc::new(id, Default::default(), ""),
                "the file is empty: it holds no YAML or JSON document",
            );
        }
        for mut node in nodes {
            if node.is_null() {
                continue;
            }
            let syntax = detect(&node);
            report.syntax.get_or_insert(syntax);
            let mut k8s_kind = None;
            match syntax {
                Syntax::Kubernetes => match kubernetes::classify(&node) {
                    Manifest::AppMesh(kind) => {
                        Substitution::new(&opts.vars, id).apply(&mut node, "", &mut diags);
                        index.add(kind, &node);
                        k8s_kind = Some(kind);
                    }
                    Manifest::BackendGroup => {
                        diags.warning(
                            "not-modelled",
                            &Loc::new(id, node.span, ""),
                            "BackendGroup is a controller feature with no App Mesh resource; skipped",
                        );
                        continue;
                    }
                    Manifest::Other => {
                        report.skipped += 1;
                        continue;
                    }
                    Manifest::Unsupported(field, msg) => {
                        let at = node.get(field).map_or(node.span, |n| n.span);
                        diags.error("unknown-kind", &Loc::new(id, at, field), msg);
                        continue;
                    }
                },
                Syntax::ApiJson => {
                    Substitution::new(&opts.vars, id).apply(&mut node, "", &mut diags)
                }
                // CloudFormation substitutes per resource, outside Fn::Sub.
                Syntax::CloudFormation => {}
            }
            docs.push(Doc {
                file: id,
                syntax,
                node,
                k8s_kind,
            });
        }
        files.push(report);
    }

    // Pass 2: import.
    let mut raws = Vec::new();
    let mut parameters = BTreeSet::new();
    for doc in &docs {
        let file = sources.get(doc.file);
        let stem = stem(file.name());
        match doc.syntax {
            Syntax::ApiJson => {
                raws.extend(api_json::import(&doc.node, doc.file, &stem, &mut diags))
            }
            Syntax::CloudFormation => {
                let cfn = cloudformation::CfnOptions {
                    vars: &opts.vars,
                    params: &opts.params,
                    lenient: opts.lenient,
                };
                let imported = cloudformation::import(&doc.node, doc.file, &stem, &cfn, &mut diags);
                raws.extend(imported.resources);
                files[doc.file.0].skipped += imported.skipped;
                parameters.extend(imported.parameters);
            }
            Syntax::Kubernetes => {
                if let Some(kind) = doc.k8s_kind {
                    raws.extend(kubernetes::import(
                        kind, &doc.node, doc.file, &index, &mut diags,
                    ));
                }
            }
        }
    }

    // Pass 3: decode and assemble meshes.
    let meshes = assemble(raws, opts, &sources, &mut files, &mut diags);

    // Input that parses but holds no App Mesh resource anywhere (only Deployments, say) has
    // nothing to validate, show or run: saying "ok" would hide a wrong file.
    if !diags.has_errors() && files.iter().all(|f| f.counts.is_empty()) {
        for f in &files {
            diags.error(
                "no-resources",
                &Loc::new(f.file, Default::default(), ""),
                format!(
                    "no App Mesh resources in this file{}",
                    match f.skipped {
                        0 => String::new(),
                        1 => " (1 other resource skipped)".to_string(),
                        n => format!(" ({n} other resources skipped)"),
                    }
                ),
            )
            .help = Some("App Mesh resources are `AWS::AppMesh::*` (CloudFormation), `appmesh.k8s.aws` kinds (Kubernetes) or API JSON bodies with `spec`".into());
        }
    }

    validate::references(&meshes, &mut diags);
    if opts.partial {
        diags.downgrade(validate::PARTIAL_CODES);
    }
    diags.sort();
    LoadedConfig {
        sources,
        meshes,
        diagnostics: diags,
        files,
        parameters,
    }
}

/// The file name without directories and extensions (`colorteller-vn.json` gives
/// `colorteller-vn`; `manifest.yaml.template` gives `manifest`).
fn stem(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.split('.').next().unwrap_or(base).to_string()
}

fn assemble(
    raws: Vec<RawResource>,
    opts: &LoadOptions,
    sources: &SourceMap,
    files: &mut [FileReport],
    diags: &mut Diagnostics,
) -> BTreeMap<String, Mesh> {
    // Resources that name no mesh join --mesh, else the only mesh the inputs name.
    let mut named: Vec<String> = raws
        .iter()
        .filter_map(|r| r.mesh.as_ref().map(|m| m.value.clone()))
        .collect();
    named.sort_unstable();
    named.dedup();
    let fallback = opts.mesh.clone().or_else(|| match named.as_slice() {
        [only] => Some(only.clone()),
        [] => Some("default".to_string()),
        _ => None,
    });

    let mut meshes: BTreeMap<String, Mesh> = BTreeMap::new();
    for raw in raws {
        let Some(mesh_name) = raw
            .mesh
            .as_ref()
            .map(|m| m.value.clone())
            .or_else(|| fallback.clone())
        else {
            diags
                .error(
                    "ambiguous-mesh",
                    &raw.at,
                    format!(
                        "this {} names no mesh, and the inputs name several: {}",
                        raw.kind,
                        named.join(", ")
                    ),
                )
                .help = Some("add `meshName`, or pass --mesh NAME".into());
            continue;
        };
        let Some(name) = raw.name.clone() else {
            continue;
        };
        if name.value.is_empty() || name.value.chars().count() > 255 {
            diags.error(
                "length",
                &name.at,
                format!("{} name must be 1 to 255 characters", raw.kind),
            );
            continue;
        }
        let mut d = Decoder {
            diags,
            file: raw.at.file.unwrap_or(FileId(0)),
            numeric_strings: raw.syntax == Syntax::CloudFormation,
            spelling: if raw.syntax == Syntax::CloudFormation {
                Spelling::CloudFormation
            } else {
                Spelling::Api
            },
            lenient: opts.lenient,
        };
        let spec = raw
            .spec
            .as_ref()
            .map(|(node, path)| Field::root(node, path.clone()));
        let mesh = meshes
            .entry(mesh_name.clone())
            .or_insert_with(|| Mesh::named(mesh_name.clone()));
        let at = Located::new((), raw.at.clone());
        let added = match raw.kind {
            ResourceKind::Mesh => {
                let spec = match &spec {
                    Some(f) => decode::mesh_spec(&mut d, f),
                    None => Some(MeshSpec::default()),
                };
                spec.map(|s| {
                    if mesh.declared {
                        duplicate(d.diags, raw.kind, &name, &mesh.name);
                        return false;
                    }
                    mesh.spec = s;
                    mesh.declared = true;
                    true
                })
            }
            ResourceKind::VirtualService => spec
                .and_then(|f| decode::virtual_service_spec(&mut d, &f))
                .map(|s| {
                    insert(
                        &mut mesh.virtual_services,
                        make(&name.value, s, &at),
                        &name,
                        d.diags,
                        sources,
                        raw.kind,
                    )
                }),
            ResourceKind::VirtualNode => spec
                .and_then(|f| decode::virtual_node_spec(&mut d, &f))
                .map(|s| {
                    insert(
                        &mut mesh.virtual_nodes,
                        make(&name.value, s, &at),
                        &name,
                        d.diags,
                        sources,
                        raw.kind,
                    )
                }),
            ResourceKind::VirtualRouter => spec
                .and_then(|f| decode::virtual_router_spec(&mut d, &f))
                .map(|s| {
                    insert(
                        &mut mesh.virtual_routers,
                        make(&name.value, s, &at),
                        &name,
                        d.diags,
                        sources,
                        raw.kind,
                    )
                }),
            ResourceKind::VirtualGateway => spec
                .and_then(|f| decode::virtual_gateway_spec(&mut d, &f))
                .map(|s| {
                    insert(
                        &mut mesh.virtual_gateways,
                        make(&name.value, s, &at),
                        &name,
                        d.diags,
                        sources,
                        raw.kind,
                    )
                }),
            ResourceKind::Route => spec.and_then(|f| decode::route_spec(&mut d, &f)).map(|s| {
                let router = parent(&raw, d.diags);
                let key = (router.value.clone(), name.value.clone());
                if let Some(first) = mesh.routes.get(&key) {
                    duplicate_of(d.diags, sources, raw.kind, &name, first.route.loc());
                    return false;
                }
                mesh.routes.insert(
                    key,
                    RouteResource {
                        virtual_router: router,
                        route: make(&name.value, s, &at),
                    },
                );
                true
            }),
            ResourceKind::GatewayRoute => spec
                .and_then(|f| decode::gateway_route_spec(&mut d, &f))
                .map(|s| {
                    let gateway = parent(&raw, d.diags);
                    let key = (gateway.value.clone(), name.value.clone());
                    if let Some(first) = mesh.gateway_routes.get(&key) {
                        duplicate_of(d.diags, sources, raw.kind, &name, first.route.loc());
                        return false;
                    }
                    mesh.gateway_routes.insert(
                        key,
                        GatewayRouteResource {
                            virtual_gateway: gateway,
                            route: make(&name.value, s, &at),
                        },
                    );
                    true
                }),
        };
        if added == Some(true)
            && let Some(file) = raw.at.file
        {
            *files[file.0].counts.entry(raw.kind).or_default() += 1;
        }
    }
    meshes
}

/// The router or gateway a route belongs to; a missing one is reported (a warning under
/// `--partial`, where spec-only route bodies are expected).
fn parent(raw: &RawResource, diags: &mut Diagnostics) -> Located<String> {
    match &raw.parent {
        Some(p) => p.clone(),
        None => {
            let owner = if raw.kind == ResourceKind::Route {
                "virtualRouterName"
            } else {
                "virtualGatewayName"
            };
            diags
                .error(
                    "missing-parent",
                    &raw.at,
                    format!("this {} does not say which {owner} it belongs to", raw.kind),
                )
                .help = Some(format!(
                "add `{owner}`, or pass --partial to validate a fragment"
            ));
            Located::synthetic(String::new())
        }
    }
}

fn insert<S>(
    map: &mut BTreeMap<String, Resource<S>>,
    r: Resource<S>,
    name: &Located<String>,
    diags: &mut Diagnostics,
    sources: &SourceMap,
    kind: ResourceKind,
) -> bool {
    if let Some(first) = map.get(&r.name) {
        duplicate_of(diags, sources, kind, name, first.loc());
        return false;
    }
    map.insert(r.name.clone(), r);
    true
}

fn duplicate(diags: &mut Diagnostics, kind: ResourceKind, name: &Located<String>, mesh: &str) {
    diags.error(
        "duplicate",
        &name.at,
        format!("{kind} `{}` of mesh `{mesh}` is defined twice", name.value),
    );
}

fn duplicate_of(
    diags: &mut Diagnostics,
    sources: &SourceMap,
    kind: ResourceKind,
    name: &Located<String>,
    first: &Loc,
) {
    diags.push(
        Diagnostic::new(
            Severity::Error,
            "duplicate",
            &name.at,
            format!("{kind} `{}` is defined twice", name.value),
        )
        .with_help(format!(
            "the first definition is at {}",
            position(sources, first)
        )),
    );
}

/// `file:line:col` of a location.
pub(crate) fn position(sources: &SourceMap, at: &Loc) -> String {
    match at.file {
        Some(f) => sources.position(f, at.span.start),
        None => "(generated)".to_string(),
    }
}

fn make<S>(name: &str, spec: S, at: &Located<()>) -> Resource<S> {
    Resource {
        name: name.to_string(),
        spec,
        at: at.clone(),
    }
}
