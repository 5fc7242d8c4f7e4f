//! Configuration: layered YAML files, `CAR_*` environment variables and
//! command-line values, merged in a fixed order with the source of every key
//! remembered.
//!
//! Precedence, lowest first: the built-in defaults (`defaults.yml`, embedded),
//! `<root>/codex-autorunner.yml`, `<root>/codex-autorunner.override.yml`,
//! `<root>/.codex-autorunner/config.yml`, `CAR_<SECTION>__<KEY>` environment
//! variables, then command-line values. Mappings merge key by key; lists and
//! scalars replace. The two root files may be *sectioned* (`repo:`/`hub:` at
//! the top) or flat, as with the Python program.

mod keypath;
mod layers;
mod limits;
mod merge;
mod model;
mod position;
mod reader;
mod source;
mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use limits::{MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES};
pub use model::{
    CodexConfig, Config, DiscordConfig, DocsConfig, Enabled, EventsConfig, GitConfig, NotifyConfig,
    NtfyConfig, PromptConfig, RunnerConfig, ServerConfig, SnapshotConfig, TelegramConfig,
    WebhookConfig,
};
pub use source::{ConfigSource, ConfigWarning};

use crate::paths::RepoPaths;

/// The built-in defaults, the lowest layer.
pub(crate) const DEFAULTS_YAML: &str = include_str!("defaults.yml");

/// Where the layers of a repository's configuration come from, and the
/// environment and command-line values to apply on top.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Environment variables to consider (only `CAR_<SECTION>__<KEY>` ones
    /// are used). The caller passes them so the engine never reads the
    /// process environment itself.
    pub env: Vec<(String, String)>,
    /// Command-line values as `(key path, YAML value, flag that set it)`.
    pub cli: Vec<(String, String, String)>,
}

impl LoadOptions {
    /// Returns options that take the `CAR_*` variables of this process.
    pub fn from_process_env() -> Self {
        Self {
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("CAR_"))
                .collect(),
            cli: Vec::new(),
        }
    }
}

/// A loaded configuration plus where each value came from.
#[derive(Debug, Clone)]
pub struct ResolvedConfig {
    /// The validated, typed configuration the engine uses.
    pub config: Config,
    /// The repository the configuration belongs to.
    pub paths: RepoPaths,
    /// Problems that did not stop loading (unknown keys).
    pub warnings: Vec<ConfigWarning>,
    merged: serde_yaml::Value,
    sources: BTreeMap<String, ConfigSource>,
}

impl ResolvedConfig {
    /// Returns the merged configuration as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.merged).unwrap_or(serde_json::Value::Null)
    }

    /// Returns every leaf key (dotted path), its value as YAML text and its source.
    pub fn entries(&self) -> Vec<(String, String, ConfigSource)> {
        let mut out = Vec::new();
        merge::leaves(&self.merged, "", &mut |path, value| {
            // Lists and maps in flow style (`[a, b]`), on one line.
            let text = match value {
                serde_yaml::Value::Sequence(_) | serde_yaml::Value::Mapping(_) => {
                    serde_json::to_string(value).unwrap_or_default()
                }
                _ => serde_yaml::to_string(value)
                    .map(|s| s.trim_end().to_string())
                    .unwrap_or_default(),
            };
            out.push((path.to_string(), text, self.source_of(path)));
        });
        out
    }

    /// Returns the source of the value at a dotted key path.
    pub fn source_of(&self, key: &str) -> ConfigSource {
        source::source_of(&self.sources, key)
    }
}

/// Errors from loading a configuration; each names the file, line or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `.codex-autorunner/config.yml` was found.
    #[error(
        "not a car repository: no .codex-autorunner/config.yml in {} or any parent directory (run `car init` first)",
        start.display()
    )]
    NotFound {
        /// Where the search started.
        start: PathBuf,
    },
    /// A config file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A config file is not valid YAML.
    #[error("invalid YAML in {}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A config file's top level is not a mapping.
    #[error("config file {} must hold a mapping of keys (like `runner:`) at the top level", path.display())]
    NotMapping {
        /// The file.
        path: PathBuf,
    },
    /// A config file is bigger than [`MAX_FILE_BYTES`].
    #[error(
        "config file {} is too big: {size} bytes, and the limit is {MAX_FILE_BYTES} (1 MiB){}",
        path.display(),
        longest.as_ref().map_or_else(String::new, |(line, key, bytes)| format!(
            "; its longest line, line {line}{}, holds {bytes} bytes",
            if key.is_empty() { String::new() } else { format!(" (`{key}`)") }
        ))
    )]
    TooBig {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// Its longest line: (1-based line, key path guessed from the
        /// indentation, bytes).
        longest: Option<(usize, String, usize)>,
    },
    /// A config file nests lists and mappings deeper than [`MAX_DEPTH`].
    #[error(
        "config file {}:{line}: lists and mappings are nested more than {MAX_DEPTH} levels deep, the limit",
        path.display()
    )]
    TooDeep {
        /// The file.
        path: PathBuf,
        /// 1-based line where the limit is passed.
        line: usize,
    },
    /// A config file holds more than [`MAX_VALUES`] values (aliases expanded).
    #[error(
        "config file {}:{line}: more than {MAX_VALUES} values (aliases expanded), the limit",
        path.display()
    )]
    TooManyValues {
        /// The file.
        path: PathBuf,
        /// 1-based line where the limit is passed.
        line: usize,
    },
    /// A key has a value of the wrong type or out of range.
    #[error("invalid value for `{key}` (set in {}): {message}", source::At(origin, *line))]
    Invalid {
        /// The dotted key path.
        key: String,
        /// Where the value came from.
        origin: ConfigSource,
        /// The 1-based line in the file it came from, when known.
        line: Option<usize>,
        /// What is wrong, and what is allowed.
        message: String,
    },
    /// A command-line `KEY=VALUE` could not be parsed.
    #[error("invalid config override `{arg}`: expected KEY=VALUE, e.g. runner.sleep_seconds=0")]
    BadOverride {
        /// The argument as given.
        arg: String,
    },
    /// The config is a hub config but a repository was expected.
    #[error(
        "{} is a hub config (mode: hub); run this command inside one of the hub's repositories",
        path.display()
    )]
    HubMode {
        /// The config file that sets the mode.
        path: PathBuf,
    },
}

/// Loads the configuration of the repository that contains `start`.
pub(crate) fn discover_and_load(
    start: &Path,
    opts: &LoadOptions,
) -> Result<ResolvedConfig, ConfigError> {
    let paths = RepoPaths::discover(start).ok_or_else(|| ConfigError::NotFound {
        start: start.to_path_buf(),
    })?;
    load(&paths, opts)
}

/// Loads and validates the configuration of the repository at `paths.root`.
pub(crate) fn load(paths: &RepoPaths, opts: &LoadOptions) -> Result<ResolvedConfig, ConfigError> {
    let mut stack = layers::Stack::new()?;
    let root = &paths.root;
    for (path, source) in [
        (
            root.join("codex-autorunner.yml"),
            ConfigSource::RootFile(root.join("codex-autorunner.yml")),
        ),
        (
            root.join("codex-autorunner.override.yml"),
            ConfigSource::OverrideFile(root.join("codex-autorunner.override.yml")),
        ),
        (
            paths.config_file(),
            ConfigSource::RepoFile(paths.config_file()),
        ),
    ] {
        stack.add_file(&path, source)?;
    }
    stack.add_env(&opts.env);
    for (key, value, flag) in &opts.cli {
        stack.add_cli(key, value, flag);
    }
    resolve(stack, paths)
}

/// Returns the built-in defaults alone, for the repository at `paths`
/// (`car doctor` uses them when the config files are broken).
pub(crate) fn defaults(paths: &RepoPaths) -> Result<ResolvedConfig, ConfigError> {
    resolve(layers::Stack::new()?, paths)
}

/// Merges the layers and builds the typed configuration.
fn resolve(stack: layers::Stack, paths: &RepoPaths) -> Result<ResolvedConfig, ConfigError> {
    let layers::Merged {
        value: merged,
        sources,
        mut warnings,
        files,
    } = stack.finish();
    let mut reader = reader::Reader::new(&merged, &sources, &files);
    let config = model::build(&mut reader, paths)?;
    warnings.append(&mut reader.warnings);
    Ok(ResolvedConfig {
        config,
        paths: paths.clone(),
        warnings,
        merged,
        sources,
    })
}

/// Every leaf key of the built-in defaults (for the fuzz tests).
#[cfg(test)]
pub(crate) fn default_keys() -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(DEFAULTS_YAML) {
        merge::leaves(&v, "", &mut |p, _| keys.push(p.to_string()));
    }
    keys
}

/// Parses a `KEY=VALUE` command-line override into `(key, value)`.
pub fn parse_override(arg: &str) -> Result<(String, String), ConfigError> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ConfigError::BadOverride {
            arg: arg.to_string(),
        }),
    }
}
