//! Configuration: layered YAML files, `CAR_*` environment variables and
//! command-line values, merged in a fixed order with the source of every key
//! remembered.
//!
//! Precedence, lowest first: the built-in defaults (`defaults.yml`, embedded),
//! `<root>/codex-autorunner.yml`, `<root>/codex-autorunner.override.yml`,
//! `<root>/.codex-autorunner/config.yml`, `CAR_<SECTION>__<KEY>` environment
//! variables, then command-line values. Mappings merge key by key; lists and
//! scalars replace. The two root files may be *sectioned* (`repo:`/`hub:` at
//! the top) or flat, as with the Python program.

mod builtin;
mod error;
mod keypath;
mod layers;
mod limits;
mod load;
mod merge;
mod model;
mod overrides;
mod position;
mod reader;
mod resolved;
mod source;
mod yaml;

pub(crate) use builtin::DEFAULTS_YAML;
#[cfg(test)]
pub(crate) use builtin::default_keys;
pub use error::ConfigError;
pub use load::LoadOptions;
pub(crate) use load::{defaults, discover_and_load, load};
pub use model::{
    CodexConfig, Config, DiscordConfig, DocsConfig, Enabled, EventsConfig, GitConfig,
    GithubBridgeConfig, NotifyConfig, NtfyConfig, PromptConfig, RunnerConfig, ServerConfig,
    SnapshotConfig, TelegramBotConfig, TelegramConfig, VoiceConfig, WebhookConfig,
};
pub use overrides::parse_override;
pub use resolved::ResolvedConfig;
pub use source::{ConfigSource, ConfigWarning};
