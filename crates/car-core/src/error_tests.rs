//! Every error family's kind and hint, and messages that advise nothing.

use std::path::PathBuf;

use super::{Error, ErrorKind};
use crate::agent::AgentError;
use crate::config::ConfigError;
use crate::control::InitError;
use crate::docs::DocError;
use crate::fs_util::PathError;
use crate::hint::Hint;
use crate::ingest::IngestError;
use crate::job::JobError;
use crate::lock::{LockError, LockInfo};
use crate::prompt::PromptError;
use crate::snapshot::SnapshotError;
use crate::state::{StateError, StopReason};

fn io(errno: i32) -> PathError {
    PathError {
        action: "cannot write",
        path: "/r/.codex-autorunner/state.json".into(),
        source: std::io::Error::from_raw_os_error(errno),
    }
}

fn not_found() -> AgentError {
    AgentError::NotFound {
        binary: "codex".into(),
        hint: "; searched PATH".into(),
    }
}

fn held() -> LockError {
    LockError::Held {
        path: "/r/.codex-autorunner/lock".into(),
        holder: LockInfo::parse("4242"),
    }
}

fn job_failed() -> JobError {
    JobError::Failed {
        what: "exited with 1".into(),
        log: "/r/jobs/snapshot/output.log".into(),
    }
}

/// One error of every family (and of the families inside them), with the
/// kind and hint a front end must see.
fn cases() -> Vec<(Error, ErrorKind, Option<Hint>)> {
    let spec: PathBuf = "/r/.codex-autorunner/SPEC.md".into();
    vec![
        (
            ConfigError::NotFound { start: "/r".into() }.into(),
            ErrorKind::Config,
            Some(Hint::InitRepo),
        ),
        (
            ConfigError::BadOverride { arg: "x".into() }.into(),
            ErrorKind::Config,
            None,
        ),
        (
            DocError::NotUtf8 {
                path: "/r/TODO.md".into(),
                line: 2,
            }
            .into(),
            ErrorKind::Io,
            None,
        ),
        (DocError::Io(io(5)).into(), ErrorKind::Io, None),
        (
            PromptError::Render {
                origin: "built-in".into(),
                message: "unknown variable".into(),
            }
            .into(),
            ErrorKind::Config,
            None,
        ),
        (held().into(), ErrorKind::Busy, Some(Hint::WaitOrStopRunner)),
        (LockError::Io(io(13)).into(), ErrorKind::Io, None),
        (StateError::Io(io(13)).into(), ErrorKind::Io, None),
        (
            not_found().into(),
            ErrorKind::Config,
            Some(Hint::InstallCodex),
        ),
        (
            AgentError::Spawn {
                program: "/bin/codex".into(),
                source: std::io::Error::from_raw_os_error(8),
            }
            .into(),
            ErrorKind::Agent,
            None,
        ),
        (
            AgentError::SupervisedSpawn {
                program: "/bin/codex".into(),
                message: "exec format error".into(),
            }
            .into(),
            ErrorKind::Agent,
            None,
        ),
        (AgentError::Log(io(28)).into(), ErrorKind::Io, None),
        (io(28).into(), ErrorKind::Io, None),
        (
            InitError::NoGit { path: "/r".into() }.into(),
            ErrorKind::User,
            Some(Hint::InitGit),
        ),
        (
            InitError::Config(ConfigError::BadOverride { arg: "x".into() }).into(),
            ErrorKind::Config,
            None,
        ),
        (
            InitError::Git(crate::git::GitError::Spawn(
                std::io::Error::from_raw_os_error(2),
            ))
            .into(),
            ErrorKind::Internal,
            None,
        ),
        (InitError::Io(io(13)).into(), ErrorKind::Io, None),
        (
            IngestError::SpecMissing { path: spec.clone() }.into(),
            ErrorKind::User,
            Some(Hint::WriteSpec),
        ),
        (
            IngestError::SpecEmpty { path: spec.clone() }.into(),
            ErrorKind::User,
            Some(Hint::WriteSpec),
        ),
        (
            IngestError::NotEmpty {
                docs: vec!["TODO.md".into()],
            }
            .into(),
            ErrorKind::User,
            Some(Hint::AllowOverwrite),
        ),
        (
            IngestError::Lock(held()).into(),
            ErrorKind::Busy,
            Some(Hint::WaitOrStopRunner),
        ),
        (
            IngestError::Job(JobError::Agent(not_found())).into(),
            ErrorKind::Config,
            Some(Hint::InstallCodex),
        ),
        (
            IngestError::Unparseable {
                why: "no TODO section".into(),
                answer: "/r/jobs/ingest/answer.md".into(),
            }
            .into(),
            ErrorKind::Agent,
            None,
        ),
        (
            SnapshotError::Job(job_failed()).into(),
            ErrorKind::Agent,
            None,
        ),
        (
            SnapshotError::Job(JobError::Io(io(28))).into(),
            ErrorKind::Io,
            None,
        ),
        (SnapshotError::Empty.into(), ErrorKind::Agent, None),
        (
            Error::StopNotRecorded {
                reason: StopReason::Error,
                first: Some(Box::new(not_found().into())),
                record: StateError::Io(io(28)),
            },
            ErrorKind::Io,
            Some(Hint::InstallCodex),
        ),
        (
            Error::StopNotRecorded {
                reason: StopReason::Completed,
                first: None,
                record: StateError::Io(io(28)),
            },
            ErrorKind::Io,
            None,
        ),
    ]
}

#[test]
fn every_error_family_has_its_kind_and_hint() {
    for (e, kind, hint) in cases() {
        assert_eq!(e.kind(), kind, "kind of {e}");
        assert_eq!(e.hint(), hint, "hint of {e}");
    }
}

#[test]
fn messages_describe_and_name_no_command() {
    for (e, _, _) in cases() {
        let text = super::error_chain(&e);
        for advice in [
            "`car",
            "car init",
            "car reply",
            "car resume",
            "car kill",
            "car edit",
            "car ingest",
            "npm ",
            "--",
            "rerun",
            "then resume",
        ] {
            assert!(!text.contains(advice), "{advice:?} in {text:?}");
        }
    }
}

#[test]
fn a_stop_says_what_would_help_only_where_a_person_can() {
    let cases = [
        (StopReason::NeedsInput, Some(Hint::AnswerThenResume)),
        (StopReason::TodoInvalid, Some(Hint::WriteTodo)),
        (StopReason::QuotaExhausted, Some(Hint::CheckPlanThenResume)),
        (StopReason::DiskFull, Some(Hint::FreeSpaceThenResume)),
        (StopReason::Completed, None),
        (StopReason::Killed, None),
        (StopReason::Error, None),
        (StopReason::Budget, None),
    ];
    for (reason, hint) in cases {
        assert_eq!(reason.hint(), hint, "{reason}");
    }
}

#[test]
fn an_invoke_error_becomes_the_agent_or_io_error_it_holds() {
    let e: Error = crate::codex::InvokeError::Agent(not_found()).into();
    assert!(matches!(e, Error::Agent(AgentError::NotFound { .. })));
    let e: Error = crate::codex::InvokeError::Io(io(28)).into();
    assert!(matches!(e, Error::Io(_)));
}
