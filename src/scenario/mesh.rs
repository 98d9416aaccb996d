//! The scenario's mesh: its config files and inline text, loaded by the config loader, and
//! the one mesh the scenario runs.

use std::path::{Component, Path, PathBuf};

use super::locate::locate;
use super::sections::RawMesh;
use super::sink::Sink;
use crate::config::diagnostic::{Severity, suggest};
use crate::config::model::Mesh;
use crate::config::paths;
use crate::config::source::{FileId, SourceFile};
use crate::config::tree::{Node, Value};
use crate::config::{LoadOptions, LoadedConfig, load_texts};

/// What loading the mesh gave.
#[derive(Debug, Default)]
pub(crate) struct MeshLoad {
    /// The config load, when there was anything to load.
    pub config: Option<LoadedConfig>,
    /// The mesh the scenario runs.
    pub mesh: Option<Mesh>,
    /// The loader's id for the inline text when that text was loaded at its own positions in
    /// the scenario file; the scenario file then takes this id, so errors in the inline mesh
    /// point at the scenario's own lines.
    pub inline_in_place: Option<FileId>,
}

/// Loads the files and inline text of `mesh:` and picks the mesh.
pub(crate) fn resolve(
    raw: &RawMesh,
    root: &Node,
    scenario: &SourceFile,
    base_dir: &Path,
    sink: &mut Sink<'_>,
) -> MeshLoad {
    let mut out = MeshLoad::default();
    if raw.files.is_empty() && raw.inline.is_none() {
        sink.at_path(
            Severity::Error,
            "missing-field",
            "mesh",
            "the mesh section needs `files`, `inline`, or both",
        );
        return out;
    }
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut unreadable = false;
    for (i, file) in raw.files.iter().enumerate() {
        let path = base_dir.join(file);
        let shown = display(&path);
        let mut help = None;
        let problem = match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => {
                    texts.push((shown.clone(), text));
                    continue;
                }
                Err(e) => format!(
                    "is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            },
            Err(e) => {
                // Named as the scenario names its files: from the scenario's folder.
                let missing = e.kind() == std::io::ErrorKind::NotFound;
                help = missing
                    .then(|| paths::similar_path(&path))
                    .flatten()
                    .map(|p| {
                        let written = p.strip_prefix(base_dir).unwrap_or(&p);
                        format!("did you mean `{}`?", written.display())
                    });
                format!("cannot be read: {e}")
            }
        };
        unreadable = true;
        sink.at_path(
            Severity::Error,
            "io",
            &format!("mesh.files[{i}]"),
            format!("mesh file `{shown}` {problem}"),
        )
        .help = help;
    }
    if let Some(inline) = &raw.inline {
        let node = locate(root, None, "mesh.inline");
        match in_place(scenario, node.node, inline).filter(|_| node.exact) {
            Some(text) => {
                out.inline_in_place = Some(FileId(texts.len()));
                texts.push((scenario.name().to_string(), text));
            }
            None => texts.push((format!("{} (mesh.inline)", scenario.name()), inline.clone())),
        }
    }
    if texts.is_empty() {
        return out;
    }
    let opts = LoadOptions {
        vars: raw
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        params: raw
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect(),
        mesh: raw.mesh.clone(),
        lenient: raw.lenient,
        ..LoadOptions::default()
    };
    let pairs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let config = load_texts(&pairs, &opts);
    for unknown in config.unknown_params(opts.params.keys()) {
        let path = format!("mesh.params.{}", unknown.name);
        let d = sink.at_path(
            Severity::Error,
            "unknown-parameter",
            &path,
            unknown.message(),
        );
        d.help = Some(unknown.help);
    }
    out.mesh = select(raw, &config, unreadable, sink);
    out.config = Some(config);
    out
}

/// The mesh the scenario names, or the only one.
fn select(
    raw: &RawMesh,
    config: &LoadedConfig,
    unreadable: bool,
    sink: &mut Sink<'_>,
) -> Option<Mesh> {
    let names: Vec<&str> = config.meshes.keys().map(String::as_str).collect();
    let listed = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    if let Some(want) = &raw.mesh {
        if let Some(m) = config.meshes.get(want) {
            return Some(m.clone());
        }
        if !config.is_valid() && names.is_empty() {
            return None;
        }
        let d = sink.at_path(
            Severity::Error,
            "unresolved-reference",
            "mesh.mesh",
            format!("the mesh files hold no mesh named `{want}` (they hold: {listed})"),
        );
        d.help = suggest(want, names.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        return None;
    }
    match names.as_slice() {
        [] => {
            if config.is_valid() && !unreadable {
                sink.at_path(
                    Severity::Error,
                    "empty",
                    "mesh",
                    "the mesh files hold no App Mesh resources",
                );
            }
            None
        }
        [only] => config.meshes.get(*only).cloned(),
        _ => {
            sink.at_path(
                Severity::Error,
                "ambiguous-mesh",
                "mesh",
                format!(
                    "the mesh files hold several meshes ({listed}); the scenario must say which"
                ),
            )
            .help = Some("add `mesh: NAME` under `mesh:`".into());
            None
        }
    }
}

/// The scenario text with everything but a literal block scalar's content blanked out
/// (newlines kept, every other byte a space), when the block's lines are exactly its value
/// indented. Parsed as a file of its own, that text puts every mesh node at its position in
/// the scenario file; YAML allows an indented root, and JSON does not care.
fn in_place(file: &SourceFile, node: &Node, value: &str) -> Option<String> {
    if !matches!(node.value, Value::Scalar(..)) {
        return None;
    }
    let text = file.text();
    // The span starts at the content; the `|` header is on the line before it.
    let start = text.get(..node.span.start)?.rfind('\n')? + 1;
    let header = text.get(..start)?.trim_end().rsplit('\n').next()?;
    let header = header.split('#').next()?.trim_end();
    if !header
        .trim_end_matches(['+', '-', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
        .ends_with('|')
    {
        return None;
    }
    let end = node.span.end;
    let content = text.get(start..end)?;
    let indent = content
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .min()?;
    let dedented: Vec<&str> = content
        .lines()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect();
    if dedented.join("\n").trim_end() != value.trim_end() {
        return None;
    }
    let mut blanked: Vec<u8> = text
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            if (start..end).contains(&i) || b == b'\n' {
                b
            } else {
                b' '
            }
        })
        .collect();
    // A document marker (`---`, `...`) of a multi-document inline mesh is indented with the
    // block, where YAML would read it as text: move it to column 0. Nothing else moves, so
    // every node keeps its position in the scenario file.
    let mut line_start = start;
    for line in content.split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let marker = ["---", "..."].into_iter().find(|m| {
            body.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']))
        });
        if let Some(m) = marker {
            let at = line_start + (line.len() - body.len());
            blanked[at..at + 3].fill(b' ');
            blanked[line_start..line_start + 3].copy_from_slice(m.as_bytes());
        }
        line_start += line.len();
    }
    String::from_utf8(blanked).ok()
}

/// A path as shown in diagnostics: `a/b/../c` as `a/c` (lexically; the file is read by the
/// path as joined).
fn display(path: &Path) -> String {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    if out.as_os_str().is_empty() {
        ".".to_string()
    } else {
        out.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tree::parse_documents;

    #[test]
    fn display_folds_parent_directories() {
        assert_eq!(
            display(Path::new(
                "tests/fixtures/scenarios/../../../scenarios/o/m.yaml"
            )),
            "scenarios/o/m.yaml"
        );
        assert_eq!(display(Path::new("../x/./y")), "../x/y");
    }

    #[test]
    fn a_literal_block_is_loaded_in_place() {
        let text = "a: 1\nmesh:\n  inline: |\n    k: v\n    l:\n      - 1\nb: 2\n";
        let file = SourceFile::new("s.yaml", text);
        let (docs, _) = parse_documents(&file);
        let node = locate(&docs[0], None, "mesh.inline").node;
        let value = node.as_str().unwrap_or_default().to_string();
        let blanked = in_place(&file, node, &value).expect("in place");
        assert_eq!(blanked.len(), text.len());
        let (inner, problems) = parse_documents(&SourceFile::new("s.yaml", blanked));
        assert!(problems.is_empty(), "{problems:?}");
        let l = inner[0].get("l").and_then(|l| l.as_seq()).expect("l");
        assert_eq!(&text[l[0].span.start..l[0].span.end], "1");
        assert_eq!(file.line_col(l[0].span.start), (6, 9));
    }

    #[test]
    fn a_multi_document_block_is_loaded_in_place() {
        let text = "mesh:\n  inline: |\n    a: 1\n    ---\n    b:\n      - 2\nc: 3\n";
        let file = SourceFile::new("s.yaml", text);
        let (docs, _) = parse_documents(&file);
        let node = locate(&docs[0], None, "mesh.inline").node;
        let value = node.as_str().unwrap_or_default().to_string();
        let blanked = in_place(&file, node, &value).expect("in place");
        let (inner, problems) = parse_documents(&SourceFile::new("s.yaml", blanked));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(inner.len(), 2);
        let b = inner[1].get("b").and_then(|b| b.as_seq()).expect("b");
        assert_eq!(file.line_col(b[0].span.start), (6, 9));
    }

    #[test]
    fn a_folded_or_quoted_block_is_not() {
        let text = "inline: >\n  k: v\n  l: w\n";
        let file = SourceFile::new("s.yaml", text);
        let (docs, _) = parse_documents(&file);
        let node = docs[0].get("inline").expect("inline");
        let value = node.as_str().unwrap_or_default().to_string();
        assert_eq!(in_place(&file, node, &value), None);
    }
}
