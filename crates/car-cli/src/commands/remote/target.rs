//! Which server, which token and which of its repositories.

use std::cell::OnceCell;
use std::time::Duration;

use anyhow::Result;
use car_client::{Client, ClientError};

use crate::cli::Global;
use crate::report::UsageError;

/// The variable naming the server when `--server` is not given.
pub(crate) const SERVER_VAR: &str = "CAR_SERVER";
/// How long a read through a machine's tunnel is tried again while the
/// tunnel is down (car's supervisor re-opens it within a second or two).
const TUNNEL_PATIENCE: Duration = Duration::from_secs(20);
/// The variable naming the repository on the server.
pub(crate) const REPO_VAR: &str = "CAR_SERVER_REPO";

/// Where the server's URL came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `--server`.
    Flag,
    /// `$CAR_SERVER`.
    Env,
    /// `--machine M`: its tunnel or direct address.
    Machine(String),
}

/// A server to talk to.
pub(crate) struct Remote {
    pub(crate) client: Client,
    pub(crate) source: Source,
    /// The variable the token is read from, and whether it is set.
    pub(crate) token_env: String,
    pub(crate) token_set: bool,
    wanted: Option<String>,
    repo: OnceCell<String>,
}

impl Remote {
    /// The server the command talks to, when there is one: `--machine M`
    /// (its tunnel, started when none is up, or its direct address),
    /// `--server`, or `$CAR_SERVER` unless `--repo` names a local repository.
    pub(crate) fn from_global(g: &Global) -> Result<Option<Self>> {
        if let Some(name) = &g.machine {
            return Self::of_machine(g, name).map(Some);
        }
        let from_env = || {
            std::env::var(SERVER_VAR)
                .ok()
                .filter(|v| !v.trim().is_empty())
        };
        let (url, source) = match (&g.server, &g.repo) {
            (Some(_), Some(_)) => {
                return Err(UsageError(
                    "--repo names a local repository and --server a remote one: give one \
                     (with --server, choose the server's repository with --server-repo ID)"
                        .into(),
                )
                .into());
            }
            (Some(url), None) => (url.clone(), Source::Flag),
            (None, Some(_)) => return Ok(None),
            (None, None) => match from_env() {
                Some(url) => (url, Source::Env),
                None => return Ok(None),
            },
        };
        if !g.set.is_empty() {
            return Err(UsageError(
                "-c/--set changes the local configuration; with --server the server's \
                 configuration applies"
                    .into(),
            )
            .into());
        }
        let token = std::env::var(&g.server_token_env)
            .ok()
            .filter(|t| !t.is_empty());
        let token_set = token.is_some();
        let client = Client::new(&url, token)?;
        let wanted = wanted_repo(g);
        Ok(Some(Self {
            client,
            source,
            token_env: g.server_token_env.clone(),
            token_set,
            wanted,
            repo: OnceCell::new(),
        }))
    }

    /// The server of machine `name`, with the token from its `token_env`.
    fn of_machine(g: &Global, name: &str) -> Result<Self> {
        let refuse = |what: &str| -> anyhow::Error {
            UsageError(format!(
                "--machine names a remote server and {what}: give one (with --machine, choose \
                 the server's repository with --server-repo ID)"
            ))
            .into()
        };
        if g.server.is_some() {
            return Err(refuse("--server another"));
        }
        if g.repo.is_some() {
            return Err(refuse("--repo a local repository"));
        }
        if !g.set.is_empty() {
            return Err(UsageError(
                "-c/--set changes the local configuration; with --machine the machine's \
                 configuration applies"
                    .into(),
            )
            .into());
        }
        let places = crate::commands::machine::Places::from_env(g)?;
        let machine = places.machine(name)?;
        let url = crate::commands::machine::ensure_up(&places, &machine)?;
        let token = std::env::var(&machine.token_env)
            .ok()
            .filter(|t| !t.is_empty());
        let token_set = token.is_some();
        // car re-opens a dropped tunnel on the same port: a read waits for it.
        let client = Client::new(&url, token)?.with_patience(TUNNEL_PATIENCE);
        Ok(Self {
            client,
            source: Source::Machine(name.to_string()),
            token_env: machine.token_env,
            token_set,
            wanted: wanted_repo(g),
            repo: OnceCell::new(),
        })
    }

    /// The id of the repository on the server (asked once).
    pub(crate) fn repo(&self) -> Result<&str, ClientError> {
        if let Some(id) = self.repo.get() {
            return Ok(id);
        }
        let id = self.client.pick_repo(self.wanted.as_deref())?;
        Ok(self.repo.get_or_init(|| id))
    }

    /// The repository asked for (`--server-repo` or $CAR_SERVER_REPO),
    /// unchecked: the server says when it serves none such.
    pub(crate) fn wanted(&self) -> Option<&str> {
        self.wanted.as_deref()
    }

    /// `car --server URL`, for advice.
    pub(crate) fn command(&self) -> String {
        match &self.source {
            Source::Flag => format!("car --server {}", self.client.url().trim_end_matches('/')),
            Source::Env => "car".to_string(),
            Source::Machine(m) => format!("car --machine {m}"),
        }
    }
}

/// `--server-repo`, else `$CAR_SERVER_REPO`.
fn wanted_repo(g: &Global) -> Option<String> {
    g.server_repo.clone().or_else(|| {
        std::env::var(REPO_VAR)
            .ok()
            .filter(|v| !v.trim().is_empty())
    })
}
