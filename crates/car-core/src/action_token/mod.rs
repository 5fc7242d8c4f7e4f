//! Action tokens: capabilities a loop mints for the buttons of a
//! notification and the server checks without any lookup.
//!
//! A token is `car_act.<repo>.<scopes>.<expires>.<mac>`: the repository's
//! id in the server's URLs, the actions it allows joined by `-` (`reply`,
//! `resume`, `stop`), its expiry in Unix seconds, and the lowercase hex
//! HMAC-SHA256 of everything before the last dot under the key of
//! [`key_dir`]. A repository id may hold dots, so a token is read from the
//! right.

mod hmac;
mod key;

use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;
use thiserror::Error;

pub use key::{ActionKey, KEY_FILE};

/// What every action token starts with.
pub const TOKEN_PREFIX: &str = "car_act.";

/// One thing an action token may do, to its repository only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionScope {
    /// `POST /api/v1/repos/{id}/reply`.
    Reply,
    /// `POST /api/v1/repos/{id}/loop/resume`.
    Resume,
    /// `POST /api/v1/repos/{id}/loop/stop`.
    Stop,
}

impl ActionScope {
    /// Its name in a token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reply => "reply",
            Self::Resume => "resume",
            Self::Stop => "stop",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "reply" => Some(Self::Reply),
            "resume" => Some(Self::Resume),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }
}

/// What a valid token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionGrant {
    /// The repository's id in the server's URLs.
    pub repo: String,
    /// The actions allowed.
    pub scopes: Vec<ActionScope>,
    /// When it stops being valid (Unix seconds).
    pub expires_at: i64,
}

/// Why a key could not be read or made.
#[derive(Debug, Error)]
pub enum ActionTokenError {
    /// The key file could not be read or written.
    #[error("cannot use the action token key {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The key file holds something else than a key.
    #[error("the action token key {} is not 64 hex digits; delete it to make a new one (tokens made with it stop working)", path.display())]
    BadKey {
        /// The file.
        path: PathBuf,
    },
    /// No random bytes for a new key.
    #[error("cannot make an action token key: no random bytes ({0})")]
    Random(String),
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a token of this form.
    Malformed,
    /// Not made with this key (changed, or the key was replaced).
    BadMac,
    /// Made with this key, but past its expiry.
    Expired,
}

/// The repository, its scopes and expiry of a token, unchecked: which
/// key checks it depends on the repository.
pub fn peek(token: &str) -> Result<ActionGrant, Refused> {
    split(token).map(|(_, grant, _)| grant)
}

fn split(token: &str) -> Result<(&str, ActionGrant, &str), Refused> {
    let rest = token.strip_prefix(TOKEN_PREFIX).ok_or(Refused::Malformed)?;
    let (signed, mac) = token.rsplit_once('.').ok_or(Refused::Malformed)?;
    let mut parts = rest.rsplitn(4, '.');
    let (_mac, expires, scopes, repo) = (
        parts.next().ok_or(Refused::Malformed)?,
        parts.next().ok_or(Refused::Malformed)?,
        parts.next().ok_or(Refused::Malformed)?,
        parts.next().ok_or(Refused::Malformed)?,
    );
    if repo.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refused::Malformed);
    }
    let expires_at = expires.parse().map_err(|_| Refused::Malformed)?;
    let scopes = scopes
        .split('-')
        .map(ActionScope::parse)
        .collect::<Option<Vec<_>>>()
        .ok_or(Refused::Malformed)?;
    let grant = ActionGrant {
        repo: repo.to_string(),
        scopes,
        expires_at,
    };
    Ok((signed, grant, mac))
}

impl ActionKey {
    /// A token for `grant`.
    pub fn mint(&self, grant: &ActionGrant) -> String {
        let scopes: Vec<&str> = grant.scopes.iter().map(|s| s.as_str()).collect();
        let signed = format!(
            "{TOKEN_PREFIX}{}.{}.{}",
            grant.repo,
            scopes.join("-"),
            grant.expires_at
        );
        let mac = hmac::hex(&hmac::hmac_sha256(&self.bytes, signed.as_bytes()));
        format!("{signed}.{mac}")
    }

    /// What `token` allows at `now` (Unix seconds), if this key made it;
    /// the MAC is compared in constant time.
    pub fn verify(&self, token: &str, now: i64) -> Result<ActionGrant, Refused> {
        let (signed, grant, mac) = split(token)?;
        let given = hmac::unhex(mac).ok_or(Refused::Malformed)?;
        let want = hmac::hmac_sha256(&self.bytes, signed.as_bytes());
        if !bool::from(given.as_slice().ct_eq(want.as_slice())) {
            return Err(Refused::BadMac);
        }
        if now >= grant.expires_at {
            return Err(Refused::Expired);
        }
        Ok(grant)
    }
}

/// Where the key of the repository at `repo_root` is: `server/` (which
/// `.codex-autorunner/.gitignore` ignores, so no commit takes it) of its
/// hub's `.codex-autorunner/` when a hub lists it (a hub's server serves
/// it), else of its own.
pub fn key_dir(repo_root: &Path) -> PathBuf {
    crate::hub::HubMembership::find(repo_root)
        .map_or_else(|| repo_root.to_path_buf(), |m| m.root)
        .join(crate::paths::CAR_DIR)
        .join("server")
}

/// The id of the repository at `root` in a server's URLs: its id in the
/// manifest of the hub that lists it, else [`dir_id`].
pub fn url_id(root: &Path) -> String {
    crate::hub::HubMembership::find(root).map_or_else(|| dir_id(root), |m| m.id)
}

/// The id of the repository at `root` in the URLs of a server started in
/// it: its directory name, with every character but ASCII letters, digits,
/// `-`, `_` and `.` replaced by `-` (`repo` when nothing is left).
pub fn dir_id(root: &Path) -> String {
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if id.is_empty() || id.chars().all(|c| c == '.') {
        "repo".to_string()
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> (tempfile::TempDir, ActionKey) {
        let dir = tempfile::tempdir().unwrap();
        let k = ActionKey::load_or_create(dir.path()).unwrap();
        (dir, k)
    }

    fn grant(repo: &str, expires_at: i64) -> ActionGrant {
        ActionGrant {
            repo: repo.into(),
            scopes: vec![ActionScope::Resume, ActionScope::Stop],
            expires_at,
        }
    }

    #[test]
    fn a_minted_token_verifies_until_it_expires() {
        let (_d, k) = key();
        let g = grant("my.repo--fix", 1_000);
        let t = k.mint(&g);
        assert!(
            t.starts_with("car_act.my.repo--fix.resume-stop.1000."),
            "{t}"
        );
        assert_eq!(t.rsplit('.').next().unwrap().len(), 64);
        assert_eq!(k.verify(&t, 999), Ok(g.clone()));
        assert_eq!(peek(&t), Ok(g));
        assert_eq!(k.verify(&t, 1_000), Err(Refused::Expired));
    }

    #[test]
    fn a_changed_token_or_another_key_is_refused() {
        let (_d, k) = key();
        let (_d2, other) = key();
        let t = k.mint(&grant("a", 1_000));
        assert_eq!(other.verify(&t, 0), Err(Refused::BadMac));
        let wider = t.replace(".resume-stop.", ".reply-resume-stop.");
        assert_eq!(k.verify(&wider, 0), Err(Refused::BadMac));
        let later = t.replace(".1000.", ".9000.");
        assert_eq!(k.verify(&later, 0), Err(Refused::BadMac));
        let elsewhere = t.replacen("car_act.a.", "car_act.b.", 1);
        assert_eq!(k.verify(&elsewhere, 0), Err(Refused::BadMac));
        // An expired token whose MAC is wrong says the MAC, not the date.
        assert_eq!(k.verify(&later, 10_000), Err(Refused::BadMac));
    }

    #[test]
    fn junk_is_malformed() {
        let (_d, k) = key();
        for junk in [
            "",
            "car_act.",
            "car_act.a.resume.10",
            "car_act..resume.10.00",
            "car_act.a.sudo.10.00",
            "car_act.a.resume.-10.00",
            "car_act.a.resume.10.zz",
            "tk_abc",
        ] {
            assert_eq!(k.verify(junk, 0), Err(Refused::Malformed), "{junk:?}");
        }
    }

    #[test]
    fn a_dir_id_is_its_directory_name_made_safe_for_urls() {
        assert_eq!(dir_id(Path::new("/home/a/my-repo")), "my-repo");
        assert_eq!(dir_id(Path::new("/home/a/my repo/")), "my-repo");
        assert_eq!(dir_id(Path::new("/home/a/caf\u{e9}")), "caf-");
        assert_eq!(dir_id(Path::new("/")), "repo");
        assert_eq!(dir_id(Path::new("/x/..")), "repo");
    }
}
