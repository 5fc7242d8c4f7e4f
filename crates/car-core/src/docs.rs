//! The five work docs (TODO, PROGRESS, OPINIONS, SPEC, SUMMARY) and the TODO
//! checklist parser.

use std::fmt;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};

use crate::config::DocsConfig;
use crate::fs_util::{PathError, read_optional};

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: char = '\u{feff}';

/// Returns `text` without a leading byte-order mark: it is not content, and
/// before a first `- [ ]` line it would hide that checkbox from Markdown.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// One of the five work docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// The task checklist.
    Todo,
    /// What was done and how it was checked.
    Progress,
    /// How to build it.
    Opinions,
    /// What must be true.
    Spec,
    /// The final report.
    Summary,
}

impl DocKind {
    /// All five, in prompt order.
    pub const ALL: [DocKind; 5] = [
        Self::Todo,
        Self::Progress,
        Self::Opinions,
        Self::Spec,
        Self::Summary,
    ];

    /// Returns the lowercase name (`todo`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Todo => "todo",
            Self::Progress => "progress",
            Self::Opinions => "opinions",
            Self::Spec => "spec",
            Self::Summary => "summary",
        }
    }

    /// Returns the configured path of this doc.
    pub fn path(self, docs: &DocsConfig) -> &Path {
        match self {
            Self::Todo => &docs.todo,
            Self::Progress => &docs.progress,
            Self::Opinions => &docs.opinions,
            Self::Spec => &docs.spec,
            Self::Summary => &docs.summary,
        }
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors reading or understanding a doc.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] PathError),
    /// The file is not UTF-8 text.
    #[error("{} is not UTF-8 text (first bad byte on line {line})", path.display())]
    NotUtf8 {
        /// The doc.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// The work was not done: the async runtime is shutting down.
    #[error(transparent)]
    Cancelled(#[from] crate::engine::Cancelled),
}

/// The contents of the five docs (missing files read as empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Docs {
    /// TODO.
    pub todo: String,
    /// PROGRESS.
    pub progress: String,
    /// OPINIONS.
    pub opinions: String,
    /// SPEC.
    pub spec: String,
    /// SUMMARY.
    pub summary: String,
    /// Whether the TODO file exists at all.
    pub todo_exists: bool,
}

impl Docs {
    /// Reads the five docs named by `cfg`.
    pub(crate) fn load(cfg: &DocsConfig) -> Result<Self, DocError> {
        let mut docs = Docs::default();
        for kind in DocKind::ALL {
            let path = kind.path(cfg);
            let bytes = read_optional(path)?;
            if kind == DocKind::Todo {
                docs.todo_exists = bytes.is_some();
            }
            let text = match bytes {
                None => String::new(),
                Some(b) => {
                    String::from_utf8(strip_bom_bytes(b)).map_err(|e| DocError::NotUtf8 {
                        path: path.to_path_buf(),
                        line: e.as_bytes()[..e.utf8_error().valid_up_to()]
                            .iter()
                            .filter(|&&c| c == b'\n')
                            .count()
                            + 1,
                    })?
                }
            };
            *docs.get_mut(kind) = text;
        }
        Ok(docs)
    }

    /// Reads the docs without failing: invalid UTF-8 is replaced and an
    /// unreadable file reads as empty. Returns the problems found, so a run
    /// that already happened is always recorded.
    pub(crate) fn load_lossy(cfg: &DocsConfig) -> (Self, Vec<String>) {
        let mut docs = Docs::default();
        let mut problems = Vec::new();
        for kind in DocKind::ALL {
            let path = kind.path(cfg);
            let text = match read_optional(path) {
                Ok(Some(b)) => match String::from_utf8(strip_bom_bytes(b)) {
                    Ok(t) => t,
                    Err(e) => {
                        problems.push(format!(
                            "{} is not UTF-8 text; invalid bytes read as U+FFFD",
                            path.display()
                        ));
                        String::from_utf8_lossy(e.as_bytes()).into_owned()
                    }
                },
                Ok(None) => String::new(),
                Err(e) => {
                    problems.push(e.to_string());
                    String::new()
                }
            };
            if kind == DocKind::Todo {
                docs.todo_exists = path.exists();
            }
            *docs.get_mut(kind) = text;
        }
        (docs, problems)
    }

    /// Returns one doc's text.
    pub(crate) fn get(&self, kind: DocKind) -> &str {
        match kind {
            DocKind::Todo => &self.todo,
            DocKind::Progress => &self.progress,
            DocKind::Opinions => &self.opinions,
            DocKind::Spec => &self.spec,
            DocKind::Summary => &self.summary,
        }
    }

    fn get_mut(&mut self, kind: DocKind) -> &mut String {
        match kind {
            DocKind::Todo => &mut self.todo,
            DocKind::Progress => &mut self.progress,
            DocKind::Opinions => &mut self.opinions,
            DocKind::Spec => &mut self.spec,
            DocKind::Summary => &mut self.summary,
        }
    }
}

/// Drops a leading UTF-8 byte-order mark (see [`strip_bom`]).
fn strip_bom_bytes(mut b: Vec<u8>) -> Vec<u8> {
    if b.starts_with(b"\xef\xbb\xbf") {
        b.drain(..3);
    }
    b
}

/// The state of the TODO checklist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoStatus {
    /// Checked items.
    pub done: usize,
    /// All checkbox items.
    pub total: usize,
    /// The text of the first unchecked item.
    pub next: Option<String>,
}

impl TodoStatus {
    /// Returns whether there are checkboxes and all are checked.
    pub fn is_complete(&self) -> bool {
        self.total > 0 && self.done == self.total
    }
    /// Returns the number of unchecked items.
    pub fn open(&self) -> usize {
        self.total - self.done
    }
}

/// Counts the task-list checkboxes of a markdown document.
///
/// List items of any marker (`-`, `*`, `+`, `1.`) count, at any nesting
/// depth. Checkboxes inside code blocks, HTML (comments included) and block
/// quotes do not: they are examples or quotations, not tasks. A leading
/// byte-order mark is ignored.
///
/// ```
/// let todo = car_core::parse_todo("- [x] write the parser\n* [ ] test it\n\n```\n- [ ] an example, not a task\n```\n");
/// assert_eq!((todo.done, todo.total), (1, 2));
/// assert_eq!(todo.next.as_deref(), Some("test it"));
/// assert!(!todo.is_complete());
/// ```
pub fn parse_todo(markdown: &str) -> TodoStatus {
    let mut status = TodoStatus::default();
    let mut quote_depth = 0usize;
    // While Some, we are collecting the text of the first open item.
    let mut collecting: Option<String> = None;
    let mut collecting_done = false;
    for event in Parser::new_ext(strip_bom(markdown), Options::ENABLE_TASKLISTS) {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::TaskListMarker(checked) if quote_depth == 0 => {
                status.total += 1;
                if checked {
                    status.done += 1;
                } else if status.next.is_none() && !collecting_done {
                    collecting = Some(String::new());
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(buf) = collecting.as_mut() {
                    buf.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some(buf) = collecting.as_mut() {
                    buf.push(' ');
                }
            }
            Event::Start(Tag::Item) | Event::End(TagEnd::Item) | Event::End(TagEnd::Paragraph) => {
                if let Some(buf) = collecting.take() {
                    let text = buf.trim().to_string();
                    if !text.is_empty() || matches!(event, Event::End(TagEnd::Item)) {
                        status.next = Some(text);
                        collecting_done = true;
                    } else {
                        collecting = Some(buf);
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(buf) = collecting {
        status.next = Some(buf.trim().to_string());
    }
    status
}

/// The task items of a TODO, in order: whether checked, and the item's own
/// text, whitespace-normalised (nested items are items of their own).
/// Found by the rules of [`parse_todo`]; a leading byte-order mark is ignored.
pub(crate) fn task_items(markdown: &str) -> Vec<(bool, String)> {
    let mut items = Vec::new();
    let mut quote_depth = 0usize;
    let mut current: Option<(bool, String)> = None;
    let mut close = |current: &mut Option<(bool, String)>| {
        if let Some((done, text)) = current.take() {
            items.push((done, text.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    };
    for event in Parser::new_ext(strip_bom(markdown), Options::ENABLE_TASKLISTS) {
        match event {
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::TaskListMarker(checked) if quote_depth == 0 => {
                close(&mut current);
                current = Some((checked, String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, buf)) = current.as_mut() {
                    buf.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, buf)) = current.as_mut() {
                    buf.push(' ');
                }
            }
            Event::Start(Tag::Item) | Event::End(TagEnd::Item) => close(&mut current),
            _ => {}
        }
    }
    close(&mut current);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_all_list_markers_and_case_insensitive_x() {
        let s = parse_todo("# TODO\n\n- [ ] a\n* [x] b\n+ [X] c\n1. [ ] d\n  - [ ] nested\n");
        assert_eq!((s.done, s.total), (2, 5));
        assert_eq!(s.next.as_deref(), Some("a"));
    }

    #[test]
    fn ignores_code_blocks_html_comments_and_quotes() {
        let md = "- [x] real\n\n```\n- [ ] in code\n```\n\n<!--\n- [ ] in comment\n-->\n\n> - [ ] quoted\n\n    - [ ] indented code\n";
        let s = parse_todo(md);
        assert_eq!((s.done, s.total), (1, 1));
        assert!(s.is_complete());
    }

    #[test]
    fn no_checkbox_is_not_complete() {
        let s = parse_todo("# TODO\n\nJust prose.\n- a plain item\n");
        assert_eq!(s.total, 0);
        assert!(!s.is_complete());
    }

    #[test]
    fn next_item_text_skips_checked_items_and_keeps_inline_code() {
        let s = parse_todo("- [x] done\n- [ ] fix `car run` exit code\n- [ ] later\n");
        assert_eq!(s.next.as_deref(), Some("fix car run exit code"));
        assert_eq!(s.open(), 2);
    }

    #[test]
    fn a_byte_order_mark_hides_no_checkbox() {
        let s = parse_todo("\u{feff}- [ ] First task\n- [x] Second task\n");
        assert_eq!((s.done, s.total), (1, 2));
        assert_eq!(s.next.as_deref(), Some("First task"));
    }

    #[test]
    fn docs_are_read_without_their_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::config::defaults(&crate::paths::RepoPaths::new(dir.path()))
            .unwrap()
            .config;
        std::fs::create_dir_all(cfg.docs.todo.parent().unwrap()).unwrap();
        for kind in DocKind::ALL {
            std::fs::write(kind.path(&cfg.docs), "\u{feff}- [ ] x\n").unwrap();
        }
        let (lossy, problems) = Docs::load_lossy(&cfg.docs);
        assert!(problems.is_empty(), "{problems:?}");
        let strict = Docs::load(&cfg.docs).unwrap();
        for kind in DocKind::ALL {
            assert_eq!(strict.get(kind), "- [ ] x\n", "{kind}");
            assert_eq!(lossy.get(kind), "- [ ] x\n", "{kind}");
        }
    }

    #[test]
    fn python_style_checkbox_variants() {
        // `-[ ]` (no space) and `- [~]` are not task items in either program.
        let s = parse_todo("-[ ] a\n- [~] b\n- [ ]    Spaced task\n");
        assert_eq!((s.done, s.total), (0, 1));
        assert_eq!(s.next.as_deref(), Some("Spaced task"));
    }
}
