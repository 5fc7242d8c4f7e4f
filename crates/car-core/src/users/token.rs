//! The tokens' form: `car_u_<id>_<secret>`, `<id>` 12 hex digits (how a
//! server finds the token's record), `<secret>` 64 hex digits (32 random
//! bytes, kept only as its SHA-256), and what checking one gives.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Role, Scope, UsersError};

/// What every user token starts with.
pub const TOKEN_PREFIX: &str = "car_u_";

/// A token just made: the only time its secret is known.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The whole token, to give to its holder.
    pub token: String,
    /// Its record (as kept in the file).
    pub record: super::TokenRecord,
}

/// What a valid token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The token's id.
    pub token_id: String,
    /// Its user.
    pub user: String,
    /// Its scope, capped by the user's role now.
    pub scope: Scope,
    /// The one repository it is confined to, if any.
    pub repo: Option<String>,
}

/// Why a token is not taken (the server answers 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not of the form `car_u_<id>_<secret>`.
    Malformed,
    /// No such token here, or the secret does not match.
    Unknown,
    /// Revoked (at this time).
    Revoked(String),
    /// Expired (at this time).
    Expired(String),
    /// Its user was removed.
    NoUser,
}

impl Refused {
    /// In words, for the 401's message (never which part was wrong).
    pub fn describe(&self) -> String {
        match self {
            Self::Malformed | Self::Unknown => "the user token is not valid".to_string(),
            Self::Revoked(at) => format!("the user token was revoked at {at}"),
            Self::Expired(at) => format!("the user token expired at {at}"),
            Self::NoUser => "the user token's user was removed".to_string(),
        }
    }
}

/// The id and secret of a token, when it has the form of one.
pub(crate) fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexy(id, ID_HEX) && hexy(secret, SECRET_HEX)).then_some((id, secret))
}

const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;

/// A fresh id and secret.
pub(crate) fn fresh() -> Result<(String, String), UsersError> {
    let mut bytes = [0u8; ID_HEX / 2 + SECRET_HEX / 2];
    getrandom::fill(&mut bytes).map_err(|e| UsersError::Random(e.to_string()))?;
    let (id, secret) = bytes.split_at(ID_HEX / 2);
    Ok((hex(id), hex(secret)))
}

/// The whole token of `id` and `secret`.
pub(crate) fn format(id: &str, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}_{secret}")
}

/// The SHA-256 of a secret, hex.
pub(crate) fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored`, compared in constant time.
pub(crate) fn matches(secret: &str, stored: &str) -> bool {
    bool::from(hash(secret).as_bytes().ct_eq(stored.as_bytes()))
}

/// The scope a token of scope `scope` has for a user of role `role`.
pub(crate) fn capped(scope: Scope, role: Role) -> Scope {
    scope.min(role.max_scope())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_prefix_id_and_secret_in_hex() {
        let (id, secret) = fresh().unwrap();
        let t = format(&id, &secret);
        assert!(t.starts_with("car_u_"));
        assert_eq!(split(&t), Some((id.as_str(), secret.as_str())));
        assert_eq!(split("car_u_abc_def"), None);
        assert_eq!(split(&t.replace("car_u_", "car_x_")), None);
        assert_eq!(split(&format!("{t}0")), None);
        assert!(matches(&secret, &hash(&secret)));
        assert!(!matches(&id, &hash(&secret)));
    }

    #[test]
    fn a_scope_is_capped_by_the_role() {
        assert_eq!(capped(Scope::Admin, Role::Viewer), Scope::Read);
        assert_eq!(capped(Scope::Admin, Role::Operator), Scope::Tasks);
        assert_eq!(capped(Scope::Reply, Role::Operator), Scope::Reply);
        assert_eq!(capped(Scope::Admin, Role::Admin), Scope::Admin);
    }
}
