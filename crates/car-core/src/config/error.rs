//! The errors of loading a configuration; each names the file, line or key.

use std::path::PathBuf;

use super::limits::{MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES};
use super::source::{self, ConfigSource};

/// Errors from loading a configuration; each names the file, line or key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `.codex-autorunner/config.yml` was found.
    #[error(
        "not a car repository: no .codex-autorunner/config.yml in {} or any parent directory",
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
