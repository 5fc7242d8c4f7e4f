//! `rss-probe CMD [ARGS...]`: runs a command and prints its peak resident set
//! size in KiB (and its exit code) on stderr, for `scripts/bench.py`.
//!
//! A benchmark harness written in Python cannot measure this itself: a child
//! forked from it starts with the harness's memory, which the kernel counts
//! in the child's peak. This probe is small, so the child's peak is its own.

use std::process::{Command, ExitCode};

use nix::sys::resource::{UsageWho, getrusage};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: rss-probe CMD [ARGS...]");
        return ExitCode::from(2);
    };
    let status = match Command::new(cmd).args(rest).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rss-probe: cannot run {cmd}: {e}");
            return ExitCode::from(2);
        }
    };
    let maxrss = getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or(-1);
    eprintln!(
        "rss-probe: maxrss_kib={maxrss} exit={}",
        status.code().unwrap_or(-1)
    );
    ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1))
}
