//! `car log`.

use std::io::{Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result};

use crate::cli::{Global, LogArgs};
use crate::report::UsageError;

pub(crate) fn run(g: &Global, args: LogArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let id = match args.run {
        Some(id) => id,
        None => match repo.run_ids().last() {
            Some(&id) => id,
            None => {
                eprintln!("car: no runs recorded yet");
                return Ok(crate::EXIT_FAILURE);
            }
        },
    };
    let Some(path) = repo.output_log(id) else {
        return Err(UsageError(format!(
            "run {id} not found under {}",
            repo.runs_dir().display()
        ))
        .into());
    };
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut stdout = std::io::stdout().lock();
    let pos = print_existing(&mut file, args.tail, &mut stdout)
        .with_context(|| format!("cannot read {}", path.display()))?;
    stdout.flush()?;
    if !args.follow {
        return Ok(crate::EXIT_OK);
    }
    // Stream until the run is recorded as finished (run.json exists) and
    // nothing more arrives, or no runner holds the lock any more: from
    // where the printing above stopped, so nothing written meanwhile is lost.
    let mut output = repo.follow_output(car_core::OutputOf::Run(id), pos);
    while let Some(chunk) = output.next_blocking() {
        if stdout
            .write_all(&chunk.bytes)
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break; // the reader went away (broken pipe)
        }
    }
    Ok(crate::EXIT_OK)
}

/// Prints the log so far (its last `tail` lines, or all of it) to `out`;
/// returns the offset where what was printed ends.
fn print_existing(
    file: &mut std::fs::File,
    tail: Option<usize>,
    out: &mut impl Write,
) -> std::io::Result<u64> {
    match tail {
        Some(n) => {
            let (text, end) = read_tail(file, n)?;
            out.write_all(&text)?;
            Ok(end)
        }
        None => {
            std::io::copy(file, out)?;
            file.stream_position()
        }
    }
}

/// Returns the last `n` lines of the file, reading backwards in blocks so a
/// huge log is not read whole, and the offset where they end.
fn read_tail(file: &mut std::fs::File, n: usize) -> std::io::Result<(Vec<u8>, u64)> {
    const BLOCK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let newlines = buf.iter().filter(|&&b| b == b'\n').count();
        // A trailing newline ends the last line; it does not start another.
        let needed = n + usize::from(buf.last() == Some(&b'\n'));
        if newlines >= needed || start == 0 {
            break;
        }
        let step = BLOCK.min(start);
        start -= step;
        file.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0u8; usize::try_from(step).unwrap_or(0)];
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
    let mut cut = 0;
    let mut seen = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                cut = i + 1;
                break;
            }
        }
    }
    if n == 0 {
        return Ok((Vec::new(), len));
    }
    Ok((buf[cut..].to_vec(), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_returns_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        std::fs::write(&p, "a\nb\nc\n").unwrap();
        let mut f = std::fs::File::open(&p).unwrap();
        assert_eq!(read_tail(&mut f, 2).unwrap().0, b"b\nc\n");
        assert_eq!(read_tail(&mut f, 5).unwrap().0, b"a\nb\nc\n");
        assert_eq!(read_tail(&mut f, 0).unwrap(), (Vec::new(), 6));
    }

    /// A terminal that is slow to print: the agent writes more meanwhile.
    struct SlowTerminal {
        log: std::path::PathBuf,
        printed: Vec<u8>,
    }

    impl Write for SlowTerminal {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.printed.is_empty() {
                let mut f = std::fs::OpenOptions::new().append(true).open(&self.log)?;
                f.write_all(b"late\n")?;
            }
            self.printed.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn follow_goes_on_where_the_printing_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("l");
        for tail in [Some(1), None] {
            std::fs::write(&p, "a\nb\n").unwrap();
            let mut f = std::fs::File::open(&p).unwrap();
            let mut out = SlowTerminal {
                log: p.clone(),
                printed: Vec::new(),
            };
            let end = print_existing(&mut f, tail, &mut out).unwrap();
            // What was printed ends at `end`; the rest is the follower's.
            let all = std::fs::read(&p).unwrap();
            let printed = String::from_utf8(out.printed).unwrap();
            let followed = String::from_utf8(all[end as usize..].to_vec()).unwrap();
            let want = if tail.is_some() {
                "b\nlate\n"
            } else {
                "a\nb\nlate\n"
            };
            assert_eq!(printed + &followed, want, "tail {tail:?}: end {end}");
        }
    }
}
