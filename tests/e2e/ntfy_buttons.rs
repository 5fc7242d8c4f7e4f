//! ntfy's `Actions` header as the ntfy app reads it (the "simple"
//! format: `action, label, url, key=value, ...; next action`), and a
//! button pressed as the app presses it: the request it names, as is.

use std::collections::BTreeMap;

/// One button of a notification.
#[derive(Debug, Clone, Default)]
pub(crate) struct Button {
    pub(crate) action: String,
    pub(crate) label: String,
    pub(crate) url: String,
    pub(crate) method: Option<String>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
    pub(crate) clear: bool,
}

/// The buttons of an `Actions` header, read as ntfy's server reads them.
pub(crate) fn parse(header: &str) -> Vec<Button> {
    let chars: Vec<char> = header.trim().chars().collect();
    let mut p = Parser { s: chars, pos: 0 };
    let mut out = Vec::new();
    while !p.eof() {
        let mut b = Button::default();
        let mut section = 0;
        loop {
            let (key, value, last) = p.section();
            let key = match (key.as_str(), section) {
                ("", 0) => "action".to_string(),
                ("", 1) => "label".to_string(),
                ("", 2) if b.action == "view" || b.action == "http" => "url".to_string(),
                ("", _) => panic!("term {value:?} unknown in {header:?}"),
                _ => key,
            };
            if let Some(h) = key.strip_prefix("headers.") {
                b.headers.insert(h.to_string(), value);
            } else {
                match key.to_ascii_lowercase().as_str() {
                    "action" => b.action = value.to_ascii_lowercase(),
                    "label" => b.label = value,
                    "url" => b.url = value,
                    "method" => b.method = Some(value.to_ascii_uppercase()),
                    "body" => b.body = value,
                    "clear" => {
                        b.clear =
                            matches!(value.to_ascii_lowercase().as_str(), "true" | "yes" | "1")
                    }
                    other => panic!("key {other:?} unknown in {header:?}"),
                }
            }
            p.spaces();
            if last {
                break;
            }
            section += 1;
        }
        out.push(b);
    }
    assert!(
        out.len() <= 3,
        "ntfy refuses more than 3 actions: {header:?}"
    );
    out
}

struct Parser {
    s: Vec<char>,
    pos: usize,
}

impl Parser {
    fn eof(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }
    fn spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.pos += 1;
        }
    }
    fn end(c: Option<char>) -> bool {
        matches!(c, None | Some(';' | ','))
    }
    fn last(c: Option<char>) -> bool {
        matches!(c, None | Some(';'))
    }
    /// `key = ` at the position (`[-.\w]+`, then `=`), else no key.
    fn key(&mut self) -> String {
        let start = self.pos;
        let mut i = start;
        while self
            .s
            .get(i)
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            i += 1;
        }
        let name: String = self.s[start..i].iter().collect();
        while matches!(self.s.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        if name.is_empty() || self.s.get(i) != Some(&'=') {
            return String::new();
        }
        i += 1;
        while matches!(self.s.get(i), Some(' ' | '\t')) {
            i += 1;
        }
        self.pos = i;
        name
    }
    /// One `key=value` (or bare value); whether it ended the action.
    fn section(&mut self) -> (String, String, bool) {
        self.spaces();
        let key = self.key();
        let c = self.peek();
        if Self::end(c) {
            self.pos += 1;
            return (key, String::new(), Self::last(c));
        }
        if let Some(q @ ('"' | '\'')) = c {
            self.pos += 1;
            let start = self.pos;
            let mut prev = '\0';
            loop {
                let c = self.peek().expect("unterminated quote");
                if c == q && prev != '\\' {
                    break;
                }
                prev = c;
                self.pos += 1;
            }
            let value: String = self.s[start..self.pos].iter().collect();
            self.pos += 1;
            self.spaces();
            let c = self.peek();
            assert!(Self::end(c), "unexpected {c:?} after a quoted value");
            self.pos += 1;
            return (key, value, Self::last(c));
        }
        let start = self.pos;
        while !Self::end(self.peek()) {
            self.pos += 1;
        }
        let c = self.peek();
        let value: String = self.s[start..self.pos].iter().collect();
        self.pos += 1;
        (key, value, Self::last(c))
    }
}

/// Presses an `http` button as the ntfy app does: its method (POST by
/// default), URL, headers and body, nothing else. The status and body.
pub(crate) fn press(b: &Button) -> (u16, String) {
    assert_eq!(b.action, "http", "{b:?}");
    let method = b.method.clone().unwrap_or_else(|| "POST".into());
    let mut req = ureq::request(&method, &b.url).timeout(std::time::Duration::from_secs(60));
    for (k, v) in &b.headers {
        req = req.set(k, v);
    }
    let resp = match req.send_string(&b.body) {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {}: {e}", b.url),
    };
    (resp.status(), resp.into_string().unwrap_or_default())
}

#[test]
fn the_parser_reads_ntfys_documented_examples() {
    let got = parse(
        "view, \"Look ma, commas\", url=https://x/a; http, Close door, https://api.example/door, \
         method=PUT, headers.Authorization=Bearer zAzsx1sk, body='{\"a\": 1}', clear=true",
    );
    assert_eq!(got.len(), 2);
    assert_eq!(
        (
            got[0].action.as_str(),
            got[0].label.as_str(),
            got[0].url.as_str()
        ),
        ("view", "Look ma, commas", "https://x/a")
    );
    assert_eq!(got[1].url, "https://api.example/door");
    assert_eq!(got[1].method.as_deref(), Some("PUT"));
    assert_eq!(got[1].headers["Authorization"], "Bearer zAzsx1sk");
    assert_eq!(got[1].body, "{\"a\": 1}");
    assert!(got[1].clear && !got[0].clear);
}
