//! The command line's words for each hint and its exit codes.

use car_core::{Error, ErrorKind, Hint, StopReason};

use super::{advice, exit_code, kind_exit_code, lock_held, stop_exit_code};

#[test]
fn every_hint_names_the_command_that_helps() {
    let cases = [
        (
            Hint::AnswerThenResume,
            "answer with `car reply \"...\"`, then `car resume`",
        ),
        (Hint::InstallCodex, "`npm install -g @openai/codex`"),
        (Hint::InstallCodex, "set codex.binary to its path"),
        (Hint::UpgradeCodex, "`npm install -g @openai/codex`"),
        (Hint::FreeSpaceThenResume, "then `car resume`"),
        (Hint::WaitOrStopRunner, "stop it with `car kill`"),
        (Hint::CheckPlanThenResume, "billing, then `car resume`"),
        (Hint::InitRepo, "`car init`"),
        (Hint::ReinitRepo, "`car init` to replace it"),
        (Hint::InitGit, "--git-init"),
        (Hint::WriteTodo, "`car edit todo`"),
        (Hint::WriteTodo, "`car ingest-spec`"),
        (Hint::WriteSpec, "--spec PATH"),
        (Hint::AllowOverwrite, "--force"),
        (Hint::RepairState, "`car status`"),
        (Hint::WaitForTask, "`car task abort ID`"),
    ];
    for (h, words) in cases {
        assert!(advice(h).contains(words), "{h}: {:?}", advice(h));
    }
}

#[test]
fn a_mistake_in_the_request_or_the_config_exits_2_the_rest_1() {
    assert_eq!(kind_exit_code(ErrorKind::User), 2);
    assert_eq!(kind_exit_code(ErrorKind::Config), 2);
    assert_eq!(kind_exit_code(ErrorKind::Busy), 1);
    assert_eq!(kind_exit_code(ErrorKind::Agent), 1);
    assert_eq!(kind_exit_code(ErrorKind::Io), 1);
    assert_eq!(kind_exit_code(ErrorKind::Internal), 1);
}

fn not_found() -> anyhow::Error {
    Error::Agent(car_core::AgentError::NotFound {
        binary: "codex".into(),
        hint: String::new(),
    })
    .into()
}

#[test]
fn an_error_exits_by_the_kind_of_the_library_error_in_its_chain() {
    assert_eq!(exit_code(&not_found()), 2);
    assert_eq!(exit_code(&not_found().context("cannot run")), 2);
    let held: anyhow::Error = Error::Lock(car_core::LockError::Held {
        path: "/r/lock".into(),
        holder: None,
    })
    .into();
    assert_eq!(exit_code(&held), 1);
    assert_eq!(lock_held(&held), Some(None));
    assert_eq!(lock_held(&not_found()), None);
    assert_eq!(
        exit_code(&super::UsageError("the answer is empty".into()).into()),
        2
    );
    assert_eq!(exit_code(&anyhow::anyhow!("something else")), 1);
}

#[test]
fn a_stop_exits_with_the_code_of_its_reason() {
    let cases = [
        (StopReason::Completed, 0),
        (StopReason::RunLimit, 0),
        (StopReason::Wallclock, 0),
        (StopReason::StopRequested, 0),
        (StopReason::Budget, 0),
        (StopReason::Failed, 1),
        (StopReason::Stalled, 1),
        (StopReason::TodoInvalid, 1),
        (StopReason::Error, 1),
        (StopReason::Crashed, 1),
        (StopReason::QuotaExhausted, 1),
        (StopReason::DiskFull, 1),
        (StopReason::NeedsInput, 3),
        (StopReason::Blocked, 3),
        (StopReason::Interrupted, 130),
        (StopReason::Killed, 130),
    ];
    for (reason, code) in cases {
        assert_eq!(stop_exit_code(reason), code, "{reason}");
    }
}
