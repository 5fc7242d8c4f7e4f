//! `car ingest-spec`: the agent turns SPEC into TODO, PROGRESS and OPINIONS.
//! Nothing is run when the docs may not be overwritten, and nothing is
//! written unless the answer holds three sound blocks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Config;
use crate::control::backup_path;
use crate::docs::{DocKind, Docs, parse_todo};
use crate::engine::unblock;
use crate::fs_util::{PathError, read_optional, write_atomic};
use crate::job::{self, JobError};
use crate::lock::{LockError, RunLock};
use crate::paths::RepoPaths;
use crate::stop::StopHandle;
use crate::templates;

/// The docs ingest-spec writes.
const TARGETS: [DocKind; 3] = [DocKind::Todo, DocKind::Progress, DocKind::Opinions];

/// Options of `car ingest-spec`.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The spec to read (default `docs.spec`); relative paths are taken from the repository root.
    pub spec: Option<PathBuf>,
    /// Overwrite docs that hold content (each is backed up first).
    pub force: bool,
    /// PATH for the agent.
    pub path_env: Option<std::ffi::OsString>,
    /// The program that answers `__supervise` (see [`crate::supervisor_main`]):
    /// the agent then runs under a per-run supervisor.
    pub supervisor: Option<std::path::PathBuf>,
}

/// One doc written by ingest-spec.
#[derive(Debug, Clone, Serialize)]
pub struct IngestChange {
    /// Which doc.
    pub doc: crate::docs::DocKind,
    /// Its path.
    pub path: PathBuf,
    /// The backup of the old content, when there was any.
    pub backup: Option<PathBuf>,
    /// Lines added.
    pub added: usize,
    /// Lines removed.
    pub removed: usize,
}

/// What `car ingest-spec` did.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    /// The docs written.
    pub changes: Vec<IngestChange>,
    /// The new TODO's counts.
    pub todo: crate::docs::TodoStatus,
}

/// Errors of `car ingest-spec`; in every case nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The spec does not exist.
    #[error("SPEC not found at {}", path.display())]
    SpecMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The spec is empty.
    #[error("SPEC at {} is empty (or still the template)", path.display())]
    SpecEmpty {
        /// The spec.
        path: PathBuf,
    },
    /// Docs hold content and `--force` was not given.
    #[error("{} already {} content", docs.join(", "), if docs.len() == 1 { "holds" } else { "hold" })]
    NotEmpty {
        /// The docs with content.
        docs: Vec<String>,
    },
    /// Another runner holds the repository.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The agent failed.
    #[error(transparent)]
    Job(#[from] JobError),
    /// The answer could not be used.
    #[error("the agent's answer cannot be used ({why}); nothing was written; the answer is in {}", answer.display())]
    Unparseable {
        /// What is wrong.
        why: String,
        /// Where the answer is kept.
        answer: PathBuf,
    },
    /// The prompt could not be rendered.
    #[error(transparent)]
    Prompt(#[from] crate::prompt::PromptError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] PathError),
    /// A doc is not UTF-8.
    #[error(transparent)]
    Doc(#[from] crate::docs::DocError),
}

/// Runs ingest-spec: the checks, the lock and the prompt, then the agent,
/// then the backups and the new docs. File work runs on a blocking thread,
/// the agent on the caller's task.
pub(crate) async fn ingest(
    cfg: &Config,
    paths: &RepoPaths,
    opts: &IngestOptions,
    stop: &StopHandle,
) -> Result<IngestReport, IngestError> {
    let (c, p, o) = (cfg.clone(), paths.clone(), opts.clone());
    let prepared = unblock(move || prepare(&c, &p, &o))
        .await
        .map_err(JobError::from)??;
    let out = job::run_job(
        cfg,
        paths,
        job::JobSpec {
            name: "ingest-spec",
            prompt: &prepared.prompt,
            model: cfg.codex.models_large.as_deref(),
            timeout: cfg.snapshot.timeout,
            path_env: opts.path_env.as_ref(),
            supervisor: opts.supervisor.as_deref(),
        },
        stop,
    )
    .await?;
    let c = cfg.clone();
    unblock(move || {
        // The lock is held until the docs are written.
        let Prepared { docs, _lock, .. } = prepared;
        apply(&c, &docs, &out.dir, &out.text)
    })
    .await
    .map_err(JobError::from)?
}

/// What the agent run needs, and the lock held across it.
struct Prepared {
    docs: Docs,
    prompt: String,
    _lock: RunLock,
}

/// Reads and checks the spec and the docs, takes the lock, renders the
/// prompt: everything that can refuse before an agent run.
fn prepare(cfg: &Config, paths: &RepoPaths, opts: &IngestOptions) -> Result<Prepared, IngestError> {
    let spec_path = match &opts.spec {
        Some(p) => crate::fs_util::normalize_under(&cfg.root, p),
        None => cfg.docs.spec.clone(),
    };
    let spec = read_optional(&spec_path)?.ok_or_else(|| IngestError::SpecMissing {
        path: spec_path.clone(),
    })?;
    let spec = crate::docs::strip_bom(&String::from_utf8_lossy(&spec)).to_string();
    // Blank, or still the template `car init` wrote: nothing to ingest.
    if !has_content(&spec, DocKind::Spec) {
        return Err(IngestError::SpecEmpty { path: spec_path });
    }
    let docs = Docs::load(&cfg.docs)?;
    // Check before running anything: a refused overwrite costs no agent run.
    let occupied: Vec<String> = TARGETS
        .into_iter()
        .filter(|k| has_content(docs.get(*k), *k))
        .map(|k| cfg.display_path(k.path(&cfg.docs)))
        .collect();
    if !occupied.is_empty() && !opts.force {
        return Err(IngestError::NotEmpty { docs: occupied });
    }
    let lock = RunLock::acquire(paths, "ingest-spec")?;
    let prompt = crate::prompt::render_template(
        templates::INGEST_PROMPT,
        "built-in ingest-spec prompt",
        &serde_json::json!({
            "SPEC": spec,
            "SPEC_PATH": cfg.display_path(&spec_path),
            "TODO": docs.todo,
            "PROGRESS": docs.progress,
            "OPINIONS": docs.opinions,
        }),
    )?;
    Ok(Prepared {
        docs,
        prompt,
        _lock: lock,
    })
}

/// Keeps the answer, backs up the docs that held content, then writes the
/// three new docs (each atomically).
fn apply(
    cfg: &Config,
    docs: &Docs,
    job_dir: &Path,
    text: &str,
) -> Result<IngestReport, IngestError> {
    let answer = job_dir.join("answer.md");
    write_atomic(&answer, text.as_bytes())?;
    let blocks = parse_blocks(text).map_err(|why| IngestError::Unparseable {
        why,
        answer: answer.clone(),
    })?;

    let mut changes = Vec::new();
    for (kind, new) in TARGETS.into_iter().zip(blocks.iter()) {
        let path = kind.path(&cfg.docs).to_path_buf();
        let old = docs.get(kind);
        let backup = if old.trim().is_empty() {
            None
        } else {
            let bak = backup_path(&path);
            write_atomic(&bak, old.as_bytes())?;
            Some(bak)
        };
        let (added, removed) = line_changes(old, new);
        changes.push(IngestChange {
            doc: kind,
            path,
            backup,
            added,
            removed,
        });
    }
    // All backups exist: now write the three docs.
    for (change, new) in changes.iter().zip(blocks.iter()) {
        write_atomic(&change.path, new.as_bytes())?;
    }
    Ok(IngestReport {
        changes,
        todo: parse_todo(&blocks[0]),
    })
}

/// A doc "holds content" unless it is blank or still the `car init` template.
fn has_content(text: &str, kind: DocKind) -> bool {
    !text.trim().is_empty() && text.trim() != templates::doc_template(kind).trim()
}

/// Takes the last complete `<TODO>`, `<PROGRESS>` and `<OPINIONS>` blocks.
fn parse_blocks(answer: &str) -> Result<[String; 3], String> {
    let mut out: Vec<String> = Vec::new();
    for tag in ["TODO", "PROGRESS", "OPINIONS"] {
        let close = format!("</{tag}>");
        let open = format!("<{tag}>");
        let end = answer
            .rfind(&close)
            .ok_or_else(|| format!("no complete <{tag}> block"))?;
        let start = answer[..end]
            .rfind(&open)
            .ok_or_else(|| format!("no complete <{tag}> block"))?
            + open.len();
        let body = answer[start..end].trim();
        if body.is_empty() || body == "..." {
            return Err(format!("the <{tag}> block is empty"));
        }
        let mut body = body.to_string();
        body.push('\n');
        out.push(body);
    }
    if parse_todo(&out[0]).total == 0 {
        return Err("the TODO block has no `- [ ] task` item".into());
    }
    Ok([out[0].clone(), out[1].clone(), out[2].clone()])
}

fn line_changes(old: &str, new: &str) -> (usize, usize) {
    let diff = similar::TextDiff::from_lines(old, new);
    diff.iter_all_changes()
        .fold((0, 0), |(a, r), c| match c.tag() {
            similar::ChangeTag::Insert => (a + 1, r),
            similar::ChangeTag::Delete => (a, r + 1),
            similar::ChangeTag::Equal => (a, r),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_docs_that_hold_content() {
        let one = IngestError::NotEmpty {
            docs: vec![".codex-autorunner/TODO.md".into()],
        };
        assert_eq!(
            one.to_string(),
            ".codex-autorunner/TODO.md already holds content"
        );
        let two = IngestError::NotEmpty {
            docs: vec!["TODO.md".into(), "PROGRESS.md".into()],
        };
        assert_eq!(two.to_string(), "TODO.md, PROGRESS.md already hold content");
    }

    #[test]
    fn takes_the_last_complete_blocks_not_an_echo() {
        let answer = "Echo: <TODO>\n...\n</TODO> <PROGRESS>...</PROGRESS>\nReal answer:\n<TODO>\n- [ ] a\n- [ ] b\n</TODO>\n<PROGRESS>\nstart\n</PROGRESS>\n<OPINIONS>\n- small steps\n</OPINIONS>\n<TODO>\n- [ ] unfinished";
        let [todo, progress, opinions] = parse_blocks(answer).unwrap();
        assert_eq!(todo, "- [ ] a\n- [ ] b\n");
        assert_eq!(progress, "start\n");
        assert_eq!(opinions, "- small steps\n");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(parse_blocks("no blocks at all").is_err());
        assert!(
            parse_blocks("<TODO>\n...\n</TODO><PROGRESS>x</PROGRESS><OPINIONS>y</OPINIONS>")
                .is_err()
        );
        assert!(
            parse_blocks("<TODO>prose only</TODO><PROGRESS>x</PROGRESS><OPINIONS>y</OPINIONS>")
                .is_err()
        );
        assert!(parse_blocks("<TODO>- [ ] a</TODO><PROGRESS>x</PROGRESS>").is_err());
    }
}
