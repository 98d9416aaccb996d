//! Printing diagnostics: miette's graphical reports with the source snippet, or one line each.

use std::fmt;

use meshsim::config::{Diagnostic, Diagnostics, LoadedConfig, Severity, SourceMap};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use super::DiagnosticStyle;

/// Prints every diagnostic of a load to stderr.
pub(super) fn print(loaded: &LoadedConfig, style: DiagnosticStyle) {
    print_all(&loaded.diagnostics, &loaded.sources, style);
}

/// Prints diagnostics over `sources` to stderr.
pub(super) fn print_all(diagnostics: &Diagnostics, sources: &SourceMap, style: DiagnosticStyle) {
    let theme = if std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none()
    {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    for d in diagnostics.iter() {
        match style {
            DiagnosticStyle::Short => eprintln!("{}", d.one_line(sources)),
            DiagnosticStyle::Human => {
                let report = Report::new(d, sources);
                let mut out = String::new();
                if handler.render_report(&mut out, &report).is_ok() {
                    eprint!("{out}");
                } else {
                    eprintln!("{}", d.one_line(sources));
                }
            }
        }
    }
}

/// A diagnostic with its source, in the shape miette renders.
struct Report {
    message: String,
    code: String,
    severity: Severity,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    label: Option<LabeledSpan>,
}

impl Report {
    fn new(d: &Diagnostic, sources: &SourceMap) -> Self {
        let source = d.file.map(|f| {
            let file = sources.get(f);
            NamedSource::new(file.name(), file.text().to_string())
        });
        let label = source.as_ref().map(|_| {
            let text = if d.path.is_empty() {
                "here".to_string()
            } else {
                format!("at {}", d.path)
            };
            LabeledSpan::new(
                Some(text),
                d.span.start,
                d.span.end.saturating_sub(d.span.start),
            )
        });
        let mut message = d.message.clone();
        if d.file.is_some() {
            message = format!("{}: {message}", d.position(sources));
        }
        Report {
            message,
            code: d.code.to_string(),
            severity: d.severity,
            help: d.help.clone(),
            source,
            label,
        }
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .clone()
            .map(|l| Box::new(std::iter::once(l)) as Box<dyn Iterator<Item = LabeledSpan>>)
    }
}
