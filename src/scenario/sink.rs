//! Diagnostics about the scenario file, collected before the file's id is known.
//!
//! The scenario file takes its place in the source map after the mesh files (so that every
//! location inside the loaded mesh keeps the id the config loader gave it), and the mesh files
//! are only known once the scenario's `mesh:` section has been read. So scenario diagnostics
//! are gathered here without a file and stamped with it at the end.

use crate::config::diagnostic::{Diagnostic, Severity};
use crate::config::source::{FileId, Loc, Span};
use crate::config::tree::Node;

use super::de::DeError;
use super::locate::locate;

/// Diagnostics of the scenario file, and its tree for turning paths into spans.
pub(crate) struct Sink<'t> {
    root: Option<&'t Node>,
    items: Vec<Diagnostic>,
}

impl<'t> Sink<'t> {
    pub fn new() -> Self {
        Sink {
            root: None,
            items: Vec::new(),
        }
    }

    /// The document that paths are resolved in.
    pub fn set_root(&mut self, root: &'t Node) {
        self.root = Some(root);
    }

    /// A diagnostic at a span.
    pub fn push(
        &mut self,
        severity: Severity,
        code: &'static str,
        span: Span,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let mut d = Diagnostic::new(severity, code, &Loc::default(), message);
        d.span = span;
        d.path = path.to_string();
        self.items.push(d);
        let n = self.items.len() - 1;
        &mut self.items[n]
    }

    /// An error at a span.
    pub fn error(
        &mut self,
        code: &'static str,
        span: Span,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, code, span, path, message)
    }

    /// A diagnostic at the node a field path leads to (or its nearest ancestor); the path
    /// shown is the one given, since it says what is wrong even where the file is silent.
    pub fn at_path(
        &mut self,
        severity: Severity,
        code: &'static str,
        path: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        let span = self
            .root
            .map(|r| locate(r, None, path).span())
            .unwrap_or_default();
        self.push(severity, code, span, path, message)
    }

    /// A diagnostic at a location in another file (a mesh file's resource), or at the
    /// scenario file's `fallback` path when the value was written nowhere (a default).
    pub fn at_loc(
        &mut self,
        severity: Severity,
        code: &'static str,
        at: &Loc,
        fallback: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        if at.file.is_none() {
            return self.at_path(severity, code, fallback, message);
        }
        self.items
            .push(Diagnostic::new(severity, code, at, message));
        let n = self.items.len() - 1;
        &mut self.items[n]
    }

    /// A deserialization error, where the deserializer placed it.
    pub fn de_error(&mut self, e: DeError) {
        let (span, path) =
            e.at.as_ref()
                .map(|p| (p.span, p.path.clone()))
                .unwrap_or_default();
        let d = self.error(e.code(), span, &path, e.message.clone());
        d.help = e.help.clone();
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics, those without a file now pointing into `file`.
    pub fn finish(self, file: FileId) -> Vec<Diagnostic> {
        self.items
            .into_iter()
            .map(|mut d| {
                d.file.get_or_insert(file);
                d
            })
            .collect()
    }
}
