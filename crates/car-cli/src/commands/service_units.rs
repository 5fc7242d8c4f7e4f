//! The texts of `car service` units: the launchd plist, the systemd
//! service (and timer), the crontab line. A unit runs one of three things
//! for a root ([`ServiceWhat`]): the loop (`car --repo ROOT run --if-idle`,
//! a repository), the Telegram bot (`car telegram start --path ROOT`) or
//! the HTTP server (`car --repo ROOT serve`), both for a repository or a
//! hub. The loop may be periodic; the bot and the server are long-running
//! processes restarted when they fail, and what they started (loops,
//! sessions: processes of their own) outlives a stop or a restart of them.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::cli::ServiceWhat;

impl ServiceWhat {
    /// The start of the unit names: `car` (the loop, as before there was a
    /// choice), `car-telegram`, `car-serve`.
    fn prefix(self) -> &'static str {
        match self {
            Self::Loop => "car",
            Self::Telegram => "car-telegram",
            Self::Serve => "car-serve",
            Self::Ledger => "car-ledger",
        }
    }

    /// Whether this runs until stopped (never periodic, never under cron).
    pub(crate) fn long_running(self) -> bool {
        !matches!(self, Self::Loop)
    }

    /// What the unit runs, in words.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Loop => "loop",
            Self::Telegram => "Telegram bot",
            Self::Serve => "HTTP server",
            Self::Ledger => "ledger publisher",
        }
    }

    /// The `--what` value.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Self::Loop => "loop",
            Self::Telegram => "telegram",
            Self::Serve => "serve",
            Self::Ledger => "ledger",
        }
    }

    /// The command line (program first) that runs it for `root`.
    pub(crate) fn command(self, car: &std::path::Path, root: &std::path::Path) -> Vec<String> {
        let car = car.display().to_string();
        let root = root.display().to_string();
        match self {
            Self::Loop => vec![car, "--repo".into(), root, "run".into(), "--if-idle".into()],
            Self::Telegram => vec![
                car,
                "telegram".into(),
                "start".into(),
                "--path".into(),
                root,
            ],
            Self::Serve => vec![car, "--repo".into(), root, "serve".into()],
            Self::Ledger => vec![
                car,
                "--repo".into(),
                root,
                "ledger".into(),
                "publish".into(),
            ],
        }
    }
}

/// What a unit needs to know about the root and this car.
pub(crate) struct UnitSpec {
    /// What the unit runs.
    pub(crate) what: ServiceWhat,
    /// The `car` binary (absolute).
    pub(crate) car: PathBuf,
    /// The repository or hub root (absolute).
    pub(crate) root: PathBuf,
    /// The environment file the units load (mode 0600).
    pub(crate) env_file: PathBuf,
    /// The script launchd and cron start: loads `env_file`, runs the command.
    pub(crate) wrapper: PathBuf,
    /// The names of the variables in `env_file` (never their values).
    pub(crate) env_names: Vec<String>,
    /// Seconds between starts, if periodic (the loop only).
    pub(crate) interval: Option<u64>,
    /// Seconds the loop needs to stop its agent (for systemd's stop timeout).
    pub(crate) kill_grace: u64,
}

impl UnitSpec {
    /// A unit name unique to the root and what it runs:
    /// `car-<dir>-<hash>` (the loop), `car-telegram-<dir>-<hash>`,
    /// `car-serve-<dir>-<hash>`.
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
            "{}-{}-{:08x}",
            self.what.prefix(),
            clean.trim_matches('-'),
            fnv1a(self.root.to_string_lossy().as_bytes()) as u32
        )
    }

    /// The launchd agent's label.
    pub(crate) fn label(&self) -> String {
        format!("com.codex-autorunner.{}", self.name())
    }

    pub(crate) fn logs(&self) -> PathBuf {
        self.root.join(".codex-autorunner").join("logs")
    }

    /// A log file of launchd or cron (`launchd.out.log` for the loop,
    /// `launchd-telegram.out.log` for the bot...).
    fn log(&self, base: &str, ext: &str) -> PathBuf {
        let file = match self.what {
            ServiceWhat::Loop => format!("{base}.{ext}"),
            w => format!("{base}-{}.{ext}", w.flag()),
        };
        self.logs().join(file)
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
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
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
    // The wrapper loads the environment file: the plist holds no secret.
    let mut args = vec![spec.wrapper.display().to_string()];
    if spec.what == ServiceWhat::Loop {
        args.push("--quiet".into());
    }
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
    let _ = writeln!(
        p,
        "  <key>Label</key>\n  <string>{}</string>",
        xml(&spec.label())
    );
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
            // Restart it when it fails; not when it completed (or was stopped).
            p.push_str("  <key>KeepAlive</key>\n  <dict>\n    <key>SuccessfulExit</key>\n    <false/>\n  </dict>\n");
            let throttle = if spec.what.long_running() { 10 } else { 60 };
            let _ = writeln!(
                p,
                "  <key>ThrottleInterval</key>\n  <integer>{throttle}</integer>"
            );
        }
    }
    if spec.what.long_running() {
        // The loops and sessions it started go on when it stops.
        p.push_str("  <key>AbandonProcessGroup</key>\n  <true/>\n");
    }
    let _ = writeln!(
        p,
        "  <key>StandardOutPath</key>\n  <string>{}</string>",
        xml(&spec.log("launchd", "out.log").display().to_string())
    );
    let _ = writeln!(
        p,
        "  <key>StandardErrorPath</key>\n  <string>{}</string>",
        xml(&spec.log("launchd", "err.log").display().to_string())
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
    let exec = spec
        .what
        .command(&spec.car, &spec.root)
        .iter()
        .map(|w| systemd_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    let mut svc = String::new();
    let _ = writeln!(
        svc,
        "[Unit]\nDescription=codex-autorunner {} for {}",
        spec.what.label(),
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
    if spec.what.long_running() {
        svc.push_str("Restart=on-failure\nRestartSec=10\n");
        // SIGTERM to car only, which finishes what it is doing and exits;
        // the loops and sessions it started are processes of their own
        // that a stop or a restart leaves running.
        svc.push_str("KillMode=process\nKillSignal=SIGTERM\nTimeoutStopSec=30\n");
    } else {
        if spec.interval.is_none() {
            // Exit 3 means the loop waits for a person: do not restart it.
            svc.push_str("Restart=on-failure\nRestartSec=60\nRestartPreventExitStatus=3\n");
        }
        // SIGTERM to car only: it stops its agent's process group itself,
        // then systemd kills whatever is left after the timeout.
        svc.push_str("KillMode=mixed\nKillSignal=SIGTERM\n");
        let _ = writeln!(svc, "TimeoutStopSec={}", spec.kill_grace + 30);
    }
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
    super::service_env::sh_quote(s).replace('%', r"\%")
}

/// The crontab entry of the loop: a comment naming what the environment
/// carries, and the line that starts the wrapper (cron's period is in
/// minutes; default every 5 minutes).
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

#[cfg(test)]
#[path = "service_units_tests.rs"]
mod tests;
