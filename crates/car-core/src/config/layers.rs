//! Reading config layers, merging them in order and remembering the source
//! of every key; unknown keys become warnings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::{ConfigError, DEFAULTS_YAML};

/// Where a configuration value came from, in increasing precedence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", content = "origin", rename_all = "snake_case")]
pub enum ConfigSource {
    /// The built-in defaults.
    Default,
    /// `<root>/codex-autorunner.yml`.
    RootFile(PathBuf),
    /// `<root>/codex-autorunner.override.yml`.
    OverrideFile(PathBuf),
    /// `<root>/.codex-autorunner/config.yml`.
    RepoFile(PathBuf),
    /// A `CAR_<SECTION>__<KEY>` environment variable (its name).
    Env(String),
    /// A command-line flag (its spelling).
    Cli(String),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::RootFile(p) | Self::OverrideFile(p) | Self::RepoFile(p) => {
                write!(f, "{}", p.display())
            }
            Self::Env(v) => write!(f, "environment variable {v}"),
            Self::Cli(flag) => write!(f, "command line {flag}"),
        }
    }
}

/// A problem in a config layer that does not stop loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The dotted key path.
    pub key: String,
    /// Where it was set.
    pub source: ConfigSource,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}` {}", self.source, self.key, self.message)
    }
}

/// Top-level sections that the Python program reads and `car` does not
/// (yet) use. A config written by Python's `car init` holds all of them, so
/// they are accepted silently instead of being reported as unknown.
const PYTHON_ONLY_SECTIONS: &[&str] = &[
    "github",
    "telegram_bot",
    "terminal",
    "voice",
    "log",
    "server_log",
    "static_assets",
    "housekeeping",
    "app_server",
    "usage",
    "update",
    "hub",
];

/// Keys whose value is a free-form mapping (any key is valid below them).
const OPEN_MAPS: &[&str] = &["notifications.telegram.thread_id_map", "codex.env"];

/// Config layers being merged.
pub(super) struct Stack {
    defaults: Value,
    merged: Value,
    sources: BTreeMap<String, ConfigSource>,
    warnings: Vec<ConfigWarning>,
}

impl Stack {
    pub(super) fn new() -> Result<Self, ConfigError> {
        let defaults = parse_yaml(DEFAULTS_YAML, Path::new("<built-in defaults>"))?;
        let mut sources = BTreeMap::new();
        leaves(&defaults, "", &mut |p, _| {
            sources.insert(p.to_string(), ConfigSource::Default);
        });
        Ok(Self {
            merged: defaults.clone(),
            defaults,
            sources,
            warnings: Vec::new(),
        })
    }

    /// Adds a YAML file when it exists.
    pub(super) fn add_file(
        &mut self,
        path: &Path,
        source: ConfigSource,
    ) -> Result<(), ConfigError> {
        let text = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source: e,
                });
            }
        };
        let text = String::from_utf8(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            line: line_of_offset(e.as_bytes(), e.utf8_error().valid_up_to()),
            column: 1,
            message: "the file is not valid UTF-8".into(),
        })?;
        let mut value = parse_yaml(&text, path)?;
        if value.is_null() {
            return Ok(()); // an empty file (or only comments)
        }
        if !value.is_mapping() {
            return Err(ConfigError::NotMapping {
                path: path.to_path_buf(),
            });
        }
        if !matches!(source, ConfigSource::RepoFile(_)) {
            value = select_section(value);
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
        let value =
            serde_yaml::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.into()));
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
            if OPEN_MAPS.contains(&path.as_str()) {
                continue;
            }
            match lookup(&self.defaults, &path) {
                None => self.warnings.push(ConfigWarning {
                    key: path,
                    source: source.clone(),
                    message: "is not a known key and is ignored".into(),
                }),
                Some(Value::Mapping(_)) => self.check_known(v, &path, source),
                Some(_) => {}
            }
        }
    }

    pub(super) fn finish(self) -> (Value, BTreeMap<String, ConfigSource>, Vec<ConfigWarning>) {
        (self.merged, self.sources, self.warnings)
    }
}

/// Uses the `repo:` section of a sectioned file, or the file itself when flat.
fn select_section(value: Value) -> Value {
    let Value::Mapping(map) = &value else {
        return value;
    };
    let sectioned = map.contains_key("repo") || map.contains_key("hub");
    if !sectioned {
        return value;
    }
    match map.get("repo") {
        Some(v @ Value::Mapping(_)) => v.clone(),
        _ => Value::Mapping(Mapping::new()),
    }
}

fn parse_yaml(text: &str, path: &Path) -> Result<Value, ConfigError> {
    serde_yaml::from_str::<Value>(text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: strip_location(&e.to_string()),
        }
    })
}

/// Removes the " at line L column C" suffix the parser adds, since the error
/// prints the location itself.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn merge(
    base: &mut Value,
    layer: &Value,
    prefix: &str,
    source: &ConfigSource,
    sources: &mut BTreeMap<String, ConfigSource>,
) {
    let (Value::Mapping(base_map), Value::Mapping(layer_map)) = (&mut *base, layer) else {
        *base = layer.clone();
        set_source(sources, prefix, layer, source);
        return;
    };
    for (k, v) in layer_map {
        let path = join(prefix, &key_text(k));
        match base_map.get_mut(k) {
            Some(existing) if existing.is_mapping() && v.is_mapping() => {
                merge(existing, v, &path, source, sources);
            }
            _ => {
                base_map.insert(k.clone(), v.clone());
                set_source(sources, &path, v, source);
            }
        }
    }
}

fn set_source(
    sources: &mut BTreeMap<String, ConfigSource>,
    path: &str,
    value: &Value,
    source: &ConfigSource,
) {
    let below = format!("{path}.");
    sources.retain(|k, _| k != path && !k.starts_with(&below));
    sources.insert(path.to_string(), source.clone());
    leaves(value, path, &mut |p, _| {
        sources.insert(p.to_string(), source.clone());
    });
}

/// Returns the source of `key`, or of its nearest ancestor with one.
pub(super) fn source_of(sources: &BTreeMap<String, ConfigSource>, key: &str) -> ConfigSource {
    let mut k = key;
    loop {
        if let Some(s) = sources.get(k) {
            return s.clone();
        }
        match k.rfind('.') {
            Some(i) => k = &k[..i],
            None => return ConfigSource::Default,
        }
    }
}

/// Calls `f` with every leaf (non-mapping value, or empty mapping) and its path.
pub(super) fn leaves(value: &Value, prefix: &str, f: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, v) in m {
                leaves(v, &join(prefix, &key_text(k)), f);
            }
        }
        _ if prefix.is_empty() => {}
        other => f(prefix, other),
    }
}

pub(super) fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, part| match v {
        Value::Mapping(m) => m.get(part),
        _ => None,
    })
}

fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
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
    fn merge_replaces_lists_and_merges_maps_and_tracks_sources() {
        let mut stack = Stack::new().unwrap();
        let layer: Value =
            serde_yaml::from_str("codex:\n  args: [exec, --foo]\nrunner:\n  sleep_seconds: 1\n")
                .unwrap();
        let src = ConfigSource::RepoFile("/r/c.yml".into());
        merge(&mut stack.merged, &layer, "", &src, &mut stack.sources);
        let args = lookup(&stack.merged, "codex.args").unwrap();
        assert_eq!(args.as_sequence().unwrap().len(), 2);
        assert_eq!(
            lookup(&stack.merged, "codex.binary").unwrap().as_str(),
            Some("codex")
        );
        assert_eq!(source_of(&stack.sources, "codex.args"), src);
        assert_eq!(
            source_of(&stack.sources, "codex.binary"),
            ConfigSource::Default
        );
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
    fn sectioned_files_use_the_repo_section() {
        let v: Value =
            serde_yaml::from_str("repo:\n  runner:\n    sleep_seconds: 9\nhub:\n  x: 1\n").unwrap();
        let s = select_section(v);
        assert_eq!(lookup(&s, "runner.sleep_seconds"), Some(&Value::from(9)));
        let flat: Value = serde_yaml::from_str("runner:\n  sleep_seconds: 9\n").unwrap();
        assert_eq!(select_section(flat.clone()), flat);
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
