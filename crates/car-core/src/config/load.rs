//! Loading a repository's configuration: the files, then the environment
//! and command-line values on top.

use std::path::Path;

use super::error::ConfigError;
use super::layers;
use super::resolved::{ResolvedConfig, resolve};
use super::source::ConfigSource;
use crate::paths::RepoPaths;

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
