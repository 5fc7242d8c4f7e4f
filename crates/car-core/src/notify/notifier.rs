//! The notifier of one loop: a queue and a delivery thread per provider,
//! with timeouts and retries, so it never slows the loop; every attempt is
//! recorded in the event ledger.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Local;
use tokio::sync::oneshot;

use super::policy::repeat_of_notified;
use super::providers::{self, Provider};
use super::question_actions::QuestionActions;
use super::{Context, Notification, NotifyState, decide, from_event, tick};
use crate::config::{Config, NotifyConfig};
use crate::event::{EventEnvelope, LoopEvent};
use crate::ledger::Ledger;
use crate::paths::RepoPaths;
use crate::state::StateStore;

/// First pause before retrying a failed delivery; it doubles each time.
const RETRY_BASE: Duration = Duration::from_secs(1);
/// How often a running loop checks for a due digest or escalation.
const TICK_EVERY: Duration = Duration::from_secs(30);

/// One provider's queue: questions go first, everything else in order.
struct Queue {
    items: Mutex<VecDeque<Notification>>,
    wake: Condvar,
    closed: AtomicBool,
}

impl Queue {
    fn push(&self, n: Notification) {
        if let Ok(mut q) = self.items.lock() {
            if n.class == super::NotifyClass::NeedsInput {
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

/// A provider's delivery thread; `done` resolves (its sender is dropped)
/// when the thread ends, however it ends, so it can be awaited.
struct Worker {
    handle: JoinHandle<()>,
    done: oneshot::Receiver<()>,
}

impl Queue {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            items: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            closed: AtomicBool::new(false),
        })
    }
}

/// Starts the delivery thread of one provider: it hands each queued
/// notification to `send` until the queue is closed and empty.
fn spawn_worker(
    name: &str,
    queue: Arc<Queue>,
    mut send: impl FnMut(&Notification) + Send + 'static,
) -> Option<Worker> {
    let (done_tx, done) = oneshot::channel::<()>();
    let handle = std::thread::Builder::new()
        .name(format!("notify-{name}"))
        .spawn(move || {
            let _done = done_tx;
            while let Some(n) = queue.pop() {
                send(&n);
            }
        })
        .ok()?;
    Some(Worker { handle, done })
}

/// Sends notifications for one loop.
pub(crate) struct Notifier {
    cfg: NotifyConfig,
    cx: Context,
    state_path: PathBuf,
    queues: Vec<(&'static str, Arc<Queue>)>,
    workers: Mutex<Vec<Worker>>,
    ledger: Ledger,
    closed: Arc<AtomicBool>,
    /// What a question's buttons are made from (ntfy), when it has them.
    buttons: Option<QuestionActions>,
    /// The question still open when this loop started (it was resumed
    /// without an answer): asked again, it is not sent again.
    open_at_start: Option<String>,
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
            let q = Queue::new();
            let (timeout, retries, ledger) = (cfg.timeout, cfg.retries, ledger.clone());
            let worker = spawn_worker(name, q.clone(), move |n| {
                deliver(&p, n, timeout, retries, &ledger);
            })?;
            queues.push((name, q));
            workers.push(worker);
        }
        // In a hub, the job's manifest id (or display name) names it.
        let repo = crate::hub::HubMembership::find(&config.root).map_or_else(
            || {
                config
                    .root
                    .file_name()
                    .map_or_else(|| "repo".into(), |n| n.to_string_lossy().into_owned())
            },
            |m| m.name().to_string(),
        );
        let open_at_start = StateStore::new(paths)
            .load()
            .ok()
            .and_then(|l| l.state.pending_question)
            .map(|q| q.question);
        let notifier = Arc::new(Self {
            cfg: cfg.clone(),
            cx: Context {
                repo,
                repo_id: crate::action_token::url_id(&config.root),
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
            buttons: QuestionActions::from_config(config).ok(),
            open_at_start,
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
    pub(crate) fn on_event(&self, e: &EventEnvelope) {
        if let LoopEvent::NeedsInput { question } = &e.event
            && self.open_at_start.as_deref() == Some(question.as_str())
            && self.with_state(|s| repeat_of_notified(s, e.run_id))
        {
            tracing::info!("the open question was asked again; the person was told of it already");
            return;
        }
        if let Some(mut n) = from_event(e, &self.cx) {
            if n.class == super::NotifyClass::NeedsInput
                && let Some(b) = &self.buttons
            {
                match b.buttons(crate::time::now().timestamp()) {
                    Ok(actions) => n.actions = actions,
                    Err(e) => {
                        tracing::warn!(error = %e, "the question goes without its buttons");
                    }
                }
            }
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
    ///
    /// The waiting is async: the delivery threads are awaited, never polled
    /// with a sleep, so the runtime's other tasks keep running meanwhile.
    pub(crate) async fn finish(&self, wait: Duration) {
        self.closed.store(true, Ordering::SeqCst);
        for (_, q) in &self.queues {
            q.closed.store(true, Ordering::SeqCst);
            q.wake.notify_all();
        }
        let workers: Vec<Worker> = self
            .workers
            .lock()
            .map(|mut w| w.drain(..).collect())
            .unwrap_or_default();
        let (handles, done): (Vec<_>, Vec<_>) =
            workers.into_iter().map(|w| (w.handle, w.done)).unzip();
        let all_done = async {
            for d in done {
                // Err only means the thread ended: the sender was dropped.
                let _ = d.await;
            }
        };
        let _ = tokio::time::timeout(wait, all_done).await;
        for h in handles {
            // A thread still delivering is left to end with the process.
            if h.is_finished() {
                let _ = h.join();
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
                let deferred = LoopEvent::Notification {
                    provider: provider.clone(),
                    class: n.class,
                    priority: None,
                    attempt: None,
                    ok: None,
                    error: None,
                    message_id: None,
                    deferred: true,
                };
                if let Err(e) = self.ledger.append(n.run_id, deferred) {
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
        let tried = LoopEvent::Notification {
            provider: p.name.to_string(),
            class: n.class,
            priority: Some(n.priority as u8),
            attempt: Some(attempt),
            ok: Some(ok),
            error: error.clone(),
            message_id,
            deferred: false,
        };
        if let Err(e) = ledger.append(n.run_id, tried) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn note(class: &str) -> Notification {
        Notification {
            class: serde_json::from_value(serde_json::json!(class)).unwrap(),
            title: format!("t {class}"),
            body: "b".into(),
            priority: super::super::Priority::Default,
            tags: vec![],
            click: None,
            repo: "r".into(),
            run_id: Some(3),
            actions: Vec::new(),
        }
    }

    /// A notifier whose one provider takes `per_item` to deliver each
    /// notification.
    fn slow_notifier(dir: &std::path::Path, per_item: Duration) -> Notifier {
        notifier_with(dir, move |_| std::thread::sleep(per_item))
    }

    /// A notifier whose one provider is `send`.
    fn notifier_with(
        dir: &std::path::Path,
        send: impl FnMut(&Notification) + Send + 'static,
    ) -> Notifier {
        let paths = RepoPaths::new(dir);
        let cfg = crate::config::load(&paths, &Default::default())
            .unwrap()
            .config
            .notifications;
        let q = Queue::new();
        let worker = spawn_worker("slow", q.clone(), send).unwrap();
        Notifier {
            cfg,
            cx: Context {
                repo: "r".into(),
                repo_id: "r".into(),
                loop_started: Instant::now(),
                public_url: None,
                summary_path: dir.join("SUMMARY.md"),
                paths: paths.clone(),
            },
            state_path: dir.join("notify_state.json"),
            queues: vec![("slow", q)],
            workers: Mutex::new(vec![worker]),
            ledger: Ledger::new(dir.join("events.jsonl"), 1 << 20, 1),
            closed: Arc::new(AtomicBool::new(false)),
            buttons: None,
            open_at_start: None,
        }
    }

    /// On a one-thread runtime (as `car run` uses), a flush waiting for a
    /// slow provider lets other tasks run, ends at its bound, and keeps what
    /// was not sent for the next process.
    #[tokio::test(flavor = "current_thread")]
    async fn a_flush_waits_without_blocking_the_runtime_and_keeps_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let n = slow_notifier(dir.path(), Duration::from_secs(2));
        n.enqueue(vec![note("failed"), note("completed")]);
        let ticks = Arc::new(AtomicU32::new(0));
        let counter = ticks.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        let started = Instant::now();
        n.finish(Duration::from_millis(300)).await;
        let took = started.elapsed();
        ticker.abort();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert!(
            ticks.load(Ordering::SeqCst) >= 5,
            "other tasks ran only {} times during the flush",
            ticks.load(Ordering::SeqCst)
        );
        let state: NotifyState =
            serde_json::from_slice(&std::fs::read(dir.path().join("notify_state.json")).unwrap())
                .unwrap();
        let left: Vec<&str> = state
            .pending
            .iter()
            .map(|(_, n)| n.class.as_str())
            .collect();
        assert_eq!(
            left,
            ["completed"],
            "the one being delivered is not kept twice"
        );
    }

    /// A loop resumed without an answer whose agent asks the open question
    /// again sends nothing; another question still goes out at once.
    #[test]
    fn the_open_question_asked_again_is_not_sent_twice() {
        let dir = tempfile::tempdir().unwrap();
        let count = Arc::new(AtomicU32::new(0));
        let c = count.clone();
        let mut n = notifier_with(dir.path(), move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
        n.open_at_start = Some("Which DB?".into());
        let ask = |run: u64, q: &str| {
            EventEnvelope::now(Some(run), LoopEvent::NeedsInput { question: q.into() })
        };
        // Not notified before (say the provider was added since): sent.
        n.on_event(&ask(4, "Which DB?"));
        // Waits for `want` deliveries (at most 5 s), then a moment for more.
        let sent = |want: u32| {
            let t = Instant::now();
            while count.load(Ordering::SeqCst) < want && t.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            count.load(Ordering::SeqCst)
        };
        assert_eq!(sent(1), 1);
        n.on_event(&ask(5, "Which DB?"));
        assert_eq!(sent(1), 1, "asked again while open");
        let state: NotifyState =
            serde_json::from_slice(&std::fs::read(dir.path().join("notify_state.json")).unwrap())
                .unwrap();
        assert_eq!(state.question.unwrap().run_id, 5, "escalated as run 5's");
        n.on_event(&ask(6, "Postgres or SQLite?"));
        assert_eq!(sent(2), 2, "a different question");
    }

    /// A flush ends as soon as the queues are delivered, not at its bound.
    #[tokio::test(flavor = "current_thread")]
    async fn a_flush_ends_when_everything_is_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let n = slow_notifier(dir.path(), Duration::from_millis(20));
        n.enqueue(vec![note("failed"), note("completed")]);
        let started = Instant::now();
        n.finish(Duration::from_secs(15)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!dir.path().join("notify_state.json").exists());
        assert!(n.workers.lock().unwrap().is_empty());
    }
}
