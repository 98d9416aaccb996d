//! The document tree: YAML or JSON parsed into nodes that remember where they were written.
//!
//! One parser (saphyr's YAML 1.2 event parser) reads all three syntaxes: JSON is YAML's flow
//! style, CloudFormation's short intrinsics (`!Ref`, `!Sub`) are YAML tags, and Kubernetes
//! manifests are multi-document YAML. Shell-template JSON with bare `$VAR` placeholders also
//! parses, because `$VAR` is a plain scalar in flow style; placeholders are substituted later,
//! on this tree, so spans stay exact.

use std::collections::BTreeMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use super::source::{FileId, Loc, SourceFile, Span};

/// How a scalar was written: plain scalars are typed by their text (`8080` is a number,
/// `true` a bool), quoted ones are always strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Unquoted.
    Plain,
    /// Single, double or block quoted.
    Quoted,
}

/// A mapping key, with the spelling the file used.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    /// The name the model uses (importers rewrite it, e.g. `HttpRoute` to `httpRoute`).
    pub name: String,
    /// The name as written, for field paths in diagnostics.
    pub written: String,
    /// Where the key was written.
    pub span: Span,
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A scalar's text and style; typed on demand.
    Scalar(String, Style),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order.
    Map(Vec<(Key, Node)>),
}

/// One node of a document.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// Where the node was written.
    pub span: Span,
    /// A local tag such as `Ref` for `!Ref` (core `!!` tags are applied at parse time).
    pub tag: Option<String>,
}

impl Node {
    /// A plain scalar (as if written unquoted).
    pub fn plain(text: impl Into<String>, span: Span) -> Node {
        Node {
            value: Value::Scalar(text.into(), Style::Plain),
            span,
            tag: None,
        }
    }

    /// A quoted scalar: always a string.
    pub fn string(text: impl Into<String>, span: Span) -> Node {
        Node {
            value: Value::Scalar(text.into(), Style::Quoted),
            span,
            tag: None,
        }
    }

    /// The scalar's text, whatever its type.
    pub fn scalar_text(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, _) => Some(s),
            _ => None,
        }
    }

    /// The text of a string-typed scalar (quoted, or plain and not a number, bool or null).
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s, Style::Quoted) => Some(s),
            Value::Scalar(s, Style::Plain) if plain_type(s) == PlainType::String => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null (`null`, `~` or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar(s, Style::Plain) if plain_type(s) == PlainType::Null)
    }

    /// The mapping entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The sequence items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value of key `name` in a mapping.
    pub fn get(&self, name: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    }

    /// The entry (key and value) of key `name` in a mapping.
    pub fn entry(&self, name: &str) -> Option<(&Key, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(k, v)| (k, v))
    }

    /// A word for the node's type, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Map(_) => "a mapping",
            Value::Seq(_) => "a list",
            Value::Scalar(_, Style::Quoted) => "a string",
            Value::Scalar(s, Style::Plain) => match plain_type(s) {
                PlainType::Null => "nothing (null)",
                PlainType::Bool => "a boolean",
                PlainType::Int => "an integer",
                PlainType::Float => "a number",
                PlainType::String => "a string",
            },
        }
    }

    /// Number of nodes in this subtree (guards alias expansion).
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Scalar(..) => 0,
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(entries) => entries.iter().map(|(_, v)| v.size()).sum(),
        }
    }
}

/// The YAML 1.2 core-schema type of a plain scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainType {
    /// `null`, `~`, empty.
    Null,
    /// `true`/`false` in any of the core schema's casings.
    Bool,
    /// Decimal, `0x` hex or `0o` octal integer.
    Int,
    /// Any other number, including `.inf` and `.nan`.
    Float,
    /// Everything else.
    String,
}

/// Types a plain scalar the way the YAML 1.2 core schema does.
pub fn plain_type(s: &str) -> PlainType {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return PlainType::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" => return PlainType::Bool,
        ".inf" | ".Inf" | ".INF" | "+.inf" | "-.inf" | ".nan" | ".NaN" | ".NAN" => {
            return PlainType::Float;
        }
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return PlainType::Int;
    }
    if let Some(h) = s.strip_prefix("0x")
        && !h.is_empty()
        && h.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return PlainType::Int;
    }
    if let Some(o) = s.strip_prefix("0o")
        && !o.is_empty()
        && o.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return PlainType::Int;
    }
    let looks_numeric = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric && s.parse::<f64>().is_ok() {
        return PlainType::Float;
    }
    PlainType::String
}

/// Parses an integer written as a YAML core-schema integer.
pub fn parse_int(s: &str) -> Option<i64> {
    if let Some(h) = s.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    if let Some(o) = s.strip_prefix("0o") {
        return i64::from_str_radix(o, 8).ok();
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// A problem reading a document: a syntax error, a duplicate key, a non-scalar key.
#[derive(Clone, Debug)]
pub struct ParseProblem {
    /// Where.
    pub span: Span,
    /// What.
    pub message: String,
}

/// The largest tree alias expansion may produce (guards against "billion laughs" input).
const MAX_NODES: usize = 1_000_000;

/// Parses every document in a file. Returns the documents parsed before a syntax error, plus
/// all problems found.
pub fn parse_documents(file: &SourceFile) -> (Vec<Node>, Vec<ParseProblem>) {
    let text = file.text().strip_prefix('\u{feff}').unwrap_or(file.text());
    let offset = file.text().len() - text.len();
    let mut builder = Builder {
        file,
        offset,
        stack: Vec::new(),
        anchors: BTreeMap::new(),
        docs: Vec::new(),
        problems: Vec::new(),
        nodes: 0,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_event() {
            None => break,
            Some(Ok((event, span))) => {
                let span = builder.span(span.start.index(), span.end.index());
                if !builder.on_event(event, span) {
                    break;
                }
            }
            Some(Err(e)) => {
                builder.scan_error(&e);
                break;
            }
        }
    }
    (builder.docs, builder.problems)
}

/// The tab a scanner error about tabs is about (a byte offset). saphyr marks some of them
/// where the scalar or block scalar it was reading began, a line or more above the tab (so a
/// tab in the indentation was reported on the line before), and one just after the tab. The
/// tab is the one at the mark; else the last in the mark's own indentation before it; else
/// the first in the indentation of a later line; else the first after the mark.
fn offending_tab(text: &str, mark: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(mark) == Some(&b'\t') {
        return Some(mark);
    }
    let line_start = text[..mark.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let indentation = |start: usize| {
        let len = bytes[start..]
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        start..start + len
    };
    let own = indentation(line_start);
    if let Some(tab) = (own.start..own.end.min(mark))
        .rev()
        .find(|i| bytes[*i] == b'\t')
    {
        return Some(tab);
    }
    let mut start = text[mark.min(text.len())..]
        .find('\n')
        .map(|i| mark + i + 1);
    while let Some(line) = start.filter(|s| *s < text.len()) {
        if let Some(tab) = indentation(line).find(|i| bytes[*i] == b'\t') {
            return Some(tab);
        }
        start = text[line..].find('\n').map(|i| line + i + 1);
    }
    text[mark.min(text.len())..].find('\t').map(|i| mark + i)
}

/// A collection being built.
enum Open {
    Seq {
        start: Span,
        anchor: usize,
        tag: Option<String>,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        tag: Option<String>,
        entries: Vec<(Key, Node)>,
        pending_key: Option<Node>,
    },
}

struct Builder<'a> {
    file: &'a SourceFile,
    offset: usize,
    stack: Vec<Open>,
    anchors: BTreeMap<usize, Node>,
    docs: Vec<Node>,
    problems: Vec<ParseProblem>,
    nodes: usize,
}

impl Builder<'_> {
    fn span(&self, start_char: usize, end_char: usize) -> Span {
        // Char indices are relative to the text after a BOM, which is one char.
        let bom_chars = usize::from(self.offset > 0);
        Span::new(
            self.file.byte_of_char(start_char + bom_chars),
            self.file.byte_of_char(end_char + bom_chars),
        )
    }

    fn scan_error(&mut self, e: &ScanError) {
        let mut at = self.span(e.marker().index(), e.marker().index());
        if e.info().contains("tab")
            && let Some(tab) = offending_tab(self.file.text(), at.start)
        {
            at = Span::new(tab, tab + 1);
        }
        self.problems.push(ParseProblem {
            span: at,
            message: format!("syntax error: {}", e.info()),
        });
    }

    /// Feeds one event; returns false to stop.
    fn on_event(&mut self, event: Event<'_>, span: Span) -> bool {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let quoted = style != ScalarStyle::Plain;
                let (tag, force_string) = split_tag(tag.as_deref());
                let style = if quoted || force_string {
                    Style::Quoted
                } else {
                    Style::Plain
                };
                let node = Node {
                    value: Value::Scalar(text.into_owned(), style),
                    span,
                    tag,
                };
                self.finish(node, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.stack.push(Open::Seq {
                    start: span,
                    anchor,
                    tag: split_tag(tag.as_deref()).0,
                    items: Vec::new(),
                });
                true
            }
            Event::MappingStart(anchor, tag) => {
                self.stack.push(Open::Map {
                    start: span,
                    anchor,
                    tag: split_tag(tag.as_deref()).0,
                    entries: Vec::new(),
                    pending_key: None,
                });
                true
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = self.stack.pop() else {
                    return true;
                };
                let (node, anchor) = match open {
                    Open::Seq {
                        start,
                        anchor,
                        tag,
                        items,
                    } => {
                        let end = items.last().map_or(span, |n| n.span);
                        (
                            Node {
                                value: Value::Seq(items),
                                span: start.to(end),
                                tag,
                            },
                            anchor,
                        )
                    }
                    Open::Map {
                        start,
                        anchor,
                        tag,
                        entries,
                        ..
                    } => {
                        let end = entries.last().map_or(span, |(_, v)| v.span);
                        (
                            Node {
                                value: Value::Map(entries),
                                span: start.to(end),
                                tag,
                            },
                            anchor,
                        )
                    }
                };
                self.finish(node, anchor)
            }
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.span = span;
                    self.nodes += node.size();
                    if self.nodes > MAX_NODES {
                        self.problems.push(ParseProblem {
                            span,
                            message: format!(
                                "aliases expand to more than {MAX_NODES} nodes; refusing to expand further"
                            ),
                        });
                        return false;
                    }
                    self.finish(node, 0)
                }
                None => {
                    self.problems.push(ParseProblem {
                        span,
                        message: "alias refers to an unknown anchor".into(),
                    });
                    true
                }
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => true,
        }
    }

    /// Places a finished node into its parent (or as a document).
    fn finish(&mut self, node: Node, anchor: usize) -> bool {
        self.nodes += 1;
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Open::Seq { items, .. }) => items.push(node),
            Some(Open::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    let Some(name) = key.scalar_text().map(str::to_owned) else {
                        self.problems.push(ParseProblem {
                            span: key.span,
                            message: "mapping keys must be plain strings".into(),
                        });
                        return true;
                    };
                    if let Some((first, _)) = entries.iter().find(|(k, _)| k.written == name) {
                        let (line, col) = self.file.line_col(first.span.start);
                        self.problems.push(ParseProblem {
                            span: key.span,
                            message: format!(
                                "duplicate key `{name}` (first written at line {line}, column {col})"
                            ),
                        });
                        return true;
                    }
                    entries.push((
                        Key {
                            name: name.clone(),
                            written: name,
                            span: key.span,
                        },
                        node,
                    ));
                }
            },
        }
        true
    }
}

/// Splits a parser tag into a local tag name (`!Ref` gives `Ref`) and whether it is the core
/// `!!str` tag, which forces a string.
fn split_tag(tag: Option<&saphyr_parser::Tag>) -> (Option<String>, bool) {
    match tag {
        None => (None, false),
        Some(t) if t.is_yaml_core_schema() => (None, t.suffix == "str"),
        Some(t) if t.handle == "!" => (Some(t.suffix.clone()), false),
        Some(t) => (Some(format!("{}{}", t.handle, t.suffix)), false),
    }
}

/// Field paths: `spec.listeners[0].portMapping.port`.
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Field paths: `weightedTargets[2]`.
pub fn join_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A node with its path, as handed through importers and the decoder.
#[derive(Clone, Copy, Debug)]
pub struct At<'n> {
    /// The node.
    pub node: &'n Node,
    /// Its field path in the file's spelling.
    pub path: &'n str,
}

/// A location for a node of a file.
pub fn loc(file: FileId, node: &Node, path: &str) -> Loc {
    Loc::new(file, node.span, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Node>, Vec<ParseProblem>) {
        parse_documents(&SourceFile::new("t", text))
    }

    #[test]
    fn a_tab_in_the_indentation_is_reported_where_it_is() {
        for (text, line, col) in [
            // After a plain scalar: saphyr marks the scalar, a line above the tab.
            ("a: 1\nb:\n  c: 2\n\t d: 3\n", 4, 1),
            // In a block's indentation: saphyr marks just after the tab.
            ("name: x\nmesh:\n\tfiles: [a]\n", 3, 1),
            // A block scalar's first line: saphyr marks the `|`.
            ("a: |\n\tfoo\n", 2, 1),
        ] {
            let file = SourceFile::new("t", text);
            let (_, problems) = parse_documents(&file);
            let p = problems.first().expect("a syntax error");
            assert!(p.message.contains("tab"), "{text:?}: {}", p.message);
            assert_eq!(
                file.line_col(p.span.start),
                (line, col),
                "{text:?}: {}",
                p.message
            );
        }
    }

    #[test]
    fn json_with_bare_placeholders_parses() {
        let (docs, problems) = parse("{\n  \"hostname\": $DNS_HOSTNAME,\n  \"port\": 80\n}");
        assert!(problems.is_empty(), "{problems:?}");
        let doc = &docs[0];
        assert_eq!(
            doc.get("hostname").and_then(Node::as_str),
            Some("$DNS_HOSTNAME")
        );
        assert_eq!(doc.get("port").map(Node::describe), Some("an integer"));
    }

    #[test]
    fn spans_point_at_the_value() {
        let text = "a:\n  b: [1, 22]\n";
        let (docs, _) = parse(text);
        let b = docs[0].get("a").and_then(|a| a.get("b")).unwrap();
        let second = &b.as_seq().unwrap()[1];
        assert_eq!(&text[second.span.start..second.span.end], "22");
    }

    #[test]
    fn tags_and_multiple_documents() {
        let (docs, problems) = parse("a: !Ref X\n---\nb: !If [c, 1, 2]\n");
        assert!(problems.is_empty());
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].get("a").unwrap().tag.as_deref(), Some("Ref"));
        assert_eq!(docs[1].get("b").unwrap().tag.as_deref(), Some("If"));
    }

    #[test]
    fn duplicate_keys_are_reported_with_both_places() {
        let (_, problems) = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .message
                .contains("first written at line 1, column 1")
        );
    }

    #[test]
    fn plain_scalars_are_typed_by_the_core_schema() {
        assert_eq!(plain_type("8080"), PlainType::Int);
        assert_eq!(plain_type("-5"), PlainType::Int);
        assert_eq!(plain_type("1.5"), PlainType::Float);
        assert_eq!(plain_type("True"), PlainType::Bool);
        assert_eq!(plain_type("~"), PlainType::Null);
        assert_eq!(plain_type("1.2.3"), PlainType::String);
        assert_eq!(plain_type("e5"), PlainType::String);
        assert_eq!(plain_type("/ping"), PlainType::String);
    }

    #[test]
    fn alias_bombs_stop() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let (_, problems) = parse(&text);
        assert!(
            problems
                .iter()
                .any(|p| p.message.contains("aliases expand"))
        );
    }
}
