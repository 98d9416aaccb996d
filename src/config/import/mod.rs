//! Importers: each input syntax becomes the same list of raw resources, whose specs are trees
//! spelled the API's way (camelCase, names instead of references). The decoder then reads all
//! of them with one set of rules.

pub(crate) mod api_json;
pub(crate) mod cloudformation;
pub(crate) mod intrinsics;
pub(crate) mod kubernetes;

use std::fmt;

use super::model::ResourceKind;
use super::source::{Loc, Located};
use super::tree::Node;

/// The syntax a document is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Syntax {
    /// App Mesh API / CLI JSON (`describe-*` output, `create-*` bodies, spec-only bodies).
    ApiJson,
    /// CloudFormation template (YAML or JSON).
    CloudFormation,
    /// Kubernetes `appmesh.k8s.aws/v1beta2` manifests.
    Kubernetes,
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Syntax::ApiJson => "App Mesh API JSON",
            Syntax::CloudFormation => "CloudFormation",
            Syntax::Kubernetes => "Kubernetes",
        })
    }
}

/// Which syntax a parsed document is in.
pub(crate) fn detect(doc: &Node) -> Syntax {
    if doc.get("apiVersion").is_some() && doc.get("kind").is_some() {
        Syntax::Kubernetes
    } else if doc.get("Resources").is_some() || doc.get("AWSTemplateFormatVersion").is_some() {
        Syntax::CloudFormation
    } else {
        Syntax::ApiJson
    }
}

/// One resource as an importer found it, before decoding.
#[derive(Clone, Debug)]
pub(crate) struct RawResource {
    pub kind: ResourceKind,
    /// `None` when the input does not say (spec-only bodies without a usable file name).
    pub name: Option<Located<String>>,
    pub mesh: Option<Located<String>>,
    /// The virtual router of a route, or the virtual gateway of a gateway route.
    pub parent: Option<Located<String>>,
    /// The spec tree in API spelling, and its field path in the file's spelling.
    pub spec: Option<(Node, String)>,
    /// Where the resource is defined.
    pub at: Loc,
    /// The syntax it was written in (CloudFormation turns numeric strings into numbers and
    /// spells keys its own way).
    pub syntax: Syntax,
}
