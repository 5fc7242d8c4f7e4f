//! The marker car adds to SUMMARY after a final summary run, tied to the TODO
//! it summarised.
//!
//! The marker is one HTML comment on a line of its own:
//! `<!-- CAR:SUMMARY_FINALIZED run_id=N todo=<fingerprint> -->`. The
//! fingerprint is a hash of the TODO's checkbox items (their text and
//! state), so adding, rewording or removing a task makes the summary stale
//! and the next completed TODO gets a summary run again; editing prose
//! around the tasks does not.
//!
//! A marker without a fingerprint (written by the Python program 0.1.0, or
//! by car before this change) reads as final, as it did there, and is then
//! adopted: car rewrites it with the current fingerprint, so a TODO changed
//! after that gets its own summary.
//!
//! car only ever edits its own marker lines: every other byte of SUMMARY
//! (invalid UTF-8, trailing whitespace, a byte-order mark) is kept as is.

/// The marker text (shared with the Python program, so a summary it
/// finalised is not redone).
pub(crate) const MARKER: &str = "CAR:SUMMARY_FINALIZED";

/// What SUMMARY's markers say about the current TODO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MarkerState {
    /// No marker: the summary is still to be written.
    Missing,
    /// A marker written for another TODO: the summary is stale.
    Stale,
    /// Only markers without a fingerprint (Python 0.1.0): final, to adopt.
    Legacy,
    /// A marker for exactly this TODO: final.
    Current,
}

/// Returns the fingerprint of a TODO's checkbox items: 16 hex digits of a
/// 64-bit FNV-1a hash over each item's state and whitespace-normalised text.
/// Items are found with the rules of [`crate::docs::parse_todo`] (none in
/// code blocks, HTML or block quotes).
pub(crate) fn todo_fingerprint(todo: &str) -> String {
    let mut items = Vec::new();
    for (done, text) in crate::docs::task_items(todo) {
        items.extend_from_slice(if done { b"[x] " } else { b"[ ] " });
        items.extend_from_slice(text.as_bytes());
        items.push(b'\n');
    }
    format!("{:016x}", crate::snapshot::seed::fnv1a(&items))
}

/// Returns what the markers in `summary` say about the TODO of
/// `fingerprint`.
pub(crate) fn state(summary: &[u8], fingerprint: &str) -> MarkerState {
    let mut hashed = false;
    let mut legacy = false;
    for m in markers(summary) {
        match field(m, "todo=") {
            Some(fp) if fp == fingerprint.as_bytes() => return MarkerState::Current,
            Some(_) => hashed = true,
            None => legacy = true,
        }
    }
    // A fingerprinted marker means car adopted or wrote it: a legacy one
    // beside it is history, not a verdict.
    if hashed {
        MarkerState::Stale
    } else if legacy {
        MarkerState::Legacy
    } else {
        MarkerState::Missing
    }
}

/// Returns `summary` finalised for the TODO of `fingerprint`: car's earlier
/// marker lines are taken out and one new marker line is appended; every
/// other byte stays as it was.
pub(crate) fn finalize(summary: &[u8], run_id: Option<u64>, fingerprint: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(summary.len() + 96);
    for line in summary.split_inclusive(|&b| b == b'\n') {
        if !is_marker_line(line) {
            out.extend_from_slice(line);
        }
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    if !out.is_empty() {
        out.push(b'\n');
    }
    let run = run_id.map(|id| format!(" run_id={id}")).unwrap_or_default();
    out.extend_from_slice(format!("<!-- {MARKER}{run} todo={fingerprint} -->\n").as_bytes());
    out
}

/// Each marker's inside (from the marker to `-->` or the line's end).
fn markers(summary: &[u8]) -> impl Iterator<Item = &[u8]> {
    summary.split(|&b| b == b'\n').filter_map(|line| {
        let at = memchr::memmem::find(line, MARKER.as_bytes())?;
        let rest = &line[at + MARKER.len()..];
        let end = memchr::memmem::find(rest, b"-->").unwrap_or(rest.len());
        Some(&rest[..end])
    })
}

/// The value of `key` (up to the next whitespace) in a marker's inside.
fn field<'a>(marker: &'a [u8], key: &str) -> Option<&'a [u8]> {
    marker
        .split(u8::is_ascii_whitespace)
        .find_map(|w| w.strip_prefix(key.as_bytes()))
}

/// Whether `line` is only a marker comment (car's own line).
fn is_marker_line(line: &[u8]) -> bool {
    let t = line.trim_ascii();
    t.len() >= 7
        && t.starts_with(b"<!--")
        && t.ends_with(b"-->")
        && memchr::memmem::find(t, MARKER.as_bytes()).is_some()
        && memchr::memmem::find(&t[4..t.len() - 3], b"-->").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_the_tasks_not_the_prose() {
        let a = todo_fingerprint("# TODO\n\n- [x] one\n- [x] two\n");
        assert_eq!(a.len(), 16);
        assert_eq!(
            a,
            todo_fingerprint("\u{feff}# Tasks\n\nSome notes.\n\n* [X] one\n-   [x]   two\n")
        );
        assert_ne!(a, todo_fingerprint("- [x] one\n- [x] two\n- [x] three\n"));
        assert_ne!(a, todo_fingerprint("- [x] one\n- [ ] two\n"));
        assert_ne!(a, todo_fingerprint("- [x] one\n- [x] two, reworded\n"));
        // Checkboxes in code and quotes are not tasks.
        assert_eq!(
            a,
            todo_fingerprint("- [x] one\n- [x] two\n\n```\n- [x] three\n```\n\n> - [x] four\n")
        );
        // Pinned: the fingerprint is stored in SUMMARY files and must not drift.
        assert_eq!(todo_fingerprint("- [x] one\n"), "5467f02ca04fbe21");
    }

    #[test]
    fn state_tells_current_stale_legacy_and_missing_apart() {
        let fp = "0123456789abcdef";
        assert_eq!(state(b"# Summary\n", fp), MarkerState::Missing);
        assert_eq!(
            state(b"x\n<!-- CAR:SUMMARY_FINALIZED -->\n", fp),
            MarkerState::Legacy
        );
        assert_eq!(
            state(b"x\n<!-- CAR:SUMMARY_FINALIZED run_id=3 -->\n", fp),
            MarkerState::Legacy
        );
        assert_eq!(
            state(
                b"x\n<!-- CAR:SUMMARY_FINALIZED run_id=3 todo=0123456789abcdef -->\n",
                fp
            ),
            MarkerState::Current
        );
        assert_eq!(
            state(
                b"<!-- CAR:SUMMARY_FINALIZED -->\n<!-- CAR:SUMMARY_FINALIZED run_id=3 todo=ffff -->\n",
                fp
            ),
            MarkerState::Stale
        );
    }

    #[test]
    fn finalize_keeps_every_byte_it_does_not_own() {
        let user: &[u8] = b"# Summary\n\nbytes \xff\xfe kept \xe9t\xe9   \n\n\n";
        let out = finalize(user, Some(7), "00000000000000aa");
        assert!(out.starts_with(user), "{:?}", String::from_utf8_lossy(&out));
        assert_eq!(
            &out[user.len()..],
            b"\n<!-- CAR:SUMMARY_FINALIZED run_id=7 todo=00000000000000aa -->\n"
        );
        // Without a final newline, one is added before the marker line.
        let out = finalize(b"\xff", Some(1), "ab");
        assert_eq!(
            out,
            b"\xff\n\n<!-- CAR:SUMMARY_FINALIZED run_id=1 todo=ab -->\n"
        );
        // car's earlier marker lines are replaced; a marker inside a user's
        // line is the user's and stays.
        let old =
            b"a\n<!-- CAR:SUMMARY_FINALIZED run_id=1 todo=11 -->\nsee CAR:SUMMARY_FINALIZED here\n";
        let out = finalize(old, Some(2), "22");
        assert_eq!(
            out,
            b"a\nsee CAR:SUMMARY_FINALIZED here\n\n<!-- CAR:SUMMARY_FINALIZED run_id=2 todo=22 -->\n"
        );
        assert_eq!(state(&out, "22"), MarkerState::Current);
        assert_eq!(state(&out, "11"), MarkerState::Stale);
    }
}
