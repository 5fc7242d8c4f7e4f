//! Questions: when a bound repository's loop stops to ask a person
//! (NEED_INPUT), one message with the question and the buttons Reply,
//! Resume and Stop goes to each chat bound to it — once per question, also
//! across restarts (the state file remembers). An answer (a reply to that
//! message, or plain text in the chat while the question is open) is
//! recorded with car-core's reply and the loop is resumed.

use std::time::Duration;

use car_core::{LoopState, RequestedBy, Requester, ResumeReport, SummaryOptions, summarize};

use crate::api::{Button, Dest};
use crate::bot::Bot;
use crate::error::TelegramError;
use crate::store::PostedQuestion;
use crate::workspace::chat_key;

/// How often the bound repositories are looked at even without a change
/// notification (a safety net; changes are noticed at once).
const RECHECK: Duration = Duration::from_secs(10);

/// Posts the open questions of the bound repositories not posted yet.
pub(crate) fn post_new(bot: &Bot) -> Result<(), TelegramError> {
    let bindings = bot.lock_store().state().bindings.clone();
    for (chat, repo_id) in bindings {
        let Ok(repo) = bot.ws.repo(&repo_id) else {
            continue;
        };
        let summary = summarize(&repo_id, &repo, &SummaryOptions::files_only());
        if summary.state != LoopState::WaitingForInput {
            continue;
        }
        let Some(q) = repo.state()?.pending_question else {
            continue;
        };
        let posted = bot.lock_store().state().questions.iter().any(|p| {
            p.chat == chat && p.repo == repo_id && p.run_id == q.run_id && p.asked_at == q.asked_at
        });
        if posted {
            continue;
        }
        let Some(dest) = dest_of(&chat) else { continue };
        let text = format!(
            "❓ {repo_id}: run #{} asks\n\n{}\n\nReply to this message (or write here) to answer; the loop then resumes with your answer.",
            q.run_id, q.question
        );
        let message_id = bot
            .api
            .send_text(dest, &text, &[buttons(&repo_id, q.run_id)], None)?;
        bot.lock_store().update(|s| {
            s.questions.push(PostedQuestion {
                chat: chat.clone(),
                repo: repo_id.clone(),
                run_id: q.run_id,
                asked_at: q.asked_at.clone(),
                message_id,
                reply_targets: Vec::new(),
                closed: false,
            });
        })?;
    }
    Ok(())
}

fn buttons(repo: &str, run: u64) -> Vec<Button> {
    vec![
        ("Reply".into(), format!("q:reply:{run}:{repo}")),
        ("Resume".into(), format!("q:resume:{run}:{repo}")),
        ("Stop".into(), format!("q:stop:{run}:{repo}")),
    ]
}

/// The chat of a key.
pub(crate) fn dest_of(key: &str) -> Option<Dest> {
    let (chat, topic) = match key.split_once(':') {
        Some((c, t)) => (c.parse().ok()?, Some(t.parse().ok()?)),
        None => (key.parse().ok()?, None),
    };
    Some(Dest { chat, topic })
}

/// The open question a message in `dest` answers: the one whose message
/// (or Reply prompt) it replies to, else the open question of the
/// repository the chat is bound to.
pub(crate) fn open_question_for(
    bot: &Bot,
    dest: Dest,
    reply_to: Option<i64>,
) -> Option<PostedQuestion> {
    let key = chat_key(dest.chat, dest.topic);
    let store = bot.lock_store();
    let open = |p: &&PostedQuestion| p.chat == key && !p.closed;
    if let Some(r) = reply_to
        && let Some(p) = store
            .state()
            .questions
            .iter()
            .filter(open)
            .find(|p| p.message_id == r || p.reply_targets.contains(&r))
    {
        return Some(p.clone());
    }
    let bound = store.state().bindings.get(&key)?.clone();
    let q = store
        .state()
        .questions
        .iter()
        .rev()
        .filter(open)
        .find(|p| p.repo == bound)
        .cloned()?;
    drop(store);
    // Still open in the repository (not answered from elsewhere)?
    let repo = bot.ws.repo(&q.repo).ok()?;
    let pending = repo.state().ok()?.pending_question?;
    (pending.run_id == q.run_id && pending.asked_at == q.asked_at).then_some(q)
}

/// Records `text` as the answer to `q` and resumes the loop; tells the chat
/// which run got it.
pub(crate) fn answer(
    bot: &Bot,
    dest: Dest,
    q: &PostedQuestion,
    text: &str,
    user: Option<i64>,
    reply_to: i64,
) -> Result<(), TelegramError> {
    let repo = bot.ws.repo(&q.repo)?;
    let control = repo.control(requester(user));
    let report = control.reply(text)?;
    close(bot, q)?;
    let run = report.question.as_ref().map_or(q.run_id, |v| v.run_id);
    let resumed = match control.resume(&bot.program)? {
        ResumeReport::Started { pid, .. } => format!("the loop resumed (pid {pid})"),
        ResumeReport::AlreadyRunning { pid } => format!("the loop is running already (pid {pid})"),
    };
    bot.api.send_text(
        dest,
        &format!("✅ Answer recorded for {} run #{run}; {resumed}. The next run's prompt carries your answer.", q.repo),
        &[],
        Some(reply_to),
    )?;
    Ok(())
}

/// Marks `q` answered or dismissed: plain text no longer answers it.
pub(crate) fn close(bot: &Bot, q: &PostedQuestion) -> Result<(), TelegramError> {
    bot.lock_store().update(|s| {
        for p in &mut s.questions {
            if p.repo == q.repo && p.run_id == q.run_id && p.asked_at == q.asked_at {
                p.closed = true;
            }
        }
    })
}

/// Who asked, for the ledger: the bot, and the Telegram user.
pub(crate) fn requester(user: Option<i64>) -> Requester {
    Requester::new(
        RequestedBy::Bot,
        user.map_or_else(|| "telegram".to_string(), |u| format!("telegram user {u}")),
    )
}

/// Watches the bound repositories' ledgers (file notifications) and posts
/// new questions, until `bot` stops. Runs on a thread of its own.
pub(crate) fn watch(bot: &Bot) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("telegram: cannot start the question watcher: {e}");
            return;
        }
    };
    rt.block_on(async {
        while !bot.stopping() {
            if let Err(e) = post_new(bot) {
                tracing::warn!("telegram: cannot post a question: {e}");
            }
            let bound: Vec<(String, car_core::Repo)> = {
                let ids: std::collections::BTreeSet<String> = bot
                    .lock_store()
                    .state()
                    .bindings
                    .values()
                    .cloned()
                    .collect();
                ids.into_iter()
                    .filter_map(|id| bot.ws.repo(&id).ok().map(|r| (id, r)))
                    .collect()
            };
            let mut events = (!bound.is_empty()).then(|| car_core::follow_many(bound, None));
            loop {
                let event = async {
                    match events.as_mut() {
                        Some(f) => f.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    e = event => {
                        if e.is_none() { events = None; }
                        if let Err(e) = post_new(bot) {
                            tracing::warn!("telegram: cannot post a question: {e}");
                        }
                    }
                    () = bot.rebind.notified() => break,
                    () = tokio::time::sleep(RECHECK) => {
                        if bot.stopping() { return; }
                        if let Err(e) = post_new(bot) {
                            tracing::warn!("telegram: cannot post a question: {e}");
                        }
                    }
                }
            }
        }
    });
}
