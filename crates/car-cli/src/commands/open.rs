//! Opening the repository a command acts on: the start directory, the
//! configuration's load options and the warnings of loading it.

use std::path::PathBuf;

use anyhow::Result;
use car_core::{LoadOptions, Repo};

use crate::cli::Global;

/// Returns the directory the command acts on.
pub(crate) fn start_dir(g: &Global) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match &g.repo {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => cwd.join(p),
        None => cwd,
    }
}

/// Builds the load options: the process's `CAR_*` variables plus `-c` values.
pub(crate) fn load_options(g: &Global, extra: &[(&str, String, &str)]) -> Result<LoadOptions> {
    let mut opts = LoadOptions::from_process_env();
    for s in &g.set {
        let (k, v) = car_core::parse_override(s)?;
        opts.cli.push((k, v, format!("-c {s}")));
    }
    for (k, v, flag) in extra {
        opts.cli
            .push(((*k).to_string(), v.clone(), (*flag).to_string()));
    }
    Ok(opts)
}

/// Opens the repository at or above the start dir (loading its
/// configuration) and prints the configuration's warnings.
pub(crate) fn load(g: &Global, extra: &[(&str, String, &str)]) -> Result<Repo> {
    let opts = load_options(g, extra)?;
    let repo = Repo::open_with(start_dir(g), &opts)?;
    for w in &repo.resolved_config().warnings {
        eprintln!("car: warning: {w}");
    }
    Ok(repo)
}
