//! The browser sessions on disk: `.codex-autorunner/server/sessions.json`
//! (mode 0600, replaced atomically), holding for each session the SHA-256
//! of its cookie value, never the value itself, with when it was made and
//! last used, and from which peer and user agent.
//!
//! The file is the truth: a running server re-reads it whenever it has
//! changed (its inode, size or modification time differ from what was
//! read), so `car serve --revoke-sessions` in another process takes effect
//! at the next request. Every change is a read-modify-write under an
//! exclusive lock on `sessions.lock` beside it, so a revocation and a
//! server noting a session's use never undo each other.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::secret::{hash, random_secret};

/// How long a session lasts from its creation.
pub const SESSION_DAYS: i64 = 30;

/// How stale a session's `last_used` may get on disk before a use is
/// written (a write per request would be wasteful).
const TOUCH_EVERY_SECS: i64 = 60;

/// One session, as listed (no secret).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Session {
    /// The session's public id: the first 16 hex digits of the hash of its
    /// cookie value (which that hash does not reveal).
    pub id: String,
    /// When the one-time link was used.
    #[schema(value_type = String, format = DateTime)]
    pub created: DateTime<Utc>,
    /// When a request last came with this session (to the minute).
    #[schema(value_type = String, format = DateTime)]
    pub last_used: DateTime<Utc>,
    /// The address the link was used from.
    pub peer: Option<String>,
    /// The browser's `User-Agent` then.
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    #[serde(flatten)]
    session: Session,
    /// The SHA-256 of the cookie value, hex.
    hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SessionsFile {
    sessions: Vec<Stored>,
}

/// Why the sessions file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Reading, writing or locking the file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a sessions file.
    #[error("{} is not a valid sessions file: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// No randomness to make a secret from.
    #[error("cannot get random bytes for a session: {0}")]
    Random(getrandom::Error),
    /// The atomic write failed.
    #[error(transparent)]
    Write(#[from] car_core::PathError),
}

/// What identifies one version of the file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

#[derive(Debug, Default)]
struct Cache {
    stamp: Option<Stamp>,
    sessions: Vec<Stored>,
}

/// The sessions of one server, backed by its file.
#[derive(Debug)]
pub struct SessionStore {
    path: PathBuf,
    cache: Mutex<Cache>,
}

impl SessionStore {
    /// The store in `path` (created on the first session).
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// The file of the sessions of the server of the repository at `root`.
    pub fn file_of(root: &Path) -> PathBuf {
        root.join(".codex-autorunner/server/sessions.json")
    }

    /// A new session: its cookie value (the only copy) and its record.
    pub fn create(
        &self,
        peer: Option<String>,
        user_agent: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(String, Session), SessionError> {
        let secret = random_secret().map_err(SessionError::Random)?;
        let hash = hash(&secret);
        let session = Session {
            id: hash[..16].to_string(),
            created: now,
            last_used: now,
            peer,
            user_agent,
        };
        let stored = Stored {
            session: session.clone(),
            hash,
        };
        self.change(|all| all.push(stored))?;
        Ok((secret, session))
    }

    /// The session whose cookie value is `secret`, if it is live; a use
    /// older than a minute on disk is written.
    pub fn check(&self, secret: &str, now: DateTime<Utc>) -> Result<Option<Session>, SessionError> {
        let hash = hash(secret);
        let found = {
            let mut cache = self.lock_cache();
            self.refresh(&mut cache)?;
            cache.sessions.iter().find(|s| s.hash == hash).cloned()
        };
        let Some(found) = found else { return Ok(None) };
        if now - found.session.created > Duration::days(SESSION_DAYS) {
            return Ok(None);
        }
        if now - found.session.last_used > Duration::seconds(TOUCH_EVERY_SECS) {
            let mut still = false;
            self.change(|all| {
                if let Some(s) = all.iter_mut().find(|s| s.hash == hash) {
                    s.session.last_used = now;
                    still = true;
                }
            })?;
            if !still {
                return Ok(None);
            }
        }
        Ok(Some(found.session))
    }

    /// Every session, oldest first.
    pub fn list(&self) -> Result<Vec<Session>, SessionError> {
        let mut cache = self.lock_cache();
        self.refresh(&mut cache)?;
        Ok(cache.sessions.iter().map(|s| s.session.clone()).collect())
    }

    /// Revokes the session `id`; whether there was one.
    pub fn revoke(&self, id: &str) -> Result<bool, SessionError> {
        let mut gone = false;
        self.change(|all| {
            let before = all.len();
            all.retain(|s| s.session.id != id);
            gone = all.len() != before;
        })?;
        Ok(gone)
    }

    /// Revokes every session; how many there were.
    pub fn revoke_all(&self) -> Result<usize, SessionError> {
        let mut count = 0;
        self.change(|all| {
            count = all.len();
            all.clear();
        })?;
        Ok(count)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the file again when it changed since the cache was filled.
    fn refresh(&self, cache: &mut Cache) -> Result<(), SessionError> {
        let stamp = self.stamp()?;
        if stamp != cache.stamp || stamp.is_none() {
            cache.sessions = self.read()?.sessions;
            cache.stamp = stamp;
        }
        Ok(())
    }

    fn stamp(&self) -> Result<Option<Stamp>, SessionError> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(Some(Stamp {
                ino: m.ino(),
                len: m.len(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(self.io("cannot read", source)),
        }
    }

    fn read(&self) -> Result<SessionsFile, SessionError> {
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes.trim_ascii().is_empty() => Ok(SessionsFile::default()),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SessionError::Parse {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SessionsFile::default()),
            Err(source) => Err(self.io("cannot read", source)),
        }
    }

    /// Applies `f` to the sessions on disk, under the lock, and writes them.
    fn change(&self, f: impl FnOnce(&mut Vec<Stored>)) -> Result<(), SessionError> {
        let mut cache = self.lock_cache();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| self.io("cannot create the directory of", e))?;
        let lock_path = self.path.with_extension("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| self.io("cannot lock", e))?;
        lock.lock().map_err(|e| self.io("cannot lock", e))?;
        let mut file = self.read()?;
        f(&mut file.sessions);
        let result = self.write(&file);
        // Re-read what is on disk now, whatever happened.
        cache.stamp = None;
        let refreshed = self.refresh(&mut cache);
        drop(lock);
        result?;
        refreshed
    }

    fn write(&self, file: &SessionsFile) -> Result<(), SessionError> {
        // The new file keeps the mode of the old one: make it 0600 first.
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| self.io("cannot write", e))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| self.io("cannot write", e))?;
        drop::<File>(f);
        let mut bytes = serde_json::to_vec_pretty(file).unwrap_or_default();
        bytes.push(b'\n');
        car_core::write_atomic(&self.path, &bytes)?;
        Ok(())
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> SessionError {
        SessionError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SessionStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::new(SessionStore::file_of(dir.path()));
        (dir, store)
    }

    #[test]
    fn a_session_is_found_by_its_secret_and_only_its_hash_is_on_disk() {
        let (_d, store) = store();
        let now = Utc::now();
        let (secret, s) = store
            .create(Some("127.0.0.1:5".into()), Some("ua".into()), now)
            .unwrap();
        assert_eq!(store.check(&secret, now).unwrap(), Some(s.clone()));
        assert_eq!(store.check("nope", now).unwrap(), None);
        let text = std::fs::read_to_string(&store.path).unwrap();
        assert!(!text.contains(&secret) && text.contains(&hash(&secret)));
        let mode = std::fs::metadata(&store.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(store.list().unwrap(), vec![s]);
    }

    #[test]
    fn a_revocation_through_another_store_on_the_same_file_counts_at_once() {
        let (_d, store) = store();
        let now = Utc::now();
        let (a, sa) = store.create(None, None, now).unwrap();
        let (b, _) = store.create(None, None, now).unwrap();
        let other = SessionStore::new(store.path.clone());
        assert!(other.revoke(&sa.id).unwrap());
        assert!(!other.revoke(&sa.id).unwrap());
        assert_eq!(store.check(&a, now).unwrap(), None);
        assert!(store.check(&b, now).unwrap().is_some());
        assert_eq!(other.revoke_all().unwrap(), 1);
        assert_eq!(store.check(&b, now).unwrap(), None);
    }

    #[test]
    fn a_session_expires_and_its_use_is_noted() {
        let (_d, store) = store();
        let then = Utc::now();
        let (secret, _) = store.create(None, None, then).unwrap();
        let later = then + Duration::minutes(5);
        assert!(store.check(&secret, later).unwrap().is_some());
        assert_eq!(store.list().unwrap()[0].last_used, later);
        let too_late = then + Duration::days(SESSION_DAYS) + Duration::seconds(1);
        assert_eq!(store.check(&secret, too_late).unwrap(), None);
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let (_d, store) = store();
        std::fs::create_dir_all(store.path.parent().unwrap()).unwrap();
        std::fs::write(&store.path, "{oops").unwrap();
        let e = store.list().unwrap_err().to_string();
        assert!(e.contains("sessions.json"), "{e}");
    }
}
