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
    /// The user's car config file (the lowest file layer), when there is
    /// one to read: see [`crate::machine::user_config_file`].
    pub user_file: Option<std::path::PathBuf>,
}

impl LoadOptions {
    /// Returns options that take the `CAR_*` variables of this process.
    pub fn from_process_env() -> Self {
        Self {
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("CAR_"))
                .collect(),
            cli: Vec::new(),
            user_file: crate::machine::user_config_file(
                std::env::var_os("XDG_CONFIG_HOME")
                    .as_deref()
                    .map(Path::new),
                std::env::var_os("HOME").as_deref().map(Path::new),
            )
            .ok(),
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
    if let Some(user) = &opts.user_file {
        stack.add_file(user, ConfigSource::UserFile(user.clone()))?;
    }
    // A repository a hub lists shares the hub root's two files, beneath its own.
    if let Some(hub) = crate::hub::HubMembership::find(&paths.root) {
        for name in ["codex-autorunner.yml", "codex-autorunner.override.yml"] {
            let path = hub.root.join(name);
            stack.add_file(&path, ConfigSource::HubFile(path.clone()))?;
        }
    }
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

#[cfg(test)]
mod hub_tests {
    use super::*;

    /// A hub listing `demo` and the worktree `demo--x`, with `hub_yml` as
    /// its root `codex-autorunner.yml`; returns (hub dir, demo's paths).
    fn hub(hub_yml: &str) -> (tempfile::TempDir, RepoPaths) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".codex-autorunner")).unwrap();
        std::fs::write(
            root.join(".codex-autorunner/manifest.yml"),
            "version: 3\nrepos:\n- id: demo\n  path: demo\n  kind: base\n- id: demo--x\n  path: worktrees/demo--x\n  kind: worktree\n  worktree_of: demo\n",
        )
        .unwrap();
        std::fs::write(root.join("codex-autorunner.yml"), hub_yml).unwrap();
        for d in ["demo", "worktrees/demo--x", "stray"] {
            std::fs::create_dir_all(root.join(d).join(".codex-autorunner")).unwrap();
            std::fs::write(
                root.join(d).join(".codex-autorunner/config.yml"),
                "version: 2\nmode: repo\n",
            )
            .unwrap();
        }
        let demo = RepoPaths::new(root.join("demo"));
        (dir, demo)
    }

    #[test]
    fn a_flat_hub_file_reaches_every_listed_repository_beneath_its_own_files() {
        let (dir, demo) = hub(
            "version: 2\nmode: hub\nhub:\n  max_parallel_loops: 2\nrunner:\n  sleep_seconds: 7\n  no_progress_runs: 4\n",
        );
        std::fs::write(
            demo.config_file(),
            "version: 2\nmode: repo\nrunner:\n  no_progress_runs: 2\n",
        )
        .unwrap();
        let hub_file = std::fs::canonicalize(dir.path())
            .unwrap()
            .join("codex-autorunner.yml");
        let c = load(&demo, &LoadOptions::default()).unwrap();
        assert_eq!(c.config.runner.sleep, std::time::Duration::from_secs(7));
        assert_eq!(
            c.config.runner.no_progress_runs, 2,
            "the repo's own file wins"
        );
        assert_eq!(
            c.source_of("runner.sleep_seconds"),
            ConfigSource::HubFile(hub_file.clone())
        );
        assert_eq!(
            c.source_of("mode"),
            ConfigSource::RepoFile(demo.config_file())
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let wt = RepoPaths::new(dir.path().join("worktrees/demo--x"));
        let c = load(&wt, &LoadOptions::default()).unwrap();
        assert_eq!(
            c.source_of("runner.sleep_seconds"),
            ConfigSource::HubFile(hub_file)
        );
        // A directory inside the hub that its manifest does not list.
        let stray = RepoPaths::new(dir.path().join("stray"));
        let c = load(&stray, &LoadOptions::default()).unwrap();
        assert_eq!(c.source_of("runner.sleep_seconds"), ConfigSource::Default);
    }

    #[test]
    fn a_sectioned_hub_file_shares_its_repo_section_and_errors_name_its_line() {
        let (dir, demo) =
            hub("hub:\n  max_parallel_loops: 2\nrepo:\n  runner:\n    sleep_seconds: 3\n");
        let c = load(&demo, &LoadOptions::default()).unwrap();
        assert_eq!(c.config.runner.sleep, std::time::Duration::from_secs(3));
        std::fs::write(
            dir.path().join("codex-autorunner.override.yml"),
            "version: 2\nrunner:\n  sleep_seconds: soon\n",
        )
        .unwrap();
        let e = load(&demo, &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("runner.sleep_seconds") && e.contains("codex-autorunner.override.yml:3"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod user_tests {
    use super::*;

    #[test]
    fn the_user_file_sits_beneath_the_repositorys_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        std::fs::create_dir_all(root.join(".codex-autorunner")).unwrap();
        std::fs::write(
            root.join(".codex-autorunner/config.yml"),
            "version: 2\nmode: repo\nrunner:\n  no_progress_runs: 2\n",
        )
        .unwrap();
        let user = dir.path().join("user.yml");
        std::fs::write(
            &user,
            "runner:\n  sleep_seconds: 9\n  no_progress_runs: 5\nmachines:\n  gpu:\n    ssh: me@gpu\n",
        )
        .unwrap();
        let paths = RepoPaths::new(&root);
        let opts = LoadOptions {
            user_file: Some(user.clone()),
            ..LoadOptions::default()
        };
        let c = load(&paths, &opts).unwrap();
        assert_eq!(c.config.runner.sleep, std::time::Duration::from_secs(9));
        assert_eq!(c.config.runner.no_progress_runs, 2, "the repo's file wins");
        assert_eq!(
            c.source_of("runner.sleep_seconds"),
            ConfigSource::UserFile(user.clone())
        );
        assert!(
            c.warnings.is_empty(),
            "machines is a known section: {:?}",
            c.warnings
        );
        std::fs::write(&user, "runner:\n  sleep_seconds: soon\n").unwrap();
        let e = load(&paths, &opts).unwrap_err().to_string();
        assert!(
            e.contains("user.yml") && e.contains("runner.sleep_seconds"),
            "{e}"
        );
    }
}
