use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::*;
use crate::config::source::SourceFile;
use crate::config::tree::parse_documents;
use crate::model::duration::HumanDuration;
use crate::model::service_time::ServiceTimeConfig;

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Item {
    name: String,
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    ratio: f64,
    #[serde(default)]
    on: bool,
    #[serde(default)]
    kind: Option<Kind>,
    #[serde(default)]
    every: Option<HumanDuration>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Plain,
    Fixed(u32),
    Pair { a: u32, b: u32 },
}

/// Deserializes `T` from `text`; on error, the error's text at its span and its path.
fn de<T: for<'a> Deserialize<'a>>(text: &str) -> Result<T, (String, String, String)> {
    let (docs, problems) = parse_documents(&SourceFile::new("t", text));
    assert!(problems.is_empty(), "{problems:?}");
    from_node::<T>(&docs[0], "", None).map_err(|e| {
        let at = e.at.clone().expect("placed");
        (
            text[at.span.start..at.span.end].to_string(),
            at.path,
            e.message.clone(),
        )
    })
}

fn err(at: &str, path: &str, message: &str) -> (String, String, String) {
    (at.into(), path.into(), message.into())
}

#[test]
fn plain_scalars_are_typed_and_quoted_ones_are_strings() {
    let item: Item = de("{name: x, count: 0x10, ratio: 1, on: True}").expect("valid");
    assert_eq!(item.count, Some(16));
    assert_eq!(item.ratio, 1.0);
    assert!(item.on);
    assert_eq!(
        de::<Item>("{name: 42}"),
        Err(err(
            "42",
            "name",
            "expected a string, found the integer `42`"
        ))
    );
    assert_eq!(
        de::<Item>("{name: x, count: \"8\"}"),
        Err(err(
            "\"8\"",
            "count",
            "expected an integer from 0 to 4294967295, found the string \"8\""
        ))
    );
    let item: Item = de("{name: \"42\", count: ~}").expect("quoted");
    assert_eq!((item.name.as_str(), item.count), ("42", None));
}

#[test]
fn unknown_fields_point_at_the_key_and_suggest() {
    let text = "name: x\ncuont: 3\n";
    let (docs, _) = parse_documents(&SourceFile::new("t", text));
    let e = from_node::<Item>(&docs[0], "items[2]", None).expect_err("unknown");
    let at = e.at.clone().expect("placed");
    assert_eq!(&text[at.span.start..at.span.end], "cuont");
    assert_eq!(at.path, "items[2].cuont");
    assert_eq!(e.help.as_deref(), Some("did you mean `count`?"));
    assert_eq!(e.code(), "unknown-field");
    match &e.kind {
        ErrorKind::UnknownField { expected, .. } => {
            assert_eq!(expected, &["name", "count", "ratio", "on", "kind", "every"])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_field_points_at_the_key_that_opens_the_mapping() {
    let text = "items:\n  first:\n    count: 1\n";
    let r = de::<BTreeMap<String, BTreeMap<String, Item>>>(text);
    assert_eq!(
        r,
        Err(err("first", "items.first", "missing required field `name`"))
    );
    // A list item has no key: its first line stands in.
    let r = de::<Vec<Item>>("- count: 1\n  on: true\n");
    assert_eq!(r, Err(err("count", "[0]", "missing required field `name`")));
}

#[test]
fn enums_are_names_or_one_key_mappings() {
    let items: Vec<Item> =
        de("- {name: a, kind: plain}\n- {name: b, kind: {fixed: 3}}\n- {name: c, kind: {pair: {a: 1, b: 2}}}\n")
            .expect("valid");
    let kinds: Vec<_> = items.into_iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [
            Some(Kind::Plain),
            Some(Kind::Fixed(3)),
            Some(Kind::Pair { a: 1, b: 2 })
        ]
    );
    assert_eq!(
        de::<Item>("{name: a, kind: {fixd: 3}}"),
        Err(err(
            "fixd",
            "kind.fixd",
            "expected `plain`, `fixed` or `pair`, found `fixd`"
        ))
    );
    assert_eq!(
        de::<Item>("{name: a, kind: {fixed: 3, plain: ~}}"),
        Err(err(
            "plain",
            "kind.plain",
            "expected exactly one key, `plain`, `fixed` or `pair`, found 2"
        ))
    );
    assert_eq!(
        de::<Item>("{name: a, kind: {pair: {a: 1, c: 2}}}"),
        Err(err("pair", "kind.pair", "missing required field `b`"))
    );
}

#[test]
fn durations_go_through_the_models_own_parser() {
    let item: Item = de("{name: a, every: 1m30s}").expect("valid");
    assert_eq!(
        item.every.map(HumanDuration::get),
        Some(Duration::from_secs(90))
    );
    assert_eq!(
        de::<Item>("{name: a, every: \"20\"}"),
        Err(err(
            "\"20\"",
            "every",
            "duration \"20\" has no unit; write one of ns, us, ms, s, m, h (like \"20ms\")"
        ))
    );
}

#[test]
fn errors_inside_buffered_enums_are_found_again() {
    // `distribution:` maps are internally tagged: serde buffers them and its errors carry no
    // place, so the deserializer looks for the key or scalar they name.
    assert_eq!(
        de::<ServiceTimeConfig>("{distribution: lognormal, median: 2ms, p98: 8ms}"),
        Err(err("p98", "p98", "unknown field `p98`"))
    );
    assert_eq!(
        de::<ServiceTimeConfig>("{distribution: lognormal, median: \"2\", p99: 8ms}"),
        Err(err(
            "\"2\"",
            "median",
            "duration \"2\" has no unit; write one of ns, us, ms, s, m, h (like \"20ms\")"
        ))
    );
    // A bare duration is the constant form.
    assert!(de::<ServiceTimeConfig>("20ms").is_ok());
}

#[test]
fn text_takes_any_scalar_as_written() {
    let m: BTreeMap<String, Text> = de("{a: 0x10, b: true, c: \"x\", d: 1.50}").expect("valid");
    let texts: Vec<&str> = m.values().map(|t| t.0.as_str()).collect();
    assert_eq!(texts, ["0x10", "true", "x", "1.50"]);
    assert_eq!(
        de::<BTreeMap<String, Text>>("{a: [1]}"),
        Err(err(
            "[1",
            "a",
            "expected a string, number or boolean, found a list"
        ))
    );
}

#[test]
fn extra_items_of_a_tuple_are_refused() {
    assert_eq!(
        de::<(u32, u32)>("[1, 2, 3]"),
        // (The tree's span of a flow list ends at its last item.)
        Err(err("[1, 2, 3", "", "expected fewer items, found 3 items"))
    );
}

#[test]
fn huge_integers_are_errors_not_panics() {
    assert_eq!(
        de::<Item>("{name: a, count: 99999999999999999999}"),
        Err(err(
            "99999999999999999999",
            "count",
            "the integer `99999999999999999999` is out of range"
        ))
    );
}
