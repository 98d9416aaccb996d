//! `--vary PATH=A..B/STEP`: one number in the scenario file, set to each value in turn.
//!
//! PATH walks the scenario's YAML as written: keys joined by `.`, a list item by its index
//! (`faults[0]`) or by its `name:` (`faults[v2-returns-500s]`). The node reached must be a
//! number, optionally followed by a unit (`3`, `0.5`, `1ms`, `2m`); each value replaces the
//! number and keeps the unit. The file is edited as text, at the node's span, and loaded again
//! by the scenario loader, so every value is checked exactly as a hand-edited file would be.

use std::fmt;

use crate::config::source::{SourceFile, Span};
use crate::config::tree::{Node, Value, parse_documents};

/// What `--vary` asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    /// The path as written.
    pub path: String,
    /// Start, end, step as written (their decimals set the values' decimals).
    pub from: String,
    /// End (inclusive).
    pub to: String,
    /// Step.
    pub step: String,
}

/// Why a `--vary` cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum VaryError {
    /// Not `PATH=A..B/STEP`.
    #[error("--vary takes PATH=FROM..TO/STEP, like `faults[0].percent=0..5/0.5`; `{0}` is not one")]
    Syntax(String),
    /// Bad numbers.
    #[error("--vary {0}")]
    Range(String),
    /// The path names nothing in the file.
    #[error("--vary {path}: {problem}")]
    Path {
        /// The path as written.
        path: String,
        /// What is wrong, with a suggestion.
        problem: String,
    },
}

impl Vary {
    /// Parses `PATH=A..B/STEP`.
    pub fn parse(s: &str) -> Result<Vary, VaryError> {
        let bad = || VaryError::Syntax(s.to_string());
        let (path, range) = s.split_once('=').ok_or_else(bad)?;
        let (span, step) = range.rsplit_once('/').ok_or_else(bad)?;
        let (from, to) = span.split_once("..").ok_or_else(bad)?;
        if path.trim().is_empty() {
            return Err(bad());
        }
        let v = Vary {
            path: path.trim().to_string(),
            from: from.trim().to_string(),
            to: to.trim().to_string(),
            step: step.trim().to_string(),
        };
        v.values()?;
        Ok(v)
    }

    /// The values, from `from` to `to` inclusive, as text with the most decimals any of the
    /// three was written with (so `0..0.05/0.005` gives `0.000`, `0.005`, … `0.050`).
    pub fn values(&self) -> Result<Vec<String>, VaryError> {
        let num = |t: &str| -> Result<f64, VaryError> {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| VaryError::Range(format!("`{t}` is not a number")))
        };
        let (a, b, step) = (num(&self.from)?, num(&self.to)?, num(&self.step)?);
        if step <= 0.0 {
            return Err(VaryError::Range(format!(
                "step {} must be above 0",
                self.step
            )));
        }
        if b < a {
            return Err(VaryError::Range(format!(
                "{}..{} runs backwards",
                self.from, self.to
            )));
        }
        let points = ((b - a) / step + 1e-9).floor() + 1.0;
        if points > 1000.0 {
            return Err(VaryError::Range(format!(
                "gives {points} values; at most 1000"
            )));
        }
        let decimals = [&self.from, &self.to, &self.step]
            .iter()
            .map(|t| t.split_once('.').map_or(0, |(_, d)| d.len()))
            .max()
            .unwrap_or(0);
        Ok((0..points as u64)
            .map(|i| format!("{:.*}", decimals, a + i as f64 * step))
            .collect())
    }

    /// The scenario text with the path's number set to each value, in order; the path is
    /// checked against the file first.
    pub fn texts(&self, name: &str, text: &str) -> Result<Vec<(String, String)>, VaryError> {
        let span = locate(name, text, &self.path)?;
        Ok(self
            .values()?
            .into_iter()
            .map(|v| {
                let edited = format!("{}{v}{}", &text[..span.start], &text[span.end..]);
                (v, edited)
            })
            .collect())
    }
}

impl fmt::Display for Vary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}..{}/{}", self.path, self.from, self.to, self.step)
    }
}

/// One step of a path.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Item(&'a str),
}

fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => part.split_at(i),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let item = rest.get(1..close)?;
            if item.is_empty() {
                return None;
            }
            out.push(Step::Item(item));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
        if key.is_empty() && out.is_empty() {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The span of the number at `path` (without the unit or quotes around it, which stay).
fn locate(name: &str, text: &str, path: &str) -> Result<Span, VaryError> {
    let err = |problem: String| VaryError::Path {
        path: path.to_string(),
        problem,
    };
    let steps = steps(path).ok_or_else(|| {
        err("write keys joined by `.` and list items as `[0]` or `[name]`, like `faults[0].percent`".into())
    })?;
    let file = SourceFile::new(name, text);
    let (docs, _) = parse_documents(&file);
    let mut node: &Node = docs
        .iter()
        .find(|d| !d.is_null())
        .ok_or_else(|| err("the scenario file is empty".into()))?;
    let mut at = String::new();
    for step in steps {
        let here = if at.is_empty() {
            "the top level".to_string()
        } else {
            format!("`{at}`")
        };
        node = match (step, &node.value) {
            (Step::Key(k), Value::Map(entries)) => {
                match entries.iter().find(|(key, _)| key.written == k) {
                    Some((_, v)) => v,
                    None => {
                        let keys: Vec<&str> = entries
                            .iter()
                            .map(|(key, _)| key.written.as_str())
                            .collect();
                        return Err(err(format!("{here} has no key `{k}`{}", suggest(k, &keys))));
                    }
                }
            }
            (Step::Item(i), Value::Seq(items)) => match i.parse::<usize>() {
                Ok(n) => items.get(n).ok_or_else(|| {
                    err(format!(
                        "{here} has {} items; `[{n}]` is past the end (items count from 0)",
                        items.len()
                    ))
                })?,
                Err(_) => {
                    let named = |it: &&Node| it.get("name").and_then(Node::scalar_text) == Some(i);
                    match items.iter().find(named) {
                        Some(it) => it,
                        None => {
                            let names: Vec<&str> = items
                                .iter()
                                .filter_map(|it| it.get("name").and_then(Node::scalar_text))
                                .collect();
                            return Err(err(format!(
                                "no item of {here} is named `{i}`{}",
                                suggest(i, &names)
                            )));
                        }
                    }
                }
            },
            (Step::Key(k), _) => {
                return Err(err(format!(
                    "{here} is not a mapping, so it has no key `{k}`"
                )));
            }
            (Step::Item(i), _) => {
                return Err(err(format!(
                    "{here} is not a list, so it has no item `[{i}]`"
                )));
            }
        };
        match step {
            Step::Key(k) if at.is_empty() => at.push_str(k),
            Step::Key(k) => {
                at.push('.');
                at.push_str(k);
            }
            Step::Item(i) => at.push_str(&format!("[{i}]")),
        }
    }
    let Value::Scalar(s, _) = &node.value else {
        return Err(err("is a mapping or a list, not a number".into()));
    };
    let written = &text[node.span.start..node.span.end];
    // The scalar as written (quotes included): the number is its leading digits.
    let inner = written.trim_matches(|c| c == '"' || c == '\'');
    let offset = written.find(inner).unwrap_or(0);
    let digits = inner
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(inner.len());
    if digits == 0 || inner[..digits].parse::<f64>().is_err() {
        return Err(err(format!(
            "is `{s}`, not a number (optionally with a unit, like `3`, `0.5` or `1ms`)"
        )));
    }
    let start = node.span.start + offset;
    Ok(Span::new(start, start + digits))
}

fn suggest(got: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (strsim::jaro_winkler(got, k), *k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, k)) => format!("; did you mean `{k}`?"),
        None if known.is_empty() => String::new(),
        None => format!(" (it has: {})", known.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: x\nnetwork:\n  latency: 1ms\nfaults:\n  - name: slow\n    kind: errors\n    percent: 3\n  - { name: other, percent: \"2\" }\n";

    fn vary(s: &str) -> Vary {
        Vary::parse(s).unwrap()
    }

    #[test]
    fn values_keep_the_decimals_written_and_end_inclusive() {
        assert_eq!(
            vary("a=0..0.05/0.01").values().unwrap(),
            ["0.00", "0.01", "0.02", "0.03", "0.04", "0.05"]
        );
        assert_eq!(vary("a=1..3/1").values().unwrap(), ["1", "2", "3"]);
        assert_eq!(vary("a=2..2/1").values().unwrap(), ["2"]);
        assert!(Vary::parse("a=3..1/1").is_err());
        assert!(Vary::parse("a=0..1/0").is_err());
        assert!(Vary::parse("a0..1/1").is_err());
    }

    #[test]
    fn a_path_edits_only_its_number_and_keeps_the_unit() {
        let t = vary("faults[slow].percent=0..1/1")
            .texts("s.yaml", TEXT)
            .unwrap();
        assert_eq!(t[1].1, TEXT.replace("percent: 3", "percent: 1"));
        let t = vary("faults[1].percent=5..5/1")
            .texts("s.yaml", TEXT)
            .unwrap();
        assert_eq!(t[0].1, TEXT.replace("\"2\"", "\"5\""));
        let t = vary("network.latency=4..4/1")
            .texts("s.yaml", TEXT)
            .unwrap();
        assert_eq!(t[0].1, TEXT.replace("1ms", "4ms"));
    }

    #[test]
    fn unknown_paths_are_refused_with_a_suggestion() {
        let e = vary("faults[slow].percnt=0..1/1")
            .texts("s.yaml", TEXT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `percent`"), "{e}");
        let e = vary("faults[slo].percent=0..1/1")
            .texts("s.yaml", TEXT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `slow`"), "{e}");
        let e = vary("faults[7].percent=0..1/1")
            .texts("s.yaml", TEXT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("past the end"), "{e}");
        let e = vary("faults[0].kind=0..1/1")
            .texts("s.yaml", TEXT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a number"), "{e}");
        let e = vary("network=0..1/1")
            .texts("s.yaml", TEXT)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a number"), "{e}");
    }
}
