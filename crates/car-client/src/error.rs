//! What can go wrong talking to a server.

/// An error of the client: the server could not be reached, it answered
/// with an error, or its answer could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL given for the server is not one the client can use.
    #[error("invalid server URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No connection to the server (refused, unknown host, timed out,
    /// dropped).
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable {
        /// The server's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server answered with an error.
    #[error("the server answered {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error's kind (`unauthorized`, `not_found`, `busy`, `user`, ...).
        kind: String,
        /// What happened, in the server's words.
        message: String,
        /// What would help, as data (`answer_then_resume`, ...).
        hint: Option<String>,
    },
    /// The server's answer is not what the API says it is.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol {
        /// The URL asked.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// The server serves no repository.
    #[error("the server serves no repository")]
    NoRepo,
    /// The server serves several repositories and none was chosen.
    #[error("the server serves several repositories ({}); say which one", ids.join(", "))]
    SeveralRepos {
        /// Their ids.
        ids: Vec<String>,
    },
    /// The repository asked for is not one the server serves.
    #[error("the server serves no repository {id:?} (it serves {})", ids.join(", "))]
    UnknownRepo {
        /// The id asked for.
        id: String,
        /// The ids it serves.
        ids: Vec<String>,
    },
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The kind of an error answer (`unauthorized`, `busy`, ...).
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Api { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// The server's hint, as data, when it gave one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::Api { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }
}
