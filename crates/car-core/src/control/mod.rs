//! Operations on a repository from outside the loop: `init`, the status
//! report (which also reconciles the state of a runner that died without
//! recording why), and [`Control`]: stop, kill, reply and resume from any
//! process, recording who asked.

mod clear;
mod handle;
mod init;
mod kill;
mod origin;
mod reconcile;
mod reply;
mod request;
mod status;

pub use clear::ClearReport;
pub(crate) use clear::clear_docs;
pub use handle::{Control, ResumeReport, StopReport};
pub use init::{InitError, InitOptions, InitReport};
pub(crate) use init::{backup_path, init};
pub use kill::KillReport;
pub(crate) use kill::live_runner;
pub(crate) use origin::started_by;
pub(crate) use reconcile::{Sweep, reconcile};
pub use reply::{PendingQuestionView, ReplyReport};
pub use request::StopFileContent;
pub use status::StatusReport;
pub(crate) use status::status;
