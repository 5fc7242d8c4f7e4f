//! Where each configuration value came from: the layer's source, warnings
//! that name it, and the lookup of a key's source.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from, in increasing precedence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", content = "origin", rename_all = "snake_case")]
pub enum ConfigSource {
    /// The built-in defaults.
    Default,
    /// The user's car config file (`$XDG_CONFIG_HOME/car/config.yml`, default
    /// `~/.config/car/config.yml`): beneath every repository's files.
    UserFile(PathBuf),
    /// `codex-autorunner.yml` or `codex-autorunner.override.yml` at the root
    /// of the hub that lists the repository: shared by all its repositories.
    HubFile(PathBuf),
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
            Self::UserFile(p) => write!(f, "{} (user)", p.display()),
            Self::HubFile(p) => write!(f, "{} (hub-wide)", p.display()),
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
        match (self.0, self.1) {
            (ConfigSource::HubFile(p), Some(line)) => {
                write!(f, "{}:{line} (hub-wide)", p.display())
            }
            (_, Some(line)) => write!(f, "{}:{line}", self.0),
            (_, None) => write!(f, "{}", self.0),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_takes_the_source_of_its_nearest_ancestor() {
        let file = ConfigSource::RepoFile("/r/c.yml".into());
        let sources = BTreeMap::from([
            ("codex.args".to_string(), file.clone()),
            ("runner".to_string(), ConfigSource::Env("CAR_X__Y".into())),
        ]);
        assert_eq!(source_of(&sources, "codex.args[3]"), file);
        assert_eq!(source_of(&sources, "codex.args"), file);
        assert_eq!(
            source_of(&sources, "runner.sleep_seconds"),
            ConfigSource::Env("CAR_X__Y".into())
        );
        assert_eq!(source_of(&sources, "codex.model"), ConfigSource::Default);
    }

    #[test]
    fn sources_and_warnings_name_the_file_and_line() {
        let w = ConfigWarning {
            key: "runner.x".into(),
            source: ConfigSource::RepoFile("/r/c.yml".into()),
            line: Some(3),
            message: "is not a known key and is ignored".into(),
        };
        assert_eq!(
            w.to_string(),
            "/r/c.yml:3: `runner.x` is not a known key and is ignored"
        );
        let hub = ConfigSource::HubFile("/hub/codex-autorunner.yml".into());
        assert_eq!(
            At(&hub, Some(4)).to_string(),
            "/hub/codex-autorunner.yml:4 (hub-wide)"
        );
        assert_eq!(hub.to_string(), "/hub/codex-autorunner.yml (hub-wide)");
        let cli = ConfigSource::Cli("--set".into());
        assert_eq!(At(&cli, None).to_string(), "command line --set");
    }
}
