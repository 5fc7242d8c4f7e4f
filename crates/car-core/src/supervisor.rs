//! The per-run supervisor: a small process between car and the agent that
//! owns the agent's whole process tree and ends it, whatever ends car.
//!
//! car starts `<program> __supervise --stdin <prompt file> --status <status
//! file> -- <agent program> <args>...` in a process group of its own, with
//! the agent's environment (the [`MARKER_VAR`](crate::MARKER_VAR) marker
//! included) and its working directory:
//!
//! * its stdin is the control pipe from car; its stdout and stderr are
//!   car's output pipes, which it hands to the agent and then lets go of;
//! * car records the supervisor's pid and start time in `state.json`, then
//!   writes `g` on the control pipe; only then does the supervisor start the
//!   agent (stdin = the prompt file) as the leader of a new process group,
//!   after making itself the child subreaper (Linux) of everything below;
//! * `t` sends SIGTERM to the agent's group, `k` SIGKILL (car keeps the
//!   grace period and the escalation);
//! * when the agent exits, the supervisor ends every process left below it
//!   (SIGTERM, one second, then SIGKILL until none is left: group members,
//!   double forks and `setsid` daemons all end up as its children);
//! * when the control pipe hits end of file (car died, even by SIGKILL) or
//!   the supervisor gets SIGTERM, SIGINT or SIGHUP, it kills the agent's
//!   group and everything below it at once; an end of file before `g`
//!   means the agent is never started;
//! * last, it writes a one-line JSON report to the status file (how the
//!   agent ended) and exits with the agent's exit code (128 + the signal
//!   when it was killed; 125 when the agent could not be started).

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use crate::marker::RunMarker;
use crate::{process, procfs};

/// The subcommand (first argument) that makes a program act as the supervisor.
pub const SUBCOMMAND: &str = "__supervise";

/// Exit code when the agent could not be started, or the arguments are wrong.
const EXIT_NOT_STARTED: i32 = 125;
/// Grace given to what the agent left running after it exited by itself.
const LEFTOVER_GRACE: Duration = Duration::from_secs(1);
/// Rounds of SIGKILL before giving up on a process that will not die.
const KILL_ROUNDS: usize = 500;

/// What the supervisor tells car about the agent (the status file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Report {
    /// Whether the agent was started.
    #[serde(default)]
    pub started: bool,
    /// Its exit code, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Why it could not be started.
    #[serde(default)]
    pub spawn_error: Option<String>,
    /// Whether that was because the program does not exist.
    #[serde(default)]
    pub not_found: bool,
    /// Processes the agent left running that were ended after it.
    #[serde(default)]
    pub leftovers: usize,
    /// Whether car went away (control pipe closed) or a signal ended the run.
    #[serde(default)]
    pub orphaned: bool,
}

/// Reads the report a supervisor left, if any.
pub(crate) fn read_report(path: &Path) -> Option<Report> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// How one agent run is started.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    /// The marker every process of the run carries.
    pub marker: RunMarker,
    /// The supervisor, when the program embedding car-core has one;
    /// without it the agent is car's own child.
    pub supervisor: Option<Supervision>,
}

/// The supervisor of one run.
#[derive(Debug, Clone)]
pub(crate) struct Supervision {
    /// The program that answers [`SUBCOMMAND`].
    pub program: PathBuf,
    /// The prompt, given to the agent as its stdin.
    pub prompt_file: PathBuf,
    /// Where the supervisor writes its [`Report`].
    pub status_file: PathBuf,
}

impl Supervision {
    /// The supervisor's arguments, the agent's command line last.
    pub(crate) fn args(&self, program: &Path, args: &[String]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![
            SUBCOMMAND.into(),
            "--stdin".into(),
            self.prompt_file.clone().into(),
            "--status".into(),
            self.status_file.clone().into(),
            "--".into(),
            program.into(),
        ];
        v.extend(args.iter().map(OsString::from));
        v
    }
}

/// car's side of a running agent: how to start and stop it.
pub(crate) enum Control {
    /// The agent is car's child, leader of group `pgid`.
    Direct {
        /// The agent's group.
        pgid: u32,
    },
    /// The agent runs under a supervisor, driven through the control pipe.
    Supervised {
        /// The control pipe (dropping it makes the supervisor kill the tree).
        pipe: Option<std::fs::File>,
    },
}

impl Control {
    fn send(&mut self, byte: u8) {
        if let Self::Supervised { pipe: Some(p) } = self {
            use std::io::Write;
            // A closed pipe means the supervisor is gone: nothing to signal.
            if p.write_all(&[byte]).is_err() {
                *self = Self::Supervised { pipe: None };
            }
        }
    }

    /// Lets the supervisor start the agent (no-op for a direct child).
    pub(crate) fn go(&mut self) {
        self.send(b'g');
    }

    /// Sends `sig` (SIGTERM or SIGKILL) to the agent's process group.
    pub(crate) fn signal(&mut self, sig: Signal) {
        match self {
            Self::Direct { pgid } => {
                process::signal_group(*pgid, sig);
            }
            Self::Supervised { .. } => self.send(if sig == Signal::SIGKILL { b'k' } else { b't' }),
        }
    }
}

/// Parsed supervisor arguments.
struct Args {
    stdin: PathBuf,
    status: PathBuf,
    program: OsString,
    args: Vec<OsString>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Option<Args> {
    let mut it = args.into_iter();
    let (mut stdin, mut status) = (None, None);
    loop {
        let a = it.next()?;
        match a.to_str() {
            Some("--stdin") => stdin = Some(PathBuf::from(it.next()?)),
            Some("--status") => status = Some(PathBuf::from(it.next()?)),
            Some("--") => break,
            _ => return None,
        }
    }
    Some(Args {
        stdin: stdin?,
        status: status?,
        program: it.next()?,
        args: it.collect(),
    })
}

/// Runs the supervisor (the [`SUBCOMMAND`] of a program embedding car-core)
/// with the arguments after the subcommand, and returns its exit code.
///
/// A program that runs loops with car-core passes its own path as the
/// supervisor (`RunOptions::supervisor`) and calls this first thing in
/// `main` when its first argument is [`SUBCOMMAND`]:
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     let mut args = std::env::args_os().skip(1);
///     if args.next().as_deref() == Some(car_core::SUPERVISOR_SUBCOMMAND.as_ref()) {
///         let code = car_core::supervisor_main(args);
///         return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
///     }
///     // ... the program itself ...
///     std::process::ExitCode::SUCCESS
/// }
/// ```
pub fn supervisor_main(args: impl IntoIterator<Item = OsString>) -> i32 {
    let Some(args) = parse_args(args) else {
        return EXIT_NOT_STARTED;
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return EXIT_NOT_STARTED;
    };
    let report = runtime.block_on(supervise(&args));
    let _ = std::fs::write(
        &args.status,
        serde_json::to_vec(&report).unwrap_or_default(),
    );
    match (report.exit_code, report.signal) {
        (Some(c), _) => c & 0xff,
        (None, Some(s)) => 128 + s,
        _ => EXIT_NOT_STARTED,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Go,
    Term,
    Kill,
}

/// Reads control bytes until end of file; the channel closes with it.
fn read_control(tx: tokio::sync::mpsc::UnboundedSender<Cmd>) {
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    while let Ok(1) = stdin.read(&mut byte) {
        let cmd = match byte[0] {
            b'g' => Cmd::Go,
            b't' => Cmd::Term,
            b'k' => Cmd::Kill,
            _ => continue,
        };
        if tx.send(cmd).is_err() {
            return;
        }
    }
}

async fn supervise(a: &Args) -> Report {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || read_control(tx));
    // The supervisor is in a group of its own: these come only from
    // someone who means it (`car kill`, a later car finding a stray).
    // A signal ignored at start (`nohup car run`) stays ignored, for the
    // supervisor and the agent alike.
    let ignored = procfs::ignored_signals().unwrap_or(0);
    let handle = |kind: SignalKind, sig: Signal| {
        let bit = 1u64 << ((sig as i32) - 1);
        if ignored & bit == 0 {
            signal(kind).ok()
        } else {
            None
        }
    };
    let mut term = handle(SignalKind::terminate(), Signal::SIGTERM);
    let mut int = handle(SignalKind::interrupt(), Signal::SIGINT);
    let mut hup = handle(SignalKind::hangup(), Signal::SIGHUP);
    let mut report = Report::default();

    // Wait for car's go: it has recorded this process before anything runs.
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(Cmd::Go) => break,
                Some(_) => {}
                None => return report,
            },
            () = ended(&mut term) => return report,
            () = ended(&mut int) => return report,
            () = ended(&mut hup) => return report,
        }
    }
    process::become_subreaper();
    let stdin = match std::fs::File::open(&a.stdin) {
        Ok(f) => f,
        Err(e) => {
            report.spawn_error = Some(format!("cannot open {}: {e}", a.stdin.display()));
            return report;
        }
    };
    let mut child = match tokio::process::Command::new(&a.program)
        .args(&a.args)
        .stdin(stdin)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            report.not_found = e.kind() == std::io::ErrorKind::NotFound;
            report.spawn_error = Some(e.to_string());
            return report;
        }
    };
    report.started = true;
    let pgid = child.id().unwrap_or(0);
    release_output();

    let mut control_open = true;
    let mut killed = false;
    let status = loop {
        tokio::select! {
            biased;
            status = child.wait() => break status,
            cmd = rx.recv(), if control_open => match cmd {
                Some(Cmd::Term) => { process::signal_group(pgid, Signal::SIGTERM); }
                Some(Cmd::Kill) => { killed = true; process::signal_group(pgid, Signal::SIGKILL); }
                Some(Cmd::Go) => {}
                None => {
                    control_open = false;
                    report.orphaned = true;
                    process::signal_group(pgid, Signal::SIGKILL);
                }
            },
            () = ended(&mut term) => { report.orphaned = true; process::signal_group(pgid, Signal::SIGKILL); }
            () = ended(&mut int) => { report.orphaned = true; process::signal_group(pgid, Signal::SIGKILL); }
            () = ended(&mut hup) => { report.orphaned = true; process::signal_group(pgid, Signal::SIGKILL); }
        }
    };
    if let Ok(s) = status {
        use std::os::unix::process::ExitStatusExt;
        report.exit_code = s.code();
        report.signal = s.signal();
    }
    // Leftovers get a moment to exit cleanly, unless car (or the person
    // behind it) asked for an immediate end.
    let grace = if report.orphaned || killed {
        Duration::ZERO
    } else {
        LEFTOVER_GRACE
    };
    report.leftovers = end_tree(pgid, grace);
    report
}

/// Waits for a signal (forever when its handler could not be installed).
async fn ended(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Points this process's stdout and stderr at /dev/null, so that car's
/// output pipes close as soon as the agent's tree is gone.
fn release_output() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}

/// Ends every live process below this one and in the agent's group `pgid`:
/// SIGTERM and up to `grace` to exit, then SIGKILL round after round (a
/// killed process's children come back to this subreaper) until none is
/// left. Returns how many there were.
fn end_tree(pgid: u32, grace: Duration) -> usize {
    let me = std::process::id();
    let first = procfs::descendants(me);
    if first.is_empty() && !process::group_exists(pgid) {
        reap();
        return 0;
    }
    // The leader is reaped: signal its group only while members remain (an
    // empty group's id may be reused).
    let signal_group = |sig| process::group_exists(pgid) && process::signal_group(pgid, sig);
    if !grace.is_zero() {
        signal_group(Signal::SIGTERM);
        for s in &first {
            process::signal_pid(s.pid, Signal::SIGTERM);
        }
        let until = Instant::now() + grace;
        while Instant::now() < until {
            reap();
            if procfs::descendants(me).is_empty() && !process::group_exists(pgid) {
                return first.len();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    signal_group(Signal::SIGKILL);
    let mut seen = first.len();
    for _ in 0..KILL_ROUNDS {
        let left = procfs::descendants(me);
        if left.is_empty() {
            break;
        }
        seen = seen.max(left.len());
        for s in &left {
            process::signal_pid(s.pid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(5));
        reap();
    }
    reap();
    seen
}

/// Reaps every child that has exited (orphans re-parented to this subreaper).
fn reap() {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_round_trip() {
        let s = Supervision {
            program: "/bin/car".into(),
            prompt_file: "/r/prompt.md".into(),
            status_file: "/r/supervisor.json".into(),
        };
        let v = s.args(Path::new("/bin/agent"), &["--".into(), "-x".into()]);
        assert_eq!(v[0], SUBCOMMAND);
        let a = parse_args(v.into_iter().skip(1)).unwrap();
        assert_eq!(a.stdin, Path::new("/r/prompt.md"));
        assert_eq!(a.status, Path::new("/r/supervisor.json"));
        assert_eq!(a.program, "/bin/agent");
        assert_eq!(a.args, ["--", "-x"]);
        assert!(parse_args(["--bogus".into()]).is_none());
    }

    #[test]
    fn a_report_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        let r = Report {
            started: true,
            signal: Some(9),
            leftovers: 2,
            ..Report::default()
        };
        std::fs::write(&p, serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(read_report(&p), Some(r));
        assert_eq!(read_report(&dir.path().join("none")), None);
    }
}
