//! What a client can put on the wire. `meshsim check` generates only requests a client could
//! send, since a counterexample nobody can send proves nothing about the mesh: a path starts
//! with `/` and holds only URI path characters, header names are tokens, header values hold
//! no control characters and no surrounding whitespace, the query is URI text.
//!
//! Regexes are generated from the part of their language a client can send (each character
//! class intersected with the sendable characters, literals kept only when sendable), so a
//! request aimed at a regex still meets it. Other text taken from the mesh (a prefix with a
//! space, a header named `my header`) is sent as a client would send it: percent-encoded in
//! the path and query, and not at all where HTTP has no encoding (header names, controls in
//! header values).

use std::fmt::Write as _;

use proptest::prelude::*;
use regex_syntax::hir::{Class, ClassBytes, ClassBytesRange, ClassUnicode, Hir, HirKind, Look};

use super::strategy::Draft;

/// Where generated text goes, and so which characters it may hold as sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// A path: RFC 3986 `pchar`s and `/` (`%` kept for the escapes a route may spell out);
    /// `?` and `#` would end it.
    Path,
    /// A query parameter name or value: `pchar`s, `/` and `?`, less the `&` and `=` that
    /// separate them.
    Query,
    /// A header value: visible ASCII and space (RFC 9110 `field-vchar`; obs-text left out).
    HeaderValue,
}

impl Part {
    fn allows(self, c: char) -> bool {
        match self {
            Part::Path => c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c),
            Part::Query => c.is_ascii_alphanumeric() || "-._~!$'()*+,;:@/?%".contains(c),
            Part::HeaderValue => c == ' ' || c.is_ascii_graphic(),
        }
    }

    /// The characters allowed, as a regex class (all ASCII, so one range per character run).
    fn class(self) -> ClassUnicode {
        let mut class = ClassUnicode::empty();
        for c in (0u8..0x80).map(char::from).filter(|&c| self.allows(c)) {
            class.push(regex_syntax::hir::ClassUnicodeRange::new(c, c));
        }
        class
    }
}

/// Text from the sendable part of a regex's language, or `None` when that part is empty (a
/// regex that needs a control character) or proptest cannot generate it (word boundaries and
/// other look-arounds).
pub(crate) fn from_regex(pattern: &str, part: Part) -> Option<BoxedStrategy<String>> {
    let hir = regex_syntax::parse(pattern).ok()?;
    let hir = restrict(&hir, part, &part.class())?;
    proptest::string::string_regex_parsed(&hir)
        .ok()
        .map(Strategy::boxed)
}

/// `hir` limited to sendable text; `None` when it has none.
fn restrict(hir: &Hir, part: Part, allowed: &ClassUnicode) -> Option<Hir> {
    Some(match hir.kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).ok()?;
            if !text.chars().all(|c| part.allows(c)) {
                return None;
            }
            hir.clone()
        }
        HirKind::Class(Class::Unicode(class)) => {
            let mut class = class.clone();
            class.intersect(allowed);
            if class.ranges().is_empty() {
                return None;
            }
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(class)) => {
            let mut class = class.clone();
            let ascii = allowed
                .ranges()
                .iter()
                .map(|r| ClassBytesRange::new(r.start() as u8, r.end() as u8));
            class.intersect(&ClassBytes::new(ascii));
            if class.ranges().is_empty() {
                return None;
            }
            Hir::class(Class::Bytes(class))
        }
        // Route regexes match the whole value (the engine anchors them), so anchors at the
        // ends add nothing.
        HirKind::Look(
            Look::Start | Look::End | Look::StartLF | Look::EndLF | Look::StartCRLF | Look::EndCRLF,
        ) => Hir::empty(),
        HirKind::Look(_) => return None,
        HirKind::Repetition(rep) => match restrict(&rep.sub, part, allowed) {
            Some(sub) => Hir::repetition(regex_syntax::hir::Repetition {
                sub: Box::new(sub),
                ..rep.clone()
            }),
            None if rep.min == 0 => Hir::empty(),
            None => return None,
        },
        HirKind::Capture(cap) => restrict(&cap.sub, part, allowed)?,
        HirKind::Concat(subs) => Hir::concat(
            subs.iter()
                .map(|s| restrict(s, part, allowed))
                .collect::<Option<Vec<_>>>()?,
        ),
        HirKind::Alternation(subs) => {
            let kept: Vec<Hir> = subs
                .iter()
                .filter_map(|s| restrict(s, part, allowed))
                .collect();
            if kept.is_empty() {
                return None;
            }
            Hir::alternation(kept)
        }
    })
}

/// `text` with every character `part` does not allow percent-encoded (its UTF-8 bytes), as
/// a client's URL builder writes it.
fn encode(text: &str, part: Part) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if part.allows(c) {
            out.push(c);
        } else {
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// The request as a client sends it: the path from `/` and encoded, the query encoded,
/// headers that are not tokens dropped, controls left out of header values and the
/// whitespace around them trimmed (HTTP/1 parsers strip it; HTTP/2 forbids it).
pub(crate) fn as_sent(mut d: Draft) -> Draft {
    if !d.path.starts_with('/') {
        d.path.insert(0, '/');
    }
    d.path = encode(&d.path, Part::Path);
    for (k, v) in &mut d.query {
        *k = encode(k, Part::Query);
        *v = encode(v, Part::Query);
    }
    d.headers
        .retain(|(name, _)| http::HeaderName::from_bytes(name.as_bytes()).is_ok());
    for (_, v) in &mut d.headers {
        v.retain(|c| Part::HeaderValue.allows(c));
        let trimmed = v.trim_matches(' ');
        if trimmed.len() != v.len() {
            *v = trimmed.to_string();
        }
    }
    d
}

/// Whether a client can send a request with this path (and `?query`) and these headers, as
/// the `http` crate (hyper's types) judges it.
pub(crate) fn sendable<'a>(
    path_and_query: &str,
    mut headers: impl Iterator<Item = (&'a str, &'a str)>,
) -> bool {
    path_and_query.starts_with('/')
        && path_and_query
            .parse::<http::uri::PathAndQuery>()
            .is_ok_and(|pq| pq.as_str() == path_and_query)
        && headers.all(|(name, value)| {
            http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && http::HeaderValue::from_str(value).is_ok()
                && value.is_ascii()
                && value.trim() == value
        })
}

/// [`sendable`] for a draft.
#[cfg(test)]
pub(crate) fn draft_sendable(d: &Draft) -> bool {
    let mut target = d.path.clone();
    if !d.query.is_empty() {
        target.push('?');
        let pairs: Vec<String> = d.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        target.push_str(&pairs.join("&"));
    }
    sendable(
        &target,
        d.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    fn draws(pattern: &str, part: Part) -> Vec<String> {
        let s = from_regex(pattern, part).expect("a sendable language");
        let mut runner = TestRunner::deterministic();
        (0..200)
            .map(|_| s.new_tree(&mut runner).expect("a value").current())
            .collect()
    }

    #[test]
    fn regex_text_stays_in_the_language_and_out_of_the_unsendable() {
        for (pattern, part) in [
            (r".*\.css", Part::Path),
            (r"(?s)/files/.+", Part::Path),
            (r"^/api/[^/]+$", Part::Path),
            (r"\s*\w+\s*", Part::HeaderValue),
            (r"[^a-z]{1,4}|\x00", Part::HeaderValue),
        ] {
            let re = regex::Regex::new(&format!("^(?:{pattern})$")).expect("regex");
            for v in draws(pattern, part) {
                assert!(re.is_match(&v), "{pattern}: {v:?} is outside the language");
                assert!(v.chars().all(|c| part.allows(c)), "{pattern}: {v:?}");
            }
        }
    }

    #[test]
    fn a_regex_that_needs_an_unsendable_character_has_no_sendable_text() {
        assert!(from_regex(r"/a\x00b", Part::Path).is_none());
        assert!(from_regex(r"/a b", Part::Path).is_none());
        assert!(from_regex(r"\n+", Part::HeaderValue).is_none());
        assert!(from_regex(r"(?:\n|ok)", Part::HeaderValue).is_some());
    }

    #[test]
    fn what_a_client_cannot_send_is_encoded_or_dropped() {
        let d = as_sent(Draft {
            port: 80,
            method: crate::config::model::HttpMethod::Get,
            path: "caf\u{e9} menu?#".into(),
            headers: vec![
                ("x-ok".into(), " a\u{7}b ".into()),
                ("bad name".into(), "v".into()),
            ],
            query: vec![("q&".into(), "a b".into())],
        });
        assert_eq!(d.path, "/caf%C3%A9%20menu%3F%23");
        assert_eq!(d.headers, [("x-ok".to_string(), "ab".to_string())]);
        assert_eq!(d.query, [("q%26".to_string(), "a%20b".to_string())]);
        assert!(draft_sendable(&d));
    }

    // ---- every generated request is sendable, whatever the mesh spells ----

    use super::super::pattern::{PathPattern, Pattern};
    use super::super::strategy::{ServiceShape, conformed, service_drafts};
    use crate::config::model::{HeaderMatch, HttpMethod, QueryParameterMatch, ValueMatch};

    /// Text as a mesh file may spell it: plain, with spaces and controls, or any character.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z/.-]{0,5}", "[ -~]{0,5}", "(?s).{0,4}"]
    }

    fn regex() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                ".*",
                r".*\.css",
                "(?s).+",
                r"\s+x",
                "[^a]*",
                r"^/api/.*$",
                r"\x00|/ok",
                "caf\u{e9}+",
                r"[[:cntrl:]]x",
                r"\bword\b",
                "(?i)/admin/.*",
            ])
            .prop_map(String::from),
            text().prop_map(|t| regex::escape(&t)),
        ]
    }

    fn value_match() -> impl Strategy<Value = ValueMatch> {
        prop_oneof![
            text().prop_map(ValueMatch::Exact),
            text().prop_map(ValueMatch::Prefix),
            text().prop_map(ValueMatch::Suffix),
            regex().prop_map(ValueMatch::Regex),
            (-5i64..5, 0i64..10).prop_map(|(start, len)| ValueMatch::Range {
                start,
                end: start + len
            }),
        ]
    }

    fn pattern() -> impl Strategy<Value = Pattern> {
        let path = prop_oneof![
            Just(PathPattern::Any),
            text().prop_map(PathPattern::Prefix),
            text().prop_map(PathPattern::Exact),
            regex().prop_map(PathPattern::Regex),
            (proptest::option::of(text()), proptest::option::of(text()))
                .prop_map(|(service, method)| PathPattern::Grpc { service, method }),
        ];
        let header = (
            prop_oneof!["[a-z-]{1,8}", text()],
            any::<bool>(),
            proptest::option::of(value_match()),
        )
            .prop_map(|(name, invert, value)| HeaderMatch {
                name,
                invert,
                value,
            });
        let query = (text(), proptest::option::of(text()))
            .prop_map(|(name, exact)| QueryParameterMatch { name, exact });
        (
            proptest::option::of(proptest::sample::select(vec![80u16, 8080])),
            proptest::option::of(proptest::sample::select(vec![
                HttpMethod::Get,
                HttpMethod::Post,
            ])),
            path,
            proptest::collection::vec(header, 0..3),
            proptest::collection::vec(query, 0..2),
        )
            .prop_map(|(port, method, path, headers, query)| Pattern {
                port,
                method,
                path,
                headers,
                query,
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn every_generated_request_is_sendable(
            patterns in proptest::collection::vec(pattern(), 1..4),
            seed in any::<[u8; 32]>(),
        ) {
            let shape = ServiceShape { ports: vec![8080, 80] };
            let drafts = service_drafts(&patterns, &shape);
            let bent = conformed(drafts.clone(), &patterns[0], &shape);
            let mut runner = TestRunner::new_with_rng(
                proptest::test_runner::Config::default(),
                proptest::test_runner::TestRng::from_seed(
                    proptest::test_runner::RngAlgorithm::ChaCha,
                    &seed,
                ),
            );
            for strategy in [&drafts, &bent] {
                for _ in 0..16 {
                    let mut tree = strategy.new_tree(&mut runner).expect("a request");
                    // The requests shrinking reaches are sent too.
                    for _ in 0..8 {
                        let d = tree.current();
                        prop_assert!(draft_sendable(&d), "{d:?} from {patterns:?}");
                        prop_assert!(http::Method::from_bytes(d.method.as_str().as_bytes()).is_ok());
                        if !tree.simplify() {
                            break;
                        }
                    }
                }
            }
        }
    }
}
