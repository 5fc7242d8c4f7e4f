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
    for v in repo.events(args.since) {
        if !print(&mut out, &v) {
            return Ok(crate::EXIT_OK);
        }
    }
    if !args.follow {
        return Ok(crate::EXIT_OK);
    }
    // Follow the live file; after a rotation it is a new file: start over at 0.
    let path = repo.events_path();
    let mut pos = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut ino = inode(&path);
    let mut partial = String::new();
    loop {
        std::thread::sleep(FOLLOW_POLL);
        let now_ino = inode(&path);
        if now_ino != ino {
            ino = now_ino;
            pos = 0;
            partial.clear();
        }
        let Ok(mut f) = std::fs::File::open(&path) else {
            continue;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < pos {
            pos = 0;
        }
        if len == pos {
            continue;
        }
        f.seek(SeekFrom::Start(pos))?;
        let mut reader = std::io::BufReader::new(f);
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            pos += n as u64;
            if !line.ends_with('\n') {
                partial.push_str(&line);
                continue;
            }
            partial.push_str(&line);
            let whole = std::mem::take(&mut partial);
            if let Some(v) = car_core::parse_event_line(whole.trim_end(), args.since)
                && !print(&mut out, &v)
            {
                return Ok(crate::EXIT_OK);
            }
        }
    }
}

fn inode(p: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| m.ino())
}
