//! Telegram's message length: at most 4096 characters (UTF-16 code units)
//! per message. A longer text is split at line ends (at a space, or
//! anywhere, when a line is longer than a message); a much longer one is
//! better sent as a document.

/// The most UTF-16 code units of one message's text.
pub const MAX_MESSAGE: usize = 4096;

/// A text longer than this many messages is sent as a document instead.
pub const MAX_PARTS: usize = 4;

/// Splits `text` into messages of at most `max` UTF-16 code units, at line
/// ends when it can, else at a space, else anywhere (never inside a
/// character). Joined back, the parts give the text (the newline or space
/// at a split is dropped).
pub fn split_text(text: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut parts = Vec::new();
    let mut rest = text;
    while units(rest) > max {
        // The longest prefix that fits, on a character boundary.
        let mut end = 0;
        let mut used = 0;
        for (i, c) in rest.char_indices() {
            if used + c.len_utf16() > max {
                break;
            }
            used += c.len_utf16();
            end = i + c.len_utf8();
        }
        let head = &rest[..end];
        let (cut, skip) = match head.rfind('\n').filter(|&i| i > 0) {
            Some(i) => (i, 1),
            None => match head.rfind(' ').filter(|&i| i > 0) {
                Some(i) => (i, 1),
                None => (end, 0),
            },
        };
        parts.push(rest[..cut].to_string());
        rest = &rest[cut + skip..];
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}

/// `text` cut to at most `max` UTF-16 code units, ending with `…` when cut
/// (for an edited message, which cannot be split).
pub fn truncate(text: &str, max: usize) -> String {
    if units(text) <= max {
        return text.to_string();
    }
    let mut out = String::new();
    let mut used = 1; // the ellipsis
    for c in text.chars() {
        if used + c.len_utf16() > max {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// The length Telegram counts: UTF-16 code units.
pub fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_text_is_one_part() {
        assert_eq!(split_text("hello", MAX_MESSAGE), vec!["hello"]);
        assert_eq!(split_text("", MAX_MESSAGE), vec![""]);
    }

    #[test]
    fn a_long_text_splits_at_line_ends_within_the_limit() {
        let line = "x".repeat(30);
        let text = [line.as_str(); 10].join("\n");
        let parts = split_text(&text, 100);
        assert!(parts.iter().all(|p| units(p) <= 100), "{parts:?}");
        assert_eq!(parts[0], [line.as_str(); 3].join("\n"));
        assert_eq!(parts.join("\n"), text, "nothing is lost");
    }

    #[test]
    fn a_line_longer_than_a_message_splits_at_spaces_then_anywhere() {
        let words = "word ".repeat(50);
        let parts = split_text(words.trim_end(), 42);
        assert!(parts.iter().all(|p| units(p) <= 42 && !p.starts_with(' ')));
        assert_eq!(parts.join(" "), words.trim_end());
        let solid = "y".repeat(250);
        let parts = split_text(&solid, 100);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
    }

    #[test]
    fn the_limit_counts_utf16_units_and_never_cuts_a_character() {
        // Each emoji is two UTF-16 units.
        let text = "😀".repeat(4097);
        let parts = split_text(&text, MAX_MESSAGE);
        assert!(parts.iter().all(|p| units(p) <= MAX_MESSAGE));
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
        let t = truncate(&text, 11);
        assert_eq!(t, format!("{}…", "😀".repeat(5)));
        assert_eq!(truncate("short", 11), "short");
    }
}
