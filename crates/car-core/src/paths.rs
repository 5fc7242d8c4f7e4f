//! Every on-disk location `car` uses inside a repository, in one place.

use std::path::{Path, PathBuf};

/// The name of the work directory at the repository root.
pub(crate) const CAR_DIR: &str = ".codex-autorunner";

/// Paths of the files `car` keeps under `<root>/.codex-autorunner/`.
#[derive(Debug, Clone)]
pub struct RepoPaths {
    /// The repository root (the directory holding `.codex-autorunner/`).
    pub root: PathBuf,
    /// `<root>/.codex-autorunner`.
    pub car_dir: PathBuf,
}

impl RepoPaths {
    /// Returns the paths for the repository rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let car_dir = root.join(CAR_DIR);
        Self { root, car_dir }
    }

    /// Finds the nearest ancestor of `start` (itself included) that holds
    /// `.codex-autorunner/config.yml`.
    pub fn discover(start: &Path) -> Option<Self> {
        start
            .ancestors()
            .find(|dir| dir.join(CAR_DIR).join("config.yml").is_file())
            .map(Self::new)
    }

    /// `config.yml`: the repo's own config layer.
    pub fn config_file(&self) -> PathBuf {
        self.car_dir.join("config.yml")
    }
    /// `state.json`: the runner state.
    pub fn state_file(&self) -> PathBuf {
        self.car_dir.join("state.json")
    }
    /// `state.json.lock`: guards read-modify-write cycles of the state.
    pub fn state_lock_file(&self) -> PathBuf {
        self.car_dir.join("state.json.lock")
    }
    /// `lock`: held by the runner for its whole invocation.
    pub fn run_lock_file(&self) -> PathBuf {
        self.car_dir.join("lock")
    }
    /// `disk-reserve.tmp`: space held while a loop runs, given back to
    /// record the stop when the disk is full.
    pub fn disk_reserve_file(&self) -> PathBuf {
        self.car_dir.join("disk-reserve.tmp")
    }
    /// `stop`: a stop request honoured between runs.
    pub fn stop_file(&self) -> PathBuf {
        self.car_dir.join("stop")
    }
    /// `runs/`: one directory per run.
    pub fn runs_dir(&self) -> PathBuf {
        self.car_dir.join("runs")
    }
    /// `runs/<id>/`.
    pub fn run_dir(&self, id: u64) -> PathBuf {
        self.runs_dir().join(id.to_string())
    }
    /// `runs/run-<id>.log`: where the Python program kept a run's output.
    pub fn legacy_run_log(&self, id: u64) -> PathBuf {
        self.runs_dir().join(format!("run-{id}.log"))
    }
    /// `events.jsonl`: the event ledger.
    pub fn events_file(&self) -> PathBuf {
        self.car_dir.join("events.jsonl")
    }
    /// `logs/`: car's own diagnostics.
    pub fn logs_dir(&self) -> PathBuf {
        self.car_dir.join("logs")
    }
    /// `.gitignore` inside the work directory.
    pub fn gitignore(&self) -> PathBuf {
        self.car_dir.join(".gitignore")
    }
}
