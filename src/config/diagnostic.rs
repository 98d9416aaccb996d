//! Diagnostics: everything wrong with the input, collected, then reported together.
//!
//! Loading never stops at the first problem: users fix a whole file per round trip, so every
//! stage pushes into one [`Diagnostics`] list and the caller decides once at the end.

use std::fmt;

use super::source::{FileId, Loc, SourceMap, Span};

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The input is invalid; the command fails with exit code 2.
    Error,
    /// Accepted, but probably not what was meant (lenient-mode quirks, dangling references
    /// under `--partial`).
    Warning,
    /// Information, e.g. a Kubernetes kind that was skipped.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One problem found in the input.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// A stable kebab-case name of the rule (`weight-range`, `unresolved-reference`, ...).
    pub code: &'static str,
    /// What is wrong, and what was expected.
    pub message: String,
    /// The file; `None` only for problems with the command line itself.
    pub file: Option<FileId>,
    /// The bytes at fault (empty when the whole file is meant).
    pub span: Span,
    /// The field path in the file's own spelling (may be empty).
    pub path: String,
    /// What to do about it, when there is something to suggest.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic at a location.
    pub fn new(
        severity: Severity,
        code: &'static str,
        at: &Loc,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            file: at.file,
            span: at.span,
            path: at.path.clone(),
            help: None,
        }
    }

    /// Adds a suggestion.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:col` of the start of the span, for one-line output and tests.
    pub fn position(&self, sources: &SourceMap) -> String {
        match self.file {
            None => "meshsim".to_string(),
            Some(id) => sources.position(id, self.span.start),
        }
    }

    /// The one-line form: `file:line:col: error[code]: message (at path)`.
    pub fn one_line(&self, sources: &SourceMap) -> String {
        let mut s = format!(
            "{}: {}[{}]: {}",
            self.position(sources),
            self.severity,
            self.code,
            self.message
        );
        if !self.path.is_empty() {
            s.push_str(&format!(" (at {})", self.path));
        }
        if let Some(h) = &self.help {
            s.push_str(&format!("; help: {h}"));
        }
        s
    }
}

/// The list every loading stage pushes into.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a diagnostic.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// Adds an error.
    pub fn error(
        &mut self,
        code: &'static str,
        at: &Loc,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.items
            .push(Diagnostic::new(Severity::Error, code, at, message));
        self.last()
    }

    /// Adds a warning.
    pub fn warning(
        &mut self,
        code: &'static str,
        at: &Loc,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.items
            .push(Diagnostic::new(Severity::Warning, code, at, message));
        self.last()
    }

    /// Adds a note.
    pub fn note(
        &mut self,
        code: &'static str,
        at: &Loc,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.items
            .push(Diagnostic::new(Severity::Note, code, at, message));
        self.last()
    }

    fn last(&mut self) -> &mut Diagnostic {
        let n = self.items.len() - 1;
        &mut self.items[n]
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of diagnostics of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.items.iter().filter(|d| d.severity == severity).count()
    }

    /// All diagnostics, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// Sorts by file, position, then severity, so output does not depend on the order the
    /// stages ran in.
    pub fn sort(&mut self) {
        self.items.sort_by(|a, b| {
            (a.file, a.span.start, a.severity, a.code, &a.message).cmp(&(
                b.file,
                b.span.start,
                b.severity,
                b.code,
                &b.message,
            ))
        });
        self.items.dedup_by(|a, b| {
            a.file == b.file && a.span == b.span && a.code == b.code && a.message == b.message
        });
    }

    /// Moves every diagnostic of `other` into this list.
    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    /// Downgrades errors of the given codes to warnings (used by `--partial`).
    pub fn downgrade(&mut self, codes: &[&str]) {
        for d in &mut self.items {
            if d.severity == Severity::Error && codes.contains(&d.code) {
                d.severity = Severity::Warning;
            }
        }
    }
}

/// The closest of `candidates` to `wanted`, if it is close enough to be a likely typo.
pub fn suggest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted_lower = wanted.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = strsim::jaro_winkler(&wanted_lower, &c.to_ascii_lowercase());
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let names = ["colorteller-vn", "colorgateway", "front-node"];
        assert_eq!(suggest("colortellr-vn", names), Some("colorteller-vn"));
        assert_eq!(suggest("zzz", names), None);
    }
}
