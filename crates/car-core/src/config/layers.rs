//! Reading config layers, merging them in order and remembering the source
//! of every key; unknown keys become warnings.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::yaml::{self, join, key_text};
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
    /// The 1-based line in the file it was set in, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: `{}` {}",
            At(&self.source, self.line),
            self.key,
            self.message
        )
    }
}

/// A source with its line: `/r/config.yml:3`, or the source alone.
pub(super) struct At<'a>(pub(super) &'a ConfigSource, pub(super) Option<usize>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(line) => write!(f, "{}:{line}", self.0),
            None => write!(f, "{}", self.0),
        }
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
        let sectioned = !matches!(source, ConfigSource::RepoFile(_)) && is_sectioned(&value);
        if sectioned {
            value = select_section(value);
        }
        for (key, tag) in parsed.tags {
            let key = match key.strip_prefix("repo.") {
                Some(k) if sectioned => k.to_string(),
                _ if sectioned => continue, // outside the section car reads
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
            if OPEN_MAPS.contains(&path.as_str()) {
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
            w.line = super::reader::line_in(&self.files, &w.source, &w.key);
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
    if base.is_mapping() && layer.is_null() {
        return; // an empty section (`runner:` with its keys commented out)
    }
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
            // An empty section (`runner:` with its keys commented out).
            Some(existing) if existing.is_mapping() && v.is_null() => {}
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
    // Forget the sources of the keys below `path` (a range of the sorted
    // map, so replacing many keys stays linear).
    for end in ['.', '['] {
        let below = format!("{path}{end}");
        let stale: Vec<String> = sources
            .range(below.clone()..)
            .take_while(|(k, _)| k.starts_with(&below))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            sources.remove(&k);
        }
    }
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
        // `a.b[2]` is in the list `a.b`; `a.b` in the mapping `a`.
        let cut = if k.ends_with(']') {
            k.rfind('[')
        } else {
            k.rfind('.')
        };
        match cut {
            Some(i) if i > 0 => k = &k[..i],
            _ => return ConfigSource::Default,
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
