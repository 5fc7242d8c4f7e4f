//! Advice for a person, as data: what to do next after an error or a stop.
//!
//! The core describes what happened in its messages and says what would
//! help here, as a [`Hint`]; each front end turns a hint into its own words
//! (a command line names its commands, a web page shows a button), so no
//! front end shows another's instructions.

use serde::{Deserialize, Serialize};

/// What a person can do next; front ends render it in their own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hint {
    /// The agent asked a question: answer it, then resume the loop.
    AnswerThenResume,
    /// The agent binary is missing: install Codex, or configure
    /// `codex.binary` with its path.
    InstallCodex,
    /// The agent is older than the versions car is tested with: upgrade it.
    UpgradeCodex,
    /// A file system is full: free space on it, then resume the loop.
    FreeSpaceThenResume,
    /// Another runner holds the repository: wait for it, or stop it.
    WaitOrStopRunner,
    /// The agent's plan or billing allows no more use: check it, then
    /// resume the loop.
    CheckPlanThenResume,
    /// The directory is not set up for car (or its files are missing):
    /// initialise it.
    InitRepo,
    /// The files car made are damaged: initialise again, which replaces
    /// them (keeping a backup).
    ReinitRepo,
    /// There is no git repository: create one (init can do it).
    InitGit,
    /// The TODO holds no task of the person's: write tasks as `- [ ] task`
    /// lines, or have the agent make them from the spec.
    WriteTodo,
    /// The spec is missing or empty: write what must be true first.
    WriteSpec,
    /// Docs would be overwritten: ask again, allowing it (each is backed up
    /// first).
    AllowOverwrite,
    /// The state names a runner that is gone: reading the status repairs it.
    RepairState,
    /// A task's turn is still at work: wait for it to end (follow its
    /// output), or abort it.
    WaitForTask,
}

impl Hint {
    /// Returns the hint's name in JSON (`answer_then_resume`, ...), for
    /// front ends that pass hints on as data.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AnswerThenResume => "answer_then_resume",
            Self::InstallCodex => "install_codex",
            Self::UpgradeCodex => "upgrade_codex",
            Self::FreeSpaceThenResume => "free_space_then_resume",
            Self::WaitOrStopRunner => "wait_or_stop_runner",
            Self::CheckPlanThenResume => "check_plan_then_resume",
            Self::InitRepo => "init_repo",
            Self::ReinitRepo => "reinit_repo",
            Self::InitGit => "init_git",
            Self::WriteTodo => "write_todo",
            Self::WriteSpec => "write_spec",
            Self::AllowOverwrite => "allow_overwrite",
            Self::RepairState => "repair_state",
            Self::WaitForTask => "wait_for_task",
        }
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Hint;

    #[test]
    fn a_hint_is_written_to_json_by_its_name() {
        for h in [
            Hint::AnswerThenResume,
            Hint::InstallCodex,
            Hint::UpgradeCodex,
            Hint::FreeSpaceThenResume,
            Hint::WaitOrStopRunner,
            Hint::CheckPlanThenResume,
            Hint::InitRepo,
            Hint::ReinitRepo,
            Hint::InitGit,
            Hint::WriteTodo,
            Hint::WriteSpec,
            Hint::AllowOverwrite,
            Hint::RepairState,
            Hint::WaitForTask,
        ] {
            let json = serde_json::to_string(&h).unwrap();
            assert_eq!(json, format!("\"{}\"", h.as_str()));
        }
    }
}
