//! One bot per token: `~/.codex-autorunner/locks/telegram_bot_<sha256(token)[:12]>.lock`
//! (the Python program's path), held with an advisory lock while the bot
//! runs; it names the holder's pid.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use fs2::FileExt;
use sha2::{Digest, Sha256};

use crate::error::TelegramError;

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct InstanceLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl InstanceLock {
    /// The lock file of `token` under `home`.
    pub fn path_for(home: &Path, token: &str) -> PathBuf {
        let digest = Sha256::digest(token.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        home.join(".codex-autorunner/locks")
            .join(format!("telegram_bot_{}.lock", &hex[..12]))
    }

    /// Takes the lock at `path`, or says which pid holds it.
    pub fn acquire(path: &Path) -> Result<Self, TelegramError> {
        let io = |what: &'static str| {
            move |source| TelegramError::File {
                what,
                path: path.to_path_buf(),
                source,
            }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("cannot create the directory of"))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io("cannot open"))?;
        if file.try_lock_exclusive().is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let pid = text.trim().parse().unwrap_or(0);
            return Err(TelegramError::AlreadyRunning {
                pid,
                path: path.to_path_buf(),
            });
        }
        file.set_len(0).map_err(io("cannot write"))?;
        file.rewind().map_err(io("cannot write"))?;
        writeln!(file, "{}", std::process::id()).map_err(io("cannot write"))?;
        Ok(Self {
            _file: file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_hashes_the_token_and_a_second_holder_learns_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let p = InstanceLock::path_for(dir.path(), "123:abc");
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        assert!(
            name.starts_with("telegram_bot_") && name.ends_with(".lock"),
            "{name}"
        );
        assert_eq!(name.len(), "telegram_bot_.lock".len() + 12);
        assert!(!name.contains("abc"), "the token is not in the name");
        let held = InstanceLock::acquire(&p).unwrap();
        match InstanceLock::acquire(&p) {
            Err(TelegramError::AlreadyRunning { pid, .. }) => assert_eq!(pid, std::process::id()),
            other => panic!("{other:?}"),
        }
        drop(held);
        InstanceLock::acquire(&p).unwrap();
    }
}
