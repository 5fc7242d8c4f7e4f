//! Notifications: a person hears within seconds that the loop needs them,
//! and is not buzzed for nothing.
//!
//! Loop events become [`Notification`]s; a policy decides what is sent now
//! (a question always; other classes at most once per
//! `notifications.throttle_seconds`; nothing but questions during quiet
//! hours, then one digest) and what is resent (an unanswered question, after
//! `notifications.escalate_after_seconds`). Delivery runs on one thread per
//! provider, with timeouts and retries, so it never slows the loop; every
//! attempt is recorded in the event ledger.

mod action;
mod class;
mod compose;
mod message;
mod notifier;
mod policy;
pub(crate) mod providers;
pub(crate) mod question_actions;
mod test_send;

pub use action::{ActionsHeaderError, NTFY_MAX_ACTIONS, NotifyAction, ntfy_actions_header};
pub use class::NotifyClass;
pub(crate) use compose::{Context, from_event};
pub use message::{Notification, Priority};
pub(crate) use notifier::Notifier;
pub(crate) use policy::{NotifyState, decide, tick};
pub(crate) use test_send::send_test;
