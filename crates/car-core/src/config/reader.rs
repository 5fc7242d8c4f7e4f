//! Reading typed values out of the merged configuration, with errors that
//! name the key, the file and line (or variable, or flag) it came from, and
//! say in YAML words what is allowed.

mod convert;
#[cfg(test)]
mod tests;
mod typed;
mod words;

pub(super) use convert::{Secs, yaml11_bool};
pub(super) use typed::Reader;
pub(super) use words::describe;
