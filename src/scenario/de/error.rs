//! Deserialization errors: what rule was broken, in a YAML writer's words, and where.

use std::fmt;

use serde::de::{self, Unexpected};

use crate::config::diagnostic::suggest;
use crate::config::source::Span;
use crate::config::tree::{Node, Value, join_index, join_key};

/// Which rule an error broke; decides the diagnostic's code and where it points.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ErrorKind {
    /// A key the type does not have.
    UnknownField {
        /// The key as written.
        field: String,
        /// Every field the type accepts.
        expected: Vec<&'static str>,
    },
    /// A tag (`call:`, `ramp:`) or name (`ordering-ui`) not among the variants.
    UnknownVariant {
        /// Every variant the type accepts.
        expected: Vec<&'static str>,
    },
    /// A required field is absent.
    MissingField,
    /// The node has the wrong shape or scalar type.
    Type,
    /// A value of the right type that the type refuses (a duration without a unit).
    Value,
}

/// Where an error was found: the span and field path of the node (or key) at fault.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Place {
    pub span: Span,
    pub path: String,
}

/// A deserialization error, placed once it has passed through the node that raised it.
/// (Boxed: errors travel through every level of a deserialization as `Result`s.)
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DeError(Box<ErrorData>);

/// What a [`DeError`] holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ErrorData {
    pub kind: ErrorKind,
    pub message: String,
    pub help: Option<String>,
    pub at: Option<Place>,
    /// A scalar's text the error is about, used to find the scalar when the error was raised
    /// after serde buffered a subtree (internally tagged enums) and lost its place.
    needle: Option<String>,
}

impl std::ops::Deref for DeError {
    type Target = ErrorData;
    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for DeError {
    fn deref_mut(&mut self) -> &mut ErrorData {
        &mut self.0
    }
}

impl DeError {
    pub(super) fn new(kind: ErrorKind, message: String) -> Self {
        DeError(Box::new(ErrorData {
            kind,
            message,
            help: None,
            at: None,
            needle: None,
        }))
    }

    /// The diagnostic code of the rule broken.
    pub fn code(&self) -> &'static str {
        match self.kind {
            ErrorKind::UnknownField { .. } => "unknown-field",
            ErrorKind::UnknownVariant { .. } => "enum",
            ErrorKind::MissingField => "missing-field",
            ErrorKind::Type => "type",
            ErrorKind::Value => "invalid-value",
        }
    }

    /// Stamps the error with a node's place, unless a deeper node already did.
    pub(super) fn placed(mut self, node: &Node, path: &str, key: Option<Span>) -> Self {
        if self.at.is_some() {
            return self;
        }
        let refined = match &self.kind {
            ErrorKind::UnknownField { field, .. } => find_key(node, path, field),
            ErrorKind::Type | ErrorKind::Value | ErrorKind::UnknownVariant { .. } => self
                .needle
                .as_deref()
                .and_then(|n| find_scalar(node, path, n)),
            _ => None,
        };
        self.at = Some(refined.unwrap_or_else(|| {
            let span = match self.kind {
                // A missing field is a fault of the mapping: point at the line that opens it.
                ErrorKind::MissingField => key
                    .or_else(|| node.as_map()?.first().map(|(k, _)| k.span))
                    .unwrap_or(node.span),
                _ => node.span,
            };
            Place {
                span,
                path: path.to_string(),
            }
        }));
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            Some(at) if !at.path.is_empty() => write!(f, "{}: {}", at.path, self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let message = msg.to_string();
        let mut e = DeError::new(ErrorKind::Value, message);
        e.needle = first_quoted(&e.message);
        e
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let expected = expected_words(&exp.to_string());
        let mut e = DeError::new(
            ErrorKind::Type,
            format!("expected {expected}, found {}", found_words(&unexp)),
        );
        let scalar = matches!(
            unexp,
            Unexpected::Bool(_) | Unexpected::Signed(_) | Unexpected::Unsigned(_)
        ) || matches!(unexp, Unexpected::Float(_));
        if expected == "a string" && scalar {
            e.help = Some("write it in quotes to make it a string".into());
        }
        e.needle = needle_of(&unexp);
        e
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        let mut e = Self::invalid_type(unexp, exp);
        e.kind = ErrorKind::Value;
        e
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        DeError::new(
            ErrorKind::Type,
            format!(
                "expected {}, found {len} items",
                expected_words(&exp.to_string())
            ),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(
            ErrorKind::UnknownVariant {
                expected: expected.to_vec(),
            },
            format!("expected {}, found `{variant}`", one_of(expected)),
        );
        e.help = suggest(variant, expected.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        e.needle = Some(variant.to_string());
        e
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut e = DeError::new(
            ErrorKind::UnknownField {
                field: field.to_string(),
                expected: expected.to_vec(),
            },
            format!("unknown field `{field}`"),
        );
        e.help = Some(match suggest(field, expected.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("expected one of: {}", expected.join(", ")),
        });
        e
    }

    fn missing_field(field: &'static str) -> Self {
        DeError::new(
            ErrorKind::MissingField,
            format!("missing required field `{field}`"),
        )
    }
}

/// `` `a`, `b` or `c` ``.
pub(super) fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [only] => format!("`{only}`"),
        [init @ .., last] => {
            let init: Vec<String> = init.iter().map(|n| format!("`{n}`")).collect();
            format!("{} or `{last}`", init.join(", "))
        }
    }
}

/// serde's words for a type, in a YAML writer's words.
fn expected_words(exp: &str) -> String {
    let range = |min: i128, max: i128| format!("an integer from {min} to {max}");
    match exp {
        "u8" => range(0, u8::MAX.into()),
        "u16" => range(0, u16::MAX.into()),
        "u32" => range(0, u32::MAX.into()),
        "u64" => range(0, u64::MAX.into()),
        "i32" => range(i32::MIN.into(), i32::MAX.into()),
        "i64" => range(i64::MIN.into(), i64::MAX.into()),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "a mapping".to_string(),
        "a boolean" => "true or false".to_string(),
        s if s.starts_with("struct ") || s.starts_with("internally tagged enum") => {
            "a mapping".to_string()
        }
        s => s.to_string(),
    }
}

/// serde's words for a value found, in a YAML writer's words.
fn found_words(unexp: &Unexpected<'_>) -> String {
    match unexp {
        Unexpected::Bool(b) => format!("the boolean `{b}`"),
        Unexpected::Unsigned(n) => format!("the integer `{n}`"),
        Unexpected::Signed(n) => format!("the integer `{n}`"),
        Unexpected::Float(x) => format!("the number `{x}`"),
        Unexpected::Str(s) => format!("the string \"{s}\""),
        Unexpected::Unit => "nothing (null)".to_string(),
        Unexpected::Seq => "a list".to_string(),
        Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

fn needle_of(unexp: &Unexpected<'_>) -> Option<String> {
    Some(match unexp {
        Unexpected::Bool(b) => b.to_string(),
        Unexpected::Unsigned(n) => n.to_string(),
        Unexpected::Signed(n) => n.to_string(),
        Unexpected::Float(x) => x.to_string(),
        Unexpected::Str(s) => s.to_string(),
        _ => return None,
    })
}

/// The text between the first pair of double quotes (the model's messages quote the value at
/// fault: `duration "20" has no unit`).
fn first_quoted(message: &str) -> Option<String> {
    let (_, rest) = message.split_once('"')?;
    let (inside, _) = rest.split_once('"')?;
    Some(inside.to_string())
}

/// The first key named `name` in a subtree, breadth first.
fn find_key(node: &Node, path: &str, name: &str) -> Option<Place> {
    let mut queue = vec![(node, path.to_string())];
    let mut i = 0;
    while let Some((n, p)) = queue.get(i).cloned() {
        i += 1;
        match &n.value {
            Value::Map(entries) => {
                for (k, v) in entries {
                    let child = join_key(&p, &k.written);
                    if k.name == name {
                        return Some(Place {
                            span: k.span,
                            path: child,
                        });
                    }
                    queue.push((v, child));
                }
            }
            Value::Seq(items) => {
                queue.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(j, v)| (v, join_index(&p, j))),
                );
            }
            Value::Scalar(..) => {}
        }
    }
    None
}

/// The only scalar in a subtree whose text is `text` (none if several are).
fn find_scalar(node: &Node, path: &str, text: &str) -> Option<Place> {
    fn walk(n: &Node, p: String, text: &str, found: &mut Vec<Place>) {
        match &n.value {
            Value::Scalar(s, _) if s == text => found.push(Place {
                span: n.span,
                path: p,
            }),
            Value::Scalar(..) => {}
            Value::Seq(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, join_index(&p, i), text, found);
                }
            }
            Value::Map(entries) => {
                for (k, v) in entries {
                    walk(v, join_key(&p, &k.written), text, found);
                }
            }
        }
    }
    if node.scalar_text().is_some() {
        return None;
    }
    let mut found = Vec::new();
    walk(node, path.to_string(), text, &mut found);
    match <[Place; 1]>::try_from(found) {
        Ok([only]) => Some(only),
        Err(_) => None,
    }
}
