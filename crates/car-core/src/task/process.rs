//! Starting a job's own process (`car __task` or `car __exec`), the same
//! for both kinds: it is launched in a session of its own, and its pid is
//! recorded while the job is still queued, so a process that dies before
//! it takes the record up reads as failed; a process that cannot start
//! ends the job as failed.

use std::ffi::OsString;
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::TaskError;
use super::record::update_json;
use crate::fs_util::PathError;

/// What starting a job's process needs of the job's record.
pub(crate) trait JobRecord: Serialize + DeserializeOwned {
    /// The record's file name without `.json` (and its lock's).
    const NAME: &'static str;

    /// Whether the job is queued and no process has taken it up yet.
    fn unclaimed(&self) -> bool;

    /// Records the process that runs the job.
    fn claim(&mut self, pid: u32, start: Option<u64>);

    /// Ends the job as failed: its process could not start.
    fn fail_to_start(&mut self, message: String);
}

/// Starts `program <subcommand> <root> <id>` for the job in `dir` and
/// records its pid; `launch_error` wraps a failure to start it.
pub(crate) fn launch<R, E>(
    program: &Path,
    subcommand: &str,
    root: &Path,
    dir: &Path,
    id: &str,
    launch_error: impl FnOnce(PathError) -> E,
) -> Result<(), E>
where
    R: JobRecord,
    E: From<TaskError> + From<PathError>,
{
    let args: Vec<OsString> = vec![subcommand.into(), root.into(), id.into()];
    match crate::launch::spawn_detached(program, args) {
        Ok(pid) => {
            let start = crate::process::start_time(pid);
            update_json::<R, (), E>(dir, R::NAME, |r| {
                if r.unclaimed() {
                    r.claim(pid, start);
                }
                Ok(())
            })?;
            Ok(())
        }
        Err(e) => {
            let message = e.to_string();
            let _ = update_json::<R, (), E>(dir, R::NAME, |r| {
                r.fail_to_start(message);
                Ok(())
            });
            Err(launch_error(e))
        }
    }
}
