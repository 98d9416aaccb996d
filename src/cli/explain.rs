//! `meshsim explain REPORT_DIR --request ID`: why one sampled request went where it went,
//! hop by hop, read from the report directory's `requests.jsonl`. A request that was not
//! sampled can be rerun (`--rerun`, with report.json's command) with only it sampled.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use meshsim::config::paths::similar_path;
use meshsim::model::duration::parse_duration;
use meshsim::rehearse::rehearse;
use meshsim::report::explain::{Lookup, explain, lookup};
use meshsim::report::trace::{self, RequestRecord};
use meshsim::report::{self, config_sha256};
use meshsim::scenario;
use meshsim::sim::RunOptions;

use super::progress::RunProgress;

use super::run::request_number;
use super::{BAD_INPUT, OK};

/// Flags of `meshsim explain`.
#[derive(clap::Args, Debug)]
pub(super) struct ExplainArgs {
    /// A directory `meshsim run` wrote with `--report ...,traces` (it holds requests.jsonl).
    #[arg(value_name = "REPORT_DIR")]
    dir: PathBuf,
    /// The request: its trace id (`1-…`, as traces.json names it) or its x-request-id (a
    /// UUID, as the access logs show it).
    #[arg(long, value_name = "ID")]
    request: String,
    /// If the request was not sampled, rerun the scenario (report.json's `command`, from
    /// the directory it was run in) with only that request sampled, and explain it.
    #[arg(long)]
    rerun: bool,
}

/// What report.json says about the run, as far as explaining needs it.
struct RunFacts {
    command: Option<String>,
    seed: Option<u64>,
    issued: Option<u64>,
    config_sha256: Option<String>,
}

/// A file of the report directory: `Ok(None)` when it is not there, an error (said in full,
/// with the file's path) when it is there but cannot be read.
fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// What report.json says, `None` without one; an error when it is there but unreadable or not
/// JSON (a file cut short, edited by hand), since the seed, the request count and the
/// command to rerun all come from it.
fn facts(dir: &Path) -> Result<Option<RunFacts>, String> {
    let path = dir.join("report.json");
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: report.json cannot be read: it is not valid JSON ({})",
            path.display(),
            e.line(),
            e.column(),
            trace::json_problem(&e)
        )
    })?;
    Ok(Some(RunFacts {
        command: json["command"].as_str().map(String::from),
        seed: json["seed"].as_u64(),
        issued: json["requests"]["issued"].as_u64(),
        config_sha256: json["config_sha256"].as_str().map(String::from),
    }))
}

/// requests.jsonl's records, `None` without the file; an error naming the file and the line
/// when one line is not a record.
fn records(dir: &Path) -> Result<Option<Vec<RequestRecord>>, String> {
    let path = dir.join("requests.jsonl");
    let Some(text) = read_optional(&path)? else {
        return Ok(None);
    };
    trace::parse_requests(&text).map(Some).map_err(|bad| {
        format!(
            "{}:{bad}; the file is damaged (cut short or edited): write it again with the run's command and `--report default,traces`",
            path.display()
        )
    })
}

pub(super) fn explain_command(args: &ExplainArgs) -> ExitCode {
    let dir = &args.dir;
    if !dir.is_dir() {
        eprintln!("meshsim: no report directory at {}", dir.display());
        if let Some(near) = similar_path(dir).filter(|p| p.is_dir()) {
            eprintln!("  help: did you mean `{}`?", near.display());
        }
        return ExitCode::from(BAD_INPUT);
    }
    let (facts, records) = match (facts(dir), records(dir)) {
        (Ok(f), Ok(r)) => (f, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    if records.is_none() && facts.is_none() {
        eprintln!(
            "meshsim: {} holds neither report.json nor requests.jsonl: not a meshsim report directory",
            dir.display()
        );
        return ExitCode::from(BAD_INPUT);
    }
    let key = match lookup(records.as_deref().unwrap_or_default(), &args.request) {
        Lookup::Found(r) => {
            print!("{}", explain(r));
            return ExitCode::from(OK);
        }
        Lookup::Malformed => {
            eprintln!(
                "meshsim: `{}` is neither a trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx) nor a request id (a UUID)",
                args.request
            );
            return ExitCode::from(BAD_INPUT);
        }
        Lookup::NotSampled { key } => key,
    };
    let Ok((of_seed, seq)) = request_number(&key) else {
        eprintln!("meshsim: `{}` carries no request number", args.request);
        return ExitCode::from(BAD_INPUT);
    };
    let seed = facts.as_ref().and_then(|f| f.seed);
    let issued = facts.as_ref().and_then(|f| f.issued);
    let in_run = seed.is_none_or(|s| s as u32 == of_seed) && issued.is_none_or(|n| seq < n);
    if !in_run {
        eprintln!(
            "meshsim: no request {} in this run (seed {}, {} requests)",
            args.request,
            seed.map_or("?".into(), |s| s.to_string()),
            issued.map_or("?".into(), |n| n.to_string())
        );
        return ExitCode::from(BAD_INPUT);
    }
    let command = facts.as_ref().and_then(|f| f.command.clone());
    if records.is_none() {
        eprintln!(
            "meshsim: {} has no requests.jsonl: that run wrote no traces",
            dir.display()
        );
    } else {
        let rate = std::fs::read_to_string(dir.join("traces.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|t| t["otherData"]["trace_sample"].as_f64());
        let share = rate.map_or_else(String::new, |r| {
            format!(" (it sampled {}, `report.trace_sample` {r})", percent(r))
        });
        eprintln!(
            "meshsim: request {} (#{seq}) was not sampled in this run{share}",
            args.request
        );
    }
    if args.rerun {
        return match command.as_deref() {
            Some(c) => rerun(c, seq, &args.request, facts.as_ref()),
            None if facts.is_none() => {
                eprintln!(
                    "meshsim: {} has no report.json, which names the command to rerun",
                    dir.display()
                );
                ExitCode::from(BAD_INPUT)
            }
            None => {
                eprintln!(
                    "meshsim: {} names no command to rerun",
                    dir.join("report.json").display()
                );
                ExitCode::from(BAD_INPUT)
            }
        };
    }
    match command {
        Some(c) => eprintln!(
            "to explain it, rerun with only it sampled (the results are the same):\n  meshsim explain {} --request {} --rerun\nor\n  {c} --trace-request {} --out DIR\n  meshsim explain DIR --request {}",
            dir.display(),
            args.request,
            args.request,
            args.request
        ),
        None => eprintln!(
            "to explain it, rerun the scenario with its seed and `--trace-request {}`",
            args.request
        ),
    }
    ExitCode::from(BAD_INPUT)
}

fn percent(share: f64) -> String {
    format!("{} %", (share * 100.0 * 1000.0).round() / 1000.0)
}

/// Reruns `command` (`meshsim run PATH --seed N [--duration D]`) with only request `seq`
/// sampled, and explains it.
fn rerun(command: &str, seq: u64, id: &str, facts: Option<&RunFacts>) -> ExitCode {
    let Some((path, options)) = parse_command(command) else {
        eprintln!("meshsim: cannot read the command `{command}`");
        return ExitCode::from(BAD_INPUT);
    };
    let loaded = scenario::load_with(
        &path,
        &scenario::Overrides {
            duration: options.duration,
        },
    );
    let Some((scenario, mesh)) = loaded.runnable() else {
        eprintln!(
            "meshsim: {} does not load any more (run `meshsim run {}` to see why)",
            path.display(),
            path.display()
        );
        return ExitCode::from(BAD_INPUT);
    };
    if let Some(recorded) = facts.and_then(|f| f.config_sha256.as_deref())
        && recorded != config_sha256(&loaded.sources)
    {
        eprintln!(
            "meshsim: warning: {} or its mesh changed since the report was written; the rerun may differ",
            path.display()
        );
    }
    let options = RunOptions {
        trace_only: Some(seq),
        ..options
    };
    eprintln!("rerunning `{command}` with only request #{seq} sampled ...");
    let bar = RunProgress::on_stderr(false);
    let rehearsal = rehearse(scenario, mesh, &options, &mut |p| bar.update(p));
    bar.clear();
    let rehearsal = match rehearsal {
        Ok(r) => r,
        Err(e) => {
            eprintln!("meshsim: {e}");
            return ExitCode::from(3);
        }
    };
    let records: Vec<RequestRecord> = report::trace::records(&rehearsal.run.traces);
    match lookup(&records, id) {
        Lookup::Found(r) => {
            print!("{}", explain(r));
            ExitCode::from(OK)
        }
        _ => {
            eprintln!("meshsim: the rerun has no request {id}");
            ExitCode::from(BAD_INPUT)
        }
    }
}

/// The scenario path and options of a `meshsim run` command as report.json writes it.
fn parse_command(command: &str) -> Option<(PathBuf, RunOptions)> {
    let mut words = command.split_whitespace();
    if words.next()? != "meshsim" || words.next()? != "run" {
        return None;
    }
    let path = PathBuf::from(words.next()?);
    let mut options = RunOptions::default();
    while let Some(flag) = words.next() {
        let value = words.next()?;
        match flag {
            "--seed" => options.seed = Some(value.parse().ok()?),
            "--duration" => options.duration = Some(parse_duration(value).ok()?),
            _ => return None,
        }
    }
    Some((path, options))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_rerun_command_reads_back() {
        let (path, o) =
            parse_command("meshsim run scenarios/baseline.yaml --seed 7 --duration 1500ms")
                .expect("parses");
        assert_eq!(path, PathBuf::from("scenarios/baseline.yaml"));
        assert_eq!(o.seed, Some(7));
        assert_eq!(o.duration, Some(Duration::from_millis(1500)));
        assert!(parse_command("meshsim run x.yaml --junit out.xml").is_none());
        assert!(parse_command("cargo run").is_none());
    }
}
