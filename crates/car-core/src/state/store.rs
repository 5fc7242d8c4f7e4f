//! Reading and writing `state.json`: every change is a read-modify-write
//! under `state.json.lock` (flock), and the file is replaced atomically.

use std::fs::OpenOptions;
use std::path::PathBuf;

use fs2::FileExt;

use crate::fs_util::{Durability, IoResultExt, PathError, read_optional, write_atomic_with};
use crate::paths::RepoPaths;

use super::State;

/// The version of car's additions to the state file.
pub(crate) const STATE_VERSION: u32 = 1;

/// Errors reading or writing the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] PathError),
}

/// What loading the state found.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The state (defaults when the file is missing, empty or corrupt).
    pub state: State,
    /// Set when the file exists but could not be parsed.
    pub corrupt: Option<String>,
}

/// Reads and writes one repository's `state.json`.
#[derive(Debug, Clone)]
pub(crate) struct StateStore {
    path: PathBuf,
    lock_path: PathBuf,
}

impl StateStore {
    /// Returns the store of the repository at `paths`.
    pub(crate) fn new(paths: &RepoPaths) -> Self {
        Self {
            path: paths.state_file(),
            lock_path: paths.state_lock_file(),
        }
    }

    /// Reads the state without locking; a corrupt file reads as defaults and
    /// is reported in [`Loaded::corrupt`].
    pub(crate) fn load(&self) -> Result<Loaded, StateError> {
        let bytes = read_optional(&self.path)?;
        Ok(match bytes {
            None => Loaded {
                state: State::default(),
                corrupt: None,
            },
            Some(b) if b.iter().all(u8::is_ascii_whitespace) => Loaded {
                state: State::default(),
                corrupt: None,
            },
            Some(b) => match serde_json::from_slice::<State>(&b) {
                Ok(state) => Loaded {
                    state,
                    corrupt: None,
                },
                Err(e) => Loaded {
                    state: State::default(),
                    corrupt: Some(format!("{}: {e}", self.path.display())),
                },
            },
        })
    }

    /// Applies `f` to the state under the state lock and writes the result
    /// atomically and durably (a machine crash right after keeps it). A
    /// corrupt file is first moved aside (never lost). Nothing is written
    /// when `f` changed nothing.
    pub(crate) fn update<R>(
        &self,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R), StateError> {
        self.update_with(Durability::Durable, f)
    }

    /// Like [`update`](Self::update), for fields that only matter while the
    /// runner lives (its pid, the run in progress): the file is never torn,
    /// but a machine crash may bring back the previous content. Saves the
    /// directory sync.
    pub(crate) fn update_transient<R>(
        &self,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R), StateError> {
        self.update_with(Durability::Consistent, f)
    }

    fn update_with<R>(
        &self,
        sync: Durability,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R), StateError> {
        let (state, r, lock) = self.update_holding(sync, f)?;
        let _ = FileExt::unlock(&lock);
        Ok((state, r))
    }

    /// Like [`update`](Self::update), but keeps the state lock until the
    /// returned file is dropped: no other writer, in this process or
    /// another, changes the state before then (for a process about to exit).
    pub(crate) fn update_and_hold<R>(
        &self,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R, std::fs::File), StateError> {
        self.update_holding(Durability::Durable, f)
    }

    fn update_holding<R>(
        &self,
        sync: Durability,
        f: impl FnOnce(&mut State) -> R,
    ) -> Result<(State, R, std::fs::File), StateError> {
        if let Some(dir) = self.lock_path.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .with_path("cannot open", &self.lock_path)?;
        FileExt::lock_exclusive(&lock).with_path("cannot lock", &self.lock_path)?;
        let loaded = self.load()?;
        if let Some(why) = &loaded.corrupt {
            let aside = self.path.with_extension(format!(
                "json.corrupt-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%S")
            ));
            tracing::warn!(%why, aside = %aside.display(), "state.json is corrupt; moving it aside");
            std::fs::rename(&self.path, &aside).with_path("cannot move aside", &self.path)?;
        }
        let unchanged_from = (loaded.corrupt.is_none() && self.path.exists()).then(|| {
            let mut s = loaded.state.clone();
            s.car_state_version = STATE_VERSION;
            s
        });
        let mut state = loaded.state;
        let r = f(&mut state);
        state.car_state_version = STATE_VERSION;
        if unchanged_from.as_ref() != Some(&state) {
            let mut text = serde_json::to_string_pretty(&state).unwrap_or_default();
            text.push('\n');
            write_atomic_with(&self.path, text.as_bytes(), sync)?;
        }
        Ok((state, r, lock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::model::tests::pending;
    use crate::state::{Status, StopReason};
    use crate::stop::RequestedBy;

    #[test]
    fn python_state_round_trips_its_fields_and_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        let py = r#"{
  "last_run_id": 3, "status": "idle", "last_exit_code": 0,
  "last_run_started_at": "2026-11-21T11:01:29Z", "last_run_finished_at": "2026-11-21T11:01:29Z",
  "runner_pid": null,
  "sessions": {"abc": {"repo_path": "/r", "status": "active"}}, "repo_to_session": {"/r": "abc"}
}"#;
        std::fs::write(paths.state_file(), py).unwrap();
        let store = StateStore::new(&paths);
        let s = store.load().unwrap().state;
        assert_eq!(s.last_run_id, Some(3));
        store.update(|s| s.status = Status::Running).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(paths.state_file()).unwrap()).unwrap();
        assert_eq!(v["status"], "running");
        assert_eq!(v["sessions"]["abc"]["repo_path"], "/r");
        assert_eq!(v["last_run_started_at"], "2026-11-21T11:01:29Z");
    }

    #[test]
    fn corrupt_state_degrades_and_is_kept_aside() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        std::fs::write(paths.state_file(), "{not json").unwrap();
        let store = StateStore::new(&paths);
        assert!(store.load().unwrap().corrupt.is_some());
        store.update(|s| s.last_run_id = Some(1)).unwrap();
        let kept = std::fs::read_dir(&paths.car_dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("state.json.corrupt-")
            });
        assert!(kept, "the corrupt file must be kept");
    }

    #[test]
    fn requested_by_round_trips_through_the_state_file_and_old_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let paths = RepoPaths::new(dir.path());
        std::fs::create_dir_all(&paths.car_dir).unwrap();
        // A state file written before the fields existed.
        std::fs::write(
            paths.state_file(),
            r#"{"status": "killed", "stop_reason": "killed", "car_state_version": 1}"#,
        )
        .unwrap();
        let store = StateStore::new(&paths);
        let old = store.load().unwrap();
        assert!(old.corrupt.is_none());
        assert_eq!(old.state.stop_requested_by, None);
        assert_eq!(old.state.stop_request, None);
        store
            .update(|s| {
                s.runner_pid = Some(3);
                s.stop_request = Some(pending(crate::stop::StopKind::Kill, 3));
            })
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(paths.state_file()).unwrap()).unwrap();
        assert_eq!(v["stop_request"]["requested_by"], "api");
        assert_eq!(v["stop_request"]["kind"], "kill");
        store
            .update(|s| s.record_stop(StopReason::Killed, None))
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(paths.state_file()).unwrap()).unwrap();
        assert_eq!(v["stop_requested_by"], "api");
        assert_eq!(v["stop_origin"], "test");
        assert!(v.get("stop_request").is_none());
        let back = store.load().unwrap().state;
        assert_eq!(back.stop_requested_by, Some(RequestedBy::Api));
    }
}
