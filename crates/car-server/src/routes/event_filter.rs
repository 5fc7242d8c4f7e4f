//! What a user token below `admin` sees of a repository's ledger: the
//! `task_*` and `exec_*` events of its own user's tasks and commands, not
//! another user's (their ids, working directories, command lines). The
//! owner is the `user` of the task's or command's record, looked up once
//! per id for the life of a filter (one request, one stream); an event
//! whose record cannot be read is dropped. An `audit` record of a request
//! about a task or command (`/api/v1/tasks/{id}...`, `/api/v1/execs/{id}...`)
//! counts as that task's or command's. Every other event passes
//! unchanged, and so does everything for any other caller. Used by
//! `events`, `stream`, `ws` and the hub's `stream`.

use std::collections::HashMap;

use car_core::users::Scope;
use car_core::{EventEnvelope, LoopEvent, Repo};
use serde_json::Value;

use super::{blocking, requester};
use crate::guard::Caller;

/// The events one caller may see.
#[derive(Debug)]
pub(crate) struct EventFilter {
    /// The caller, when its events are filtered.
    caller: Option<Caller>,
    /// Whether the events of each (repository, task or command) are kept.
    seen: HashMap<(String, String), bool>,
}

/// The task or command an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Task(String),
    Exec(String),
    /// A `task_*` or `exec_*` event without its id (a newer car's).
    Unnamed,
}

impl Subject {
    /// The task or command `event` is about; `None` for other events.
    fn of(event: &LoopEvent) -> Option<Self> {
        match event {
            LoopEvent::TaskSpawned { task_id, .. }
            | LoopEvent::TaskReply { task_id, .. }
            | LoopEvent::TaskAborted { task_id, .. }
            | LoopEvent::TaskDone { task_id, .. } => Some(Self::Task(task_id.clone())),
            LoopEvent::ExecStarted { exec_id, .. }
            | LoopEvent::ExecCancelled { exec_id, .. }
            | LoopEvent::ExecDone { exec_id, .. } => Some(Self::Exec(exec_id.clone())),
            // A request about a task or a command names it in its path.
            LoopEvent::Audit { path, .. } => {
                let p = path.split("/api/v1/").nth(1)?;
                let mut seg = p.split('/');
                let (kind, id) = (seg.next()?, seg.next()?);
                match kind {
                    "tasks" => Some(Self::Task(id.to_string())),
                    "execs" => Some(Self::Exec(id.to_string())),
                    _ => None,
                }
            }
            LoopEvent::Unknown(m) => {
                let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
                let (key, make): (&str, fn(String) -> Self) = if kind.starts_with("task_") {
                    ("task_id", Self::Task)
                } else if kind.starts_with("exec_") {
                    ("exec_id", Self::Exec)
                } else {
                    return None;
                };
                Some(
                    m.get(key)
                        .and_then(Value::as_str)
                        .map_or(Self::Unnamed, |id| make(id.to_string())),
                )
            }
            _ => None,
        }
    }

    fn id(&self) -> &str {
        match self {
            Self::Task(id) | Self::Exec(id) => id,
            Self::Unnamed => "",
        }
    }
}

impl EventFilter {
    /// The filter for `caller`: it drops something only for a user token
    /// below the scope `admin`.
    pub(crate) fn new(caller: &Caller) -> Self {
        let filtered = caller.user().is_some_and(|u| u.scope < Scope::Admin);
        Self {
            caller: filtered.then(|| caller.clone()),
            seen: HashMap::new(),
        }
    }

    /// What to decide about `event` of repository `repo_id` without
    /// reading a record: `Ok(keep)`, or `Err(subject)` to look up.
    fn known(&self, repo_id: &str, event: &EventEnvelope) -> Result<bool, Subject> {
        if self.caller.is_none() {
            return Ok(true);
        }
        match Subject::of(&event.event) {
            None => Ok(true),
            Some(Subject::Unnamed) => Ok(false),
            Some(s) => match self.seen.get(&(repo_id.to_string(), s.id().to_string())) {
                Some(&keep) => Ok(keep),
                None => Err(s),
            },
        }
    }

    /// Whether the caller sees a task or command whose record says
    /// `owner` (`None`: no record could be read).
    fn decide(&mut self, repo_id: &str, subject: &Subject, owner: Option<Option<String>>) -> bool {
        let keep = match (&self.caller, owner) {
            (Some(caller), Some(owner)) => caller.may_see(owner.as_deref(), repo_id),
            (None, _) => true,
            (Some(_), None) => false,
        };
        self.seen
            .insert((repo_id.to_string(), subject.id().to_string()), keep);
        keep
    }

    /// Whether the caller sees `event` of repository `repo_id` (`repo`),
    /// reading a record here when needed (for a blocking context).
    pub(crate) fn keeps_now(&mut self, repo_id: &str, repo: &Repo, event: &EventEnvelope) -> bool {
        match self.known(repo_id, event) {
            Ok(keep) => keep,
            Err(subject) => {
                let owner = owner(repo, &subject);
                self.decide(repo_id, &subject, owner)
            }
        }
    }

    /// Whether the caller sees `event` of repository `repo_id`; `repo`
    /// gives that repository (`None`: it is not served, and a task or
    /// command of it is not seen), read on a blocking thread when needed.
    pub(crate) async fn keeps(
        &mut self,
        repo_id: &str,
        repo: impl FnOnce() -> Option<Repo>,
        event: &EventEnvelope,
    ) -> bool {
        let subject = match self.known(repo_id, event) {
            Ok(keep) => return keep,
            Err(subject) => subject,
        };
        let found = match repo() {
            None => None,
            Some(repo) => {
                let s = subject.clone();
                blocking(move || Ok(owner(&repo, &s))).await.ok().flatten()
            }
        };
        self.decide(repo_id, &subject, found)
    }
}

/// The `user` of the record of `subject` in `repo`: `None` when it cannot
/// be read, `Some(None)` when it names no user.
fn owner(repo: &Repo, subject: &Subject) -> Option<Option<String>> {
    match subject {
        Subject::Task(id) => repo
            .tasks(requester(None))
            .status(id)
            .ok()
            .map(|r| r.requested_by.user),
        Subject::Exec(id) => repo
            .execs(requester(None))
            .status(id)
            .ok()
            .map(|r| r.requested_by.user),
        Subject::Unnamed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::UserCaller;

    fn event(json: &str) -> EventEnvelope {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn only_task_and_exec_events_name_a_subject() {
        let spawned = event(
            r#"{"seq":1,"ts":"","type":"task_spawned","task_id":"t-1","cwd":"/r","requested_by":"api"}"#,
        );
        assert_eq!(
            Subject::of(&spawned.event),
            Some(Subject::Task("t-1".into()))
        );
        let done =
            event(r#"{"seq":2,"ts":"","type":"exec_done","exec_id":"x-1","state":"succeeded"}"#);
        assert_eq!(Subject::of(&done.event), Some(Subject::Exec("x-1".into())));
        let newer = event(r#"{"seq":3,"ts":"","type":"task_paused_v9"}"#);
        assert_eq!(Subject::of(&newer.event), Some(Subject::Unnamed));
        let newer = event(r#"{"seq":3,"ts":"","type":"exec_paused","exec_id":"x-2"}"#);
        assert_eq!(Subject::of(&newer.event), Some(Subject::Exec("x-2".into())));
        let other = event(r#"{"seq":4,"ts":"","type":"some_loop_thing"}"#);
        assert_eq!(Subject::of(&other.event), None);
    }

    #[test]
    fn only_a_user_token_below_admin_is_filtered_and_answers_are_cached() {
        let spawned = event(
            r#"{"seq":1,"ts":"","type":"task_spawned","task_id":"t-1","cwd":"/r","requested_by":"api"}"#,
        );
        for caller in [Caller::Open, Caller::Token, Caller::Session("s".into())] {
            assert_eq!(EventFilter::new(&caller).known("r", &spawned), Ok(true));
        }
        let user = |scope| {
            Caller::User(UserCaller {
                name: "ann".into(),
                scope,
                repo: None,
            })
        };
        assert_eq!(
            EventFilter::new(&user(Scope::Admin)).known("r", &spawned),
            Ok(true)
        );
        let mut f = EventFilter::new(&user(Scope::Read));
        let s = f.known("r", &spawned).unwrap_err();
        // Unreadable: dropped, and not looked up again.
        assert!(!f.decide("r", &s, None));
        assert_eq!(f.known("r", &spawned), Ok(false));
        let mut f = EventFilter::new(&user(Scope::Tasks));
        assert!(f.decide("r", &s, Some(Some("ann".into()))));
        assert_eq!(f.known("r", &spawned), Ok(true));
        assert!(!f.decide("r", &Subject::Task("t-2".into()), Some(Some("bob".into()))));
        assert!(!f.decide("r", &Subject::Task("t-3".into()), Some(None)));
    }
}
