//! `car telegram start`: the Telegram bot in the foreground, until SIGTERM
//! or Ctrl-C (the batch being handled is finished and its offset stored).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use car_core::{StopHandle, StopLevel};
use car_telegram::{Bot, Settings, Workspace};

use crate::cli::Global;

pub(crate) fn start(g: &Global, path: Option<&Path>) -> Result<u8> {
    let dir = match path {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => std::env::current_dir().unwrap_or_default().join(p),
        None => super::start_dir(g),
    };
    let opts = super::load_options(g, &[])?;
    let (ws, cfg, warnings) = Workspace::open(&dir, &opts)?;
    for w in warnings {
        errln!("car: warning: {w}");
    }
    let settings = Settings::from_config(&cfg, |name| std::env::var(name).ok())?;
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set; the bot's lock lives under ~/.codex-autorunner/locks")?;
    let program = crate::supervisor_program().context("cannot find the path of this program")?;
    let stop = StopHandle::new();
    let _routed = crate::signals::route_to_shutdown(stop.clone());
    let kind = if ws.is_hub() { "hub" } else { "repository" };
    let running = Bot::start(settings, ws, &home, program)?;
    outln!(
        "car: Telegram bot running for the {kind} {} (Ctrl-C stops it)",
        dir.display()
    );
    loop {
        if stop.current().level != StopLevel::None {
            errln!("car: stopping the Telegram bot");
            running.shutdown();
            return Ok(crate::EXIT_OK);
        }
        if let Some(ended) = running.wait(Duration::from_millis(200)) {
            ended?;
            return Ok(crate::EXIT_OK);
        }
    }
}
