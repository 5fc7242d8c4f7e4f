//! The secret that signs action tokens: 32 random bytes, hex, in
//! `<dir>/action-token.key` (mode 0600), created on first use. The loop
//! that mints a token and the server that checks it find the same file
//! (see [`super::key_dir`]); deleting it revokes every token made with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::ActionTokenError;
use super::hmac::{hex, unhex};

/// The key file's name.
pub const KEY_FILE: &str = "action-token.key";

/// The secret of the action tokens of one repository (or hub).
#[derive(Clone)]
pub struct ActionKey {
    pub(super) bytes: Vec<u8>,
}

impl std::fmt::Debug for ActionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ActionKey(..)")
    }
}

impl ActionKey {
    /// The key in `dir`, `None` when there is none yet (no token was made
    /// with it: none can be valid).
    pub fn load(dir: &Path) -> Result<Option<Self>, ActionTokenError> {
        let path = dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(ActionTokenError::Io { path, source }),
        };
        match unhex(text.trim()) {
            Some(bytes) if bytes.len() >= 32 => Ok(Some(Self { bytes })),
            _ => Err(ActionTokenError::BadKey { path }),
        }
    }

    /// The key in `dir`, created (32 random bytes, mode 0600) when there
    /// is none; two processes creating it at once end with the same key.
    pub fn load_or_create(dir: &Path) -> Result<Self, ActionTokenError> {
        if let Some(k) = Self::load(dir)? {
            return Ok(k);
        }
        let path = dir.join(KEY_FILE);
        let io = |source| ActionTokenError::Io {
            path: path.clone(),
            source,
        };
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| ActionTokenError::Random(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(io)?;
        // A temp file (0600 from the start) renamed into place only if no
        // other process put a key there first.
        let mut tmp = tempfile::Builder::new()
            .prefix(".action-token.key.")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(format!("{}\n", hex(&bytes)).as_bytes())
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io)?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => Ok(Self { bytes }),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                Self::load(dir)?.ok_or_else(|| ActionTokenError::BadKey { path: path.clone() })
            }
            Err(e) => Err(io(e.error)),
        }
    }

    /// The file of the key in `dir`.
    pub fn file_in(dir: &Path) -> PathBuf {
        dir.join(KEY_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_made_once_private_and_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ActionKey::load(dir.path()).unwrap().is_none());
        let made = ActionKey::load_or_create(dir.path()).unwrap();
        let file = ActionKey::file_in(dir.path());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = ActionKey::load_or_create(dir.path()).unwrap();
        assert_eq!(made.bytes, again.bytes);
        assert_eq!(made.bytes.len(), 32);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp file is left");
    }

    #[test]
    fn a_broken_key_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(ActionKey::file_in(dir.path()), "not hex\n").unwrap();
        let err = ActionKey::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(KEY_FILE), "{err}");
        assert!(ActionKey::load_or_create(dir.path()).is_err());
    }
}
