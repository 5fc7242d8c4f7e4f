//! `car init`.

use anyhow::Result;
use car_core::{InitOptions, Repo};

use crate::cli::{Global, InitArgs};

pub(crate) fn run(g: &Global, args: InitArgs) -> Result<u8> {
    let path = args
        .path
        .or(args.path_flag)
        .or_else(|| g.repo.clone())
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    if args.mode == "hub" {
        return super::hub::init(&path);
    }
    let report = Repo::init(&InitOptions {
        path,
        git_init: args.git_init,
        force: args.force,
        load: super::load_options(g, &[])?,
    })?;
    let rel = |p: &std::path::Path| {
        p.strip_prefix(&report.root)
            .unwrap_or(p)
            .display()
            .to_string()
    };
    if report.git_initialized {
        outln!("Initialized a git repository in {}", report.root.display());
    }
    for p in &report.created {
        outln!("  created  {}", rel(p));
    }
    for (p, bak) in &report.replaced {
        outln!("  replaced {} (old copy: {})", rel(p), rel(bak));
    }
    for p in &report.kept {
        outln!("  kept     {}", rel(p));
    }
    outln!(
        "Initialized car in {}/.codex-autorunner",
        report.root.display()
    );
    if !report.created.is_empty() {
        outln!("Next: write your tasks in .codex-autorunner/TODO.md, then run `car run`.");
    }
    Ok(crate::EXIT_OK)
}
