//! `car service`: units that run this repository's loop, or the Telegram
//! bot or the HTTP server of a repository or hub, unattended under launchd,
//! systemd or cron (the loop only: the bot and the server run until
//! stopped). Every path is absolute, and what the program needs of the
//! shell's environment (PATH, so `codex` is found where the scheduler's own
//! short PATH would miss it; CODEX_HOME, the model's API key, car's
//! variables, the bot's token, the server's token) goes into an
//! environment file the units load (see `service_env`). The unit texts are
//! in `service_units`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use car_core::Config;

use super::service_env::{self, ServiceEnv};
use super::service_k8s_cli::{k8s_only, print_kubernetes, refuse_kubernetes};
use super::service_status::{self, what_flag};
use super::service_units::{UnitSpec, cron_line, launchd_plist, systemd_units};
use crate::cli::{Global, InstallKind, ServiceCommand, ServiceKind, ServiceWhat};
use crate::report::UsageError;

/// Refuses what a long-running program cannot have: a period, cron.
fn check(what: ServiceWhat, interval: Option<u64>, cron: bool) -> Result<()> {
    if !what.long_running() {
        return Ok(());
    }
    if interval.is_some() {
        return Err(UsageError(format!(
            "--interval is for the loop: the {} runs until stopped (systemd and launchd restart it when it fails); leave --interval out",
            what.label()
        ))
        .into());
    }
    if cron {
        return Err(UsageError(format!(
            "cron starts programs periodically, and the {} is a long-running process: it belongs under systemd or launchd (`car service install systemd --what {}`)",
            what.label(),
            what.flag()
        ))
        .into());
    }
    Ok(())
}

/// The root's configuration and root: a repository's for the loop; a
/// repository's or a hub root's for the bot and the server (as `car
/// telegram start` and `car serve` find it).
pub(crate) fn open(g: &Global, what: ServiceWhat) -> Result<(Config, PathBuf)> {
    let repo = match what {
        ServiceWhat::Loop => super::load(g, &[]).map_err(|e| {
            let at_hub = matches!(
                e.downcast_ref::<car_core::Error>(),
                Some(car_core::Error::Config(
                    car_core::ConfigError::HubMode { .. }
                ))
            );
            if at_hub {
                e.context(
                    "a loop unit runs one repository's loop: run `car --repo REPO_DIR service ...` for a repository of the hub; at the hub root, `--what telegram` or `--what serve`",
                )
            } else {
                e
            }
        })?,
        ServiceWhat::Telegram | ServiceWhat::Serve | ServiceWhat::Ledger => {
            super::serve::open(g)?.0
        }
    };
    let root = std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_path_buf());
    Ok((repo.config().clone(), root))
}

/// The unit of `what` for this root, the environment it carries (captured
/// from this process's environment) and the root's configuration.
fn spec(g: &Global, what: ServiceWhat, interval: Option<u64>) -> Result<(UnitSpec, ServiceEnv)> {
    let (cfg, root) = open(g, what)?;
    let car = std::env::current_exe().context("cannot find the car binary's path")?;
    let car = std::fs::canonicalize(&car).unwrap_or(car);
    let env = service_env::capture(std::env::vars_os(), &cfg.secret_env_vars());
    let mut spec = UnitSpec {
        what,
        car,
        root,
        env_file: PathBuf::new(),
        wrapper: PathBuf::new(),
        env_names: env.names().iter().map(|n| n.to_string()).collect(),
        interval,
        kill_grace: cfg.runner.kill_grace.as_secs(),
    };
    let dir = service_env::service_dir()?;
    spec.env_file = dir.join(format!("{}.env", spec.name()));
    spec.wrapper = dir.join(format!("{}.sh", spec.name()));
    warn_missing(&cfg, &spec);
    Ok((spec, env))
}

/// Warns (stderr) when the shell lacks a variable the program needs.
fn warn_missing(cfg: &Config, spec: &UnitSpec) {
    let carried = |name: &str| spec.env_names.iter().any(|n| n == name);
    match spec.what {
        ServiceWhat::Loop | ServiceWhat::Ledger => {}
        ServiceWhat::Telegram => {
            let bot = &cfg.telegram_bot;
            if !bot.enabled {
                errln!(
                    "car: warning: telegram_bot.enabled is false in {}'s configuration: the bot refuses to start until it is true",
                    spec.root.display()
                );
            }
            if !carried(&bot.bot_token_env) {
                errln!(
                    "car: warning: {} (telegram_bot.bot_token_env) is not set in this shell, so the environment file cannot carry it and the bot will not start: set it and run `car service install` again",
                    bot.bot_token_env
                );
            }
        }
        ServiceWhat::Serve => {
            let name = &cfg.server.auth_token_env;
            if !name.trim().is_empty() && !carried(name) {
                errln!(
                    "car: warning: {name} (server.auth_token_env) is not set in this shell: the server will run without a token (loopback only)"
                );
            }
        }
    }
}

/// Writes the environment file (0600) and, for launchd and cron, the wrapper.
fn write_env(spec: &UnitSpec, env: &ServiceEnv, wrapper: bool) -> Result<()> {
    service_env::write_private(
        &spec.env_file,
        &service_env::env_file_text(env, spec.what.label(), &spec.root),
        0o600,
    )?;
    outln!(
        "car: wrote {} (mode 0600): {}",
        spec.env_file.display(),
        env.names().join(", ")
    );
    for (name, why) in &env.skipped {
        outln!("car: warning: {name} is not carried: {why}");
    }
    if wrapper {
        let names = env.names();
        service_env::write_private(
            &spec.wrapper,
            &service_env::wrapper_text(
                &spec.what.command(&spec.car, &spec.root),
                spec.what.label(),
                &spec.root,
                &spec.env_file,
                &names,
            ),
            0o700,
        )?;
        outln!("car: wrote {}", spec.wrapper.display());
    }
    Ok(())
}

fn home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| UsageError("HOME is not set; cannot find your unit directory".into()).into())
}

pub(crate) fn systemd_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x).join("systemd/user"),
            None => home()?.join(".config/systemd/user"),
        },
    )
}

pub(crate) fn launchd_dir() -> Result<PathBuf> {
    Ok(home()?.join("Library/LaunchAgents"))
}

fn write(path: &Path, text: &str) -> Result<()> {
    car_core::write_atomic(path, text.as_bytes())?;
    outln!("car: wrote {}", path.display());
    Ok(())
}

pub(crate) fn run(g: &Global, cmd: ServiceCommand) -> Result<u8> {
    match cmd {
        ServiceCommand::Print {
            kind: ServiceKind::Kubernetes,
            interval,
            what,
            k8s,
        } => print_kubernetes(g, what, interval, *k8s)?,
        ServiceCommand::Print {
            kind: ServiceKind::GithubActions,
            interval,
            what,
            k8s,
        } => {
            k8s_only(&k8s)?;
            if interval.is_some() || what != ServiceWhat::Loop {
                return Err(UsageError(
                    "the github-actions workflow runs `car bridge github` on each @codex comment: leave --interval and --what out".into(),
                )
                .into());
            }
            super::service_github::print(g)?;
        }
        ServiceCommand::Print {
            kind,
            interval,
            what,
            k8s,
        } => {
            k8s_only(&k8s)?;
            check(what, interval, kind == ServiceKind::Cron)?;
            let (spec, _) = spec(g, what, interval)?;
            match kind {
                ServiceKind::Launchd => out!("{}", launchd_plist(&spec)),
                ServiceKind::Systemd => {
                    let (svc, timer) = systemd_units(&spec);
                    outln!("# ~/.config/systemd/user/{}.service", spec.name());
                    out!("{svc}");
                    if let Some(t) = timer {
                        outln!("\n# ~/.config/systemd/user/{}.timer", spec.name());
                        out!("{t}");
                    }
                }
                ServiceKind::Cron => outln!("{}", cron_line(&spec)),
                ServiceKind::Kubernetes | ServiceKind::GithubActions => {
                    unreachable!("printed above")
                }
            }
        }
        ServiceCommand::Install {
            kind,
            interval,
            what,
            start,
        } => {
            refuse_kubernetes(Some(kind), "install")?;
            check(what, interval, kind == InstallKind::Cron)?;
            if start && kind == InstallKind::Cron {
                return Err(UsageError(
                    "--start is for systemd and launchd: cron starts the loop at its next period once the line is in your crontab".into(),
                )
                .into());
            }
            let (spec, env) = spec(g, what, interval)?;
            std::fs::create_dir_all(spec.logs())
                .with_context(|| format!("cannot create {}", spec.logs().display()))?;
            write_env(&spec, &env, kind != InstallKind::Systemd)?;
            match kind {
                InstallKind::Cron => {
                    outln!("Add these lines with `crontab -e`:\n{}", cron_line(&spec));
                }
                InstallKind::Launchd => {
                    let path = launchd_dir()?.join(format!("{}.plist", spec.label()));
                    write(&path, &launchd_plist(&spec))?;
                    if start {
                        let (cfg, _) = open(g, what)?;
                        return service_status::start(&cfg, &spec, kind, &spec.label(), &path);
                    }
                    outln!(
                        "Enable it with:\n  launchctl bootstrap gui/$(id -u) {}",
                        path.display()
                    );
                }
                InstallKind::Systemd => {
                    let dir = systemd_dir()?;
                    let (svc, timer) = systemd_units(&spec);
                    write(&dir.join(format!("{}.service", spec.name())), &svc)?;
                    let unit = match timer {
                        Some(t) => {
                            write(&dir.join(format!("{}.timer", spec.name())), &t)?;
                            format!("{}.timer", spec.name())
                        }
                        None => format!("{}.service", spec.name()),
                    };
                    if start {
                        let (cfg, _) = open(g, what)?;
                        let file = dir.join(&unit);
                        let code = service_status::start(&cfg, &spec, kind, &unit, &file)?;
                        outln!(
                            "To keep it running after you log out:\n  loginctl enable-linger $USER"
                        );
                        return Ok(code);
                    }
                    outln!(
                        "Enable it with:\n  systemctl --user daemon-reload && systemctl --user enable --now {unit}"
                    );
                    outln!("To keep it running after you log out:\n  loginctl enable-linger $USER");
                }
                InstallKind::Kubernetes => unreachable!("refused above"),
            }
        }
        ServiceCommand::Status { kind, what, json } => {
            refuse_kubernetes(kind, "status")?;
            let (spec, _) = spec(g, what, None)?;
            let (cfg, _) = open(g, what)?;
            return service_status::status(&cfg, &spec, kind, json);
        }
        ServiceCommand::Restart { kind, what } => {
            refuse_kubernetes(kind, "restart")?;
            let (spec, _) = spec(g, what, None)?;
            let (cfg, _) = open(g, what)?;
            return service_status::restart(&cfg, &spec, kind);
        }
        ServiceCommand::Uninstall { kind, what } => {
            refuse_kubernetes(kind, "uninstall")?;
            check(what, None, kind == Some(InstallKind::Cron))?;
            let (spec, _) = spec(g, what, None)?;
            let mut removed = 0;
            let mut remove = |p: PathBuf| -> Result<()> {
                if p.exists() {
                    std::fs::remove_file(&p)
                        .with_context(|| format!("cannot remove {}", p.display()))?;
                    outln!("car: removed {}", p.display());
                    removed += 1;
                }
                Ok(())
            };
            if kind.is_none() || kind == Some(InstallKind::Launchd) {
                remove(launchd_dir()?.join(format!("{}.plist", spec.label())))?;
            }
            if kind.is_none() || kind == Some(InstallKind::Systemd) {
                let dir = systemd_dir()?;
                remove(dir.join(format!("{}.timer", spec.name())))?;
                remove(dir.join(format!("{}.service", spec.name())))?;
            }
            // The environment file and the wrapper serve every kind: they
            // go with the last unit (uninstall without a kind).
            if kind.is_none() {
                remove(spec.env_file.clone())?;
                remove(spec.wrapper.clone())?;
            }
            if kind == Some(InstallKind::Cron) {
                outln!("car: remove the crontab line with `crontab -e`");
            }
            let shared_left = kind.is_some() && (spec.env_file.exists() || spec.wrapper.exists());
            if shared_left {
                outln!(
                    "car: the environment file and wrapper stay for the other kinds; `car service uninstall{}` (no kind) removes them",
                    what_flag(what)
                );
            }
            if removed == 0 && kind != Some(InstallKind::Cron) {
                match what {
                    ServiceWhat::Loop => outln!("car: no unit of this repository was installed"),
                    w => outln!(
                        "car: no {} unit of {} was installed",
                        w.label(),
                        spec.root.display()
                    ),
                }
            } else {
                let timer = if what.long_running() {
                    String::new()
                } else {
                    format!(" {}.timer", spec.name())
                };
                outln!(
                    "Stop what is loaded with:\n  systemctl --user disable --now {n}.service{timer}; systemctl --user daemon-reload\n  launchctl bootout gui/$(id -u)/{label}",
                    n = spec.name(),
                    label = spec.label()
                );
            }
        }
    }
    Ok(crate::EXIT_OK)
}
