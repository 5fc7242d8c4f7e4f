//! The typed, validated configuration the engine uses: the sections, the
//! notification settings, and how they are built from the merged layers.

mod build;
mod github_bridge;
mod notify;
mod sections;
mod telegram_bot;

pub(super) use build::build;
pub use github_bridge::GithubBridgeConfig;
pub use notify::{DiscordConfig, Enabled, NotifyConfig, NtfyConfig, TelegramConfig, WebhookConfig};
pub use sections::{
    CodexConfig, Config, DocsConfig, EventsConfig, GitConfig, PromptConfig, RunnerConfig,
    ServerConfig, SnapshotConfig, VoiceConfig,
};
pub use telegram_bot::TelegramBotConfig;
