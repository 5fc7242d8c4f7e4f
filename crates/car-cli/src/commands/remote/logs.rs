//! `log [-f]` and `events [-f]` on a server: a run's output log and the
//! ledger, printed as the local commands print them; `-f` follows the
//! server's stream, across dropped connections, until the run ends (log)
//! or Ctrl-C (events).

use anyhow::Result;
use car_client::{ClientError, Flow, OutputSlice, StreamItem};
use car_core::LoopEvent;

use super::starts::GIVE_UP_AFTER;
use super::target::Remote;
use crate::cli::{EventsArgs, LogArgs};

/// Prints what `fetch` gives from `*pos` to the end of the log; moves
/// `*pos` past it.
pub(super) fn catch_up(
    fetch: impl Fn(u64) -> Result<OutputSlice, ClientError>,
    pos: &mut u64,
) -> Result<(), ClientError> {
    loop {
        let slice = fetch(*pos)?;
        if !slice.text.is_empty() {
            out!("{}", slice.text);
        }
        *pos = slice.next_offset;
        if slice.next_offset >= slice.size || slice.next_offset == slice.offset {
            return Ok(());
        }
    }
}

/// The whole log that `fetch` gives, and where it ends.
fn read_all(
    fetch: impl Fn(u64) -> Result<OutputSlice, ClientError>,
) -> Result<(String, u64), ClientError> {
    let (mut text, mut pos) = (String::new(), 0);
    loop {
        let slice = fetch(pos)?;
        text.push_str(&slice.text);
        pos = slice.next_offset;
        if slice.next_offset >= slice.size || slice.next_offset == slice.offset {
            return Ok((text, pos));
        }
    }
}

/// The last `n` lines of `text` (a trailing newline ends the last line;
/// it does not start another).
fn tail(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    match body.rmatch_indices('\n').nth(n - 1) {
        Some((i, _)) => &text[i + 1..],
        None => text,
    }
}

pub(super) fn log(remote: &Remote, args: &LogArgs) -> Result<u8> {
    let repo = remote.repo()?;
    let client = &remote.client;
    let id = match args.run {
        Some(id) => id,
        None => match client.latest_run(repo)? {
            Some(id) => id,
            None => {
                errln!("car: no runs recorded yet");
                return Ok(crate::EXIT_FAILURE);
            }
        },
    };
    let fetch = |at: u64| client.run_output(repo, id, at);
    let print_existing = || -> Result<u64, ClientError> {
        let (text, end) = read_all(fetch)?;
        out!("{}", args.tail.map_or(text.as_str(), |n| tail(&text, n)));
        Ok(end)
    };
    if !args.follow {
        print_existing()?;
        return Ok(crate::EXIT_OK);
    }
    let mut pos = 0;
    let mut idle_checks = 0;
    // Open before the log is read: nothing written after it is missed.
    client.follow(
        &client.stream_path(repo, None),
        None,
        GIVE_UP_AFTER,
        |item| {
            // A request made while the connection is down (a tunnel being
            // re-opened, a server restarting) is made again once the stream
            // is back: `pos` only moves past what was printed.
            let mut step = || -> Result<Flow, ClientError> {
                let over = match item {
                    StreamItem::Connected { again: false } => {
                        pos = print_existing()?;
                        client.run_detail(repo, id)?.record.is_some()
                    }
                    StreamItem::Event(e) if e.event == "output" => {
                        let this_run = serde_json::from_str::<serde_json::Value>(&e.data)
                            .ok()
                            .and_then(|v| v["run_id"].as_u64())
                            == Some(id);
                        if this_run {
                            catch_up(fetch, &mut pos)?;
                        }
                        false
                    }
                    StreamItem::Event(e) if e.event == "event" => {
                        car_core::parse_event_line(&e.data).is_some_and(|env| match env.event {
                            LoopEvent::RunFinished(_) => env.run_id == Some(id),
                            LoopEvent::RunStarted { .. } => env.run_id.is_some_and(|r| r > id),
                            LoopEvent::Stopped { .. } => true,
                            _ => false,
                        })
                    }
                    StreamItem::Event(_) => false,
                    StreamItem::Connected { again: true } | StreamItem::Heartbeat => {
                        catch_up(fetch, &mut pos)?;
                        // Recorded, or no runner (for two checks in a row).
                        idle_checks = if client.status(repo)?.running {
                            0
                        } else {
                            idle_checks + 1
                        };
                        idle_checks >= 2 || client.run_detail(repo, id)?.record.is_some()
                    }
                };
                if over {
                    catch_up(fetch, &mut pos)?;
                    return Ok(Flow::Stop);
                }
                Ok(Flow::Continue)
            };
            match step() {
                Err(ClientError::Unreachable { .. }) => Ok(Flow::Continue),
                other => other,
            }
        },
    )?;
    Ok(crate::EXIT_OK)
}

pub(super) fn events(remote: &Remote, args: &EventsArgs) -> Result<u8> {
    let repo = remote.repo()?;
    let client = &remote.client;
    let mut filter = car_core::SinceFilter::new(args.since);
    let print = |e: &car_core::EventEnvelope| {
        let line = if args.json {
            e.to_json()
        } else {
            car_core::render_event(e)
        };
        outln!("{line}");
    };
    if !args.follow {
        for e in client.events(repo)? {
            if filter.keep(&e) {
                print(&e);
            }
        }
        return Ok(crate::EXIT_OK);
    }
    // The whole ledger, then each event as it is appended; a dropped
    // connection resumes after the last event printed.
    client.follow(
        &client.stream_path(repo, Some(1)),
        None,
        GIVE_UP_AFTER,
        |item| {
            if let StreamItem::Event(e) = item
                && e.event == "event"
                && let Some(env) = car_core::parse_event_line(&e.data)
                && filter.keep(&env)
            {
                print(&env);
            }
            Ok(Flow::Continue)
        },
    )?;
    Ok(crate::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a\nb\n", 5), "a\nb\n");
        assert_eq!(tail("a\n", 0), "");
    }
}
