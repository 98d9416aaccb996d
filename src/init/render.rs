//! The plan written out as YAML with comments. Strings are written plain when YAML reads
//! them back as the same string, else double-quoted as JSON quotes them (which YAML reads).

use std::fmt::Write;

use super::InitOptions;
use super::plan::{Entry, Plan};

/// Service time of a generated endpoint: a log-normal with a 5 ms median and a 25 ms p99, the
/// shape latency dashboards quote for a small internal HTTP service.
const SERVICE_TIME: &str = "{ distribution: lognormal, median: 5ms, p99: 25ms }";
/// Workers per task: enough that the default rate never queues, few enough to saturate under
/// a surge a scenario adds.
const WORKERS: u32 = 32;
/// Users' requests per second.
const RATE: u32 = 20;

/// A YAML scalar for `s`.
pub(super) fn text(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-".contains(c))
        && !s.starts_with(['-', '.'])
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~"
        )
        && s.parse::<f64>().is_err()
        && !s.chars().all(|c| c.is_ascii_digit() || c == '_');
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// The scenario file.
pub(super) fn scenario(plan: &Plan, opts: &InitOptions) -> String {
    let mut o = String::new();
    let files = opts.files.join(" ");
    let _ = writeln!(o, "# Written by `meshsim init` from {files}.");
    let _ = writeln!(
        o,
        "# A starting point for rehearsing mesh `{}`: what the mesh files say is here (tasks per",
        plan.mesh
    );
    o.push_str(
        "# virtual node, endpoints from the routes, calls to the declared backends, the entry, a\n\
         # request mix aimed at every route); what they cannot say (service times, workers, the\n\
         # users' rate) is a plausible default marked `guess`. Runs as it is:\n",
    );
    let _ = writeln!(o, "#   meshsim run {} --duration 1m", opts.scenario_name);
    let _ = writeln!(o, "#   {}", check_command(opts));
    o.push_str(
        "# Then put your own numbers in, uncomment the expectations and pick a rollout below;\n\
         # docs/SCENARIOS.md (\"From `meshsim init` to a rehearsal\") walks through it.\n",
    );
    let uncovered = plan.coverage.uncovered();
    if !uncovered.is_empty() {
        let _ = writeln!(
            o,
            "# No generated request reaches these routes (add mix entries or calls for them): {}.",
            uncovered.join(", ")
        );
    }
    line(
        &mut o,
        "duration: 5m",
        "simulated time; --duration overrides it",
    );
    o.push_str("seed: 1\n\n");

    // mesh
    o.push_str("mesh:\n  files:\n");
    for f in &opts.files {
        let _ = writeln!(o, "    - {}", text(f));
    }
    if !opts.vars.is_empty() {
        line(
            &mut o,
            "  vars:",
            "placeholder values, like --var; use your own",
        );
        for (k, v) in &opts.vars {
            let _ = writeln!(o, "    {}: {}", text(k), quoted(v));
        }
    }
    let given: Vec<_> = plan.params.iter().filter(|(_, g, _)| g.is_some()).collect();
    let defaulted: Vec<_> = plan.params.iter().filter(|(_, g, _)| g.is_none()).collect();
    let extra: Vec<_> = opts
        .params
        .iter()
        .filter(|(k, _)| !plan.params.iter().any(|(n, ..)| n == *k))
        .collect();
    if !given.is_empty() || !defaulted.is_empty() || !extra.is_empty() {
        line(
            &mut o,
            "  params:",
            "CloudFormation parameters, like --param",
        );
        if given.is_empty() && extra.is_empty() {
            o.push_str("    {}\n");
        }
        for (k, g, _) in &given {
            let _ = writeln!(
                o,
                "    {}: {}",
                text(k),
                quoted(g.as_deref().unwrap_or_default())
            );
        }
        for (k, v) in &extra {
            let _ = writeln!(o, "    {}: {}", text(k), quoted(v));
        }
        for (k, _, d) in &defaulted {
            let _ = writeln!(
                o,
                "    # {}: {}   (the template's Default)",
                text(k),
                quoted(d.as_deref().unwrap_or_default())
            );
        }
    }
    if opts.several_meshes {
        let _ = writeln!(o, "  mesh: {}", text(&plan.mesh));
    }
    if opts.lenient {
        line(&mut o, "  lenient: true", "the files need --lenient");
    }
    if let Entry::Added { service, node } = &plan.entry {
        let _ = writeln!(
            o,
            "  # Added by init: nothing in the mesh leads to `{node}`, which users reach\n  \
             # directly; this virtual service lets the load generator's sidecar call it."
        );
        o.push_str("  inline: |\n");
        let _ = writeln!(o, "    meshName: {}", text(&plan.mesh));
        let _ = writeln!(o, "    virtualServiceName: {}", text(service));
        o.push_str("    spec:\n      provider:\n");
        let _ = writeln!(
            o,
            "        virtualNode: {{ virtualNodeName: {} }}",
            text(node)
        );
    }
    o.push('\n');

    // tasks
    o.push_str("tasks:\n");
    for t in &plan.tasks {
        let _ = writeln!(o, "  - node: {}", text(&t.node));
        line(
            &mut o,
            &format!("    replicas: {}", t.replicas.count),
            &t.replicas.source,
        );
        let _ = writeln!(o, "    service: {}", text(&t.node));
    }
    o.push('\n');

    // services
    o.push_str("services:\n");
    for s in &plan.services {
        let _ = writeln!(o, "  {}:", text(&s.node));
        line(
            &mut o,
            &format!("    workers: {WORKERS}"),
            "guess: requests a task serves at once",
        );
        if !plan.propagate.is_empty() {
            let names: Vec<String> = plan.propagate.iter().map(|h| text(h)).collect();
            line(
                &mut o,
                &format!("    propagate_headers: [{}]", names.join(", ")),
                "routes match on them; the app passes them on",
            );
        }
        o.push_str("    endpoints:\n");
        for e in &s.endpoints {
            if e.method == "*" {
                line(&mut o, &format!("      - path: {}", text(&e.path)), &e.note);
            } else {
                let _ = writeln!(o, "      - method: {}", text(&e.method));
                line(&mut o, &format!("        path: {}", text(&e.path)), &e.note);
            }
            if e.health {
                o.push_str("        service_time: 100us\n");
                continue;
            }
            line(
                &mut o,
                &format!("        service_time: {SERVICE_TIME}"),
                "guess",
            );
            if !s.calls.is_empty() {
                o.push_str("        calls:\n");
                for c in &s.calls {
                    let tolerate = if c.tolerate {
                        ", on_failure: tolerate"
                    } else {
                        ""
                    };
                    let call = format!(
                        "          - call: {{ service: {}, method: {}, path: {}{tolerate} }}",
                        text(&c.service),
                        c.method.as_str(),
                        text(&c.path),
                    );
                    line(&mut o, &call, &c.note);
                }
            }
        }
        for why in &s.skipped {
            let _ = writeln!(o, "    # not called: {why}");
        }
    }
    o.push('\n');

    // workload
    o.push_str("workload:\n");
    let why = match &plan.entry {
        Entry::Gateway(_) => "the mesh's only virtual gateway".to_string(),
        Entry::Service(_) if plan.other_roots.is_empty() => {
            "the virtual service nothing else calls".to_string()
        }
        Entry::Service(_) => format!(
            "of the virtual services nothing calls, the one that reaches the most nodes (also: {})",
            plan.other_roots.join(", ")
        ),
        Entry::Added { node, .. } => format!("added above, in front of `{node}`"),
    };
    line(
        &mut o,
        &format!("  target: {}", text(plan.entry.target())),
        &why,
    );
    line(
        &mut o,
        &format!("  rate: {{ constant: {RATE} }}"),
        "guess: users' requests per second",
    );
    line(
        &mut o,
        "  mix:",
        "one request per route, as the sidecars match them",
    );
    for m in &plan.mix {
        let r = &m.request;
        let mut line = format!(
            "    - {{ weight: 1, method: {}, path: {}",
            r.method.as_str(),
            text(&r.path)
        );
        if !r.headers.is_empty() {
            let h: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("{}: {}", text(k), quoted(v)))
                .collect();
            let _ = write!(line, ", headers: {{ {} }}", h.join(", "));
        }
        line.push_str(" }");
        self::line(&mut o, &line, &m.note);
    }
    o.push('\n');

    // rollout stubs
    if plan.rollouts.is_empty() {
        o.push_str(
            "# rollout: no route of the mesh has two weighted targets to move traffic between.\n",
        );
    } else {
        o.push_str(
            "# A rollout moves a weighted route's traffic from its stable target to a candidate\n\
             # (docs/ROLLOUTS.md); a scenario has one. Uncomment one of these:\n",
        );
    }
    for (i, r) in plan.rollouts.iter().enumerate() {
        let weights: Vec<String> = r.targets.iter().map(|(n, w)| format!("{n} {w}")).collect();
        let _ = writeln!(
            o,
            "#\n# route {}/{} ({}):",
            r.router,
            r.route,
            weights.join(", ")
        );
        let c = if i == 0 { "# " } else { "#   " };
        let _ = writeln!(o, "{c}rollout:");
        let _ = writeln!(o, "{c}  router: {}", text(&r.router));
        let _ = writeln!(o, "{c}  route: {}", text(&r.route));
        line(
            &mut o,
            &format!("{c}  stable: {}", text(&r.targets[0].0)),
            "the heaviest target",
        );
        let _ = writeln!(o, "{c}  candidate: {}", text(&r.targets[1].0));
        let _ = writeln!(o, "{c}  start: 1m");
        let _ = writeln!(o, "{c}  strategy:");
        let _ = writeln!(
            o,
            "{c}    canary: {{ step_weight: 10, max_weight: 50, interval: 1m }}"
        );
        let _ = writeln!(o, "{c}  analysis:");
        let _ = writeln!(o, "{c}    interval: 1m");
        let _ = writeln!(o, "{c}    checks:");
        let _ = writeln!(o, "{c}      - success_rate: \">= 99%\"");
        let _ = writeln!(o, "{c}      - p99: \"<= 500ms\"");
    }
    o.push('\n');

    // expectations
    o.push_str(
        "# What the run must show (docs/SCENARIOS.md, `expect`); `meshsim run` exits 1 when one\n\
         # fails. Uncomment and set your SLOs:\n\
         # expect:\n\
         #   - service: users\n\
         #     success_rate: \">= 99.9%\"\n\
         #     p99: \"<= 500ms\"\n\
         #   - invariant: no-request-lost\n",
    );
    for t in &plan.tasks {
        let _ = writeln!(
            o,
            "#   - service: {}\n#     p99: \"<= 100ms\"",
            text(&t.node)
        );
    }
    if !plan.rollouts.is_empty() {
        o.push_str("#   - rollout: promoted           # with a rollout above\n");
    }
    o
}

/// The starting `meshsim check` policy.
pub(super) fn policy(plan: &Plan, opts: &InitOptions) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Written by `meshsim init` from {}: a starting policy for\n\
         #   {}\n\
         # (from this folder; docs/CHECK.md). Each property holds or fails for the mesh as it is;\n\
         # add the ones your routing promises (`always`, `never`, `share`).",
        opts.files.join(" "),
        check_command(opts),
    );
    if opts.several_meshes {
        let _ = writeln!(o, "mesh: {}", text(&plan.mesh));
    }
    o.push_str("properties:\n");
    line(
        &mut o,
        "  - noShadowedRoutes: true",
        "every route can be reached",
    );
    line(
        &mut o,
        "  - timeoutCoversRetries: true",
        "retries fit in the route timeout",
    );
    line(
        &mut o,
        "  - maxRetryAmplification: 10",
        "attempts along a call path, multiplied",
    );
    for g in &plan.gateways {
        line(
            &mut o,
            &format!("  - reachableFrom: {}", text(g)),
            "every virtual service, through its gateway routes",
        );
    }
    for r in &plan.rollouts {
        let Some((service, routes)) = plan.routers.get(&r.router) else {
            continue;
        };
        let total: u32 = r.targets.iter().map(|(_, w)| w).sum();
        if total == 0 {
            continue;
        }
        let share = f64::from(r.targets[0].1) * 100.0 / f64::from(total);
        // `share` is about every routed request to the service: it says this route's split
        // only when the route is the router's only one.
        let c = if *routes == 1 { "" } else { "# " };
        let _ = writeln!(
            o,
            "  {c}- name: {} keeps its share of route {}\n  {c}  service: {}\n  {c}  share: {{ node: {}, min: {:.0}, max: {:.0} }}",
            r.targets[0].0,
            r.route,
            text(service),
            text(&r.targets[0].0),
            (share - 5.0).max(0.0),
            (share + 5.0).min(100.0),
        );
    }
    o
}

/// Writes `lhs`, then `# comment` from column 40 (or one space after a longer `lhs`).
fn line(o: &mut String, lhs: &str, comment: &str) {
    let width = lhs.chars().count();
    let pad = if width < 39 { 40 - width } else { 1 };
    let _ = writeln!(o, "{lhs}{:pad$}# {comment}", "");
}

/// The `meshsim check` command for the policy, run from the scenario's folder.
fn check_command(opts: &InitOptions) -> String {
    let mut words = vec!["meshsim".to_string(), "check".to_string()];
    words.extend(opts.files.iter().map(|f| shell(f)));
    for (k, v) in &opts.vars {
        words.push(format!("--var {}", shell(&format!("{k}={v}"))));
    }
    for (k, v) in &opts.params {
        words.push(format!("--param {}", shell(&format!("{k}={v}"))));
    }
    if opts.lenient {
        words.push("--lenient".into());
    }
    words.push(format!("--policy {}", shell(&opts.policy_name)));
    words.join(" ")
}

/// A word as a POSIX shell reads it back.
fn shell(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_.-=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A value written as a quoted string (placeholder and parameter values are text).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}
