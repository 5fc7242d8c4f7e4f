//! Running one agent process: started as the leader of its own process
//! group (or under its supervisor), fed the prompt, its output streamed to
//! the run's log until it exits, a limit passes, or a stop is asked for.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use super::group::{GroupGuard, stop_leftovers, supervised_exit};
use super::lines::{LineSplitter, Stream};
use super::output_log::CHUNK;
use super::{
    AgentCommand, AgentError, AgentOutcome, EndCause, ExitKind, Limits, OutputLog, Started,
};
use crate::process;
use crate::stop::{StopLevel, StopRequest};
use crate::supervisor::{Control, Launch};

/// Kernel buffer asked for each output pipe (the default maximum an
/// unprivileged process may set is 1 MiB).
#[cfg(target_os = "linux")]
const PIPE_BYTES: i32 = 1024 * 1024;
/// Chunks in flight between the pipe readers and the log writer: with
/// [`CHUNK`], at most 1 MiB of output is buffered in memory.
const CHANNEL_CHUNKS: usize = 16;
/// After the agent exits, how long to wait for its pipes to close before
/// killing what is left of its process group (a grandchild holding them).
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);

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
