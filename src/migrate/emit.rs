//! The documents the translator writes, as an ordered tree, and their YAML and JSON text.
//!
//! Kubernetes manifests read best with `apiVersion`, `kind`, `metadata`, `spec` in that order,
//! and the outputs must be byte-identical run to run, so maps keep the order they were built
//! in (no hashing, no sorting by key) and the emitters are written here rather than taken from
//! a serializer whose key order is a feature flag.

/// A document node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(Vec<Value>),
    /// A map, in insertion order.
    Map(Vec<(String, Value)>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Value {
        Value::Str(s.clone())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Int(i64::from(n))
    }
}

impl From<u16> for Value {
    fn from(n: u16) -> Value {
        Value::Int(i64::from(n))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::List(v)
    }
}

/// Builds a map: `map([("kind", "X".into()), ...])`.
pub fn map<const N: usize>(entries: [(&str, Value); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

impl Value {
    /// An empty map, to push entries into.
    pub fn new_map() -> Value {
        Value::Map(Vec::new())
    }

    /// Appends an entry to a map (no effect on other values).
    pub fn push(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Map(entries) = self {
            entries.push((key.to_string(), value.into()));
        }
    }

    /// Appends an entry when there is a value.
    pub fn push_some(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(v) = value {
            self.push(key, v);
        }
    }
}

/// YAML documents separated by `---`.
pub fn yaml_documents(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&yaml(d));
    }
    out
}

/// One YAML document (block style; flow style only for empty collections).
pub fn yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Map(entries) if !entries.is_empty() => yaml_map(entries, 0, &mut out),
        Value::List(items) if !items.is_empty() => yaml_list(items, 0, &mut out),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Map(e) => !e.is_empty(),
        Value::List(i) => !i.is_empty(),
        _ => false,
    }
}

fn yaml_map(entries: &[(String, Value)], at: usize, out: &mut String) {
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            indent(at, out);
        }
        yaml_entry(k, v, at, out);
    }
}

fn yaml_entry(k: &str, v: &Value, at: usize, out: &mut String) {
    out.push_str(&yaml_str(k));
    out.push(':');
    match v {
        Value::Map(e) if !e.is_empty() => {
            out.push('\n');
            indent(at + 2, out);
            yaml_map(e, at + 2, out);
        }
        Value::List(items) if !items.is_empty() => {
            out.push('\n');
            indent(at, out);
            yaml_list(items, at, out);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_list(items: &[Value], at: usize, out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            indent(at, out);
        }
        out.push_str("- ");
        match item {
            Value::Map(e) if !e.is_empty() => yaml_map(e, at + 2, out),
            Value::List(inner) if !inner.is_empty() => {
                yaml_list(inner, at + 2, out);
            }
            scalar => {
                out.push_str(&yaml_scalar(scalar));
                out.push('\n');
            }
        }
    }
}

fn yaml_scalar(v: &Value) -> String {
    debug_assert!(!is_block(v));
    match v {
        Value::Str(s) => yaml_str(s),
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::List(_) => "[]".to_string(),
        Value::Map(_) => "{}".to_string(),
    }
}

/// A string plain when YAML 1.1 and 1.2 both read it back as the same string, else quoted.
fn yaml_str(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '.'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { s.to_string() } else { json_str(s) }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// JSON, two-space indented, keys in insertion order, with a final newline.
pub fn json(v: &Value) -> String {
    let mut out = String::new();
    json_value(v, 0, &mut out);
    out.push('\n');
    out
}

fn json_value(v: &Value, at: usize, out: &mut String) {
    match v {
        Value::Str(s) => out.push_str(&json_str(s)),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::List(items) if items.is_empty() => out.push_str("[]"),
        Value::Map(entries) if entries.is_empty() => out.push_str("{}"),
        Value::List(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(at + 2, out);
                json_value(item, at + 2, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(at, out);
            out.push(']');
        }
        Value::Map(entries) => {
            out.push_str("{\n");
            for (i, (k, item)) in entries.iter().enumerate() {
                indent(at + 2, out);
                out.push_str(&json_str(k));
                out.push_str(": ");
                json_value(item, at + 2, out);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            indent(at, out);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::{self, Node, PlainType, Style};

    /// A parsed node as JSON, typing plain scalars as the YAML 1.2 core schema does.
    fn to_json(n: &Node) -> serde_json::Value {
        match &n.value {
            tree::Value::Scalar(s, Style::Quoted) => serde_json::Value::from(s.as_str()),
            tree::Value::Scalar(s, Style::Plain) => match tree::plain_type(s) {
                PlainType::Int => serde_json::Value::from(tree::parse_int(s).expect("int")),
                PlainType::Bool => serde_json::Value::from(s.eq_ignore_ascii_case("true")),
                PlainType::Null => serde_json::Value::Null,
                _ => serde_json::Value::from(s.as_str()),
            },
            tree::Value::Seq(items) => items.iter().map(to_json).collect(),
            tree::Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    fn sample() -> Value {
        map([
            ("apiVersion", "v1".into()),
            ("kind", "X".into()),
            (
                "spec",
                map([
                    (
                        "rules",
                        Value::List(vec![
                            map([("weight", 90u32.into()), ("name", "order-v1".into())]),
                            map([("weight", 10u32.into()), ("name", "yes".into())]),
                        ]),
                    ),
                    ("empty", Value::List(Vec::new())),
                    ("codes", Value::List(vec![503u32.into(), "*".into()])),
                ]),
            ),
        ])
    }

    #[test]
    fn yaml_keeps_insertion_order_and_quotes_what_would_change_type() {
        assert_eq!(
            yaml(&sample()),
            "apiVersion: v1\nkind: X\nspec:\n  rules:\n  - weight: 90\n    name: order-v1\n  - weight: 10\n    name: \"yes\"\n  empty: []\n  codes:\n  - 503\n  - \"*\"\n"
        );
    }

    #[test]
    fn yaml_reads_back_through_the_project_s_parser_as_the_same_tree() {
        let text = yaml(&sample());
        let json_text = json(&sample());
        let file = crate::config::SourceFile::new("out.yaml", text);
        let (docs, problems) = tree::parse_documents(&file);
        assert!(problems.is_empty(), "{problems:?}");
        let from_yaml = to_json(&docs[0]);
        let from_json: serde_json::Value = serde_json::from_str(&json_text).expect("json");
        assert_eq!(from_yaml, from_json);
    }
}
