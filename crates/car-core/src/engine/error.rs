//! The engine's errors are the crate's [`crate::Error`]: the loop returns
//! the same type, with the same `kind()` and `hint()`, as the rest of the
//! library. The engine's files name it `EngineError`.

pub(crate) use crate::error::{Error as EngineError, error_chain};
