//! Telling the person that the supervisor gave up on a loop that kept
//! crashing: through the notification providers the repository configures
//! (ntfy, Telegram, Discord, a webhook), each result written to the hub's
//! ledger.

use crate::hub::{Hub, HubError};
use crate::notify::providers;
use crate::notify::{Notification, NotifyClass, Priority};

impl Hub {
    /// Sends "gave up on `id`" to each provider `id`'s config enables.
    pub(super) fn tell_gave_up(&self, id: &str, restarts: u32) -> Result<(), HubError> {
        let repo = match self.repo(id) {
            Ok(r) => r,
            Err(e) => {
                return self.record_event("notify_failed", Some(id), Some(e.to_string()), None);
            }
        };
        let config = repo.config();
        let (providers, skipped) = providers::from_config(&config.notifications, &config.root);
        let n = Notification {
            class: NotifyClass::Failed,
            title: format!("car hub: {id} keeps crashing; not restarted again"),
            body: format!(
                "The loop of {id} crashed and was restarted {restarts} time(s) (hub.restart_max); it is left stopped.\nRepo: {}\nSee `car status` there, then `car hub start {id}`.",
                config.root.display()
            ),
            priority: Priority::High,
            tags: vec!["rotating_light".into()],
            click: None,
            repo: id.to_string(),
            run_id: None,
            actions: Vec::new(),
        };
        for p in &providers {
            let (event, detail) = match p.send(&n, config.notifications.timeout) {
                Ok(_) => ("notified", p.name.to_string()),
                Err(e) => ("notify_failed", format!("{}: {}", p.name, e.message)),
            };
            self.record_event(event, Some(id), Some(detail), None)?;
        }
        for s in skipped {
            self.record_event(
                "notify_failed",
                Some(id),
                Some(format!("{}: not configured: {}", s.name, s.why)),
                None,
            )?;
        }
        Ok(())
    }
}
