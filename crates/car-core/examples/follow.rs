//! Follows a car loop that another process runs (a `car run` in a
//! terminal, a service, a runner started with `Repo::launch`), printing its
//! events and its agent's output as they come, until Ctrl-C.
//!
//! ```sh
//! cargo run -p car-core --example follow -- /path/to/repo
//! ```
//!
//! Nothing here talks to the loop: a loop is observed through its files
//! (the event ledger, `runs/<id>/output.log`), so this works the same for a
//! loop started before or after it, and leaves the loop alone when it ends.
//! Each event is printed as one line, `event <json>`; the output as the
//! run's `output.log` holds it (the agent's lines, stamped with the time
//! and the stream). A line on stderr says when following has begun.

use std::io::Write;

use car_core::{OutputChunk, OutputOf, Repo};
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .ok_or("usage: follow <repository path>")?;
    let repo = Repo::open(&path)?;

    // Events appended from now on (`Some(seq)` would replay from `seq`).
    let mut events = repo.follow_events(None);
    // The latest run's output from where it is now, then each new run's.
    let offset = repo
        .run_ids()
        .last()
        .and_then(|&id| repo.output_log(id))
        .and_then(|log| std::fs::metadata(log).ok())
        .map_or(0, |m| m.len());
    let mut output = repo.follow_output(OutputOf::Current, offset);

    // Ctrl-C (SIGINT) is caught from here on: it ends the loop below.
    let mut ctrl_c = signal(SignalKind::interrupt())?;
    eprintln!("following {}; Ctrl-C ends", repo.root().display());
    let mut stdout = std::io::stdout().lock();
    // Whether the output printed last ended inside a line.
    let mut mid_line = false;
    loop {
        tokio::select! {
            Some(event) = events.next() => {
                if std::mem::take(&mut mid_line) {
                    writeln!(stdout)?;
                }
                // The ledger's own schema, one JSON object a line.
                writeln!(stdout, "event {}", serde_json::to_string(&event)?)?;
            }
            Some(OutputChunk { bytes, .. }) = output.next() => {
                stdout.write_all(&bytes)?;
                mid_line = bytes.last().is_some_and(|&b| b != b'\n');
            }
            _ = ctrl_c.recv() => break,
        }
        stdout.flush()?;
    }
    Ok(())
}
