//! Losses every writer shares: the virtual nodes' listener policies (outlier detection,
//! health checks, connection pools, TLS), the mesh's egress filter, load balancing, and the
//! App Mesh resources no writer translates yet (virtual gateways).

use crate::config::Mesh;
use crate::config::model::{EgressFilter, HealthCheck, OutlierDetection, TlsMode};

use super::loss::{Change, Entry, Losses};
use super::profile::{Balancing, HealthChecks, OutlierDetection as TargetOutlier, PeerTls, Target};
use super::view::human;

/// Adds the losses of every virtual node's listeners and of the mesh itself.
pub(crate) fn node_and_mesh_losses(mesh: &Mesh, losses: &mut Losses) {
    let target = losses.target;
    let p = target.profile();
    for (name, node) in &mesh.virtual_nodes {
        for l in &node.spec.listeners {
            let subject = format!("virtual node `{name}` listener {}", l.port_mapping.port);
            if let Some(o) = &l.outlier_detection {
                outlier(&subject, o, l.health_check.as_ref(), losses);
            }
            if let Some(h) = &l.health_check {
                health(&subject, h, losses);
            }
            if l.connection_pool.is_some() {
                let (change, text, effect) = match target {
                    Target::Istio => (
                        Change::Approximate,
                        "Istio applies DestinationRule connectionPool limits in each caller's sidecar, not in front of the app: the limits (written) count one caller's requests, not all callers'",
                        "overload reaches the app sooner when many callers share it; overflow 503s come from the caller",
                    ),
                    _ => (
                        Change::Lost,
                        "no connection-pool limits can be set",
                        "no request queue limit: overload queues in the app instead of failing fast with 503",
                    ),
                };
                losses.add(
                    Entry {
                        subject: &subject,
                        field: "connectionPool",
                        change,
                        app_mesh:
                            "App Mesh limited connections and pending requests in front of the app"
                                .to_string(),
                        target: format!("{}: {text}", target.title()),
                        effect: effect.to_string(),
                    },
                    &p.pools.configurable,
                );
            }
            if let Some(tls) = &l.tls {
                let mutual = tls.validation.is_some();
                let mode = match tls.mode {
                    TlsMode::Strict => "STRICT",
                    TlsMode::Permissive => "PERMISSIVE",
                    TlsMode::Disabled => continue,
                };
                let app_mesh = if mutual {
                    format!("App Mesh required {mode} mutual TLS (client certificates checked)")
                } else {
                    format!("App Mesh served {mode} TLS")
                };
                let (change, text, effect) = match p.tls.value {
                    PeerTls::OneWayTls13 => (
                        if mutual {
                            Change::Lost
                        } else {
                            Change::Approximate
                        },
                        "Service Connect speaks one-way TLS 1.3 (AWS Private CA); it does not authenticate clients",
                        if mutual {
                            "callers without a client certificate, which App Mesh rejected, now succeed"
                        } else {
                            "TLS 1.0-1.2 clients fail; certificates come from AWS Private CA, not ACM, file or SDS"
                        },
                    ),
                    PeerTls::HttpsAndIamAuth => (
                        if mutual {
                            Change::Lost
                        } else {
                            Change::Approximate
                        },
                        "Lattice terminates TLS at an HTTPS listener and authenticates callers with IAM auth policies (SigV4), not client certificates",
                        "apps must sign requests; callers App Mesh rejected by certificate are judged by IAM policy instead",
                    ),
                    PeerTls::OriginationOnly => (
                        if mutual {
                            Change::Lost
                        } else {
                            Change::Approximate
                        },
                        "Gateway API configures TLS origination to backends only (BackendTLSPolicy); no client certificates",
                        "callers without a client certificate, which App Mesh rejected, now succeed",
                    ),
                    PeerTls::AutoMutualPermissive
                    | PeerTls::AutoMutual
                    | PeerTls::ListenerMutualOptIn => (
                        Change::Approximate,
                        "Istio issues its own certificates and accepts plaintext unless a PeerAuthentication sets STRICT (not written: apply one)",
                        "with no PeerAuthentication, plaintext callers App Mesh rejected succeed",
                    ),
                };
                losses.add(
                    Entry {
                        subject: &subject,
                        field: "tls",
                        change,
                        app_mesh,
                        target: text.to_string(),
                        effect: effect.to_string(),
                    },
                    &p.tls,
                );
            }
        }
    }
    if mesh.spec.egress_filter == EgressFilter::DropAll && !mesh.virtual_nodes.is_empty() {
        let (change, text, effect) = match target {
            Target::Istio => (
                Change::Approximate,
                "Istio allows any destination by default; outboundTrafficPolicy REGISTRY_ONLY (mesh config, not written) refuses with 502",
                "calls to undeclared hosts succeed unless REGISTRY_ONLY is set, and then fail with 502 instead of 404",
            ),
            _ => (
                Change::Lost,
                "no egress filter",
                "calls to hosts the mesh does not declare succeed instead of failing with 404",
            ),
        };
        losses.add(
            Entry {
                subject: &format!("mesh `{}`", mesh.name),
                field: "egressFilter",
                change,
                app_mesh: "App Mesh refused calls to undeclared destinations (DROP_ALL, 404)"
                    .to_string(),
                target: format!("{}: {text}", target.title()),
                effect: effect.to_string(),
            },
            &p.egress,
        );
    }
    if !mesh.virtual_nodes.is_empty() && target != Target::Istio {
        let algorithm = match p.load_balancing.default.value {
            Balancing::RoundRobin => None,
            Balancing::LeastRequest => Some("least request"),
            Balancing::P2cPeakEwma => Some("power of two choices over peak EWMA"),
            Balancing::ImplementationDefined => Some("an implementation-defined algorithm"),
            Balancing::Unknown => Some("an algorithm AWS does not publish"),
        };
        if let Some(algorithm) = algorithm {
            losses.add(
                Entry {
                    subject: &format!("mesh `{}`", mesh.name),
                    field: "(load balancing)",
                    change: Change::Approximate,
                    app_mesh: "App Mesh balanced round robin".to_string(),
                    target: format!("{} balances with {algorithm}", target.title()),
                    effect: "per-task load differs when tasks differ in speed".to_string(),
                },
                &p.load_balancing.default,
            );
        }
    }
    for name in mesh.virtual_gateways.keys() {
        losses.not_translated(
            &format!("virtual gateway `{name}`"),
            "VirtualGateway, GatewayRoute",
            "App Mesh ingress gateway and its gateway routes",
        );
    }
}

fn outlier(subject: &str, o: &OutlierDetection, health: Option<&HealthCheck>, losses: &mut Losses) {
    let target = losses.target;
    let p = target.profile();
    let app_mesh = format!(
        "App Mesh ejected a task after {} server errors in a row (for {} and more, at most {} %)",
        o.max_server_errors,
        human(o.base_ejection_duration),
        o.max_ejection_percent
    );
    let (change, text, effect) = match p.outlier_detection.value {
        TargetOutlier::OptIn { .. } => return, // written into the DestinationRule
        TargetOutlier::BuiltIn => (
            Change::Lost,
            "Service Connect's outlier detection is built in; its parameters are not published or configurable".to_string(),
            "when a bad task is ejected, and for how long, is no longer yours to set or know".to_string(),
        ),
        TargetOutlier::Absent => {
            let removal = match (health, p.health_checks.value) {
                (Some(h), _) => format!(
                    "only active health checks remove a bad task: after {} × {} = {} at the earliest",
                    h.unhealthy_threshold,
                    human(h.interval),
                    human(h.interval * h.unhealthy_threshold)
                ),
                (None, HealthChecks::OnByDefault { interval, unhealthy_thresholds, .. }) => format!(
                    "only active health checks remove a bad task, and the translation keeps App Mesh's none (HealthCheck Enabled: false), so nothing does; with Lattice's default check on, at least {} × {} = {}",
                    unhealthy_thresholds.0,
                    human(interval),
                    human(interval * unhealthy_thresholds.0)
                ),
                (None, _) => "nothing removes a bad task".to_string(),
            };
            (
                Change::Lost,
                format!("{} has no outlier detection; {removal}", target.title()),
                "a task that answers 5xx keeps its share of traffic until health checks fail it: time to stop sending to a bad task grows from a few errors to tens of seconds".to_string(),
            )
        }
        TargetOutlier::FailureAccrual { consecutive } => (
            Change::Approximate,
            format!("{} uses failure accrual after {consecutive} consecutive failures", target.title()),
            "a different count ejects a bad task".to_string(),
        ),
        TargetOutlier::ImplementationDefined => (
            Change::Lost,
            "Gateway API has no outlier detection; only implementation-specific policies".to_string(),
            "a task that answers 5xx keeps its share of traffic unless the implementation's policy ejects it".to_string(),
        ),
    };
    losses.add(
        Entry {
            subject,
            field: "outlierDetection",
            change,
            app_mesh,
            target: text,
            effect,
        },
        &p.outlier_detection,
    );
}

fn health(subject: &str, h: &HealthCheck, losses: &mut Losses) {
    let target = losses.target;
    let p = target.profile();
    let app_mesh = format!(
        "App Mesh health-checked every {} (unhealthy after {})",
        human(h.interval),
        h.unhealthy_threshold
    );
    let text = match p.health_checks.value {
        HealthChecks::OptIn { .. } | HealthChecks::OnByDefault { .. } => return,
        HealthChecks::BuiltIn => {
            "Service Connect's health checks are built in; parameters not published"
        }
        HealthChecks::ReadinessOnly => {
            "no active health checks: the platform's readiness probes decide endpoints"
        }
        HealthChecks::ImplementationDefined => {
            "no health checks in the API; implementation-specific"
        }
    };
    losses.add(
        Entry {
            subject,
            field: "healthCheck",
            change: Change::Lost,
            app_mesh,
            target: format!("{}: {text}", target.title()),
            effect:
                "a task that stops answering keeps receiving traffic until something else notices"
                    .to_string(),
        },
        &p.health_checks,
    );
}
