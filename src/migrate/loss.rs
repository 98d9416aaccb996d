//! The loss report: every App Mesh field or behaviour the target cannot carry, what changes
//! because of it, and the line to rehearse it; written as `loss.md` and `loss.json`.

use serde::Serialize;

use super::profile::{Certainty, Fact, Target};

/// What happens to an App Mesh field on the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The target cannot express it: the configuration is refused, or the part was left out
    /// of the written files (the target's own limit is quoted).
    Refused,
    /// No equivalent: the behaviour is gone.
    Lost,
    /// Written with a different meaning or only partly.
    Approximate,
    /// App Mesh applied it without configuration; the translation writes it out so the target
    /// keeps it.
    WrittenOut,
    /// Not written by this version of `meshsim translate` (a gap of the tool, not the target).
    NotTranslated,
}

impl Change {
    /// A heading for the report.
    pub fn heading(self) -> &'static str {
        match self {
            Change::Refused => "Refused by the target",
            Change::Lost => "Lost",
            Change::Approximate => "Approximate",
            Change::WrittenOut => "App Mesh defaults written out",
            Change::NotTranslated => "Not translated yet",
        }
    }
}

/// One entry of the loss report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// What: "route `order-router/order`", "virtual node `order-v1` listener 8080".
    pub subject: String,
    /// The App Mesh field (API spelling), or the hidden default's name.
    pub field: String,
    /// Its fate.
    pub change: Change,
    /// What App Mesh did.
    pub app_mesh: String,
    /// What the target does.
    pub target: String,
    /// The behaviour a rehearsal would see change.
    pub effect: String,
    /// The line to rehearse it: "route `inventory`: App Mesh retried 503 twice; Lattice will
    /// not retry".
    pub rehearse: String,
    /// The source of the target's behaviour (the profile fact's).
    pub source: &'static str,
    /// How sure that source is.
    pub certainty: Certainty,
}

/// Builds losses with the subject and target fixed.
pub(crate) struct Losses {
    pub(crate) target: Target,
    pub(crate) list: Vec<Loss>,
}

/// The parts of one loss a writer supplies.
pub(crate) struct Entry<'a> {
    pub(crate) subject: &'a str,
    pub(crate) field: &'a str,
    pub(crate) change: Change,
    /// "App Mesh retried 503 twice" (a clause that reads after "subject: ").
    pub(crate) app_mesh: String,
    /// "Lattice will not retry".
    pub(crate) target: String,
    pub(crate) effect: String,
}

impl Losses {
    pub(crate) fn new(target: Target) -> Losses {
        Losses {
            target,
            list: Vec::new(),
        }
    }

    /// Records an entry whose target behaviour is the fact `fact`.
    pub(crate) fn add<T>(&mut self, e: Entry<'_>, fact: &Fact<T>) {
        self.add_cited(e, cite(fact));
    }

    /// Records an entry citing `(source, certainty)`.
    pub(crate) fn add_cited(
        &mut self,
        e: Entry<'_>,
        (source, certainty): (&'static str, Certainty),
    ) {
        let target = format!("{}{}", e.target, certainty.marker());
        self.list.push(Loss {
            rehearse: format!("{}: {}; {}", e.subject, e.app_mesh, target),
            subject: e.subject.to_string(),
            field: e.field.to_string(),
            change: e.change,
            app_mesh: e.app_mesh,
            target,
            effect: e.effect,
            source,
            certainty,
        });
    }

    /// Records an entry about this tool's own gap.
    pub(crate) fn not_translated(&mut self, subject: &str, field: &str, what: &str) {
        self.list.push(Loss {
            subject: subject.to_string(),
            field: field.to_string(),
            change: Change::NotTranslated,
            app_mesh: what.to_string(),
            target: format!(
                "not written for {}: meshsim translate does not translate it yet",
                self.target.title()
            ),
            effect: "write it by hand; the rest of the translation does not depend on it"
                .to_string(),
            rehearse: format!("{subject}: {what}; not translated"),
            source: "meshsim",
            certainty: Certainty::Documented,
        });
    }
}

/// A fact's source and certainty, whatever its value's type.
pub(crate) fn cite<T>(fact: &Fact<T>) -> (&'static str, Certainty) {
    (fact.source, fact.certainty)
}

/// `loss.json`'s shape.
#[derive(Serialize)]
struct Report<'a> {
    mesh: &'a str,
    target: Target,
    files: Vec<&'a str>,
    counts: Counts,
    losses: &'a [Loss],
}

#[derive(Serialize)]
struct Counts {
    refused: usize,
    lost: usize,
    approximate: usize,
    written_out: usize,
    not_translated: usize,
}

fn counts(losses: &[Loss]) -> Counts {
    let n = |c: Change| losses.iter().filter(|l| l.change == c).count();
    Counts {
        refused: n(Change::Refused),
        lost: n(Change::Lost),
        approximate: n(Change::Approximate),
        written_out: n(Change::WrittenOut),
        not_translated: n(Change::NotTranslated),
    }
}

/// `loss.json`.
pub fn json(mesh: &str, target: Target, files: &[&str], losses: &[Loss]) -> String {
    let report = Report {
        mesh,
        target,
        files: files.to_vec(),
        counts: counts(losses),
        losses,
    };
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `loss.md`.
pub fn markdown(mesh: &str, target: Target, files: &[&str], losses: &[Loss]) -> String {
    let c = counts(losses);
    let mut out = format!(
        "# Mesh `{mesh}` translated to {}\n\nWritten: {}.\n\n{} refused, {} lost, {} approximate, {} App Mesh defaults written out, {} not translated yet.\n",
        target.title(),
        files
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", "),
        c.refused,
        c.lost,
        c.approximate,
        c.written_out,
        c.not_translated,
    );
    for change in [
        Change::Refused,
        Change::Lost,
        Change::Approximate,
        Change::WrittenOut,
        Change::NotTranslated,
    ] {
        let of: Vec<&Loss> = losses.iter().filter(|l| l.change == change).collect();
        if of.is_empty() {
            continue;
        }
        out.push_str(&format!(
            "\n## {}\n\n| subject | App Mesh field | App Mesh | {} | what changes | source |\n|---|---|---|---|---|---|\n",
            change.heading(),
            target.title()
        ));
        for l in of {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                cell(&l.subject),
                cell(&l.field),
                cell(&l.app_mesh),
                cell(&l.target),
                cell(&l.effect),
                cell(l.source),
            ));
        }
    }
    let lines: Vec<&Loss> = losses
        .iter()
        .filter(|l| {
            matches!(
                l.change,
                Change::Refused | Change::Lost | Change::Approximate
            )
        })
        .collect();
    if !lines.is_empty() {
        out.push_str("\n## To rehearse\n\n");
        for l in lines {
            out.push_str(&format!("- {}\n", l.rehearse));
        }
    }
    out
}
