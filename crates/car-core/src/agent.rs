//! Running the agent: one child process that leads its own process group,
//! gets the prompt on stdin, and has its stdout and stderr streamed to the
//! run's log as they arrive.
//!
//! Memory stays bounded whatever the agent prints: output is read in chunks,
//! split into lines with a capped line buffer, written straight to disk, and
//! only a capped tail of stdout is kept (it becomes the run's final output).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use crate::codex::{CodexRun, Parsed};
use crate::fs_util::PathError;
use crate::process;
use crate::stop::{StopLevel, StopRequest};

/// Directories the Python program also searched for `codex` (Homebrew and
/// MacPorts, which launchd and cron do not put on PATH).
const EXTRA_PATH_DIRS: &[&str] = &["/opt/homebrew/bin", "/usr/local/bin", "/opt/local/bin"];
/// Size of one read from a pipe.
const CHUNK: usize = 64 * 1024;
/// Kernel buffer asked for each output pipe (the default maximum an
/// unprivileged process may set is 1 MiB).
#[cfg(target_os = "linux")]
const PIPE_BYTES: i32 = 1024 * 1024;
/// Chunks in flight between the pipe readers and the log writer: with
/// [`CHUNK`], at most 1 MiB of output is buffered in memory.
const CHANNEL_CHUNKS: usize = 16;
/// A line longer than this is written in pieces, so one huge line cannot
/// grow memory without bound.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// How much of stdout is kept in memory as the run's final output.
const TAIL_BYTES: usize = 256 * 1024;
/// After the agent exits, how long to wait for its pipes to close before
/// killing what is left of its process group (a grandchild holding them).
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Grace given to leftover group members after the agent itself exited.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// Errors starting or supervising the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The binary was not found.
    #[error("agent binary `{binary}` not found (config key codex.binary{hint})")]
    NotFound {
        /// The configured binary.
        binary: String,
        /// Extra context (where it was looked for).
        hint: String,
    },
    /// The process could not be started.
    #[error("cannot start agent {}", program.display())]
    Spawn {
        /// The resolved program.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the run's log failed.
    #[error(transparent)]
    Log(#[from] PathError),
}

/// The command line of one agent run.
#[derive(Debug, Clone)]
pub(crate) struct AgentCommand {
    /// The resolved program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Working directory (the repository root).
    pub cwd: PathBuf,
    /// PATH for the child (the caller's, plus the extra directories).
    pub path_env: Option<OsString>,
}

/// Finds `binary`: a path (relative to `root`) when it contains a slash,
/// else a name searched on `path_env` plus the usual extra directories.
pub(crate) fn resolve_binary(
    binary: &str,
    root: &Path,
    path_env: Option<&OsString>,
) -> Result<(PathBuf, OsString), AgentError> {
    let mut dirs: Vec<PathBuf> = path_env
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    for extra in EXTRA_PATH_DIRS {
        let p = PathBuf::from(extra);
        if p.is_dir() && !dirs.contains(&p) {
            dirs.push(p);
        }
    }
    let joined = std::env::join_paths(&dirs).unwrap_or_default();
    if binary.contains('/') {
        let p = crate::fs_util::normalize_under(root, Path::new(binary));
        return if is_executable(&p) {
            Ok((p, joined))
        } else {
            Err(AgentError::NotFound {
                binary: binary.into(),
                hint: format!("; {} is not an executable file", p.display()),
            })
        };
    }
    dirs.iter()
        .map(|d| d.join(binary))
        .find(|p| is_executable(p))
        .map(|p| (p, joined.clone()))
        .ok_or_else(|| AgentError::NotFound {
            binary: binary.into(),
            hint: "; searched PATH and /opt/homebrew/bin, /usr/local/bin, /opt/local/bin; install it (`npm install -g @openai/codex`) or set codex.binary to its path".into(),
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Adds `--model <m>` before the first `exec`/`resume` argument (or first),
/// unless the arguments already choose a model; as the Python program did.
pub(crate) fn apply_model(args: &[String], model: Option<&str>) -> Vec<String> {
    let Some(model) = model.filter(|m| !m.trim().is_empty()) else {
        return args.to_vec();
    };
    if args
        .iter()
        .any(|a| a == "--model" || a == "-m" || a.starts_with("--model="))
    {
        return args.to_vec();
    }
    let at = args
        .iter()
        .position(|a| a == "exec" || a == "resume")
        .unwrap_or(0);
    let mut out = args.to_vec();
    out.splice(at..at, ["--model".to_string(), model.to_string()]);
    out
}

/// Why the agent's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndCause {
    /// It exited by itself.
    Exited,
    /// The deadline (wall-clock limit) passed and it was stopped.
    TimedOut,
    /// No output for the idle timeout; it was stopped.
    Idle,
    /// A stop was requested and it was stopped.
    Stopped,
}

/// How the process ended: exit code or signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// Exited with a code.
    Code(i32),
    /// Killed by a signal.
    Signal(i32),
}

impl ExitKind {
    /// Returns the Python program's convention: the code, or minus the signal.
    pub(crate) fn as_code(self) -> i32 {
        match self {
            Self::Code(c) => c,
            Self::Signal(s) => -s,
        }
    }
}

/// Limits applied while the agent runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Stop the agent at this instant.
    pub deadline: Option<Instant>,
    /// Stop the agent when it prints nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// What happened to one agent process.
#[derive(Debug, Clone)]
pub(crate) struct AgentOutcome {
    /// Exit code or signal.
    pub exit: ExitKind,
    /// Why it ended.
    pub cause: EndCause,
    /// Whether SIGKILL was needed.
    pub escalated: bool,
    /// The group id (= pid) the agent ran under.
    pub pgid: u32,
    /// Bytes read from stdout.
    pub stdout_bytes: u64,
    /// Bytes read from stderr.
    pub stderr_bytes: u64,
    /// The last bytes of stdout, decoded lossily.
    pub stdout_tail: String,
    /// How long it ran.
    pub duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// Runs `cmd` with `prompt` on stdin and streams its output into `log`,
/// until it exits, a limit passes, or `stop` asks for a stop.
///
/// `on_start` is called with the process group id as soon as the process
/// exists, so the caller can record it (for `car kill` to find).
pub(crate) async fn run(
    cmd: &AgentCommand,
    prompt: Vec<u8>,
    log: &mut OutputLog,
    mut stop: watch::Receiver<StopRequest>,
    limits: Limits,
    on_start: impl FnOnce(u32),
) -> Result<AgentOutcome, AgentError> {
    let started = Instant::now();
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .current_dir(&cmd.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(p) = &cmd.path_env {
        command.env("PATH", p);
    }
    process::become_subreaper();
    let mut child = command.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => AgentError::NotFound {
            binary: cmd.program.display().to_string(),
            hint: String::new(),
        },
        _ => AgentError::Spawn {
            program: cmd.program.clone(),
            source,
        },
    })?;
    let pgid = child.id().unwrap_or(0);
    let guard = GroupGuard { pgid, armed: true };
    on_start(pgid);

    // The prompt goes in on its own task: a big prompt must not block the
    // reading of output (the agent may print before it has read it all).
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        });
    }
    let (tx, mut rx) = mpsc::channel::<(Stream, Vec<u8>)>(CHANNEL_CHUNKS);
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        widen_pipe(&out);
        readers.push(tokio::spawn(pump(out, Stream::Out, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        widen_pipe(&err);
        readers.push(tokio::spawn(pump(err, Stream::Err, tx.clone())));
    }
    drop(tx);

    let mut lines = LineSplitter::default();
    let mut cause = EndCause::Exited;
    let mut escalated = false;
    let mut kill_at: Option<Instant> = None;
    let mut last_output = Instant::now();
    let mut pipes_open = true;
    let mut stop_open = true;
    // A stop requested before the agent started must not be missed: the
    // receiver only wakes on changes after it was created.
    match stop.borrow_and_update().level {
        StopLevel::None => {}
        StopLevel::Graceful => {
            cause = EndCause::Stopped;
            kill_at = Some(begin_stop(pgid, limits.grace));
        }
        StopLevel::Immediate => {
            cause = EndCause::Stopped;
            escalated = true;
            process::signal_group(pgid, Signal::SIGKILL);
            kill_at = Some(Instant::now() + Duration::from_secs(3600));
        }
    }
    let status = loop {
        let mut wake = [
            limits.deadline,
            limits.idle_timeout.map(|t| last_output + t),
            kill_at,
        ]
        .into_iter()
        .flatten()
        .min();
        if kill_at.is_some() {
            // Once stopping, deadlines and idle no longer matter.
            wake = kill_at;
        }
        let sleep = async {
            match wake {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            status = child.wait() => break status,
            chunk = rx.recv(), if pipes_open => match chunk {
                Some((stream, bytes)) => {
                    last_output = Instant::now();
                    lines.feed(stream, &bytes, log)?;
                    // Hand the output to the OS at once (no fsync), so
                    // `car log --follow` sees it and a SIGKILL of car
                    // loses nothing the agent printed.
                    log.flush_to_os()?;
                }
                None => pipes_open = false,
            },
            changed = stop.changed(), if stop_open => {
                if changed.is_err() { stop_open = false; continue; }
                let req = *stop.borrow_and_update();
                match req.level {
                    StopLevel::None => {}
                    StopLevel::Graceful if kill_at.is_none() => {
                        cause = EndCause::Stopped;
                        kill_at = Some(begin_stop(pgid, limits.grace));
                    }
                    StopLevel::Graceful => {}
                    StopLevel::Immediate => {
                        cause = EndCause::Stopped;
                        escalated = true;
                        process::signal_group(pgid, Signal::SIGKILL);
                        kill_at = Some(Instant::now() + Duration::from_secs(3600));
                    }
                }
            }
            () = sleep => {
                let now = Instant::now();
                if kill_at.is_some_and(|t| now >= t) {
                    escalated = true;
                    process::signal_group(pgid, Signal::SIGKILL);
                    kill_at = Some(now + Duration::from_secs(3600));
                } else if kill_at.is_none() {
                    cause = if limits.deadline.is_some_and(|d| now >= d) { EndCause::TimedOut } else { EndCause::Idle };
                    kill_at = Some(begin_stop(pgid, limits.grace));
                }
            }
        }
    };

    // The agent exited. Collect what is still in its pipes; if a grandchild
    // holds them open, end the rest of the group so nothing outlives the run.
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    let mut leftovers_stopped = false;
    while pipes_open {
        match tokio::time::timeout_at(drain_until.into(), rx.recv()).await {
            Ok(Some((stream, bytes))) => lines.feed(stream, &bytes, log)?,
            Ok(None) => pipes_open = false,
            Err(_) => break,
        }
    }
    if process::group_exists(pgid) {
        stop_leftovers(pgid).await;
        leftovers_stopped = true;
    }
    if pipes_open {
        while let Ok(Some((stream, bytes))) = tokio::time::timeout(DRAIN_TIMEOUT, rx.recv()).await {
            lines.feed(stream, &bytes, log)?;
        }
        for r in &readers {
            r.abort();
        }
    }
    lines.finish(log)?;
    log.flush()?;
    drop(guard);
    if leftovers_stopped {
        tracing::info!(
            pgid,
            "stopped processes the agent left running in its group"
        );
    }
    // Processes that left the agent's group (a new session or group) came
    // back to car as their reaper when their parent ended: end them too.
    let orphans = process::reap_orphans();
    if orphans > 0 {
        tracing::info!(
            orphans,
            "stopped processes the agent left running outside its group"
        );
    }
    let exit = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => ExitKind::Code(c),
                (None, Some(sig)) => ExitKind::Signal(sig),
                (None, None) => ExitKind::Code(-1),
            }
        }
        Err(_) => ExitKind::Code(-1),
    };
    Ok(AgentOutcome {
        exit,
        cause,
        escalated,
        pgid,
        stdout_bytes: lines.bytes[0],
        stderr_bytes: lines.bytes[1],
        stdout_tail: lines.tail_string(),
        duration: started.elapsed(),
    })
}

/// Enlarges a pipe's kernel buffer (Linux; 64 KiB by default) so a chatty
/// agent blocks less often and car wakes up less often per megabyte.
fn widen_pipe(fd: &impl std::os::fd::AsFd) {
    #[cfg(target_os = "linux")]
    {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

fn begin_stop(pgid: u32, grace: Duration) -> Instant {
    process::signal_group(pgid, Signal::SIGTERM);
    crate::time::deadline_in(grace)
}

async fn stop_leftovers(pgid: u32) {
    process::signal_group(pgid, Signal::SIGTERM);
    let until = Instant::now() + LEFTOVER_GRACE;
    while Instant::now() < until && process::group_exists(pgid) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    process::signal_group(pgid, Signal::SIGKILL);
}

/// Kills the agent's whole group if the supervisor is dropped mid-run
/// (`kill_on_drop` alone would reach only the leader).
struct GroupGuard {
    pgid: u32,
    armed: bool,
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed && process::group_exists(self.pgid) {
            process::signal_group(self.pgid, Signal::SIGKILL);
        }
    }
}

async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    stream: Stream,
    tx: mpsc::Sender<(Stream, Vec<u8>)>,
) {
    loop {
        // read_buf fills spare capacity: no zeroing of each 64 KiB buffer.
        let mut buf = Vec::with_capacity(CHUNK);
        match r.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if tx.send((stream, buf)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The run's output log: one line per output line, tagged with time and stream.
pub(crate) struct OutputLog {
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
    stamp: Stamp,
    codex: Option<CodexSink>,
}

/// Where Codex `--json` events go: parsed into a [`CodexRun`], stored raw.
struct CodexSink {
    run: CodexRun,
    file: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

impl OutputLog {
    /// Creates (or appends to) the log at `path`.
    pub(crate) fn open(path: &Path) -> Result<Self, PathError> {
        let file = crate::fs_util::open_append(path)?;
        Ok(Self {
            file: std::io::BufWriter::with_capacity(CHUNK, file),
            path: path.to_path_buf(),
            stamp: Stamp::default(),
            codex: None,
        })
    }

    /// Treats stdout lines that are Codex `--json` events as events: they are
    /// stored raw in `events_path`, parsed, and shown in the log as one short
    /// `codex:` line each. Other lines stay plain output.
    pub(crate) fn parse_codex_events(&mut self, events_path: &Path) -> Result<(), PathError> {
        let file = crate::fs_util::open_append(events_path)?;
        self.codex = Some(CodexSink {
            run: CodexRun::default(),
            file: std::io::BufWriter::with_capacity(CHUNK, file),
            path: events_path.to_path_buf(),
        });
        Ok(())
    }

    /// Returns what the Codex events said, when parsing was on.
    pub(crate) fn take_codex(&mut self) -> Option<CodexRun> {
        self.codex.take().map(|s| s.run)
    }

    /// Writes a note from car itself (not agent output).
    pub(crate) fn note(&mut self, text: &str) -> Result<(), PathError> {
        let ts = self.stamp.get().to_string();
        self.write_raw(format!("[{ts}] car: {text}\n").as_bytes())
    }

    fn line(&mut self, stream: Stream, bytes: &[u8]) -> Result<(), PathError> {
        if stream == Stream::Out
            && let Some(sink) = self.codex.as_mut()
            && let Parsed::Event { stored, shown } = sink.run.feed(bytes)
        {
            let r = sink
                .file
                .write_all(&stored)
                .and_then(|()| sink.file.write_all(b"\n"));
            r.map_err(|source| PathError {
                action: "cannot write",
                path: sink.path.clone(),
                source,
            })?;
            if let Some(text) = shown {
                let ts = self.stamp.get().to_string();
                let mut line = format!("[{ts}] codex: ");
                line.push_str(&text.replace('\n', "\n    "));
                line.push('\n');
                self.write_raw(line.as_bytes())?;
            }
            return Ok(());
        }
        let tag: &[u8] = match stream {
            Stream::Out => b"] stdout: ",
            Stream::Err => b"] stderr: ",
        };
        let ts = self.stamp.cached();
        let r = (|| {
            self.file.write_all(b"[")?;
            self.file.write_all(ts.as_bytes())?;
            self.file.write_all(tag)?;
            write_lossy(&mut self.file, bytes)?;
            self.file.write_all(b"\n")
        })();
        r.map_err(|source| PathError {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    fn write_raw(&mut self, b: &[u8]) -> Result<(), PathError> {
        self.file.write_all(b).map_err(|source| PathError {
            action: "cannot write",
            path: self.path.clone(),
            source,
        })
    }

    /// Writes buffered lines to the file (no fsync).
    pub(crate) fn flush_to_os(&mut self) -> Result<(), PathError> {
        self.flush_impl(false)
    }

    /// Flushes buffered lines to disk.
    pub(crate) fn flush(&mut self) -> Result<(), PathError> {
        self.flush_impl(true)
    }

    fn flush_impl(&mut self, sync: bool) -> Result<(), PathError> {
        if let Some(sink) = self.codex.as_mut() {
            sink.file.flush().map_err(|source| PathError {
                action: "cannot write",
                path: sink.path.clone(),
                source,
            })?;
        }
        self.file
            .flush()
            .and_then(|()| {
                if sync {
                    self.file.get_ref().sync_data()
                } else {
                    Ok(())
                }
            })
            .map_err(|source| PathError {
                action: "cannot write",
                path: self.path.clone(),
                source,
            })
    }
}

/// Writes `bytes` as UTF-8, replacing invalid sequences with U+FFFD.
fn write_lossy(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    match std::str::from_utf8(bytes) {
        Ok(_) => w.write_all(bytes),
        Err(_) => w.write_all(String::from_utf8_lossy(bytes).as_bytes()),
    }
}

/// A cached `YYYY-MM-DDTHH:MM:SSZ` string, reformatted once per second.
#[derive(Default)]
struct Stamp {
    second: i64,
    text: String,
}

impl Stamp {
    /// Reads the clock and reformats when the second changed.
    fn refresh(&mut self) {
        let now = chrono::Utc::now();
        if now.timestamp() != self.second || self.text.is_empty() {
            self.second = now.timestamp();
            self.text = crate::time::iso_seconds(now);
        }
    }

    /// Returns the current stamp (as of the last refresh).
    fn cached(&self) -> &str {
        &self.text
    }

    /// Refreshes, then returns the stamp.
    fn get(&mut self) -> &str {
        self.refresh();
        &self.text
    }
}

/// Splits chunks into lines per stream (`\n`, `\r\n`; a lone `\r` stays in
/// the line) and keeps the tail of stdout.
#[derive(Default)]
struct LineSplitter {
    partial: [Vec<u8>; 2],
    bytes: [u64; 2],
    tail: VecDeque<u8>,
}

impl LineSplitter {
    fn feed(&mut self, stream: Stream, chunk: &[u8], log: &mut OutputLog) -> Result<(), PathError> {
        let i = stream as usize;
        self.bytes[i] += chunk.len() as u64;
        if stream == Stream::Out {
            if chunk.len() >= TAIL_BYTES {
                self.tail.clear();
                self.tail.extend(&chunk[chunk.len() - TAIL_BYTES..]);
            } else {
                let excess = (self.tail.len() + chunk.len()).saturating_sub(TAIL_BYTES);
                self.tail.drain(..excess);
                self.tail.extend(chunk);
            }
        }
        let mut rest = chunk;
        // One clock read per chunk, not per line: lines of one chunk arrived together.
        log.stamp.refresh();
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let (line, after) = rest.split_at(nl);
            rest = &after[1..];
            if self.partial[i].is_empty() {
                log.line(stream, trim_cr(line))?;
            } else {
                self.partial[i].extend_from_slice(line);
                let whole = std::mem::take(&mut self.partial[i]);
                log.line(stream, trim_cr(&whole))?;
            }
        }
        self.partial[i].extend_from_slice(rest);
        if self.partial[i].len() >= MAX_LINE {
            let piece = std::mem::take(&mut self.partial[i]);
            log.line(stream, &piece)?;
        }
        Ok(())
    }

    fn finish(&mut self, log: &mut OutputLog) -> Result<(), PathError> {
        for (i, stream) in [Stream::Out, Stream::Err].into_iter().enumerate() {
            if !self.partial[i].is_empty() {
                let piece = std::mem::take(&mut self.partial[i]);
                log.line(stream, &piece)?;
            }
        }
        Ok(())
    }

    fn tail_string(&self) -> String {
        let (a, b) = self.tail.as_slices();
        let mut v = Vec::with_capacity(a.len() + b.len());
        v.extend_from_slice(a);
        v.extend_from_slice(b);
        String::from_utf8_lossy(&v).into_owned()
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, dir: &Path) -> AgentCommand {
        AgentCommand {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            path_env: None,
        }
    }

    fn limits() -> Limits {
        Limits {
            deadline: None,
            idle_timeout: None,
            grace: Duration::from_millis(300),
        }
    }

    #[tokio::test]
    async fn streams_both_pipes_and_passes_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("out.log");
        let mut log = OutputLog::open(&log_path).unwrap();
        let (_tx, rx) = watch::channel(StopRequest::default());
        let cmd = sh("cat; echo to-err >&2; printf 'no newline'", dir.path());
        let out = run(
            &cmd,
            b"hello prompt\n".to_vec(),
            &mut log,
            rx,
            limits(),
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(out.exit, ExitKind::Code(0));
        let text = std::fs::read_to_string(&log_path).unwrap();
        assert!(text.contains("stdout: hello prompt\n"), "{text}");
        assert!(text.contains("stderr: to-err\n"), "{text}");
        assert!(text.contains("stdout: no newline\n"), "{text}");
        assert_eq!(out.stdout_tail, "hello prompt\nno newline");
    }

    #[tokio::test]
    async fn deadline_terminates_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
        let (_tx, rx) = watch::channel(StopRequest::default());
        let cmd = sh("sleep 30 & sleep 30", dir.path());
        let lim = Limits {
            deadline: Some(Instant::now() + Duration::from_millis(200)),
            ..limits()
        };
        let t = Instant::now();
        let out = run(&cmd, Vec::new(), &mut log, rx, lim, |_| {})
            .await
            .unwrap();
        assert_eq!(out.cause, EndCause::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(
            !process::group_exists(out.pgid),
            "no process of the group may survive"
        );
    }

    #[tokio::test]
    async fn sigterm_ignoring_agent_is_killed_after_grace() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
        let (tx, rx) = watch::channel(StopRequest::default());
        let cmd = sh("trap '' TERM; echo ready; sleep 30", dir.path());
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(StopRequest {
                level: StopLevel::Graceful,
                cause: crate::stop::StopCause::Killed,
            })
            .unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(tx);
        });
        let out = run(&cmd, Vec::new(), &mut log, rx, limits(), |_| {})
            .await
            .unwrap();
        task.abort();
        assert_eq!(out.cause, EndCause::Stopped);
        assert!(out.escalated, "SIGKILL must follow an ignored SIGTERM");
        assert!(!process::group_exists(out.pgid));
    }

    #[test]
    fn model_is_injected_before_exec_unless_present() {
        let a: Vec<String> = ["--yolo", "exec", "--sandbox", "x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            apply_model(&a, Some("gpt-x"))[..4],
            ["--yolo", "--model", "gpt-x", "exec"]
        );
        let b: Vec<String> = ["exec", "-m", "y"].map(String::from).to_vec();
        assert_eq!(apply_model(&b, Some("gpt-x")), b);
        assert_eq!(apply_model(&a, None), a);
    }
}
