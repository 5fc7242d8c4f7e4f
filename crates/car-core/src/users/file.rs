//! `users.json`: the users and their tokens (hashed), read whole, changed
//! under a lock (`users.json.lock`) and written atomically, mode 0600.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::token::{self, Grant, NewToken, Refused};
use super::{Role, Scope, UsersError};
use crate::fs_util::{IoResultExt, read_optional, write_atomic};

/// The file's name, in the server's directory.
pub(crate) const FILE: &str = "users.json";

/// One user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// The name (in audit records, task records, rate limits).
    pub name: String,
    /// What the user may be given.
    pub role: Role,
    /// When it was added.
    pub created_at: DateTime<Utc>,
}

/// One token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Its id (the part after `car_u_`).
    pub id: String,
    /// Its user.
    pub user: String,
    /// What it may do (capped by the user's role).
    pub scope: Scope,
    /// The one repository (its id in URLs) it is confined to.
    #[serde(default)]
    pub repo: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working (never when absent).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
    /// When a server last took it (to the minute: see [`Users::touch`]).
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// SHA-256 of its secret, hex.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    #[serde(default = "one")]
    version: u32,
    #[serde(default)]
    users: Vec<UserRecord>,
    #[serde(default)]
    tokens: Vec<TokenRecord>,
}

fn one() -> u32 {
    1
}

impl Default for Data {
    fn default() -> Self {
        Self {
            version: 1,
            users: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

/// The users file of a server, as read.
#[derive(Debug, Clone)]
pub struct Users {
    path: PathBuf,
    data: Data,
}

impl Users {
    /// The users file of the server started at `root` (a repository or a
    /// hub root): `<root>/.codex-autorunner/server/users.json`.
    pub fn file_of(root: &Path) -> PathBuf {
        root.join(crate::paths::CAR_DIR).join("server").join(FILE)
    }

    /// The file at `path` (empty when there is none).
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let data = match read_optional(path)? {
            None => Data::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| UsersError::Invalid {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?,
        };
        if data.version != 1 {
            return Err(UsersError::Invalid {
                path: path.to_path_buf(),
                message: format!("version {} (this car reads version 1)", data.version),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            data,
        })
    }

    /// Changes the file at `path` with `f`, under its lock; nothing is
    /// written when `f` fails.
    pub fn edit<T>(
        path: &Path,
        f: impl FnOnce(&mut Self) -> Result<T, UsersError>,
    ) -> Result<T, UsersError> {
        let lock_path = path.with_extension("json.lock");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_path("cannot create directory", dir)?;
        }
        let _lock = crate::fs_util::lock_exclusive(&lock_path)?;
        let mut users = Self::load(path)?;
        let out = f(&mut users)?;
        users.save()?;
        Ok(out)
    }

    fn save(&self) -> Result<(), UsersError> {
        let mut bytes = serde_json::to_vec_pretty(&self.data).map_err(|e| UsersError::Invalid {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        // Made 0600 before its first content: the atomic write keeps the
        // mode of the file it replaces.
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .with_path("cannot create", &self.path)?;
            std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600))
                .with_path("cannot set the mode of", &self.path)?;
        }
        write_atomic(&self.path, &bytes)?;
        Ok(())
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The users, in the order added.
    pub fn users(&self) -> &[UserRecord] {
        &self.data.users
    }

    /// The tokens, in the order made, without their hashes.
    pub fn tokens(&self) -> Vec<TokenRecord> {
        let mut t = self.data.tokens.clone();
        for r in &mut t {
            r.sha256.clear();
        }
        t
    }

    /// The user named `name`.
    pub fn user(&self, name: &str) -> Option<&UserRecord> {
        self.data.users.iter().find(|u| u.name == name)
    }

    /// Adds a user.
    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<UserRecord, UsersError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
        if !valid {
            return Err(UsersError::BadName(name.to_string()));
        }
        if self.user(name).is_some() {
            return Err(UsersError::UserExists {
                name: name.to_string(),
                path: self.path.clone(),
            });
        }
        let rec = UserRecord {
            name: name.to_string(),
            role,
            created_at: now,
        };
        self.data.users.push(rec.clone());
        Ok(rec)
    }

    /// Removes a user and revokes its tokens: how many were live.
    pub fn remove_user(&mut self, name: &str, now: DateTime<Utc>) -> Result<usize, UsersError> {
        let before = self.data.users.len();
        self.data.users.retain(|u| u.name != name);
        if self.data.users.len() == before {
            return Err(self.no_user(name));
        }
        let mut n = 0;
        for t in self.data.tokens.iter_mut().filter(|t| t.user == name) {
            if t.revoked_at.is_none() {
                t.revoked_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }

    fn no_user(&self, name: &str) -> UsersError {
        UsersError::NoUser {
            name: name.to_string(),
            path: self.path.clone(),
        }
    }

    /// Makes a token for `user`; its secret is in the answer only.
    pub fn create_token(
        &mut self,
        user: &str,
        scope: Scope,
        repo: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<NewToken, UsersError> {
        let role = self.user(user).ok_or_else(|| self.no_user(user))?.role;
        if scope > role.max_scope() {
            return Err(UsersError::ScopeTooWide {
                user: user.to_string(),
                role,
            });
        }
        let (id, secret) = token::fresh()?;
        let record = TokenRecord {
            id: id.clone(),
            user: user.to_string(),
            scope,
            repo,
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
            sha256: token::hash(&secret),
        };
        self.data.tokens.push(record.clone());
        let mut shown = record;
        shown.sha256.clear();
        Ok(NewToken {
            token: token::format(&id, &secret),
            record: shown,
        })
    }

    /// Records in the file at `path` that the token `id` was used at
    /// `now`, unless its last use recorded is less than `gap` before:
    /// whether the file was written. Under the lock, like [`Users::edit`].
    pub fn touch(
        path: &Path,
        id: &str,
        now: DateTime<Utc>,
        gap: Duration,
    ) -> Result<bool, UsersError> {
        let _lock = crate::fs_util::lock_exclusive(&path.with_extension("json.lock"))?;
        let mut users = Self::load(path)?;
        let Some(t) = users.data.tokens.iter_mut().find(|t| t.id == id) else {
            return Ok(false);
        };
        if t.last_used_at.is_some_and(|at| now - at < gap) {
            return Ok(false);
        }
        t.last_used_at = Some(now);
        users.save()?;
        Ok(true)
    }

    /// Revokes the token `id` (again: no change).
    pub fn revoke(&mut self, id: &str, now: DateTime<Utc>) -> Result<TokenRecord, UsersError> {
        let path = self.path.clone();
        let t = self
            .data
            .tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| UsersError::NoToken {
                id: id.to_string(),
                path,
            })?;
        t.revoked_at.get_or_insert(now);
        let mut shown = t.clone();
        shown.sha256.clear();
        Ok(shown)
    }

    /// What `token` allows at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Grant, Refused> {
        let (id, secret) = token::split(token).ok_or(Refused::Malformed)?;
        let rec = self
            .data
            .tokens
            .iter()
            .find(|t| t.id == id)
            .ok_or(Refused::Unknown)?;
        if !token::matches(secret, &rec.sha256) {
            return Err(Refused::Unknown);
        }
        if let Some(at) = rec.revoked_at {
            return Err(Refused::Revoked(at.to_rfc3339()));
        }
        if let Some(at) = rec.expires_at.filter(|at| *at <= now) {
            return Err(Refused::Expired(at.to_rfc3339()));
        }
        let user = self.user(&rec.user).ok_or(Refused::NoUser)?;
        Ok(Grant {
            token_id: rec.id.clone(),
            user: user.name.clone(),
            scope: token::capped(rec.scope, user.role),
            repo: rec.repo.clone(),
        })
    }
}

/// When a token made at `now` with `--expires WHAT` stops working:
/// `30d`, `12h`, `15m`, `2s` from now, an RFC 3339 time, or `never`.
pub fn parse_expiry(what: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, UsersError> {
    let bad = || UsersError::BadExpiry(what.to_string());
    let w = what.trim();
    if w == "never" {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(w) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let split = w.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = w.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "s" => Duration::try_seconds(n),
        "m" => Duration::try_minutes(n),
        "h" => Duration::try_hours(n),
        "d" => Duration::try_days(n),
        _ => None,
    }
    .filter(|d| *d > Duration::zero())
    .ok_or_else(bad)?;
    now.checked_add_signed(d).map(Some).ok_or_else(bad)
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
