//! The supervisor's loop: keeps at most `hub.max_parallel_loops` loops
//! running, starts queued ones in request order, restarts crashed ones with
//! backoff and tells the person when it gives up. Everything it knows is on
//! disk (the queue, each repository's lock and state), so it can be killed
//! at any moment and started again: a loop still running is adopted (its
//! lock is held), never started twice.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::process::SupervisorLock;
use super::queue::{Phase, Queue, Wish, hub_dir, now_ms};
use super::settings::SupervisorSettings;
use super::watch::Watch;
use crate::hub::{Hub, HubError};
use crate::launch::{LaunchReport, LoopCommand};
use crate::state::StopReason;

/// A runner started this recently whose lock is not held yet is counted as
/// starting (it takes its lock within milliseconds).
const STARTING_GRACE_MS: u64 = 30_000;

/// How the supervisor runs.
#[derive(Debug, Clone, Default)]
pub struct SuperviseOptions {
    /// End when no loop is wanted any more (the detached supervisor
    /// `car hub start` starts); otherwise run until asked to end.
    pub until_idle: bool,
}

/// Something the supervisor did, written to the hub's ledger after a look.
struct Note {
    event: &'static str,
    repo: String,
    detail: Option<String>,
    pid: Option<u32>,
}

/// What one look found.
struct Look {
    notes: Vec<Note>,
    /// Repositories whose restarts ran out.
    gave_up: Vec<(String, u32)>,
    /// No wish left.
    idle: bool,
    /// The earliest restart due.
    next_retry_ms: Option<u64>,
}

impl Hub {
    /// Runs the supervisor of this hub until `stop` says so (or, with
    /// `until_idle`, until no loop is wanted). `program` is the `car`
    /// binary the loops are started with. Ending it never stops a loop.
    pub fn supervise(
        &self,
        program: &Path,
        opts: &SuperviseOptions,
        stop: &dyn Fn() -> bool,
    ) -> Result<(), HubError> {
        let mut lock = Some(self.lock_supervisor()?);
        let settings = SupervisorSettings::load(self.root())?;
        self.record_event(
            "supervisor_started",
            None,
            Some(format!(
                "max_parallel_loops {}, restart_max {}",
                settings.max_parallel_loops, settings.restart_max
            )),
            Some(std::process::id()),
        )?;
        let mut watch = Watch::new();
        let mut last_auto = Instant::now();
        self.queue_auto_run()?;
        while !stop() {
            watch.watch(&hub_dir(self.root()));
            for dir in self.car_dirs()? {
                watch.watch(&dir);
            }
            let idle_ends = opts.until_idle.then_some(&mut lock);
            let look = self.look(program, &settings, idle_ends)?;
            for n in look.notes {
                self.record_event(n.event, Some(&n.repo), n.detail, n.pid)?;
            }
            for (id, restarts) in look.gave_up {
                self.tell_gave_up(&id, restarts)?;
            }
            if opts.until_idle && look.idle {
                break;
            }
            let mut limit: Option<Duration> = look
                .next_retry_ms
                .map(|t| Duration::from_millis(t.saturating_sub(now_ms()).max(10)));
            if let Some(every) = settings.auto_run_interval {
                if last_auto.elapsed() >= every {
                    last_auto = Instant::now();
                    self.queue_auto_run()?;
                    continue;
                }
                let due = every.saturating_sub(last_auto.elapsed());
                limit = Some(limit.map_or(due, |l| l.min(due)));
            }
            watch.wait(limit, stop);
        }
        self.record_event("supervisor_stopped", None, None, Some(std::process::id()))?;
        Ok(())
    }

    /// Queues every enabled repository with `auto_run: true`.
    fn queue_auto_run(&self) -> Result<(), HubError> {
        let ids: Vec<String> = self
            .repos()?
            .into_iter()
            .filter(|r| r.enabled && r.auto_run)
            .map(|r| r.id)
            .collect();
        if !ids.is_empty() {
            self.request_start(&ids)?;
        }
        Ok(())
    }

    /// The `.codex-autorunner/` of every registered repository.
    fn car_dirs(&self) -> Result<Vec<PathBuf>, HubError> {
        Ok(self
            .repos()?
            .iter()
            .map(|r| self.path_of(r).join(crate::paths::CAR_DIR))
            .collect())
    }

    /// One look: finds the loops that ended, schedules restarts, starts
    /// queued loops while there is room. Holds the queue lock throughout.
    ///
    /// With `idle_ends`, an idle look lets the supervisor lock go before the
    /// queue lock: a `car hub start` that queues a loop just after then
    /// finds no supervisor and starts one.
    fn look(
        &self,
        program: &Path,
        settings: &SupervisorSettings,
        idle_ends: Option<&mut Option<SupervisorLock>>,
    ) -> Result<Look, HubError> {
        let running: HashSet<String> = self
            .repos()?
            .iter()
            .filter(|r| Hub::loop_running(&self.path_of(r)))
            .map(|r| r.id.clone())
            .collect();
        self.update_queue(|q| {
            let mut look = Look {
                notes: Vec::new(),
                gave_up: Vec::new(),
                idle: false,
                next_retry_ms: None,
            };
            let now = now_ms();
            self.reap_ended(q, &running, settings, now, &mut look);
            let starting = q
                .wishes
                .iter()
                .filter(|w| w.phase == Phase::Started && !running.contains(&w.id))
                .count();
            let mut busy = running.len() + starting;
            let mut failed: Vec<String> = Vec::new();
            for w in q.wishes.iter_mut() {
                let due = match w.phase {
                    Phase::Queued => true,
                    Phase::RestartWait => w.retry_at_ms.is_none_or(|t| t <= now),
                    Phase::Started => false,
                };
                if !due {
                    continue;
                }
                if running.contains(&w.id) {
                    // Running already (from a terminal, or before a restart
                    // of the supervisor): adopted, and counted already.
                    w.phase = Phase::Started;
                    w.started_at_ms = Some(now);
                    look.notes.push(note("loop_adopted", &w.id, None, None));
                    continue;
                }
                if busy >= settings.max_parallel_loops {
                    continue;
                }
                match self.start_loop(program, &w.id) {
                    Ok(LaunchReport::Started { pid })
                    | Ok(LaunchReport::AlreadyRunning { pid }) => {
                        let what = if w.phase == Phase::RestartWait {
                            format!("restart {} of {}", w.restarts, settings.restart_max)
                        } else {
                            "queued".into()
                        };
                        w.phase = Phase::Started;
                        w.pid = Some(pid);
                        w.started_at_ms = Some(now);
                        busy += 1;
                        look.notes
                            .push(note("loop_started", &w.id, Some(what), Some(pid)));
                    }
                    Err(e) => {
                        look.notes
                            .push(note("start_failed", &w.id, Some(e.to_string()), None));
                        failed.push(w.id.clone());
                    }
                }
            }
            // A wish whose loop cannot be started is dropped, having been noted.
            q.wishes.retain(|w| !failed.contains(&w.id));
            look.idle = q.wishes.is_empty();
            if look.idle
                && let Some(lock) = idle_ends
            {
                lock.take();
            }
            look.next_retry_ms = q
                .wishes
                .iter()
                .filter(|w| w.phase == Phase::RestartWait)
                .filter_map(|w| w.retry_at_ms)
                .min();
            Ok(look)
        })
    }

    fn start_loop(&self, program: &Path, id: &str) -> Result<LaunchReport, HubError> {
        let repo = self.repo(id)?;
        repo.launch(program, LoopCommand::Run { max_runs: None })
            .map_err(|e| HubError::Init {
                path: repo.root().to_path_buf(),
                source: Box::new(e),
            })
    }

    /// Handles the started loops whose runner is gone: a crash is
    /// restarted after a backoff (until `restart_max`), any other stop ends
    /// the wish.
    fn reap_ended(
        &self,
        q: &mut Queue,
        running: &HashSet<String>,
        settings: &SupervisorSettings,
        now: u64,
        look: &mut Look,
    ) {
        let mut done: Vec<String> = Vec::new();
        for w in q.wishes.iter_mut().filter(|w| w.phase == Phase::Started) {
            if running.contains(&w.id) || starting(w, now) {
                continue;
            }
            let reason = self.stop_reason(&w.id);
            let name = reason.map_or("unknown".into(), |r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            });
            look.notes
                .push(note("loop_stopped", &w.id, Some(name), w.pid));
            if reason != Some(StopReason::Crashed) {
                done.push(w.id.clone());
                continue;
            }
            if w.restarts >= settings.restart_max {
                look.gave_up.push((w.id.clone(), w.restarts));
                look.notes.push(note(
                    "gave_up",
                    &w.id,
                    Some(format!("crashed; restarted {} time(s) already", w.restarts)),
                    None,
                ));
                done.push(w.id.clone());
                continue;
            }
            w.restarts += 1;
            let backoff = settings.restart_backoff * 2u32.saturating_pow(w.restarts - 1);
            w.phase = Phase::RestartWait;
            w.retry_at_ms = Some(now + backoff.as_millis() as u64);
            look.notes.push(note(
                "restart_scheduled",
                &w.id,
                Some(format!(
                    "restart {} of {} in {:.1} s",
                    w.restarts,
                    settings.restart_max,
                    backoff.as_secs_f64()
                )),
                None,
            ));
        }
        q.wishes.retain(|w| !done.contains(&w.id));
    }

    /// Why the loop of `id` stopped (after recording a crash when its runner
    /// died without saying).
    fn stop_reason(&self, id: &str) -> Option<StopReason> {
        let repo = self.repo(id).ok()?;
        if let Err(e) = repo.reconcile() {
            tracing::warn!("hub supervisor: cannot reconcile `{id}`: {e}");
        }
        repo.state().ok()?.stop_reason
    }
}

/// A runner started moments ago that has not taken its lock yet.
fn starting(w: &Wish, now: u64) -> bool {
    w.pid.is_some_and(crate::process::is_alive)
        && w.started_at_ms
            .is_some_and(|t| now.saturating_sub(t) < STARTING_GRACE_MS)
}

fn note(event: &'static str, repo: &str, detail: Option<String>, pid: Option<u32>) -> Note {
    Note {
        event,
        repo: repo.into(),
        detail,
        pid,
    }
}
