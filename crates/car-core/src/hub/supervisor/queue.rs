//! The hub's wishes: which loops should run, in request order
//! (`.codex-autorunner/hub/queue.json`). `car hub start` adds to it, `car hub
//! stop` removes from it, the supervisor moves each entry along (queued,
//! started, waiting to restart) and drops it when its loop stopped for good.
//! Every change is made under `queue.lock` and written atomically, so the
//! supervisor can be killed at any moment and take up where it was.

use std::path::{Path, PathBuf};

use fs2::FileExt;
use serde::{Deserialize, Serialize};

use crate::fs_util::{IoResultExt, read_optional, write_atomic};
use crate::hub::{Hub, HubError};
use crate::paths::CAR_DIR;

/// Where a wish is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for a free slot.
    Queued,
    /// Its loop was started (or found running) by the supervisor.
    Started,
    /// Its loop crashed; it is started again at `retry_at_ms`.
    RestartWait,
}

/// One repository whose loop should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Wish {
    /// The repository's id.
    pub id: String,
    /// When it was asked for (ms since the epoch): the queue's order.
    pub requested_at_ms: u64,
    /// Where it is.
    pub phase: Phase,
    /// Restarts after crashes so far.
    #[serde(default)]
    pub restarts: u32,
    /// The runner process started for it.
    #[serde(default)]
    pub pid: Option<u32>,
    /// When that runner was started (ms since the epoch).
    #[serde(default)]
    pub started_at_ms: Option<u64>,
    /// When a crashed loop is started again (ms since the epoch).
    #[serde(default)]
    pub retry_at_ms: Option<u64>,
}

/// The content of `queue.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queue {
    /// The file's version (1).
    #[serde(default)]
    pub version: u32,
    /// The wishes, oldest request first.
    #[serde(default)]
    pub wishes: Vec<Wish>,
}

impl Queue {
    /// The wish for `id`.
    pub fn get(&self, id: &str) -> Option<&Wish> {
        self.wishes.iter().find(|w| w.id == id)
    }

    /// Marks `summary` as the hub sees it: a loop that is not running (nor
    /// waiting for an answer) but queued is [`LoopState::Queued`], one
    /// waiting to be restarted [`LoopState::Restarting`].
    pub fn mark(&self, summary: &mut crate::RepoSummary) {
        use crate::LoopState;
        if matches!(
            summary.state,
            LoopState::Running | LoopState::WaitingForInput
        ) {
            return;
        }
        match self.get(&summary.id).map(|w| w.phase) {
            Some(Phase::Queued) => summary.state = LoopState::Queued,
            Some(Phase::RestartWait) => summary.state = LoopState::Restarting,
            Some(Phase::Started) | None => {}
        }
    }
}

/// What [`Hub::request_start`] did with each id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StartRequest {
    /// Queued now.
    pub queued: Vec<String>,
    /// Queued (or started) already: left where they were.
    pub already: Vec<String>,
}

/// The supervisor's directory of the hub at `root`.
pub(crate) fn hub_dir(root: &Path) -> PathBuf {
    root.join(CAR_DIR).join("hub")
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Hub {
    /// The queue file.
    pub fn queue_path(&self) -> PathBuf {
        hub_dir(self.root()).join("queue.json")
    }

    /// Reads the queue (empty when there is none yet).
    pub fn queue(&self) -> Result<Queue, HubError> {
        let path = self.queue_path();
        match read_optional(&path)? {
            None => Ok(Queue::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| HubError::Manifest {
                path,
                line: Some(e.line()),
                message: format!(
                    "the hub's queue cannot be read ({e}); remove the file to start afresh"
                ),
            }),
        }
    }

    /// Reads the queue, lets `change` edit it and writes it back when it
    /// changed, all under the queue lock.
    pub(crate) fn update_queue<T>(
        &self,
        change: impl FnOnce(&mut Queue) -> Result<T, HubError>,
    ) -> Result<T, HubError> {
        let dir = hub_dir(self.root());
        std::fs::create_dir_all(&dir).with_path("cannot create directory", &dir)?;
        let lock_path = dir.join("queue.lock");
        // Opened without truncating: the supervisor watches this directory,
        // and a truncation would wake it for nothing.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_path("cannot open", &lock_path)?;
        lock.lock_exclusive().with_path("cannot lock", &lock_path)?;
        let mut queue = self.queue()?;
        let before = queue.clone();
        let out = change(&mut queue)?;
        if queue != before {
            queue.version = 1;
            let mut text = serde_json::to_vec_pretty(&queue).unwrap_or_default();
            text.push(b'\n');
            write_atomic(&self.queue_path(), &text)?;
        }
        let _ = FileExt::unlock(&lock);
        Ok(out)
    }

    /// Queues the loops of `ids` (in this order, after those queued
    /// already). Unknown and disabled repositories are refused, and then
    /// nothing is queued.
    pub fn request_start(&self, ids: &[String]) -> Result<StartRequest, HubError> {
        let manifest = self.manifest()?;
        for id in ids {
            let entry = manifest.get(id).ok_or_else(|| self.unknown(id))?;
            if !entry.enabled {
                return Err(HubError::Refused(format!(
                    "`{id}` is disabled in {} (enabled: false); enable it to start its loop",
                    self.manifest_path().display()
                )));
            }
        }
        self.update_queue(|q| {
            let mut report = StartRequest::default();
            for id in ids {
                if q.get(id).is_some() {
                    report.already.push(id.clone());
                    continue;
                }
                q.wishes.push(Wish {
                    id: id.clone(),
                    requested_at_ms: now_ms(),
                    phase: Phase::Queued,
                    restarts: 0,
                    pid: None,
                    started_at_ms: None,
                    retry_at_ms: None,
                });
                report.queued.push(id.clone());
            }
            Ok(report)
        })
    }

    /// Removes the wishes of `ids`; returns those that were there.
    pub fn request_stop(&self, ids: &[String]) -> Result<Vec<String>, HubError> {
        self.update_queue(|q| {
            let removed: Vec<String> = q
                .wishes
                .iter()
                .filter(|w| ids.contains(&w.id))
                .map(|w| w.id.clone())
                .collect();
            q.wishes.retain(|w| !ids.contains(&w.id));
            Ok(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Phase, Queue, Wish};
    use crate::{LoopState, RepoSummary, Status};

    fn summary(id: &str, state: LoopState) -> RepoSummary {
        RepoSummary {
            id: id.into(),
            root: id.into(),
            state,
            status: Status::Idle,
            stop_reason: None,
            todo_done: None,
            todo_total: None,
            run: None,
            question: None,
            git: None,
        }
    }

    fn wish(id: &str, phase: Phase) -> Wish {
        Wish {
            id: id.into(),
            requested_at_ms: 1,
            phase,
            restarts: 0,
            pid: None,
            started_at_ms: None,
            retry_at_ms: None,
        }
    }

    #[test]
    fn a_loop_waiting_for_a_slot_or_a_restart_says_so_unless_it_runs_or_asks() {
        let q = Queue {
            version: 1,
            wishes: vec![
                wish("a", Phase::Queued),
                wish("b", Phase::RestartWait),
                wish("c", Phase::Started),
                wish("d", Phase::Queued),
                wish("e", Phase::Queued),
            ],
        };
        let marked = |id: &str, state: LoopState| {
            let mut s = summary(id, state);
            q.mark(&mut s);
            s.state
        };
        assert_eq!(marked("a", LoopState::Stopped), LoopState::Queued);
        assert_eq!(marked("b", LoopState::Stopped), LoopState::Restarting);
        assert_eq!(marked("c", LoopState::Idle), LoopState::Idle);
        assert_eq!(marked("d", LoopState::Running), LoopState::Running);
        assert_eq!(
            marked("e", LoopState::WaitingForInput),
            LoopState::WaitingForInput
        );
        assert_eq!(marked("zz", LoopState::Idle), LoopState::Idle);
    }
}
