//! The hub's supervisor: one process per hub (`car hub run`) that runs many
//! loops at once, each a detached `car run` process, within a cap, in
//! request order, restarting crashed ones; `car hub start|stop` record what
//! should run in the hub's queue.

mod journal;
mod process;
mod queue;
mod run;
mod settings;
mod tell;
mod watch;

pub use journal::HubEvent;
pub use process::SupervisorLock;
pub use queue::{Phase, Queue, StartRequest, Wish};
pub use run::SuperviseOptions;
pub use settings::SupervisorSettings;
