//! The arguments of `car serve users ...` and `car serve tokens ...`.

use clap::Subcommand;

/// What `car serve` does instead of serving.
#[derive(Debug, Subcommand)]
pub(crate) enum ServeCommand {
    /// The server's users: who user tokens belong to, and the role that caps their scopes.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The users' API tokens (`car_u_...`): scoped, optionally confined to one repository,
    /// expiring; stored hashed.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add a user.
    Add {
        /// The name (letters, digits, '-', '_', '.', '@'; at most 64).
        name: String,
        /// viewer: read only; operator: up to the scope tasks; admin: any scope.
        #[arg(long, default_value = "viewer", value_parser = ["admin", "operator", "viewer"])]
        role: String,
    },
    /// List the users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user and revoke its tokens (at once, in a running server too).
    Remove {
        /// The user's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Make a token for a user and print it (the only time it is shown).
    Create {
        /// Its user.
        #[arg(long)]
        user: String,
        /// read, reply (read + answer and resume the loop), tasks (reply + its own Codex
        /// tasks) or admin (everything, commands too); at most what the user's role allows.
        #[arg(long, default_value = "read", value_parser = ["read", "reply", "tasks", "admin"])]
        scope: String,
        /// Confine it to this repository (its id in the server's URLs; `--repo` is the global
        /// path of the repository or hub).
        #[arg(long = "repo-id", value_name = "ID")]
        repo_id: Option<String>,
        /// When it stops working: 30d, 12h, 15m, 2s from now, an RFC 3339 time, or never.
        #[arg(long, default_value = "90d", value_name = "WHEN")]
        expires: String,
    },
    /// List the tokens (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token (at once, in a running server too).
    Revoke {
        /// The token's id (`car_u_<id>_...`, as `tokens list` shows it).
        id: String,
    },
}
