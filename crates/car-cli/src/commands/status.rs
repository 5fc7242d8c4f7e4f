//! `car status`.

use anyhow::Result;

use crate::cli::Global;

pub(crate) fn run(g: &Global, json: bool) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let report = repo.status()?;
    print(&report, json)
}

/// Prints a status report (a local one, or a server's).
pub(crate) fn print(report: &car_core::StatusReport, json: bool) -> Result<u8> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(crate::EXIT_OK);
    }
    let s = &report.state;
    outln!("Repo:        {}", report.root.display());
    if let Some(w) = &report.state_warning {
        outln!("Warning:     state.json is corrupt ({w}); showing defaults");
    }
    if let Some(fixed) = &report.reconciled {
        outln!("Fixed:       {fixed}");
    }
    // A question answered with `car reply` is closed: the loop stopped on
    // it, but what it waits for now is the next run, not a person.
    let answered = s.pending_question.is_none()
        && s.user_reply.is_some()
        && matches!(
            s.stop_reason,
            Some(car_core::StopReason::NeedsInput | car_core::StopReason::Blocked)
        );
    let status = match (&s.stop_reason, report.running) {
        // While a runner holds the lock, its own status says what it does
        // (running, waiting_for_quota).
        (_, true) => s.status.as_str().to_string(),
        (Some(r), false) if answered => format!(
            "{} (stopped: {r}; answered, waiting for the next run)",
            s.status.as_str()
        ),
        (Some(r), false) => format!("{} (stopped: {r})", s.status.as_str()),
        (None, false) => s.status.as_str().to_string(),
    };
    outln!("Status:      {status}");
    if !report.running
        && let Some(d) = &s.stop_detail
    {
        if answered {
            outln!("Stop detail: {d} (answered)");
        } else {
            outln!("Stop detail: {d}");
        }
    }
    // The advice for the stop; a question's is with the question below.
    if !report.running
        && let Some(h) = s.stop_reason.and_then(car_core::StopReason::hint)
        && h != car_core::Hint::AnswerThenResume
    {
        outln!("Hint:        {}", crate::report::advice(h));
    }
    if !report.running
        && let Some(by) = s.stop_requested_by
    {
        match &s.stop_origin {
            Some(o) => outln!("Stopped by:  {by} ({o})"),
            None => outln!("Stopped by:  {by}"),
        }
    }
    if let Some(q) = &s.pending_question {
        outln!("Question:    run {} asks: {}", q.run_id, q.question);
        outln!("             answer with `car reply \"...\"`, then `car resume`");
    }
    if let Some(r) = &s.user_reply {
        outln!(
            "Reply:       given {}; waiting for the next run, whose prompt carries it{}",
            r.replied_at,
            if answered { " (`car resume`)" } else { "" }
        );
    }
    if let Some(until) = &s.quota_reset_at {
        outln!("Quota:       waiting for the usage window to reset, until {until}");
    }
    match (&report.lock_holder, &report.stale_lock) {
        (Some(h), _) => outln!(
            "Runner:      {}{}",
            h.describe(),
            s.runner_started_by
                .as_deref()
                .map(|b| format!(" (started by {b})"))
                .unwrap_or_default()
        ),
        (None, Some(stale)) => outln!(
            "Runner:      none (stale lock of {}; it does not block)",
            stale.describe()
        ),
        (None, None) => outln!("Runner:      none"),
    }
    if report.stop_requested {
        // A request from the command line reads as it always did.
        let by = report
            .stop_request
            .as_ref()
            .map(|r| &r.by)
            .filter(|b| b.requested_by != car_core::RequestedBy::Cli)
            .map(|b| format!(" by {}", b.describe()))
            .unwrap_or_default();
        outln!("Stop:        requested{by} (honoured after the current run)");
    }
    match (s.last_run_id, &report.last_run) {
        (Some(id), Some(rec)) => outln!(
            "Last run:    #{id} {} ({}), {:.1}s, finished {}",
            rec.outcome.as_str(),
            rec.describe_exit(),
            rec.duration_ms as f64 / 1000.0,
            rec.finished_at
        ),
        (Some(id), None) => outln!(
            "Last run:    #{id}{}{}",
            s.last_exit_code
                .map(|c| format!(" exit {c}"))
                .unwrap_or_default(),
            match (&s.last_run_finished_at, &s.last_run_started_at) {
                (Some(f), _) => format!(", finished {f}"),
                (None, Some(st)) => format!(", started {st}"),
                _ => String::new(),
            }
        ),
        (None, _) => outln!("Last run:    none"),
    }
    match (&report.todo, &report.todo_error) {
        (Some(t), _) if t.total == 0 => {
            outln!("TODO:        no checkbox items (add `- [ ] task` lines)")
        }
        (Some(t), _) => {
            out!("TODO:        {}/{} done", t.done, t.total);
            match &t.next {
                Some(n) => outln!("; next: {n}"),
                None => outln!(),
            }
        }
        (None, Some(e)) => outln!("TODO:        {e}"),
        (None, None) => outln!("TODO:        unknown"),
    }
    if s.tokens.total() > 0 {
        outln!(
            "Tokens:      {} in all ({} in, {} cached, {} out, {} reasoning); last run {}",
            s.tokens.total(),
            s.tokens.input,
            s.tokens.cached,
            s.tokens.output,
            s.tokens.reasoning,
            s.last_run_tokens
                .map_or_else(|| "-".to_string(), |t| t.total().to_string())
        );
    }
    if let Some(v) = &s.codex_version {
        outln!("Codex:       {v}");
    }
    Ok(crate::EXIT_OK)
}
