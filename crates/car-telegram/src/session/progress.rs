//! A turn's progress, from the Codex `--json` events its agent writes (read
//! as they come with car's event parser) to the text of one message: the
//! last few commands and files the agent touched.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

use car_core::CodexRun;

use super::chat::{MAX_MESSAGE_LEN, cut};

/// How many commands (and how many files) the message shows.
pub(super) const SHOWN: usize = 5;
/// The longest command line shown.
const MAX_COMMAND: usize = 300;

/// The events of one turn read so far, and what they said.
pub(super) struct Progress {
    path: PathBuf,
    /// Where the agent works: files under it are shown relative to it.
    cwd: Option<PathBuf>,
    offset: u64,
    partial: Vec<u8>,
    run: CodexRun,
    /// The command the agent started and has not finished.
    running: Option<String>,
}

impl Progress {
    /// Progress read from the events file `path` (it may not exist yet)
    /// of an agent working in `cwd`.
    pub(super) fn new(path: PathBuf, cwd: Option<PathBuf>) -> Self {
        Self {
            path,
            cwd,
            offset: 0,
            partial: Vec::new(),
            run: CodexRun::default(),
            running: None,
        }
    }

    /// Reads the events written since the last call (whole lines only; a
    /// line still being written waits for its end).
    pub(super) fn read(&mut self) {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        let mut fresh = Vec::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_end(&mut fresh).is_err() {
            return;
        }
        self.offset += fresh.len() as u64;
        self.partial.extend_from_slice(&fresh);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        let rest = self.partial.split_off(end + 1);
        let whole = std::mem::replace(&mut self.partial, rest);
        for line in whole.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            self.feed(line);
        }
    }

    fn feed(&mut self, line: &[u8]) {
        self.run.feed(line);
        // car's parser keeps what ended; the command at work now is in
        // `item.started`.
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
            return;
        };
        let item = &v["item"];
        match (v["type"].as_str(), item["type"].as_str()) {
            (Some("item.started"), Some("command_execution")) => {
                self.running = item["command"].as_str().map(str::to_string);
            }
            (Some("item.completed"), Some("command_execution")) => self.running = None,
            _ => {}
        }
    }

    /// The message: `header`, then the last few commands (with their exit
    /// codes, the one at work last) and the last few files changed.
    pub(super) fn render(&self, header: &str) -> String {
        let mut lines = vec![header.to_string()];
        let commands = &self.run.commands;
        for c in &commands[commands.len().saturating_sub(SHOWN)..] {
            let exit = match c.exit_code {
                Some(0) => String::new(),
                Some(n) => format!(" (exit {n})"),
                None => " (exit ?)".to_string(),
            };
            lines.push(format!(
                "$ {}{exit}",
                cut(&one_line(&c.command), MAX_COMMAND)
            ));
        }
        if let Some(c) = &self.running {
            lines.push(format!("$ {} …", cut(&one_line(c), MAX_COMMAND)));
        }
        let files = &self.run.files_changed;
        for f in &files[files.len().saturating_sub(SHOWN)..] {
            let path = std::path::Path::new(&f.path);
            let shown = self
                .cwd
                .as_deref()
                .and_then(|cwd| path.strip_prefix(cwd).ok())
                .filter(|rel| !rel.as_os_str().is_empty())
                .map_or_else(|| f.path.clone(), |rel| rel.display().to_string());
            lines.push(format!("{} {}", f.kind, cut(&shown, MAX_COMMAND)));
        }
        cut(&lines.join("\n"), MAX_MESSAGE_LEN)
    }

    /// `3 commands, 2 files changed` (what the turn did, in short).
    pub(super) fn summary(&self) -> String {
        let n = self.run.commands.len();
        let f = self.run.files_changed.len();
        format!(
            "{n} command{}, {f} file{} changed",
            if n == 1 { "" } else { "s" },
            if f == 1 { "" } else { "s" }
        )
    }
}

/// A command on one line (newlines shown as `⏎`).
fn one_line(s: &str) -> String {
    s.trim().replace('\n', " ⏎ ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn command(cmd: &str, exit: i64) -> String {
        serde_json::json!({"type":"item.completed","item":{"type":"command_execution","command":cmd,"exit_code":exit}}).to_string()
    }

    #[test]
    fn events_are_read_as_they_come_whole_lines_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("codex-events.jsonl");
        let mut p = Progress::new(path.clone(), Some("/r".into()));
        p.read();
        assert_eq!(p.render("h"), "h", "no file yet: nothing to show");

        let mut f = std::fs::File::create(&path).expect("create");
        let started =
            r#"{"type":"item.started","item":{"type":"command_execution","command":"cargo test"}}"#;
        let thread = r#"{"type":"thread.started","thread_id":"th"}"#;
        writeln!(f, "{thread}").expect("w");
        writeln!(f, "{started}").expect("w");
        let done = command("cargo test", 101);
        let (a, b) = done.split_at(20);
        write!(f, "{a}").expect("w");
        p.read();
        assert_eq!(p.render("h"), "h\n$ cargo test …", "the half line waits");
        writeln!(f, "{b}").expect("w");
        let file = r#"{"type":"item.completed","item":{"type":"file_change","changes":[{"path":"/r/src/a.rs","kind":"update"},{"path":"/elsewhere/b.rs","kind":"add"}]}}"#;
        writeln!(f, "{file}").expect("w");
        p.read();
        assert_eq!(
            p.render("h"),
            "h\n$ cargo test (exit 101)\nupdate src/a.rs\nadd /elsewhere/b.rs",
            "files under the working directory are shown relative to it"
        );
        assert_eq!(p.run.thread_id.as_deref(), Some("th"));
        assert_eq!(p.summary(), "1 command, 2 files changed");
    }

    #[test]
    fn only_the_last_few_commands_are_shown_within_a_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("codex-events.jsonl");
        let mut f = std::fs::File::create(&path).expect("create");
        for i in 0..12 {
            writeln!(f, "{}", command(&format!("step {i}\nsecond line"), 0)).expect("w");
        }
        writeln!(f, "{}", command(&"x".repeat(10_000), 0)).expect("w");
        let mut p = Progress::new(path, None);
        p.read();
        let text = p.render("Working");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + SHOWN, "{text}");
        assert_eq!(lines[1], "$ step 8 ⏎ second line");
        assert!(lines[SHOWN].len() < 400, "a long command is cut");
        assert_eq!(p.summary(), "13 commands, 0 files changed");
    }
}
