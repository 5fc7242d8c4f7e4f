//! [`RepoSummary`]: one repository's loop at a glance (state, TODO progress,
//! current run, waiting question, git branch and divergence), for listing
//! many repositories at once (`car hub status`, `GET /api/v1/repos`).

mod git;
mod model;
mod read;

pub use model::{GitSummary, LoopState, QUESTION_MAX_CHARS, RepoSummary, RunSummary};
pub use read::{SummaryOptions, summarize};
