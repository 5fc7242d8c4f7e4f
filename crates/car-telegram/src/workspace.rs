//! What the bot serves: one repository, or a hub of repositories. The
//! configuration is the repository's, or, at a hub root, the root's
//! configuration read as a repository's (as `car serve` does).

use std::path::Path;

use car_core::{Hub, LoadOptions, Repo, TelegramBotConfig};

use crate::error::TelegramError;

/// One repository or a hub.
#[derive(Debug)]
pub enum Workspace {
    /// A repository, known by its directory's name.
    Repo {
        /// Its id (the directory's name).
        id: String,
        /// The repository.
        repo: Box<Repo>,
    },
    /// A hub.
    Hub(Box<Hub>),
}

impl Workspace {
    /// Opens the repository or hub at `path`, returning it with its
    /// `telegram_bot` settings and the configuration's warnings.
    pub fn open(
        path: &Path,
        opts: &LoadOptions,
    ) -> Result<(Self, TelegramBotConfig, Vec<String>), TelegramError> {
        match Repo::open_with(path, opts) {
            Ok(repo) => {
                let cfg = repo.config().telegram_bot.clone();
                let warnings = warnings(&repo);
                let id = repo
                    .root()
                    .file_name()
                    .map_or_else(|| "repo".to_string(), |n| n.to_string_lossy().into_owned());
                Ok((
                    Self::Repo {
                        id,
                        repo: Box::new(repo),
                    },
                    cfg,
                    warnings,
                ))
            }
            Err(car_core::Error::Config(car_core::ConfigError::HubMode { .. })) => {
                let hub = Hub::open_with(path, opts)?;
                let mut root_opts = opts.clone();
                root_opts.cli.push((
                    "mode".into(),
                    "repo".into(),
                    "car telegram (at a hub root)".into(),
                ));
                let root = Repo::open_with(hub.root(), &root_opts)?;
                let cfg = root.config().telegram_bot.clone();
                Ok((Self::Hub(Box::new(hub)), cfg, warnings(&root)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether this is a hub.
    pub fn is_hub(&self) -> bool {
        matches!(self, Self::Hub(_))
    }

    /// The repositories' ids.
    pub fn repo_ids(&self) -> Result<Vec<String>, TelegramError> {
        match self {
            Self::Repo { id, .. } => Ok(vec![id.clone()]),
            Self::Hub(hub) => Ok(hub.repos()?.into_iter().map(|r| r.id).collect()),
        }
    }

    /// The repository `id`.
    pub fn repo(&self, want: &str) -> Result<Repo, TelegramError> {
        match self {
            Self::Repo { id, repo } if id == want => Ok((**repo).clone()),
            Self::Repo { id, .. } => Err(TelegramError::Config {
                key: "binding".into(),
                message: format!("`{want}` is not this bot's repository (`{id}`); send /bind"),
            }),
            Self::Hub(hub) => Ok(hub.repo(want)?),
        }
    }
}

fn warnings(repo: &Repo) -> Vec<String> {
    repo.resolved_config()
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The key of a chat, or of a forum topic in it: `chat` or `chat:topic`.
pub fn chat_key(chat: i64, topic: Option<i64>) -> String {
    match topic {
        Some(t) => format!("{chat}:{t}"),
        None => chat.to_string(),
    }
}
