//! `car service`: units that run this repository's loop unattended under
//! launchd, systemd or cron. Every path is absolute, and what the loop needs
//! of the shell's environment (PATH, so `codex` is found where the
//! scheduler's own short PATH would miss it; CODEX_HOME, the model's API
//! key, car's notification variables) goes into an environment file the
//! units load (see `service_env`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::service_env::{self, ServiceEnv};
use crate::cli::{Global, InstallKind, ServiceCommand, ServiceKind};
use crate::report::UsageError;

/// What a unit needs to know about this repository and this car.
pub(crate) struct UnitSpec {
    /// The `car` binary (absolute).
    pub(crate) car: PathBuf,
    /// The repository root (absolute).
    pub(crate) root: PathBuf,
    /// The environment file the units load (mode 0600).
    pub(crate) env_file: PathBuf,
    /// The script launchd and cron start: loads `env_file`, runs the loop.
    pub(crate) wrapper: PathBuf,
    /// The names of the variables in `env_file` (never their values).
    pub(crate) env_names: Vec<String>,
    /// Seconds between starts, if periodic.
    pub(crate) interval: Option<u64>,
    /// Seconds the loop needs to stop its agent (for systemd's stop timeout).
    pub(crate) kill_grace: u64,
}

impl UnitSpec {
    /// A unit name unique to the repository: `car-<dir>-<hash>`.
    pub(crate) fn name(&self) -> String {
        let dir = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let clean: String = dir
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!(
            "car-{}-{:08x}",
            clean.trim_matches('-'),
            fnv1a(self.root.to_string_lossy().as_bytes()) as u32
        )
    }

    fn logs(&self) -> PathBuf {
        self.root.join(".codex-autorunner").join("logs")
    }

    /// One line saying what the environment file carries, by name.
    fn env_note(&self) -> String {
        format!(
            "Environment from {} (mode 0600, written by `car service install`): {}",
            self.env_file.display(),
            self.env_names.join(", ")
        )
    }
}

/// A stable hash (unlike std's, the same across Rust versions and runs).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The launchd agent plist.
pub(crate) fn launchd_plist(spec: &UnitSpec) -> String {
    let label = format!("com.codex-autorunner.{}", spec.name());
    // The wrapper loads the environment file: the plist holds no secret.
    let args = [spec.wrapper.display().to_string(), "--quiet".into()];
    let mut p = String::new();
    p.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    p.push_str("<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n");
    let _ = writeln!(
        p,
        "<!-- {} (loaded by {}) -->",
        xml(&spec.env_note()).replace("--", "- -"),
        xml(&spec.wrapper.display().to_string()).replace("--", "- -")
    );
    p.push_str("<plist version=\"1.0\">\n<dict>\n");
    let _ = writeln!(p, "  <key>Label</key>\n  <string>{}</string>", xml(&label));
    p.push_str("  <key>ProgramArguments</key>\n  <array>\n");
    for a in &args {
        let _ = writeln!(p, "    <string>{}</string>", xml(a));
    }
    p.push_str("  </array>\n");
    let _ = writeln!(
        p,
        "  <key>WorkingDirectory</key>\n  <string>{}</string>",
        xml(&spec.root.display().to_string())
    );
    p.push_str("  <key>RunAtLoad</key>\n  <true/>\n");
    match spec.interval {
        Some(s) => {
            let _ = writeln!(p, "  <key>StartInterval</key>\n  <integer>{s}</integer>");
        }
        None => {
            // Restart the loop when it fails; not when it completed.
            p.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
            p.push_str("  <key>ThrottleInterval</key>\n  <integer>60</integer>\n");
        }
    }
    let logs = spec.logs();
    let _ = writeln!(
        p,
        "  <key>StandardOutPath</key>\n  <string>{}</string>",
        xml(&logs.join("launchd.out.log").display().to_string())
    );
    let _ = writeln!(
        p,
        "  <key>StandardErrorPath</key>\n  <string>{}</string>",
        xml(&logs.join("launchd.err.log").display().to_string())
    );
    p.push_str("</dict>\n</plist>\n");
    p
}

/// Quotes a word for systemd's command-line syntax.
fn systemd_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
    {
        s.to_string()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('%', "%%")
                .replace('$', "$$")
        )
    }
}

/// The systemd user service (and, with an interval, its timer).
pub(crate) fn systemd_units(spec: &UnitSpec) -> (String, Option<String>) {
    let name = spec.name();
    let exec = [
        spec.car.display().to_string(),
        "--repo".into(),
        spec.root.display().to_string(),
        "run".into(),
        "--if-idle".into(),
    ]
    .iter()
    .map(|w| systemd_word(w))
    .collect::<Vec<_>>()
    .join(" ");
    let mut svc = String::new();
    let _ = writeln!(
        svc,
        "[Unit]\nDescription=codex-autorunner loop for {}",
        spec.root.display()
    );
    svc.push_str("After=network-online.target\nWants=network-online.target\n\n[Service]\n");
    svc.push_str(if spec.interval.is_some() {
        "Type=oneshot\n"
    } else {
        "Type=simple\n"
    });
    let _ = writeln!(svc, "WorkingDirectory={}", spec.root.display());
    let _ = writeln!(svc, "# {}", spec.env_note());
    let _ = writeln!(
        svc,
        "EnvironmentFile={}",
        spec.env_file.display().to_string().replace('%', "%%")
    );
    let _ = writeln!(svc, "ExecStart={exec}");
    if spec.interval.is_none() {
        // Exit 3 means the loop waits for a person: do not restart it.
        svc.push_str("Restart=on-failure\nRestartSec=60\nRestartPreventExitStatus=3\n");
    }
    // SIGTERM to car only: it stops its agent's process group itself, then
    // systemd kills whatever is left after the timeout.
    svc.push_str("KillMode=mixed\nKillSignal=SIGTERM\n");
    let _ = writeln!(svc, "TimeoutStopSec={}", spec.kill_grace + 30);
    svc.push_str("StandardOutput=journal\nStandardError=journal\n");
    if spec.interval.is_none() {
        svc.push_str("\n[Install]\nWantedBy=default.target\n");
    }
    let timer = spec.interval.map(|s| {
        format!(
            "[Unit]\nDescription=Start the codex-autorunner loop for {} every {s}s\n\n[Timer]\nOnBootSec=60\nOnUnitInactiveSec={s}\nUnit={name}.service\n\n[Install]\nWantedBy=timers.target\n",
            spec.root.display()
        )
    });
    (svc, timer)
}

/// Quotes a word for sh (cron runs the line with /bin/sh; `%` is special to cron).
fn sh_word(s: &str) -> String {
    let quoted = if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    };
    quoted.replace('%', r"\%")
}

/// The crontab entry: a comment naming what the environment carries, and
/// the line that starts the wrapper (cron's period is in minutes; default
/// every 5 minutes).
pub(crate) fn cron_line(spec: &UnitSpec) -> String {
    let minutes = spec.interval.map_or(5, |s| s.div_ceil(60)).clamp(1, 59);
    let schedule = if minutes == 1 {
        "* * * * *".to_string()
    } else {
        format!("*/{minutes} * * * *")
    };
    format!(
        "# car: {note} (loaded by the wrapper)\n{schedule} {wrapper} --quiet >> {log} 2>&1",
        note = spec.env_note().replace('%', r"\%"),
        wrapper = sh_word(&spec.wrapper.display().to_string()),
        log = sh_word(&spec.logs().join("cron.log").display().to_string()),
    )
}

/// The unit of this repository, and the environment it carries (captured
/// from this process's environment).
fn spec(g: &Global, interval: Option<u64>) -> Result<(UnitSpec, ServiceEnv)> {
    let repo = super::load(g, &[])?;
    let car = std::env::current_exe().context("cannot find the car binary's path")?;
    let car = std::fs::canonicalize(&car).unwrap_or(car);
    let root = std::fs::canonicalize(repo.root()).unwrap_or_else(|_| repo.root().to_path_buf());
    let env = service_env::capture(std::env::vars_os(), &repo.config().secret_env_vars());
    let mut spec = UnitSpec {
        car,
        root,
        env_file: PathBuf::new(),
        wrapper: PathBuf::new(),
        env_names: env.names().iter().map(|n| n.to_string()).collect(),
        interval,
        kill_grace: repo.config().runner.kill_grace.as_secs(),
    };
    let dir = service_env::service_dir()?;
    spec.env_file = dir.join(format!("{}.env", spec.name()));
    spec.wrapper = dir.join(format!("{}.sh", spec.name()));
    Ok((spec, env))
}

/// Writes the environment file (0600) and, for launchd and cron, the wrapper.
fn write_env(spec: &UnitSpec, env: &ServiceEnv, wrapper: bool) -> Result<()> {
    service_env::write_private(
        &spec.env_file,
        &service_env::env_file_text(env, &spec.root),
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
            &service_env::wrapper_text(&spec.car, &spec.root, &spec.env_file, &names),
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

fn systemd_dir() -> Result<PathBuf> {
    Ok(
        match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x).join("systemd/user"),
            None => home()?.join(".config/systemd/user"),
        },
    )
}

fn launchd_dir() -> Result<PathBuf> {
    Ok(home()?.join("Library/LaunchAgents"))
}

fn write(path: &Path, text: &str) -> Result<()> {
    car_core::write_atomic(path, text.as_bytes())?;
    outln!("car: wrote {}", path.display());
    Ok(())
}

pub(crate) fn run(g: &Global, cmd: ServiceCommand) -> Result<u8> {
    match cmd {
        ServiceCommand::Print { kind, interval } => {
            let (spec, _) = spec(g, interval)?;
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
            }
        }
        ServiceCommand::Install { kind, interval } => {
            let (spec, env) = spec(g, interval)?;
            std::fs::create_dir_all(spec.logs())
                .with_context(|| format!("cannot create {}", spec.logs().display()))?;
            write_env(&spec, &env, kind != InstallKind::Systemd)?;
            match kind {
                InstallKind::Cron => {
                    outln!("Add these lines with `crontab -e`:\n{}", cron_line(&spec));
                }
                InstallKind::Launchd => {
                    let path =
                        launchd_dir()?.join(format!("com.codex-autorunner.{}.plist", spec.name()));
                    write(&path, &launchd_plist(&spec))?;
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
                    outln!(
                        "Enable it with:\n  systemctl --user daemon-reload && systemctl --user enable --now {unit}"
                    );
                    outln!("To keep it running after you log out:\n  loginctl enable-linger $USER");
                }
            }
        }
        ServiceCommand::Uninstall { kind } => {
            let (spec, _) = spec(g, None)?;
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
                remove(launchd_dir()?.join(format!("com.codex-autorunner.{}.plist", spec.name())))?;
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
                    "car: the environment file and wrapper stay for the other kinds; `car service uninstall` (no kind) removes them"
                );
            }
            if removed == 0 && kind != Some(InstallKind::Cron) {
                outln!("car: no unit of this repository was installed");
            } else {
                outln!(
                    "Stop what is loaded with:\n  systemctl --user disable --now {n}.service {n}.timer; systemctl --user daemon-reload\n  launchctl bootout gui/$(id -u)/com.codex-autorunner.{n}",
                    n = spec.name()
                );
            }
        }
    }
    Ok(crate::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(interval: Option<u64>) -> UnitSpec {
        UnitSpec {
            car: "/opt/car bin/car".into(),
            root: "/home/me/my repo".into(),
            env_file: "/home/me/.config/codex-autorunner/service/car-my-repo-1.env".into(),
            wrapper: "/home/me/.config/codex-autorunner/service/car-my repo.sh".into(),
            env_names: vec!["CODEX_HOME".into(), "PATH".into()],
            interval,
            kill_grace: 10,
        }
    }

    #[test]
    fn names_are_stable_and_safe() {
        let n = spec(None).name();
        assert!(n.starts_with("car-my-repo-"), "{n}");
        assert_eq!(n, spec(Some(5)).name());
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    }

    #[test]
    fn cron_line_quotes_paths_and_starts_the_wrapper() {
        let text = cron_line(&spec(Some(600)));
        let (note, l) = text.split_once('\n').unwrap();
        assert!(
            note.starts_with("# car: Environment from ")
                && note.ends_with(": CODEX_HOME, PATH (loaded by the wrapper)"),
            "{note}"
        );
        assert!(l.starts_with("*/10 * * * * '/home/me/.config/codex-autorunner/service/car-my repo.sh' --quiet >> "), "{l}");
        assert_eq!(
            cron_line(&spec(Some(30)))
                .lines()
                .nth(1)
                .unwrap()
                .split(' ')
                .take(5)
                .collect::<Vec<_>>(),
            ["*", "*", "*", "*", "*"]
        );
    }
}
