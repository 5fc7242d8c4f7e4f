//! Resetting the work docs to their templates.

use std::path::PathBuf;

use serde::Serialize;

use crate::docs::DocKind;
use crate::fs_util::{read_optional, write_atomic};
use crate::paths::RepoPaths;
use crate::templates;

use super::init::backup_path;

/// What `clear_docs` did: each doc reset, with its backup.
#[derive(Debug, Clone, Serialize)]
pub struct ClearReport {
    /// `(doc, backup)` for every doc reset; no backup when it was empty.
    pub reset: Vec<(PathBuf, Option<PathBuf>)>,
}

/// Resets TODO, PROGRESS and OPINIONS to their templates, backing up each
/// one that held content. Refused while a runner holds the lock.
pub(crate) fn clear_docs(
    paths: &RepoPaths,
    docs: &crate::config::DocsConfig,
) -> Result<ClearReport, crate::error::Error> {
    let _lock = crate::lock::RunLock::acquire(paths, "clear-docs")?;
    let mut reset = Vec::new();
    for kind in [DocKind::Todo, DocKind::Progress, DocKind::Opinions] {
        let path = kind.path(docs);
        let old = read_optional(path)?;
        let backup = match old.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) {
            Some(b) => {
                let bak = backup_path(path);
                write_atomic(&bak, &b)?;
                Some(bak)
            }
            None => None,
        };
        write_atomic(path, templates::doc_template(kind).as_bytes())?;
        reset.push((path.to_path_buf(), backup));
    }
    Ok(ClearReport { reset })
}
