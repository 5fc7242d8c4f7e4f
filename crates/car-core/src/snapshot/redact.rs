//! Redaction of secrets: paths that look like secret files, and tokens that
//! look like API keys, GitHub tokens, AWS keys, Slack tokens, JWTs or
//! private keys.

use std::sync::LazyLock;

use regex::Regex;

/// Patterns and their replacements, applied in order.
static TOKENS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)",
            "[PRIVATE_KEY_REDACTED]",
        ),
        (r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}", "sk-[REDACTED]"),
        (r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}\b", "sk_[REDACTED]"),
        (
            r"(?i)\b((?:aws_)?secret_access_key|aws_secret_key)(\s*[=:]\s*[\x22']?)[A-Za-z0-9/+=]{30,}",
            "${1}${2}[REDACTED]",
        ),
        (r"\bgh[pousr]_[A-Za-z0-9]{20,}\b", "gh_[REDACTED]"),
        (r"\bgithub_pat_[A-Za-z0-9_]{20,}\b", "github_pat_[REDACTED]"),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "AKIA[REDACTED]"),
        (r"\bxox[abposr]-[A-Za-z0-9\-]{10,}\b", "xox-[REDACTED]"),
        (
            r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\b",
            "[JWT_REDACTED]",
        ),
    ]
    .into_iter()
    .filter_map(|(p, r)| Regex::new(p).ok().map(|re| (re, r)))
    .collect()
});

/// Replaces every secret-looking token in `text`.
pub(crate) fn redact(text: &str) -> String {
    let mut out = text.to_string();
    for (re, with) in TOKENS.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *with).into_owned();
        }
    }
    out
}

/// Returns whether a repository path names a file that usually holds
/// secrets (`.env*`, SSH keys, certificates, credential stores). Such
/// paths are never shown, not even by name.
pub(crate) fn is_secret_path(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    const NAMES: &[&str] = &[
        ".netrc",
        ".npmrc",
        ".pypirc",
        ".git-credentials",
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        "known_hosts",
        "credentials",
        "credentials.json",
        ".htpasswd",
        "secrets.yml",
        "secrets.yaml",
        "secrets.json",
        ".secrets",
        "service-account.json",
    ];
    const SUFFIXES: &[&str] = &[
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".p8",
        ".crt",
        ".cer",
        ".der",
        ".ppk",
        ".ovpn",
        ".kdbx",
        ".keystore",
        ".jks",
        ".asc",
        ".gpg",
    ];
    NAMES.contains(&name.as_str())
        // .env, .envrc, .env.local, .env-prod, .env_local, prod.env
        || name.starts_with(".env")
        || name.ends_with(".env")
        || SUFFIXES.iter().any(|s| name.ends_with(s))
        || path.split('/').any(|part| part == ".ssh" || part == ".aws" || part == ".gnupg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_secret_kind_is_redacted() {
        let cases = [
            ("key sk-abcdefghijklmnopqrstuvwxyz0123", "sk-[REDACTED]"),
            (
                "key sk-proj-abcdefghijklmnopqrstuvwx_yz0123",
                "sk-[REDACTED]",
            ),
            (
                "tok ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "gh_[REDACTED]",
            ),
            (
                "tok github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz",
                "github_pat_[REDACTED]",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE", "AKIA[REDACTED]"),
            ("slack xoxb-123456789012-abcdefghijkl", "xox-[REDACTED]"),
            ("stripe sk_live_abcdefghijklmnop1234", "sk_[REDACTED]"),
            (
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "aws_secret_access_key = [REDACTED]",
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "[JWT_REDACTED]",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                "[PRIVATE_KEY_REDACTED]",
            ),
        ];
        for (input, marker) in cases {
            let out = redact(input);
            assert!(out.contains(marker), "{input} -> {out}");
            assert!(
                !out.contains("K7MDENG")
                    && !out.contains("abcdefghijklmnop")
                    && !out.contains("IOSFODNN7")
                    && !out.contains("MIIEow"),
                "{out}"
            );
        }
        assert_eq!(
            redact("nothing secret here sk-short"),
            "nothing secret here sk-short"
        );
    }

    #[test]
    fn secret_paths() {
        for p in [
            ".env",
            "app/.env.local",
            "prod.env",
            ".envrc",
            ".env-prod",
            ".env_local",
            "certs/server.pem",
            "certs/server.crt",
            "k.key",
            "home/.ssh/config",
            "id_ed25519",
            ".aws/credentials",
            "config/secrets.yml",
        ] {
            assert!(is_secret_path(p), "{p}");
        }
        for p in ["src/env.rs", "README.md", "environment.md", "keys.rs"] {
            assert!(!is_secret_path(p), "{p}");
        }
    }
}
