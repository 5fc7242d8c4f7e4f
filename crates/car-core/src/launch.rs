//! Starting a loop process: `car run`, `car once` or `car resume` as a
//! process of its own, detached from the one that starts it.
//!
//! A loop is one runner process. A front end (a server, a hub, a bot)
//! starts one with [`Repo::launch`] and then observes and drives it through
//! its files like any other program ([`Repo::follow_events`],
//! [`Repo::control`]): the runner lives in a session of its own, with no
//! terminal and its standard streams on `/dev/null`, so neither the end of
//! the program that started it nor a hangup of that program's terminal
//! stops it.

use std::ffi::{CString, OsString};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawnp};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fs_util::PathError;
use crate::repo::Repo;

/// The loop command a launched runner process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum LoopCommand {
    /// `car run`: the loop, until a stop condition holds or after
    /// `max_runs` runs (`None`: the configuration's limit).
    Run {
        /// The run limit of this invocation.
        max_runs: Option<u64>,
    },
    /// `car once`: one iteration.
    Once,
    /// `car resume`: clears a stop request and a dead runner's state, then
    /// the loop (as [`LoopCommand::Run`]).
    Resume {
        /// The run limit of this invocation.
        max_runs: Option<u64>,
    },
}

impl LoopCommand {
    /// The arguments after the repository: the subcommand, `--quiet` (the
    /// runner has no terminal to print to) and the run limit.
    fn args(self) -> Vec<OsString> {
        let (name, max_runs) = match self {
            Self::Run { max_runs } => ("run", max_runs),
            Self::Once => ("once", None),
            Self::Resume { max_runs } => ("resume", max_runs),
        };
        let mut args: Vec<OsString> = vec![name.into(), "--quiet".into()];
        if let Some(n) = max_runs {
            args.extend(["--max-runs".into(), n.to_string().into()]);
        }
        args
    }
}

/// What [`Repo::launch`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum LaunchReport {
    /// A runner process was started.
    Started {
        /// Its pid.
        pid: u32,
    },
    /// A runner is active already: nothing was started.
    AlreadyRunning {
        /// Its pid.
        pid: u32,
    },
}

impl Repo {
    /// Starts a runner process for this repository: `program --repo <root>
    /// <command> --quiet`, where `program` is the `car` binary (or one that
    /// behaves alike), in a session of its own (see the module docs), and
    /// returns without waiting for it. Nothing is started while a runner
    /// is active. The loop then lives on its own: follow it with
    /// [`Repo::follow_events`] and drive it with [`Repo::control`].
    ///
    /// A runner that another process starts between this check and the
    /// new runner's lock wins: the new one then exits at once, and the
    /// ledger says nothing of it.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), car_core::Error> {
    /// use car_core::{LaunchReport, LoopCommand, Repo};
    ///
    /// let repo = Repo::open("/path/to/repo")?;
    /// match repo.launch("/usr/local/bin/car", LoopCommand::Run { max_runs: Some(3) })? {
    ///     LaunchReport::Started { pid } => println!("runner {pid} started"),
    ///     LaunchReport::AlreadyRunning { pid } => println!("runner {pid} is at work"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn launch(
        &self,
        program: impl AsRef<Path>,
        command: LoopCommand,
    ) -> Result<LaunchReport, Error> {
        let paths = &self.resolved_config().paths;
        if let Some(r) = crate::control::live_runner(paths)? {
            return Ok(LaunchReport::AlreadyRunning { pid: r.pid });
        }
        let pid = spawn_runner(program.as_ref(), &paths.root, command)?;
        Ok(LaunchReport::Started { pid })
    }
}

/// Starts `program --repo <root> <command> --quiet` (see [`spawn_detached`]).
pub(crate) fn spawn_runner(
    program: &Path,
    root: &Path,
    command: LoopCommand,
) -> Result<u32, PathError> {
    let mut args: Vec<OsString> = vec!["--repo".into(), root.into()];
    args.extend(command.args());
    spawn_detached(program, args)
}

/// Starts `program` with `args` in a new session, with this process's
/// environment and its standard streams on `/dev/null`; a thread reaps it
/// when it ends. Returns its pid.
pub(crate) fn spawn_detached(program: &Path, args: Vec<OsString>) -> Result<u32, PathError> {
    let cannot_start = |source: std::io::Error| PathError {
        action: "cannot start",
        path: PathBuf::from(program),
        source,
    };
    let mut argv: Vec<OsString> = vec![program.into()];
    argv.extend(args);
    let argv = c_strings(argv).map_err(cannot_start)?;
    let envp = c_strings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }))
    .map_err(cannot_start)?;

    // Opened with close-on-exec; the copies made as 0, 1 and 2 are not.
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|source| PathError {
            action: "cannot open",
            path: PathBuf::from("/dev/null"),
            source,
        })?;
    let mut actions = PosixSpawnFileActions::init().map_err(|e| cannot_start(e.into()))?;
    for fd in 0..=2 {
        actions
            .add_dup2(null.as_raw_fd(), fd)
            .map_err(|e| cannot_start(e.into()))?;
    }
    // Nothing else is inherited: a descriptor without close-on-exec (a
    // pipe or socket this process was given by its own parent) would stay
    // open in the runner for as long as the loop lives. A descriptor
    // closed meanwhile is no error for posix_spawn.
    for fd in crate::procfs::own_fds().into_iter().filter(|&fd| fd > 2) {
        actions.add_close(fd).map_err(|e| cannot_start(e.into()))?;
    }
    let mut attr = PosixSpawnAttr::init().map_err(|e| cannot_start(e.into()))?;
    attr.set_flags(new_session_flag())
        .map_err(|e| cannot_start(e.into()))?;
    // A bare name (`car`) is searched in PATH, as a shell would.
    let pid = posix_spawnp(&argv[0], &actions, &attr, &argv, &envp)
        .map_err(|e| cannot_start(e.into()))?;

    let reaper = std::thread::Builder::new()
        .name("car-launch-reaper".into())
        .spawn(move || {
            let _ = nix::sys::wait::waitpid(pid, None);
        });
    if let Err(e) = reaper {
        tracing::warn!(error = %e, "cannot start a thread to reap the launched runner");
    }
    Ok(pid.as_raw().unsigned_abs())
}

/// `POSIX_SPAWN_SETSID`: the child starts a new session (and process
/// group) of its own, with no controlling terminal.
fn new_session_flag() -> PosixSpawnFlags {
    #[cfg(target_os = "linux")]
    let bits = nix::libc::c_int::from(nix::libc::POSIX_SPAWN_SETSID);
    // The value of <spawn.h> on macOS, which the libc crate does not name.
    #[cfg(target_vendor = "apple")]
    // With POSIX_SPAWN_CLOEXEC_DEFAULT: only the descriptors the file
    // actions make (0, 1 and 2) are inherited.
    let bits: nix::libc::c_int = 0x0400 | nix::libc::POSIX_SPAWN_CLOEXEC_DEFAULT;
    PosixSpawnFlags::from_bits_retain(bits)
}

/// NUL-terminated copies of `items`; an item holding a NUL is an error.
fn c_strings(items: impl IntoIterator<Item = OsString>) -> std::io::Result<Vec<CString>> {
    items
        .into_iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits up to 5 s for `path` to hold `want` lines.
    fn lines_of(path: &Path, want: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            if lines.len() >= want || Instant::now() > deadline {
                return lines;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A stand-in for `car` that records its arguments, its session and
    /// process group, and what its standard input holds.
    fn recorder(dir: &Path) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let out = dir.join("out");
        let script = dir.join("fake-car");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nout={}\necho \"$*\" > \"$out.tmp\"\n\
                 awk '{{print $6; print $5}}' /proc/$$/stat >> \"$out.tmp\"\n\
                 wc -c < /dev/stdin | tr -d ' ' >> \"$out.tmp\"\n\
                 mv \"$out.tmp\" \"$out\"\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        (script, out)
    }

    #[test]
    fn the_runner_gets_the_repository_and_command_in_a_session_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let (script, out) = recorder(dir.path());
        let root = dir.path().join("repo");
        let pid = spawn_runner(&script, &root, LoopCommand::Run { max_runs: Some(3) }).unwrap();
        let lines = lines_of(&out, 4);
        assert_eq!(
            lines[0],
            format!("--repo {} run --quiet --max-runs 3", root.display())
        );
        // Session leader and group leader: sid = pgid = its pid, unlike ours.
        assert_eq!(lines[1], pid.to_string(), "{lines:?}");
        assert_eq!(lines[2], pid.to_string(), "{lines:?}");
        assert_ne!(
            nix::unistd::getsid(None).unwrap().as_raw().unsigned_abs(),
            pid
        );
        // Its stdin is /dev/null, not ours.
        assert_eq!(lines[3], "0");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_runner_inherits_no_descriptor_but_its_standard_streams() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::open(dir.path()).unwrap();
        // A copy without close-on-exec, as a parent may hand down.
        let inherited = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_DUPFD(300)).unwrap();
        let out = dir.path().join("out");
        let script = dir.path().join("fake-car");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nif [ -e /proc/$$/fd/{inherited} ]; then echo open; \
                 else echo closed; fi > {out}.tmp\nmv {out}.tmp {out}\n",
                out = out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        spawn_runner(&script, dir.path(), LoopCommand::Once).unwrap();
        let lines = lines_of(&out, 1);
        nix::unistd::close(inherited).unwrap();
        assert_eq!(lines, ["closed"], "fd {inherited} was inherited");
    }

    #[test]
    fn each_command_names_its_subcommand() {
        let args = |c: LoopCommand| {
            c.args()
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(args(LoopCommand::Once), "once --quiet");
        assert_eq!(args(LoopCommand::Run { max_runs: None }), "run --quiet");
        assert_eq!(
            args(LoopCommand::Resume { max_runs: Some(2) }),
            "resume --quiet --max-runs 2"
        );
    }

    #[test]
    fn a_bare_program_name_is_searched_in_path() {
        // `true` is on every PATH and never in the test's directory.
        let dir = tempfile::tempdir().unwrap();
        let pid = spawn_runner(Path::new("true"), dir.path(), LoopCommand::Once);
        assert!(pid.is_ok(), "{pid:?}");
    }

    #[test]
    fn a_missing_program_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let e =
            spawn_runner(&dir.path().join("no-car"), dir.path(), LoopCommand::Once).unwrap_err();
        assert_eq!(e.action, "cannot start");
        assert_eq!(e.path, dir.path().join("no-car"));
        assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
    }
}
