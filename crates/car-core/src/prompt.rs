//! Rendering the loop and summary prompts with minijinja.
//!
//! Variables use the Python program's names (`TODO`, `TODO_PATH`, ...,
//! `PREV_RUN_OUTPUT`), so a `prompt.txt` written for it renders the same
//! here. Undefined variables are errors, so a typo fails the run instead of
//! sending the agent an empty section.

use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use crate::config::Config;
use crate::docs::{DocKind, Docs};
use crate::fs_util::{PathError, read_optional};
use crate::templates;

/// Errors loading or rendering a prompt template.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// The template file could not be read.
    #[error(transparent)]
    Io(#[from] PathError),
    /// The template is not valid or uses an unknown variable.
    #[error("cannot render prompt template {origin}: {message}")]
    Render {
        /// The template file, or "built-in".
        origin: String,
        /// minijinja's description, with the line.
        message: String,
    },
}

/// Which prompt to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromptKind {
    /// A normal loop run.
    Loop,
    /// The final summary run.
    Summary,
}

/// Everything a prompt can refer to.
#[derive(Debug, Clone)]
pub(crate) struct PromptInput<'a> {
    /// The docs' contents.
    pub docs: &'a Docs,
    /// The id of the run being prepared.
    pub run_id: u64,
    /// The previous run's id and final output (already clipped).
    pub prev: Option<(u64, String)>,
    /// A person's answer to the agent's question, for this run.
    pub user_reply: Option<String>,
    /// Whether the agent must answer with a JSON verdict.
    pub structured_verdict: bool,
}

#[derive(Serialize)]
#[expect(
    non_snake_case,
    reason = "variable names are the Python program's placeholders"
)]
struct Context<'a> {
    TODO: &'a str,
    PROGRESS: &'a str,
    OPINIONS: &'a str,
    SPEC: &'a str,
    SUMMARY: &'a str,
    TODO_PATH: String,
    PROGRESS_PATH: String,
    OPINIONS_PATH: String,
    SPEC_PATH: String,
    SUMMARY_PATH: String,
    PREV_RUN_OUTPUT: String,
    PREV_RUN_ID: u64,
    RUN_ID: u64,
    USER_REPLY: String,
    STRUCTURED_VERDICT: bool,
}

/// Renders the prompt of `kind` for `input`.
pub(crate) fn render(
    config: &Config,
    kind: PromptKind,
    input: &PromptInput<'_>,
) -> Result<String, PromptError> {
    let (source, origin) = template_source(config, kind)?;
    let path = |k: DocKind| config.display_path(k.path(&config.docs));
    let ctx = Context {
        TODO: &input.docs.todo,
        PROGRESS: &input.docs.progress,
        OPINIONS: &input.docs.opinions,
        SPEC: &input.docs.spec,
        SUMMARY: &input.docs.summary,
        TODO_PATH: path(DocKind::Todo),
        PROGRESS_PATH: path(DocKind::Progress),
        OPINIONS_PATH: path(DocKind::Opinions),
        SPEC_PATH: path(DocKind::Spec),
        SUMMARY_PATH: path(DocKind::Summary),
        PREV_RUN_OUTPUT: match &input.prev {
            Some((_, out)) if !out.trim().is_empty() => {
                format!("<PREV_RUN_OUTPUT>\n{out}\n</PREV_RUN_OUTPUT>")
            }
            _ => String::new(),
        },
        PREV_RUN_ID: input.prev.as_ref().map_or(0, |(id, _)| *id),
        RUN_ID: input.run_id,
        USER_REPLY: input.user_reply.clone().unwrap_or_default(),
        STRUCTURED_VERDICT: input.structured_verdict,
    };
    let mut out = render_str(&source, &origin, &ctx)?;
    // A custom template (a Python-era prompt.txt) may not know USER_REPLY:
    // the person's answer must reach the agent anyway.
    if !ctx.USER_REPLY.is_empty() && !source.contains("USER_REPLY") {
        out.push_str(&format!(
            "\n\nA person answered your question:\n<USER_REPLY>\n{}\n</USER_REPLY>\n",
            ctx.USER_REPLY
        ));
    }
    Ok(out)
}

/// Renders a built-in template (strict: undefined variables are errors).
pub(crate) fn render_template(
    source: &str,
    origin: &str,
    ctx: &impl Serialize,
) -> Result<String, PromptError> {
    render_str(source, origin, ctx)
}

fn render_str(source: &str, origin: &str, ctx: &impl Serialize) -> Result<String, PromptError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let err = |e: minijinja::Error| PromptError::Render {
        origin: origin.to_string(),
        message: describe(&e, source),
    };
    env.add_template("prompt", source).map_err(err)?;
    env.get_template("prompt")
        .and_then(|t| t.render(ctx))
        .map_err(err)
}

fn describe(e: &minijinja::Error, source: &str) -> String {
    let mut msg = e
        .detail()
        .map_or_else(|| e.kind().to_string(), |d| format!("{}: {d}", e.kind()));
    // Name the expression that failed (`TODOO` in `{{ TODOO }}`).
    if let Some(r) = e.range()
        && let Some(expr) = source.get(r)
    {
        msg.push_str(&format!(" in `{}`", expr.trim()));
    }
    if let Some(line) = e.line() {
        msg.push_str(&format!(" (line {line})"));
    }
    msg
}

/// Returns the template text and where it came from.
fn template_source(config: &Config, kind: PromptKind) -> Result<(String, String), PromptError> {
    let (custom, builtin): (Option<&PathBuf>, &str) = match kind {
        PromptKind::Loop => (Some(&config.prompt.template), templates::LOOP_PROMPT),
        PromptKind::Summary => (
            config.prompt.summary_template.as_ref(),
            templates::SUMMARY_PROMPT,
        ),
    };
    if let Some(path) = custom
        && let Some(bytes) = read_optional(path)?
    {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        return Ok((text, display(path)));
    }
    Ok((builtin.to_string(), "built-in".to_string()))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Returns the last `max_chars` characters of `text` (on a char boundary).
pub(crate) fn clip_tail(text: &str, max_chars: usize) -> &str {
    if max_chars == 0 {
        return "";
    }
    match text.char_indices().rev().nth(max_chars - 1) {
        Some((i, _)) => &text[i..],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[expect(non_snake_case, reason = "mirrors the Python placeholder")]
    struct V {
        TODO: &'static str,
    }

    #[test]
    fn python_placeholders_render_and_undefined_fail() {
        let out = render_str("A {{TODO}} B\n", "t", &V { TODO: "x {{y}}" }).unwrap();
        assert_eq!(
            out, "A x {{y}} B\n",
            "values are not re-rendered, trailing newline kept"
        );
        let err = render_str("line1\n{{ TOD }}\n", "my.txt", &V { TODO: "" }).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("my.txt") && msg.contains("line 2") && msg.contains("`TOD`"),
            "{msg}"
        );
    }

    #[test]
    fn html_is_not_escaped() {
        let out = render_str(
            "{{TODO}}",
            "t",
            &V {
                TODO: "<a> & \"b\"",
            },
        )
        .unwrap();
        assert_eq!(out, "<a> & \"b\"");
    }

    #[test]
    fn clip_tail_counts_chars_not_bytes() {
        assert_eq!(clip_tail("héllo", 3), "llo");
        assert_eq!(clip_tail("héllo", 4), "éllo");
        assert_eq!(clip_tail("ab", 10), "ab");
        assert_eq!(clip_tail("ab", 0), "");
    }
}
