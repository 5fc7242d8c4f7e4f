//! The commands: parsing (`/cmd@bot args`), the menu for `setMyCommands`,
//! and each command, driving loops through car-core's control API.

use car_core::{KillReport, LaunchReport, LoopCommand, Repo, ResumeReport, StopReport};

use crate::allow::ids_answer;
use crate::api::{Button, CallbackQuery, Dest, Message};
use crate::bot::Bot;
use crate::error::TelegramError;
use crate::questions;
use crate::views;
use crate::workspace::chat_key;

/// The commands shown in Telegram's menu.
pub(crate) const MENU: &[(&str, &str)] = &[
    ("status", "loops at a glance"),
    ("repos", "the repositories"),
    ("bind", "bind this chat or topic to a repository"),
    ("todo", "the TODO"),
    ("log", "the tail of the current run"),
    ("runs", "the last runs"),
    ("diff", "the last run's changes"),
    ("run", "start the loop"),
    ("once", "run one iteration"),
    ("stop", "stop after the current run"),
    ("kill", "stop now"),
    ("resume", "resume the loop"),
    ("snapshot", "the repository snapshot, as a document"),
    ("interrupt", "stop the agent's turn at work in this chat"),
    ("new", "start a new conversation with the agent"),
    ("ids", "your chat and user ids"),
    ("help", "the commands"),
];

/// `/name args` → `(name, args)`, the bot's `@name` dropped; `None` for
/// plain text.
pub(crate) fn parse(text: &str) -> Option<(String, String)> {
    let rest = text.trim_start().strip_prefix('/')?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = word.split('@').next().unwrap_or("").to_ascii_lowercase();
    (!name.is_empty()).then(|| (name, args.trim().to_string()))
}

/// Runs command `name`.
pub(crate) fn run(
    bot: &Bot,
    dest: Dest,
    name: &str,
    args: &str,
    m: &Message,
) -> Result<(), TelegramError> {
    let user = m.from.as_ref().map(|f| f.id);
    let say = |text: &str| {
        bot.api
            .send_text(dest, text, &[], Some(m.message_id))
            .map(|_| ())
    };
    match name {
        "help" | "start" => say(&help(bot)),
        "ids" => say(&ids_answer(dest.chat, user, dest.topic)),
        "repos" => {
            let ids = bot.ws.repo_ids()?;
            let bound = bot.bound(dest);
            let lines: Vec<String> = ids
                .iter()
                .map(|id| {
                    if Some(id) == bound.as_ref() {
                        format!("{id} (bound here)")
                    } else {
                        id.clone()
                    }
                })
                .collect();
            say(&if lines.is_empty() {
                "No repositories.".into()
            } else {
                lines.join("\n")
            })
        }
        "bind" => bind(bot, dest, args, m.message_id),
        "interrupt" => crate::session_hook::interrupt(bot, dest, m.message_id),
        "new" => crate::session_hook::new_conversation(bot, dest, m.message_id),
        "status" => {
            // Every loop: in a hub, all of its repositories.
            let ids = bot.ws.repo_ids()?;
            let repos: Vec<(String, Repo)> = ids
                .into_iter()
                .filter_map(|id| bot.ws.repo(&id).ok().map(|r| (id, r)))
                .collect();
            say(&views::status_lines(&repos))
        }
        "todo" | "log" | "runs" | "diff" | "run" | "once" | "stop" | "kill" | "resume"
        | "snapshot" => {
            let Some(id) = bot.bound(dest) else {
                return say("This chat is not bound to a repository: send /bind first.");
            };
            let repo = bot.ws.repo(&id)?;
            on_repo(bot, dest, name, &id, &repo, user, m.message_id)
        }
        other => say(&format!("Unknown command /{other}; send /help.")),
    }
}

fn on_repo(
    bot: &Bot,
    dest: Dest,
    name: &str,
    id: &str,
    repo: &Repo,
    user: Option<i64>,
    reply_to: i64,
) -> Result<(), TelegramError> {
    let say = |text: &str| {
        bot.api
            .send_text(dest, text, &[], Some(reply_to))
            .map(|_| ())
    };
    let control = repo.control(questions::requester(user));
    match name {
        "todo" => say(&views::todo(repo)),
        "log" => say(&views::log_tail(repo)),
        "runs" => say(&views::runs(repo)),
        "diff" => {
            let text = views::diff(repo);
            if crate::api::fits(&text) {
                say(&text)
            } else {
                bot.api
                    .send_document(
                        dest,
                        &format!("{id}-diff.txt"),
                        text.as_bytes(),
                        &format!("{id}: the last run's changes"),
                    )
                    .map(|_| ())
            }
        }
        "run" | "once" => {
            let command = if name == "once" {
                LoopCommand::Once
            } else {
                LoopCommand::Run { max_runs: None }
            };
            match repo.launch(&bot.program, command)? {
                LaunchReport::Started { pid } => {
                    say(&format!("{id}: started `car {name}` (pid {pid})."))
                }
                LaunchReport::AlreadyRunning { pid } => {
                    say(&format!("{id}: a loop is running already (pid {pid})."))
                }
            }
        }
        "stop" => match control.stop_after_run()? {
            StopReport::Requested { pid } => say(&format!(
                "{id}: the loop (pid {pid}) stops after its current run."
            )),
            StopReport::NotRunning => say(&format!(
                "{id}: no loop is running; the next one stops after its first run."
            )),
        },
        "kill" => match control.kill()? {
            KillReport::NotRunning { .. } => say(&format!("{id}: no loop is running.")),
            KillReport::Stopped { pid, .. } => say(&format!("{id}: the loop (pid {pid}) stopped.")),
            KillReport::ForceKilled { pid } => {
                say(&format!("{id}: the loop (pid {pid}) was killed."))
            }
        },
        "resume" => resume(bot, dest, id, repo, user, reply_to),
        "snapshot" => {
            let path = repo.resolved_config().config.docs.snapshot.clone();
            match std::fs::read(&path) {
                Ok(bytes) => bot
                    .api
                    .send_document(dest, "SNAPSHOT.md", &bytes, &format!("{id}: SNAPSHOT.md"))
                    .map(|_| ()),
                Err(_) => say(&format!(
                    "{id}: no snapshot yet; make one with `car snapshot`."
                )),
            }
        }
        _ => Ok(()),
    }
}

fn resume(
    bot: &Bot,
    dest: Dest,
    id: &str,
    repo: &Repo,
    user: Option<i64>,
    reply_to: i64,
) -> Result<(), TelegramError> {
    let report = repo
        .control(questions::requester(user))
        .resume(&bot.program)?;
    let text = match report {
        ResumeReport::Started { pid, .. } => format!("{id}: the loop resumed (pid {pid})."),
        ResumeReport::AlreadyRunning { pid } => {
            format!("{id}: the loop is running already (pid {pid}).")
        }
    };
    bot.api
        .send_text(dest, &text, &[], Some(reply_to))
        .map(|_| ())
}

fn bind(bot: &Bot, dest: Dest, args: &str, reply_to: i64) -> Result<(), TelegramError> {
    let ids = bot.ws.repo_ids()?;
    let want = if bot.ws.is_hub() {
        args.trim().to_string()
    } else {
        ids.first().cloned().unwrap_or_default()
    };
    if want.is_empty() || !ids.contains(&want) {
        let rows: Vec<Vec<Button>> = ids
            .iter()
            .map(|i| vec![(i.clone(), format!("bind:{i}"))])
            .collect();
        let text = if ids.is_empty() {
            "The hub has no repositories.".to_string()
        } else {
            "Bind this chat to which repository?".to_string()
        };
        return bot
            .api
            .send_text(dest, &text, &rows, Some(reply_to))
            .map(|_| ());
    }
    set_binding(bot, dest, &want)?;
    bot.api
        .send_text(
            dest,
            &format!("This chat is bound to {want}."),
            &[],
            Some(reply_to),
        )
        .map(|_| ())
}

fn set_binding(bot: &Bot, dest: Dest, repo: &str) -> Result<(), TelegramError> {
    bot.lock_store().update(|s| {
        s.bindings
            .insert(chat_key(dest.chat, dest.topic), repo.to_string());
    })?;
    bot.rebind.notify_one();
    Ok(())
}

/// A press on an inline button (the picker of `/bind`, a question's buttons).
pub(crate) fn on_button(
    bot: &Bot,
    dest: Dest,
    q: &CallbackQuery,
    m: &Message,
) -> Result<(), TelegramError> {
    let data = q.data.as_deref().unwrap_or("");
    if let Some(repo) = data.strip_prefix("bind:") {
        if !bot.ws.repo_ids()?.iter().any(|i| i == repo) {
            return bot.api.answer_callback(&q.id, "No such repository.");
        }
        set_binding(bot, dest, repo)?;
        bot.api
            .answer_callback(&q.id, &format!("Bound to {repo}"))?;
        return bot.api.edit_text(
            dest.chat,
            m.message_id,
            &format!("This chat is bound to {repo}."),
            &[],
        );
    }
    let mut parts = data.splitn(4, ':');
    let (Some("q"), Some(action), Some(run), Some(repo)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bot.api.answer_callback(&q.id, "Unknown button.");
    };
    let run: u64 = run.parse().unwrap_or(0);
    let posted = bot
        .lock_store()
        .state()
        .questions
        .iter()
        .rev()
        .find(|p| p.repo == repo && p.run_id == run && p.message_id == m.message_id)
        .cloned();
    let Some(posted) = posted else {
        return bot
            .api
            .answer_callback(&q.id, "This question is not known any more.");
    };
    match action {
        "reply" => {
            bot.api
                .answer_callback(&q.id, "Write your answer as a reply")?;
            let prompt = bot.api.ask_reply(
                dest,
                &format!("Your answer to {repo} run #{run}:"),
                Some(m.message_id),
            )?;
            bot.lock_store().update(|s| {
                for p in &mut s.questions {
                    if p.message_id == posted.message_id && p.chat == posted.chat {
                        p.reply_targets.push(prompt);
                    }
                }
            })
        }
        "resume" => {
            bot.api
                .answer_callback(&q.id, "Resuming without an answer")?;
            questions::close(bot, &posted)?;
            let r = bot.ws.repo(repo)?;
            resume(bot, dest, repo, &r, Some(q.from.id), m.message_id)
        }
        "stop" => {
            bot.api.answer_callback(&q.id, "The loop stays stopped")?;
            questions::close(bot, &posted)?;
            let r = bot.ws.repo(repo)?;
            let _ = r
                .control(questions::requester(Some(q.from.id)))
                .stop_after_run()?;
            bot.api
                .send_text(dest, &format!("{repo}: the question is dismissed and the loop stays stopped; /resume when you want it back."), &[], Some(m.message_id))
                .map(|_| ())
        }
        _ => bot.api.answer_callback(&q.id, "Unknown button."),
    }
}

fn help(bot: &Bot) -> String {
    let mut text = String::from("car bot commands:\n");
    for (c, d) in MENU {
        text.push_str(&format!("/{c} — {d}\n"));
    }
    text.push_str("\nWhen a loop asks a question, reply to its message (or just write here) to answer; the loop resumes with your answer.");
    text.push_str("\nWith no question open, what you write here is a turn of a conversation with the agent in the bound repository (a Codex task); /new starts another conversation, /interrupt stops the turn at work.");
    if bot.ws.is_hub() {
        text.push_str(
            "\nIn a hub, /bind shows a picker of the hub's repositories; /status lists every loop.",
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn commands_are_parsed_with_or_without_the_bot_name() {
        assert_eq!(parse("/status"), Some(("status".into(), String::new())));
        assert_eq!(
            parse("/bind@car_bot  api "),
            Some(("bind".into(), "api".into()))
        );
        assert_eq!(parse("/Once"), Some(("once".into(), String::new())));
        assert_eq!(parse("hello /status"), None);
        assert_eq!(parse("/"), None);
    }
}
