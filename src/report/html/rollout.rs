//! The rollout's part of report.html: the weights it asked for and its check results over
//! time, with the moments it crossed a limit and decided, and its measurements as a table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::style::RGBColor;

use super::charts::{Axis, Mark, Scale, Stroke, Ticks, palette};
use super::sections::{Context, HALF, figure};
use super::{escape, note};
use crate::rollout::timeline::ChangeRecord;
use crate::rollout::{Outcome, RolloutReport, Status};

const PASS: RGBColor = RGBColor(89, 161, 79);
const FAIL: RGBColor = RGBColor(214, 39, 40);
const WARN: RGBColor = RGBColor(237, 161, 40);
const GREY: RGBColor = RGBColor(150, 150, 150);

/// A series over continuous time (a step function): points in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Steps {
    /// Legend text.
    pub label: String,
    /// Corners of the steps.
    pub points: Vec<(f64, f64)>,
}

/// The weights the rollout asked for, as step functions from its first change to `end_s`:
/// stable and candidate always, the judge's baseline and the mirrored share when used.
pub fn rollout_weights(r: &RolloutReport, end_s: f64) -> Vec<Steps> {
    type Pick = fn(&ChangeRecord) -> u32;
    let arms: [(&str, Pick, bool); 4] = [
        ("stable %", |c| c.weights.stable, true),
        ("candidate %", |c| c.weights.candidate, true),
        ("baseline %", |c| c.weights.baseline, false),
        ("mirrored %", |c| c.mirror_percent, false),
    ];
    let mut out = Vec::new();
    for (label, pick, always) in arms {
        if r.changes.is_empty() || (!always && r.changes.iter().all(|c| pick(c) == 0)) {
            continue;
        }
        let mut points: Vec<(f64, f64)> = Vec::new();
        for c in &r.changes {
            let at = c.at_s.min(end_s);
            if let Some(&(_, before)) = points.last() {
                points.push((at, before));
            }
            points.push((at, f64::from(pick(c))));
        }
        if let Some(&(at, last)) = points.last()
            && at < end_s
        {
            points.push((end_s, last));
        }
        out.push(Steps {
            label: label.to_string(),
            points,
        });
    }
    out
}

/// The rollout's measurements: the names of the checks (with the arm when a check measured
/// more than one), and each result as (when, which check, verdict).
pub fn check_results(r: &RolloutReport) -> (Vec<String>, Vec<(f64, usize, Status)>) {
    let mut arms: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for c in &r.checks {
        let a = arms.entry(c.check.as_str()).or_default();
        if !a.contains(&c.arm.as_str()) {
            a.push(c.arm.as_str());
        }
    }
    let mut names: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for c in &r.checks {
        let name = if arms.get(c.check.as_str()).is_some_and(|a| a.len() > 1) {
            format!("{} ({})", c.check, c.arm.as_str())
        } else {
            c.check.clone()
        };
        let i = names.iter().position(|n| *n == name).unwrap_or_else(|| {
            names.push(name);
            names.len() - 1
        });
        results.push((c.at_s, i, c.status));
    }
    (names, results)
}

/// The rollout's weights and check results over time, and its measurements as a table.
pub fn section(ctx: &Context, r: &RolloutReport) -> String {
    let mut out = String::from("<div class=\"grid\">\n");
    let weights = rollout_weights(r, ctx.timeline.end_s);
    let mut marks: Vec<Mark> = weights
        .into_iter()
        .enumerate()
        .map(|(i, s)| Mark::Line {
            label: Some(s.label),
            color: palette(i),
            // At 50 % each, stable and candidate draw one line: the stable one, first and
            // wider, shows on both sides of the candidate's; the other shares are dashed.
            width: if i == 0 { 7 } else { 3 },
            stroke: if i < 2 { Stroke::Solid } else { Stroke::Dashed },
            points: s.points,
        })
        .collect();
    marks.extend(decisions(r));
    // Room above 100 % for the rules' captions.
    let chart = ctx.over_time(
        "Route weights: what the rollout asked of the route".into(),
        HALF,
        Axis {
            desc: "share of requests (%)".into(),
            lo: 0.0,
            hi: 125.0,
            scale: Scale::Linear,
            ticks: Ticks::Auto,
        },
        marks,
        &[],
    );
    out.push_str(&figure(&chart));
    let (names, results) = check_results(r);
    if results.is_empty() {
        out.push_str(&note("The rollout took no measurements."));
    } else {
        let mut seen: Vec<Status> = Vec::new();
        let mut marks: Vec<Mark> = results
            .iter()
            .map(|(at, band, status)| {
                let first = !seen.contains(status);
                seen.push(*status);
                let (color, label) = status_look(*status);
                Mark::Dot {
                    at: (*at, *band as f64 + 0.5),
                    color,
                    label: first.then(|| label.to_string()),
                }
            })
            .collect();
        marks.extend(decisions(r));
        let height = (140 + 44 * names.len() as u32).max(HALF.1);
        let chart = ctx.over_time(
            "Check results: the rollout's measurements".into(),
            (HALF.0, height),
            Axis {
                desc: String::new(),
                lo: 0.0,
                hi: names.len() as f64 + 0.6,
                scale: Scale::Linear,
                ticks: Ticks::Categories(names),
            },
            marks,
            &[],
        );
        out.push_str(&figure(&chart));
    }
    out.push_str("</div>\n");
    out
}

/// Rules where the limit was crossed and where the rollout was decided.
pub(super) fn decisions(r: &RolloutReport) -> Vec<Mark> {
    let mut out = Vec::new();
    if let Some(at) = r.detected_at_s {
        out.push(Mark::Rule {
            at,
            label: "limit crossed".into(),
            color: WARN,
            width: 2,
        });
    }
    if let Some(at) = r.decided_at_s {
        let (label, color) = match r.outcome {
            Outcome::Promoted => ("promoted", PASS),
            Outcome::RolledBack => ("rolled back", FAIL),
            Outcome::Inconclusive => ("inconclusive", WARN),
            Outcome::Running => ("running", GREY),
        };
        out.push(Mark::Rule {
            at,
            label: label.into(),
            color,
            width: 2,
        });
    }
    out
}

/// A check result's colour and legend text.
pub fn status_look(s: Status) -> (RGBColor, &'static str) {
    match s {
        Status::Pass => (PASS, "pass"),
        Status::Fail => (FAIL, "fail"),
        Status::Inconclusive => (WARN, "inconclusive"),
        Status::Error => (GREY, "no data"),
    }
}

pub fn checks_table(r: &RolloutReport) -> String {
    if r.checks.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<details><summary>{} measurements</summary>\n<table>\n<tr><th>at s</th><th>check</th>\
         <th>arm</th><th>result</th><th>value</th><th>bound</th><th>requests</th>\
         <th>window s</th></tr>\n",
        r.checks.len()
    );
    for c in &r.checks {
        let value = c
            .value
            .map(|v| format!("{v:.3}"))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "<tr><td class=\"n\">{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{value}</td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.0}–{:.0}</td></tr>",
            c.at_s,
            escape(&c.check),
            c.arm.as_str(),
            status_look(c.status).1,
            escape(&c.threshold),
            c.requests,
            c.window_from_s,
            c.window_to_s
        );
    }
    out.push_str("</table>\n</details>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::timeline::{CheckRecord, RunKind};
    use crate::rollout::{Arm, Weights, plan::StrategyKind};

    fn rollout() -> RolloutReport {
        let change = |at_s: f64, candidate: u32, mirror_percent: u32| ChangeRecord {
            at_s,
            weights: Weights {
                stable: 100 - candidate,
                candidate,
                baseline: 0,
            },
            header_route: None,
            mirror_percent,
            preview: false,
        };
        let check = |at_s: f64, check: &str, arm: Arm, status: Status| CheckRecord {
            at_s,
            step: 1,
            run: RunKind::Gate,
            check: check.into(),
            arm,
            status,
            value: Some(1.0),
            threshold: ">= 99%".into(),
            requests: 10,
            window_from_s: 0.0,
            window_to_s: at_s,
            reason: None,
            judgement: None,
        };
        RolloutReport {
            strategy: StrategyKind::Canary,
            preset: None,
            outcome: Outcome::RolledBack,
            decided_at_s: Some(120.0),
            check: None,
            value: None,
            threshold: None,
            detected_at_s: None,
            time_to_detect_s: None,
            failed_step: None,
            reason: None,
            steps: Vec::new(),
            changes: vec![change(60.0, 10, 0), change(120.0, 0, 50)],
            checks: vec![
                check(90.0, "success_rate", Arm::Candidate, Status::Pass),
                check(90.0, "p99", Arm::Candidate, Status::Fail),
                check(90.0, "p99", Arm::Stable, Status::Pass),
                check(120.0, "success_rate", Arm::Candidate, Status::Fail),
            ],
            scale_downs: Vec::new(),
        }
    }

    #[test]
    fn rollout_weights_are_steps_from_the_first_change_to_the_end() {
        let steps = rollout_weights(&rollout(), 180.0);
        let got: Vec<(&str, &[(f64, f64)])> = steps
            .iter()
            .map(|s| (s.label.as_str(), s.points.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "stable %",
                    &[(60.0, 90.0), (120.0, 90.0), (120.0, 100.0), (180.0, 100.0)][..]
                ),
                (
                    "candidate %",
                    &[(60.0, 10.0), (120.0, 10.0), (120.0, 0.0), (180.0, 0.0)][..]
                ),
                (
                    "mirrored %",
                    &[(60.0, 0.0), (120.0, 0.0), (120.0, 50.0), (180.0, 50.0)][..]
                ),
            ],
            "no baseline line: the judge's baseline was never used"
        );
        let mut none = rollout();
        none.changes.clear();
        assert!(rollout_weights(&none, 180.0).is_empty());
    }

    #[test]
    fn check_results_name_the_arm_only_when_a_check_measured_several() {
        let (names, results) = check_results(&rollout());
        assert_eq!(names, ["success_rate", "p99 (candidate)", "p99 (stable)"]);
        assert_eq!(
            results,
            [
                (90.0, 0, Status::Pass),
                (90.0, 1, Status::Fail),
                (90.0, 2, Status::Pass),
                (120.0, 0, Status::Fail),
            ]
        );
    }
}
