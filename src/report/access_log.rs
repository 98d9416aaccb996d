//! Access logs in Envoy's default format, one file per sidecar under `access-logs/`
//! (`meshsim run --access-log sampled|full`):
//!
//! ```text
//! [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
//! %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
//! "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
//! "%UPSTREAM_HOST%"
//! ```
//!
//! `-` stands for an absent value, as in Envoy. START_TIME is simulated time from the
//! world's fixed epoch (2026-01-01T00:00:00Z), so two runs with one seed write the same
//! bytes. Lines stream to disk as the run drains them (a full log of a long run never sits in
//! memory), into temporary files renamed into place when the run is done, before report.json.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::engine::SimTime;
use crate::proxy::AccessLogEntry;
use crate::proxy::attempts::Authority;
use crate::sim::LineSink;
use crate::sim::world::EPOCH_SECS;

/// The directory under the output directory.
pub const DIR: &str = "access-logs";

/// One line in Envoy's default format, newline included.
pub fn format_line(l: &AccessLogEntry) -> String {
    let mut s = String::with_capacity(256);
    write_line(&mut s, l);
    s
}

/// Appends one line to `s` without allocating on the way (a full log of a long run
/// formats hundreds of thousands of them).
fn write_line(s: &mut String, l: &AccessLogEntry) {
    s.push('[');
    start_time(s, l.start);
    s.push_str("] \"");
    let e = l.envoy.as_deref();
    if l.tcp.is_some() {
        // Envoy's TCP proxy has no request line.
        s.push_str("- - -");
    } else {
        s.push_str(e.map_or("-", |e| e.method.as_str()));
        s.push(' ');
        s.push_str(dash(&l.path));
        if let Some(q) = e.and_then(|e| e.query.as_deref()) {
            s.push('?');
            s.push_str(q);
        }
        s.push(' ');
        s.push_str(e.map_or("-", |e| e.protocol));
    }
    let (received, sent) = match (l.tcp, e) {
        (Some(t), _) => (t.received, t.sent),
        (None, Some(e)) => (e.bytes_received, e.bytes_sent),
        (None, None) => (0, 0),
    };
    let flags = l.flags;
    let _ = write!(
        s,
        "\" {} {flags} {received} {sent} {} ",
        l.status,
        l.duration.as_millis()
    );
    match e.and_then(|e| e.upstream_service_time) {
        Some(t) => {
            let _ = write!(s, "{}", t.as_millis());
        }
        None => s.push('-'),
    }
    // X-FORWARDED-FOR: the simulation has no client addresses.
    s.push_str(" \"-\"");
    quoted(s, e.and_then(|e| e.user_agent.as_deref()));
    s.push_str(" \"");
    match l.trace_root.as_deref().and_then(super::trace::root_digits) {
        Some(hex) => {
            // The request id: the root's 32 hex digits as a UUID (`trace::request_id`).
            for (i, c) in hex.enumerate() {
                if matches!(i, 8 | 12 | 16 | 20) {
                    s.push('-');
                }
                s.push(c.to_ascii_lowercase());
            }
        }
        None => s.push('-'),
    }
    s.push('"');
    match e.map(|e| &e.authority) {
        Some(Authority::Header(v)) => quoted(s, Some(v)),
        Some(Authority::Service(port)) => {
            let _ = write!(s, " \"{}:{port}\"", l.service.as_deref().unwrap_or("-"));
        }
        Some(Authority::None) | None => quoted(s, None),
    }
    quoted(s, e.and_then(|e| e.upstream_host.as_deref()));
    s.push('\n');
}

/// ` "value"`, `-` for none; a `"` inside would end the field early, so it becomes `'`.
fn quoted(s: &mut String, v: Option<&str>) {
    s.push_str(" \"");
    let v = dash(v.unwrap_or(""));
    if v.contains('"') {
        s.push_str(&v.replace('"', "'"));
    } else {
        s.push_str(v);
    }
    s.push('"');
}

fn dash(v: &str) -> &str {
    if v.is_empty() { "-" } else { v }
}

/// `%START_TIME%`'s default rendering, `2026-01-01T00:00:12.345Z`, of simulated time: RFC 3339
/// in UTC with milliseconds, through jiff.
fn start_time(s: &mut String, t: SimTime) {
    let since = t.since_start();
    let secs = i64::try_from(EPOCH_SECS + since.as_secs()).unwrap_or(i64::MAX);
    let millis = i32::try_from(since.subsec_millis()).unwrap_or(0);
    match jiff::Timestamp::new(secs, millis * 1_000_000) {
        Ok(at) => {
            let _ = write!(s, "{at:.3}");
        }
        // Past jiff's year 9999: SimTime would need 7 974 years of simulation to get there.
        Err(_) => s.push('-'),
    }
}

/// Writes each sidecar's lines to `access-logs/<task>.log` as they come: into a temporary
/// file per task, renamed into place by [`AccessLogWriter::commit`].
#[derive(Debug)]
pub struct AccessLogWriter {
    dir: PathBuf,
    files: BTreeMap<String, BufWriter<File>>,
    /// One line's text, reused.
    line: String,
    /// The first write that failed; later lines are dropped and `commit` reports it.
    error: Option<std::io::Error>,
}

impl AccessLogWriter {
    /// A writer into `out/access-logs/` (created now, so that a directory that cannot be
    /// written fails the command before the run rather than after it).
    pub fn create(out: &Path) -> std::io::Result<AccessLogWriter> {
        let dir = out.join(DIR);
        std::fs::create_dir_all(&dir)?;
        Ok(AccessLogWriter {
            dir,
            files: BTreeMap::new(),
            line: String::with_capacity(512),
            error: None,
        })
    }

    /// The files [`AccessLogWriter::commit`] will write, relative to the output directory
    /// (`access-logs/<task>.log`), so that they can be listed before they exist.
    pub fn names(&self) -> Vec<String> {
        self.files
            .keys()
            .map(|task| format!("{DIR}/{}.log", file_name(task)))
            .collect()
    }

    fn partial(&self, task: &str) -> PathBuf {
        self.dir.join(format!(".{}.log.partial", file_name(task)))
    }

    fn write(&mut self, l: &AccessLogEntry) -> std::io::Result<()> {
        if !self.files.contains_key(&l.task) {
            let f = File::create(self.partial(&l.task))?;
            // Fewer, larger writes: a full log of a long run is tens of megabytes.
            self.files
                .insert(l.task.clone(), BufWriter::with_capacity(64 * 1024, f));
        }
        self.line.clear();
        write_line(&mut self.line, l);
        match self.files.get_mut(&l.task) {
            Some(f) => f.write_all(self.line.as_bytes()),
            None => Ok(()),
        }
    }

    /// Flushes every file to disk and renames it into place; returns the paths, or the first
    /// error (a failed write included), leaving no temporary behind.
    pub fn commit(&mut self) -> std::io::Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let files = std::mem::take(&mut self.files);
        let mut result = self.error.take().map_or(Ok(()), Err);
        for (task, f) in files {
            let partial = self.partial(&task);
            let path = self.dir.join(format!("{}.log", file_name(&task)));
            let step = (|| {
                let f = f.into_inner().map_err(|e| e.into_error())?;
                f.sync_all()?;
                std::fs::rename(&partial, &path)
            })();
            match (step, &result) {
                (Ok(()), Ok(())) => written.push(path),
                (Ok(()), Err(_)) => {
                    let _ = std::fs::remove_file(&path);
                }
                (Err(e), _) => {
                    let _ = std::fs::remove_file(&partial);
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
            }
        }
        result.map(|()| written)
    }
}

impl AccessLogWriter {
    /// Drops what was written so far (an interrupted run): the temporary files go, and the
    /// folder too if this run created it empty; the logs of an earlier run stay as they were.
    pub fn discard(&mut self) {
        for task in std::mem::take(&mut self.files).into_keys() {
            let _ = std::fs::remove_file(self.partial(&task));
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl LineSink for AccessLogWriter {
    fn line(&mut self, line: &AccessLogEntry) {
        if self.error.is_none()
            && let Err(e) = self.write(line)
        {
            self.error = Some(e);
        }
    }
}

/// A task name as a file name: anything but letters, digits, `.`, `-` and `_` becomes `_`.
fn file_name(task: &str) -> String {
    task.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proxy::attempts::EnvoyFields;
    use crate::proxy::{Direction, ResponseFlag, ResponseFlags, TcpBytes};

    fn line() -> AccessLogEntry {
        AccessLogEntry {
            start: SimTime::from_millis(3_723_045),
            duration: Duration::from_micros(12_900),
            node: "order-v1".into(),
            task: "order-v1-1".into(),
            version: "v1".into(),
            direction: Direction::Outbound,
            service: Some("inventory.ordering.local".into()),
            route: Some("inventory".into()),
            upstream_node: Some("inventory-v1".into()),
            path: "/reserve".into(),
            status: 503,
            flags: ResponseFlags::of(ResponseFlag::ConnectFailure)
                .with(ResponseFlag::RetriesExhausted),
            attempts: 3,
            trace_root: Some("1-00000e8b-0000002a000000000000004d".into()),
            span: "0000020000000007".into(),
            parent_span: None,
            health_check: false,
            shadow: false,
            tcp: None,
            envoy: Some(Box::new(EnvoyFields {
                method: http::Method::POST,
                query: Some("x=1".into()),
                protocol: "HTTP/1.1",
                bytes_received: 0,
                bytes_sent: 19,
                upstream_service_time: Some(Duration::from_micros(4_400)),
                user_agent: None,
                authority: Authority::Service(8080),
                upstream_host: Some("inventory-v1-2:8080".into()),
            })),
            detail: None,
        }
    }

    #[test]
    fn a_line_reads_like_envoys_default_format() {
        assert_eq!(
            format_line(&line()),
            "[2026-01-01T01:02:03.045Z] \"POST /reserve?x=1 HTTP/1.1\" 503 UF,URX 0 19 12 4 \"-\" \"-\" \"00000e8b-0000-002a-0000-00000000004d\" \"inventory.ordering.local:8080\" \"inventory-v1-2:8080\"\n"
        );
        let tcp = AccessLogEntry {
            tcp: Some(TcpBytes {
                received: 10,
                sent: 20,
            }),
            status: 0,
            flags: ResponseFlags::NONE,
            envoy: None,
            trace_root: None,
            ..line()
        };
        assert_eq!(
            format_line(&tcp),
            "[2026-01-01T01:02:03.045Z] \"- - -\" 0 - 10 20 12 - \"-\" \"-\" \"-\" \"-\" \"-\"\n"
        );
    }

    #[test]
    fn dates_follow_the_calendar() {
        let at = |millis: u64| {
            let mut s = String::new();
            start_time(&mut s, SimTime::from_millis(millis));
            s
        };
        assert_eq!(at(0), "2026-01-01T00:00:00.000Z");
        assert_eq!(at(86_400_000 * 31 + 1), "2026-02-01T00:00:00.001Z");
        // 2028 is a leap year: 789 days on is its 29 February.
        assert_eq!(at(86_400_000 * 789 + 3_723_450), "2028-02-29T01:02:03.450Z");
    }

    #[test]
    fn the_writer_renames_its_files_into_place_on_commit() {
        let dir = std::env::temp_dir().join(format!("meshsim-access-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut w = AccessLogWriter::create(&dir).expect("dir");
        assert!(w.commit().expect("nothing to commit").is_empty());
        w.line(&line());
        w.line(&AccessLogEntry {
            task: "ui/odd name".into(),
            ..line()
        });
        assert!(dir.join(DIR).join(".order-v1-1.log.partial").exists());
        assert!(!dir.join(DIR).join("order-v1-1.log").exists());
        let written = w.commit().expect("commit");
        assert_eq!(written.len(), 2);
        let text = std::fs::read_to_string(dir.join(DIR).join("order-v1-1.log")).expect("log");
        assert_eq!(text, format_line(&line()));
        assert!(dir.join(DIR).join("ui_odd_name.log").exists());
        let left: Vec<_> = std::fs::read_dir(dir.join(DIR))
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(left.is_empty());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
