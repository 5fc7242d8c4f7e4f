//! Fuzzing the TODO parser: any text gives consistent counts, never a panic.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Tally, mutated, token_text};
use crate::docs::parse_todo;

const TOKENS: &[&[u8]] = &[
    b"- [ ] ",
    b"- [x] ",
    b"* [X] ",
    b"+ [ ] ",
    b"1. [ ] ",
    b"2) [x] ",
    b"[ ]",
    b"[x]",
    b"- ",
    b"\n",
    b"\n\n",
    b"  ",
    b"    ",
    b"\t",
    b"```\n",
    b"~~~\n",
    b"> ",
    b">> ",
    b"<!--",
    b"-->",
    b"<div>\n",
    b"</div>\n",
    b"# ",
    b"task",
    b"`code`",
    b"*em*",
    b"\\",
    b"|",
    b"---\n",
    b"\xef\xbb\xbf",
    b"\r\n",
    b"\0",
    b"[link](x)",
    b"<",
    b"&amp;",
];

fn check(text: &str) -> Result<(), TestCaseError> {
    let s = parse_todo(text);
    prop_assert!(s.done <= s.total, "done {} > total {}", s.done, s.total);
    prop_assert_eq!(s.open(), s.total - s.done);
    prop_assert!(
        s.next.is_none() || s.open() > 0,
        "a next item with none open"
    );
    prop_assert_eq!(s.is_complete(), s.total > 0 && s.done == s.total);
    Ok(())
}

#[test]
fn fuzz_todo_parser() {
    let tally = Tally::new("todo");
    tally.replay(|_, bytes| check(&String::from_utf8_lossy(bytes)));
    tally.run("tokens", token_text(TOKENS, 120), |b| {
        check(&String::from_utf8_lossy(&b))
    });
    tally.run("mutated", mutated("todo", TOKENS), |b| {
        check(&String::from_utf8_lossy(&b))
    });
    tally.run("any text", any::<String>(), |s| check(&s));
    // A plain list of checkboxes is counted exactly, whatever the item text.
    tally.run(
        "plain list",
        prop::collection::vec((any::<bool>(), "[a-zA-Z0-9 ,.]{1,20}"), 0..40),
        |items| {
            let text: String = items
                .iter()
                .map(|(done, t)| format!("- [{}] {}\n", if *done { "x" } else { " " }, t.trim()))
                .collect();
            let s = parse_todo(&text);
            prop_assert_eq!(s.total, items.len(), "{}", text);
            prop_assert_eq!(s.done, items.iter().filter(|(d, _)| *d).count());
            check(&text)
        },
    );
}
