//! The sending policy: what goes out now (a question always; other classes
//! at most once per throttle window; nothing but questions in quiet hours,
//! then one digest) and what is resent (an unanswered question).

use std::collections::BTreeMap;

use chrono::{DateTime, Local, Timelike};
use serde::{Deserialize, Serialize};

use super::{Notification, NotifyClass, Priority};
use crate::config::NotifyConfig;

/// Notifications held during quiet hours, at most (the oldest go first).
const MAX_HELD: usize = 50;

/// What is kept between invocations (`.codex-autorunner/notify_state.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct NotifyState {
    /// When each class was last sent (RFC 3339, local).
    #[serde(default)]
    pub(crate) last_sent: BTreeMap<String, String>,
    /// Held during quiet hours, to go out as one digest.
    #[serde(default)]
    pub(crate) held: Vec<Notification>,
    /// The open question that was notified, for escalation.
    #[serde(default)]
    pub(crate) question: Option<QuestionSent>,
    /// Notifications a previous process could not deliver before it ended,
    /// by provider: sent first by the next one.
    #[serde(default)]
    pub(crate) pending: Vec<(String, Notification)>,
}

/// A question that was notified.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct QuestionSent {
    pub(crate) run_id: u64,
    pub(crate) question: String,
    pub(crate) sent_at: String,
    pub(crate) escalated: bool,
    #[serde(default)]
    pub(crate) notification: Option<Notification>,
}

fn in_quiet_hours(cfg: &NotifyConfig, now: DateTime<Local>) -> bool {
    let Some((start, end)) = cfg.quiet_hours else {
        return false;
    };
    let m = now.hour() * 60 + now.minute();
    if start <= end {
        m >= start && m < end
    } else {
        m >= start || m < end
    }
}

fn parse_time(s: &str) -> Option<DateTime<Local>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Local))
}

/// Decides what to send now for a new notification (pure but for `state`).
pub(crate) fn decide(
    cfg: &NotifyConfig,
    state: &mut NotifyState,
    n: Notification,
    now: DateTime<Local>,
) -> Vec<Notification> {
    // `notifications.events` names the classes a person chose to hear of.
    if !cfg.events.iter().any(|chosen| chosen == n.class.as_str()) {
        return Vec::new();
    }
    if n.class == NotifyClass::NeedsInput {
        // Always immediate, quiet hours or not; remembered for escalation.
        state.question = Some(QuestionSent {
            run_id: n.run_id.unwrap_or(0),
            question: n.body.clone(),
            sent_at: now.to_rfc3339(),
            escalated: false,
            notification: Some(n.clone()),
        });
        state
            .last_sent
            .insert(n.class.as_str().to_string(), now.to_rfc3339());
        return vec![n];
    }
    if in_quiet_hours(cfg, now) {
        state.held.push(n);
        if state.held.len() > MAX_HELD {
            state.held.remove(0);
        }
        return Vec::new();
    }
    let throttled = state
        .last_sent
        .get(n.class.as_str())
        .and_then(|t| parse_time(t))
        .is_some_and(|t| (now - t).to_std().is_ok_and(|d| d < cfg.throttle));
    if throttled {
        return Vec::new();
    }
    state
        .last_sent
        .insert(n.class.as_str().to_string(), now.to_rfc3339());
    vec![n]
}

/// What is due without a new event: the digest after quiet hours, and the
/// escalation of a question still open (`open` is the state's open question).
pub(crate) fn tick(
    cfg: &NotifyConfig,
    state: &mut NotifyState,
    now: DateTime<Local>,
    open: Option<(u64, &str)>,
    repo: &str,
) -> Vec<Notification> {
    let mut out = Vec::new();
    if !state.held.is_empty() && !in_quiet_hours(cfg, now) {
        let held = std::mem::take(&mut state.held);
        let mut body = format!("{} notification(s) held during quiet hours:\n", held.len());
        for h in &held {
            body.push_str(&format!("- {}\n", h.title));
        }
        let priority = held
            .iter()
            .map(|h| h.priority)
            .max()
            .unwrap_or(Priority::Default);
        out.push(Notification {
            class: NotifyClass::Digest,
            title: format!("car: {repo}: {} held notification(s)", held.len()),
            body,
            priority,
            tags: vec!["inbox_tray".into()],
            click: held.iter().rev().find_map(|h| h.click.clone()),
            repo: repo.to_string(),
            run_id: held.iter().rev().find_map(|h| h.run_id),
            actions: Vec::new(),
        });
    }
    match (&mut state.question, open) {
        (Some(q), Some((run_id, _))) if q.run_id == run_id => {
            let due = cfg.escalate_after.is_some_and(|after| {
                parse_time(&q.sent_at).is_some_and(|t| (now - t).to_std().is_ok_and(|d| d >= after))
            });
            if due && !q.escalated {
                q.escalated = true;
                let mut n = q.notification.clone().unwrap_or_else(|| Notification {
                    class: NotifyClass::NeedsInput,
                    title: String::new(),
                    body: q.question.clone(),
                    priority: Priority::Urgent,
                    tags: Vec::new(),
                    click: None,
                    repo: repo.to_string(),
                    run_id: Some(run_id),
                    actions: Vec::new(),
                });
                n.title = format!("car: STILL waiting for you in {repo} (run {run_id})");
                n.priority = Priority::Urgent;
                n.tags = vec!["rotating_light".into()];
                out.push(n);
            }
        }
        (Some(_), _) => state.question = None, // answered: nothing to escalate
        (None, _) => {}
    }
    out
}

/// Whether the open question, asked again by run `run_id`, was notified
/// already; if so it now belongs to that run (so it is still escalated once).
pub(super) fn repeat_of_notified(s: &mut NotifyState, run_id: Option<u64>) -> bool {
    match (&mut s.question, run_id) {
        (Some(q), Some(id)) => {
            q.run_id = id;
            if let Some(n) = &mut q.notification {
                n.run_id = Some(id);
            }
            true
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    fn cfg() -> NotifyConfig {
        let resolved = crate::config::load(
            &crate::paths::RepoPaths::new("/nonexistent-car-test"),
            &Default::default(),
        )
        .unwrap();
        let mut c = resolved.config.notifications;
        c.throttle = Duration::from_secs(600);
        c.escalate_after = Some(Duration::from_secs(1800));
        c
    }

    fn at(h: u32, m: u32) -> DateTime<Local> {
        Local.with_ymd_and_hms(2026, 3, 1, h, m, 0).unwrap()
    }

    fn note(class: &str, prio: Priority) -> Notification {
        Notification {
            class: serde_json::from_value(serde_json::json!(class)).unwrap(),
            title: format!("t {class}"),
            body: "b".into(),
            priority: prio,
            tags: vec![],
            click: None,
            repo: "r".into(),
            run_id: Some(7),
            actions: Vec::new(),
        }
    }

    #[test]
    fn throttle_dedupes_a_class_but_never_a_question() {
        let c = cfg();
        let mut s = NotifyState::default();
        assert_eq!(
            decide(&c, &mut s, note("failed", Priority::High), at(10, 0)).len(),
            1
        );
        assert_eq!(
            decide(&c, &mut s, note("failed", Priority::High), at(10, 5)).len(),
            0,
            "within 600 s"
        );
        assert_eq!(
            decide(&c, &mut s, note("stalled", Priority::High), at(10, 5)).len(),
            1,
            "another class"
        );
        assert_eq!(
            decide(&c, &mut s, note("failed", Priority::High), at(10, 11)).len(),
            1,
            "after 600 s"
        );
        assert_eq!(
            decide(
                &c,
                &mut s,
                note("needs_input", Priority::Urgent),
                at(10, 11)
            )
            .len(),
            1
        );
        assert_eq!(
            decide(
                &c,
                &mut s,
                note("needs_input", Priority::Urgent),
                at(10, 12)
            )
            .len(),
            1,
            "always immediate"
        );
        assert_eq!(
            decide(&c, &mut s, note("run_finished", Priority::Low), at(10, 12)).len(),
            0,
            "off by default"
        );
    }

    #[test]
    fn quiet_hours_hold_all_but_questions_then_send_one_digest() {
        let mut c = cfg();
        c.quiet_hours = Some((22 * 60, 7 * 60));
        let mut s = NotifyState::default();
        assert!(decide(&c, &mut s, note("failed", Priority::High), at(23, 0)).is_empty());
        assert!(decide(&c, &mut s, note("completed", Priority::Default), at(2, 0)).is_empty());
        assert_eq!(
            decide(&c, &mut s, note("needs_input", Priority::Urgent), at(3, 0)).len(),
            1,
            "questions go through"
        );
        assert!(
            tick(&c, &mut s, at(6, 59), None, "r").is_empty(),
            "still quiet"
        );
        let digest = tick(&c, &mut s, at(7, 0), None, "r");
        assert_eq!(digest.len(), 1);
        assert_eq!(digest[0].class, NotifyClass::Digest);
        assert!(digest[0].body.contains("t failed") && digest[0].body.contains("t completed"));
        assert_eq!(digest[0].priority, Priority::High);
        assert!(
            tick(&c, &mut s, at(7, 5), None, "r").is_empty(),
            "one digest only"
        );
    }

    #[test]
    fn an_unanswered_question_is_escalated_once() {
        let c = cfg();
        let mut s = NotifyState::default();
        let mut q = note("needs_input", Priority::Urgent);
        q.body = "Which DB?".into();
        decide(&c, &mut s, q, at(10, 0));
        assert!(
            tick(&c, &mut s, at(10, 29), Some((7, "Which DB?")), "r").is_empty(),
            "not yet"
        );
        let esc = tick(&c, &mut s, at(10, 30), Some((7, "Which DB?")), "r");
        assert_eq!(esc.len(), 1);
        assert_eq!(esc[0].priority, Priority::Urgent);
        assert!(esc[0].title.contains("STILL waiting"));
        assert!(
            tick(&c, &mut s, at(11, 30), Some((7, "Which DB?")), "r").is_empty(),
            "once"
        );
        // Answered: the question is forgotten, nothing more.
        assert!(tick(&c, &mut s, at(12, 0), None, "r").is_empty());
        assert!(s.question.is_none());
    }
}
