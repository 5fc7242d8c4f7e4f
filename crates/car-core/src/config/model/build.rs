//! Building the typed configuration from the merged layers: every key
//! read, checked and, for paths, made absolute inside the repository.

use std::path::{Path, PathBuf};

use super::notify::notify;
use super::sections::{
    CodexConfig, Config, DocsConfig, EventsConfig, GitConfig, PromptConfig, RunnerConfig,
    ServerConfig, SnapshotConfig, VoiceConfig,
};
use crate::config::ConfigError;
use crate::config::ConfigSource;
use crate::config::reader::{Reader, Secs};
use crate::fs_util::normalize_under;
use crate::paths::RepoPaths;

/// The most rotated ledger files kept (each is looked for by name).
const MAX_KEEP: u64 = 100;

pub(in crate::config) fn build(
    r: &mut Reader<'_>,
    paths: &RepoPaths,
) -> Result<Config, ConfigError> {
    let version: u32 = r.whole("version", 0)?;
    if version != 2 {
        return Err(r.invalid(
            "version",
            format!("unsupported version {version}; expected 2"),
        ));
    }
    match r.string("mode")?.as_str() {
        "repo" => {}
        "hub" => {
            return Err(match r.source("mode") {
                ConfigSource::RootFile(path)
                | ConfigSource::OverrideFile(path)
                | ConfigSource::RepoFile(path) => ConfigError::HubMode { path },
                // Set by a variable or flag: name that, not a file.
                _ => r.invalid(
                    "mode",
                    "is `hub` (a directory of repositories); expected `repo` for this command",
                ),
            });
        }
        other => {
            return Err(r.invalid("mode", format!("is `{other}`; expected `repo` or `hub`")));
        }
    }
    let root = &paths.root;
    let doc = |r: &Reader<'_>, key: &str| -> Result<PathBuf, ConfigError> {
        let value = r.string(key)?;
        doc_path(r, root, key, &value)
    };
    let docs = DocsConfig {
        todo: doc(r, "docs.todo")?,
        progress: doc(r, "docs.progress")?,
        opinions: doc(r, "docs.opinions")?,
        spec: doc(r, "docs.spec")?,
        summary: doc(r, "docs.summary")?,
        snapshot: doc(r, "docs.snapshot")?,
        snapshot_state: doc(r, "docs.snapshot_state")?,
    };
    let binary = r.string("codex.binary")?;
    if binary.trim().is_empty() {
        return Err(r.invalid(
            "codex.binary",
            "is empty; expected the name or path of the agent program",
        ));
    }
    let stop_after_runs = r.opt_whole("runner.stop_after_runs", 1)?;
    let runner = RunnerConfig {
        sleep: r.seconds("runner.sleep_seconds")?,
        stop_after_runs,
        max_wallclock: r.opt_seconds("runner.max_wallclock_seconds", Secs::Any)?,
        max_consecutive_failures: r.whole("runner.max_consecutive_failures", 1)?,
        no_progress_runs: r.whole("runner.no_progress_runs", 0)?,
        kill_grace: r.seconds("runner.kill_grace_seconds")?,
        max_tokens: r.opt_whole("runner.max_tokens", 0)?,
        quota_wait_max: r.seconds("runner.quota_wait_max_seconds")?,
        quota_retry: r.seconds("runner.quota_retry_seconds")?,
        transient_retries: r.whole("runner.transient_retries", 0)?,
        transient_backoff: r.seconds("runner.transient_backoff_seconds")?,
    };
    let env = r.string_map("codex.env")?;
    for (name, value) in &env {
        let key = format!("codex.env.{name}");
        crate::agent_env::check_name(name).map_err(|m| r.invalid(&key, m))?;
        if value.contains('\0') {
            return Err(r.invalid(&key, "contains a NUL byte; expected text without one"));
        }
    }
    let codex = CodexConfig {
        binary,
        args: r.strings("codex.args")?,
        terminal_args: r.strings("codex.terminal_args")?,
        model: r.opt_string("codex.model")?,
        reasoning: r.opt_string("codex.reasoning")?,
        idle_timeout: r.opt_seconds("codex.idle_timeout_seconds", Secs::Positive)?,
        run_timeout: r.opt_seconds("codex.run_timeout_seconds", Secs::Positive)?,
        structured_verdict: r.flag("codex.structured_verdict")?,
        models_small: r.opt_string("codex.models.small")?,
        models_large: r.opt_string("codex.models.large")?,
        env,
    };
    let snapshot = SnapshotConfig {
        max_depth: r.whole("snapshot.max_depth", 1)?,
        max_entries: r.whole("snapshot.max_entries", 1)?,
        excerpt_chars: r.whole("snapshot.excerpt_chars", 0)?,
        readme_chars: r.whole("snapshot.readme_chars", 0)?,
        max_file_bytes: r.whole("snapshot.max_file_bytes", 0)?,
        max_total_bytes: r.whole("snapshot.max_total_bytes", 0)?,
        change_lines: r.whole("snapshot.change_lines", 0)?,
        timeout: r.seconds("snapshot.timeout_seconds")?,
    };
    let summary_template = match r.opt_string("prompt.summary_template")? {
        Some(v) => Some(doc_path(r, root, "prompt.summary_template", &v)?),
        None => None,
    };
    let prompt = PromptConfig {
        prev_run_max_chars: r.whole("prompt.prev_run_max_chars", 0)?,
        template: doc(r, "prompt.template")?,
        summary_template,
    };
    let notifications = notify(r)?;
    let server = ServerConfig {
        host: r.string("server.host")?,
        port: r.whole("server.port", 0)?,
        base_path: normalize_base_path(&r.string("server.base_path")?),
        access_log: r.flag("server.access_log")?,
        auth_token_env: r.string("server.auth_token_env")?,
        allowed_hosts: r.strings("server.allowed_hosts")?,
        allowed_origins: r.strings("server.allowed_origins")?,
        allowed_roots: allowed_roots(r, root)?,
        public_url: r.opt_string("server.public_url")?,
        action_token_ttl: std::time::Duration::from_secs(
            r.whole_in::<u64>("server.action_token_ttl_hours", 1, 24 * 366)? * 3600,
        ),
        rate_limit_per_minute: r.whole("server.rate_limit_per_minute", 0)?,
        terminal_max_sessions_per_repo: r.whole("server.terminal.max_sessions_per_repo", 1)?,
        terminal_idle_timeout_seconds: r.whole("server.terminal.idle_timeout_seconds", 0)?,
    };
    let git = GitConfig {
        auto_commit: r.flag("git.auto_commit")?,
        commit_message_template: r.string("git.commit_message_template")?,
    };
    let events = EventsConfig {
        max_bytes: r.whole("events.max_bytes", 0)?,
        keep: r.whole_in("events.keep", 0, MAX_KEEP)?,
    };
    let voice = voice(r)?;
    let telegram_bot = super::telegram_bot::telegram_bot(r, root)?;
    let github_bridge = super::github_bridge::github_bridge(r)?;
    Ok(Config {
        root: root.clone(),
        docs,
        codex,
        prompt,
        runner,
        git,
        server,
        events,
        snapshot,
        notifications,
        voice,
        telegram_bot,
        github_bridge,
    })
}

/// `voice.*`: an http(s) base URL, a variable name, a model, a size of
/// at least one byte and a timeout of more than 0 seconds.
fn voice(r: &mut Reader<'_>) -> Result<VoiceConfig, ConfigError> {
    let base_url = r
        .string("voice.base_url")?
        .trim()
        .trim_end_matches('/')
        .to_string();
    if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
        || base_url.contains(char::is_whitespace)
    {
        return Err(r.invalid(
            "voice.base_url",
            format!("is `{base_url}`; expected an http:// or https:// URL such as https://api.openai.com/v1"),
        ));
    }
    let api_key_env = r.string("voice.api_key_env")?;
    crate::agent_env::check_name(&api_key_env).map_err(|m| {
        r.invalid(
            "voice.api_key_env",
            format!("{m}; expected the name of the environment variable holding the key"),
        )
    })?;
    let model = r.string("voice.model")?;
    if model.trim().is_empty() {
        return Err(r.invalid(
            "voice.model",
            "is empty; expected a model name such as whisper-1",
        ));
    }
    let timeout = r
        .opt_seconds("voice.timeout_seconds", Secs::Positive)?
        .ok_or_else(|| {
            r.invalid(
                "voice.timeout_seconds",
                "is null; expected a number of seconds more than 0",
            )
        })?;
    Ok(VoiceConfig {
        enabled: r.flag("voice.enabled")?,
        base_url,
        api_key_env,
        model,
        max_bytes: r.whole("voice.max_bytes", 1)?,
        timeout,
    })
}

/// A doc path: non-empty and inside the repository.
fn doc_path(r: &Reader<'_>, root: &Path, key: &str, value: &str) -> Result<PathBuf, ConfigError> {
    if value.trim().is_empty() {
        return Err(r.invalid(key, "is empty; expected a path inside the repository"));
    }
    inside_root(root, value).ok_or_else(|| {
        r.invalid(
            key,
            format!(
                "path `{value}` is outside the repository {}; expected a path inside it",
                root.display()
            ),
        )
    })
}

/// `server.allowed_roots`: each entry with `~` expanded, relative to
/// `root`, resolved (symlinks too); one that is not a directory is an error
/// naming the key, the item and where it was set.
fn allowed_roots(r: &Reader<'_>, root: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    const KEY: &str = "server.allowed_roots";
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let mut roots = Vec::new();
    for (i, raw) in r.strings(KEY)?.iter().enumerate() {
        let item = format!("{KEY}[{i}]");
        let bad = |m: String| r.invalid_at(KEY, &item, format!("item {}: {m}", i + 1));
        if raw.trim().is_empty() {
            return Err(bad("is empty; expected a directory".into()));
        }
        let asked = match raw.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                let home = home
                    .as_deref()
                    .ok_or_else(|| bad(format!("`{raw}` starts with ~ but HOME is not set")))?;
                Path::new(home).join(rest.trim_start_matches('/'))
            }
            _ => root.join(raw),
        };
        let dir = std::fs::canonicalize(&asked)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                bad(format!(
                    "`{raw}` ({}) is not an existing directory",
                    asked.display()
                ))
            })?;
        roots.push(dir);
    }
    Ok(roots)
}

/// Resolves `value` against `root` and returns it only if it stays inside.
fn inside_root(root: &Path, value: &str) -> Option<PathBuf> {
    let p = normalize_under(root, Path::new(value));
    p.starts_with(root).then_some(p)
}

/// Normalises a base path to `""` or `/x` without a trailing slash.
fn normalize_base_path(p: &str) -> String {
    let t = p.trim().trim_matches('/');
    if t.is_empty() {
        String::new()
    } else {
        format!("/{t}")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, LoadOptions, load};
    use crate::paths::RepoPaths;

    fn load_yaml(yaml: &str) -> Result<crate::config::Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".codex-autorunner")).unwrap();
        std::fs::write(dir.path().join(".codex-autorunner/config.yml"), yaml).unwrap();
        load(&RepoPaths::new(dir.path()), &LoadOptions::default()).map(|l| l.config)
    }

    #[test]
    fn voice_has_defaults_and_reads_its_keys() {
        let v = load_yaml("version: 2\nmode: repo\n").unwrap().voice;
        assert!(v.enabled);
        assert_eq!(v.base_url, "https://api.openai.com/v1");
        assert_eq!(v.api_key_env, "OPENAI_API_KEY");
        assert_eq!(v.model, "whisper-1");
        assert_eq!(v.max_bytes, 10_000_000);
        let v = load_yaml(
            "version: 2\nmode: repo\nvoice:\n  base_url: http://127.0.0.1:9/v1/\n  api_key_env: MY_KEY\n  model: m\n  max_bytes: 5\n  timeout_seconds: 2\n  enabled: false\n",
        )
        .unwrap()
        .voice;
        assert_eq!(v.base_url, "http://127.0.0.1:9/v1", "no trailing slash");
        assert_eq!(
            (v.api_key_env.as_str(), v.model.as_str(), v.max_bytes),
            ("MY_KEY", "m", 5)
        );
        assert_eq!(v.timeout, std::time::Duration::from_secs(2));
        assert!(!v.enabled);
    }

    #[test]
    fn a_bad_voice_key_is_an_error_naming_it_and_its_line() {
        for (yaml, key, says) in [
            ("voice:\n  base_url: ftp://x\n", "voice.base_url", "http://"),
            (
                "voice:\n  api_key_env: 'MY KEY'\n",
                "voice.api_key_env",
                "variable",
            ),
            ("voice:\n  model: ''\n", "voice.model", "empty"),
            ("voice:\n  max_bytes: 0\n", "voice.max_bytes", "1"),
            (
                "voice:\n  timeout_seconds: 0\n",
                "voice.timeout_seconds",
                "more than 0",
            ),
        ] {
            let e = load_yaml(&format!("version: 2\nmode: repo\n{yaml}"))
                .err()
                .unwrap_or_else(|| panic!("{yaml} loaded"))
                .to_string();
            assert!(e.contains(key) && e.contains(says), "{yaml}: {e}");
            assert!(e.contains("config.yml:4"), "{yaml}: {e}");
        }
    }
}
