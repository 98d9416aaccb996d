//! `meshsim completions` and `meshsim man`: the scripts parse in their shells and complete
//! meshsim's commands and values; the man pages render without warnings.
//!
//! The shells and groff are optional on a person's machine: a check whose tool is missing says
//! so on the terminal and the structure checks still run. In CI (`CI` set) `.ci/run` installs
//! them, and a missing one fails.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn meshsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run meshsim")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshsim-manual-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Says on the terminal (libtest does not capture a write to the handle) that a check was
/// skipped; in CI, where `.ci/run` installs the tools, fails instead.
fn skipped(what: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} skipped in CI; .ci/run installs zsh, fish and groff"
    );
    let _ = writeln!(std::io::stderr().lock(), "\ncli_manual: {what} skipped");
}

/// Whether `tool` runs here.
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const COMMANDS: [&str; 13] = [
    "validate",
    "show",
    "init",
    "run",
    "tui",
    "check",
    "explain",
    "sweep",
    "shrink",
    "translate",
    "diff",
    "completions",
    "man",
];

fn script(shell: &str) -> String {
    let o = meshsim(&["completions", shell]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = stdout(&o);
    for command in COMMANDS {
        assert!(text.contains(command), "{shell}: no `{command}`");
    }
    text
}

/// Runs `shell args... file` on the script written to a file; its exit and stderr.
fn shell_on(shell: &str, args: &[&str], text: &str, name: &str) -> (bool, String) {
    let dir = scratch(name);
    let file = dir.join(name);
    std::fs::write(&file, text).expect("write the script");
    let o = Command::new(shell)
        .args(args)
        .arg(&file)
        .output()
        .expect("run the shell");
    let _ = std::fs::remove_dir_all(&dir);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn the_bash_script_parses_and_completes_commands_and_values() {
    let text = script("bash");
    let (ok, err) = shell_on("bash", &["-n"], &text, "meshsim.bash");
    assert!(ok, "bash -n:\n{err}");
    // Completion as bash calls it: `meshsim r<TAB>`, then `meshsim show m.yaml --format <TAB>`.
    let probe = format!(
        r#"{text}
COMP_WORDS=(meshsim r); COMP_CWORD=1; _meshsim meshsim r meshsim; echo "commands: ${{COMPREPLY[*]}}"
COMP_WORDS=(meshsim show m.yaml --format ""); COMP_CWORD=4; _meshsim meshsim "" --format; echo "formats: ${{COMPREPLY[*]}}"
COMP_WORDS=(meshsim completions ""); COMP_CWORD=2; _meshsim meshsim "" completions; echo "shells: ${{COMPREPLY[*]}}"
"#
    );
    let o = Command::new("bash")
        .args(["--norc", "-c", &probe])
        .output()
        .expect("run bash");
    let out = stdout(&o);
    assert!(out.contains("commands: run\n"), "{out}");
    assert!(out.contains("formats: text dot json\n"), "{out}");
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("shells:") && l.contains(shell)),
            "{out}"
        );
    }
}

#[test]
fn the_zsh_and_fish_scripts_parse() {
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef meshsim"), "{zsh}");
    if have("zsh") {
        let (ok, err) = shell_on("zsh", &["-n"], &zsh, "_meshsim");
        assert!(ok && err.is_empty(), "zsh -n:\n{err}");
    } else {
        skipped("zsh -n (no zsh)");
    }
    let fish = script("fish");
    assert!(fish.contains("complete -c meshsim"), "{fish}");
    if have("fish") {
        let (ok, err) = shell_on("fish", &["--no-execute"], &fish, "meshsim.fish");
        assert!(ok && err.is_empty(), "fish --no-execute:\n{err}");
    } else {
        skipped("fish --no-execute (no fish)");
    }
    // The others clap_complete writes are there too.
    script("elvish");
    script("powershell");
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let o = meshsim(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values"));
}

/// groff's warnings on a page (with preconv for the UTF-8 of the help texts), or `None`
/// without groff.
fn groff_warnings(page: &Path) -> Option<String> {
    if !have("groff") {
        return None;
    }
    let o = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("run groff");
    assert!(o.status.success(), "groff failed on {}", page.display());
    Some(String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_man_pages_have_their_sections_and_render_cleanly() {
    let page = stdout(&meshsim(&["man"]));
    assert!(page.contains(".TH meshsim 1"), "{page}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(page.contains(section), "no {section}:\n{page}");
    }
    for command in COMMANDS {
        assert!(
            page.contains(&format!("meshsim\\-{command}(1)")),
            "{command} is not listed:\n{page}"
        );
    }
    // The same page twice: no date or other run-dependent text.
    assert_eq!(page, stdout(&meshsim(&["man"])));
    let run = stdout(&meshsim(&["man", "run"]));
    assert!(
        run.contains(".TH meshsim-run 1") && run.contains("\"meshsim 0."),
        "{run}"
    );
    for flag in ["duration", "junit", "quiet"] {
        assert!(
            run.contains(&format!("\\-\\-{flag}")),
            "no --{flag}:\n{run}"
        );
    }
    let o = meshsim(&["man", "nope"]);
    assert_eq!(o.status.code(), Some(2));

    let dir = scratch("pages");
    let o = meshsim(&["man", "--out", dir.to_str().expect("utf-8")]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the pages")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = COMMANDS.iter().map(|c| format!("meshsim-{c}.1")).collect();
    want.push("meshsim.1".into());
    want.sort();
    assert_eq!(names, want);
    assert_eq!(
        std::fs::read_to_string(dir.join("meshsim.1")).expect("meshsim.1"),
        page
    );
    let mut rendered = 0;
    for name in &names {
        match groff_warnings(&dir.join(name)) {
            Some(warnings) => {
                assert!(warnings.is_empty(), "{name}:\n{warnings}");
                rendered += 1;
            }
            None => {
                skipped("rendering the man pages (no groff)");
                break;
            }
        }
    }
    if rendered > 0 {
        assert_eq!(rendered, names.len());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
