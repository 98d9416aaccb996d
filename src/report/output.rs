//! Which files a run writes (`--report`), and writing them so that an interrupted run never
//! leaves a file that looks whole but is not: each file goes to a temporary name beside its
//! final one and is renamed into place, and `report.json` goes last, so a directory with a
//! `report.json` holds a complete set.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// One kind of output file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Output {
    /// `report.json`, for tools (schema in docs/report.schema.json).
    Json,
    /// `summary.md`, for people.
    Summary,
    /// `.hgrm` percentile distributions per service and per service version.
    Hgrm,
    /// `report.html`, charts for people (no network, no script).
    Html,
    /// `.hlog` HdrHistogram interval logs per virtual node, and `users.hlog`.
    Hlog,
    /// `metrics.prom` (Prometheus text exposition with Envoy's names) and `metrics.csv`
    /// (CloudWatch-style rows per metrics window).
    Metrics,
    /// `traces.json` (Chrome/Perfetto trace events) and `requests.jsonl` (what
    /// `meshsim explain` reads) of the sampled requests; not in the default set, since
    /// sampling costs the proxies a little.
    Traces,
}

impl Output {
    /// Every output, in the order `--report` lists them.
    pub const ALL: [Output; 7] = [
        Output::Json,
        Output::Summary,
        Output::Hgrm,
        Output::Html,
        Output::Hlog,
        Output::Metrics,
        Output::Traces,
    ];

    /// The name `--report` takes.
    pub fn name(self) -> &'static str {
        match self {
            Output::Json => "json",
            Output::Summary => "summary",
            Output::Hgrm => "hgrm",
            Output::Html => "html",
            Output::Hlog => "hlog",
            Output::Metrics => "metrics",
            Output::Traces => "traces",
        }
    }

    fn by_name(name: &str) -> Option<Output> {
        Output::ALL.into_iter().find(|o| o.name() == name)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outputs a run writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outputs(BTreeSet<Output>);

impl Default for Outputs {
    /// report.json, summary.md, the `.hgrm` files and report.html.
    fn default() -> Outputs {
        Outputs([Output::Json, Output::Summary, Output::Hgrm, Output::Html].into())
    }
}

impl Outputs {
    /// Every output.
    pub fn all() -> Outputs {
        Outputs(Output::ALL.into())
    }

    /// Whether `o` is chosen.
    pub fn has(&self, o: Output) -> bool {
        self.0.contains(&o)
    }

    /// These outputs and `o`.
    pub fn with(mut self, o: Output) -> Outputs {
        self.0.insert(o);
        self
    }

    /// Parses `--report`: a comma-separated list of output names, where `default` stands
    /// for the default set and `all` for every output (`default,hlog` adds to the default).
    pub fn parse(list: &str) -> Result<Outputs, String> {
        let mut set = BTreeSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "all" => set.extend(Output::ALL),
                "default" => set.extend(Outputs::default().0),
                _ => match Output::by_name(name) {
                    Some(o) => {
                        set.insert(o);
                    }
                    None => {
                        let known: Vec<&str> = Output::ALL.iter().map(|o| o.name()).collect();
                        return Err(format!(
                            "unknown report output `{name}`; choose from {}, `default` or `all`",
                            known.join(", ")
                        ));
                    }
                },
            }
        }
        if set.is_empty() {
            return Err("name at least one report output (or `default`)".into());
        }
        Ok(Outputs(set))
    }
}

/// Files to write, in order, kept in memory until [`Files::commit`].
#[derive(Debug, Default)]
pub struct Files {
    files: Vec<(String, Vec<u8>)>,
}

impl Files {
    /// Nothing yet.
    pub fn new() -> Files {
        Files::default()
    }

    /// Adds a file by its name inside the output directory.
    pub fn add(&mut self, name: impl Into<String>, contents: impl Into<Vec<u8>>) {
        self.files.push((name.into(), contents.into()));
    }

    /// The names added so far, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.iter().map(|(n, _)| n.as_str())
    }

    /// The contents of a file added under `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_slice())
    }

    /// Writes every file into `dir` (created if missing), each atomically, in the order
    /// added; returns the paths written.
    pub fn commit(self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::with_capacity(self.files.len());
        for (name, contents) in self.files {
            let path = dir.join(&name);
            write_atomically(&path, &contents)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Writes `contents` to a temporary file beside `path`, flushes it to disk and renames it
/// over `path`: readers see the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.partial"));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_takes_lists_default_and_all() {
        assert_eq!(Outputs::parse("default").unwrap(), Outputs::default());
        assert_eq!(Outputs::parse("all").unwrap(), Outputs::all());
        let o = Outputs::parse("json, hlog").unwrap();
        assert!(o.has(Output::Json) && o.has(Output::Hlog) && !o.has(Output::Summary));
        let o = Outputs::parse("default,hlog").unwrap();
        assert!(o.has(Output::Hgrm) && o.has(Output::Hlog));
        assert!(Outputs::default().has(Output::Html));
        assert!(!Outputs::default().has(Output::Traces));
        assert_eq!(
            Outputs::default().with(Output::Traces),
            Outputs::parse("default,traces").unwrap()
        );
    }

    #[test]
    fn parse_names_what_it_does_not_know() {
        let e = Outputs::parse("json,pdf").unwrap_err();
        assert!(e.contains("`pdf`") && e.contains("hgrm"), "{e}");
        assert!(Outputs::parse(" , ").is_err());
    }

    #[test]
    fn commit_replaces_files_and_leaves_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("meshsim-output-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), "old contents, longer than the new").unwrap();
        let mut files = Files::new();
        files.add("a.txt", "new");
        files.add("b.txt", "b");
        let written = files.commit(&dir).unwrap();
        assert_eq!(written.len(), 2);
        assert_eq!(std::fs::read_to_string(dir.join("a.txt")).unwrap(), "new");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "b.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = std::env::temp_dir().join(format!("meshsim-output-f-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("report.json")).unwrap();
        // The target is a directory: the rename fails, and no temporary is left behind.
        assert!(write_atomically(&dir.join("report.json"), b"{}").is_err());
        assert!(!dir.join(".report.json.partial").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
