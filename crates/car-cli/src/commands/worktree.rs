//! `car worktree new|list|remove|prune`.

use anyhow::Result;
use car_core::hub::{WorktreeRemoval, WorktreeRequest};

use crate::cli::{Global, WorktreeCommand};

pub(crate) fn run(g: &Global, cmd: WorktreeCommand) -> Result<u8> {
    let hub = super::hub::open(g)?;
    match cmd {
        WorktreeCommand::New {
            base,
            name,
            from,
            branch,
            json,
        } => {
            let r = hub.new_worktree(&WorktreeRequest {
                base,
                name,
                from,
                branch,
            })?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let new = if r.new_branch { "new branch" } else { "branch" };
                outln!(
                    "created worktree `{}` at {} ({new} {})",
                    r.id,
                    r.path.display(),
                    r.branch
                );
                if !r.copied.is_empty() {
                    outln!("  copied from the base: {}", r.copied.join(", "));
                }
                for s in &r.setup {
                    let how = if s.ok {
                        "ok".to_string()
                    } else {
                        s.code
                            .map(|c| format!("FAILED (exit {c})"))
                            .unwrap_or("FAILED".into())
                    };
                    outln!("  setup: {} -> {how}", s.command);
                    if !s.ok && !s.output_tail.is_empty() {
                        outln!("    {}", s.output_tail.replace('\n', "\n    "));
                    }
                }
            }
            if r.setup.iter().any(|s| !s.ok) {
                errln!(
                    "car: a setup command failed; the worktree is kept (log: .codex-autorunner/logs/worktree-setup.log)"
                );
                return Ok(1);
            }
        }
        WorktreeCommand::List(a) => {
            let list = hub.worktrees()?;
            if a.json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(crate::EXIT_OK);
            }
            if list.is_empty() {
                outln!("no worktrees (make one with `car worktree new BASE NAME`)");
            }
            for w in &list {
                outln!(
                    "{:<28} {:<20} {}{}",
                    w.entry.id,
                    w.entry.branch.as_deref().unwrap_or("-"),
                    w.entry.path.display(),
                    if w.present { "" } else { " (MISSING)" }
                );
            }
        }
        WorktreeCommand::Remove { id, force } => print_removal(&hub.remove_worktree(&id, force)?),
        WorktreeCommand::Prune => {
            let pruned = hub.prune_worktrees()?;
            for id in &pruned {
                outln!("  pruned {id}");
            }
            outln!("{} worktree(s) pruned", pruned.len());
        }
    }
    Ok(crate::EXIT_OK)
}

pub(super) fn print_removal(r: &WorktreeRemoval) {
    if let Some(dir) = &r.archive {
        outln!(
            "archived the work only `{}` held to {}",
            r.id,
            dir.display()
        );
    }
    outln!("removed worktree `{}`", r.id);
}
