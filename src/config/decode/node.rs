//! Decoder for `VirtualNodeSpec`.

use super::common::{
    PROTOCOLS, backend_defaults, client_policy, ip_preference, listener_tls, logging, port_mapping,
    timeouts,
};
use super::{Decoder, Field};
use crate::config::model::*;
use crate::config::source::Loc;

/// Backends per virtual node (service quota L-8775AB18, not adjustable).
pub(crate) const MAX_BACKENDS: usize = 50;

/// `VirtualNodeSpec`.
pub(crate) fn virtual_node_spec(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<VirtualNodeSpec> {
    let mut m = d.fields(f, "virtual node spec")?;
    let mut spec = VirtualNodeSpec::default();
    // Where each listener's `outlierDetection` is, for the DNS LOADBALANCER warning.
    let mut outlier_locs: Vec<Loc> = Vec::new();
    let listeners_field = m.opt(d, "listeners");
    if let Some(l) = &listeners_field {
        let items = d.list(l, 0, usize::MAX).unwrap_or_default();
        let mut seen: Vec<(u16, String)> = Vec::new();
        for item in &items {
            let Some((listener, outlier_at)) = listener(d, item) else {
                continue;
            };
            if let Some(at) = outlier_at {
                outlier_locs.push(at);
            }
            let port = listener.port_mapping.port;
            if let Some((_, first)) = seen.iter().find(|(p, _)| *p == port) {
                d.error(
                    "duplicate",
                    item,
                    format!("listener port {port} is already used by {first}; each listener needs its own port"),
                );
            }
            seen.push((port, item.path.clone()));
            spec.listeners.push(listener);
        }
    }
    let sd = m.opt(d, "serviceDiscovery");
    spec.service_discovery = sd.as_ref().and_then(|s| service_discovery(d, s));
    if let Some(ServiceDiscovery::Dns {
        hostname,
        response_type: None | Some(DnsResponseType::LoadBalancer),
        ..
    }) = &spec.service_discovery
    {
        // App Mesh turns DNS LOADBALANCER into Envoy LOGICAL_DNS: one host for the whole
        // name, which a 100 %-or-less cap never lets go and panic routing would bring back
        // anyway (aws-app-mesh-roadmap#273; engine::discovery::ClusterType).
        for at in &outlier_locs {
            d.diags
                .warning(
                    "outlier-logical-dns",
                    at,
                    format!("outlier detection cannot eject a task here: DNS service discovery for `{hostname}` without `responseType: ENDPOINTS` is Envoy LOGICAL_DNS, one host for all tasks"),
                )
                .help = Some("set `responseType: ENDPOINTS` (one host per task) or use Cloud Map service discovery".into());
        }
    }
    if sd.is_none()
        && !spec.listeners.is_empty()
        && let Some(l) = &listeners_field
    {
        d.error(
            "missing-field",
            &Field {
                key: l.key,
                ..f.clone()
            },
            "a virtual node with listeners needs `serviceDiscovery` (dns or awsCloudMap)",
        );
    }
    if let Some(b) = m.opt(d, "backends") {
        let items = d.list(&b, 0, usize::MAX).unwrap_or_default();
        if items.len() > MAX_BACKENDS {
            d.error(
                "quota",
                &b,
                format!(
                    "{} backends exceed App Mesh's quota of {MAX_BACKENDS} per virtual node",
                    items.len()
                ),
            );
        }
        for item in &items {
            let Some(backend) = backend(d, item) else {
                continue;
            };
            if let Some(first) = spec
                .backends
                .iter()
                .find(|x| x.virtual_service_name == backend.virtual_service_name)
            {
                d.error(
                    "duplicate",
                    item,
                    format!(
                        "backend `{}` is listed twice (first at {})",
                        backend.virtual_service_name.value, first.virtual_service_name.at.path
                    ),
                );
                continue;
            }
            spec.backends.push(backend);
        }
    }
    spec.backend_defaults = m
        .opt(d, "backendDefaults")
        .and_then(|b| backend_defaults(d, &b));
    spec.logging = m.opt(d, "logging").and_then(|l| logging(d, &l));
    m.finish(d);
    Some(spec)
}

/// A listener, and where its `outlierDetection` is if it has one.
fn listener(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<(Listener, Option<Loc>)> {
    let mut m = d.fields(f, "listener")?;
    let port_mapping = m
        .req(d, "portMapping")
        .and_then(|p| port_mapping(d, &p, PROTOCOLS));
    let hc = m.opt(d, "healthCheck");
    let health_check = hc.as_ref().and_then(|h| health_check(d, h, PROTOCOLS));
    let outlier_field = m.opt(d, "outlierDetection");
    let outlier_detection = outlier_field.as_ref().and_then(|o| outlier_detection(d, o));
    let outlier_at = outlier_detection
        .as_ref()
        .and(outlier_field.as_ref())
        .map(|o| Loc::new(d.file, o.key.unwrap_or(o.node.span), o.path.clone()));
    let pool_field = m.opt(d, "connectionPool");
    let connection_pool = pool_field
        .as_ref()
        .and_then(|c| connection_pool(d, c, true));
    let timeout_field = m.opt(d, "timeout");
    let timeout = timeout_field.as_ref().and_then(|t| listener_timeout(d, t));
    let tls = m.opt(d, "tls").and_then(|t| listener_tls(d, &t));
    m.finish(d);
    let port_mapping = port_mapping?;
    let protocol = port_mapping.protocol;
    if let (Some(pool), Some(pf)) = (&connection_pool, &pool_field)
        && pool.protocol() != protocol
    {
        d.error(
            "protocol-mismatch",
            pf,
            format!(
                "connection pool `{}` does not match the listener protocol `{protocol}`",
                pool.protocol()
            ),
        )
        .help = Some(format!("use `connectionPool.{protocol}`"));
    }
    if let (Some(t), Some(tf)) = (&timeout, &timeout_field)
        && t.protocol != protocol
    {
        d.error(
            "protocol-mismatch",
            tf,
            format!(
                "timeout `{}` does not match the listener protocol `{protocol}`",
                t.protocol
            ),
        )
        .help = Some(format!("use `timeout.{protocol}`"));
    }
    if let (Some(h), Some(hf)) = (&health_check, &hc)
        && let Some(p) = h.port
        && p != port_mapping.port
    {
        d.error(
            "port-mismatch",
            hf,
            format!(
                "health check port {p} differs from the listener port {}; App Mesh requires them equal",
                port_mapping.port
            ),
        );
    }
    Some((
        Listener {
            port_mapping,
            health_check,
            outlier_detection,
            connection_pool,
            timeout,
            tls,
        },
        outlier_at,
    ))
}

/// `healthCheck` (nodes and gateways; `protocols` lists what the owner allows).
pub(crate) fn health_check(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
    protocols: &[(&str, Protocol)],
) -> Option<HealthCheck> {
    let mut m = d.fields(f, "health check")?;
    let protocol = m.req(d, "protocol").and_then(|p| d.choice(&p, protocols));
    let path = m.opt(d, "path").and_then(|p| d.string(&p, 1, 255));
    let port = m.opt(d, "port").and_then(|p| d.port(&p));
    let interval = m
        .req(d, "intervalMillis")
        .and_then(|x| d.int(&x, 5000, 300_000));
    let timeout = m
        .req(d, "timeoutMillis")
        .and_then(|x| d.int(&x, 2000, 60_000));
    let healthy = m.req(d, "healthyThreshold").and_then(|x| d.u32(&x, 2, 10));
    let unhealthy = m
        .req(d, "unhealthyThreshold")
        .and_then(|x| d.u32(&x, 2, 10));
    m.finish(d);
    let millis = |v: i64| std::time::Duration::from_millis(v.unsigned_abs());
    Some(HealthCheck {
        protocol: protocol?,
        path,
        port,
        interval: millis(interval?),
        timeout: millis(timeout?),
        healthy_threshold: healthy?,
        unhealthy_threshold: unhealthy?,
    })
}

fn outlier_detection(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<OutlierDetection> {
    let mut m = d.fields(f, "outlier detection")?;
    let errors = m
        .req(d, "maxServerErrors")
        .and_then(|x| d.int(&x, 1, i64::MAX));
    let interval = m.req(d, "interval").and_then(|x| d.duration(&x));
    let base = m
        .req(d, "baseEjectionDuration")
        .and_then(|x| d.duration(&x));
    let percent = m
        .req(d, "maxEjectionPercent")
        .and_then(|x| d.u32(&x, 0, 100));
    m.finish(d);
    Some(OutlierDetection {
        max_server_errors: errors?.unsigned_abs(),
        interval: interval?,
        base_ejection_duration: base?,
        max_ejection_percent: percent?,
    })
}

/// `connectionPool` (nodes allow `tcp`; gateways do not).
pub(crate) fn connection_pool(
    d: &mut Decoder<'_>,
    f: &Field<'_>,
    allow_tcp: bool,
) -> Option<ConnectionPool> {
    let mut m = d.fields(f, "connection pool")?;
    let kinds: &[&str] = if allow_tcp {
        &["http", "http2", "grpc", "tcp"]
    } else {
        &["http", "http2", "grpc"]
    };
    let v = match m.one_of(d, kinds, true) {
        Some((i, x)) => {
            let mut pm = d.fields(&x, "connection pool member")?;
            let pool = match kinds[i] {
                "http" => {
                    let max_connections = pm
                        .req(d, "maxConnections")
                        .and_then(|v| d.u32(&v, 1, i32::MAX as u32));
                    let pending = pm
                        .opt(d, "maxPendingRequests")
                        .and_then(|v| d.u32(&v, 1, i32::MAX as u32))
                        .unwrap_or(i32::MAX as u32);
                    max_connections.map(|max_connections| ConnectionPool::Http {
                        max_connections,
                        max_pending_requests: pending,
                    })
                }
                "tcp" => pm
                    .req(d, "maxConnections")
                    .and_then(|v| d.u32(&v, 1, i32::MAX as u32))
                    .map(|max_connections| ConnectionPool::Tcp { max_connections }),
                kind => pm
                    .req(d, "maxRequests")
                    .and_then(|v| d.u32(&v, 1, i32::MAX as u32))
                    .map(|max_requests| {
                        if kind == "grpc" {
                            ConnectionPool::Grpc { max_requests }
                        } else {
                            ConnectionPool::Http2 { max_requests }
                        }
                    }),
            };
            pm.finish(d);
            pool
        }
        None => None,
    };
    m.finish(d);
    v
}

fn listener_timeout(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<ListenerTimeout> {
    let mut m = d.fields(f, "listener timeout")?;
    let v = match m.one_of(d, &["http", "http2", "grpc", "tcp"], true) {
        Some((i, t)) => {
            let protocol = PROTOCOLS
                .iter()
                .find(|(n, _)| *n == ["http", "http2", "grpc", "tcp"][i])
                .map(|(_, p)| *p)?;
            timeouts(d, &t, protocol != Protocol::Tcp)
                .map(|timeouts| ListenerTimeout { protocol, timeouts })
        }
        None => None,
    };
    m.finish(d);
    v
}

fn service_discovery(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<ServiceDiscovery> {
    let mut m = d.fields(f, "service discovery")?;
    let v = match m.one_of(d, &["dns", "awsCloudMap"], true) {
        Some((0, x)) => {
            let mut dm = d.fields(&x, "DNS service discovery")?;
            let hostname = dm.req(d, "hostname").and_then(|h| d.string(&h, 1, 255));
            let response_type = dm.opt(d, "responseType").and_then(|r| {
                d.choice(
                    &r,
                    &[
                        ("LOADBALANCER", DnsResponseType::LoadBalancer),
                        ("ENDPOINTS", DnsResponseType::Endpoints),
                    ],
                )
            });
            let ip_preference = ip_preference(d, &mut dm);
            dm.finish(d);
            hostname.map(|hostname| ServiceDiscovery::Dns {
                hostname,
                response_type,
                ip_preference,
            })
        }
        Some((_, x)) => {
            let mut cm = d.fields(&x, "Cloud Map service discovery")?;
            let namespace_name = cm
                .req(d, "namespaceName")
                .and_then(|n| d.string(&n, 1, 1024));
            let service_name = cm.req(d, "serviceName").and_then(|n| d.string(&n, 1, 1024));
            let attributes = cm
                .opt(d, "attributes")
                .map(|a| d.each(&a, 0, usize::MAX, cloud_map_attribute))
                .unwrap_or_default();
            let ip_preference = ip_preference(d, &mut cm);
            cm.finish(d);
            Some(ServiceDiscovery::CloudMap {
                namespace_name: namespace_name?,
                service_name: service_name?,
                attributes,
                ip_preference,
            })
        }
        None => None,
    };
    m.finish(d);
    v
}

fn cloud_map_attribute(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<(String, String)> {
    let mut m = d.fields(f, "Cloud Map attribute")?;
    let key_field = m.req(d, "key");
    let key = key_field.as_ref().and_then(|k| d.string(k, 1, 255));
    let value = m.req(d, "value").and_then(|v| d.string(&v, 1, 1024));
    m.finish(d);
    let key = key?;
    // The API pattern `^[a-zA-Z0-9!-~]+$`: printable ASCII without spaces.
    if !key.bytes().all(|b| (b'!'..=b'~').contains(&b))
        && let Some(kf) = &key_field
    {
        d.error(
            "pattern",
            kf,
            format!(
                "attribute key `{key}` may hold only printable ASCII characters without spaces"
            ),
        );
        return None;
    }
    Some((key, value?))
}

fn backend(d: &mut Decoder<'_>, f: &Field<'_>) -> Option<Backend> {
    let mut m = d.fields(f, "backend")?;
    let v = m.req(d, "virtualService").and_then(|vs| {
        let mut vm = d.fields(&vs, "virtual service backend")?;
        let name = vm.req(d, "virtualServiceName").and_then(|n| d.name_ref(&n));
        let client_policy = vm.opt(d, "clientPolicy").and_then(|c| client_policy(d, &c));
        vm.finish(d);
        Some(Backend {
            virtual_service_name: name?,
            client_policy,
        })
    });
    m.finish(d);
    v
}
