//! The supervisor's settings: `hub.max_parallel_loops`, `hub.restart_max`,
//! `hub.restart_backoff_seconds` and `hub.auto_run_interval_seconds`, read
//! from the same files as the rest of the hub's settings (later files win).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;

use super::super::config::files;
use crate::fs_util::read_optional;
use crate::hub::HubError;

/// How the supervisor runs loops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorSettings {
    /// At most this many loops run at once, those started from a terminal
    /// included (`hub.max_parallel_loops`, 4).
    pub max_parallel_loops: usize,
    /// A crashed loop is restarted at most this many times in a row
    /// (`hub.restart_max`, 3; 0: never).
    pub restart_max: u32,
    /// The wait before the first restart, doubled for each later one
    /// (`hub.restart_backoff_seconds`, 5: 5 s, 10 s, 20 s).
    pub restart_backoff: Duration,
    /// Repositories with `auto_run: true` are queued when the supervisor
    /// starts and again this often (`hub.auto_run_interval_seconds`, 0:
    /// only at start).
    pub auto_run_interval: Option<Duration>,
}

impl Default for SupervisorSettings {
    fn default() -> Self {
        Self {
            max_parallel_loops: 4,
            restart_max: 3,
            restart_backoff: Duration::from_secs(5),
            auto_run_interval: None,
        }
    }
}

impl SupervisorSettings {
    /// Reads the settings of the hub at `root`; a bad value is an error
    /// naming its file and key.
    pub fn load(root: &Path) -> Result<Self, HubError> {
        let mut s = Self::default();
        for path in files(root) {
            let Some(bytes) = read_optional(&path)? else {
                continue;
            };
            let value: Value = serde_yaml::from_slice(&bytes).map_err(|e| HubError::Config {
                path: path.clone(),
                key: String::new(),
                message: format!("cannot be read: {e}"),
            })?;
            let Some(Value::Mapping(hub)) = value.get("hub") else {
                continue;
            };
            if let Some(v) = hub.get("max_parallel_loops") {
                s.max_parallel_loops = whole(&path, "max_parallel_loops", v, 1, 1000)? as usize;
            }
            if let Some(v) = hub.get("restart_max") {
                s.restart_max = whole(&path, "restart_max", v, 0, 100)? as u32;
            }
            if let Some(v) = hub.get("restart_backoff_seconds") {
                s.restart_backoff = seconds(&path, "restart_backoff_seconds", v, 3600.0)?;
            }
            if let Some(v) = hub.get("auto_run_interval_seconds") {
                let d = seconds(&path, "auto_run_interval_seconds", v, 7.0 * 86400.0)?;
                s.auto_run_interval = (!d.is_zero()).then_some(d);
            }
        }
        Ok(s)
    }
}

fn bad(path: &Path, key: &str, message: String) -> HubError {
    HubError::Config {
        path: PathBuf::from(path),
        key: key.into(),
        message,
    }
}

/// A whole number from `min` to `max`.
fn whole(path: &Path, key: &str, v: &Value, min: u64, max: u64) -> Result<u64, HubError> {
    v.as_u64()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            bad(
                path,
                key,
                format!("must be a whole number from {min} to {max}"),
            )
        })
}

/// A number of seconds (fractions allowed) from 0 to `max`.
fn seconds(path: &Path, key: &str, v: &Value, max: f64) -> Result<Duration, HubError> {
    v.as_f64()
        .filter(|n| (0.0..=max).contains(n))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| {
            bad(
                path,
                key,
                format!("must be a number of seconds from 0 to {max}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<SupervisorSettings, HubError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".codex-autorunner")).unwrap();
        std::fs::write(dir.path().join(".codex-autorunner/config.yml"), yaml).unwrap();
        SupervisorSettings::load(dir.path())
    }

    #[test]
    fn defaults_and_values_are_read() {
        assert_eq!(load("mode: hub\n").unwrap(), SupervisorSettings::default());
        let s = load("hub:\n  max_parallel_loops: 2\n  restart_max: 0\n  restart_backoff_seconds: 0.5\n  auto_run_interval_seconds: 60\n").unwrap();
        assert_eq!(s.max_parallel_loops, 2);
        assert_eq!(s.restart_max, 0);
        assert_eq!(s.restart_backoff, Duration::from_millis(500));
        assert_eq!(s.auto_run_interval, Some(Duration::from_secs(60)));
    }

    #[test]
    fn a_bad_value_names_its_file_and_key() {
        let e = load("hub:\n  max_parallel_loops: 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.yml") && e.contains("hub.max_parallel_loops"),
            "{e}"
        );
        let e = load("hub:\n  restart_backoff_seconds: soon\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hub.restart_backoff_seconds"), "{e}");
    }
}
