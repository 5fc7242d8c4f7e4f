//! Reading a server-sent event stream: `event:`, `id:` and `data:` fields
//! up to a blank line make an event; a line starting with `:` is a comment
//! (the server's heartbeat).

use std::io::BufRead;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Its type (`message` when the server named none).
    pub event: String,
    /// Its id, when it has one (a ledger `seq`, a byte offset).
    pub id: Option<String>,
    /// Its data (data lines joined with `\n`).
    pub data: String,
}

/// What the reader found next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Event(SseEvent),
    Comment,
}

/// Reads events from a stream.
pub(crate) struct SseReader<R> {
    read: R,
    line: String,
}

impl<R: BufRead> SseReader<R> {
    pub(crate) fn new(read: R) -> Self {
        Self {
            read,
            line: String::new(),
        }
    }

    /// The next event or comment; `None` at the end of the stream (an
    /// event cut off by the end is dropped, as the standard says).
    pub(crate) fn next_item(&mut self) -> std::io::Result<Option<Item>> {
        let (mut event, mut id, mut data): (Option<String>, Option<String>, Option<String>) =
            (None, None, None);
        loop {
            self.line.clear();
            if self.read.read_line(&mut self.line)? == 0 {
                return Ok(None);
            }
            let line = self.line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                match data.take() {
                    Some(data) => {
                        return Ok(Some(Item::Event(SseEvent {
                            event: event.take().unwrap_or_else(|| "message".to_string()),
                            id: id.take(),
                            data,
                        })));
                    }
                    None => {
                        event = None;
                        id = None;
                        continue;
                    }
                }
            }
            if line.starts_with(':') {
                if data.is_none() && event.is_none() && id.is_none() {
                    return Ok(Some(Item::Comment));
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => event = Some(value.to_string()),
                "id" => id = Some(value.to_string()),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<Item> {
        let mut r = SseReader::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(i) = r.next_item().unwrap() {
            out.push(i);
        }
        out
    }

    fn ev(event: &str, id: Option<&str>, data: &str) -> Item {
        Item::Event(SseEvent {
            event: event.into(),
            id: id.map(str::to_string),
            data: data.into(),
        })
    }

    #[test]
    fn events_comments_and_multi_line_data_are_read() {
        let got = items(
            ":\n\nevent: event\nid: 7\ndata: {\"a\":1}\n\r\ndata: x\ndata:y\n\nevent: cut\ndata: z",
        );
        assert_eq!(
            got,
            vec![
                Item::Comment,
                ev("event", Some("7"), "{\"a\":1}"),
                ev("message", None, "x\ny"),
            ]
        );
    }
}
