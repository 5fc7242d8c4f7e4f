//! The one way car runs git: every invocation goes through [`Git`], which
//! gives git no stdin, no terminal prompt and no automatic gc or
//! maintenance, and kills it (with whatever it started) when it does not
//! finish in time. On top of it, the little git car needs: is this a
//! repository, commit the work tree after a run, `git init`, and read-only
//! queries for snapshots and checks.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// Longest a git command that writes (add, commit, init) may take: it may
/// have to hash many new files.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest a read-only query (status, ls-files, rev-parse, diff) may take.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// After git exited, how long its pipes may stay open (held by something
/// it started) before what is left of its process group is killed.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Settings given to every git command car runs: no automatic `gc` or
/// maintenance in the foreground of a loop (nor detached, where car as a
/// subreaper would end it with an agent's leftovers).
const CONFIG: [&str; 4] = ["-c", "gc.auto=0", "-c", "maintenance.auto=false"];

/// Errors running git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// git could not be started.
    #[error("cannot run git")]
    Spawn(#[source] std::io::Error),
    /// A git command failed.
    #[error("`git {args}` failed: {stderr}")]
    Failed {
        /// The arguments.
        args: String,
        /// Its stderr.
        stderr: String,
    },
    /// A git command did not finish in time and was killed.
    #[error("`git {args}` did not finish within {after:?} and was stopped")]
    TimedOut {
        /// The arguments.
        args: String,
        /// The time it was given.
        after: Duration,
    },
}

/// What a finished git command returned.
#[derive(Debug)]
pub(crate) struct GitOutput {
    /// How it exited.
    pub status: ExitStatus,
    /// Its whole stdout.
    pub stdout: Vec<u8>,
    /// Its whole stderr.
    pub stderr: Vec<u8>,
}

/// Settings of a git that must run none of the user's code: no hooks
/// (`post-index-change`, `reference-transaction`, ...), no fsmonitor.
const NO_HOOKS: [&str; 4] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
];

/// A git program and the time each of its commands is given.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    program: PathBuf,
    timeout: Duration,
    no_hooks: bool,
}

impl Git {
    /// `git` from PATH, with `timeout` per command.
    pub(crate) fn new(timeout: Duration) -> Self {
        Self::with_program("git", timeout)
    }

    /// A given git program (a path, or a name looked up on PATH).
    pub(crate) fn with_program(program: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            program: program.into(),
            timeout,
            no_hooks: false,
        }
    }

    /// This git, running none of the repository's hooks nor its fsmonitor
    /// (for work in the background the user did not ask of their checkout).
    pub(crate) fn without_hooks(mut self) -> Self {
        self.no_hooks = true;
        self
    }

    /// Runs `git <args>` in `root` and returns its output, whatever its exit
    /// status. It runs as the leader of a process group of its own, so that
    /// on timeout it is killed with everything it started.
    pub(crate) fn run(&self, root: &Path, args: &[&str]) -> Result<GitOutput, GitError> {
        self.run_env(root, args, &[])
    }

    pub(crate) fn run_env(
        &self,
        root: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<GitOutput, GitError> {
        let no_hooks: &[&str] = if self.no_hooks { &NO_HOOKS } else { &[] };
        let mut child = Command::new(&self.program)
            .args(CONFIG)
            .args(no_hooks)
            .args(args)
            .current_dir(root)
            .env("GIT_TERMINAL_PROMPT", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(GitError::Spawn)?;
        let pgid = child.id();
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            read_to_end(out, 0, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            read_to_end(err, 1, tx.clone());
        }
        drop(tx);
        let deadline = Instant::now() + self.timeout;
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Ok(None) => {
                    crate::process::signal_group(pgid, Signal::SIGKILL);
                    let _ = child.wait();
                    tracing::warn!(args = %args.join(" "), "git did not finish in time; killed");
                    return Err(GitError::TimedOut {
                        args: args.join(" "),
                        after: self.timeout,
                    });
                }
                Err(e) => {
                    crate::process::signal_group(pgid, Signal::SIGKILL);
                    let _ = child.wait();
                    return Err(GitError::Spawn(e));
                }
            }
        };
        let mut streams = [Vec::new(), Vec::new()];
        let mut open = 2;
        let mut pipes_until = Instant::now() + PIPE_GRACE;
        let mut killed = false;
        while open > 0 {
            match rx.recv_timeout(pipes_until.saturating_duration_since(Instant::now())) {
                Ok((i, bytes)) => {
                    streams[i] = bytes;
                    open -= 1;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                // Something git started holds its pipes: end it, then give
                // the readers a moment to see the pipes close.
                Err(mpsc::RecvTimeoutError::Timeout) if !killed => {
                    crate::process::signal_group(pgid, Signal::SIGKILL);
                    killed = true;
                    pipes_until = Instant::now() + Duration::from_millis(200);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
            }
        }
        let [stdout, stderr] = streams;
        Ok(GitOutput {
            status,
            stdout,
            stderr,
        })
    }

    /// Runs `git <args>` and returns its stdout, trimmed; an error when it
    /// fails.
    pub(crate) fn checked(&self, root: &Path, args: &[&str]) -> Result<String, GitError> {
        let out = self.run(root, args)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(GitError::Failed {
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Runs a read-only `git <args>` (taking no optional lock, so it never
    /// gets in the way of a git the agent runs) and returns its stdout, or
    /// `None` when git fails, is missing or does not finish in time.
    pub(crate) fn query_bytes(&self, root: &Path, args: &[&str]) -> Option<Vec<u8>> {
        match self.run_env(root, args, &[("GIT_OPTIONAL_LOCKS", "0")]) {
            Ok(out) if out.status.success() => Some(out.stdout),
            Ok(_) | Err(GitError::Spawn(_) | GitError::Failed { .. }) => None,
            Err(e @ GitError::TimedOut { .. }) => {
                tracing::warn!(error = %e, "git query abandoned");
                None
            }
        }
    }

    /// Stages every change of the work tree (honouring .gitignore) and
    /// commits it with `message`. Returns the new commit id, or `None` when
    /// there was nothing to commit.
    pub(crate) fn commit_all(
        &self,
        root: &Path,
        message: &str,
    ) -> Result<Option<String>, GitError> {
        self.checked(root, &["add", "--all"])?;
        let staged = ["diff", "--cached", "--quiet"];
        let out = self.run(root, &staged)?;
        match out.status.code() {
            Some(0) => return Ok(None),
            Some(1) => {}
            _ => {
                return Err(GitError::Failed {
                    args: staged.join(" "),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
        }
        self.checked(root, &["commit", "--quiet", "--no-verify", "-m", message])?;
        self.checked(root, &["rev-parse", "HEAD"]).map(Some)
    }
}

/// Reads all of `r` on a thread of its own and sends it as stream `index`.
fn read_to_end(
    mut r: impl Read + Send + 'static,
    index: usize,
    tx: mpsc::Sender<(usize, Vec<u8>)>,
) {
    let spawned = std::thread::Builder::new()
        .name("git-pipe".into())
        .spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            let _ = tx.send((index, buf));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a thread to read git's output");
    }
}

/// Returns whether `root` is (inside) a git work tree, without running git.
pub(crate) fn is_repo(root: &Path) -> bool {
    root.ancestors().any(|d| d.join(".git").exists())
}

/// Stages and commits every change of the work tree (see
/// [`Git::commit_all`]), with [`WRITE_TIMEOUT`] per git command.
pub(crate) fn commit_all(root: &Path, message: &str) -> Result<Option<String>, GitError> {
    Git::new(WRITE_TIMEOUT).commit_all(root, message)
}

/// Runs `git init` in `root`.
pub(crate) fn init(root: &Path) -> Result<(), GitError> {
    Git::new(WRITE_TIMEOUT)
        .checked(root, &["init", "--quiet"])
        .map(|_| ())
}

/// A read-only query's stdout as text with the end trimmed (porcelain
/// lines start with meaningful spaces); `None` when git fails or says
/// nothing.
pub(crate) fn query(root: &Path, args: &[&str]) -> Option<String> {
    let out = Git::new(QUERY_TIMEOUT).query_bytes(root, args)?;
    Some(String::from_utf8_lossy(&out).trim_end().to_string()).filter(|s| !s.trim().is_empty())
}

/// The files git tracks in `root` (`git ls-files`); `None` when git cannot
/// say.
pub(crate) fn tracked_files(root: &Path) -> Option<Vec<String>> {
    let out = Git::new(QUERY_TIMEOUT).query_bytes(root, &["ls-files", "-z"])?;
    Some(
        out.split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes an executable shell script standing in for git.
    fn fake_git(dir: &Path, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("fake-git");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_hung_git_is_killed_with_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("sleep.pid");
        let git = Git::with_program(
            fake_git(
                dir.path(),
                &format!("sleep 30 &\necho $! > {}\nwait", pid_file.display()),
            ),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let err = git.commit_all(dir.path(), "msg").unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(err, GitError::TimedOut { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "`git add --all` did not finish within 300ms and was stopped"
        );
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = Instant::now() + Duration::from_secs(3);
        while crate::process::is_alive(pid) && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!crate::process::is_alive(pid), "git's child survived");
        // A query that times out is an unknown answer, not a hang.
        let slow = Git::with_program(fake_git(dir.path(), "sleep 30"), Duration::from_millis(100));
        assert_eq!(slow.query_bytes(dir.path(), &["status"]), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn git_gets_no_stdin_and_no_automatic_gc() {
        let dir = tempfile::tempdir().unwrap();
        let git = Git::with_program(
            fake_git(
                dir.path(),
                "readlink /proc/self/fd/0\necho \"$@\"\necho \"$GIT_TERMINAL_PROMPT\" >&2",
            ),
            Duration::from_secs(10),
        );
        let out = git.run(dir.path(), &["status"]).unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "/dev/null\n-c gc.auto=0 -c maintenance.auto=false status\n"
        );
        assert_eq!(out.stderr, b"0\n");
    }

    #[test]
    fn a_failing_git_says_which_command_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let git = Git::with_program(
            fake_git(dir.path(), "echo 'fatal: broken' >&2; exit 128"),
            Duration::from_secs(10),
        );
        let err = git.checked(dir.path(), &["init", "--quiet"]).unwrap_err();
        assert_eq!(err.to_string(), "`git init --quiet` failed: fatal: broken");
        assert_eq!(git.query_bytes(dir.path(), &["status"]), None);
        let missing = Git::with_program(dir.path().join("no-such-git"), Duration::from_secs(1));
        assert!(matches!(
            missing.run(dir.path(), &["status"]),
            Err(GitError::Spawn(_))
        ));
    }

    #[test]
    fn commit_all_commits_changes_and_nothing_else() {
        let has_git = Command::new("git")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_git {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        init(root).unwrap();
        let git = Git::new(WRITE_TIMEOUT);
        git.checked(root, &["config", "user.email", "car@example.invalid"])
            .unwrap();
        git.checked(root, &["config", "user.name", "car"]).unwrap();
        assert_eq!(commit_all(root, "nothing").unwrap(), None);
        std::fs::write(root.join("a.txt"), "a\n").unwrap();
        let id = commit_all(root, "add a").unwrap().unwrap();
        assert_eq!(id.len(), 40, "{id}");
        assert_eq!(
            query(root, &["log", "--format=%s"]).as_deref(),
            Some("add a")
        );
        assert_eq!(tracked_files(root).unwrap(), ["a.txt"]);
        assert_eq!(query(root, &["status", "--porcelain"]), None);
        assert_eq!(commit_all(root, "again").unwrap(), None);
    }
}
