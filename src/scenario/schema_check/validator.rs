//! A small JSON Schema validator for the keywords `schemas/scenario.schema.json` uses. Any
//! other keyword is reported as a problem rather than skipped, so the schema cannot grow a
//! rule these tests silently ignore.

use serde_json::{Map, Value as Json};

use crate::config::tree::{Node, PlainType, Style, Value, parse_int, plain_type};

/// The node as JSON, typed the way the loader types YAML scalars.
pub(super) fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Scalar(s, Style::Quoted) => Json::String(s.clone()),
        Value::Scalar(s, Style::Plain) => match plain_type(s) {
            PlainType::Null => Json::Null,
            PlainType::Bool => Json::Bool(s.eq_ignore_ascii_case("true")),
            PlainType::Int => parse_int(s).map_or(Json::Null, Json::from),
            PlainType::Float => s.parse::<f64>().map_or(Json::Null, Json::from),
            PlainType::String => Json::String(s.clone()),
        },
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (k.name.clone(), to_json(v)))
                .collect(),
        ),
    }
}

// ---- the validator -------------------------------------------------------------------------

const IGNORED: &[&str] = &[
    "$schema",
    "title",
    "description",
    "default",
    "examples",
    "$defs",
];

/// Problems of `value` against `schema` (empty: valid).
pub(super) fn validate(root: &Json, schema: &Json, value: &Json, at: &str, out: &mut Vec<String>) {
    let Some(keywords) = schema.as_object() else {
        out.push(format!("{at}: schema is not an object"));
        return;
    };
    for (k, s) in keywords {
        if IGNORED.contains(&k.as_str()) {
            continue;
        }
        match k.as_str() {
            "$ref" => {
                let name = s.as_str().and_then(|r| r.strip_prefix("#/$defs/"));
                match name.and_then(|n| root["$defs"].get(n)) {
                    Some(target) => validate(root, target, value, at, out),
                    None => out.push(format!("{at}: unresolvable $ref {s}")),
                }
            }
            "type" => {
                let types: Vec<&str> = match s {
                    Json::Array(a) => a.iter().filter_map(Json::as_str).collect(),
                    other => other.as_str().into_iter().collect(),
                };
                if !types.iter().any(|t| has_type(value, t)) {
                    out.push(format!("{at}: {value} is not of type {types:?}"));
                }
            }
            "properties" | "additionalProperties" | "required" => {
                if let Some(obj) = value.as_object() {
                    object(root, keywords, k, obj, at, out);
                }
            }
            "items" => {
                for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                    validate(root, s, item, &format!("{at}[{i}]"), out);
                }
            }
            "minItems" => {
                let n = value.as_array().map_or(usize::MAX, Vec::len);
                if (n as u64) < s.as_u64().unwrap_or(0) {
                    out.push(format!("{at}: fewer than {s} items"));
                }
            }
            "enum" => {
                if !s.as_array().is_some_and(|a| a.contains(value)) {
                    out.push(format!("{at}: {value} is not one of {s}"));
                }
            }
            "const" if s != value => out.push(format!("{at}: {value} is not {s}")),
            "const" => {}
            "oneOf" | "anyOf" => {
                let passing = s
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|sub| {
                        let mut errs = Vec::new();
                        validate(root, sub, value, at, &mut errs);
                        errs.is_empty()
                    })
                    .count();
                let ok = if k == "oneOf" {
                    passing == 1
                } else {
                    passing >= 1
                };
                if !ok {
                    out.push(format!("{at}: {passing} branches of {k} match {value}"));
                }
            }
            "minimum" | "maximum" | "exclusiveMinimum" => {
                if let (Some(v), Some(limit)) = (value.as_f64(), s.as_f64()) {
                    let ok = match k.as_str() {
                        "minimum" => v >= limit,
                        "maximum" => v <= limit,
                        _ => v > limit,
                    };
                    if !ok {
                        out.push(format!("{at}: {v} breaks {k} {limit}"));
                    }
                }
            }
            "pattern" => {
                let re = regex::Regex::new(s.as_str().unwrap_or("")).expect("pattern compiles");
                if let Some(text) = value.as_str()
                    && !re.is_match(text)
                {
                    out.push(format!("{at}: \"{text}\" does not match {s}"));
                }
            }
            other => out.push(format!("{at}: the validator does not implement `{other}`")),
        }
    }
}

fn has_type(value: &Json, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "null" => value.is_null(),
        _ => false,
    }
}

/// `properties`, `additionalProperties` and `required`, each checked once (on `properties`'s
/// turn, or its own when the schema has no `properties`).
fn object(
    root: &Json,
    keywords: &Map<String, Json>,
    keyword: &str,
    obj: &Map<String, Json>,
    at: &str,
    out: &mut Vec<String>,
) {
    let props = keywords.get("properties").and_then(Json::as_object);
    match keyword {
        "required" => {
            for r in keywords[keyword].as_array().into_iter().flatten() {
                if !obj.contains_key(r.as_str().unwrap_or("")) {
                    out.push(format!("{at}: missing required {r}"));
                }
            }
        }
        "additionalProperties" if props.is_some() => {}
        _ => {
            for (k, v) in obj {
                let path = format!("{at}.{k}");
                match (
                    props.and_then(|p| p.get(k)),
                    keywords.get("additionalProperties"),
                ) {
                    (Some(s), _) => validate(root, s, v, &path, out),
                    (None, Some(Json::Bool(false))) => out.push(format!("{path}: not allowed")),
                    (None, Some(s)) if s.is_object() => validate(root, s, v, &path, out),
                    (None, _) => {}
                }
            }
        }
    }
}
