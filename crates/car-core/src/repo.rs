//! [`Repo`]: one repository run by car, the entry point of the library.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, LoadOptions, ResolvedConfig};
use crate::control::{self, InitOptions, InitReport, KillReport, ReplyReport, StatusReport};
use crate::engine::{Engine, Event, LoopOptions, LoopSummary};
use crate::error::Error;
use crate::ledger::{self, Ledger};
use crate::lock::{self, LockStatus};
use crate::record::{self, RunRecord};
use crate::state::{State, StateStore};
use crate::stop::{RequestedBy, Requester, StopHandle};

/// A repository with a `.codex-autorunner/` directory and its loaded
/// configuration: the entry point for running a loop here ([`Repo::run`]),
/// starting one as a process of its own ([`Repo::launch`]), following one
/// ([`Repo::follow_events`], [`Repo::follow_output`]), driving one
/// ([`Repo::control`]) and reading its records ([`Repo::state`],
/// [`Repo::run_record`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), car_core::Error> {
/// use car_core::{Repo, RunOptions, StopHandle};
///
/// let repo = Repo::open(".")?;
/// let stop = StopHandle::new();
/// let summary = repo
///     .run(RunOptions::default().max_runs(3), &stop, |event| println!("{event:?}"))
///     .await?;
/// println!("stopped: {}", summary.reason);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Repo {
    resolved: ResolvedConfig,
}

/// Options of [`Repo::run`].
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Runs allowed (overrides `runner.stop_after_runs`); `None` = the config's.
    pub max_runs: Option<u64>,
    /// The command name recorded in the lock and the ledger (default `run`).
    pub command: Option<String>,
    /// PATH given to the agent (default: none added; the agent inherits this process's).
    pub path_env: Option<std::ffi::OsString>,
    /// What started this loop, shown by `car status`.
    pub started_by: Option<String>,
    /// A program that answers [`SUPERVISOR_SUBCOMMAND`](crate::SUPERVISOR_SUBCOMMAND)
    /// by calling [`supervisor_main`](crate::supervisor_main), usually this
    /// program (`std::env::current_exe()`). Each run's agent then runs under
    /// a supervisor process that ends the agent's whole process tree when
    /// the agent exits and also when this process dies, even by SIGKILL.
    /// Without one (the default), the agent is this process's child: its
    /// process group and every process carrying the run's
    /// [`MARKER_VAR`](crate::MARKER_VAR) marker are ended after the run, and
    /// a later car command ends them if this process was killed, but a
    /// process that both leaves the group and clears its environment can
    /// escape.
    pub supervisor: Option<PathBuf>,
}

impl RunOptions {
    /// Sets the run limit.
    pub fn max_runs(mut self, n: u64) -> Self {
        self.max_runs = Some(n);
        self
    }

    /// Runs each agent under `program`'s supervisor (see [`RunOptions::supervisor`]).
    pub fn supervisor(mut self, program: impl Into<PathBuf>) -> Self {
        self.supervisor = Some(program.into());
        self
    }
}

impl Repo {
    /// Opens the repository at or above `start`, loading its configuration
    /// with this process's `CAR_*` environment variables applied.
    pub fn open(start: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with(start, &LoadOptions::from_process_env())
    }

    /// Opens the repository at or above `start` with explicit load options
    /// (environment and command-line values).
    pub fn open_with(start: impl AsRef<Path>, opts: &LoadOptions) -> Result<Self, Error> {
        Ok(Self {
            resolved: config::discover_and_load(start.as_ref(), opts)?,
        })
    }

    /// Creates `.codex-autorunner/` (config, docs, `.gitignore`); see `car init`.
    pub fn init(opts: &InitOptions) -> Result<InitReport, Error> {
        Ok(control::init(opts)?)
    }

    /// Returns the repository root.
    pub fn root(&self) -> &Path {
        &self.resolved.paths.root
    }

    /// Returns the validated configuration.
    pub fn config(&self) -> &crate::config::Config {
        &self.resolved.config
    }

    /// Returns the configuration with the source of every value.
    pub fn resolved_config(&self) -> &ResolvedConfig {
        &self.resolved
    }

    /// Runs the loop until a stop condition holds, calling `on_event` for
    /// every [`Event`] (on the loop's task: keep it quick). Cancel it with
    /// `stop`.
    pub async fn run(
        &self,
        opts: RunOptions,
        stop: &StopHandle,
        on_event: impl Fn(&Event) + Send + Sync + 'static,
    ) -> Result<LoopSummary, Error> {
        let engine = Engine::new(self.resolved.config.clone(), self.resolved.paths.clone());
        let loop_opts = LoopOptions {
            max_runs: opts.max_runs,
            command: opts.command.unwrap_or_else(|| "run".into()),
            path_env: opts.path_env.or_else(|| std::env::var_os("PATH")),
            started_by: opts.started_by,
            supervisor: opts.supervisor,
        };
        engine.run_loop(loop_opts, stop, Arc::new(on_event)).await
    }

    /// Runs exactly one iteration (one agent run at most).
    pub async fn run_once(
        &self,
        stop: &StopHandle,
        on_event: impl Fn(&Event) + Send + Sync + 'static,
    ) -> Result<LoopSummary, Error> {
        let opts = RunOptions {
            max_runs: Some(1),
            command: Some("once".into()),
            ..RunOptions::default()
        };
        self.run(opts, stop, on_event).await
    }

    /// Abandons the loop this process runs here, for a program that must
    /// exit now without waiting for it (a third Ctrl-C): kills the agent's
    /// process group (or has the run's supervisor end the agent's tree) and
    /// records `cause` as the stop in `state.json` and the
    /// ledger. Does nothing unless the state names this process as the
    /// runner. Keep the result until the process exits (it holds the state
    /// lock, so the loop cannot overwrite the record).
    pub fn abandon(
        &self,
        cause: crate::stop::StopCause,
    ) -> Result<crate::abandon::Abandoned, Error> {
        Ok(crate::abandon::abandon(
            &self.resolved.paths,
            &self.resolved.config.events,
            cause,
        )?)
    }

    /// Renders the prompt the next run would get (docs, previous output,
    /// pending reply), without running anything.
    pub fn render_prompt(&self) -> Result<String, Error> {
        let engine = Engine::new(self.resolved.config.clone(), self.resolved.paths.clone());
        engine.preview_prompt()
    }

    /// Asks a running loop (in any process) to stop after its current run,
    /// as the api; [`Repo::control`] names who asks.
    pub fn request_stop(&self) -> Result<(), Error> {
        self.control(Requester::this_process(RequestedBy::Api))
            .stop_after_run()
            .map(drop)
    }

    /// Stops the running loop now (SIGTERM, then SIGKILL) as the api; see
    /// `car kill`, and [`Repo::control`] to name who asks.
    pub fn kill(&self) -> Result<KillReport, Error> {
        self.control(Requester::this_process(RequestedBy::Api))
            .kill()
    }

    /// Builds the status report, repairing the state of a dead runner and
    /// stopping agent processes that a car process now gone left running
    /// (a look through every process: `car status` does this).
    pub fn status(&self) -> Result<StatusReport, Error> {
        Ok(control::status(
            &self.resolved.paths,
            &self.resolved.config.docs,
            control::Sweep::Always,
        )?)
    }

    /// [`Repo::status`] for a program that reads many repositories often (a
    /// server, a hub): the state of a dead runner is repaired alike, but
    /// stray agent processes are looked for only then, not on every call.
    pub fn quick_status(&self) -> Result<StatusReport, Error> {
        Ok(control::status(
            &self.resolved.paths,
            &self.resolved.config.docs,
            control::Sweep::IfRunnerDied,
        )?)
    }

    /// Repairs the state of a runner that died without recording a stop;
    /// returns what was fixed.
    pub fn reconcile(&self) -> Result<Option<String>, Error> {
        Ok(control::reconcile(&self.resolved.paths)?)
    }

    /// Reads `state.json` (defaults when missing or corrupt).
    pub fn state(&self) -> Result<State, Error> {
        Ok(StateStore::new(&self.resolved.paths).load()?.state)
    }

    /// Records a person's answer to the agent's question (as the api;
    /// [`Repo::control`] names who answers).
    pub fn reply(&self, text: &str) -> Result<ReplyReport, Error> {
        self.control(Requester::this_process(RequestedBy::Api))
            .reply(text)
    }

    /// Returns who holds the run lock, if anyone.
    pub fn lock_status(&self) -> LockStatus {
        lock::probe(&self.resolved.paths)
    }

    /// Returns the ids of recorded runs, oldest first.
    pub fn run_ids(&self) -> Vec<u64> {
        record::run_ids(&self.resolved.paths)
    }

    /// Returns a run's record (`runs/<id>/run.json`), once the run ended.
    pub fn run_record(&self, id: u64) -> Option<RunRecord> {
        record::load_record(&self.resolved.paths, id)
    }

    /// Returns the path of a run's output log (car's or the Python program's).
    pub fn output_log(&self, id: u64) -> Option<PathBuf> {
        record::output_log_path(&self.resolved.paths, id)
    }

    /// Returns the `runs/` directory.
    pub fn runs_dir(&self) -> PathBuf {
        self.resolved.paths.runs_dir()
    }

    /// Returns `.codex-autorunner/logs/`, car's own diagnostics.
    pub fn logs_dir(&self) -> PathBuf {
        self.resolved.paths.logs_dir()
    }

    /// Returns the path of the live event ledger file.
    pub fn events_path(&self) -> PathBuf {
        self.resolved.paths.events_file()
    }

    /// The ledger's files, oldest first (rotated ones, then the live one).
    pub fn event_files(&self) -> Vec<PathBuf> {
        self.ledger().files()
    }

    /// The `seq` of the last event in the ledger (read from the tail of the
    /// live file, or of the newest rotated one just after a rotation);
    /// `None` for an empty ledger.
    pub fn last_event_seq(&self) -> Option<u64> {
        self.ledger().last_seq()
    }

    /// Returns the ledger events (oldest first) that `filter` keeps; the
    /// filter then goes on from the end of the ledger (for `--follow`).
    pub fn events(
        &self,
        filter: &mut crate::event::SinceFilter,
    ) -> Vec<crate::event::EventEnvelope> {
        ledger::read_all(&self.ledger(), filter)
    }

    /// Follows the ledger: with `since_seq` `None`, the events appended from
    /// now on; with `Some(n)`, the stored events from `seq` `n` on, then the
    /// new ones (see [`Follow`](crate::Follow)).
    pub fn follow_events(
        &self,
        since_seq: Option<u64>,
    ) -> crate::Follow<crate::event::EventEnvelope> {
        crate::follow::follow_events(self.ledger(), since_seq)
    }

    /// Follows a run's output log (or the latest run's, moving on to each
    /// new run) from `byte_offset`; see [`OutputOf`](crate::OutputOf).
    pub fn follow_output(
        &self,
        of: crate::OutputOf,
        byte_offset: u64,
    ) -> crate::Follow<crate::OutputChunk> {
        crate::follow::follow_output(self.resolved.paths.clone(), of, byte_offset)
    }

    /// Follows the work docs: each one's version at once, then again on
    /// each change of its bytes (see [`DocVersion`](crate::DocVersion)).
    pub fn follow_docs(&self) -> crate::Follow<crate::DocVersion> {
        let docs = crate::docs::DocKind::ALL
            .iter()
            .map(|k| (*k, self.doc_path(*k).to_path_buf()))
            .collect();
        crate::follow::follow_docs(docs)
    }

    /// Follows the docs' chat requests: each doc's latest one at once,
    /// then again on each change of its state (see
    /// [`ChatStatus`](crate::ChatStatus)).
    pub fn follow_doc_chats(&self) -> crate::Follow<crate::ChatStatus> {
        crate::follow::follow_doc_chats(self.resolved.paths.clone())
    }

    /// Returns the path of a work doc.
    pub fn doc_path(&self, kind: crate::docs::DocKind) -> &Path {
        kind.path(&self.resolved.config.docs)
    }

    /// Records a request to change `doc` with the agent (see
    /// [`crate::doc_chat`]): running, based on the doc's current text;
    /// run it with [`Repo::doc_chat_run`].
    pub fn doc_chat_begin(
        &self,
        doc: crate::docs::DocKind,
        request: &str,
    ) -> Result<crate::ChatRecord, crate::DocChatError> {
        crate::doc_chat::begin(&self.resolved.config, &self.resolved.paths, doc, request)
    }

    /// Runs the agent on a request from [`Repo::doc_chat_begin`] and
    /// records its proposal (the doc itself is not written). With
    /// `supervisor` (the program answering
    /// [`SUPERVISOR_SUBCOMMAND`](crate::SUPERVISOR_SUBCOMMAND), such as the
    /// `car` binary), the agent runs under its per-run supervisor, which
    /// ends the agent's whole tree if this process dies.
    pub async fn doc_chat_run(
        &self,
        rec: crate::ChatRecord,
        supervisor: Option<&Path>,
        stop: &StopHandle,
    ) -> Result<crate::ChatRecord, crate::DocChatError> {
        let (cfg, paths) = (&self.resolved.config, &self.resolved.paths);
        crate::doc_chat::run(cfg, paths, rec, supervisor, stop).await
    }

    /// The latest chat request for `doc`, if any.
    pub fn doc_chat_latest(
        &self,
        doc: crate::docs::DocKind,
    ) -> Result<Option<crate::ChatRecord>, crate::DocChatError> {
        crate::doc_chat::latest(&self.resolved.paths, doc)
    }

    /// Chat request `id` of `doc`.
    pub fn doc_chat_get(
        &self,
        doc: crate::docs::DocKind,
        id: &str,
    ) -> Result<crate::ChatRecord, crate::DocChatError> {
        crate::doc_chat::get(&self.resolved.paths, doc, id)
    }

    /// Closes chat request `id` of `doc` as `applied` or `discarded`.
    pub fn doc_chat_close(
        &self,
        doc: crate::docs::DocKind,
        id: &str,
        how: crate::ChatState,
    ) -> Result<crate::ChatRecord, crate::DocChatError> {
        crate::doc_chat::close(&self.resolved.paths, doc, id, how)
    }

    /// Makes `SNAPSHOT.md` with the agent (see `car snapshot`).
    pub async fn snapshot(
        &self,
        opts: &crate::snapshot::SnapshotOptions,
        stop: &StopHandle,
    ) -> Result<crate::snapshot::SnapshotReport, Error> {
        Ok(
            crate::snapshot::generate(&self.resolved.config, &self.resolved.paths, opts, stop)
                .await?,
        )
    }

    /// Collects the snapshot's seed context only, without the agent;
    /// returns the seed text and the milliseconds it took (for benchmarks).
    pub fn snapshot_seed(&self) -> (String, f64) {
        let t = std::time::Instant::now();
        let seed = crate::snapshot::collect_seed(&self.resolved.config);
        (seed.text, t.elapsed().as_secs_f64() * 1000.0)
    }

    /// Turns SPEC into TODO/PROGRESS/OPINIONS with the agent (see `car ingest-spec`).
    pub async fn ingest_spec(
        &self,
        opts: &crate::ingest::IngestOptions,
        stop: &StopHandle,
    ) -> Result<crate::ingest::IngestReport, Error> {
        Ok(crate::ingest::ingest(&self.resolved.config, &self.resolved.paths, opts, stop).await?)
    }

    /// Resets TODO, PROGRESS and OPINIONS to their templates, with backups.
    pub fn clear_docs(&self) -> Result<crate::control::ClearReport, Error> {
        crate::control::clear_docs(&self.resolved.paths, &self.resolved.config.docs)
    }

    /// Sends a test notification to each enabled provider (or only
    /// `provider`) and returns `(provider, message id or error)` for each.
    pub fn notify_test(
        &self,
        provider: Option<&str>,
    ) -> Vec<(String, Result<Option<String>, String>)> {
        crate::notify::send_test(&self.resolved.config, provider)
    }

    fn ledger(&self) -> Ledger {
        let e = &self.resolved.config.events;
        Ledger::new(self.resolved.paths.events_file(), e.max_bytes, e.keep)
    }
}
