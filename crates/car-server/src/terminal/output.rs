//! A session's output: the recent bytes kept for a client that
//! (re)attaches, and the live chunks after them, with no gap and no
//! duplicate between the two.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::body::Bytes;
use tokio::sync::broadcast;

/// How many recent bytes of output a client gets when it attaches.
pub(crate) const REPLAY_BYTES: usize = 256 * 1024;
/// How many live chunks a slow client may lag behind before it is
/// dropped (it reattaches and gets the replay).
const LIVE_CHUNKS: usize = 1024;

/// The output of one session.
#[derive(Debug)]
pub(crate) struct Output {
    recent: Mutex<VecDeque<u8>>,
    live: broadcast::Sender<Bytes>,
}

impl Output {
    pub(crate) fn new() -> Self {
        Self {
            recent: Mutex::new(VecDeque::with_capacity(REPLAY_BYTES)),
            live: broadcast::Sender::new(LIVE_CHUNKS),
        }
    }

    /// Keeps `chunk` and sends it to the attached clients.
    pub(crate) fn push(&self, chunk: &[u8]) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.extend(chunk);
        let excess = recent.len().saturating_sub(REPLAY_BYTES);
        recent.drain(..excess);
        // Under the lock: an attach sees a chunk either in its replay or live.
        let _ = self.live.send(Bytes::copy_from_slice(chunk));
    }

    /// The recent output and the live chunks after it.
    pub(crate) fn attach(&self) -> (Vec<u8>, broadcast::Receiver<Bytes>) {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let (a, b) = recent.as_slices();
        let mut replay = Vec::with_capacity(recent.len());
        replay.extend_from_slice(a);
        replay.extend_from_slice(b);
        (replay, self.live.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replay_keeps_the_newest_bytes_and_live_chunks_follow_it() {
        let out = Output::new();
        out.push(&vec![b'a'; REPLAY_BYTES]);
        out.push(b"bc");
        let (replay, mut live) = out.attach();
        assert_eq!(replay.len(), REPLAY_BYTES);
        assert!(replay.ends_with(b"abc"));
        assert_eq!(replay[0], b'a');
        out.push(b"d");
        assert_eq!(live.try_recv().ok().as_deref(), Some(&b"d"[..]));
    }
}
