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

/// The hidden file in an output directory that lists, one per line, the files the last
/// run wrote there (relative paths), so the next run can retire them.
pub const MANIFEST: &str = ".meshsim-files";

/// Files to write, in order, kept in memory until [`Files::commit`].
#[derive(Debug, Default)]
pub struct Files {
    files: Vec<(String, Vec<u8>)>,
    /// Files this run wrote by other means (the streamed access logs), listed in the
    /// manifest with the rest.
    also: Vec<String>,
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

    /// Lists a file this run wrote itself (a path relative to the output directory) in the
    /// manifest, so the next run retires it too.
    pub fn also_written(&mut self, name: impl Into<String>) {
        self.also.push(name.into());
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

    /// [`Files::begin`] then [`Files::write`]: the whole set, for a caller that writes
    /// nothing else into `dir`.
    pub fn commit(self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        self.begin(dir)?;
        self.write(dir)
    }

    /// Makes `dir` ready for this run's files: retires the previous run's (see [`retire`])
    /// and writes the manifest naming this run's, before any of them exists, so that a run
    /// that dies part way leaves nothing the next run does not know to remove. A caller
    /// that writes files of its own ([`Files::also_written`]) calls this before writing them.
    pub fn begin(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        retire(dir)?;
        let mut names: Vec<&str> = self
            .also
            .iter()
            .map(String::as_str)
            .chain(self.names())
            .collect();
        names.sort_unstable();
        names.dedup();
        let manifest = names.iter().fold(String::new(), |mut m, n| {
            m.push_str(n);
            m.push('\n');
            m
        });
        write_atomically(&dir.join(MANIFEST), manifest.as_bytes())
    }

    /// Writes every file into `dir`, each atomically, in the order added (`report.json`
    /// last); returns the paths written. Call [`Files::begin`] first.
    pub fn write(self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut written = Vec::with_capacity(self.files.len());
        for (name, contents) in self.files {
            let path = dir.join(&name);
            write_atomically(&path, &contents)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// The files every meshsim before the manifest could have written, retired from a directory
/// that holds a `report.json` but no manifest (one written by an older meshsim).
const KNOWN: [&str; 7] = [
    "report.json",
    "summary.md",
    "report.html",
    "metrics.prom",
    "metrics.csv",
    "traces.json",
    "requests.jsonl",
];

/// Removes what the previous run left in `dir`: its `report.json` first (so that, until
/// this run's is written, the directory does not claim a complete set), then every file its
/// manifest lists, then the manifest. A directory with a `report.json` and no manifest was
/// written by an older meshsim: its known files go ([`KNOWN`], the `.hgrm` and `.hlog` files
/// and `access-logs/*.log`). A directory without either is left as it is.
pub fn retire(dir: &Path) -> std::io::Result<()> {
    let had_report = dir.join("report.json").is_file();
    remove_if_present(&dir.join("report.json"))?;
    let manifest = dir.join(MANIFEST);
    let listed = match std::fs::read_to_string(&manifest) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if had_report {
                retire_known(dir)?;
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for name in listed.lines().map(str::trim).filter(|n| !n.is_empty()) {
        if let Some(path) = inside(dir, Path::new(name)) {
            remove_if_present(&path)?;
        }
    }
    remove_if_present(&manifest)
}

/// `dir/rel` when `rel` stays inside `dir`: only plain components, and no folder on the way
/// a symbolic link, so a manifest edited by hand cannot make a run delete anything else.
fn inside(dir: &Path, rel: &Path) -> Option<PathBuf> {
    let plain = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return None;
    }
    let mut at = dir.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        at.push(part);
        if parts.peek().is_some()
            && std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink())
        {
            return None;
        }
    }
    Some(at)
}

fn retire_known(dir: &Path) -> std::io::Result<()> {
    for name in KNOWN {
        remove_if_present(&dir.join(name))?;
    }
    let by_extension = |folder: &Path, extensions: &[&str]| -> std::io::Result<()> {
        let entries = match std::fs::read_dir(folder) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if extensions.contains(&ext) && path.is_file() {
                remove_if_present(&path)?;
            }
        }
        Ok(())
    };
    by_extension(dir, &["hgrm", "hlog"])?;
    let logs = dir.join(super::access_log::DIR);
    if !std::fs::symlink_metadata(&logs).is_ok_and(|m| m.file_type().is_symlink()) {
        by_extension(&logs, &["log"])?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Why an output place cannot take a run's files.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// A file where a folder is needed (the output folder, or one on its way).
    #[error("{} is a file, not a folder", .0.display())]
    File(PathBuf),
    /// A folder where a file is to be written.
    #[error("{} is a folder, not a file", .0.display())]
    Folder(PathBuf),
    /// The folder cannot be created.
    #[error("cannot create the folder {}: {}", .0.display(), .1)]
    Create(PathBuf, #[source] std::io::Error),
    /// Nothing can be written there.
    #[error("cannot write in {}: {}", .0.display(), .1)]
    Write(PathBuf, #[source] std::io::Error),
}

/// Makes sure `dir` can take a run's files before the run: creates it (as writing would) and
/// writes and removes a probe file in it. A run finds out that its `--out` is a file, or a
/// folder it may not write, in a moment rather than after the whole simulation.
pub fn prepare_dir(dir: &Path) -> Result<(), PlaceError> {
    if let Some(file) = dir.ancestors().find(|a| a.is_file()) {
        return Err(PlaceError::File(file.to_path_buf()));
    }
    std::fs::create_dir_all(dir).map_err(|e| PlaceError::Create(dir.to_path_buf(), e))?;
    let probe = dir.join(format!(".meshsim-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| PlaceError::Write(dir.to_path_buf(), e))?;
    std::fs::remove_file(&probe).map_err(|e| PlaceError::Write(dir.to_path_buf(), e))
}

/// [`prepare_dir`] for a single file a run writes at its end (`--junit`): its folder takes
/// files, and the path is not a folder or a file that cannot be replaced. Nothing is written
/// to the path itself.
pub fn prepare_file(path: &Path) -> Result<(), PlaceError> {
    if path.is_dir() {
        return Err(PlaceError::Folder(path.to_path_buf()));
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    prepare_dir(parent)?;
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| PlaceError::Write(path.to_path_buf(), e))?;
    }
    Ok(())
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
        assert_eq!(names, [MANIFEST, "a.txt", "b.txt"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_second_run_retires_the_first_runs_files_and_no_others() {
        let dir = std::env::temp_dir().join(format!("meshsim-output-r-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("access-logs")).unwrap();
        std::fs::write(dir.join("notes.txt"), "the user's own").unwrap();
        std::fs::write(dir.join("access-logs").join("ui-1.log"), "old log").unwrap();
        let mut first = Files::new();
        first.add("traces.json", "old traces");
        first.add("summary.md", "old summary");
        first.add("report.json", "old report");
        first.also_written("access-logs/ui-1.log");
        first.commit(&dir).unwrap();
        let manifest = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
        assert_eq!(
            manifest,
            "access-logs/ui-1.log\nreport.json\nsummary.md\ntraces.json\n"
        );

        let mut second = Files::new();
        second.add("summary.md", "new summary");
        second.add("report.json", "new report");
        second.commit(&dir).unwrap();
        assert_eq!(
            names_in(&dir),
            [
                MANIFEST,
                "access-logs",
                "notes.txt",
                "report.json",
                "summary.md"
            ]
        );
        assert!(names_in(&dir.join("access-logs")).is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.join("report.json")).unwrap(),
            "new report"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retire_stays_inside_the_directory() {
        let root = std::env::temp_dir().join(format!("meshsim-output-x-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("out");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(root.join("elsewhere")).unwrap();
        for f in ["up.txt", "absolute.txt", "elsewhere/linked.log"] {
            std::fs::write(root.join(f), "keep").unwrap();
        }
        std::os::unix::fs::symlink(root.join("elsewhere"), dir.join("access-logs")).unwrap();
        std::fs::write(dir.join("report.json"), "{}").unwrap();
        let absolute = root.join("absolute.txt");
        let manifest = format!(
            "../up.txt\n{}\naccess-logs/linked.log\n",
            absolute.display()
        );
        std::fs::write(dir.join(MANIFEST), manifest).unwrap();
        retire(&dir).unwrap();
        assert_eq!(names_in(&dir), ["access-logs"]);
        for f in ["up.txt", "absolute.txt", "elsewhere/linked.log"] {
            assert!(root.join(f).exists(), "{f} was removed");
        }
        // Nothing left to retire: a second call is a no-op.
        retire(&dir).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_run_that_died_part_way_is_retired_by_the_next() {
        let dir = std::env::temp_dir().join(format!("meshsim-output-d-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut died = Files::new();
        died.add("traces.json", "half a run");
        died.add("report.json", "never written");
        died.also_written("access-logs/ui-1.log");
        died.begin(&dir).unwrap();
        // The process ends after its first file (and an access log) are in place.
        std::fs::write(dir.join("traces.json"), "half a run").unwrap();
        std::fs::create_dir_all(dir.join("access-logs")).unwrap();
        std::fs::write(dir.join("access-logs/ui-1.log"), "a log").unwrap();
        assert!(!dir.join("report.json").exists());

        let mut next = Files::new();
        next.add("report.json", "whole");
        next.commit(&dir).unwrap();
        assert_eq!(names_in(&dir), [MANIFEST, "access-logs", "report.json"]);
        assert!(names_in(&dir.join("access-logs")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_directory_from_before_the_manifest_loses_only_meshsims_files() {
        let dir = std::env::temp_dir().join(format!("meshsim-output-o-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("access-logs")).unwrap();
        for f in [
            "report.json",
            "traces.json",
            "metrics.prom",
            "users.hgrm",
            "inventory.hlog",
            "access-logs/ui-1.log",
            "my-notes.txt",
        ] {
            std::fs::write(dir.join(f), "old").unwrap();
        }
        let mut next = Files::new();
        next.add("summary.md", "new");
        next.add("report.json", "new");
        next.commit(&dir).unwrap();
        assert_eq!(
            names_in(&dir),
            [
                MANIFEST,
                "access-logs",
                "my-notes.txt",
                "report.json",
                "summary.md"
            ]
        );
        assert!(names_in(&dir.join("access-logs")).is_empty());

        // Without a report.json the folder is not taken for an old report: nothing goes.
        let plain = dir.join("plain");
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::write(plain.join("theirs.hgrm"), "someone else's").unwrap();
        retire(&plain).unwrap();
        assert_eq!(names_in(&plain), ["theirs.hgrm"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_in_the_way_of_an_output_folder_is_named() {
        let dir = std::env::temp_dir().join(format!("meshsim-output-p-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch");
        std::fs::write(dir.join("file"), "x").expect("file");
        let err = prepare_dir(&dir.join("file/sub")).expect_err("a file on the way");
        assert!(
            matches!(&err, PlaceError::File(p) if p.ends_with("file")),
            "{err}"
        );
        let err = prepare_file(&dir).expect_err("a folder");
        assert!(matches!(err, PlaceError::Folder(_)), "{err}");
        prepare_dir(&dir.join("new/deeper")).expect("creatable");
        assert!(dir.join("new/deeper").is_dir());
        assert_eq!(names_in(&dir.join("new/deeper")), Vec::<String>::new());
        prepare_file(&dir.join("out/junit.xml")).expect("creatable");
        assert!(!dir.join("out/junit.xml").exists());
        let _ = std::fs::remove_dir_all(&dir);
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
