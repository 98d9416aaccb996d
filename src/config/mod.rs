//! The App Mesh configuration: the typed model, the three input syntaxes, validation.
//!
//! Data flow: files → [`tree`] (spanned YAML/JSON documents) → [`placeholders`] → importers
//! (API JSON, CloudFormation, Kubernetes; all produce API-spelled trees) → decoder (typed
//! [`model`], per-resource rules) → [`validate`] (references, ports, quotas). Every problem
//! becomes a [`Diagnostic`] with file, span and field path; loading never stops at the first.

mod decode;
pub mod diagnostic;
pub mod import;
mod load;
pub mod model;
pub mod paths;
pub mod placeholders;
pub mod source;
mod spelling;
pub mod tree;
pub mod validate;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};
pub use import::Syntax;
pub use load::{FileReport, LoadOptions, LoadedConfig, UnknownParam, load_paths, load_texts};
pub use model::Mesh;
pub use source::{FileId, Loc, Located, SourceFile, SourceMap, Span};
