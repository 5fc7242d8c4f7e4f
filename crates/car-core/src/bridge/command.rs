//! The `@codex` commands of a comment (the seed's "Option A" grammar):
//!
//! - `@codex spawn "<prompt>" [cwd=<dir>]`
//! - `@codex reply cid=<id> "<message>"`
//! - `@codex abort cid=<id>`
//! - `@codex status cid=<id>`
//!
//! The command word is read case-insensitively; a quoted text may span
//! lines and hold `\"`. Anything else is [`Command::Help`], with why.

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start a task.
    Spawn {
        /// The prompt.
        prompt: String,
        /// Where the agent works (relative to the repository), when given.
        cwd: Option<String>,
    },
    /// Continue a task's conversation.
    Reply {
        /// The task.
        cid: String,
        /// The message.
        message: String,
    },
    /// Stop a task.
    Abort {
        /// The task.
        cid: String,
    },
    /// Show a task.
    Status {
        /// The task.
        cid: String,
    },
    /// Not a command this bridge takes: the help, and why.
    Help {
        /// What was wrong, when something was.
        problem: Option<String>,
    },
}

/// The help text posted for anything that is not a command.
pub const HELP: &str = "Commands (one per comment):\n\
- `@codex spawn \"<prompt>\" [cwd=<dir in the repository>]` starts a Codex task\n\
- `@codex reply cid=<id> \"<message>\"` continues its conversation\n\
- `@codex abort cid=<id>` stops it\n\
- `@codex status cid=<id>` shows its state and final output";

/// Reads the command after the first `@codex` in `text`; `None` when
/// there is no `@codex` at all.
pub fn parse(text: &str) -> Option<Command> {
    let at = find_mention(text)?;
    let rest = text[at + "@codex".len()..].trim_start();
    let word_end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let (word, args) = rest.split_at(word_end);
    let mut p = Args { s: args };
    let help = |m: String| Command::Help { problem: Some(m) };
    Some(match word.to_ascii_lowercase().as_str() {
        "spawn" => {
            let Some(prompt) = p.quoted() else {
                return Some(help(
                    "spawn needs a quoted prompt: `@codex spawn \"...\"`".into(),
                ));
            };
            if prompt.trim().is_empty() {
                return Some(help("the prompt is empty".into()));
            }
            let mut cwd = None;
            while let Some((k, v)) = p.pair() {
                match k.as_str() {
                    "cwd" => cwd = Some(v),
                    _ => {
                        return Some(help(format!(
                            "`{k}=` is not an option of spawn (only cwd=)"
                        )));
                    }
                }
            }
            if let Some(junk) = p.leftover() {
                return Some(help(format!("unexpected `{junk}` after the prompt")));
            }
            Command::Spawn { prompt, cwd }
        }
        "reply" => {
            let Some(cid) = p.cid() else {
                return Some(help("reply needs `cid=<id>`".into()));
            };
            let Some(message) = p.quoted().filter(|m| !m.trim().is_empty()) else {
                return Some(help(
                    "reply needs a quoted message: `@codex reply cid=<id> \"...\"`".into(),
                ));
            };
            if let Some(junk) = p.leftover() {
                return Some(help(format!("unexpected `{junk}` after the message")));
            }
            Command::Reply { cid, message }
        }
        w @ ("abort" | "status") => {
            let Some(cid) = p.cid() else {
                return Some(help(format!("{w} needs `cid=<id>`")));
            };
            if let Some(junk) = p.leftover() {
                return Some(help(format!("unexpected `{junk}` after the id")));
            }
            if w == "abort" {
                Command::Abort { cid }
            } else {
                Command::Status { cid }
            }
        }
        "" | "help" => Command::Help { problem: None },
        other => help(format!("`{other}` is not a command")),
    })
}

/// The byte offset of the first `@codex` that is a whole mention (not
/// `@codexbot`, not in `x@codex.io`).
fn find_mention(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("@codex") {
        let at = from + i;
        let before = lower[..at].chars().next_back();
        let after = lower[at + 6..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !word(before) && !word(after) && after != Some('.') {
            return Some(at);
        }
        from = at + 6;
    }
    None
}

/// A cursor over a command's arguments.
struct Args<'a> {
    s: &'a str,
}

impl Args<'_> {
    /// A `"..."` text (`\"` and `\\` unescaped).
    fn quoted(&mut self) -> Option<String> {
        let s = self.s.trim_start();
        let body = s.strip_prefix('"')?;
        let mut out = String::new();
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    Some((_, e)) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => return None,
                },
                '"' => {
                    self.s = &body[i + 1..];
                    return Some(out);
                }
                c => out.push(c),
            }
        }
        None
    }

    /// A `key=value` word (the value may be quoted).
    fn pair(&mut self) -> Option<(String, String)> {
        let s = self.s.trim_start();
        let eq = s.find('=')?;
        let key = &s[..eq];
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let rest = &s[eq + 1..];
        if rest.starts_with('"') {
            let mut sub = Args { s: rest };
            let v = sub.quoted()?;
            self.s = sub.s;
            return Some((key.to_ascii_lowercase(), v));
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        self.s = &rest[end..];
        Some((key.to_ascii_lowercase(), rest[..end].to_string()))
    }

    /// `cid=<id>`.
    fn cid(&mut self) -> Option<String> {
        let save = self.s;
        match self.pair() {
            Some((k, v)) if k == "cid" && !v.is_empty() => Some(v),
            _ => {
                self.s = save;
                None
            }
        }
    }

    /// What is left on the command's first line, when anything is (the
    /// rest of the comment may be prose).
    fn leftover(&self) -> Option<String> {
        let line = self.s.trim_start_matches([' ', '\t']);
        let first = line.lines().next().unwrap_or_default().trim();
        (!first.is_empty()).then(|| first.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn help_problem(text: &str) -> String {
        match parse(text) {
            Some(Command::Help { problem }) => problem.unwrap_or_default(),
            other => panic!("expected help for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_four_commands() {
        assert_eq!(
            parse(
                "Please:\n@codex spawn \"Refactor X\nthen say \\\"done\\\"\" cwd=crates/x\nthanks"
            ),
            Some(Command::Spawn {
                prompt: "Refactor X\nthen say \"done\"".into(),
                cwd: Some("crates/x".into())
            })
        );
        assert_eq!(
            parse("@Codex SPAWN \"go\""),
            Some(Command::Spawn {
                prompt: "go".into(),
                cwd: None
            })
        );
        assert_eq!(
            parse("@codex reply cid=t-1 \"yes, do it\""),
            Some(Command::Reply {
                cid: "t-1".into(),
                message: "yes, do it".into()
            })
        );
        assert_eq!(
            parse("@codex abort cid=t-2"),
            Some(Command::Abort { cid: "t-2".into() })
        );
        assert_eq!(
            parse("@codex status cid=t-3\n\nmore prose"),
            Some(Command::Status { cid: "t-3".into() })
        );
    }

    #[test]
    fn anything_else_is_help_with_the_reason() {
        assert_eq!(parse("no mention here"), None);
        assert_eq!(parse("mail me at x@codex.io"), None);
        assert_eq!(parse("@codexbot spawn \"x\""), None);
        assert_eq!(parse("@codex"), Some(Command::Help { problem: None }));
        assert!(help_problem("@codex deploy prod").contains("`deploy` is not a command"));
        assert!(help_problem("@codex spawn Refactor").contains("quoted prompt"));
        assert!(help_problem("@codex spawn \"unterminated").contains("quoted prompt"));
        assert!(help_problem("@codex spawn \"x\" sandbox=danger").contains("`sandbox=`"));
        assert!(help_problem("@codex reply \"hi\"").contains("cid="));
        assert!(help_problem("@codex reply cid=t-1").contains("quoted message"));
        assert!(help_problem("@codex abort").contains("abort needs"));
        assert!(help_problem("@codex status cid=a extra").contains("unexpected `extra`"));
        assert!(help_problem("@codex spawn \"  \"").contains("empty"));
    }
}
