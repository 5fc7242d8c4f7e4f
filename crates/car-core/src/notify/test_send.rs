//! The test message behind `Repo::notify_test`: one to each provider, sent
//! synchronously, with each result.

use super::providers;
use super::{Notification, Priority};
use crate::config::Config;

/// Sends a test message to each enabled provider (or only `only`) and
/// returns each result, synchronously.
pub(crate) fn send_test(
    config: &Config,
    only: Option<&str>,
) -> Vec<(String, Result<Option<String>, String>)> {
    let (providers, skipped) = providers::from_config(&config.notifications, &config.root);
    let repo = config
        .root
        .file_name()
        .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
    let n = Notification {
        class: super::NotifyClass::Test,
        title: format!("car: test notification from {repo}"),
        body: format!(
            "If you read this, car can reach you.\nRepo: {}",
            config.root.display()
        ),
        priority: Priority::Default,
        tags: vec!["white_check_mark".into()],
        click: None,
        repo,
        run_id: None,
        actions: Vec::new(),
    };
    let mut out: Vec<(String, Result<Option<String>, String>)> = providers
        .iter()
        .filter(|p| only.is_none_or(|o| o == p.name))
        .map(|p| {
            (
                p.name.to_string(),
                p.send(&n, config.notifications.timeout)
                    .map_err(|e| e.message),
            )
        })
        .collect();
    out.extend(
        skipped
            .into_iter()
            .filter(|s| only.is_none_or(|o| o == s.name))
            .map(|s| {
                (
                    s.name.to_string(),
                    Err(format!("not configured: {}", s.why)),
                )
            }),
    );
    // Asked for one provider that is not there: say so, with the ones that are.
    if let Some(name) = only
        && out.is_empty()
    {
        let configured: Vec<&str> = providers.iter().map(|p| p.name).collect();
        let known = ["ntfy", "discord", "telegram", "webhook"];
        let what = if known.contains(&name) {
            "is not configured".to_string()
        } else {
            format!("is not a provider (known: {})", known.join(", "))
        };
        let have = if configured.is_empty() {
            "none is configured".to_string()
        } else {
            format!("configured: {}", configured.join(", "))
        };
        out.push((name.to_string(), Err(format!("`{name}` {what}; {have}"))));
    }
    out
}
