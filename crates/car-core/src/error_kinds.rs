//! What kind of failure each module's error is, and what would help: the
//! `kind()` and `hint()` of every error [`crate::Error`] wraps, in one place.

use crate::agent::AgentError;
use crate::config::ConfigError;
use crate::control::InitError;
use crate::docs::DocError;
use crate::error::ErrorKind;
use crate::hint::Hint;
use crate::ingest::IngestError;
use crate::job::JobError;
use crate::lock::LockError;
use crate::prompt::PromptError;
use crate::snapshot::SnapshotError;
use crate::state::StateError;
use crate::task::TaskError;

impl ConfigError {
    /// Returns what kind of failure this is: always a configuration error
    /// (one that cannot be read counts too: nothing can run without it).
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Config
    }

    /// Returns what would help: outside a repository set up for car,
    /// setting one up.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::NotFound { .. } => Some(Hint::InitRepo),
            _ => None,
        }
    }
}

impl DocError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        // A doc that is not text cannot be read as one: an I/O failure for
        // the front end, not a mistake in how car was asked.
        match self {
            Self::Io(_) | Self::NotUtf8 { .. } => ErrorKind::Io,
            Self::Cancelled(_) => ErrorKind::Internal,
        }
    }
}

impl PromptError {
    /// Returns what kind of failure this is: a template is configuration.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Config
    }
}

impl LockError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Held { .. } => ErrorKind::Busy,
            Self::Io(_) => ErrorKind::Io,
        }
    }

    /// Returns what would help: wait for the other runner, or stop it.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Held { .. } => Some(Hint::WaitOrStopRunner),
            Self::Io(_) => None,
        }
    }
}

impl StateError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Io(_) => ErrorKind::Io,
        }
    }
}

impl AgentError {
    /// Returns what kind of failure this is: a missing binary is the
    /// agent's setup (`codex.binary`), the rest is the agent's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::Config,
            Self::Log(_) => ErrorKind::Io,
            Self::Spawn { .. } | Self::SupervisedSpawn { .. } => ErrorKind::Agent,
        }
    }

    /// Returns what would help: installing the agent when it is missing.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::NotFound { .. } => Some(Hint::InstallCodex),
            _ => None,
        }
    }
}

impl InitError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NoGit { .. } => ErrorKind::User,
            Self::Config(e) => e.kind(),
            Self::Git(_) => ErrorKind::Internal,
            Self::Io(_) => ErrorKind::Io,
        }
    }

    /// Returns what would help: creating the git repository init needs.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::NoGit { .. } => Some(Hint::InitGit),
            Self::Config(e) => e.hint(),
            Self::Git(_) | Self::Io(_) => None,
        }
    }
}

impl JobError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Agent(e) => e.kind(),
            Self::Io(_) => ErrorKind::Io,
            Self::Failed { .. } => ErrorKind::Agent,
            Self::Cancelled(_) => ErrorKind::Internal,
        }
    }

    /// Returns what would help.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Agent(e) => e.hint(),
            Self::Io(_) | Self::Failed { .. } | Self::Cancelled(_) => None,
        }
    }
}

impl IngestError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::SpecMissing { .. } | Self::SpecEmpty { .. } | Self::NotEmpty { .. } => {
                ErrorKind::User
            }
            Self::Lock(e) => e.kind(),
            Self::Job(e) => e.kind(),
            Self::Unparseable { .. } => ErrorKind::Agent,
            Self::Prompt(e) => e.kind(),
            Self::Io(_) => ErrorKind::Io,
            Self::Doc(e) => e.kind(),
        }
    }

    /// Returns what would help.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::SpecMissing { .. } | Self::SpecEmpty { .. } => Some(Hint::WriteSpec),
            Self::NotEmpty { .. } => Some(Hint::AllowOverwrite),
            Self::Lock(e) => e.hint(),
            Self::Job(e) => e.hint(),
            Self::Unparseable { .. } | Self::Prompt(_) | Self::Io(_) | Self::Doc(_) => None,
        }
    }
}

impl SnapshotError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Job(e) => e.kind(),
            Self::Empty => ErrorKind::Agent,
            Self::Io(_) => ErrorKind::Io,
        }
    }

    /// Returns what would help.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Job(e) => e.hint(),
            Self::Empty | Self::Io(_) => None,
        }
    }
}

impl TaskError {
    /// Returns what kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. }
            | Self::EmptyPrompt { .. }
            | Self::CwdMissing { .. }
            | Self::CwdNotAllowed { .. }
            | Self::NoThread { .. } => ErrorKind::User,
            Self::Busy { .. } => ErrorKind::Busy,
            Self::NotCodexExec => ErrorKind::Config,
            Self::Agent(e) => e.kind(),
            Self::Corrupt { .. } => ErrorKind::Internal,
            Self::Launch(_) | Self::Io(_) => ErrorKind::Io,
        }
    }

    /// Returns what would help: waiting for a busy task's turn to end,
    /// installing a missing agent.
    pub fn hint(&self) -> Option<Hint> {
        match self {
            Self::Busy { .. } => Some(Hint::WaitForTask),
            Self::Agent(e) => e.hint(),
            _ => None,
        }
    }
}
