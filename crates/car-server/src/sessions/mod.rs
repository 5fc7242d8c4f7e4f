//! Browser sessions: one-time login codes, the session cookie, and the
//! sessions kept on disk.

mod codes;
mod cookie;
mod secret;
pub(crate) use secret::random_secret;
mod store;

pub use codes::CODE_TTL;
pub(crate) use codes::LoginCodes;
pub use cookie::COOKIE;
pub(crate) use cookie::{over_https, session_cookie, set_cookie};
pub use store::{SESSION_DAYS, Session, SessionError, SessionStore};
