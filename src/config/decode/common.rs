//! Decoders for the mesh, virtual services and the pieces several resources share.

use regex::Regex;

use super::{Decoder, Field};
use crate::config::model::*;

pub(crate) const PROTOCOLS: &[(&str, Protocol)] = &[
    ("http", Protocol::Http),
    ("http2", Protocol::Http2),
    ("grpc", Protocol::Grpc),
    ("tcp", Protocol::Tcp),
];

const IP_PREFERENCES: &[(&str, IpPreference)] = &[
    ("IPv6_PREFERRED", IpPreference::Ipv6Preferred),
    ("IPv4_PREFERRED", IpPreference::Ipv4Preferred),
    ("IPv4_ONLY", IpPreference::Ipv4Only),
    ("IPv6_ONLY", IpPreference::Ipv6Only),
];

/// `MeshSpec`.
pub(crate) fn mesh_spec(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<MeshSpec> {
    let mut m = d.fields(f, "mesh spec")?;
    let mut spec = MeshSpec::default();
    if let Some(ef) = m.opt(d, "egressFilter")
        && let Some(mut e) = d.fields(&ef, "egress filter")
    {
        if let Some(t) = e.req(d, "type") {
            spec.egress_filter = d
                .choice(
                    &t,
                    &[
                        ("ALLOW_ALL", EgressFilter::AllowAll),
                        ("DROP_ALL", EgressFilter::DropAll),
                    ],
                )
                .unwrap_or_default();
        }
        e.finish(d);
    }
    if let Some(sd) = m.opt(d, "serviceDiscovery")
        && let Some(mut s) = d.fields(&sd, "mesh service discovery")
    {
        spec.ip_preference = ip_preference(d, &mut s);
        s.finish(d);
    }
    m.finish(d);
    Some(spec)
}

/// An optional `ipPreference` member.
pub(crate) fn ip_preference(
    d: &mut Decoder<'_>,
    m: &mut super::Fields<'_>,
) -> Option<IpPreference> {
    m.opt(d, "ipPreference")
        .and_then(|p| d.choice(&p, IP_PREFERENCES))
}

/// `VirtualServiceSpec`.
pub(crate) fn virtual_service_spec(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
) -> Option<VirtualServiceSpec> {
    let mut m = d.fields(f, "virtual service spec")?;
    let mut spec = VirtualServiceSpec::default();
    if let Some(p) = m.opt(d, "provider")
        && let Some(mut pm) = d.fields(&p, "provider")
    {
        spec.provider = match pm.one_of(d, &["virtualNode", "virtualRouter"], true) {
            Some((0, n)) => {
                named(d, &n, "virtual node provider", "virtualNodeName").map(Provider::VirtualNode)
            }
            Some((_, r)) => named(d, &r, "virtual router provider", "virtualRouterName")
                .map(Provider::VirtualRouter),
            None => None,
        };
        pm.finish(d);
    }
    m.finish(d);
    Some(spec)
}

/// A mapping holding one required name field, e.g. `{virtualNodeName: x}`.
pub(crate) fn named(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
    what: &'static str,
    key: &str,
) -> Option<crate::config::source::Located<String>> {
    let mut m = d.fields(f, what)?;
    let v = m.req(d, key).and_then(|n| d.name_ref(&n));
    m.finish(d);
    v
}

/// `portMapping`.
pub(crate) fn port_mapping(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
    allowed: &[(&str, Protocol)],
) -> Option<PortMapping> {
    let mut m = d.fields(f, "port mapping")?;
    let port = m.req(d, "port").and_then(|p| d.port(&p));
    let protocol = m.req(d, "protocol").and_then(|p| d.choice(&p, allowed));
    m.finish(d);
    Some(PortMapping {
        port: port?,
        protocol: protocol?,
    })
}

/// `HttpTimeout` / `GrpcTimeout` (`per_request` allowed) or `TcpTimeout` (idle only).
pub(crate) fn timeouts(d: &mut Decoder<'_>, f: &Field<'_>, per_request: bool) -> Option<Timeouts> {
    let mut m = d.fields(f, "timeout")?;
    let mut t = Timeouts::default();
    if per_request && let Some(p) = m.opt(d, "perRequest") {
        t.per_request = d.duration(&p);
    }
    if let Some(i) = m.opt(d, "idle") {
        t.idle = d.duration(&i);
    }
    m.finish(d);
    Some(t)
}

/// A regular expression; checked to compile so the engine can rely on it.
fn regex(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<String> {
    let s = d.string(f, 1, 255)?;
    match Regex::new(&s) {
        Ok(_) => Some(s),
        Err(e) => {
            let text = e.to_string();
            let last = text.lines().last().unwrap_or_default();
            let first_line = last.trim_start_matches("error: ").to_string();
            d.error(
                "regex",
                f,
                format!("invalid regular expression: {first_line}"),
            );
            None
        }
    }
}

/// `HttpRouteHeader` / gRPC metadata: `{name, invert, match}`.
pub(crate) fn header_match(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
    name_max: usize,
) -> Option<HeaderMatch> {
    let mut m = d.fields(f, "header match")?;
    let name = m.req(d, "name").and_then(|n| d.string(&n, 1, name_max));
    let invert = m.opt(d, "invert").and_then(|i| d.bool(&i)).unwrap_or(false);
    let mut value = None;
    let mut ok = true;
    if let Some(mf) = m.opt(d, "match")
        && let Some(mut mm) = d.fields(&mf, "match")
    {
        value = match mm.one_of(d, &["exact", "prefix", "suffix", "regex", "range"], true) {
            Some((0, v)) => d.string(&v, 1, 255).map(ValueMatch::Exact),
            Some((1, v)) => d.string(&v, 1, 255).map(ValueMatch::Prefix),
            Some((2, v)) => d.string(&v, 1, 255).map(ValueMatch::Suffix),
            Some((3, v)) => regex(d, &v).map(ValueMatch::Regex),
            Some((_, v)) => range(d, &v),
            None => None,
        };
        ok = value.is_some();
        mm.finish(d);
    }
    m.finish(d);
    ok.then_some(())?;
    Some(HeaderMatch {
        name: name?,
        invert,
        value,
    })
}

/// `range {start, end}`, end exclusive and greater than start.
fn range(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<ValueMatch> {
    let mut m = d.fields(f, "range")?;
    let start = m
        .req(d, "start")
        .and_then(|s| d.int(&s, i64::MIN, i64::MAX));
    let end_field = m.req(d, "end");
    let end = end_field
        .as_ref()
        .and_then(|e| d.int(e, i64::MIN, i64::MAX));
    m.finish(d);
    let (start, end) = (start?, end?);
    if end <= start {
        if let Some(e) = &end_field {
            d.error(
                "range",
                e,
                format!("range end {end} must be greater than start {start} (end is exclusive)"),
            );
        }
        return None;
    }
    Some(ValueMatch::Range { start, end })
}

/// `path {exact | regex}`.
pub(crate) fn path_match(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<PathMatch> {
    let mut m = d.fields(f, "path match")?;
    let v = match m.one_of(d, &["exact", "regex"], true) {
        Some((0, e)) => d.string(&e, 1, 255).map(PathMatch::Exact),
        Some((_, r)) => regex(d, &r).map(PathMatch::Regex),
        None => None,
    };
    m.finish(d);
    v
}

/// `queryParameters[]`: `{name, match: {exact}}`.
pub(crate) fn query_parameter(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<QueryParameterMatch> {
    let mut m = d.fields(f, "query parameter match")?;
    let name = m.req(d, "name").and_then(|n| d.string(&n, 1, 255));
    let mut exact = None;
    if let Some(mf) = m.opt(d, "match")
        && let Some(mut mm) = d.fields(&mf, "query parameter value match")
    {
        exact = mm.req(d, "exact").and_then(|e| d.string(&e, 0, 255));
        mm.finish(d);
    }
    m.finish(d);
    Some(QueryParameterMatch { name: name?, exact })
}

/// `method`.
pub(crate) fn method(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<HttpMethod> {
    use HttpMethod::*;
    d.choice(
        f,
        &[
            ("GET", Get),
            ("HEAD", Head),
            ("POST", Post),
            ("PUT", Put),
            ("DELETE", Delete),
            ("CONNECT", Connect),
            ("OPTIONS", Options),
            ("TRACE", Trace),
            ("PATCH", Patch),
        ],
    )
}

/// A path prefix: must start with `/`.
pub(crate) fn prefix(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<String> {
    let p = d.string(f, 1, 255)?;
    if !p.starts_with('/') {
        d.error("pattern", f, format!("prefix `{p}` must start with `/`"));
        return None;
    }
    Some(p)
}

/// `tls` on a listener.
pub(crate) fn listener_tls(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<ListenerTls> {
    let mut m = d.fields(f, "listener TLS")?;
    let mode = m.req(d, "mode").and_then(|x| {
        d.choice(
            &x,
            &[
                ("STRICT", TlsMode::Strict),
                ("PERMISSIVE", TlsMode::Permissive),
                ("DISABLED", TlsMode::Disabled),
            ],
        )
    });
    let certificate = m.req(d, "certificate").and_then(|c| {
        let mut cm = d.fields(&c, "listener certificate")?;
        let v = match cm.one_of(d, &["acm", "file", "sds"], true) {
            Some((0, a)) => {
                let mut am = d.fields(&a, "ACM certificate")?;
                let arn = am
                    .req(d, "certificateArn")
                    .and_then(|x| d.string(&x, 1, 2048));
                am.finish(d);
                arn.map(|certificate_arn| ListenerCertificate::Acm { certificate_arn })
            }
            Some((1, fl)) => cert_file(d, &fl).map(|(certificate_chain, private_key)| {
                ListenerCertificate::File {
                    certificate_chain,
                    private_key,
                }
            }),
            Some((_, s)) => sds(d, &s).map(|secret_name| ListenerCertificate::Sds { secret_name }),
            None => None,
        };
        cm.finish(d);
        v
    });
    let validation = m
        .opt(d, "validation")
        .and_then(|v| validation(d, &v, &["file", "sds"]));
    m.finish(d);
    Some(ListenerTls {
        mode: mode?,
        certificate: certificate?,
        validation,
    })
}

fn cert_file(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<(String, String)> {
    let mut m = d.fields(f, "certificate file")?;
    let chain = m
        .req(d, "certificateChain")
        .and_then(|x| d.string(&x, 1, 255));
    let key = m.req(d, "privateKey").and_then(|x| d.string(&x, 1, 255));
    m.finish(d);
    Some((chain?, key?))
}

fn sds(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<String> {
    let mut m = d.fields(f, "SDS secret")?;
    let name = m.req(d, "secretName").and_then(|x| d.string(&x, 1, 255));
    m.finish(d);
    name
}

/// `validation {trust, subjectAlternativeNames}`; `trust_kinds` differ for listeners
/// (no ACM) and client policies.
fn validation(d: &mut Decoder<'_>, f: &Field<'_>, trust_kinds: &[&str]) -> Option<TlsValidation> {
    let mut m = d.fields(f, "TLS validation")?;
    let trust = m.req(d, "trust").and_then(|t| {
        let mut tm = d.fields(&t, "TLS trust")?;
        let v = match tm.one_of(d, trust_kinds, true) {
            Some((i, x)) => match trust_kinds[i] {
                "acm" => {
                    let mut am = d.fields(&x, "ACM trust")?;
                    let arns = am
                        .req(d, "certificateAuthorityArns")
                        .map(|l| d.each(&l, 1, 3, |d, a| d.string(a, 1, 2048)));
                    am.finish(d);
                    arns.map(|certificate_authority_arns| Trust::Acm {
                        certificate_authority_arns,
                    })
                }
                "file" => {
                    let mut fm = d.fields(&x, "file trust")?;
                    let chain = fm
                        .req(d, "certificateChain")
                        .and_then(|c| d.string(&c, 1, 255));
                    fm.finish(d);
                    chain.map(|certificate_chain| Trust::File { certificate_chain })
                }
                _ => sds(d, &x).map(|secret_name| Trust::Sds { secret_name }),
            },
            None => None,
        };
        tm.finish(d);
        v
    });
    let mut sans = Vec::new();
    if let Some(s) = m.opt(d, "subjectAlternativeNames")
        && let Some(mut sm) = d.fields(&s, "subject alternative names")
    {
        if let Some(mf) = sm.req(d, "match")
            && let Some(mut mm) = d.fields(&mf, "SAN match")
        {
            if let Some(e) = mm.req(d, "exact") {
                sans = d.each(&e, 1, 254, |d, x| d.string(x, 1, 255));
            }
            mm.finish(d);
        }
        sm.finish(d);
    }
    m.finish(d);
    Some(TlsValidation {
        trust: trust?,
        subject_alternative_names: sans,
    })
}

/// `clientPolicy`.
pub(crate) fn client_policy(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<ClientPolicy> {
    let mut m = d.fields(f, "client policy")?;
    let tls = m.opt(d, "tls").and_then(|t| {
        let mut tm = d.fields(&t, "client TLS policy")?;
        let enforce = tm
            .opt(d, "enforce")
            .and_then(|e| d.bool(&e))
            .unwrap_or(true);
        let ports = tm
            .opt(d, "ports")
            .map(|p| d.each(&p, 0, 65535, |d, x| d.port(x)))
            .unwrap_or_default();
        let validation = tm
            .req(d, "validation")
            .and_then(|v| validation(d, &v, &["acm", "file", "sds"]));
        let certificate = tm.opt(d, "certificate").and_then(|c| {
            let mut cm = d.fields(&c, "client certificate")?;
            let v = match cm.one_of(d, &["file", "sds"], true) {
                Some((0, fl)) => cert_file(d, &fl).map(|(certificate_chain, private_key)| {
                    ClientCertificate::File {
                        certificate_chain,
                        private_key,
                    }
                }),
                Some((_, s)) => {
                    sds(d, &s).map(|secret_name| ClientCertificate::Sds { secret_name })
                }
                None => None,
            };
            cm.finish(d);
            v
        });
        tm.finish(d);
        Some(ClientTls {
            enforce,
            ports,
            validation: validation?,
            certificate,
        })
    });
    m.finish(d);
    Some(ClientPolicy { tls })
}

/// `backendDefaults {clientPolicy}`.
pub(crate) fn backend_defaults(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<ClientPolicy> {
    let mut m = d.fields(f, "backend defaults")?;
    let p = m.opt(d, "clientPolicy").and_then(|c| client_policy(d, &c));
    m.finish(d);
    Some(p.unwrap_or_default())
}

/// `logging {accessLog {file {path, format}}}`.
pub(crate) fn logging(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<Logging> {
    let mut m = d.fields(f, "logging")?;
    let access_log = m.opt(d, "accessLog").and_then(|a| {
        let mut am = d.fields(&a, "access log")?;
        let file = am.req(d, "file").and_then(|fl| {
            let mut fm = d.fields(&fl, "file access log")?;
            let path = fm.req(d, "path").and_then(|p| d.string(&p, 1, 255));
            let format = fm.opt(d, "format").and_then(|x| {
                let mut xm = d.fields(&x, "log format")?;
                let v = match xm.one_of(d, &["text", "json"], true) {
                    Some((0, t)) => d.string(&t, 1, 1000).map(LogFormat::Text),
                    Some((_, j)) => Some(LogFormat::Json(d.each(&j, 1, 100, |d, kv| {
                        let mut km = d.fields(kv, "JSON log field")?;
                        let k = km.req(d, "key").and_then(|k| d.string(&k, 1, 100));
                        let v = km.req(d, "value").and_then(|v| d.string(&v, 1, 100));
                        km.finish(d);
                        Some((k?, v?))
                    }))),
                    None => None,
                };
                xm.finish(d);
                v
            });
            fm.finish(d);
            Some(FileAccessLog {
                path: path?,
                format,
            })
        });
        am.finish(d);
        file
    });
    m.finish(d);
    Some(Logging { access_log })
}
