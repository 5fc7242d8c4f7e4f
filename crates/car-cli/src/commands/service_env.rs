//! The environment of a `car service` unit. launchd, systemd and cron start
//! programs with almost nothing of the shell's environment, so what the
//! loop (or the Telegram bot, or the server) needs is captured from the
//! shell that runs `car service install` into an environment file (mode
//! 0600: it holds secrets): systemd reads it with `EnvironmentFile=`, and
//! launchd and cron start a wrapper script that loads it. Units and `car service print` name the variables, never their
//! values.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Variables carried by name.
const NAMES: &[&str] = &[
    "PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
];
/// Variables carried by prefix: car's own (notification secrets, config
/// overrides), Codex's (`CODEX_HOME`) and OpenAI's.
const PREFIXES: &[&str] = &["CAR_", "CODEX_", "OPENAI_", "AZURE_OPENAI_"];
/// Variables carried by suffix: model API keys (a provider's `env_key`).
const SUFFIXES: &[&str] = &["_API_KEY"];
/// PATH when the shell has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a unit's environment file holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceEnv {
    /// Name and value, sorted by name (PATH always present).
    pub(crate) vars: Vec<(String, String)>,
    /// Variables wanted but left out, with why.
    pub(crate) skipped: Vec<(String, &'static str)>,
}

impl ServiceEnv {
    /// The names carried, in file order.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.vars.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Returns whether the loop needs variable `name` (`secrets`: the variables
/// the configuration names as secret sources, such as a custom `url_env`).
pub(crate) fn wanted(name: &str, secrets: &[String]) -> bool {
    // An agent's run marker (the shell is one an agent opened) is never the
    // loop's: carried, it would make every runner the unit starts look like
    // a stray of that run to the next car command.
    if name == car_core::MARKER_VAR {
        return false;
    }
    NAMES.contains(&name)
        || PREFIXES.iter().any(|p| name.starts_with(p))
        || SUFFIXES.iter().any(|s| name.ends_with(s))
        || secrets.iter().any(|s| s == name)
}

/// The variables a Kubernetes pod takes from its Secret: every secret the
/// configuration names, the model's key (`OPENAI_API_KEY`), and what this
/// shell carries for the loop except paths, proxies and `CODEX_*` (the pod
/// sets its own `CODEX_HOME`): car's `CAR_*`, `OPENAI_*`, `*_API_KEY`.
pub(crate) fn secret_names(env: &ServiceEnv, secrets: &[String]) -> Vec<String> {
    let mut names: std::collections::BTreeSet<String> = secrets.iter().cloned().collect();
    names.insert("OPENAI_API_KEY".into());
    for name in env.names() {
        if !NAMES.contains(&name) && !name.starts_with("CODEX_") {
            names.insert(name.to_string());
        }
    }
    names.into_iter().collect()
}

/// Picks what the loop needs out of `vars` (the shell's environment).
pub(crate) fn capture(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    secrets: &[String],
) -> ServiceEnv {
    let mut env = ServiceEnv::default();
    for (k, v) in vars {
        let Some(k) = k.to_str().filter(|k| wanted(k, secrets)) else {
            continue;
        };
        match v.into_string() {
            Ok(v) if v.contains(['\n', '\r', '\0']) => {
                env.skipped
                    .push((k.to_string(), "its value has a line break"));
            }
            Ok(v) => env.vars.push((k.to_string(), v)),
            Err(_) => env.skipped.push((k.to_string(), "its value is not UTF-8")),
        }
    }
    if !env.vars.iter().any(|(k, _)| k == "PATH") {
        env.vars.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    env.vars.sort();
    env.skipped.sort();
    env
}

/// Quotes a value for both systemd's `EnvironmentFile=` and sh: double
/// quotes, with `\`, `"`, `$` and `` ` `` escaped (both read these escapes).
fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('"');
    for c in v.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// The environment file's text (`what`: the unit's program, in words).
pub(crate) fn env_file_text(env: &ServiceEnv, what: &str, root: &Path) -> String {
    let mut t = format!(
        "# Environment of the codex-autorunner {what} of {}, captured by\n\
         # `car service install` from the shell it ran in. Mode 0600: it holds secrets.\n\
         # Read by systemd (EnvironmentFile=) and by the wrapper script (sh).\n\
         # Run `car service install` again to refresh it.\n",
        root.display()
    );
    for (k, v) in &env.vars {
        t.push_str(k);
        t.push('=');
        t.push_str(&quote(v));
        t.push('\n');
    }
    t
}

/// Quotes a word for sh.
pub(crate) fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@,+".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The wrapper script launchd and cron start: loads the environment file,
/// then runs `command` (program first; extra arguments, such as `--quiet`,
/// are passed on) in `root`.
pub(crate) fn wrapper_text(
    command: &[String],
    what: &str,
    root: &Path,
    env_file: &Path,
    names: &[&str],
) -> String {
    let exec = command
        .iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "#!/bin/sh\n\
         # The codex-autorunner {what} of {root}, written by `car service install`.\n\
         # Loads {env} (mode 0600; {names}), then runs car.\n\
         set -a\n\
         . {env_q} || exit 1\n\
         set +a\n\
         cd {root_q} || exit 1\n\
         exec {exec} \"$@\"\n",
        root = root.display(),
        env = env_file.display(),
        names = names.join(", "),
        env_q = sh_quote(&env_file.display().to_string()),
        root_q = sh_quote(&root.display().to_string()),
    )
}

/// Where the units' environment files and wrappers live (outside the
/// repository, so the agent's `git add --all` never commits them):
/// `$XDG_CONFIG_HOME/codex-autorunner/service`, else `~/.config/...`.
pub(crate) fn service_dir() -> Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".config"))
            .ok_or_else(|| {
                crate::report::UsageError(
                    "HOME is not set; cannot find where to keep the unit's environment".into(),
                )
            })?,
    };
    Ok(base.join("codex-autorunner").join("service"))
}

/// Writes `text` to `path` with `mode` from the first byte on (a temp file
/// created with that mode, then renamed), in a directory only the user reads.
pub(crate) fn write_private(path: &Path, text: &str, mode: u32) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode; it is never widened past it.
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn captures_what_the_loop_needs_and_nothing_else() {
        let env = capture(
            os(&[
                ("PATH", "/p"),
                ("CODEX_HOME", "/c"),
                ("OPENAI_API_KEY", "sk"),
                ("MOCK_API_KEY", "m"),
                ("CAR_NTFY_TOPIC", "t"),
                ("TEAM_HOOK", "h"),
                ("HOME", "/home/me"),
                ("TERM", "xterm"),
                ("CAR_MULTI", "a\nb"),
                ("CAR_RUN", "0123456789abcdef:3:1:1"),
            ]),
            &["TEAM_HOOK".to_string()],
        );
        assert_eq!(
            env.names(),
            [
                "CAR_NTFY_TOPIC",
                "CODEX_HOME",
                "MOCK_API_KEY",
                "OPENAI_API_KEY",
                "PATH",
                "TEAM_HOOK"
            ]
        );
        assert_eq!(
            env.skipped,
            [("CAR_MULTI".to_string(), "its value has a line break")]
        );
        assert_eq!(capture(os(&[]), &[]).names(), ["PATH"]);
    }

    #[test]
    fn values_survive_sh_quoting() {
        let env = ServiceEnv {
            vars: vec![("X".into(), r#"a "b" $c `d` \e 'f' %g"#.into())],
            skipped: Vec::new(),
        };
        let dir = std::env::temp_dir().join(format!("car-svc-env-{}", std::process::id()));
        let file = dir.join("x.env");
        write_private(&file, &env_file_text(&env, "loop", Path::new("/r")), 0o600).unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                ". {}; printf %s \"$X\"",
                sh_quote(&file.display().to_string())
            ))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), env.vars[0].1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
