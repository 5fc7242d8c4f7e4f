//! The agent's prompt for a snapshot: the instructions, the seed and, when
//! incremental, the previous snapshot with what changed since.

/// The prompt of a snapshot from `seed`, updating `previous` by `changes`
/// when both are given.
pub(super) fn render_prompt(seed: &str, previous: Option<&str>, changes: Option<&str>) -> String {
    let mut p = String::from(crate::templates::SNAPSHOT_PROMPT);
    p.push_str("\n<SEED_CONTEXT>\n");
    p.push_str(seed);
    p.push_str("</SEED_CONTEXT>\n");
    match (previous, changes) {
        (Some(prev), Some(ch)) => {
            p.push_str("\n<PREVIOUS_SNAPSHOT>\n");
            p.push_str(prev.trim_end());
            p.push_str("\n</PREVIOUS_SNAPSHOT>\n\n<CHANGES_SINCE_LAST_SNAPSHOT>\n");
            p.push_str(ch);
            p.push_str("</CHANGES_SINCE_LAST_SNAPSHOT>\n\nUpdate the previous snapshot: keep what is still true, change what the changes affect, and remove what is no longer true. Answer with the whole updated snapshot.\n");
        }
        _ => p.push_str(
            "\nWrite a fresh snapshot from the seed context. Answer with the snapshot only.\n",
        ),
    }
    p
}
