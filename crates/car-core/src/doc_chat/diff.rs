//! A line diff of a doc, for people: each line of both versions once,
//! tagged kept, added or removed.

use serde::{Deserialize, Serialize};
use similar::{ChangeTag, TextDiff};

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiffLine {
    /// `same`, `add` or `del`.
    pub tag: String,
    /// The line, without its newline.
    pub text: String,
}

/// The lines of `old` and `new`, each tagged.
pub fn line_diff(old: &str, new: &str) -> Vec<DiffLine> {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| DiffLine {
            tag: match c.tag() {
                ChangeTag::Equal => "same",
                ChangeTag::Insert => "add",
                ChangeTag::Delete => "del",
            }
            .to_string(),
            text: c.value().trim_end_matches(['\n', '\r']).to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(d: &[DiffLine]) -> Vec<(&str, &str)> {
        d.iter()
            .map(|l| (l.tag.as_str(), l.text.as_str()))
            .collect()
    }

    #[test]
    fn a_changed_line_is_removed_then_added() {
        let d = line_diff("- [ ] a\n- [ ] b\n", "- [ ] a\n- [x] b\n- [ ] c\n");
        assert_eq!(
            tags(&d),
            [
                ("same", "- [ ] a"),
                ("del", "- [ ] b"),
                ("add", "- [x] b"),
                ("add", "- [ ] c"),
            ]
        );
    }

    #[test]
    fn a_last_line_without_newline_reads_like_the_others() {
        let d = line_diff("a", "a\nb");
        assert_eq!(tags(&d), [("del", "a"), ("add", "a"), ("add", "b")]);
        assert!(line_diff("", "").is_empty());
    }
}
