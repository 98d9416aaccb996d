//! Per-route retry and timeout losses, from the target's profile.

use std::time::Duration;

use crate::config::model::Protocol;

use super::loss::{Change, Entry, Losses, cite};
use super::profile::{DefaultRetry, Target, TimeoutDefault};
use super::view::{RouteView, app_mesh_retry, human};

/// Adds the route's retry and timeout losses; `written` says which App Mesh values the
/// writer put into the target's files (so they are "written out", not lost).
pub(crate) fn route_losses(route: &RouteView<'_>, losses: &mut Losses) {
    retries(route, losses);
    timeout(route, losses);
}

fn retries(route: &RouteView<'_>, losses: &mut Losses) {
    let target = losses.target;
    let p = target.profile();
    let subject = route.subject.as_str();
    let field = if route.retry.is_some() {
        "retryPolicy"
    } else {
        "retryPolicy (unset: App Mesh's hidden default)"
    };
    let Some(app_mesh) = app_mesh_retry(route) else {
        // App Mesh did not retry (maxRetries 0, or TCP). A target whose retries cannot be
        // turned off retries anyway.
        if route.protocol != Protocol::Tcp
            && !p.retries.knobs.value.any()
            && let DefaultRetry::Policy { retries, .. } = p.retries.default.value
        {
            losses.add(
                Entry {
                    subject,
                    field,
                    change: Change::Lost,
                    app_mesh: "App Mesh did not retry (maxRetries 0)".to_string(),
                    target: format!(
                        "{} retries {} anyway and cannot be told not to",
                        target.title(),
                        super::view::times(retries)
                    ),
                    effect: "requests that must not be repeated can reach the app up to 3 times"
                        .to_string(),
                },
                &p.retries.default,
            );
        }
        return;
    };
    let hidden = route.retry.is_none();
    let (change, text, effect) = match target {
        Target::Lattice => (
            Change::Lost,
            "Lattice will not retry".to_string(),
            if hidden {
                "every 503, connect failure and reset the hidden retries absorbed reaches the caller: its failure rate rises by up to the share the retries masked".to_string()
            } else {
                "every failure the route's retries absorbed reaches the caller".to_string()
            },
        ),
        Target::ServiceConnect if hidden => (
            Change::Approximate,
            "Service Connect retries twice on connect failure or 503".to_string(),
            "resets, refused streams and gRPC UNAVAILABLE are not known to be retried".to_string(),
        ),
        Target::ServiceConnect => (
            Change::Lost,
            "Service Connect's retries cannot be configured (it retries twice on connect failure or 503)".to_string(),
            "other 5xx the policy retried reach the caller; the per-try timeout is gone".to_string(),
        ),
        Target::Istio => (
            Change::WrittenOut,
            "written as `retries` (Istio's own default would not retry resets and would retry cancelled)".to_string(),
            "none: the same conditions are retried".to_string(),
        ),
        Target::GatewayApi => (
            Change::Approximate,
            if hidden {
                "written as `retry: {attempts: 2, codes: [503]}`; connect failures, refused streams and resets are retried only as implementations SHOULD".to_string()
            } else {
                "written as `retry` with status codes; App Mesh's event classes become codes, connection errors are retried only as implementations SHOULD".to_string()
            },
            "`retry` is Standard only from Gateway API v1.7.0: an older implementation ignores it, and then nothing is retried".to_string(),
        ),
        Target::AppMesh | Target::AppMeshPre2020 | Target::Linkerd => return,
    };
    losses.add_cited(
        Entry {
            subject,
            field,
            change,
            app_mesh,
            target: text,
            effect,
        },
        if change == Change::WrittenOut || target == Target::GatewayApi {
            cite(&p.retries.knobs)
        } else {
            cite(&p.retries.default)
        },
    );
}

fn timeout(route: &RouteView<'_>, losses: &mut Losses) {
    let target = losses.target;
    let p = target.profile();
    let Some(cut) = route.per_request else {
        return;
    };
    let subject = route.subject.as_str();
    let field = if route.per_request_default {
        "timeout.perRequest (unset: 15 s default)"
    } else {
        "timeout.perRequest"
    };
    let app_mesh = format!("App Mesh cut requests at {}", human(cut));
    let (change, text, effect, fact) = match target {
        Target::Lattice => (
            Change::Lost,
            "Lattice has no request timeout (idle connections close after 60 s)".to_string(),
            format!(
                "requests App Mesh cut at {} now wait as long as the caller does: tail latency is unbounded",
                human(cut)
            ),
            cite(&p.timeouts.request),
        ),
        Target::ServiceConnect => {
            let whole = Duration::from_secs(cut.as_secs());
            if whole == cut {
                if route.per_request_default {
                    (
                        Change::WrittenOut,
                        format!("written as perRequestTimeoutSeconds {}", cut.as_secs()),
                        "none".to_string(),
                        cite(&p.timeouts.request_configurable),
                    )
                } else {
                    return;
                }
            } else {
                let up = cut.as_secs() + 1;
                (
                    Change::Approximate,
                    format!("perRequestTimeoutSeconds takes whole seconds: written as {up}"),
                    format!("requests slower than {} but faster than {up} s now succeed", human(cut)),
                    cite(&p.timeouts.request_configurable),
                )
            }
        }
        Target::Istio | Target::GatewayApi if route.per_request_default => (
            Change::WrittenOut,
            match (target, p.timeouts.request.value) {
                (Target::Istio, TimeoutDefault::Off) => {
                    "written as `timeout: 15s` (Istio's default is no timeout)".to_string()
                }
                _ => "written as `timeouts.request: 15s` (unset is implementation-defined; the field is Extended support)".to_string(),
            },
            "none where the field is honoured".to_string(),
            cite(&p.timeouts.request),
        ),
        _ => return,
    };
    losses.add_cited(
        Entry {
            subject,
            field,
            change,
            app_mesh,
            target: text,
            effect,
        },
        fact,
    );
}
