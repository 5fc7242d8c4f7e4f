//! `car serve users ...` and `car serve tokens ...`: the users and tokens
//! of the server started here (a repository or a hub root), in
//! `.codex-autorunner/server/users.json` (see [`car_core::users`]). A
//! running server reads the file again when it changes.

use anyhow::{Context, Result, bail};
use car_core::users::{Role, Scope, TokenRecord, Users, parse_expiry};
use chrono::{SecondsFormat, Utc};

fn at(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

use crate::cli::Global;
use crate::cli_users::{ServeCommand, TokensCommand, UsersCommand};

pub(crate) fn run(g: &Global, cmd: ServeCommand) -> Result<u8> {
    let (root, hub) = super::serve::open(g)?;
    let path = Users::file_of(root.root());
    let now = Utc::now();
    match cmd {
        ServeCommand::Users(UsersCommand::Add { name, role }) => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let rec = Users::edit(&path, |u| u.add_user(&name, role, now))?;
            outln!("car: added user {} ({})", rec.name, rec.role.as_str());
        }
        ServeCommand::Users(UsersCommand::List { json }) => {
            let users = Users::load(&path)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(users.users())?);
            } else if users.users().is_empty() {
                outln!("car: no users (car serve users add NAME --role ...)");
            } else {
                outln!("{:<24} {:<9} CREATED", "NAME", "ROLE");
                for u in users.users() {
                    outln!("{:<24} {:<9} {}", u.name, u.role.as_str(), at(u.created_at));
                }
            }
        }
        ServeCommand::Users(UsersCommand::Remove { name }) => {
            let n = Users::edit(&path, |u| u.remove_user(&name, now))?;
            outln!(
                "car: removed user {name}; revoked {n} token{}",
                if n == 1 { "" } else { "s" }
            );
        }
        ServeCommand::Tokens(TokensCommand::Create {
            user,
            scope,
            repo_id: repo,
            expires,
        }) => {
            let scope: Scope = scope.parse().map_err(anyhow::Error::msg)?;
            let expires_at = parse_expiry(&expires, now)?;
            if let Some(id) = &repo {
                check_repo_id(&root, hub.as_ref(), id)?;
            }
            let made = Users::edit(&path, |u| {
                u.create_token(&user, scope, repo, expires_at, now)
            })?;
            errln!(
                "car: token {} for {user} (scope {}{}), {}; shown once, keep it now:",
                made.record.id,
                scope.as_str(),
                made.record
                    .repo
                    .as_deref()
                    .map_or_else(String::new, |r| format!(", repository {r}")),
                expires_at.map_or_else(
                    || "never expires".to_string(),
                    |t| format!("expires {}", at(t))
                )
            );
            outln!("{}", made.token);
        }
        ServeCommand::Tokens(TokensCommand::List { json }) => {
            let tokens = Users::load(&path)?.tokens();
            if json {
                outln!("{}", serde_json::to_string_pretty(&tokens)?);
            } else if tokens.is_empty() {
                outln!("car: no tokens (car serve tokens create --user NAME ...)");
            } else {
                outln!(
                    "{:<12} {:<16} {:<6} {:<16} {:<20} {:<20} {:<20} STATE",
                    "ID",
                    "USER",
                    "SCOPE",
                    "REPO",
                    "CREATED",
                    "EXPIRES",
                    "LAST USED"
                );
                for t in &tokens {
                    outln!("{}", line(t, now));
                }
            }
        }
        ServeCommand::Tokens(TokensCommand::Revoke { id }) => {
            let t = Users::edit(&path, |u| u.revoke(&id, now))?;
            outln!("car: revoked token {} of {}", t.id, t.user);
        }
    }
    Ok(crate::EXIT_OK)
}

fn line(t: &TokenRecord, now: chrono::DateTime<Utc>) -> String {
    let state = match (t.revoked_at, t.expires_at) {
        (Some(t), _) => format!("revoked {}", at(t)),
        (None, Some(t)) if t <= now => "expired".to_string(),
        _ => "live".to_string(),
    };
    format!(
        "{:<12} {:<16} {:<6} {:<16} {:<20} {:<20} {:<20} {state}",
        t.id,
        t.user,
        t.scope.as_str(),
        t.repo.as_deref().unwrap_or("*"),
        at(t.created_at),
        t.expires_at.map_or_else(|| "never".to_string(), at),
        t.last_used_at.map_or_else(|| "-".to_string(), at)
    )
}

/// `--repo ID` must name a repository the server serves: this one's id,
/// or one of the hub's manifest.
fn check_repo_id(root: &car_core::Repo, hub: Option<&car_core::Hub>, id: &str) -> Result<()> {
    match hub {
        Some(hub) => {
            let manifest = hub.manifest().context("cannot read the hub's manifest")?;
            if manifest.get(id).is_none() {
                bail!(
                    "no repository {id:?} in {} (the ids are the manifest's)",
                    hub.manifest_path().display()
                );
            }
        }
        None => {
            let own = car_server::repo_id(root.root());
            if id != own {
                bail!("this server serves one repository, {own:?}: --repo-id must be {own:?}");
            }
        }
    }
    Ok(())
}
