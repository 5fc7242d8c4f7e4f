//! [`Follow`]: the stream a follower's thread feeds.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

/// How many items wait for a slow reader before the follower pauses.
const BACKLOG: usize = 256;

/// An endless (or, for a finished run's output, ending) stream of what a
/// follower finds on disk. It implements [`futures_core::Stream`]; a
/// program without an async runtime reads it with
/// [`Follow::next_blocking`]. The follower works on a thread of its own,
/// woken by file-change notifications, and stops soon after this value is
/// dropped.
#[derive(Debug)]
pub struct Follow<T> {
    rx: mpsc::Receiver<T>,
}

/// The sending end, for the follower's thread.
pub(crate) struct Feed<T> {
    tx: mpsc::Sender<T>,
}

impl<T> Feed<T> {
    /// Hands `item` to the reader, waiting while the backlog is full;
    /// false when the reader is gone.
    pub(crate) fn send(&self, item: T) -> bool {
        self.tx.blocking_send(item).is_ok()
    }

    /// Whether the reader is gone.
    pub(crate) fn closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// [`Feed::send`] for a follower that runs async code.
    pub(crate) async fn send_async(&self, item: T) -> bool {
        self.tx.send(item).await.is_ok()
    }

    /// Completes once the reader is gone.
    pub(crate) async fn gone(&self) {
        self.tx.closed().await;
    }

    /// A feed on `tx` (for tests).
    #[cfg(test)]
    pub(crate) fn for_test(tx: mpsc::Sender<T>) -> Self {
        Self { tx }
    }
}

/// Starts `work` on a thread of its own named `name`, feeding a [`Follow`].
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce(Feed<T>) + Send + 'static,
) -> Follow<T> {
    let (tx, rx) = mpsc::channel(BACKLOG);
    let feed = Feed { tx };
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || work(feed));
    if let Err(e) = spawned {
        // The stream then ends at once: its sender is dropped.
        tracing::warn!("follow: cannot start a thread: {e}");
    }
    Follow { rx }
}

impl<T> Follow<T> {
    /// Polls for the next item (for a follower merging several streams).
    pub(crate) fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }

    /// The next item; `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// The next item, blocking this thread (not for use inside an async
    /// runtime: it panics there).
    pub fn next_blocking(&mut self) -> Option<T> {
        self.rx.blocking_recv()
    }
}

impl<T> futures_core::Stream for Follow<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

/// The next `count` items, or those that came before 5 s went by without
/// one, or before the stream ended (for tests).
#[cfg(test)]
pub(crate) fn take_within<T>(f: &mut Follow<T>, count: usize) -> Vec<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < count {
            match tokio::time::timeout(std::time::Duration::from_secs(5), f.next()).await {
                Ok(Some(item)) => got.push(item),
                Ok(None) | Err(_) => break,
            }
        }
        got
    })
}

/// Whether the stream ends within 5 s with no further item (for tests).
#[cfg(test)]
pub(crate) fn ends_within<T>(f: &mut Follow<T>) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), f.next()).await,
            Ok(None)
        )
    })
}
