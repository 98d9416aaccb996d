//! Field paths back to places in the file.
//!
//! Problems found after deserialization (a model's `build()`, a reference into the mesh) come
//! with a field path such as `endpoints[0].service_time.p99`. Walking the tree by that path
//! finds the span to show; when the path goes further than the file does (a distribution
//! written as a bare `"20ms"` has no `p99` to point at), the nearest node that exists stands in.

use crate::config::source::Span;
use crate::config::tree::{Node, Value};

/// Where a path leads: the deepest node reached and the key that introduced it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found<'n> {
    pub node: &'n Node,
    pub key: Option<Span>,
    /// Whether the whole path was found (false: `node` is the nearest ancestor).
    pub exact: bool,
}

impl Found<'_> {
    /// The span a diagnostic should underline: a scalar itself, but a mapping's key (or its
    /// first line), since underlining a whole block says less than pointing at where it starts.
    pub fn span(&self) -> Span {
        match &self.node.value {
            Value::Scalar(..) => self.node.span,
            Value::Seq(items) if items.is_empty() => self.node.span,
            Value::Seq(_) => self.key.unwrap_or(self.node.span),
            Value::Map(entries) => self
                .key
                .or_else(|| entries.first().map(|(k, _)| k.span))
                .unwrap_or(self.node.span),
        }
    }
}

/// Follows `path` (`a.b[2].c`, relative to `node`) as far as the tree goes.
///
/// Keys may themselves hold dots (service names like `ui.ordering.local`), so at each mapping
/// the longest key that matches the rest of the path wins.
pub(crate) fn locate<'n>(node: &'n Node, key: Option<Span>, path: &str) -> Found<'n> {
    let mut here = Found {
        node,
        key,
        exact: true,
    };
    let mut rest = path;
    loop {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if rest.is_empty() {
            return here;
        }
        let next = match (&here.node.value, rest.strip_prefix('[')) {
            (Value::Seq(items), Some(index)) => index.split_once(']').and_then(|(i, tail)| {
                let item = items.get(i.parse::<usize>().ok()?)?;
                Some((item, None, tail))
            }),
            (Value::Map(entries), None) => entries
                .iter()
                .filter(|(k, _)| {
                    rest.strip_prefix(k.written.as_str())
                        .is_some_and(|tail| tail.is_empty() || tail.starts_with(['.', '[']))
                })
                .max_by_key(|(k, _)| k.written.len())
                .map(|(k, v)| (v, Some(k.span), &rest[k.written.len()..])),
            _ => None,
        };
        match next {
            Some((node, key, tail)) => {
                here = Found {
                    node,
                    key,
                    exact: true,
                };
                rest = tail;
            }
            None => {
                here.exact = false;
                return here;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::SourceFile;
    use crate::config::tree::parse_documents;

    fn doc(text: &str) -> Node {
        let (mut docs, problems) = parse_documents(&SourceFile::new("t", text));
        assert!(problems.is_empty(), "{problems:?}");
        docs.remove(0)
    }

    fn text_at(text: &str, span: Span) -> String {
        text[span.start..span.end].to_string()
    }

    #[test]
    fn walks_keys_and_indices() {
        let text = "services:\n  ui:\n    endpoints:\n      - path: /\n        service_time: 2ms\n";
        let root = doc(text);
        let f = locate(&root, None, "services.ui.endpoints[0].service_time");
        assert!(f.exact);
        assert_eq!(text_at(text, f.span()), "2ms");
    }

    #[test]
    fn stops_at_the_nearest_ancestor() {
        let text = "a:\n  b: 20ms\n";
        let root = doc(text);
        let f = locate(&root, None, "a.b.p99");
        assert!(!f.exact);
        assert_eq!(text_at(text, f.span()), "20ms");
        let f = locate(&root, None, "a[3]");
        assert!(!f.exact);
        assert_eq!(text_at(text, f.span()), "a");
    }

    #[test]
    fn keys_with_dots_match_longest_first() {
        let text = "calls:\n  ui.ordering.local: {x: 1}\n  ui: {y: 2}\n";
        let root = doc(text);
        let f = locate(&root, None, "calls.ui.ordering.local.x");
        assert!(f.exact);
        assert_eq!(text_at(text, f.span()), "1");
    }

    #[test]
    fn a_mapping_is_shown_by_its_key_or_first_line() {
        let text = "mix:\n  - weight: 1\n    path: /\n";
        let root = doc(text);
        assert_eq!(text_at(text, locate(&root, None, "mix").span()), "mix");
        assert_eq!(
            text_at(text, locate(&root, None, "mix[0]").span()),
            "weight"
        );
    }
}
