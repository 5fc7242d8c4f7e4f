//! The stack of config layers: reading each (file, environment variable,
//! command-line value), checking its keys against the built-in defaults
//! (unknown keys and dropped tags become warnings) and merging it on top.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::keypath::{join, key_text};
use super::merge::{leaves, lookup, merge};
use super::position::{line_in, line_of_offset};
use super::source::{ConfigSource, ConfigWarning};
use super::{ConfigError, DEFAULTS_YAML, yaml};

/// Top-level sections that the Python program reads and `car` does not
/// (yet) use. A config written by Python's `car init` holds all of them, so
/// they are accepted silently instead of being reported as unknown.
const PYTHON_ONLY_SECTIONS: &[&str] = &[
    "github",
    "terminal",
    "log",
    "server_log",
    "static_assets",
    "housekeeping",
    "app_server",
    "usage",
    "update",
    "hub",
];

/// Keys of the Python program's `voice` and `telegram_bot` sections that car
/// does not read (car reads `voice.enabled` and its own `voice.base_url`,
/// `api_key_env`, `model`, `max_bytes`, `timeout_seconds`; and the bot keys
/// in `defaults.yml`): accepted silently.
const PYTHON_ONLY_KEYS: &[&str] = &[
    "voice.provider",
    "voice.providers",
    "voice.latency_mode",
    "voice.chunk_ms",
    "voice.sample_rate",
    "voice.warn_on_remote_api",
    "voice.push_to_talk",
    "telegram_bot.mode",
    "telegram_bot.parse_mode",
    "telegram_bot.debug",
    "telegram_bot.defaults",
    "telegram_bot.concurrency",
    "telegram_bot.media",
    "telegram_bot.shell",
    "telegram_bot.command_registration",
    "telegram_bot.app_server_command",
    "telegram_bot.app_server",
    "telegram_bot.polling.allowed_updates",
    "telegram_bot.collaboration_policy",
    "telegram_bot.trigger_mode",
    "telegram_bot.message_overflow",
];

/// Keys whose value is a free-form mapping (any key is valid below them).
const OPEN_MAPS: &[&str] = &[
    "notifications.telegram.thread_id_map",
    "codex.env",
    "machines",
];

/// Config layers being merged.
pub(super) struct Stack {
    defaults: Value,
    merged: Value,
    sources: BTreeMap<String, ConfigSource>,
    warnings: Vec<ConfigWarning>,
    /// The text of each config file read, to find the line of a key.
    files: BTreeMap<PathBuf, String>,
}

/// What merging the layers gives.
pub(super) struct Merged {
    pub(super) value: Value,
    pub(super) sources: BTreeMap<String, ConfigSource>,
    pub(super) warnings: Vec<ConfigWarning>,
    pub(super) files: BTreeMap<PathBuf, String>,
}

/// Warnings past this many are not located (each search reads the file).
const LOCATED_WARNINGS: usize = 100;

impl Stack {
    pub(super) fn new() -> Result<Self, ConfigError> {
        let defaults = yaml::parse(DEFAULTS_YAML, Path::new("<built-in defaults>"))?.value;
        let mut sources = BTreeMap::new();
        leaves(&defaults, "", &mut |p, _| {
            sources.insert(p.to_string(), ConfigSource::Default);
        });
        Ok(Self {
            merged: defaults.clone(),
            defaults,
            sources,
            warnings: Vec::new(),
            files: BTreeMap::new(),
        })
    }

    /// Adds a YAML file when it exists.
    pub(super) fn add_file(
        &mut self,
        path: &Path,
        source: ConfigSource,
    ) -> Result<(), ConfigError> {
        let Some(text) = super::limits::read_file(path)? else {
            return Ok(());
        };
        let text = String::from_utf8(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to()),
            column: 1,
            message: "the file is not valid UTF-8".into(),
        })?;
        let parsed = yaml::parse(&text, path)?;
        self.files.insert(path.to_path_buf(), text);
        let mut value = parsed.value;
        if value.is_null() {
            return Ok(()); // an empty file (or only comments)
        }
        if !value.is_mapping() {
            return Err(ConfigError::NotMapping {
                path: path.to_path_buf(),
            });
        }
        // A hub file is sectioned by its `repo:` key alone: a flat one may
        // hold the hub's own `hub:` mapping beside the shared keys.
        let sectioned = match source {
            ConfigSource::RepoFile(_) => false,
            ConfigSource::HubFile(_) => value.get("repo").is_some(),
            _ => is_sectioned(&value),
        };
        let hub_flat = !sectioned && matches!(source, ConfigSource::HubFile(_));
        if sectioned {
            value = repo_section(&value);
        } else if hub_flat {
            value = without_hub_keys(value);
        }
        for (key, tag) in parsed.tags {
            let key = match key.strip_prefix("repo.") {
                Some(k) if sectioned => k.to_string(),
                _ if sectioned => continue, // outside the section car reads
                _ if hub_flat && is_hub_key(&key) => continue,
                _ => key,
            };
            self.tag_warning(&key, &tag, &source);
        }
        self.check_known(&value, "", &source);
        merge(&mut self.merged, &value, "", &source, &mut self.sources);
        Ok(())
    }

    /// Adds the `CAR_<SECTION>__<KEY>` variables among `env`.
    pub(super) fn add_env(&mut self, env: &[(String, String)]) {
        let mut vars: Vec<_> = env.iter().collect();
        vars.sort();
        for (name, raw) in vars {
            let Some(rest) = name.strip_prefix("CAR_") else {
                continue;
            };
            if !rest.contains("__") {
                continue; // CAR_LOG, CAR_NTFY_TOPIC...: not config keys
            }
            let key = rest
                .split("__")
                .map(|s| s.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(".");
            self.add_scalar(&key, raw, ConfigSource::Env(name.clone()));
        }
    }

    /// Adds one command-line value.
    pub(super) fn add_cli(&mut self, key: &str, raw: &str, flag: &str) {
        self.add_scalar(key, raw, ConfigSource::Cli(flag.to_string()));
    }

    fn add_scalar(&mut self, key: &str, raw: &str, source: ConfigSource) {
        // Values are YAML so `null`, `5`, `true` and `[a, b]` work; anything
        // that does not parse is taken as a plain string.
        let value = match yaml::parse(raw, Path::new(key)) {
            Ok(parsed) => {
                for (path, tag) in parsed.tags {
                    self.tag_warning(&join(key, &path), &tag, &source);
                }
                parsed.value
            }
            Err(_) => Value::String(raw.into()),
        };
        let mut layer = value;
        for part in key.split('.').rev() {
            let mut m = Mapping::new();
            m.insert(Value::String(part.to_string()), layer);
            layer = Value::Mapping(m);
        }
        self.check_known(&layer, "", &source);
        merge(&mut self.merged, &layer, "", &source, &mut self.sources);
    }

    fn check_known(&mut self, layer: &Value, prefix: &str, source: &ConfigSource) {
        let Value::Mapping(map) = layer else { return };
        for (k, v) in map {
            let key = key_text(k);
            let path = join(prefix, &key);
            if prefix.is_empty() && PYTHON_ONLY_SECTIONS.contains(&key.as_str()) {
                continue;
            }
            if OPEN_MAPS.contains(&path.as_str()) || PYTHON_ONLY_KEYS.contains(&path.as_str()) {
                continue;
            }
            match lookup(&self.defaults, &path) {
                None => self.warnings.push(ConfigWarning {
                    key: path,
                    source: source.clone(),
                    line: None,
                    message: "is not a known key and is ignored".into(),
                }),
                Some(Value::Mapping(_)) => self.check_known(v, &path, source),
                Some(_) => {}
            }
        }
    }

    fn tag_warning(&mut self, key: &str, tag: &str, source: &ConfigSource) {
        self.warnings.push(ConfigWarning {
            key: if key.is_empty() {
                "(top level)".into()
            } else {
                key.to_string()
            },
            source: source.clone(),
            line: None,
            message: format!("has the tag {tag}, which car ignores (the value is read without it)"),
        });
    }

    pub(super) fn finish(self) -> Merged {
        let mut warnings = self.warnings;
        for w in warnings.iter_mut().take(LOCATED_WARNINGS) {
            w.line = line_in(&self.files, &w.source, &w.key);
        }
        Merged {
            value: self.merged,
            sources: self.sources,
            warnings,
            files: self.files,
        }
    }
}

/// Whether a root file is sectioned (`repo:`/`hub:` at the top).
fn is_sectioned(value: &Value) -> bool {
    value
        .as_mapping()
        .is_some_and(|m| m.contains_key("repo") || m.contains_key("hub"))
}

/// Top-level keys of a flat hub file that are the hub's own, not shared
/// with its repositories.
const HUB_OWN_KEYS: &[&str] = &["mode", "hub", "version"];

fn is_hub_key(key: &str) -> bool {
    let top = key.split(['.', '[']).next().unwrap_or(key);
    HUB_OWN_KEYS.contains(&top)
}

/// A flat hub file as its repositories read it: every key but the hub's own.
fn without_hub_keys(value: Value) -> Value {
    match value {
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .filter(|(k, _)| !k.as_str().is_some_and(is_hub_key))
                .collect(),
        ),
        other => other,
    }
}

/// The `repo:` section of a sectioned file (empty when it has none).
fn repo_section(value: &Value) -> Value {
    match value.get("repo") {
        Some(v @ Value::Mapping(_)) => v.clone(),
        _ => Value::Mapping(Mapping::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_cover_every_section() {
        let v: Value = serde_yaml::from_str(DEFAULTS_YAML).unwrap();
        for section in [
            "docs",
            "codex",
            "prompt",
            "runner",
            "git",
            "server",
            "notifications",
        ] {
            assert!(
                lookup(&v, section).is_some_and(Value::is_mapping),
                "{section}"
            );
        }
        assert_eq!(lookup(&v, "version"), Some(&Value::from(2)));
    }

    #[test]
    fn env_keys_use_double_underscore_and_yaml_values() {
        let mut stack = Stack::new().unwrap();
        stack.add_env(&[
            ("CAR_RUNNER__SLEEP_SECONDS".into(), "0".into()),
            ("CAR_LOG".into(), "debug".into()),
            ("CAR_CODEX__MODEL".into(), "gpt-5.5".into()),
        ]);
        assert_eq!(
            lookup(&stack.merged, "runner.sleep_seconds"),
            Some(&Value::from(0))
        );
        assert_eq!(
            lookup(&stack.merged, "codex.model").unwrap().as_str(),
            Some("gpt-5.5")
        );
        assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);
    }

    #[test]
    fn unknown_keys_warn_but_python_sections_do_not() {
        let mut stack = Stack::new().unwrap();
        let layer: Value = serde_yaml::from_str(
            "runner:\n  sleep_secs: 1\ntelegram_bot:\n  enabled: false\nvoice: {enabled: true}\n",
        )
        .unwrap();
        stack.check_known(&layer, "", &ConfigSource::Default);
        assert_eq!(stack.warnings.len(), 1);
        assert_eq!(stack.warnings[0].key, "runner.sleep_secs");
    }

    #[test]
    fn the_python_voice_section_is_accepted_and_an_unknown_voice_key_warns() {
        let mut stack = Stack::new().unwrap();
        let layer: Value = serde_yaml::from_str(
            "voice:\n  enabled: true\n  provider: openai_whisper\n  chunk_ms: 600\n  push_to_talk: {max_ms: 15000}\n  providers:\n    openai_whisper: {api_key_env: OPENAI_API_KEY, model: whisper-1}\n  model: whisper-1\n  modle: x\n",
        )
        .unwrap();
        stack.check_known(&layer, "", &ConfigSource::Default);
        assert_eq!(stack.warnings.len(), 1, "{:?}", stack.warnings);
        assert_eq!(stack.warnings[0].key, "voice.modle");
    }

    #[test]
    fn sectioned_files_use_the_repo_section() {
        let v: Value =
            serde_yaml::from_str("repo:\n  runner:\n    sleep_seconds: 9\nhub:\n  x: 1\n").unwrap();
        assert!(is_sectioned(&v));
        let s = repo_section(&v);
        assert_eq!(lookup(&s, "runner.sleep_seconds"), Some(&Value::from(9)));
        let flat: Value = serde_yaml::from_str("runner:\n  sleep_seconds: 9\n").unwrap();
        assert!(!is_sectioned(&flat));
    }

    #[test]
    fn a_flat_hub_file_shares_every_key_but_the_hubs_own() {
        let v: Value =
            serde_yaml::from_str("version: 2\nmode: hub\nrunner:\n  sleep_seconds: 9\n").unwrap();
        let shared = without_hub_keys(v);
        let want: Value = serde_yaml::from_str("runner:\n  sleep_seconds: 9\n").unwrap();
        assert_eq!(shared, want);
        assert!(is_hub_key("mode") && is_hub_key("hub.repos_root") && !is_hub_key("runner"));
    }
}

#[cfg(test)]
mod root_file_tests {
    use super::*;

    /// The commented root `codex-autorunner.yml` documents every default:
    /// it must hold exactly the built-in values, so the two cannot drift.
    #[test]
    fn root_config_file_equals_the_builtin_defaults() {
        let root = include_str!("../../../../codex-autorunner.yml");
        let a: Value = serde_yaml::from_str(root).unwrap();
        let b: Value = serde_yaml::from_str(DEFAULTS_YAML).unwrap();
        assert_eq!(a, b);
    }
}
