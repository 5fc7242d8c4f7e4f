//! Property tests that fuzz the parsers of untrusted input: the config
//! loader, the TODO parser and the Codex event parser.
//!
//! Each target replays its committed corpus (`fuzz-corpus/<target>/`) and
//! then runs random cases: random text over the target's dictionary,
//! mutations of the corpus, and structured random inputs. The default is a
//! bounded number of cases (a few seconds in all); `CAR_FUZZ_CASES=N` runs
//! N cases per strategy (`scripts/fuzz.sh` runs a long session). Every
//! target prints `fuzz <target>: <executions> executions, <failures>
//! failures`. A failure panics with the smallest input proptest found;
//! each one found is kept as a named regression test beside its target.

mod codex;
mod config;
mod harness;
mod mutate;
mod todo;

use harness::{Tally, corpus};
use mutate::{apply, edit, mutated, token_text};
