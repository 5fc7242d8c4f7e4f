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
use serde_json::json;

use super::providers::{self, Provider};
use super::{Context, Notification, NotifyState, decide, from_event, tick};
use crate::config::{Config, NotifyConfig};
use crate::engine::Event;
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
