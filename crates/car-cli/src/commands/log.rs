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
    match args.tail {
        Some(n) => {
            let text = read_tail(&mut file, n)
                .with_context(|| format!("cannot read {}", path.display()))?;
            stdout.write_all(&text)?;
        }
        None => {
            std::io::copy(&mut file, &mut stdout)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
    }
    stdout.flush()?;
    if !args.follow {
        return Ok(crate::EXIT_OK);
    }
    // Stream until the run is recorded as finished (run.json exists) and
    // nothing more arrives, or no runner holds the lock any more.
    let pos = file.seek(SeekFrom::End(0))?;
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

/// Returns the last `n` lines of the file, reading backwards in blocks so a
/// huge log is not read whole.
fn read_tail(file: &mut std::fs::File, n: usize) -> std::io::Result<Vec<u8>> {
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
        return Ok(Vec::new());
    }
    Ok(buf[cut..].to_vec())
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
        assert_eq!(read_tail(&mut f, 2).unwrap(), b"b\nc\n");
        assert_eq!(read_tail(&mut f, 5).unwrap(), b"a\nb\nc\n");
        assert_eq!(read_tail(&mut f, 0).unwrap(), b"");
    }
}
