//! What can go wrong with the `machines` config and the tunnel state.

use std::path::PathBuf;

use thiserror::Error;

use crate::fs_util::PathError;

/// An error of the machines config or of a tunnel's files.
#[derive(Debug, Error)]
pub enum MachineError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] PathError),
    /// A config file is not valid YAML.
    #[error("{}: not valid YAML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (with its line).
        message: String,
    },
    /// A value under `machines` is wrong.
    #[error("{}: `{key}` {message}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `machines.gpu.port`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// No machine has this name.
    #[error("no machine named `{name}` in {searched}{}", known_list(known))]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: Vec<String>,
        /// The files read, for the message.
        searched: String,
    },
    /// Neither `XDG_CONFIG_HOME`/`XDG_STATE_HOME` nor `HOME` is set.
    #[error("cannot find the user's {what} directory: set HOME (or {var})")]
    NoHome {
        /// `config` or `state`.
        what: &'static str,
        /// The XDG variable.
        var: &'static str,
    },
    /// The tunnel's state file holds something else than a state.
    #[error("{}: not a tunnel state: {message}", path.display())]
    BadState {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (no machine is configured)".to_string()
    } else {
        format!(" (known: {})", known.join(", "))
    }
}
