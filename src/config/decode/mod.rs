//! Decoding: from a canonical (API-spelled) document tree to the typed model.
//!
//! Importers rewrite CloudFormation and Kubernetes trees into the API's key spelling first, so
//! this module knows one spelling only. It checks everything that can be checked inside one
//! resource (types, required fields, unions, ranges, lengths, enums, list sizes) and keeps
//! going after each error, so a file's problems are all reported in one run.

mod common;
mod gateway;
mod node;
mod route;

use std::time::Duration;

pub(crate) use gateway::{gateway_route_spec, virtual_gateway_spec};
pub(crate) use node::virtual_node_spec;
pub(crate) use route::{route_spec, virtual_router_spec};

pub(crate) use common::{mesh_spec, virtual_service_spec};

use super::diagnostic::{Diagnostic, Diagnostics, suggest};
use super::source::{FileId, Loc, Located, Span};
use super::spelling::Spelling;
use super::tree::{
    Key, Node, PlainType, Style, Value, join_index, join_key, parse_int, plain_type,
};

/// A node being decoded, with its field path and the key that introduced it.
#[derive(Clone, Debug)]
pub(crate) struct Field<'n> {
    pub node: &'n Node,
    pub path: String,
    /// The key whose value this is: "missing field" errors point here.
    pub key: Option<Span>,
}

impl<'n> Field<'n> {
    pub fn root(node: &'n Node, path: impl Into<String>) -> Self {
        Field {
            node,
            path: path.into(),
            key: None,
        }
    }

    fn child(&self, key: &'n Key, node: &'n Node) -> Field<'n> {
        Field {
            node,
            path: join_key(&self.path, &key.written),
            key: Some(key.span),
        }
    }
}

/// Decoding state for one file.
pub(crate) struct Decoder<'d> {
    pub diags: &'d mut Diagnostics,
    pub file: FileId,
    /// CloudFormation converts numeric strings (`"8"`, results of `!Ref`) to numbers.
    pub numeric_strings: bool,
    /// How field names are spelled in messages: the user's syntax.
    pub spelling: Spelling,
    /// `--lenient`: accept keys that differ only in case, with a warning.
    pub lenient: bool,
}

impl<'d> Decoder<'d> {
    pub fn loc(&self, f: &Field<'_>) -> Loc {
        Loc::new(self.file, f.node.span, f.path.clone())
    }

    pub fn error(
        &mut self,
        code: &'static str,
        f: &Field<'_>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        let loc = self.loc(f);
        self.diags.error(code, &loc, msg)
    }

    /// An error at the key that introduced a field (for problems with the whole mapping).
    pub fn error_at_key(
        &mut self,
        code: &'static str,
        f: &Field<'_>,
        msg: impl Into<String>,
    ) -> &mut Diagnostic {
        let loc = Loc::new(self.file, f.key.unwrap_or(f.node.span), f.path.clone());
        self.diags.error(code, &loc, msg)
    }

    /// Opens a mapping for field access. `what` names it in messages ("retry policy").
    pub fn fields<'n>(&mut self, f: &Field<'n>, what: &'static str) -> Option<Fields<'n>> {
        match f.node.as_map() {
            Some(entries) => Some(Fields {
                owner: f.clone(),
                entries,
                used: vec![false; entries.len()],
                what,
                asked: Vec::new(),
            }),
            None => {
                self.error(
                    "type",
                    f,
                    format!("expected {what} (a mapping), found {}", f.node.describe()),
                );
                None
            }
        }
    }

    /// A string of `min..=max` characters.
    pub fn string(&mut self, f: &Field<'_>, min: usize, max: usize) -> Option<String> {
        let text = match &f.node.value {
            Value::Scalar(s, Style::Quoted) => s.clone(),
            // YAML users write `exact: 100` for a header value; take the text as written.
            Value::Scalar(s, Style::Plain) if plain_type(s) != PlainType::Null => s.clone(),
            _ => {
                self.error(
                    "type",
                    f,
                    format!("expected a string, found {}", f.node.describe()),
                );
                return None;
            }
        };
        let n = text.chars().count();
        if n < min || n > max {
            let want = if min == max {
                format!("exactly {min}")
            } else {
                format!("{min} to {max}")
            };
            self.error(
                "length",
                f,
                format!("expected {want} characters, found {n}"),
            );
            return None;
        }
        Some(text)
    }

    /// A string with its location (for names that refer to other resources).
    pub fn name_ref(&mut self, f: &Field<'_>) -> Option<Located<String>> {
        let s = self.string(f, 1, 255)?;
        Some(Located::new(s, self.loc(f)))
    }

    /// An integer in `min..=max`.
    pub fn int(&mut self, f: &Field<'_>, min: i64, max: i64) -> Option<i64> {
        let v = match &f.node.value {
            Value::Scalar(s, Style::Plain) if plain_type(s) == PlainType::Int => parse_int(s),
            Value::Scalar(s, Style::Quoted) if self.numeric_strings => parse_int(s.trim()),
            _ => None,
        };
        let Some(v) = v else {
            self.error(
                "type",
                f,
                format!("expected an integer, found {}", f.node.describe()),
            );
            return None;
        };
        if v < min || v > max {
            let max_text = if max == i64::MAX {
                "".to_string()
            } else {
                format!(" and at most {max}")
            };
            self.error(
                "range",
                f,
                format!("{v} is out of range: expected at least {min}{max_text}"),
            );
            return None;
        }
        Some(v)
    }

    /// A `u32` in range.
    pub fn u32(&mut self, f: &Field<'_>, min: u32, max: u32) -> Option<u32> {
        self.int(f, min.into(), max.into())
            .and_then(|v| u32::try_from(v).ok())
    }

    /// A port, 1..=65535.
    pub fn port(&mut self, f: &Field<'_>) -> Option<u16> {
        self.int(f, 1, 65535).and_then(|v| u16::try_from(v).ok())
    }

    /// A port with where it was written (route matches, which validation checks later).
    pub fn located_port(&mut self, f: &Field<'_>) -> Option<Located<u16>> {
        let p = self.port(f)?;
        Some(Located::new(p, self.loc(f)))
    }

    /// A boolean.
    pub fn bool(&mut self, f: &Field<'_>) -> Option<bool> {
        let v = match &f.node.value {
            Value::Scalar(s, Style::Plain) if plain_type(s) == PlainType::Bool => {
                Some(s.eq_ignore_ascii_case("true"))
            }
            Value::Scalar(s, Style::Quoted) if self.numeric_strings => match s.as_str() {
                "true" | "True" => Some(true),
                "false" | "False" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if v.is_none() {
            self.error(
                "type",
                f,
                format!("expected true or false, found {}", f.node.describe()),
            );
        }
        v
    }

    /// One of a fixed set of words.
    pub fn choice<T: Copy>(&mut self, f: &Field<'_>, options: &[(&str, T)]) -> Option<T> {
        let text = f.node.scalar_text().filter(|_| f.node.as_map().is_none());
        if let Some(text) = text
            && let Some((_, v)) = options.iter().find(|(name, _)| *name == text)
        {
            return Some(*v);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let found = match text {
            Some(t) => format!("`{t}`"),
            None => f.node.describe().to_string(),
        };
        let d = self.error(
            "enum",
            f,
            format!("expected one of {}, found {found}", names.join(", ")),
        );
        if let Some(t) = text
            && let Some(s) = suggest(t, names.iter().copied())
        {
            d.help = Some(format!("did you mean `{s}`?"));
        }
        None
    }

    /// A list with `min..=max` items; returns the items as fields.
    pub fn list<'n>(&mut self, f: &Field<'n>, min: usize, max: usize) -> Option<Vec<Field<'n>>> {
        let Some(items) = f.node.as_seq() else {
            self.error(
                "type",
                f,
                format!("expected a list, found {}", f.node.describe()),
            );
            return None;
        };
        if items.len() < min || items.len() > max {
            self.error(
                "list-size",
                f,
                format!("expected {min} to {max} items, found {}", items.len()),
            );
        }
        Some(
            items
                .iter()
                .enumerate()
                .map(|(i, node)| Field {
                    node,
                    path: join_index(&f.path, i),
                    key: Some(node.span),
                })
                .collect(),
        )
    }

    /// Decodes each item of a list, keeping the ones that decode.
    pub fn each<'n, T>(
        &mut self,
        f: &Field<'n>,
        min: usize,
        max: usize,
        mut item: impl FnMut(&mut Self, &Field<'n>) -> Option<T>,
    ) -> Vec<T> {
        self.list(f, min, max)
            .unwrap_or_default()
            .iter()
            .filter_map(|i| item(self, i))
            .collect()
    }

    /// App Mesh `Duration`: `{unit: s|ms, value: >= 0}`.
    pub fn duration(&mut self, f: &Field<'_>) -> Option<Duration> {
        let mut m = self.fields(f, "duration")?;
        let unit = m
            .req(self, "unit")
            .and_then(|u| self.choice(&u, &[("s", 1000u64), ("ms", 1)]));
        let value = m.req(self, "value").and_then(|v| self.int(&v, 0, i64::MAX));
        m.finish(self);
        let millis = u64::try_from(value?).ok()?.checked_mul(unit?)?;
        Some(Duration::from_millis(millis))
    }
}

/// The fields of one mapping. Every access marks the key used; [`Fields::finish`] reports
/// the keys nobody asked for.
pub(crate) struct Fields<'n> {
    owner: Field<'n>,
    entries: &'n [(Key, Node)],
    used: Vec<bool>,
    what: &'static str,
    /// Every field name asked for: the allowed names, for suggestions.
    asked: Vec<String>,
}

impl<'n> Fields<'n> {
    fn find(&mut self, d: &mut Decoder<'_>, name: &str) -> Option<Field<'n>> {
        if !self.asked.iter().any(|a| a == name) {
            self.asked.push(name.to_string());
        }
        if let Some(i) = self.entries.iter().position(|(k, _)| k.name == name) {
            self.used[i] = true;
            let (k, v) = &self.entries[i];
            return Some(self.owner.child(k, v));
        }
        if d.lenient
            && let Some(i) = self
                .entries
                .iter()
                .position(|(k, _)| k.name.eq_ignore_ascii_case(name))
        {
            self.used[i] = true;
            let (k, v) = &self.entries[i];
            let child = self.owner.child(k, v);
            let loc = Loc::new(d.file, k.span, child.path.clone());
            d.diags.warning(
                "casing",
                &loc,
                format!(
                    "`{}` accepted as `{}` (--lenient)",
                    k.written,
                    d.spelling.spell(name)
                ),
            );
            return Some(child);
        }
        None
    }

    /// An optional field; an explicit null counts as absent.
    pub fn opt(&mut self, d: &mut Decoder<'_>, name: &str) -> Option<Field<'n>> {
        self.find(d, name).filter(|f| !f.node.is_null())
    }

    /// A required field; reports it missing.
    pub fn req(&mut self, d: &mut Decoder<'_>, name: &str) -> Option<Field<'n>> {
        let f = self.opt(d, name);
        if f.is_none() {
            self.missing(d, name);
        }
        f
    }

    fn missing(&self, d: &mut Decoder<'_>, name: &str) {
        let span = self.owner.key.unwrap_or(self.owner.node.span);
        let loc = Loc::new(d.file, span, self.owner.path.clone());
        d.diags.error(
            "missing-field",
            &loc,
            format!(
                "{} is missing required field `{}`",
                self.what,
                d.spelling.spell(name)
            ),
        );
    }

    /// A union: at most one of `names` may be set (exactly one when `required`).
    /// Returns the index of the member set and its field.
    pub fn one_of(
        &mut self,
        d: &mut Decoder<'_>,
        names: &[&str],
        required: bool,
    ) -> Option<(usize, Field<'n>)> {
        let present: Vec<(usize, Field<'n>)> = names
            .iter()
            .enumerate()
            .filter_map(|(i, n)| self.opt(d, n).map(|f| (i, f)))
            .collect();
        let list = names
            .iter()
            .map(|n| format!("`{}`", d.spelling.spell(n)))
            .collect::<Vec<_>>()
            .join(", ");
        match present.len() {
            0 => {
                if required {
                    let span = self.owner.key.unwrap_or(self.owner.node.span);
                    let loc = Loc::new(d.file, span, self.owner.path.clone());
                    d.diags.error(
                        "missing-field",
                        &loc,
                        format!("{} needs one of {list}", self.what),
                    );
                }
                None
            }
            1 => present.into_iter().next(),
            _ => {
                let second = &present[1].1;
                d.error(
                    "union",
                    second,
                    format!("{} takes only one of {list}", self.what),
                );
                None
            }
        }
    }

    /// Whether a key is present (without marking it used).
    pub fn has(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|(k, v)| k.name == name && !v.is_null())
    }

    /// Reports every key that was not asked for, suggesting the nearest field it allows.
    pub fn finish(self, d: &mut Decoder<'_>) {
        for ((k, _), used) in self.entries.iter().zip(&self.used) {
            if *used {
                continue;
            }
            let path = join_key(&self.owner.path, &k.written);
            let loc = Loc::new(d.file, k.span, path);
            let diag = if d.lenient {
                d.diags.warning(
                    "unknown-field",
                    &loc,
                    format!(
                        "unknown field `{}` in {} is ignored (--lenient)",
                        k.written, self.what
                    ),
                )
            } else {
                d.diags.error(
                    "unknown-field",
                    &loc,
                    format!("unknown field `{}` in {}", k.written, self.what),
                )
            };
            let allowed: Vec<String> = self.asked.iter().map(|a| d.spelling.spell(a)).collect();
            let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
            diag.help = Some(match suggest(&k.written, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("expected one of: {}", allowed.join(", ")),
            });
        }
    }
}
