//! One terminal session: the agent started in a PTY, a thread reading its
//! output, one writing its input and one waiting for it to end, the size,
//! the clients attached and the last activity (for the idle timeout).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use car_core::{Repo, TerminalRecord};
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::watch;

use super::output::Output;
use crate::error::ApiError;

/// How long the end waits for the last output after the process ended
/// (a process it started may still hold the terminal).
const LAST_OUTPUT: Duration = Duration::from_millis(500);

/// How a session's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Its exit code, when it exited.
    pub(crate) code: Option<i32>,
    /// The signal that ended it, when one did.
    pub(crate) signal: Option<String>,
}

impl Exit {
    /// The reason of the WebSocket's close frame.
    pub(crate) fn close_reason(&self) -> String {
        match (&self.signal, self.code) {
            (Some(s), _) => format!("exit signal {s}"),
            (None, Some(c)) => format!("exit code {c}"),
            (None, None) => "exit".to_string(),
        }
    }
}

/// When the last input, attach or detach happened.
#[derive(Debug)]
struct Activity {
    at: Instant,
    /// Not yet written to the record.
    dirty: bool,
}

/// A live session.
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) repo_id: String,
    pub(crate) repo: Repo,
    pub(crate) output: Output,
    master: Mutex<Box<dyn MasterPty + Send>>,
    input: std::sync::mpsc::Sender<Vec<u8>>,
    exit: watch::Sender<Option<Exit>>,
    clients: AtomicUsize,
    activity: Mutex<Activity>,
    size: Mutex<(u16, u16)>,
    /// Why the server stopped it (`idle`, `server_stopped`), when it did.
    reason: Mutex<Option<&'static str>>,
    /// Held around each change of the record here, so an activity update
    /// never writes back a record read before its end was written.
    record: Mutex<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("repo_id", &self.repo_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn pty_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "io",
        format!("cannot {what} a terminal: {e}"),
    )
}

impl Session {
    /// Starts the repository's agent in a new PTY of `size` (cols, rows),
    /// records it, and starts its threads. Blocking.
    pub(crate) fn start(
        repo: Repo,
        repo_id: String,
        size: (u16, u16),
        by: &str,
    ) -> Result<Arc<Self>, ApiError> {
        let terminals = repo.terminals();
        let (id, cmd) = terminals.prepare().map_err(super::api_error)?;
        let started = (|| {
            let pair = native_pty_system()
                .openpty(pty_size(size))
                .map_err(|e| pty_error("open", e))?;
            let mut b = CommandBuilder::new(&cmd.program);
            b.args(&cmd.args);
            b.cwd(&cmd.cwd);
            b.env_clear();
            for (k, v) in &cmd.env {
                b.env(k, v);
            }
            let child = pair
                .slave
                .spawn_command(b)
                .map_err(|e| pty_error(&format!("start {} in", cmd.program.display()), e))?;
            drop(pair.slave);
            let reader = pair
                .master
                .try_clone_reader()
                .map_err(|e| pty_error("read", e))?;
            let writer = pair
                .master
                .take_writer()
                .map_err(|e| pty_error("write", e))?;
            Ok((pair.master, child, reader, writer))
        })();
        let (master, mut child, reader, writer) = match started {
            Ok(s) => s,
            Err(e) => {
                terminals.release(&id);
                return Err(e);
            }
        };
        let pid = child.process_id().unwrap_or(0);
        let mut argv = vec![cmd.program.display().to_string()];
        argv.extend(cmd.args.iter().cloned());
        if let Err(e) = terminals.record_started(&id, pid, argv, size, by) {
            let _ = child.kill();
            let _ = child.wait();
            terminals.release(&id);
            return Err(super::api_error(e));
        }
        let (input, inputs) = std::sync::mpsc::channel::<Vec<u8>>();
        let session = Arc::new(Self {
            id,
            repo_id,
            repo,
            output: Output::new(),
            master: Mutex::new(master),
            input,
            exit: watch::Sender::new(None),
            clients: AtomicUsize::new(0),
            activity: Mutex::new(Activity {
                at: Instant::now(),
                dirty: false,
            }),
            size: Mutex::new(size),
            reason: Mutex::new(None),
            record: Mutex::new(()),
        });
        let (read_done, read_ended) = std::sync::mpsc::channel::<()>();
        let s = session.clone();
        std::thread::spawn(move || {
            read_output(reader, &s.output);
            let _ = read_done.send(());
        });
        std::thread::spawn(move || write_input(writer, &inputs));
        let s = session.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            // The last output first, so a client gets it before the close.
            let _ = read_ended.recv_timeout(LAST_OUTPUT);
            let exit = match status {
                Ok(st) => match st.signal() {
                    Some(sig) => Exit {
                        code: None,
                        signal: Some(sig.to_string()),
                    },
                    None => Exit {
                        code: i32::try_from(st.exit_code()).ok(),
                        signal: None,
                    },
                },
                Err(_) => Exit {
                    code: None,
                    signal: None,
                },
            };
            let reason = lock(&s.reason).unwrap_or("exited");
            let _record = lock(&s.record);
            if let Err(e) =
                s.repo
                    .terminals()
                    .record_end(&s.id, reason, exit.code, exit.signal.clone())
            {
                tracing::warn!(session = %s.id, "cannot record a terminal's end: {e}");
            }
            s.exit.send_replace(Some(exit));
        });
        Ok(session)
    }

    /// How it ended, once it has; changes once.
    pub(crate) fn exit(&self) -> watch::Receiver<Option<Exit>> {
        self.exit.subscribe()
    }

    /// Resolves once its process has ended.
    pub(crate) async fn wait_ended(exit: &mut watch::Receiver<Option<Exit>>) {
        let _ = exit.wait_for(|e| e.is_some()).await;
    }

    /// Whether its process has ended.
    pub(crate) fn ended(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Writes `bytes` to the terminal (what a person typed).
    pub(crate) fn write(&self, bytes: Vec<u8>) {
        self.touch();
        let _ = self.input.send(bytes);
    }

    /// Resizes the terminal.
    pub(crate) fn resize(&self, size: (u16, u16)) -> Result<(), ApiError> {
        lock(&self.master)
            .resize(pty_size(size))
            .map_err(|e| pty_error("resize", e))?;
        *lock(&self.size) = size;
        self.touch();
        Ok(())
    }

    /// A client attaches: counts it.
    pub(crate) fn attach(&self) {
        self.clients.fetch_add(1, Ordering::SeqCst);
        self.touch();
    }

    /// A client goes.
    pub(crate) fn detach(&self) {
        self.clients.fetch_sub(1, Ordering::SeqCst);
        self.touch();
    }

    /// How many clients are attached.
    pub(crate) fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    fn touch(&self) {
        let mut a = lock(&self.activity);
        a.at = Instant::now();
        a.dirty = true;
    }

    /// Whether no client is attached and nothing happened for `timeout`.
    pub(crate) fn idle_for(&self, timeout: Duration) -> bool {
        self.clients() == 0 && lock(&self.activity).at.elapsed() >= timeout
    }

    /// Writes the last activity and the size to the record when they
    /// changed. Blocking.
    pub(crate) fn flush(&self) {
        let dirty = std::mem::take(&mut lock(&self.activity).dirty);
        let _record = lock(&self.record);
        if !dirty || self.ended() {
            return;
        }
        let (cols, rows) = *lock(&self.size);
        let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let written = self.repo.terminals().update(&self.id, |r| {
            r.last_activity = at;
            r.cols = cols;
            r.rows = rows;
        });
        if let Err(e) = written {
            // Tried again at the next tick.
            lock(&self.activity).dirty = true;
            tracing::warn!(session = %self.id, "cannot record a terminal's activity: {e}");
        }
    }

    /// Stops it for `by` (`reason`: why the server does, if it does): its
    /// process group gets SIGTERM, then SIGKILL after a grace; returns its
    /// record once it has ended.
    pub(crate) async fn stop(
        self: &Arc<Self>,
        by: String,
        reason: Option<&'static str>,
    ) -> Result<TerminalRecord, ApiError> {
        if let Some(r) = reason {
            lock(&self.reason).get_or_insert(r);
        }
        let s = self.clone();
        crate::routes::blocking(move || {
            let _record = lock(&s.record);
            s.repo
                .terminals()
                .stop(&s.id, &by)
                .map_err(super::api_error)
        })
        .await?;
        let mut exit = self.exit();
        let _ = tokio::time::timeout(Duration::from_secs(5), exit.wait_for(|e| e.is_some())).await;
        let s = self.clone();
        crate::routes::blocking(move || s.repo.terminals().get(&s.id).map_err(super::api_error))
            .await
    }
}

fn pty_size((cols, rows): (u16, u16)) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// Reads the PTY until it closes (every process holding it is gone).
fn read_output(mut reader: Box<dyn Read + Send>, output: &Output) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => output.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Writes what clients type, in order, until the session goes.
fn write_input(mut writer: Box<dyn Write + Send>, inputs: &std::sync::mpsc::Receiver<Vec<u8>>) {
    while let Ok(bytes) = inputs.recv() {
        if writer
            .write_all(&bytes)
            .and_then(|()| writer.flush())
            .is_err()
        {
            return;
        }
    }
}
