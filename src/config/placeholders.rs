//! Shell-template placeholders (`$NAME`, `${NAME}`), substituted from `--var NAME=VALUE`.
//!
//! The App Mesh walkthroughs ship JSON and Kubernetes files that their scripts fill in with
//! `envsubst` or shell expansion. Substitution happens on the parsed tree, one scalar at a
//! time, so every diagnostic still points at the original text. A substituted plain scalar is
//! typed by its new text, as it would be after the shell wrote it into the file: `"port":
//! $PORT` with `PORT=8080` is a number.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;

use super::diagnostic::Diagnostics;
use super::source::{FileId, Loc};
use super::tree::{Node, Value, join_index, join_key};

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
        .expect("static regex")
});

/// Values for placeholders, from `--var K=V`.
pub type Vars = BTreeMap<String, String>;

/// Substitutes placeholders in every scalar of `node`. Each unset name is reported once per
/// file, at its first use. `skip` says which mapping keys hold text that is not a shell
/// template (CloudFormation's `Fn::Sub` uses the same `${X}` syntax for its own variables).
pub(crate) struct Substitution<'a> {
    pub vars: &'a Vars,
    pub file: FileId,
    pub skip_key: Option<&'a str>,
    pub skip_tag: Option<&'a str>,
    reported: BTreeSet<String>,
}

impl<'a> Substitution<'a> {
    pub fn new(vars: &'a Vars, file: FileId) -> Self {
        Substitution {
            vars,
            file,
            skip_key: None,
            skip_tag: None,
            reported: BTreeSet::new(),
        }
    }

    pub fn apply(&mut self, node: &mut Node, path: &str, diags: &mut Diagnostics) {
        if self.skip_tag.is_some() && node.tag.as_deref() == self.skip_tag {
            return;
        }
        match &mut node.value {
            Value::Scalar(text, _) => {
                if !text.contains('$') {
                    return;
                }
                let mut out = String::with_capacity(text.len());
                let mut last = 0;
                for caps in PLACEHOLDER.captures_iter(text) {
                    let whole = caps.get(0).expect("match");
                    let name = caps
                        .get(1)
                        .or_else(|| caps.get(2))
                        .expect("name group")
                        .as_str();
                    out.push_str(&text[last..whole.start()]);
                    match self.vars.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str(whole.as_str());
                            if self.reported.insert(name.to_string()) {
                                let loc = Loc::new(self.file, node.span, path);
                                diags
                                    .error(
                                        "placeholder",
                                        &loc,
                                        format!("placeholder `{}` is not set", whole.as_str()),
                                    )
                                    .help = Some(format!("pass --var {name}=VALUE"));
                            }
                        }
                    }
                    last = whole.end();
                }
                out.push_str(&text[last..]);
                *text = out;
            }
            Value::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.apply(item, &join_index(path, i), diags);
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    if Some(k.name.as_str()) == self.skip_key {
                        continue;
                    }
                    self.apply(v, &join_key(path, &k.written), diags);
                }
            }
        }
    }
}

/// The placeholder names used in a text, in order of first use (for error messages and the
/// corpus test).
pub fn placeholder_names(text: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for caps in PLACEHOLDER.captures_iter(text) {
        let name = caps
            .get(1)
            .or_else(|| caps.get(2))
            .expect("name group")
            .as_str()
            .to_string();
        if !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;
    use crate::config::tree::parse_documents;

    #[test]
    fn substitutes_both_forms_and_retypes_plain_scalars() {
        let f = SourceFile::new(
            "t.json",
            "{\"a\": $PORT, \"b\": \"x.${NS}.y\", \"c\": \"$PORT\"}",
        );
        let (mut docs, _) = parse_documents(&f);
        let vars: Vars = [("PORT".into(), "8080".into()), ("NS".into(), "shop".into())].into();
        let mut diags = Diagnostics::new();
        Substitution::new(&vars, FileId(0)).apply(&mut docs[0], "", &mut diags);
        assert!(!diags.has_errors());
        assert_eq!(docs[0].get("a").unwrap().describe(), "an integer");
        assert_eq!(docs[0].get("b").unwrap().as_str(), Some("x.shop.y"));
        assert_eq!(docs[0].get("c").unwrap().describe(), "a string");
    }

    #[test]
    fn unset_names_are_reported_once_with_a_fix() {
        let f = SourceFile::new("t.json", "{\"a\": $X, \"b\": \"$X\"}");
        let (mut docs, _) = parse_documents(&f);
        let mut diags = Diagnostics::new();
        Substitution::new(&Vars::new(), FileId(0)).apply(&mut docs[0], "", &mut diags);
        let all: Vec<_> = diags.iter().collect();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].message, "placeholder `$X` is not set");
        assert_eq!(all[0].help.as_deref(), Some("pass --var X=VALUE"));
    }

    #[test]
    fn dollar_signs_that_are_not_names_stay() {
        assert!(placeholder_names("^/api/v[0-9]+$").is_empty());
        assert_eq!(placeholder_names("$A ${B} $A"), vec!["A", "B"]);
    }
}
