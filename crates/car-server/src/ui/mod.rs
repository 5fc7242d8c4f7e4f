//! The web UI: server-rendered pages (minijinja templates in `ui/templates`)
//! with small ES modules (`ui/static`) that follow the live streams and
//! call the JSON API; no build step, everything embedded.

mod access;
mod assets;
mod docs_page;
mod hub_page;
mod markdown;
mod pages;
mod render;
mod repo_page;
mod router;
mod run_views;
mod runs_page;
mod settings_page;
mod snapshot_page;
mod task_views;
mod tasks_page;
mod terminal_page;
mod vendor;
mod views;

pub(crate) use hub_page::hub;
pub(crate) use pages::signin_page;
pub(crate) use router::routes;
