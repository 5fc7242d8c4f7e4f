//! The users of a server and their scoped API tokens
//! (`car serve users ...`, `car serve tokens ...`): who they are, what
//! each role may hold, and the one file that keeps them,
//! `.codex-autorunner/server/users.json` (mode 0600, written atomically).
//! A token is `car_u_<id>_<secret>`: the file keeps only the SHA-256 of
//! the secret, so the token is shown once, when it is made; a server finds
//! it by its id and compares the hashes in constant time.

mod file;
mod token;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use file::{TokenRecord, UserRecord, Users, parse_expiry};
pub use token::{Grant, NewToken, Refused, TOKEN_PREFIX};

/// What a user is: it caps the scopes of the user's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sees state, runs, docs, events and streams: tokens of scope `read`.
    Viewer,
    /// Also answers the loop, resumes it and runs its own tasks and
    /// commands: tokens up to scope `tasks`.
    Operator,
    /// Everything: tokens of any scope.
    Admin,
}

impl Role {
    /// The name in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// The widest scope a token of this role may have.
    pub fn max_scope(self) -> Scope {
        match self {
            Self::Viewer => Scope::Read,
            Self::Operator => Scope::Tasks,
            Self::Admin => Scope::Admin,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            _ => Err(format!("no role {s:?} (admin, operator or viewer)")),
        }
    }
}

/// What a token may do; each scope holds the ones before it
/// (`read` < `reply` < `tasks` < `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Read: state, runs, docs, events, streams, the caller's own tasks
    /// and commands.
    Read,
    /// Read, answer the loop's question, resume it (what a phone needs).
    Reply,
    /// Reply, and spawn, answer and cancel its own tasks and commands.
    Tasks,
    /// Everything: loops, docs, config, terminals, worktrees, sessions,
    /// every user's tasks and commands.
    Admin,
}

impl Scope {
    /// The name in files, on the command line and in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Reply => "reply",
            Self::Tasks => "tasks",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "reply" => Ok(Self::Reply),
            "tasks" => Ok(Self::Tasks),
            "admin" => Ok(Self::Admin),
            _ => Err(format!("no scope {s:?} (read, reply, tasks or admin)")),
        }
    }
}

/// What can go wrong with the users file.
#[derive(Debug, Error)]
pub enum UsersError {
    /// Reading or writing it failed.
    #[error(transparent)]
    Io(#[from] crate::fs_util::PathError),
    /// It is not what car writes.
    #[error(
        "{path} is not a valid users file: {message} (fix or remove it; removing it drops every user and token)"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// No user by that name.
    #[error("no user {name:?} in {path}")]
    NoUser {
        /// The name asked for.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// The name is taken.
    #[error("there is already a user {name:?} in {path} (remove it first)")]
    UserExists {
        /// The name.
        name: String,
        /// The file.
        path: PathBuf,
    },
    /// A user name car does not take.
    #[error(
        "the user name {0:?} is not valid: 1 to 64 of ASCII letters, digits, '-', '_', '.' and '@'"
    )]
    BadName(String),
    /// No token with that id.
    #[error("no token {id:?} in {path}")]
    NoToken {
        /// The id asked for.
        id: String,
        /// The file.
        path: PathBuf,
    },
    /// The scope asked for is wider than the user's role allows.
    #[error("user {user:?} is a{} {}: a token may have at most the scope {:?}", if matches!(role, Role::Admin | Role::Operator) {"n"} else {""}, role.as_str(), role.max_scope().as_str())]
    ScopeTooWide {
        /// The user.
        user: String,
        /// The user's role.
        role: Role,
    },
    /// An expiry car cannot read.
    #[error(
        "the expiry {0:?} is not valid: a duration like 30d, 12h, 15m or 2s, an RFC 3339 time, or never"
    )]
    BadExpiry(String),
    /// No randomness for a new token.
    #[error("cannot draw random bytes for a token: {0}")]
    Random(String),
}
