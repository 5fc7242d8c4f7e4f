//! `car doctor`: checks a repository's setup and says how to fix each problem.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::config::{self, LoadOptions};
use crate::docs::{self, DocKind};
use crate::fs_util::read_optional;
use crate::hint::Hint;
use crate::lock::{self, LockStatus};
use crate::paths::RepoPaths;
use crate::state::{StateStore, Status};

/// Free space below which logs and run records are at risk.
const DISK_FAIL_BYTES: u64 = 100 * 1024 * 1024;
/// Free space below which doctor warns.
const DISK_WARN_BYTES: u64 = 1024 * 1024 * 1024;
/// How long `codex --version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(20);

/// How a check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken: the loop will not work (well).
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorCheck {
    /// What was checked.
    pub name: &'static str,
    /// The result.
    pub status: CheckStatus,
    /// What was found.
    pub detail: String,
    /// How to fix it, in words any front end can show.
    pub hint: Option<String>,
    /// What would fix it, for a front end to say in its own words.
    pub advice: Option<Hint>,
}

impl DoctorCheck {
    fn advise(mut self, h: Hint) -> Self {
        self.advice = Some(h);
        self
    }
}

/// All checks.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The checks, in order.
    pub checks: Vec<DoctorCheck>,
    /// Whether no check failed (warnings allowed).
    pub ok: bool,
}

fn check(
    name: &'static str,
    status: CheckStatus,
    detail: impl Into<String>,
    hint: Option<&str>,
) -> DoctorCheck {
    DoctorCheck {
        name,
        status,
        detail: detail.into(),
        hint: hint.map(str::to_string),
        advice: None,
    }
}

/// Checks the repository at or above `start`; works with a broken config.
pub fn doctor(
    start: &Path,
    load: &LoadOptions,
    path_env: Option<&std::ffi::OsString>,
) -> DoctorReport {
    use CheckStatus::{Fail, Ok, Warn};
    let mut checks = Vec::new();
    let Some(paths) = RepoPaths::discover(start) else {
        checks.push(
            check(
                "repository",
                Fail,
                format!(
                    "no .codex-autorunner/config.yml in {} or its parents",
                    start.display()
                ),
                None,
            )
            .advise(Hint::InitRepo),
        );
        return DoctorReport { checks, ok: false };
    };
    checks.push(check(
        "repository",
        Ok,
        paths.root.display().to_string(),
        None,
    ));

    let resolved = match config::load(&paths, load) {
        Result::Ok(r) => {
            if r.warnings.is_empty() {
                checks.push(check("config", Ok, "valid", None));
            } else {
                let list: Vec<String> = r.warnings.iter().map(ToString::to_string).collect();
                checks.push(check(
                    "config",
                    Warn,
                    list.join("; "),
                    Some("remove or fix the unknown keys"),
                ));
            }
            Some(r)
        }
        Err(e) => {
            checks.push(check(
                "config",
                Fail,
                crate::engine::error_chain(&e),
                Some("fix the named file or key"),
            ));
            None
        }
    };

    if let Some(r) = &resolved {
        let cfg = &r.config;
        match crate::agent::resolve_binary(&cfg.codex.binary, &cfg.root, path_env) {
            Result::Ok((program, path)) => {
                let version = version_of(&program, &path);
                match (version, crate::codex::runs_exec(&cfg.codex.args)) {
                    (Err(why), _) => checks.push(check(
                        "agent",
                        Warn,
                        format!("{} ({why})", program.display()),
                        Some("check that this is the Codex CLI and that it runs: try `codex --version`"),
                    )),
                    (Result::Ok(v), true) if crate::codex::parse_version(&v).is_some_and(|p| p < crate::codex::OLDEST_TESTED_VERSION) => checks.push(check(
                        "agent",
                        Warn,
                        format!("{} ({v})", program.display()),
                        Some("older than the oldest version car is tested with (0.169.0)"),
                    ).advise(Hint::UpgradeCodex)),
                    (Result::Ok(v), _) => checks.push(check("agent", Ok, format!("{} ({v})", program.display()), None)),
                }
            }
            Err(e) => {
                checks.push(check("agent", Fail, e.to_string(), None).advise(Hint::InstallCodex))
            }
        }
    }

    // The docs and git checks work with the defaults when the config is broken.
    let fallback = resolved
        .as_ref()
        .map(|r| r.config.clone())
        .or_else(|| config::defaults(&paths).ok().map(|r| r.config));
    if let Some(cfg) = &fallback {
        let mut missing = Vec::new();
        for kind in DocKind::ALL {
            if !kind.path(&cfg.docs).exists() {
                missing.push(cfg.display_path(kind.path(&cfg.docs)));
            }
        }
        // Every doc goes into the prompt: one that is not UTF-8 fails the run.
        if let Err(e) = docs::Docs::load(&cfg.docs) {
            checks.push(check(
                "docs",
                Fail,
                crate::engine::error_chain(&e),
                Some("re-save the named file as UTF-8 text"),
            ));
        } else if missing.is_empty() {
            checks.push(check("docs", Ok, "all five present", None));
        } else {
            checks.push(
                check(
                    "docs",
                    Warn,
                    format!("missing: {}", missing.join(", ")),
                    None,
                )
                .advise(Hint::InitRepo),
            );
        }
        let todo = cfg.display_path(&cfg.docs.todo);
        match read_optional(&cfg.docs.todo).map(|b| b.map(String::from_utf8)) {
            Result::Ok(Some(Result::Ok(t))) => {
                let s = docs::parse_todo(&t);
                if s.total == 0 {
                    checks.push(
                        check("todo", Fail, format!("{todo}: no checkbox items"), None)
                            .advise(Hint::WriteTodo),
                    );
                } else if let Some(task) = crate::templates::placeholder_task(&t) {
                    checks.push(
                        check(
                            "todo",
                            Fail,
                            format!(
                                "{} still holds the template item \"{task}\"",
                                cfg.display_path(&cfg.docs.todo)
                            ),
                            None,
                        )
                        .advise(Hint::WriteTodo),
                    );
                } else {
                    checks.push(check(
                        "todo",
                        Ok,
                        format!("{todo}: {}/{} done", s.done, s.total),
                        None,
                    ));
                }
            }
            Result::Ok(Some(Err(_))) => checks.push(check(
                "todo",
                Fail,
                format!("{todo}: not UTF-8 text"),
                Some("re-save it as UTF-8"),
            )),
            Result::Ok(None) => checks
                .push(check("todo", Fail, format!("{todo}: missing"), None).advise(Hint::InitRepo)),
            Err(e) => checks.push(check("todo", Fail, format!("{todo}: {e}"), None)),
        }

        let gitignore = std::fs::read_to_string(paths.gitignore()).unwrap_or_default();
        if gitignore.trim() == "*" {
            checks.push(check(
                "gitignore",
                Warn,
                ".codex-autorunner/.gitignore ignores everything (the Python program's), so the docs are not versioned",
                None,
            )
            .advise(Hint::ReinitRepo));
        }
        if crate::git::is_repo(&cfg.root) {
            match crate::git::query(&cfg.root, &["status", "--porcelain"]) {
                None => checks.push(check("git", Ok, "a repository, clean", None)),
                Some(s) => checks.push(check(
                    "git",
                    Ok,
                    format!("a repository, {} uncommitted change(s)", s.lines().count()),
                    None,
                )),
            }
        } else if crate::codex::runs_exec(&cfg.codex.args) {
            checks.push(check(
                "git",
                Fail,
                "not a git repository; `codex exec` refuses to run outside one",
                Some("run `git init`, or add --skip-git-repo-check to codex.args"),
            ));
        } else {
            checks.push(check(
                "git",
                Warn,
                "not a git repository",
                Some("git.auto_commit and change detection work best with git"),
            ));
        }
    }

    match lock::probe(&paths) {
        LockStatus::Held(h) => checks.push(check(
            "lock",
            Ok,
            format!(
                "held by {}",
                h.map_or_else(|| "an unknown runner".into(), |i| i.describe())
            ),
            None,
        )),
        LockStatus::Stale(h) => checks.push(check(
            "lock",
            Warn,
            format!(
                "stale lock file of {}; it does not block",
                h.map_or_else(|| "an unknown runner".into(), |i| i.describe())
            ),
            Some("the next run removes it"),
        )),
        LockStatus::Free => checks.push(check("lock", Ok, "free", None)),
    }

    match StateStore::new(&paths).load() {
        Result::Ok(l) => match (l.corrupt, l.state.status) {
            (Some(why), _) => checks.push(check(
                "state",
                Fail,
                format!("corrupt: {why}"),
                Some("the next run moves it aside and starts fresh"),
            )),
            (None, Status::Running | Status::WaitingForQuota)
                if !matches!(lock::probe(&paths), LockStatus::Held(_)) =>
            {
                checks.push(
                    check(
                        "state",
                        Warn,
                        "says running, but no runner holds the lock",
                        None,
                    )
                    .advise(Hint::RepairState),
                )
            }
            (None, _) if l.state.pending_question.is_some() => checks.push(
                check(
                    "state",
                    Warn,
                    format!(
                        "an open question: {}",
                        l.state
                            .pending_question
                            .map(|q| q.question)
                            .unwrap_or_default()
                    ),
                    None,
                )
                .advise(Hint::AnswerThenResume),
            ),
            (None, st) => checks.push(check("state", Ok, st.as_str(), None)),
        },
        Err(e) => checks.push(check("state", Fail, e.to_string(), None)),
    }

    match nix::sys::statvfs::statvfs(&paths.car_dir) {
        Result::Ok(v) => {
            #[allow(
                clippy::useless_conversion,
                reason = "the field types differ between platforms"
            )]
            let free = u64::from(v.blocks_available()).saturating_mul(u64::from(v.fragment_size()));
            let mb = free / (1024 * 1024);
            let status = if free < DISK_FAIL_BYTES {
                Fail
            } else if free < DISK_WARN_BYTES {
                Warn
            } else {
                Ok
            };
            checks.push(check(
                "disk",
                status,
                format!("{mb} MiB free for logs and run records"),
                (status != Ok)
                    .then_some("free some space; run logs are in .codex-autorunner/runs/"),
            ));
        }
        Err(e) => checks.push(check(
            "disk",
            Warn,
            format!("cannot tell free space: {e}"),
            None,
        )),
    }

    if let Some(r) = &resolved
        && let Some((status, detail, fix)) = ntfy_buttons(&r.config)
    {
        checks.push(check("ntfy buttons", status, detail, fix));
    }

    let ok = checks.iter().all(|c| c.status != CheckStatus::Fail);
    DoctorReport { checks, ok }
}

/// Runs `program --version` with a timeout; returns its first line.
fn version_of(program: &Path, path: &std::ffi::OsStr) -> Result<String, String> {
    let mut child = std::process::Command::new(program)
        .arg("--version")
        .env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Result::Ok(Some(status)) => {
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut o, &mut out);
                }
                let line = out.lines().next().unwrap_or("").trim().to_string();
                return if status.success() && !line.is_empty() {
                    Result::Ok(line)
                } else {
                    Err(format!("`--version` printed no version ({status})"))
                };
            }
            Result::Ok(None) if start.elapsed() < VERSION_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`--version` did not answer within {}s",
                    VERSION_TIMEOUT.as_secs()
                ));
            }
        }
    }
}

/// Whether a question's ntfy notification has its buttons (only when
/// ntfy is in use).
fn ntfy_buttons(cfg: &config::Config) -> Option<(CheckStatus, String, Option<&'static str>)> {
    use crate::notify::question_actions::{ButtonsOff, QuestionActions};
    let (providers, _) = crate::notify::providers::from_config(&cfg.notifications, &cfg.root);
    if !providers.iter().any(|p| p.name == "ntfy") {
        return None;
    }
    Some(match QuestionActions::from_config(cfg) {
        Result::Ok(b) => (
            CheckStatus::Ok,
            format!(
                "a question comes with Answer ({}), Resume and Stop",
                b.answer_url()
            ),
            None,
        ),
        Err(ButtonsOff::Disabled) => (
            CheckStatus::Ok,
            "off (notifications.ntfy.actions: false)".to_string(),
            None,
        ),
        Err(ButtonsOff::NoPublicUrl) => (
            CheckStatus::Warn,
            "server.public_url is not set: a question comes without its Answer, Resume and Stop buttons".to_string(),
            Some("set server.public_url to the address your phone reaches `car serve` at"),
        ),
    })
}
