//! `car reply`.

use std::io::Read;

use anyhow::{Context, Result};

use crate::cli::{Global, ReplyArgs};
use crate::report::UsageError;

pub(crate) fn run(g: &Global, args: ReplyArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let text = answer(&args)?;
    let report = repo.control(crate::origin::requester()).reply(&text)?;
    print(&report);
    Ok(crate::EXIT_OK)
}

/// The answer given on the command line, in a file or on stdin, without
/// its trailing blanks; an empty one is a usage error.
pub(crate) fn answer(args: &ReplyArgs) -> Result<String> {
    let text = match (&args.answer, &args.file) {
        (Some(a), _) => a.clone(),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the answer from stdin")?;
            s
        }
        (None, Some(p)) => {
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        (None, None) => String::new(),
    };
    if text.trim().is_empty() {
        return Err(UsageError("the answer is empty".into()).into());
    }
    Ok(text.trim_end().to_string())
}

/// Prints what a reply recorded (here, or on a server).
pub(crate) fn print(report: &car_core::ReplyReport) {
    match &report.question {
        Some(q) => outln!("car: answered run {}'s question: {}", q.run_id, q.question),
        None => outln!("car: no question was open; the answer is kept for the next run anyway"),
    }
    outln!("car: run `car resume` to continue; the next run's prompt carries your answer");
}
