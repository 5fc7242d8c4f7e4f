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
use crate::supervisor::{self, Control, Launch};

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
/// grow memory without bound. A piece never ends inside a UTF-8 character:
/// the bytes of a character cut by the limit start the next piece.
const MAX_LINE: usize = 4 * 1024 * 1024;
/// How much of stdout is kept in memory as the run's final output.
const TAIL_BYTES: usize = 256 * 1024;
/// After the agent exits, how long to wait for its pipes to close before
/// killing what is left of its process group (a grandchild holding them).
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Grace given to leftover group members after the agent itself exited.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);

/// The process that was started for a run, as given to `on_start`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started {
    /// Its pid (the agent's process group when not supervised).
    pub pid: u32,
    /// Whether it is the run's supervisor (else the agent itself).
    pub supervised: bool,
}

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
    /// The agent's supervisor could not start the agent.
    #[error("cannot start agent {}: {message}", program.display())]
    SupervisedSpawn {
        /// The resolved program.
        program: PathBuf,
        /// What the supervisor reported.
        message: String,
    },
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
    /// The child's whole environment (see `agent_env`); None: car's own.
    pub env: Option<Vec<(OsString, OsString)>>,
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
    /// No progress for the idle timeout; it was stopped.
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
    /// Stop the agent when it makes no progress for this long (see
    /// [`OutputLog::take_progress`]).
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
/// With a supervisor in `launch`, the supervisor is started first (the
/// agent reads the prompt file); without, the agent is this process's child
/// and reads `prompt` from a pipe. Every process of the run carries the
/// run's marker. `on_start` is called as soon as the first process exists
/// and before a supervised agent is let go, so the caller can record it
/// (for `car kill` and a later car to find).
pub(crate) async fn run(
    cmd: &AgentCommand,
    launch: &Launch,
    prompt: Vec<u8>,
    log: &mut OutputLog,
    mut stop: watch::Receiver<StopRequest>,
    limits: Limits,
    on_start: impl FnOnce(Started),
) -> Result<AgentOutcome, AgentError> {
    let started = Instant::now();
    if let Some(sup) = &launch.supervisor {
        let _ = std::fs::remove_file(&sup.status_file);
    }
    let spawned_program = launch
        .supervisor
        .as_ref()
        .map_or(&cmd.program, |s| &s.program);
    let mut command = match &launch.supervisor {
        Some(sup) => {
            let mut c = Command::new(&sup.program);
            c.args(sup.args(&cmd.program, &cmd.args));
            c
        }
        None => {
            let mut c = Command::new(&cmd.program);
            c.args(&cmd.args);
            c
        }
    };
    command
        .current_dir(&cmd.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(launch.supervisor.is_none());
    if let Some(env) = &cmd.env {
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    }
    // Set last: whatever environment the agent is given, it carries the
    // run's marker (the supervisor passes its environment on unchanged).
    command.env(crate::marker::MARKER_VAR, launch.marker.value());
    let mut child = command.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => AgentError::NotFound {
            binary: spawned_program.display().to_string(),
            hint: String::new(),
        },
        _ => AgentError::Spawn {
            program: spawned_program.clone(),
            source,
        },
    })?;
    let pgid = child.id().unwrap_or(0);
    let stdin = child.stdin.take();
    let (mut control, guard) = match &launch.supervisor {
        Some(_) => {
            let pipe = stdin
                .and_then(|s| s.into_owned_fd().ok())
                .map(std::fs::File::from);
            (Control::Supervised { pipe }, None)
        }
        None => {
            // The prompt goes in on its own task: a big prompt must not block
            // the reading of output (the agent may print before it has read it all).
            if let Some(mut stdin) = stdin {
                tokio::spawn(async move {
                    let _ = stdin.write_all(&prompt).await;
                    let _ = stdin.shutdown().await;
                });
            }
            (
                Control::Direct { pgid },
                Some(GroupGuard { pgid, armed: true }),
            )
        }
    };
    on_start(Started {
        pid: pgid,
        supervised: launch.supervisor.is_some(),
    });
    control.go();
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
            kill_at = Some(begin_stop(&mut control, limits.grace));
        }
        StopLevel::Immediate => {
            cause = EndCause::Stopped;
            escalated = true;
            control.signal(Signal::SIGKILL);
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
                    lines.feed(stream, &bytes, log)?;
                    // The watchdog measures progress, not bytes (see
                    // OutputLog::take_progress): retry chatter does not count.
                    if log.take_progress() {
                        last_output = Instant::now();
                    }
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
                        kill_at = Some(begin_stop(&mut control, limits.grace));
                    }
                    StopLevel::Graceful => {}
                    StopLevel::Immediate => {
                        cause = EndCause::Stopped;
                        escalated = true;
                        control.signal(Signal::SIGKILL);
                        kill_at = Some(Instant::now() + Duration::from_secs(3600));
                    }
                }
            }
            () = sleep => {
                let now = Instant::now();
                if kill_at.is_some_and(|t| now >= t) {
                    escalated = true;
                    control.signal(Signal::SIGKILL);
                    kill_at = Some(now + Duration::from_secs(3600));
                } else if kill_at.is_none() {
                    cause = if limits.deadline.is_some_and(|d| now >= d) { EndCause::TimedOut } else { EndCause::Idle };
                    kill_at = Some(begin_stop(&mut control, limits.grace));
                }
            }
        }
    };

    // The agent exited (its supervisor, which ended the agent's whole tree
    // first). Collect what is still in its pipes; if a grandchild holds them
    // open, end the rest of the group so nothing outlives the run.
    let drain_until = Instant::now() + DRAIN_TIMEOUT;
    let mut leftovers_stopped = false;
    while pipes_open {
        match tokio::time::timeout_at(drain_until.into(), rx.recv()).await {
            Ok(Some((stream, bytes))) => lines.feed(stream, &bytes, log)?,
            Ok(None) => pipes_open = false,
            Err(_) => break,
        }
    }
    if launch.supervisor.is_none() && process::group_exists(pgid) {
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
    drop(guard);
    // Closing the control pipe is the supervisor's last word (it has exited).
    drop(control);
    if leftovers_stopped {
        tracing::info!(
            pgid,
            "stopped processes the agent left running in its group"
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
    let exit = match &launch.supervisor {
        Some(sup) => supervised_exit(cmd, sup, exit, log)?,
        None => exit,
    };
    // Processes that left the agent's group (a new session or group) and,
    // when the supervisor itself was killed, its whole tree: every one still
    // carries this run's marker.
    let strays = crate::marker::kill_marked(&launch.marker);
    if strays > 0 {
        log.note(&format!(
            "stopped {strays} process(es) of this run found by their {} marker",
            crate::marker::MARKER_VAR
        ))?;
        tracing::info!(
            strays,
            "stopped processes the agent left running outside its group"
        );
    }
    // No sync here: the caller syncs once, after its closing note.
    log.flush_to_os()?;
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

fn begin_stop(control: &mut Control, grace: Duration) -> Instant {
    control.signal(Signal::SIGTERM);
    crate::time::deadline_in(grace)
}

/// How a supervised agent ended, from its supervisor's report (or, when the
/// supervisor left none, from how the supervisor itself ended).
fn supervised_exit(
    cmd: &AgentCommand,
    sup: &supervisor::Supervision,
    supervisor_exit: ExitKind,
    log: &mut OutputLog,
) -> Result<ExitKind, AgentError> {
    let Some(report) = supervisor::read_report(&sup.status_file) else {
        log.note(&format!(
            "the agent's supervisor ended without a report ({}); its processes are stopped by their marker",
            match supervisor_exit {
                ExitKind::Code(c) => format!("exit code {c}"),
                ExitKind::Signal(s) => format!("signal {s}"),
            }
        ))?;
        return Ok(supervisor_exit);
    };
    if let Some(message) = report.spawn_error {
        return Err(if report.not_found {
            AgentError::NotFound {
                binary: cmd.program.display().to_string(),
                hint: String::new(),
            }
        } else {
            AgentError::SupervisedSpawn {
                program: cmd.program.clone(),
                message,
            }
        });
    }
    if report.leftovers > 0 {
        tracing::info!(
            leftovers = report.leftovers,
            "the supervisor stopped processes the agent left running"
        );
    }
    Ok(match (report.exit_code, report.signal) {
        (Some(c), _) => ExitKind::Code(c),
        (None, Some(s)) => ExitKind::Signal(s),
        (None, None) => supervisor_exit,
    })
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
    /// A line showing progress was written since the last `take_progress`.
    progress: bool,
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
            progress: false,
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

    /// Returns whether the agent made progress since the last call, for the
    /// idle watchdog. Without Codex events (plain mode) any output counts.
    /// With them, progress is an event that moves the turn on (see
    /// [`crate::codex::is_progress`]) or a plain stdout line; retry notices
    /// and stderr (Codex's own logging) are not.
    pub(crate) fn take_progress(&mut self) -> bool {
        self.codex.is_none() || std::mem::take(&mut self.progress)
    }

    /// Writes a note from car itself (not agent output).
    pub(crate) fn note(&mut self, text: &str) -> Result<(), PathError> {
        let ts = self.stamp.get().to_string();
        self.write_raw(format!("[{ts}] car: {text}\n").as_bytes())
    }

    fn line(&mut self, stream: Stream, bytes: &[u8]) -> Result<(), PathError> {
        if stream == Stream::Out
            && let Some(sink) = self.codex.as_mut()
            && let Parsed::Event {
                stored,
                shown,
                progress,
            } = sink.run.feed(bytes)
        {
            self.progress |= progress;
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
        self.progress |= stream == Stream::Out;
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
            let cut = char_boundary(&self.partial[i]);
            let carry = self.partial[i].split_off(cut);
            let piece = std::mem::replace(&mut self.partial[i], carry);
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
        // The kept tail may begin inside a character: drop its stray
        // continuation bytes rather than show them as U+FFFD.
        let cut = self.bytes[Stream::Out as usize] > v.len() as u64;
        let start = if cut {
            v.iter().take(3).take_while(|&&b| b & 0xC0 == 0x80).count()
        } else {
            0
        };
        String::from_utf8_lossy(&v[start..]).into_owned()
    }
}

/// Returns where to cut `buf` so that no UTF-8 character is split: its
/// length, or the start of an incomplete character at its end. Bytes that
/// are not UTF-8 anyway are cut anywhere (each is one U+FFFD in the log).
fn char_boundary(buf: &[u8]) -> usize {
    let len = buf.len();
    // A character is at most 4 bytes: look back at most 3 for its lead byte.
    for back in 1..=3.min(len) {
        let b = buf[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: its lead is further back
        }
        let width = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return len, // ASCII or not a lead byte: nothing to carry
        };
        return if width > back { len - back } else { len };
    }
    len
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
            env: None,
        }
    }

    fn direct(dir: &Path, run: &str) -> Launch {
        Launch {
            marker: crate::marker::RunMarker::new(dir, run),
            supervisor: None,
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
            &direct(dir.path(), "1"),
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
        let out = run(
            &cmd,
            &direct(dir.path(), "1"),
            Vec::new(),
            &mut log,
            rx,
            lim,
            |_| {},
        )
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
        let out = run(
            &cmd,
            &direct(dir.path(), "1"),
            Vec::new(),
            &mut log,
            rx,
            limits(),
            |_| {},
        )
        .await
        .unwrap();
        task.abort();
        assert_eq!(out.cause, EndCause::Stopped);
        assert!(out.escalated, "SIGKILL must follow an ignored SIGTERM");
        assert!(!process::group_exists(out.pgid));
    }

    /// An agent that prints Codex's reconnect notice every 100 ms, forever.
    const RECONNECTING: &str = r#"echo '{"type":"turn.started"}'; while :; do echo '{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}'; echo 'WARN codex: retrying' >&2; sleep 0.1; done"#;

    #[tokio::test]
    async fn retry_chatter_does_not_keep_a_codex_run_alive() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
        log.parse_codex_events(&dir.path().join("events.jsonl"))
            .unwrap();
        let (_tx, rx) = watch::channel(StopRequest::default());
        let lim = Limits {
            deadline: Some(Instant::now() + Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_millis(800)),
            ..limits()
        };
        let out = run(
            &sh(RECONNECTING, dir.path()),
            &direct(dir.path(), "1"),
            Vec::new(),
            &mut log,
            rx,
            lim,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(out.cause, EndCause::Idle);
        assert!(out.duration < Duration::from_secs(5), "{:?}", out.duration);
        let codex = log.take_codex().unwrap();
        assert!(codex.retrying().is_some(), "{codex:?}");
    }

    #[tokio::test]
    async fn any_output_keeps_a_plain_run_alive() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OutputLog::open(&dir.path().join("o.log")).unwrap();
        let (_tx, rx) = watch::channel(StopRequest::default());
        let lim = Limits {
            deadline: Some(Instant::now() + Duration::from_millis(1500)),
            idle_timeout: Some(Duration::from_millis(500)),
            ..limits()
        };
        let out = run(
            &sh(RECONNECTING, dir.path()),
            &direct(dir.path(), "1"),
            Vec::new(),
            &mut log,
            rx,
            lim,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(out.cause, EndCause::TimedOut, "plain mode counts bytes");
    }

    #[test]
    fn long_lines_are_split_only_between_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut log = OutputLog::open(&path).unwrap();
        let mut lines = LineSplitter::default();
        // One odd byte first, then 2-byte characters: MAX_LINE (even) falls
        // inside a character. Then 3- and 4-byte characters across the limit.
        let mut line = b"a".to_vec();
        while line.len() < MAX_LINE + 10 {
            line.extend_from_slice("é".as_bytes());
        }
        for ch in ["€", "😀"] {
            line.extend(std::iter::repeat_n(
                b'b',
                MAX_LINE - line.len() % MAX_LINE - 1,
            ));
            line.extend_from_slice(ch.as_bytes());
            line.extend_from_slice(ch.as_bytes());
        }
        line.push(b'\n');
        // Fed in odd-sized chunks, as pipes deliver them.
        for chunk in line.chunks(65_537) {
            lines.feed(Stream::Out, chunk, &mut log).unwrap();
        }
        lines.finish(&mut log).unwrap();
        log.flush().unwrap();
        let text = std::fs::read(&path).unwrap();
        let text = String::from_utf8(text).expect("the log is valid UTF-8");
        assert!(!text.contains('\u{FFFD}'), "a character was cut");
        let pieces: Vec<&str> = text.lines().collect();
        assert!(pieces.len() >= 3, "{} pieces", pieces.len());
        let joined: String = pieces
            .iter()
            .map(|l| &l[l.find("] stdout: ").unwrap() + 10..])
            .collect();
        assert_eq!(
            joined.as_bytes(),
            &line[..line.len() - 1],
            "no byte lost or added"
        );
        // Invalid bytes are still cut (one U+FFFD each), never held forever.
        assert_eq!(char_boundary(b"ab\xff"), 3);
        assert_eq!(char_boundary(b"a\xe2\x82"), 1);
        assert_eq!(char_boundary(b"a\xe2\x82\xac"), 4);
        assert_eq!(char_boundary(b"\xf0\x9f\x98"), 0);
    }

    fn read_pid(p: &Path) -> u32 {
        std::fs::read_to_string(p).unwrap().trim().parse().unwrap()
    }

    /// Two loops in one process (as a library embedder runs them): the end
    /// of one agent's run stops what that agent left behind, and never the
    /// other agent, which is also this process's child in a group of its own.
    #[tokio::test]
    async fn two_agents_in_one_process_do_not_touch_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a_dir).unwrap();
        std::fs::create_dir_all(&b_dir).unwrap();
        let b_pid = dir.path().join("b.pid");
        let a_left = dir.path().join("a-left.pid");
        let cmd_b = sh(
            &format!("echo $$ > {}; exec sleep 30", b_pid.display()),
            &b_dir,
        );
        let cmd_a = sh(
            &format!("setsid sleep 30 & echo $! > {}", a_left.display()),
            &a_dir,
        );
        let (tx_b, rx_b) = watch::channel(StopRequest::default());
        let mut log_b = OutputLog::open(&dir.path().join("b.log")).unwrap();
        let mut log_a = OutputLog::open(&dir.path().join("a.log")).unwrap();
        let launch_b = direct(&b_dir, "1");
        let b = run(
            &cmd_b,
            &launch_b,
            Vec::new(),
            &mut log_b,
            rx_b,
            limits(),
            |_| {},
        );
        let a = async {
            while !b_pid.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let (_tx_a, rx_a) = watch::channel(StopRequest::default());
            let out = run(
                &cmd_a,
                &direct(&a_dir, "1"),
                Vec::new(),
                &mut log_a,
                rx_a,
                limits(),
                |_| {},
            )
            .await
            .unwrap();
            let left = read_pid(&a_left);
            let b_alive = process::is_alive(read_pid(&b_pid));
            let left_alive = process::is_alive(left);
            tx_b.send(StopRequest {
                level: StopLevel::Graceful,
                cause: crate::stop::StopCause::Killed,
            })
            .unwrap();
            (out.exit, b_alive, left_alive)
        };
        let (b_out, (a_exit, b_alive, left_alive)) = tokio::join!(b, a);
        assert_eq!(a_exit, ExitKind::Code(0));
        assert!(b_alive, "ending agent A's run must not touch agent B");
        assert!(
            !left_alive,
            "what agent A left in a session of its own ends with its run"
        );
        assert_eq!(b_out.unwrap().cause, EndCause::Stopped);
    }

    #[test]
    fn the_kept_stdout_tail_starts_at_a_character() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = OutputLog::open(&dir.path().join("out.log")).unwrap();
        let mut lines = LineSplitter::default();
        // 3-byte characters: TAIL_BYTES (2^18) from the end falls on the
        // last byte of a character.
        let out = "€".repeat(TAIL_BYTES).into_bytes();
        lines.feed(Stream::Out, &out, &mut log).unwrap();
        let tail = lines.tail_string();
        assert!(!tail.contains('\u{FFFD}'));
        assert_eq!(tail.len(), TAIL_BYTES - 1);
        // Output shorter than the tail is kept whole, whatever its bytes.
        let mut short = LineSplitter::default();
        short.feed(Stream::Out, b"\x80ab", &mut log).unwrap();
        assert_eq!(short.tail_string(), "\u{FFFD}ab");
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
