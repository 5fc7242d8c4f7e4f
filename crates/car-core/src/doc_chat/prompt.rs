//! The agent's prompt for a chat request, and the new doc read back from
//! its final message.

use super::ChatRecord;

const OPEN: &str = "<NEW_DOC>";
const CLOSE: &str = "</NEW_DOC>";

/// The prompt: the doc's text, the person's request and the answer's form.
pub(super) fn render(rec: &ChatRecord) -> String {
    let name = rec.doc.name().to_uppercase();
    let mut p = format!(
        "You are editing {name}, one of the work docs of this repository, for a person.\n\
         Do not edit, create or delete any file, and do not run commands that change anything: \
         only answer.\n\
         Apply the person's request to the doc below and answer with the complete new doc \
         (every line, not only the changed ones) between the lines {OPEN} and {CLOSE}, \
         and nothing else.\n\
         Keep everything the request does not ask to change exactly as it is, including \
         checkbox lines (`- [ ]`, `- [x]`).\n\n<CURRENT_DOC>\n"
    );
    p.push_str(&rec.base_text);
    if !rec.base_text.is_empty() && !rec.base_text.ends_with('\n') {
        p.push('\n');
    }
    p.push_str("</CURRENT_DOC>\n\n<REQUEST>\n");
    p.push_str(&rec.request);
    p.push_str("\n</REQUEST>\n");
    p
}

/// The new doc in the agent's final message: between the markers, else a
/// message that is one fenced block, else the whole message; `None` when
/// that is blank. It ends with a newline.
pub(super) fn extract(answer: &str) -> Option<String> {
    let body = match (answer.find(OPEN), answer.rfind(CLOSE)) {
        (Some(a), Some(b)) if a + OPEN.len() <= b => &answer[a + OPEN.len()..b],
        _ => unfence(answer.trim()),
    };
    let body = body.trim_matches(['\r', '\n']);
    if body.trim().is_empty() {
        return None;
    }
    Some(format!("{}\n", body.trim_end()))
}

/// The inside of a message that is a single fenced code block.
fn unfence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let Some(inner) = rest.strip_suffix("```") else {
        return text;
    };
    // Past the info string (`markdown`) on the first line.
    match inner.split_once('\n') {
        Some((info, body)) if !info.contains('`') => body,
        _ => text,
    }
}
