//! report.html of a short rehearsal: the Ordering fixture with Order v2 canaried on fast
//! timers and a 10 s burst of errors on v2, so the page has every kind of chart. Checked: each
//! chart is there by title (one title style) and parses as SVG with its labels as text, the
//! page loads nothing from a network and runs no script, the fault window is shaded and named
//! where it was on the chart of the node it acts on and on no other, the rollout's steps and
//! decision are marked on the latency charts with captions that do not overlap, one seed gives
//! one byte sequence, and headless Chromium renders the page to a screenshot.

use std::path::Path;

use meshsim::rehearse::rehearse;
use meshsim::report::{self, Output, Outputs, Report};
use meshsim::scenario;
use meshsim::sim::RunOptions;

const ROLLOUT: &str = r#"rollout:
  router: order-router
  route: order
  stable: order-v1
  candidate: order-v2
  start: 5s
  propagation_delay: 1s
  strategy:
    canary: { step_weight: 25, interval: 5s, threshold: 1 }
  analysis:
    interval: 5s
    min_requests: 20
    checks:
      - success_rate: ">= 95%"
metrics:
  interval: 2s
"#;

const FAULT: &str = "faults:
  - { name: v2-burst, kind: errors, target: { node: order-v2 }, percent: 40, status: 500, start: 10s, duration: 10s }
expect:
  - rollout: rolled_back
";

/// The files `meshsim run` would write for the fixture plus `extra`.
fn files(extra: &str) -> report::Files {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios");
    let base = std::fs::read_to_string(dir.join("ordering_two_orders.yaml")).expect("fixture");
    let text = format!("{base}{ROLLOUT}{extra}");
    let loaded = scenario::load_text("html.yaml", &text, &dir);
    let messages: Vec<_> = loaded.diagnostics.iter().map(|d| &d.message).collect();
    assert!(loaded.is_valid(), "{messages:?}");
    let (scenario, mesh) = loaded.runnable().expect("runnable");
    let rehearsal = rehearse(scenario, mesh, &RunOptions::default(), &mut |_| {}).expect("runs");
    let mut rep = Report::of_rehearsal(scenario, &rehearsal);
    rep.command = Some("meshsim run html.yaml --seed 3".into());
    rep.config_sha256 = Some(report::config_sha256(&loaded.sources));
    report::files(&rep, &rehearsal.run, &Outputs::default())
}

fn html(files: &report::Files) -> String {
    let bytes = files
        .get("report.html")
        .expect("report.html is a default output");
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

/// Every `<svg>…</svg>` of the page.
fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").expect("every <svg> is closed") + start + 6;
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// The texts of an SVG's `<text>` elements.
fn texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

/// Opening and closing tags of the HTML outside the SVGs balance (void elements aside).
fn assert_tags_balance(page: &str) {
    const VOID: [&str; 3] = ["meta", "br", "hr"];
    let mut stack: Vec<String> = Vec::new();
    let mut rest = page;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("every tag ends") + open;
        let tag = &rest[open + 1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('!') || tag.ends_with('/') {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if VOID.contains(&name.as_str()) {
            continue;
        }
        if tag.starts_with('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.as_str()),
                "unbalanced </{name}>"
            );
        } else {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "left open: {stack:?}");
}

#[test]
fn the_page_has_every_chart_as_parseable_svg_and_nothing_from_a_network() {
    let files = files(FAULT);
    let names: Vec<&str> = files.names().collect();
    let html_at = names
        .iter()
        .position(|n| *n == "report.html")
        .expect("written");
    assert_eq!(
        names.last(),
        Some(&"report.json"),
        "report.json stays last: {names:?}"
    );
    assert!(html_at < names.len() - 1);
    let page = html(&files);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_tags_balance(&page);

    // The header: what ran, how to rerun it, and the verdict.
    for text in [
        "<h1>two-orders <span class=\"seed\">seed 3</span></h1>",
        "meshsim run html.yaml --seed 3",
        "PASS: 1 of 1 expectations held",
        "rollout (canary): rolled_back",
        "<code>reservation-once-per-order</code>: held",
        "v2-burst: errors 40.0% 500 on node order-v2, 10s → 20s",
    ] {
        assert!(page.contains(text), "no {text:?} in the header");
    }

    let titles = [
        "Latency, p50 and p99: users, as they saw it",
        "Latency, p50 and p99: order, at its sidecars' inbound listeners",
        // No version label on these nodes: each stands alone under its own name.
        "Latency, p50 and p99: inventory-v1, at its sidecars' inbound listeners",
        "Latency, p50 and p99: ui-v1, at its sidecars' inbound listeners",
        "Latency, p50 and p99: ingress, at its sidecars' inbound listeners",
        "Requests per second: users and each virtual node",
        "Errors and retries per second: users and each virtual node",
        "Route weights: what the rollout asked of the route",
        "Check results: the rollout's measurements",
        "Latency by percentile: each version (HdrHistogram)",
        "Retry amplification: attempts per request on each hop",
        // The sidecars of the UI ejected a failing Order v2 task.
        "Ejections, overflows, breaker trips and rate limiting: each proxy",
    ];
    // One title style: "What: whom", the what capitalised.
    for t in titles {
        let (what, whom) = t.split_once(": ").expect("What: whom");
        assert!(
            what.starts_with(char::is_uppercase) && !whom.is_empty(),
            "{t}"
        );
    }
    let svgs = svgs(&page);
    let mut found = Vec::new();
    for svg in &svgs {
        let doc = roxmltree::Document::parse(svg).expect("each chart is well-formed SVG");
        let texts = texts(&doc);
        let title = titles
            .iter()
            .find(|t| texts.iter().any(|x| x == *t))
            .unwrap_or_else(|| panic!("a chart with none of the titles: {texts:?}"));
        found.push(*title);
        assert!(texts.len() > 5, "{title}: axis labels are text: {texts:?}");
    }
    for t in titles {
        assert!(found.contains(&t), "no chart `{t}`; found {found:?}");
    }
    assert_eq!(svgs.len(), titles.len());
    // Every version of Order has its own lines, in the latency chart and the HdrHistogram one.
    for label in [
        "order-v1 p99",
        "order-v2 p99",
        "order-v2 p50",
        ">\norder-v2\n<",
        "ejections at ui-v1",
    ] {
        assert!(page.contains(label), "no `{label}`");
    }

    // Self-contained: no network, no script.
    let without_ns = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for banned in [
        "http://", "https://", "<script", "<link", "<img", "@import", "url(",
    ] {
        assert!(!without_ns.contains(banned), "the page holds `{banned}`");
    }
}

/// The x positions of the time axis' tick labels in one chart: (seconds, pixel).
fn time_ticks(doc: &roxmltree::Document) -> Vec<(f64, f64)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text") && n.attribute("text-anchor") == Some("middle"))
        .filter_map(|n| {
            let secs: f64 = n.text()?.trim().parse().ok()?;
            Some((secs, n.attribute("x")?.parse().ok()?))
        })
        .collect()
}

/// Where a time falls on a chart's x axis, px: read off the time axis' first and last labels.
fn pixel_of(doc: &roxmltree::Document) -> impl Fn(f64) -> f64 {
    let ticks = time_ticks(doc);
    let (first, last) = (
        *ticks.first().expect("ticks"),
        *ticks.last().expect("ticks"),
    );
    assert!(last.0 > first.0, "{ticks:?}");
    move |secs| first.1 + (secs - first.0) * (last.1 - first.1) / (last.0 - first.0)
}

/// The fault shades of a chart (its legend swatch included), as pixel spans.
fn shades(doc: &roxmltree::Document) -> Vec<(f64, f64)> {
    doc.descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#D62728"))
        .filter_map(|n| {
            let x: f64 = n.attribute("x")?.parse().ok()?;
            let w: f64 = n.attribute("width")?.parse().ok()?;
            Some((x, x + w))
        })
        .collect()
}

#[test]
fn a_fault_is_shaded_and_named_only_on_the_charts_of_the_nodes_it_acts_on() {
    let page = html(&files(FAULT));
    let charts = svgs(&page);
    let order = charts
        .iter()
        .find(|s| s.contains("Latency, p50 and p99: order,"))
        .expect("Order's latency chart, with order-v2, which the fault acts on");
    let doc = roxmltree::Document::parse(order).expect("SVG");
    let px = pixel_of(&doc);
    let shaded = shades(&doc);
    // The 10 s → 20 s window, and its legend swatch (18 px wide).
    assert_eq!(shaded.len(), 2, "{shaded:?}");
    let (from, to) = shaded[0];
    assert!(
        (from - px(10.0)).abs() <= 2.0,
        "starts at {from}, 10 s is at {}",
        px(10.0)
    );
    assert!(
        (to - px(20.0)).abs() <= 2.0,
        "ends at {to}, 20 s is at {}",
        px(20.0)
    );
    assert!(texts(&doc).iter().any(|t| t == "fault in force"));
    // Named on the chart, inside its window.
    let name = doc
        .descendants()
        .find(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some("v2-burst"))
        .expect("the fault's name on the chart");
    let x: f64 = name.attribute("x").and_then(|x| x.parse().ok()).expect("x");
    assert!(x >= px(10.0) && x < px(20.0), "name at {x}");

    // Every other chart, the users' and the other services' latency among them: no shade.
    for svg in charts.iter().filter(|s| *s != order) {
        let doc = roxmltree::Document::parse(svg).expect("SVG");
        let title = texts(&doc).into_iter().next().unwrap_or_default();
        assert!(shades(&doc).is_empty(), "`{title}` is shaded");
        assert!(!svg.contains(">\nv2-burst\n<"), "`{title}` names the fault");
    }

    let calm = html(&files(""));
    assert!(!calm.contains("#D62728\""), "shading without a fault");
    assert!(!calm.contains("fault in force"));
}

#[test]
fn latency_charts_mark_the_rollouts_steps_and_decision_without_overlapping_captions() {
    let page = html(&files(FAULT));
    let users = svgs(&page)
        .into_iter()
        .find(|s| s.contains("Latency, p50 and p99: users"))
        .expect("the users' latency chart");
    let doc = roxmltree::Document::parse(users).expect("SVG");
    let px = pixel_of(&doc);
    // Steps to 25 % at 5 s and 50 % at 10 s, the limit crossed at 15 s, rolled back at 20 s.
    let mut captions = Vec::new();
    for (text, at) in [
        ("25%", 5.0),
        ("50%", 10.0),
        ("limit crossed", 15.0),
        ("rolled back", 20.0),
    ] {
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some(text))
            .unwrap_or_else(|| panic!("no caption `{text}`"));
        let x: f64 = node.attribute("x").and_then(|x| x.parse().ok()).expect("x");
        let y: f64 = node.attribute("y").and_then(|y| y.parse().ok()).expect("y");
        // Beside its rule: starting just after it, or ending just before it.
        assert!(
            (x - px(at)).abs() <= 6.0,
            "`{text}` at {x}, {at} s is at {}",
            px(at)
        );
        // About 7 px a character at 13 px: no caption runs into the next on its row. One
        // left of its rule ends at it (`text-anchor: end`).
        let width = 7.0 * text.len() as f64;
        let (from, to) = if node.attribute("text-anchor") == Some("end") {
            (x - width, x)
        } else {
            (x, x + width)
        };
        captions.push((text, from, to, y));
    }
    for (i, a) in captions.iter().enumerate() {
        for b in &captions[i + 1..] {
            let apart = (a.3 - b.3).abs() >= 12.0 || a.2 <= b.1 || b.2 <= a.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
}

#[test]
fn one_seed_gives_one_page_byte_for_byte() {
    let (a, b) = (html(&files(FAULT)), html(&files(FAULT)));
    assert!(a == b, "two runs with one seed wrote different pages");
    let outputs = Outputs::parse("json").expect("parses");
    assert!(!outputs.has(Output::Html));
}

/// The page in a real browser: scripts/screenshot-report.sh renders it in headless Chromium
/// and keeps the screenshot in `target/report-html/report.png` for a person to look at.
/// Without Chromium (`apt-get install chromium`) the test says so and checks nothing more.
#[test]
fn headless_chromium_renders_the_page_to_a_screenshot() {
    if !Path::new("/usr/bin/chromium").exists() {
        eprintln!(
            "SKIPPED headless_chromium_renders_the_page_to_a_screenshot: no /usr/bin/chromium \
             (apt-get install chromium to run it)"
        );
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/")
        .join("report-html");
    std::fs::create_dir_all(&dir).expect("target/report-html");
    let page = dir.join("report.html");
    let png = dir.join("report.png");
    let _ = std::fs::remove_file(&png);
    std::fs::write(&page, html(&files(FAULT))).expect("report.html written");
    let out = std::process::Command::new("scripts/screenshot-report.sh")
        .arg("4000")
        .env("REPORT", &page)
        .env("PNG", &png)
        .output()
        .expect("the script runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    // A PNG of the window's size: signature, then IHDR's width and height.
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("width"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("height"));
    assert_eq!((width, height), (1280, 4000));
    // A blank or unstyled page compresses to a few kilobytes; a page of charts does not.
    assert!(
        bytes.len() > 100_000,
        "{} bytes: an empty page?",
        bytes.len()
    );
    eprintln!("screenshot of report.html: {}", png.display());
}
