//! Loading a scenario: its file, its mesh, and one list of diagnostics over both.

use std::path::Path;

use super::check::check;
use super::mesh::{MeshLoad, resolve};
use super::names;
use super::read::{Parts, dismantle, read};
use super::sink::Sink;
use super::{Overrides, Scenario};
use crate::config::LoadedConfig;
use crate::config::diagnostic::{Diagnostic, Diagnostics};
use crate::config::model::Mesh;
use crate::config::paths;
use crate::config::source::{FileId, Loc, SourceFile, SourceMap, Span};
use crate::config::tree::parse_documents;

/// Everything a scenario load produced.
///
/// `sources` holds the mesh files first, with the ids the config loader gave them (so every
/// location inside [`mesh`](Self::mesh) can be shown with this map), then the scenario file.
#[derive(Debug)]
pub struct ScenarioLoad {
    /// The scenario, when the file could be read into its types (required sections present,
    /// every value of the right type). Checks that failed after that (a dangling reference,
    /// a model's `build()`) leave it here but make [`is_valid`](Self::is_valid) false.
    pub scenario: Option<Scenario>,
    /// The config load of the mesh files and inline text, when there was one.
    pub config: Option<LoadedConfig>,
    /// The mesh the scenario runs.
    pub mesh: Option<Mesh>,
    /// The scenario file and every mesh file, for showing diagnostics.
    pub sources: SourceMap,
    /// All diagnostics: the scenario file's first, by position, then the mesh files'.
    pub diagnostics: Diagnostics,
    /// The scenario file's id in [`sources`](Self::sources).
    pub file: FileId,
}

impl ScenarioLoad {
    /// No errors anywhere: the scenario and its mesh can run.
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.has_errors()
    }

    /// The scenario and its mesh, when there are no errors anywhere.
    pub fn runnable(&self) -> Option<(&Scenario, &Mesh)> {
        if !self.is_valid() {
            return None;
        }
        Some((self.scenario.as_ref()?, self.mesh.as_ref()?))
    }
}

/// Loads a scenario file and the mesh it names. An unreadable file is a diagnostic, not a
/// failure of the call.
pub fn load(path: &Path) -> ScenarioLoad {
    load_with(path, &Overrides::default())
}

/// [`load`], checked as the command line will run it (`--duration` instead of the file's).
pub fn load_with(path: &Path, overrides: &Overrides) -> ScenarioLoad {
    let name = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new(""));
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => load_text_with(&name, &text, base, overrides),
            Err(e) => unreadable(
                &name,
                format!(
                    "the scenario file is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
                None,
            ),
        },
        Err(e) => unreadable(
            &name,
            format!("cannot read the scenario file: {e}"),
            paths::not_found_help(path, &e),
        ),
    }
}

/// Loads a scenario from text; `name` is shown in diagnostics and gives the default scenario
/// name (its file stem); mesh files are read relative to `base_dir`.
pub fn load_text(name: &str, text: &str, base_dir: &Path) -> ScenarioLoad {
    load_text_with(name, text, base_dir, &Overrides::default())
}

/// [`load_text`], checked as the command line will run it.
pub fn load_text_with(
    name: &str,
    text: &str,
    base_dir: &Path,
    overrides: &Overrides,
) -> ScenarioLoad {
    let file = SourceFile::new(name, text);
    let (parsed, problems) = parse_documents(&file);
    let mut sink = Sink::new();
    for p in problems {
        sink.error("syntax", p.span, "", p.message);
    }
    let docs: Vec<_> = parsed.iter().filter(|d| !d.is_null()).collect();
    if let Some(second) = docs.get(1) {
        sink.error(
            "syntax",
            second.span,
            "",
            "a scenario file holds one YAML document; this is a second one",
        );
    }
    let root = docs.first().copied();
    if root.is_none() && !sink.has_errors() {
        sink.error("empty", Span::default(), "", "the scenario file is empty");
    }
    let mut parts = Parts::default();
    let mut mesh = MeshLoad::default();
    if let Some(root) = root {
        sink.set_root(root);
        parts = read(root, &mut sink);
        if let Some(raw) = &parts.mesh {
            mesh = resolve(raw, root, &file, base_dir, &mut sink);
        }
        let clean = mesh.config.as_ref().is_some_and(LoadedConfig::is_valid);
        if let Some(m) = mesh.mesh.as_ref().filter(|_| clean) {
            names::expand(&mut parts, m);
        }
        check(
            &parts,
            mesh.mesh.as_ref().filter(|_| clean),
            overrides,
            &mut sink,
        );
    }
    let scenario = parts.scenario(&stem(name));
    let (sources, id) = combine(mesh.config.as_ref(), file, mesh.inline_in_place);
    let diagnostics = merge(sink.finish(id), mesh.config.as_ref(), id);
    parsed.into_iter().for_each(dismantle);
    ScenarioLoad {
        scenario,
        config: mesh.config,
        mesh: mesh.mesh,
        sources,
        diagnostics,
        file: id,
    }
}

fn unreadable(name: &str, message: String, help: Option<String>) -> ScenarioLoad {
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new(name, ""));
    let mut diagnostics = Diagnostics::new();
    diagnostics
        .error("io", &Loc::new(file, Span::default(), ""), message)
        .help = help;
    ScenarioLoad {
        scenario: None,
        config: None,
        mesh: None,
        sources,
        diagnostics,
        file,
    }
}

/// The file name without directories and its last extension.
fn stem(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned())
}

/// The mesh files with their loader ids, and the scenario file: in the place of its inline
/// mesh text when that was loaded in place, else last.
fn combine(
    config: Option<&LoadedConfig>,
    scenario: SourceFile,
    inline: Option<FileId>,
) -> (SourceMap, FileId) {
    let mut sources = SourceMap::new();
    let mut id = None;
    for (fid, f) in config.iter().flat_map(|c| c.sources.iter()) {
        if Some(fid) == inline {
            id = Some(sources.add(scenario.clone()));
        } else {
            sources.add(f.clone());
        }
    }
    let id = id.unwrap_or_else(|| sources.add(scenario));
    (sources, id)
}

/// The scenario file's diagnostics first (its own and any from an in-place inline mesh), by
/// position, then the other files' in the config loader's order, then what the scenario's
/// checks found in the mesh files (a route's weighted target that no task runs).
fn merge(scenario: Vec<Diagnostic>, config: Option<&LoadedConfig>, id: FileId) -> Diagnostics {
    let mut first = Diagnostics::new();
    let mut rest = Diagnostics::new();
    let (own, elsewhere): (Vec<_>, Vec<_>) = scenario.into_iter().partition(|d| d.file == Some(id));
    for d in own {
        first.push(d);
    }
    let config = config.iter().flat_map(|c| c.diagnostics.iter()).cloned();
    for d in config.chain(elsewhere) {
        if d.file == Some(id) {
            first.push(d);
        } else {
            rest.push(d);
        }
    }
    first.sort();
    first.extend(rest);
    first
}
