//! Following the work docs: each doc's version (its ETag, as the docs API
//! gives it) once at the start, then again whenever its bytes change on
//! disk, whoever changed them (the agent, an editor, `car` itself). A page
//! editing a doc learns of an edit made meanwhile without asking again
//! and again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::stream::{Follow, spawn};
use super::wake::Wake;
use crate::docs::DocKind;

/// A doc's version on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DocVersion {
    /// Which doc.
    pub doc: DocKind,
    /// Its ETag: the same value `GET .../docs/{doc}` answers (a missing
    /// file has one of its own).
    pub etag: String,
}

/// What a look at a file found: its size and time, to hash it again only
/// when they change.
#[derive(PartialEq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path).ok().map(|m| Stamp {
        len: m.len(),
        modified: m.modified().ok(),
    })
}

fn etag(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => crate::doc_chat::doc_etag(true, &bytes),
        Err(_) => crate::doc_chat::doc_etag(false, &[]),
    }
}

/// Follows the docs at `docs` (each kind with its path).
pub(crate) fn follow_docs(docs: Vec<(DocKind, PathBuf)>) -> Follow<DocVersion> {
    spawn("car-follow-docs", move |feed| {
        let mut wake = Wake::new();
        let dirs: Vec<PathBuf> = docs
            .iter()
            .filter_map(|(_, p)| p.parent().map(Path::to_path_buf))
            .collect();
        let mut seen: HashMap<DocKind, (Option<Stamp>, String)> = HashMap::new();
        loop {
            let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
            wake.watch(&refs);
            for (kind, path) in &docs {
                let now = stamp(path);
                let same_stamp = seen.get(kind).is_some_and(|(s, _)| *s == now);
                // A write within the clock's resolution keeps the stamp:
                // a look at a recent change hashes anyway.
                let recent = now
                    .as_ref()
                    .and_then(|s| s.modified)
                    .and_then(|m| m.elapsed().ok())
                    .is_none_or(|age| age.as_secs() < 2);
                if same_stamp && !recent {
                    continue;
                }
                let tag = etag(path);
                if seen.get(kind).is_some_and(|(_, t)| *t == tag) {
                    seen.insert(*kind, (now, tag));
                    continue;
                }
                seen.insert(*kind, (now, tag.clone()));
                if !feed.send(DocVersion {
                    doc: *kind,
                    etag: tag,
                }) {
                    return;
                }
            }
            if feed.closed() {
                return;
            }
            wake.wait();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::stream::take_within;
    use super::*;

    #[test]
    fn each_doc_is_told_once_then_on_each_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let todo = dir.path().join("TODO.md");
        let spec = dir.path().join("SPEC.md");
        std::fs::write(&todo, "- [ ] a\n").expect("write");
        let mut f = follow_docs(vec![(DocKind::Todo, todo.clone()), (DocKind::Spec, spec)]);
        let first = take_within(&mut f, 2);
        assert_eq!(
            first,
            [
                DocVersion {
                    doc: DocKind::Todo,
                    etag: crate::doc_chat::doc_etag(true, b"- [ ] a\n")
                },
                DocVersion {
                    doc: DocKind::Spec,
                    etag: crate::doc_chat::doc_etag(false, b"")
                },
            ]
        );
        // Written in place (truncated, then written), a look in between
        // may tell the empty file first: the last version told is the
        // new one.
        std::fs::write(&todo, "- [x] a\n").expect("write");
        let want = crate::doc_chat::doc_etag(true, b"- [x] a\n");
        let mut told = Vec::new();
        while told.last() != Some(&want) {
            let next = take_within(&mut f, 1);
            assert_eq!(next.len(), 1, "no new version: {told:?}");
            assert_eq!(next[0].doc, DocKind::Todo);
            told.push(next[0].etag.clone());
        }
        // Nothing more while nothing changes (the same bytes written
        // again, as car writes: a new file renamed over the old one).
        let tmp = dir.path().join("TODO.md.tmp");
        std::fs::write(&tmp, "- [x] a\n").expect("write");
        std::fs::rename(&tmp, &todo).expect("rename");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let more = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(1500), f.next()).await
        });
        assert!(more.is_err(), "{more:?}");
    }
}
