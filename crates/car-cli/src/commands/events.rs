//! `car events`.

use std::io::{BufRead, Seek, SeekFrom, Write};
use std::time::Duration;

use anyhow::Result;

use crate::cli::{EventsArgs, Global};

/// How often `--follow` looks for new events.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub(crate) fn run(g: &Global, args: EventsArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock<'_>, v: &serde_json::Value| -> bool {
        let line = if args.json {
            v.to_string()
        } else {
            car_core::render_event(v)
        };
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    // One filter for the ledger so far and what follows: with --since, an
    // event without a run id shows once run RUN or a later one has.
    let mut filter = car_core::SinceFilter::new(args.since);
    for v in repo.events(&mut filter) {
        if !print(&mut out, &v) {
            return Ok(crate::EXIT_OK);
        }
    }
    if !args.follow {
        return Ok(crate::EXIT_OK);
    }
    // Follow the live file through an open handle. After a rotation the
    // path names a new file: first read the old one (still open) to its
    // end, then switch to the new one from its start.
    let path = repo.events_path();
    let mut file = std::fs::File::open(&path).ok();
    if let Some(f) = file.as_mut() {
        f.seek(SeekFrom::End(0))?;
    }
    let mut partial = String::new();
    let mut each = |line: &str| match car_core::parse_event_line(line) {
        Some(v) if filter.keep(&v) => print(&mut out, &v),
        _ => true,
    };
    loop {
        if let Some(f) = file.as_mut()
            && !drain(f, &mut partial, &mut each)?
        {
            return Ok(crate::EXIT_OK);
        }
        let rotated = match (&file, inode(&path)) {
            (Some(f), now) => {
                now.is_some()
                    && f.metadata()
                        .ok()
                        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                        != now
            }
            (None, now) => now.is_some(),
        };
        if rotated {
            if let Some(f) = file.as_mut()
                && !drain(f, &mut partial, &mut each)?
            {
                return Ok(crate::EXIT_OK);
            }
            partial.clear();
            file = std::fs::File::open(&path).ok();
            continue;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

/// Reads complete lines from the handle's position to its end, calling
/// `each` for every line; a trailing partial line waits in `partial`.
/// Returns false when `each` asks to stop.
fn drain(
    f: &mut std::fs::File,
    partial: &mut String,
    each: &mut dyn FnMut(&str) -> bool,
) -> Result<bool> {
    let mut reader = std::io::BufReader::new(f);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(true);
        }
        partial.push_str(&line);
        if !partial.ends_with('\n') {
            continue;
        }
        let whole = std::mem::take(partial);
        if !each(whole.trim_end()) {
            return Ok(false);
        }
    }
}

fn inode(p: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| m.ino())
}
