//! Istio's own configuration (`VirtualService`, `DestinationRule`; YAML) read into the engine's
//! input.
//!
//! The engine compiles `config::Mesh`, App Mesh's model, so an Istio file becomes App Mesh
//! resources: each `VirtualService` a virtual router (named after it) with a virtual service
//! per host; each `http[]` entry one route per `match[]` entry (Istio ORs them; an App Mesh
//! route has one match), with priorities in list order, so the engine tries them as Istio does;
//! each destination (host, subset) a virtual node, found through Cloud Map by the subset's
//! labels; a `DestinationRule`'s outlier detection and connection pool the node listener's.
//! Istio semantics the model cannot carry are diagnostics at the field: an error when the
//! simulation would be wrong about it (`fault`, `mirror`, `ignoreUriCase`, query prefix/regex),
//! a warning when it is simulated approximately (bare status codes in `retryOn`, load balancers
//! other than round robin), a note where an Istio default is mapped (no `timeout`: none, as
//! Istio; no `retries`: Istio's mesh default, simulated as App Mesh's hidden default, which
//! differs in retrying resets instead of cancelled).
//!
//! Files are read with the project's spanned YAML tree (`config::tree`), so every diagnostic
//! has file, line, column and field path; unknown fields are named, with a suggestion.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::model::{
    ConnectionPool, GrpcRetryEvent, HeaderMatch, HttpMethod, HttpRetryEvent, HttpRoute,
    HttpRouteMatch, Listener, OutlierDetection, PathMatch, PortMapping, Protocol, Provider,
    QueryParameterMatch, Resource, RetryPolicy, RouteKind, RouteResource, RouteSpec, Scheme,
    ServiceDiscovery, TcpRetryEvent, TcpRoute, Timeouts, ValueMatch, VirtualNodeSpec,
    VirtualRouterSpec, VirtualServiceSpec, WeightedTarget,
};
use crate::config::tree::{self, Node, PlainType, Value, join_index, join_key, parse_documents};
use crate::config::{Diagnostics, FileId, Loc, Located, Mesh, SourceFile, SourceMap};

/// Istio files loaded into App Mesh's model.
#[derive(Debug)]
pub struct IstioLoaded {
    /// The files read.
    pub sources: SourceMap,
    /// Problems, with file, span and field path.
    pub diagnostics: Diagnostics,
    /// The mesh the engine compiles; complete only when `diagnostics` has no errors.
    pub mesh: Mesh,
}

impl IstioLoaded {
    /// Whether the mesh can be simulated.
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.has_errors()
    }
}

/// The port a destination or route listens on when the file names none.
const DEFAULT_PORT: u16 = 80;

/// A destination, read.
#[derive(Clone, Debug)]
struct Dest {
    host: String,
    subset: Option<String>,
    port: Option<u16>,
    weight: Option<u32>,
    at: Loc,
}

/// A `DestinationRule` traffic policy, read.
#[derive(Clone, Debug, Default)]
struct Policy {
    outlier: Option<OutlierDetection>,
    pool: Option<ConnectionPool>,
}

/// Reads `VirtualService` and `DestinationRule` documents into mesh `mesh_name`.
pub fn load_istio(files: &[(&str, &str)], mesh_name: &str) -> IstioLoaded {
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let mut reader = Reader::default();
    for (name, text) in files {
        let file = SourceFile::new(*name, *text);
        let (docs, problems) = parse_documents(&file);
        let id = sources.add(file);
        for p in problems {
            diags.error("syntax", &Loc::new(id, p.span, ""), p.message);
        }
        for (i, doc) in docs.iter().enumerate() {
            let mut cx = Cx {
                file: id,
                diags: &mut diags,
            };
            let path = if docs.len() > 1 {
                format!("[document {}]", i + 1)
            } else {
                String::new()
            };
            reader.document(&mut cx, doc, &path);
        }
    }
    let mesh = reader.build(mesh_name, &mut diags);
    diags.sort();
    IstioLoaded {
        sources,
        diagnostics: diags,
        mesh,
    }
}

/// One file's diagnostics sink.
struct Cx<'a> {
    file: FileId,
    diags: &'a mut Diagnostics,
}

impl Cx<'_> {
    fn loc(&self, node: &Node, path: &str) -> Loc {
        tree::loc(self.file, node, path)
    }

    fn error(&mut self, node: &Node, path: &str, code: &'static str, message: String) {
        let at = self.loc(node, path);
        self.diags.error(code, &at, message);
    }

    /// A mapping whose keys are all in `fields`; keys in `unsupported` are Istio's but
    /// outside what the simulation models; any other key is unknown.
    fn map<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        fields: &[&str],
        unsupported: &[&str],
    ) -> Option<&'n [(tree::Key, Node)]> {
        let Some(entries) = node.as_map() else {
            self.error(
                node,
                path,
                "type",
                format!("expected a mapping, found {}", node.describe()),
            );
            return None;
        };
        for (k, _) in entries {
            if fields.contains(&k.name.as_str()) {
                continue;
            }
            let at = Loc::new(self.file, k.span, join_key(path, &k.written));
            if unsupported.contains(&k.name.as_str()) {
                self.diags.error(
                    "unsupported",
                    &at,
                    format!(
                        "`{}` is Istio configuration meshsim does not simulate yet; remove it to rehearse the rest",
                        k.written
                    ),
                );
            } else {
                let d = self.diags.error(
                    "unknown-field",
                    &at,
                    format!("unknown field `{}`", k.written),
                );
                let help = match crate::config::diagnostic::suggest(&k.name, fields.iter().copied())
                {
                    Some(s) => {
                        format!("did you mean `{s}`? expected one of: {}", fields.join(", "))
                    }
                    None => format!("expected one of: {}", fields.join(", ")),
                };
                d.help = Some(help);
            }
        }
        Some(entries)
    }

    fn seq<'n>(&mut self, node: &'n Node, path: &str) -> &'n [Node] {
        match node.as_seq() {
            Some(s) => s,
            None => {
                self.error(
                    node,
                    path,
                    "type",
                    format!("expected a list, found {}", node.describe()),
                );
                &[]
            }
        }
    }

    fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.value {
            Value::Scalar(s, _) if !node.is_null() => Some(s.clone()),
            _ => {
                self.error(
                    node,
                    path,
                    "type",
                    format!("expected a string, found {}", node.describe()),
                );
                None
            }
        }
    }

    fn uint(&mut self, node: &Node, path: &str, max: u64) -> Option<u64> {
        let n = match &node.value {
            Value::Scalar(s, tree::Style::Plain) if tree::plain_type(s) == PlainType::Int => {
                tree::parse_int(s)
            }
            _ => None,
        };
        match n.and_then(|n| u64::try_from(n).ok()).filter(|n| *n <= max) {
            Some(n) => Some(n),
            None => {
                self.error(
                    node,
                    path,
                    "type",
                    format!(
                        "expected a whole number from 0 to {max}, found {}",
                        node.scalar_text().unwrap_or(node.describe())
                    ),
                );
                None
            }
        }
    }

    /// A protobuf duration as Istio writes it: `15s`, `0.5s`, `250ms`, `1m`, `1h`.
    fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = node.scalar_text().unwrap_or_default();
        let parsed = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
            .iter()
            .find_map(|(unit, scale)| {
                let number = text.strip_suffix(unit)?;
                // `ms` ends in `s` too: `250ms` must not read as `250m` seconds.
                if *unit == "s" && number.ends_with('m') {
                    return None;
                }
                let n: f64 = number.parse().ok()?;
                (n.is_finite() && n >= 0.0).then(|| Duration::from_secs_f64(n * scale))
            });
        if parsed.is_none() {
            self.error(
                node,
                path,
                "duration",
                format!("expected a duration such as `15s`, `250ms` or `1m`, found `{text}`"),
            );
        }
        parsed
    }
}

/// Everything read so far, across files.
#[derive(Default)]
struct Reader {
    /// Router (VirtualService name) → (hosts, http routes, tcp routes, where).
    services: BTreeMap<String, ServiceIn>,
    /// Host → (policy, subset name → (labels, subset policy)).
    rules: BTreeMap<String, RuleIn>,
}

struct ServiceIn {
    hosts: Vec<String>,
    routes: Vec<RouteIn>,
    at: Loc,
}

struct RouteIn {
    name: String,
    matcher: Option<HttpRouteMatch>,
    tcp: bool,
    dests: Vec<Dest>,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
    at: Loc,
}

/// A subset: its labels and its own traffic policy.
type SubsetIn = (Vec<(String, String)>, Option<Policy>);

#[derive(Default)]
struct RuleIn {
    policy: Policy,
    subsets: BTreeMap<String, SubsetIn>,
}

const HTTP_ROUTE_UNSUPPORTED: &[&str] = &[
    "mirror",
    "mirrorPercentage",
    "mirrors",
    "mirror_percent",
    "fault",
    "rewrite",
    "redirect",
    "directResponse",
    "delegate",
    "headers",
    "corsPolicy",
];

impl Reader {
    fn document(&mut self, cx: &mut Cx<'_>, doc: &Node, path: &str) {
        if doc.is_null() {
            return;
        }
        let Some(_) = cx.map(doc, path, &["apiVersion", "kind", "metadata", "spec"], &[]) else {
            return;
        };
        let api = doc.get("apiVersion").and_then(Node::as_str).unwrap_or("");
        if !matches!(
            api,
            "networking.istio.io/v1"
                | "networking.istio.io/v1beta1"
                | "networking.istio.io/v1alpha3"
        ) {
            let at = doc.get("apiVersion").unwrap_or(doc);
            cx.error(
                at,
                &join_key(path, "apiVersion"),
                "api-version",
                format!("expected networking.istio.io/v1 (or v1beta1, v1alpha3), found `{api}`"),
            );
            return;
        }
        let name = doc
            .get("metadata")
            .and_then(|m| {
                cx.map(
                    m,
                    &join_key(path, "metadata"),
                    &["name", "namespace", "labels", "annotations"],
                    &[],
                )?;
                m.get("name")
            })
            .and_then(Node::as_str)
            .map(str::to_string);
        let Some(name) = name else {
            cx.error(
                doc,
                &join_key(path, "metadata.name"),
                "missing",
                "`metadata.name` is required".into(),
            );
            return;
        };
        let Some(spec) = doc.get("spec") else {
            cx.error(
                doc,
                &join_key(path, "spec"),
                "missing",
                "`spec` is required".into(),
            );
            return;
        };
        let spec_path = join_key(path, "spec");
        match doc.get("kind").and_then(Node::as_str) {
            Some("VirtualService") => self.virtual_service(cx, &name, spec, &spec_path, doc),
            Some("DestinationRule") => self.destination_rule(cx, spec, &spec_path),
            other => {
                let at = doc.get("kind").unwrap_or(doc);
                cx.error(
                    at,
                    &join_key(path, "kind"),
                    "kind",
                    format!(
                        "expected VirtualService or DestinationRule, found `{}`",
                        other.unwrap_or("")
                    ),
                );
            }
        }
    }

    fn virtual_service(
        &mut self,
        cx: &mut Cx<'_>,
        name: &str,
        spec: &Node,
        path: &str,
        doc: &Node,
    ) {
        if cx
            .map(
                spec,
                path,
                &["hosts", "http", "tcp", "exportTo"],
                &["gateways", "tls"],
            )
            .is_none()
        {
            return;
        }
        let hosts: Vec<String> = spec
            .get("hosts")
            .map(|h| {
                let hp = join_key(path, "hosts");
                cx.seq(h, &hp)
                    .iter()
                    .enumerate()
                    .filter_map(|(i, n)| cx.string(n, &join_index(&hp, i)))
                    .collect()
            })
            .unwrap_or_default();
        if hosts.is_empty() {
            cx.error(
                spec,
                &join_key(path, "hosts"),
                "missing",
                "a VirtualService needs at least one host".into(),
            );
        }
        let mut routes = Vec::new();
        if let Some(http) = spec.get("http") {
            let hp = join_key(path, "http");
            for (i, r) in cx.seq(http, &hp).iter().enumerate() {
                self.http_route(cx, r, &join_index(&hp, i), i, &mut routes);
            }
        }
        if let Some(tcp) = spec.get("tcp") {
            let tp = join_key(path, "tcp");
            for (i, r) in cx.seq(tcp, &tp).iter().enumerate() {
                let p = join_index(&tp, i);
                if cx.map(r, &p, &["match", "route"], &[]).is_none() {
                    continue;
                }
                let dests = r
                    .get("route")
                    .map(|d| destinations(cx, d, &join_key(&p, "route")))
                    .unwrap_or_default();
                routes.push(RouteIn {
                    name: format!("tcp-{i}"),
                    matcher: None,
                    tcp: true,
                    dests,
                    retry: None,
                    timeout: None,
                    at: cx.loc(r, &p),
                });
            }
        }
        if self.services.contains_key(name) {
            cx.error(
                doc,
                &join_key(path, "metadata.name"),
                "duplicate",
                format!("a second VirtualService named `{name}`"),
            );
            return;
        }
        self.services.insert(
            name.to_string(),
            ServiceIn {
                hosts,
                routes,
                at: cx.loc(doc, path),
            },
        );
    }

    fn http_route(&mut self, cx: &mut Cx<'_>, r: &Node, p: &str, i: usize, out: &mut Vec<RouteIn>) {
        if cx
            .map(
                r,
                p,
                &["name", "match", "route", "timeout", "retries"],
                HTTP_ROUTE_UNSUPPORTED,
            )
            .is_none()
        {
            return;
        }
        let name = r
            .get("name")
            .and_then(|n| cx.string(n, &join_key(p, "name")))
            .unwrap_or_else(|| format!("http-{i}"));
        let dests = r
            .get("route")
            .map(|d| destinations(cx, d, &join_key(p, "route")))
            .unwrap_or_default();
        if dests.is_empty() {
            cx.error(
                r,
                &join_key(p, "route"),
                "missing",
                "an http route needs at least one destination".into(),
            );
        }
        let timeout = r
            .get("timeout")
            .and_then(|t| cx.duration(t, &join_key(p, "timeout")));
        if timeout.is_none() && r.get("timeout").is_none() {
            let at = cx.loc(r, p);
            cx.diags.note(
                "istio-default",
                &at,
                format!("route `{name}` has no `timeout`: Istio's default is none, simulated as none (App Mesh's would be 15 s)"),
            );
        }
        let retry = match r.get("retries") {
            Some(n) => retries(cx, n, &join_key(p, "retries")),
            None => {
                let at = cx.loc(r, p);
                cx.diags.note(
                    "istio-default",
                    &at,
                    format!("route `{name}` has no `retries`: Istio's mesh default (2 retries on 503, connect-failure, refused-stream, unavailable, cancelled; istio#58086) is simulated as App Mesh's hidden default, which retries resets instead of cancelled"),
                );
                None
            }
        };
        let matches: Vec<Option<HttpRouteMatch>> = match r.get("match") {
            None => vec![None],
            Some(m) => {
                let mp = join_key(p, "match");
                cx.seq(m, &mp)
                    .iter()
                    .enumerate()
                    .map(|(j, m)| http_match(cx, m, &join_index(&mp, j)))
                    .collect()
            }
        };
        let several = matches.len() > 1;
        for (j, matcher) in matches.into_iter().enumerate() {
            out.push(RouteIn {
                name: if several {
                    format!("{name}-{j}")
                } else {
                    name.clone()
                },
                matcher,
                tcp: false,
                dests: dests.clone(),
                retry: retry.clone(),
                timeout,
                at: cx.loc(r, p),
            });
        }
    }

    fn destination_rule(&mut self, cx: &mut Cx<'_>, spec: &Node, path: &str) {
        if cx
            .map(
                spec,
                path,
                &["host", "trafficPolicy", "subsets", "exportTo"],
                &["workloadSelector"],
            )
            .is_none()
        {
            return;
        }
        let Some(host) = spec
            .get("host")
            .and_then(|h| cx.string(h, &join_key(path, "host")))
        else {
            cx.error(
                spec,
                &join_key(path, "host"),
                "missing",
                "a DestinationRule needs `host`".into(),
            );
            return;
        };
        let rule = self.rules.entry(host).or_default();
        if let Some(tp) = spec.get("trafficPolicy") {
            rule.policy = traffic_policy(cx, tp, &join_key(path, "trafficPolicy"));
        } else {
            let at = cx.loc(spec, path);
            cx.diags.note("istio-default", &at, "no `trafficPolicy.loadBalancer`: Istio's default is LEAST_REQUEST; the engine balances round robin (App Mesh's only algorithm)".to_string());
        }
        if let Some(subsets) = spec.get("subsets") {
            let sp = join_key(path, "subsets");
            for (i, s) in cx.seq(subsets, &sp).iter().enumerate() {
                let p = join_index(&sp, i);
                if cx
                    .map(s, &p, &["name", "labels", "trafficPolicy"], &[])
                    .is_none()
                {
                    continue;
                }
                let Some(name) = s
                    .get("name")
                    .and_then(|n| cx.string(n, &join_key(&p, "name")))
                else {
                    cx.error(
                        s,
                        &join_key(&p, "name"),
                        "missing",
                        "a subset needs `name`".into(),
                    );
                    continue;
                };
                let mut labels = Vec::new();
                if let Some(l) = s.get("labels") {
                    let lp = join_key(&p, "labels");
                    if let Some(entries) = l.as_map() {
                        for (k, v) in entries {
                            if let Some(v) = cx.string(v, &join_key(&lp, &k.written)) {
                                labels.push((k.name.clone(), v));
                            }
                        }
                    } else {
                        cx.error(
                            l,
                            &lp,
                            "type",
                            format!("expected a mapping, found {}", l.describe()),
                        );
                    }
                }
                let policy = s
                    .get("trafficPolicy")
                    .map(|tp| traffic_policy(cx, tp, &join_key(&p, "trafficPolicy")));
                rule.subsets.insert(name, (labels, policy));
            }
        }
    }

    /// The node name of a destination: the subset's name when no other host uses it, else
    /// `<host's first label>-<subset>`; the host's first label without a subset.
    fn node_name(&self, host: &str, subset: Option<&str>) -> String {
        let short = host.split('.').next().unwrap_or(host);
        match subset {
            None => short.to_string(),
            Some(s) => {
                let elsewhere = self
                    .rules
                    .iter()
                    .any(|(h, r)| h != host && r.subsets.contains_key(s));
                if elsewhere || s == short {
                    format!("{short}-{s}")
                } else {
                    s.to_string()
                }
            }
        }
    }

    fn build(self, mesh_name: &str, diags: &mut Diagnostics) -> Mesh {
        let mut mesh = Mesh::named(mesh_name);
        // Nodes: every destination, and every subset of a rule.
        let mut nodes: BTreeMap<String, (String, Option<String>, u16, Protocol)> = BTreeMap::new();
        for svc in self.services.values() {
            for r in &svc.routes {
                for d in &r.dests {
                    let name = self.node_name(&d.host, d.subset.as_deref());
                    let protocol = if r.tcp { Protocol::Tcp } else { Protocol::Http };
                    if let Some(subset) = &d.subset
                        && !self
                            .rules
                            .get(&d.host)
                            .is_some_and(|rule| rule.subsets.contains_key(subset))
                    {
                        diags.error(
                            "dangling-reference",
                            &d.at,
                            format!(
                                "subset `{subset}` of `{}` is defined by no DestinationRule",
                                d.host
                            ),
                        );
                    }
                    nodes.entry(name).or_insert((
                        d.host.clone(),
                        d.subset.clone(),
                        d.port.unwrap_or(DEFAULT_PORT),
                        protocol,
                    ));
                }
            }
        }
        for (host, rule) in &self.rules {
            for subset in rule.subsets.keys() {
                let name = self.node_name(host, Some(subset));
                nodes.entry(name).or_insert((
                    host.clone(),
                    Some(subset.clone()),
                    DEFAULT_PORT,
                    Protocol::Http,
                ));
            }
        }
        for (name, (host, subset, port, protocol)) in nodes {
            let rule = self.rules.get(&host);
            let subset_in = subset
                .as_ref()
                .and_then(|s| rule.and_then(|r| r.subsets.get(s)));
            let policy = subset_in
                .and_then(|(_, p)| p.clone())
                .or_else(|| rule.map(|r| r.policy.clone()))
                .unwrap_or_default();
            let (service_name, namespace) = host.split_once('.').unwrap_or((&host, ""));
            let discovery = match subset_in {
                Some((labels, _)) => ServiceDiscovery::CloudMap {
                    namespace_name: namespace.to_string(),
                    service_name: service_name.to_string(),
                    attributes: labels.clone(),
                    ip_preference: None,
                },
                None => ServiceDiscovery::Dns {
                    hostname: host.clone(),
                    response_type: Some(crate::config::model::DnsResponseType::Endpoints),
                    ip_preference: None,
                },
            };
            let spec = VirtualNodeSpec {
                listeners: vec![Listener {
                    port_mapping: PortMapping { port, protocol },
                    health_check: None,
                    outlier_detection: policy.outlier,
                    connection_pool: policy.pool,
                    timeout: None,
                    tls: None,
                }],
                service_discovery: Some(discovery),
                ..VirtualNodeSpec::default()
            };
            mesh.virtual_nodes.insert(
                name.clone(),
                Resource {
                    name,
                    spec,
                    at: Located::synthetic(()),
                },
            );
        }
        for (router, svc) in &self.services {
            let ports: Vec<PortMapping> = {
                let mut seen: BTreeMap<u16, Protocol> = BTreeMap::new();
                for r in &svc.routes {
                    let port = r
                        .matcher
                        .as_ref()
                        .and_then(|m| m.port.as_ref().map(|p| p.value))
                        .or_else(|| r.dests.first().and_then(|d| d.port))
                        .unwrap_or(DEFAULT_PORT);
                    seen.entry(port)
                        .or_insert(if r.tcp { Protocol::Tcp } else { Protocol::Http });
                }
                seen.into_iter()
                    .map(|(port, protocol)| PortMapping { port, protocol })
                    .collect()
            };
            mesh.virtual_routers.insert(
                router.clone(),
                Resource {
                    name: router.clone(),
                    spec: VirtualRouterSpec { listeners: ports },
                    at: Located::new((), svc.at.clone()),
                },
            );
            for host in &svc.hosts {
                if mesh.virtual_services.contains_key(host) {
                    diags.error(
                        "duplicate",
                        &svc.at,
                        format!("host `{host}` is served by two VirtualServices"),
                    );
                    continue;
                }
                mesh.virtual_services.insert(
                    host.clone(),
                    Resource {
                        name: host.clone(),
                        spec: VirtualServiceSpec {
                            provider: Some(Provider::VirtualRouter(Located::synthetic(
                                router.clone(),
                            ))),
                        },
                        at: Located::new((), svc.at.clone()),
                    },
                );
            }
            let single_port = mesh.virtual_routers[router].spec.listeners.len() == 1;
            for (priority, r) in svc.routes.iter().enumerate() {
                let single = r.dests.len() == 1;
                let targets = r
                    .dests
                    .iter()
                    .map(|d| WeightedTarget {
                        virtual_node: Located::new(
                            self.node_name(&d.host, d.subset.as_deref()),
                            d.at.clone(),
                        ),
                        // Istio: a lone destination takes all traffic; otherwise an unset
                        // weight is 0.
                        weight: d.weight.unwrap_or(if single { 100 } else { 0 }),
                        port: d.port,
                    })
                    .collect();
                let kind = if r.tcp {
                    RouteKind::Tcp(TcpRoute {
                        match_port: None,
                        targets,
                        timeout: None,
                    })
                } else {
                    let mut matcher = r.matcher.clone().unwrap_or_default();
                    if matcher.prefix.is_none() && matcher.path.is_none() {
                        matcher.prefix = Some("/".to_string());
                    }
                    if single_port {
                        matcher.port = None;
                    }
                    RouteKind::Http(HttpRoute {
                        matcher,
                        targets,
                        retry_policy: r.retry.clone(),
                        // No `timeout` in Istio is no timeout: App Mesh's 0.
                        timeout: Some(Timeouts {
                            per_request: Some(r.timeout.unwrap_or(Duration::ZERO)),
                            idle: None,
                        }),
                    })
                };
                mesh.routes.insert(
                    (router.clone(), r.name.clone()),
                    RouteResource {
                        virtual_router: Located::synthetic(router.clone()),
                        route: Resource {
                            name: r.name.clone(),
                            spec: RouteSpec {
                                priority: u32::try_from(priority).ok(),
                                kind,
                            },
                            at: Located::new((), r.at.clone()),
                        },
                    },
                );
            }
        }
        mesh
    }
}

fn destinations(cx: &mut Cx<'_>, node: &Node, path: &str) -> Vec<Dest> {
    let mut out = Vec::new();
    for (i, d) in cx.seq(node, path).iter().enumerate() {
        let p = join_index(path, i);
        if cx
            .map(d, &p, &["destination", "weight"], &["headers"])
            .is_none()
        {
            continue;
        }
        let weight = d
            .get("weight")
            .and_then(|w| cx.uint(w, &join_key(&p, "weight"), u64::from(u32::MAX)))
            .and_then(|w| u32::try_from(w).ok());
        let Some(dest) = d.get("destination") else {
            cx.error(
                d,
                &join_key(&p, "destination"),
                "missing",
                "`destination` is required".into(),
            );
            continue;
        };
        let dp = join_key(&p, "destination");
        if cx
            .map(dest, &dp, &["host", "subset", "port"], &[])
            .is_none()
        {
            continue;
        }
        let Some(host) = dest
            .get("host")
            .and_then(|h| cx.string(h, &join_key(&dp, "host")))
        else {
            cx.error(
                dest,
                &join_key(&dp, "host"),
                "missing",
                "`destination.host` is required".into(),
            );
            continue;
        };
        let subset = dest
            .get("subset")
            .and_then(|s| cx.string(s, &join_key(&dp, "subset")));
        let port = dest.get("port").and_then(|pn| {
            let pp = join_key(&dp, "port");
            cx.map(pn, &pp, &["number"], &[])?;
            let n = pn.get("number")?;
            cx.uint(n, &join_key(&pp, "number"), 65535)
                .and_then(|n| u16::try_from(n).ok())
        });
        out.push(Dest {
            host,
            subset,
            port,
            weight,
            at: cx.loc(dest, &dp),
        });
    }
    out
}

/// A `StringMatch` (`exact`, `prefix` or `regex`).
fn string_match(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<ValueMatch> {
    let entries = cx.map(node, path, &["exact", "prefix", "regex"], &[])?;
    if entries.len() != 1 {
        cx.error(
            node,
            path,
            "one-of",
            "set exactly one of `exact`, `prefix`, `regex`".into(),
        );
        return None;
    }
    let (k, v) = &entries[0];
    let text = cx.string(v, &join_key(path, &k.written))?;
    Some(match k.name.as_str() {
        "exact" => ValueMatch::Exact(text),
        "prefix" => ValueMatch::Prefix(text),
        _ => ValueMatch::Regex(text),
    })
}

fn http_match(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<HttpRouteMatch> {
    cx.map(
        node,
        path,
        &[
            "name",
            "uri",
            "method",
            "headers",
            "withoutHeaders",
            "queryParams",
            "port",
            "scheme",
        ],
        &[
            "authority",
            "ignoreUriCase",
            "sourceLabels",
            "gateways",
            "sourceNamespace",
            "statPrefix",
        ],
    )?;
    let mut m = HttpRouteMatch::default();
    if let Some(uri) = node.get("uri") {
        match string_match(cx, uri, &join_key(path, "uri"))? {
            ValueMatch::Exact(p) => m.path = Some(PathMatch::Exact(p)),
            ValueMatch::Prefix(p) => m.prefix = Some(p),
            ValueMatch::Regex(p) => m.path = Some(PathMatch::Regex(p)),
            _ => {}
        }
    }
    if let Some(method) = node.get("method") {
        let mp = join_key(path, "method");
        match string_match(cx, method, &mp) {
            Some(ValueMatch::Exact(s)) => match HttpMethod::parse(&s) {
                Some(h) => m.method = Some(h),
                None => cx.error(
                    method,
                    &mp,
                    "enum",
                    format!("`{s}` is not a method App Mesh's engine matches"),
                ),
            },
            Some(_) => cx.error(
                method,
                &mp,
                "unsupported",
                "only an exact method is simulated".into(),
            ),
            None => {}
        }
    }
    if let Some(scheme) = node.get("scheme") {
        let sp = join_key(path, "scheme");
        match string_match(cx, scheme, &sp) {
            Some(ValueMatch::Exact(s)) if s == "http" => m.scheme = Some(Scheme::Http),
            Some(ValueMatch::Exact(s)) if s == "https" => m.scheme = Some(Scheme::Https),
            Some(_) => cx.error(
                scheme,
                &sp,
                "unsupported",
                "only `exact: http` or `exact: https` is simulated".into(),
            ),
            None => {}
        }
    }
    for (field, invert) in [("headers", false), ("withoutHeaders", true)] {
        let Some(h) = node.get(field) else { continue };
        let hp = join_key(path, field);
        let Some(entries) = h.as_map() else {
            cx.error(
                h,
                &hp,
                "type",
                format!("expected a mapping, found {}", h.describe()),
            );
            continue;
        };
        for (k, v) in entries {
            let vp = join_key(&hp, &k.written);
            // `regex: ".*"` is how a presence match is written.
            let value = match string_match(cx, v, &vp) {
                Some(ValueMatch::Regex(r)) if r == ".*" => None,
                Some(other) => Some(other),
                None => continue,
            };
            m.headers.push(HeaderMatch {
                name: k.name.to_ascii_lowercase(),
                invert,
                value,
            });
        }
    }
    if let Some(q) = node.get("queryParams") {
        let qp = join_key(path, "queryParams");
        if let Some(entries) = q.as_map() {
            for (k, v) in entries {
                let vp = join_key(&qp, &k.written);
                match string_match(cx, v, &vp) {
                    Some(ValueMatch::Exact(e)) => m.query_parameters.push(QueryParameterMatch {
                        name: k.name.clone(),
                        exact: Some(e),
                    }),
                    Some(ValueMatch::Regex(r)) if r == ".*" => m.query_parameters.push(QueryParameterMatch {
                        name: k.name.clone(),
                        exact: None,
                    }),
                    Some(_) => cx.error(
                        v,
                        &vp,
                        "unsupported",
                        "the engine matches query parameters exactly or by presence (`regex: \".*\"`) only".into(),
                    ),
                    None => {}
                }
            }
        } else {
            cx.error(
                q,
                &qp,
                "type",
                format!("expected a mapping, found {}", q.describe()),
            );
        }
    }
    if let Some(port) = node.get("port") {
        let pp = join_key(path, "port");
        if let Some(n) = cx
            .uint(port, &pp, 65535)
            .and_then(|n| u16::try_from(n).ok())
        {
            m.port = Some(Located::new(n, cx.loc(port, &pp)));
        }
    }
    Some(m)
}

fn retries(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<RetryPolicy> {
    cx.map(
        node,
        path,
        &["attempts", "perTryTimeout", "retryOn"],
        &[
            "retryRemoteLocalities",
            "retryIgnorePreviousHosts",
            "backoff",
        ],
    )?;
    let attempts = node
        .get("attempts")
        .and_then(|a| cx.uint(a, &join_key(path, "attempts"), u64::from(u32::MAX)))
        .and_then(|a| u32::try_from(a).ok())
        .unwrap_or(0);
    let per_try = node
        .get("perTryTimeout")
        .and_then(|t| cx.duration(t, &join_key(path, "perTryTimeout")))
        .unwrap_or(Duration::ZERO);
    let mut policy = RetryPolicy {
        max_retries: attempts,
        per_retry_timeout: per_try,
        http_retry_events: Vec::new(),
        tcp_retry_events: Vec::new(),
        grpc_retry_events: Vec::new(),
    };
    let Some(on) = node.get("retryOn") else {
        return Some(policy);
    };
    let rp = join_key(path, "retryOn");
    let text = cx.string(on, &rp)?;
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let mut push_http = |e: HttpRetryEvent| {
            if !policy.http_retry_events.contains(&e) {
                policy.http_retry_events.push(e);
            }
        };
        match token {
            "5xx" => push_http(HttpRetryEvent::ServerError),
            "gateway-error" => push_http(HttpRetryEvent::GatewayError),
            "retriable-4xx" | "409" => push_http(HttpRetryEvent::ClientError),
            "refused-stream" => push_http(HttpRetryEvent::StreamError),
            "connect-failure" => policy.tcp_retry_events.push(TcpRetryEvent::ConnectionError),
            "cancelled" => policy.grpc_retry_events.push(GrpcRetryEvent::Cancelled),
            "deadline-exceeded" => policy
                .grpc_retry_events
                .push(GrpcRetryEvent::DeadlineExceeded),
            "internal" => policy.grpc_retry_events.push(GrpcRetryEvent::Internal),
            "resource-exhausted" => policy
                .grpc_retry_events
                .push(GrpcRetryEvent::ResourceExhausted),
            "unavailable" => policy.grpc_retry_events.push(GrpcRetryEvent::Unavailable),
            "502" | "503" | "504" => {
                push_http(HttpRetryEvent::GatewayError);
                let at = cx.loc(on, &rp);
                cx.diags.warning(
                    "approximated",
                    &at,
                    format!("`{token}` is simulated as App Mesh's gateway-error (502, 503, 504 and resets): the engine retries event classes, not single codes"),
                );
            }
            "reset" | "retriable-status-codes" | "retriable-headers" | "envoy-ratelimited" => {
                let at = cx.loc(on, &rp);
                cx.diags.warning(
                    "approximated",
                    &at,
                    format!("`{token}` is not simulated on its own (App Mesh's server-error and gateway-error include resets)"),
                );
            }
            other => {
                let at = cx.loc(on, &rp);
                cx.diags
                    .error("enum", &at, format!("unknown retryOn condition `{other}`"));
            }
        }
    }
    Some(policy)
}

fn traffic_policy(cx: &mut Cx<'_>, node: &Node, path: &str) -> Policy {
    let mut policy = Policy::default();
    if cx
        .map(
            node,
            path,
            &["loadBalancer", "connectionPool", "outlierDetection"],
            &[
                "tls",
                "portLevelSettings",
                "tunnel",
                "proxyProtocol",
                "retryBudget",
            ],
        )
        .is_none()
    {
        return policy;
    }
    match node.get("loadBalancer") {
        Some(lb) => {
            let lp = join_key(path, "loadBalancer");
            if cx
                .map(
                    lb,
                    &lp,
                    &["simple"],
                    &[
                        "consistentHash",
                        "localityLbSetting",
                        "warmup",
                        "warmupDurationSecs",
                    ],
                )
                .is_some()
            {
                let simple = lb
                    .get("simple")
                    .and_then(Node::as_str)
                    .unwrap_or("UNSPECIFIED");
                if simple != "ROUND_ROBIN" {
                    let at = cx.loc(lb, &lp);
                    cx.diags.warning(
                        "approximated",
                        &at,
                        format!("load balancer `{simple}` is simulated as round robin (the engine's only algorithm, App Mesh's)"),
                    );
                }
            }
        }
        None => {
            let at = cx.loc(node, path);
            cx.diags.note("istio-default", &at, "no `loadBalancer`: Istio's default is LEAST_REQUEST; the engine balances round robin".to_string());
        }
    }
    if let Some(o) = node.get("outlierDetection") {
        let op = join_key(path, "outlierDetection");
        if cx
            .map(
                o,
                &op,
                &[
                    "consecutive5xxErrors",
                    "interval",
                    "baseEjectionTime",
                    "maxEjectionPercent",
                ],
                &[
                    "consecutiveGatewayErrors",
                    "consecutiveLocalOriginFailures",
                    "splitExternalLocalOriginErrors",
                    "minHealthPercent",
                    "consecutiveErrors",
                ],
            )
            .is_some()
        {
            // DR-proto defaults: 5, 10 s, 30 s, 10 %.
            let errors = o
                .get("consecutive5xxErrors")
                .and_then(|n| {
                    cx.uint(
                        n,
                        &join_key(&op, "consecutive5xxErrors"),
                        u64::from(u32::MAX),
                    )
                })
                .unwrap_or(5);
            let interval = o
                .get("interval")
                .and_then(|n| cx.duration(n, &join_key(&op, "interval")))
                .unwrap_or(Duration::from_secs(10));
            let base = o
                .get("baseEjectionTime")
                .and_then(|n| cx.duration(n, &join_key(&op, "baseEjectionTime")))
                .unwrap_or(Duration::from_secs(30));
            let percent = o
                .get("maxEjectionPercent")
                .and_then(|n| cx.uint(n, &join_key(&op, "maxEjectionPercent"), 100))
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(10);
            policy.outlier = Some(OutlierDetection {
                max_server_errors: errors,
                interval,
                base_ejection_duration: base,
                max_ejection_percent: percent,
            });
        }
    }
    if let Some(pool) = node.get("connectionPool") {
        let pp = join_key(path, "connectionPool");
        if cx.map(pool, &pp, &["tcp", "http"], &[]).is_some() {
            let read = |cx: &mut Cx<'_>, parent: Option<&Node>, parent_path: &str, field: &str| {
                parent
                    .and_then(|p| p.get(field))
                    .and_then(|n| cx.uint(n, &join_key(parent_path, field), u64::from(u32::MAX)))
                    .map(|n| u32::try_from(n.min(2_147_483_647)).unwrap_or(u32::MAX))
            };
            let tcp = pool.get("tcp");
            let tp = join_key(&pp, "tcp");
            if let Some(t) = tcp {
                cx.map(
                    t,
                    &tp,
                    &["maxConnections"],
                    &[
                        "connectTimeout",
                        "tcpKeepalive",
                        "maxConnectionDuration",
                        "idleTimeout",
                    ],
                );
            }
            let http = pool.get("http");
            let hp = join_key(&pp, "http");
            if let Some(h) = http {
                cx.map(
                    h,
                    &hp,
                    &["http1MaxPendingRequests", "http2MaxRequests"],
                    &[
                        "maxRequestsPerConnection",
                        "maxRetries",
                        "idleTimeout",
                        "h2UpgradePolicy",
                        "useClientProtocol",
                        "maxConcurrentStreams",
                    ],
                );
            }
            let max_connections = read(cx, tcp, &tp, "maxConnections");
            let pending = read(cx, http, &hp, "http1MaxPendingRequests");
            let h2 = read(cx, http, &hp, "http2MaxRequests");
            policy.pool = match (max_connections, pending, h2) {
                (None, None, Some(r)) => Some(ConnectionPool::Http2 { max_requests: r }),
                (None, None, None) => None,
                (c, p, _) => Some(ConnectionPool::Http {
                    max_connections: c.unwrap_or(2_147_483_647),
                    max_pending_requests: p.unwrap_or(2_147_483_647),
                }),
            };
            let at = cx.loc(pool, &pp);
            cx.diags.note(
                "approximated",
                &at,
                "Istio applies connectionPool limits in each caller's sidecar; the engine applies them in front of the app, as App Mesh's listener pool".to_string(),
            );
        }
    }
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, Severity, load_texts};
    use crate::engine::{Engine, RequestHead};
    use crate::migrate::{Target, translate};

    const ORDERING: &str = include_str!("../../scenarios/ordering/mesh.cfn.yaml");

    fn lines(l: &IstioLoaded) -> Vec<String> {
        l.diagnostics
            .iter()
            .map(|d| d.one_line(&l.sources))
            .collect()
    }

    fn errors(l: &IstioLoaded) -> Vec<String> {
        l.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.one_line(&l.sources))
            .collect()
    }

    /// The Ordering mesh, translated to Istio by `translate`, read back by this loader: the
    /// engine picks the same route, the same targets, the same per-request timeout and retry
    /// count for the same requests, and the nodes keep their outlier detection.
    #[test]
    fn translated_ordering_mesh_reads_back_and_routes_as_app_mesh_did() {
        let loaded = load_texts(&[("ordering.yaml", ORDERING)], &LoadOptions::default());
        let app_mesh = loaded.meshes.values().next().expect("mesh");
        let istio = translate(app_mesh, Target::Istio).expect("istio");
        let files: Vec<(&str, &str)> = istio
            .files
            .iter()
            .filter(|f| f.name.ends_with(".yaml"))
            .map(|f| (f.name.as_str(), f.text.as_str()))
            .collect();
        let back = load_istio(&files, "ordering");
        assert!(back.is_valid(), "{:#?}", errors(&back));
        let (a, b) = (Engine::new(app_mesh), Engine::new(&back.mesh));
        for (service, req) in [
            (
                "order.ordering.local",
                RequestHead::get("order.ordering.local", 8080, "/orders/7")
                    .with_header("x-canary", "true"),
            ),
            (
                "order.ordering.local",
                RequestHead::get("order.ordering.local", 8080, "/orders/7"),
            ),
            (
                "order.ordering.local",
                RequestHead::get("order.ordering.local", 8080, "/"),
            ),
            (
                "inventory.ordering.local",
                RequestHead::get("inventory.ordering.local", 8080, "/stock/1"),
            ),
        ] {
            let (ra, rb) = (
                a.route(service, &req).expect("App Mesh routes it"),
                b.route(service, &req).expect("Istio routes it"),
            );
            // Shares in per mille: a lone target's weight is 1 in App Mesh's file, 100 here.
            let weights = |r: &crate::engine::Routed<'_>| -> Vec<u32> {
                let total: u32 = r.route.targets().iter().map(|t| t.weight).sum();
                r.route
                    .targets()
                    .iter()
                    .map(|t| t.weight * 1000 / total.max(1))
                    .collect()
            };
            let nodes = |r: &crate::engine::Routed<'_>| -> Vec<String> {
                r.route
                    .targets()
                    .iter()
                    .map(|t| t.virtual_node.clone())
                    .collect()
            };
            assert_eq!(
                rb.route.per_request_timeout, ra.route.per_request_timeout,
                "{service} {}",
                req.path
            );
            assert_eq!(weights(&rb), weights(&ra), "{service} {}", req.path);
            assert_eq!(
                b.retry_rules(rb.route).max_retries,
                a.retry_rules(ra.route).max_retries
            );
            if service.starts_with("order") {
                assert_eq!(rb.route.name, ra.route.name);
                assert_eq!(nodes(&rb), nodes(&ra));
            }
        }
        for node in ["order-v1", "order-v2"] {
            let listener = |m: &Mesh| {
                m.virtual_nodes[node].spec.listeners[0]
                    .outlier_detection
                    .clone()
            };
            assert_eq!(listener(&back.mesh), listener(app_mesh), "{node}");
        }
        // The hidden default's 503 is Istio's bare status code: simulated as gateway-error,
        // and said so at the field.
        assert!(
            lines(&back).iter().any(|l| l
                .contains("warning[approximated]: `503` is simulated as App Mesh's gateway-error")),
            "{:#?}",
            lines(&back)
        );
    }

    #[test]
    fn unknown_and_unsupported_fields_are_named_with_file_line_and_path() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: cart
spec:
  hosts:
  - cart.shop.local
  http:
  - name: api
    timout: 5s
    fault:
      abort: {httpStatus: 503, percentage: {value: 10}}
    route:
    - destination: {host: cart.shop.local}
";
        let l = load_istio(&[("cart.yaml", text)], "shop");
        let e = errors(&l);
        assert!(
            e.iter().any(|l| l.starts_with("cart.yaml:10:5: error[unknown-field]: unknown field `timout` (at spec.http[0].timout); help: did you mean `timeout`?")),
            "{e:#?}"
        );
        assert!(
            e.iter().any(|l| l.starts_with("cart.yaml:11:5: error[unsupported]: `fault` is Istio configuration meshsim does not simulate yet")),
            "{e:#?}"
        );
        assert!(!l.is_valid());
    }

    #[test]
    fn bad_values_are_errors_at_their_field() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart}
spec:
  hosts: [cart.shop.local]
  http:
  - match:
    - uri: {prefix: /a, exact: /b}
    - queryParams: {q: {prefix: x}}
    route:
    - destination: {host: cart.shop.local, subset: v9}
    timeout: soon
    retries: {attempts: 2, retryOn: sometimes}
";
        let l = load_istio(&[("cart.yaml", text)], "shop");
        let e = errors(&l).join("\n");
        for want in [
            "cart.yaml:8:12: error[one-of]: set exactly one of `exact`, `prefix`, `regex` (at spec.http[0].match[0].uri)",
            "error[unsupported]: the engine matches query parameters exactly or by presence",
            "cart.yaml:12:14: error[duration]: expected a duration such as `15s`, `250ms` or `1m`, found `soon` (at spec.http[0].timeout)",
            "error[enum]: unknown retryOn condition `sometimes`",
            "error[dangling-reference]: subset `v9` of `cart.shop.local` is defined by no DestinationRule",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
    }

    /// Istio's defaults, mapped: no `timeout` is no timeout (App Mesh would cut at 15 s), ORed
    /// matches become consecutive routes, the DestinationRule's subsets are Cloud Map-selected
    /// nodes with its outlier detection (DR-proto defaults filled in).
    #[test]
    fn istio_defaults_and_ored_matches_map_onto_the_engine() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: cart}
spec:
  hosts: [cart.shop.local]
  http:
  - name: beta
    match:
    - headers: {x-beta: {exact: 'yes'}}
    - uri: {prefix: /beta}
    route:
    - destination: {host: cart.shop.local, subset: v2}
  - name: main
    route:
    - destination: {host: cart.shop.local, subset: v1}
      weight: 3
    - destination: {host: cart.shop.local, subset: v2}
      weight: 1
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart}
spec:
  host: cart.shop.local
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 3}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
";
        let l = load_istio(&[("cart.yaml", text)], "shop");
        assert!(l.is_valid(), "{:#?}", errors(&l));
        let engine = Engine::new(&l.mesh);
        let route = |req: RequestHead| {
            engine
                .route("cart.shop.local", &req)
                .expect("routed")
                .route
                .clone()
        };
        let by_header =
            route(RequestHead::get("cart.shop.local", 80, "/x").with_header("x-beta", "yes"));
        let by_path = route(RequestHead::get("cart.shop.local", 80, "/beta/1"));
        let main = route(RequestHead::get("cart.shop.local", 80, "/x"));
        assert_eq!(
            (
                by_header.name.as_str(),
                by_path.name.as_str(),
                main.name.as_str()
            ),
            ("beta-0", "beta-1", "main")
        );
        assert_eq!(
            main.per_request_timeout, None,
            "Istio's default: no timeout"
        );
        assert_eq!(
            main.targets()
                .iter()
                .map(|t| (t.virtual_node.as_str(), t.weight))
                .collect::<Vec<_>>(),
            [("v1", 3), ("v2", 1)]
        );
        let v1 = &l.mesh.virtual_nodes["v1"].spec;
        assert_eq!(
            v1.listeners[0].outlier_detection,
            Some(OutlierDetection {
                max_server_errors: 3,
                interval: Duration::from_secs(10),
                base_ejection_duration: Duration::from_secs(30),
                max_ejection_percent: 10,
            })
        );
        assert!(matches!(
            &v1.service_discovery,
            Some(ServiceDiscovery::CloudMap { namespace_name, service_name, attributes, .. })
                if namespace_name == "shop.local" && service_name == "cart"
                    && attributes == &[("version".to_string(), "v1".to_string())]
        ));
        assert!(
            lines(&l)
                .iter()
                .any(|d| d.contains("note[istio-default]: route `main` has no `timeout`")),
            "{:#?}",
            lines(&l)
        );
    }
}
