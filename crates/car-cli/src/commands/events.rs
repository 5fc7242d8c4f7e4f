//! `car events`.

use std::io::Write;

use anyhow::Result;

use crate::cli::{EventsArgs, Global};

pub(crate) fn run(g: &Global, args: EventsArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let mut out = std::io::stdout().lock();
    let print = |out: &mut std::io::StdoutLock<'_>, e: &car_core::EventEnvelope| -> bool {
        let line = if args.json {
            e.to_json()
        } else {
            car_core::render_event(e)
        };
        writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
    };
    // One filter for the ledger so far and what follows: with --since, an
    // event without a run id shows once run RUN or a later one has.
    let mut filter = car_core::SinceFilter::new(args.since);
    if !args.follow {
        for v in repo.events(&mut filter) {
            if !print(&mut out, &v) {
                return Ok(crate::EXIT_OK);
            }
        }
        return Ok(crate::EXIT_OK);
    }
    // The follower gives the whole ledger (rotated files first), then each
    // event as it is appended, across rotations.
    let mut events = repo.follow_events(Some(0));
    while let Some(v) = events.next_blocking() {
        if filter.keep(&v) && !print(&mut out, &v) {
            break; // the reader went away (broken pipe)
        }
    }
    Ok(crate::EXIT_OK)
}
