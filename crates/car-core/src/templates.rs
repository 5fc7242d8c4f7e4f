//! Built-in templates, compiled in from the workspace's `templates/` folder.

/// The loop prompt (minijinja).
pub(crate) const LOOP_PROMPT: &str = include_str!("../../../templates/prompt.md.j2");
/// The final summary prompt (minijinja).
pub(crate) const SUMMARY_PROMPT: &str = include_str!("../../../templates/summary.md.j2");
/// The snapshot prompt's instructions.
pub(crate) const SNAPSHOT_PROMPT: &str = include_str!("../../../templates/snapshot.md.j2");
/// The ingest-spec prompt (minijinja).
pub(crate) const INGEST_PROMPT: &str = include_str!("../../../templates/ingest.md.j2");
/// The `config.yml` that `car init` writes.
pub(crate) const REPO_CONFIG: &str = include_str!("../../../templates/config.yml");
/// The `.gitignore` that `car init` writes inside `.codex-autorunner/`.
pub(crate) const GITIGNORE: &str = include_str!("../../../templates/gitignore");
/// Initial TODO.
pub(crate) const TODO: &str = include_str!("../../../templates/TODO.md");
/// Initial PROGRESS.
pub(crate) const PROGRESS: &str = include_str!("../../../templates/PROGRESS.md");
/// Initial OPINIONS.
pub(crate) const OPINIONS: &str = include_str!("../../../templates/OPINIONS.md");
/// Initial SPEC.
pub(crate) const SPEC: &str = include_str!("../../../templates/SPEC.md");
/// Initial SUMMARY.
pub(crate) const SUMMARY: &str = include_str!("../../../templates/SUMMARY.md");

/// Returns the initial content of a work doc.
pub(crate) fn doc_template(kind: crate::docs::DocKind) -> &'static str {
    use crate::docs::DocKind;
    match kind {
        DocKind::Todo => TODO,
        DocKind::Progress => PROGRESS,
        DocKind::Opinions => OPINIONS,
        DocKind::Spec => SPEC,
        DocKind::Summary => SUMMARY,
    }
}

/// Returns the first open TODO item that is still one of the template's
/// placeholder items (`car init` writes them; running the agent on
/// "Replace this item with your first task" only wastes a run).
pub(crate) fn placeholder_task(todo: &str) -> Option<String> {
    let placeholders = crate::docs::task_items(TODO);
    crate::docs::task_items(todo)
        .into_iter()
        .find(|(done, text)| !done && placeholders.iter().any(|(_, p)| p == text))
        .map(|(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_todo_is_all_placeholders_and_real_tasks_are_not() {
        assert_eq!(
            placeholder_task(TODO).as_deref(),
            Some("Replace this item with your first task")
        );
        assert_eq!(
            placeholder_task("- [ ] Ship it\n- [ ] Add another task\n").as_deref(),
            Some("Add another task")
        );
        assert_eq!(placeholder_task("- [ ] Ship it\n- [ ] Test it\n"), None);
        // A checked placeholder is history, not a task to run.
        assert_eq!(
            placeholder_task("- [x] Replace this item with your first task\n- [ ] Ship\n"),
            None
        );
    }
}
