//! `car snapshot`, `car ingest-spec`, `car edit`, `car clear-docs`, `car doctor`.

use std::io::BufRead;

use anyhow::{Context, Result};
use car_core::{CheckStatus, DocKind, IngestOptions, SnapshotOptions, StopHandle};

use crate::cli::{ClearArgs, DocArg, EditArgs, Global, IngestArgs, SnapshotArgs};
use crate::report::UsageError;

/// Runs `f` on a runtime with Ctrl-C/SIGTERM stopping the agent.
fn block_on<T>(f: impl std::future::Future<Output = Result<T>>, stop: &StopHandle) -> Result<T> {
    // One thread is plenty: the runner waits on one child and a few pipes.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let _routed = crate::signals::route_to(stop.clone(), None);
    runtime.block_on(f)
}

pub(crate) fn snapshot(g: &Global, a: SnapshotArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    crate::logging::init(Some(&repo.logs_dir()));
    let stop = StopHandle::new();
    let opts = SnapshotOptions {
        from_scratch: a.from_scratch,
        dry: a.stdout,
        path_env: std::env::var_os("PATH"),
        supervisor: crate::supervisor_program(),
    };
    if !a.stdout {
        outln!("car: collecting the seed and asking the agent for a snapshot…");
    }
    let report = block_on(async { Ok(repo.snapshot(&opts, &stop).await?) }, &stop)?;
    if a.stdout {
        out!("{}", report.content);
    } else {
        let path = report
            .written_to
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        outln!(
            "car: snapshot written to {path} ({}; seed of {} files in {:.0} ms{})",
            if report.incremental {
                "incremental"
            } else {
                "from scratch"
            },
            report.files,
            report.seed_ms,
            if report.truncated {
                ", cut to its budgets"
            } else {
                ""
            }
        );
    }
    Ok(crate::EXIT_OK)
}

pub(crate) fn ingest(g: &Global, a: IngestArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    crate::logging::init(Some(&repo.logs_dir()));
    let stop = StopHandle::new();
    // A relative --spec is relative to where the user is, like any path argument.
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let spec = a
        .spec
        .map(|p| if p.is_absolute() { p } else { cwd.join(p) });
    let opts = IngestOptions {
        spec,
        force: a.force,
        path_env: std::env::var_os("PATH"),
        supervisor: crate::supervisor_program(),
    };
    let report = block_on(async { Ok(repo.ingest_spec(&opts, &stop).await?) }, &stop)?;
    outln!("Ingested SPEC into TODO/PROGRESS/OPINIONS:");
    for c in &report.changes {
        outln!(
            "  {:<9} +{} -{} lines{}",
            c.doc.name().to_uppercase(),
            c.added,
            c.removed,
            c.backup
                .as_ref()
                .map(|b| format!(" (old copy: {})", b.display()))
                .unwrap_or_default()
        );
    }
    outln!("TODO: {} items; run `car run` to start.", report.todo.total);
    Ok(crate::EXIT_OK)
}

fn kind(d: DocArg) -> DocKind {
    match d {
        DocArg::Todo => DocKind::Todo,
        DocArg::Progress => DocKind::Progress,
        DocArg::Opinions => DocKind::Opinions,
        DocArg::Spec => DocKind::Spec,
        DocArg::Summary => DocKind::Summary,
    }
}

pub(crate) fn edit(g: &Global, a: EditArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .ok_or_else(|| {
            UsageError("neither VISUAL nor EDITOR is set; e.g. `export EDITOR=vim`".into())
        })?;
    let path = repo.doc_path(kind(a.doc)).to_path_buf();
    outln!("Opening {} with {editor}", path.display());
    // Through the shell, so an editor with arguments (`code --wait`) works.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("car-edit")
        .arg(&path)
        .status()
        .with_context(|| format!("cannot start the editor `{editor}`"))?;
    if !status.success() {
        return Err(UsageError(format!("the editor `{editor}` exited with {status}")).into());
    }
    if a.doc == DocArg::Todo {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let t = car_core::parse_todo(&text);
        if t.total == 0 {
            outln!("TODO: no checkbox items; the loop needs `- [ ] task` lines");
        } else {
            outln!("TODO: {}/{} done, {} open", t.done, t.total, t.open());
        }
    }
    Ok(crate::EXIT_OK)
}

pub(crate) fn clear(g: &Global, a: ClearArgs) -> Result<u8> {
    let repo = super::load(g, &[])?;
    if !a.yes {
        out!(
            "Reset TODO, PROGRESS and OPINIONS to their templates (backups are kept)? Type CLEAR to confirm: "
        );
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the confirmation")?;
        if line.trim() != "CLEAR" {
            outln!("Aborted; nothing changed.");
            return Ok(crate::EXIT_FAILURE);
        }
    }
    let report = repo.clear_docs()?;
    for (path, backup) in &report.reset {
        match backup {
            Some(b) => outln!("  reset {} (old copy: {})", path.display(), b.display()),
            None => outln!("  reset {}", path.display()),
        }
    }
    outln!("Cleared TODO/PROGRESS/OPINIONS.");
    Ok(crate::EXIT_OK)
}

pub(crate) fn doctor(g: &Global, json: bool) -> Result<u8> {
    let opts = super::load_options(g, &[])?;
    let report = car_core::doctor(
        &super::start_dir(g),
        &opts,
        std::env::var_os("PATH").as_ref(),
    );
    if json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            let mark = match c.status {
                CheckStatus::Ok => "ok  ",
                CheckStatus::Warn => "warn",
                CheckStatus::Fail => "FAIL",
            };
            outln!("{mark} {:<10} {}", c.name, c.detail);
            let fix: Vec<&str> = c
                .hint
                .as_deref()
                .into_iter()
                .chain(c.advice.map(crate::report::advice))
                .collect();
            if !fix.is_empty() {
                outln!("     {:<10} fix: {}", "", fix.join("; "));
            }
        }
        outln!(
            "{}",
            if report.ok {
                "Doctor: all checks passed"
            } else {
                "Doctor: some checks failed"
            }
        );
    }
    Ok(if report.ok {
        crate::EXIT_OK
    } else {
        crate::EXIT_FAILURE
    })
}
