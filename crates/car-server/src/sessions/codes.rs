//! One-time login codes: each trades once, within [`CODE_TTL`], for a
//! session. Kept in memory only, and only as hashes: a code never reaches
//! the disk, and a restart voids them all.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::secret::{hash, random_secret};

/// How long a one-time code is good for.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);

/// The most codes waiting at once (the oldest go first).
const MAX_CODES: usize = 64;

/// The codes not yet used.
#[derive(Debug, Default)]
pub(crate) struct LoginCodes {
    /// Hash of a code -> when it expires.
    codes: Mutex<HashMap<String, Instant>>,
}

impl LoginCodes {
    /// A new code, good until `now + CODE_TTL`.
    pub(crate) fn issue(&self, now: Instant) -> Result<String, getrandom::Error> {
        let code = random_secret()?;
        let mut codes = self.lock();
        codes.retain(|_, expires| *expires > now);
        while codes.len() >= MAX_CODES {
            let Some(oldest) = codes
                .iter()
                .min_by_key(|(_, e)| **e)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            codes.remove(&oldest);
        }
        codes.insert(hash(&code), now + CODE_TTL);
        Ok(code)
    }

    /// Whether `code` is a live code; it is used up either way.
    pub(crate) fn redeem(&self, code: &str, now: Instant) -> bool {
        self.lock()
            .remove(&hash(code))
            .is_some_and(|expires| expires > now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.codes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once_and_not_after_it_expires() {
        let codes = LoginCodes::default();
        let now = Instant::now();
        let a = codes.issue(now).unwrap();
        assert!(codes.redeem(&a, now));
        assert!(!codes.redeem(&a, now));
        let b = codes.issue(now).unwrap();
        assert!(!codes.redeem(&b, now + CODE_TTL));
        assert!(!codes.redeem("made-up", now));
    }

    #[test]
    fn only_so_many_codes_wait_at_once() {
        let codes = LoginCodes::default();
        let now = Instant::now();
        let first = codes.issue(now).unwrap();
        for i in 0..MAX_CODES {
            codes
                .issue(now + Duration::from_millis(i as u64 + 1))
                .unwrap();
        }
        assert!(!codes.redeem(&first, now));
    }
}
