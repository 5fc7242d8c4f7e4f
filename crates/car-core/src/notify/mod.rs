//! Notifications: a person hears within seconds that the loop needs them,
//! and is not buzzed for nothing.
//!
//! Loop events become [`Notification`]s; a policy decides what is sent now
//! (a question always; other classes at most once per
//! `notifications.throttle_seconds`; nothing but questions during quiet
//! hours, then one digest) and what is resent (an unanswered question, after
//! `notifications.escalate_after_seconds`). Delivery runs on one thread per
//! provider, with timeouts and retries, so it never slows the loop; every
//! attempt is recorded in the event ledger.

pub(crate) mod providers;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Local, Timelike};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::{Config, NotifyConfig};
use crate::engine::Event;
use crate::ledger::Ledger;
use crate::paths::RepoPaths;
use crate::record::RunOutcome;
use crate::state::{StateStore, StopReason};
use providers::Provider;

/// First pause before retrying a failed delivery; it doubles each time.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// Notifications held during quiet hours, at most (the oldest go first).
const MAX_HELD: usize = 50;
/// How often a running loop checks for a due digest or escalation.
const TICK_EVERY: Duration = Duration::from_secs(30);

/// How urgent a notification is (ntfy's 1-5 scale).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    /// 1.
    Min = 1,
    /// 2: no sound (Telegram `disable_notification`).
    Low = 2,
    /// 3.
    Default = 3,
    /// 4.
    High = 4,
    /// 5.
    Urgent = 5,
}

/// One message for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// The event class (`needs_input`, `completed`, ...).
    pub class: String,
    /// A one-line title.
    pub title: String,
    /// The body.
    pub body: String,
    /// How urgent.
    pub priority: Priority,
    /// ntfy tags (emoji names).
    pub tags: Vec<String>,
    /// A link to the run, when `server.public_url` is set.
    pub click: Option<String>,
    /// The repository's name.
    pub repo: String,
    /// The run concerned.
    pub run_id: Option<u64>,
}

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
    if !cfg.events.contains(&n.class) {
        return Vec::new();
    }
    if n.class == "needs_input" {
        // Always immediate, quiet hours or not; remembered for escalation.
        state.question = Some(QuestionSent {
            run_id: n.run_id.unwrap_or(0),
            question: n.body.clone(),
            sent_at: now.to_rfc3339(),
            escalated: false,
            notification: Some(n.clone()),
        });
        state.last_sent.insert(n.class.clone(), now.to_rfc3339());
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
        .get(&n.class)
        .and_then(|t| parse_time(t))
        .is_some_and(|t| (now - t).to_std().is_ok_and(|d| d < cfg.throttle));
    if throttled {
        return Vec::new();
    }
    state.last_sent.insert(n.class.clone(), now.to_rfc3339());
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
            class: "digest".into(),
            title: format!("car: {repo}: {} held notification(s)", held.len()),
            body,
            priority,
            tags: vec!["inbox_tray".into()],
            click: held.iter().rev().find_map(|h| h.click.clone()),
            repo: repo.to_string(),
            run_id: held.iter().rev().find_map(|h| h.run_id),
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
                    class: "needs_input".into(),
                    title: String::new(),
                    body: q.question.clone(),
                    priority: Priority::Urgent,
                    tags: Vec::new(),
                    click: None,
                    repo: repo.to_string(),
                    run_id: Some(run_id),
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

/// Facts a notification body needs beyond the event.
pub(crate) struct Context {
    pub(crate) repo: String,
    pub(crate) loop_started: Instant,
    pub(crate) public_url: Option<String>,
    pub(crate) summary_path: PathBuf,
    pub(crate) paths: RepoPaths,
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// Turns a loop event into a notification, when it is one.
pub(crate) fn from_event(e: &Event, cx: &Context) -> Option<Notification> {
    let (class, run_id, headline, detail, priority, tag): (
        &str,
        Option<u64>,
        String,
        String,
        Priority,
        &str,
    ) = match e {
        Event::NeedsInput { run_id, question } => (
            "needs_input",
            Some(*run_id),
            format!("car: {} needs you (run {run_id})", cx.repo),
            format!("Question: {question}\nAnswer: car reply \"...\" then car resume"),
            Priority::Urgent,
            "question",
        ),
        Event::RunFinished { record } => {
            let err = record.error.clone().unwrap_or_default();
            match record.outcome {
                RunOutcome::Hung => (
                    "hung",
                    Some(record.id),
                    format!("car: run {} hung in {}", record.id, cx.repo),
                    format!("Error: {err}"),
                    Priority::High,
                    "hourglass",
                ),
                RunOutcome::Ok => (
                    "run_finished",
                    Some(record.id),
                    format!("car: run {} finished in {}", record.id, cx.repo),
                    format!(
                        "TODO {}/{}",
                        record.todo_after.done, record.todo_after.total
                    ),
                    Priority::Low,
                    "white_check_mark",
                ),
                RunOutcome::Failed | RunOutcome::TimedOut => (
                    "run_failed",
                    Some(record.id),
                    format!("car: run {} failed in {}", record.id, cx.repo),
                    format!(
                        "{} ({}) {err}",
                        record.outcome.as_str(),
                        record.describe_exit()
                    ),
                    Priority::High,
                    "warning",
                ),
                RunOutcome::Interrupted | RunOutcome::Killed => return None,
            }
        }
        Event::WaitingForQuota { until, message, .. } => (
            "waiting_for_quota",
            None,
            format!("car: {} waits for the usage limit", cx.repo),
            format!("Resumes at {until}\n{message}"),
            Priority::Low,
            "zzz",
        ),
        Event::Stopped { reason, detail } => {
            let d = detail.clone().unwrap_or_default();
            let (class, prio, tag, what) = match reason {
                StopReason::Completed => ("completed", Priority::Default, "tada", "completed"),
                StopReason::Failed | StopReason::Error | StopReason::DiskFull => {
                    ("failed", Priority::High, "x", "failed")
                }
                StopReason::Stalled => ("stalled", Priority::High, "snail", "stalled"),
                StopReason::QuotaExhausted => (
                    "quota_exhausted",
                    Priority::High,
                    "money_with_wings",
                    "is out of quota",
                ),
                StopReason::Budget => (
                    "budget",
                    Priority::Default,
                    "moneybag",
                    "reached its token budget",
                ),
                StopReason::Killed | StopReason::Interrupted => {
                    ("killed", Priority::Default, "stop_sign", "was killed")
                }
                StopReason::Blocked => ("needs_input", Priority::Urgent, "no_entry", "is blocked"),
                _ => return None,
            };
            let mut detail = format!("Reason: {d}");
            if *reason == StopReason::Completed {
                let summary = std::fs::read_to_string(&cx.summary_path).unwrap_or_default();
                let lines: Vec<&str> = summary
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("<!--"))
                    .take(8)
                    .collect();
                if !lines.is_empty() {
                    detail.push_str(&format!("\nSummary:\n{}", lines.join("\n")));
                }
            }
            (
                class,
                None,
                format!("car: {} {what}", cx.repo),
                detail,
                prio,
                tag,
            )
        }
        _ => return None,
    };
    let state = StateStore::new(&cx.paths).load().ok().map(|l| l.state);
    let run_id = run_id.or(state.as_ref().and_then(|s| s.last_run_id));
    let mut body = format!("Repo: {}\n", cx.repo);
    if let Some(id) = run_id {
        body.push_str(&format!("Run: {id}\n"));
    }
    body.push_str(&detail);
    body.push_str(&format!(
        "\nLoop running for: {}",
        human(cx.loop_started.elapsed())
    ));
    if let Some(s) = &state
        && s.tokens.total() > 0
    {
        body.push_str(&format!(
            "\nTokens: {} this loop, {} in all",
            s.loop_tokens.total(),
            s.tokens.total()
        ));
    }
    Some(Notification {
        class: class.to_string(),
        title: headline,
        body,
        priority,
        tags: vec![tag.to_string()],
        click: cx
            .public_url
            .as_ref()
            .zip(run_id)
            .map(|(u, id)| format!("{}/runs/{id}", u.trim_end_matches('/'))),
        repo: cx.repo.clone(),
        run_id,
    })
}

/// One provider's queue: questions go first, everything else in order.
struct Queue {
    items: Mutex<VecDeque<Notification>>,
    wake: Condvar,
    closed: AtomicBool,
}

impl Queue {
    fn push(&self, n: Notification) {
        if let Ok(mut q) = self.items.lock() {
            if n.class == "needs_input" {
                q.push_front(n);
            } else {
                q.push_back(n);
            }
        }
        self.wake.notify_one();
    }

    /// Waits for the next item; None once closed and empty.
    fn pop(&self) -> Option<Notification> {
        let mut q = self.items.lock().ok()?;
        loop {
            if let Some(n) = q.pop_front() {
                return Some(n);
            }
            if self.closed.load(Ordering::SeqCst) {
                return None;
            }
            q = self
                .wake
                .wait_timeout(q, Duration::from_millis(200))
                .ok()?
                .0;
        }
    }
}

/// Sends notifications for one loop.
pub(crate) struct Notifier {
    cfg: NotifyConfig,
    cx: Context,
    state_path: PathBuf,
    queues: Vec<(&'static str, Arc<Queue>)>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    ledger: Ledger,
    closed: Arc<AtomicBool>,
}

impl Notifier {
    /// Starts a notifier when at least one provider is enabled.
    pub(crate) fn start(config: &Config, paths: &RepoPaths, ledger: Ledger) -> Option<Arc<Self>> {
        let cfg = &config.notifications;
        let (providers, skipped) = providers::from_config(cfg, &config.root);
        for s in skipped {
            tracing::warn!(provider = s.name, why = %s.why, "notification provider left out");
        }
        if providers.is_empty() {
            return None;
        }
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for p in providers {
            let name = p.name;
            let q = Arc::new(Queue {
                items: Mutex::new(VecDeque::new()),
                wake: Condvar::new(),
                closed: AtomicBool::new(false),
            });
            let (timeout, retries, ledger, wq) =
                (cfg.timeout, cfg.retries, ledger.clone(), q.clone());
            let handle = std::thread::Builder::new()
                .name(format!("notify-{name}"))
                .spawn(move || {
                    while let Some(n) = wq.pop() {
                        deliver(&p, &n, timeout, retries, &ledger);
                    }
                })
                .ok()?;
            queues.push((name, q));
            workers.push(handle);
        }
        let repo = config
            .root
            .file_name()
            .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned());
        let notifier = Arc::new(Self {
            cfg: cfg.clone(),
            cx: Context {
                repo,
                loop_started: Instant::now(),
                public_url: config.server.public_url.clone(),
                summary_path: config.docs.summary.clone(),
                paths: paths.clone(),
            },
            state_path: paths.car_dir.join("notify_state.json"),
            queues,
            workers: Mutex::new(workers),
            ledger,
            closed: Arc::new(AtomicBool::new(false)),
        });
        // What is due without an event (the digest when quiet hours end, the
        // escalation of a question) is checked now and then while the loop runs.
        let ticker = Arc::downgrade(&notifier);
        let closed = notifier.closed.clone();
        let _ = std::thread::Builder::new()
            .name("notify-tick".into())
            .spawn(move || {
                let mut last = Instant::now();
                while !closed.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    if last.elapsed() >= TICK_EVERY {
                        last = Instant::now();
                        match ticker.upgrade() {
                            Some(n) => n.tick(),
                            None => return,
                        }
                    }
                }
            });
        Some(notifier)
    }

    /// Handles a loop event: never blocks on delivery.
    pub(crate) fn on_event(&self, e: &Event) {
        if let Some(n) = from_event(e, &self.cx) {
            let now = Local::now();
            let out = self.with_state(|s| decide(&self.cfg, s, n, now));
            self.enqueue(out);
        }
    }

    /// Sends what is due without an event: the digest, an escalation, and
    /// what a previous process could not deliver.
    pub(crate) fn tick(&self) {
        let open = StateStore::new(&self.cx.paths)
            .load()
            .ok()
            .and_then(|l| l.state.pending_question);
        let now = Local::now();
        let repo = self.cx.repo.clone();
        let (out, pending) = self.with_state(|s| {
            let out = tick(
                &self.cfg,
                s,
                now,
                open.as_ref().map(|q| (q.run_id, q.question.as_str())),
                &repo,
            );
            (out, std::mem::take(&mut s.pending))
        });
        for (provider, n) in pending {
            if let Some((_, q)) = self.queues.iter().find(|(name, _)| *name == provider) {
                q.push(n);
            }
        }
        self.enqueue(out);
    }

    fn enqueue(&self, out: Vec<Notification>) {
        for n in out {
            for (_, q) in &self.queues {
                q.push(n.clone());
            }
        }
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut NotifyState) -> R) -> R {
        let mut state: NotifyState = std::fs::read(&self.state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let before = state.clone();
        let r = f(&mut state);
        if state != before {
            let text = serde_json::to_string_pretty(&state).unwrap_or_default();
            if let Err(e) = crate::fs_util::write_atomic(&self.state_path, text.as_bytes()) {
                tracing::warn!(error = %e, "cannot save the notification state");
            }
        }
        r
    }

    /// Lets queued notifications go out, waiting at most `wait`; what is
    /// still queued then is kept for the next car process to send.
    pub(crate) fn finish(&self, wait: Duration) {
        self.closed.store(true, Ordering::SeqCst);
        for (_, q) in &self.queues {
            q.closed.store(true, Ordering::SeqCst);
            q.wake.notify_all();
        }
        let deadline = Instant::now() + wait;
        if let Ok(mut workers) = self.workers.lock() {
            while workers.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            for w in workers.drain(..) {
                if w.is_finished() {
                    let _ = w.join();
                }
            }
        }
        let mut left = Vec::new();
        for (name, q) in &self.queues {
            if let Ok(mut items) = q.items.lock() {
                left.extend(items.drain(..).map(|n| ((*name).to_string(), n)));
            }
        }
        if !left.is_empty() {
            for (provider, n) in &left {
                let fields = json!({"provider": provider, "class": n.class, "deferred": true});
                if let Err(e) = self.ledger.append("notification", n.run_id, fields) {
                    tracing::warn!(error = %e, "cannot record a notification");
                }
            }
            self.with_state(|s| s.pending.extend(left));
        }
    }
}

/// Delivers to one provider with retries; records every attempt.
fn deliver(p: &Provider, n: &Notification, timeout: Duration, retries: u32, ledger: &Ledger) {
    for attempt in 1..=retries + 1 {
        let result = p.send(n, timeout);
        let (ok, error, message_id, wait, permanent) = match &result {
            Ok(id) => (true, None, id.clone(), None, false),
            Err(e) => (
                false,
                Some(e.message.clone()),
                None,
                e.retry_after,
                e.permanent,
            ),
        };
        let fields = json!({
            "provider": p.name,
            "class": n.class,
            "priority": n.priority as u8,
            "attempt": attempt,
            "ok": ok,
            "error": error,
            "message_id": message_id,
        });
        if let Err(e) = ledger.append("notification", n.run_id, fields) {
            tracing::warn!(error = %e, "cannot record a notification");
        }
        if ok || permanent || attempt > retries {
            if !ok {
                tracing::warn!(provider = p.name, class = %n.class, error = ?error, "notification not delivered");
            }
            return;
        }
        let backoff = RETRY_BASE.saturating_mul(1 << (attempt - 1).min(6));
        std::thread::sleep(wait.unwrap_or(backoff));
    }
}

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
        class: "test".into(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
            class: class.into(),
            title: format!("t {class}"),
            body: "b".into(),
            priority: prio,
            tags: vec![],
            click: None,
            repo: "r".into(),
            run_id: Some(7),
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
        assert_eq!(digest[0].class, "digest");
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
