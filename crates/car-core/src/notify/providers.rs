//! The places notifications go: ntfy, Telegram, Discord and a generic
//! webhook. Secrets come from environment variables only and never appear
//! in errors: every message is scrubbed of them.

use std::time::Duration;

use serde_json::json;

use super::{Notification, Priority};
use crate::config::{Enabled, NotifyConfig};

/// Telegram refuses longer messages.
const TELEGRAM_MAX_CHARS: usize = 4096;
/// Discord refuses longer messages.
const DISCORD_MAX_CHARS: usize = 2000;
/// The longest `retry_after` honoured; longer ones are cut to this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Why a delivery failed.
#[derive(Debug, Clone)]
pub(crate) struct SendError {
    /// A message without secrets.
    pub(crate) message: String,
    /// The provider asked to wait this long first (HTTP 429).
    pub(crate) retry_after: Option<Duration>,
    /// Retrying cannot help (bad request, wrong credentials).
    pub(crate) permanent: bool,
}

/// One configured destination.
pub(crate) struct Provider {
    pub(crate) name: &'static str,
    kind: Kind,
    secrets: Vec<String>,
}

enum Kind {
    Ntfy {
        url: String,
        auth: Option<String>,
    },
    Telegram {
        url: String,
        chat_id: String,
        thread_id: Option<i64>,
    },
    Discord {
        url: String,
    },
    Webhook {
        url: String,
    },
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A provider that is configured but cannot be used, and why.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub(crate) name: &'static str,
    pub(crate) why: String,
}

fn env(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Builds the enabled providers from the config and the environment.
pub(crate) fn from_config(
    cfg: &NotifyConfig,
    repo_root: &std::path::Path,
) -> (Vec<Provider>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    if cfg.enabled == Enabled::Off {
        return (out, skipped);
    }
    // A provider is wanted when it says so, or when notifications are on
    // (or auto) and its variables are set.
    let wanted = |own: Option<bool>, have_env: bool| match (own, cfg.enabled) {
        (Some(false), _) => false,
        (Some(true), _) => true,
        (None, Enabled::On) | (None, Enabled::Auto) => have_env,
        (None, Enabled::Off) => false,
    };
    let mut need = |name: &'static str,
                    own: Option<bool>,
                    vars: &[(&str, Option<String>)]|
     -> Option<Vec<String>> {
        let have: Vec<Option<String>> = vars.iter().map(|(_, v)| v.clone()).collect();
        let all = have.iter().all(Option::is_some);
        if !wanted(own, all) {
            return None;
        }
        if !all {
            let missing: Vec<&str> = vars
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            skipped.push(Skipped {
                name,
                why: format!("environment variable(s) {} not set", missing.join(", ")),
            });
            return None;
        }
        Some(have.into_iter().flatten().collect())
    };

    let n = &cfg.ntfy;
    if let Some(v) = need(
        "ntfy",
        n.enabled,
        &[(n.topic_env.as_str(), env(&n.topic_env))],
    ) {
        let topic = v[0].clone();
        let token = env(&n.token_env);
        let auth = token.as_ref().map(|t| match t.split_once(':') {
            Some(_) => format!("Basic {}", base64(t.as_bytes())),
            None => format!("Bearer {t}"),
        });
        let mut secrets = vec![topic.clone()];
        secrets.extend(token);
        out.push(Provider {
            name: "ntfy",
            kind: Kind::Ntfy {
                url: format!("{}/{topic}", n.server),
                auth,
            },
            secrets,
        });
    }
    let t = &cfg.telegram;
    if let Some(v) = need(
        "telegram",
        t.enabled,
        &[
            (t.bot_token_env.as_str(), env(&t.bot_token_env)),
            (t.chat_id_env.as_str(), env(&t.chat_id_env)),
        ],
    ) {
        let (token, chat_id) = (v[0].clone(), v[1].clone());
        // Thread: the per-repo map first (as the Python program did), then the
        // fixed id, then the environment.
        let root = std::fs::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_path_buf());
        let thread_id = t
            .thread_id_map
            .iter()
            .find(|(k, _)| {
                let p = std::path::Path::new(k.as_str());
                std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf()) == root
            })
            .map(|(_, v)| *v)
            .or(t.thread_id)
            .or_else(|| {
                t.thread_id_env
                    .as_deref()
                    .and_then(env)
                    .and_then(|v| v.parse().ok())
            });
        out.push(Provider {
            name: "telegram",
            kind: Kind::Telegram {
                url: format!("{}/bot{token}/sendMessage", t.api_base),
                chat_id,
                thread_id,
            },
            secrets: vec![token],
        });
    }
    let d = &cfg.discord;
    if let Some(v) = need(
        "discord",
        d.enabled,
        &[(d.webhook_url_env.as_str(), env(&d.webhook_url_env))],
    ) {
        out.push(Provider {
            name: "discord",
            kind: Kind::Discord { url: v[0].clone() },
            secrets: v,
        });
    }
    let w = &cfg.webhook;
    if let Some(v) = need(
        "webhook",
        w.enabled,
        &[(w.url_env.as_str(), env(&w.url_env))],
    ) {
        out.push(Provider {
            name: "webhook",
            kind: Kind::Webhook { url: v[0].clone() },
            secrets: v,
        });
    }
    (out, skipped)
}

impl Provider {
    /// Sends one notification; returns the provider's message id when it gives one.
    pub(crate) fn send(
        &self,
        n: &Notification,
        timeout: Duration,
    ) -> Result<Option<String>, SendError> {
        let agent = ureq::AgentBuilder::new().timeout(timeout).build();
        let result = match &self.kind {
            Kind::Ntfy { url, auth } => {
                let mut req = agent
                    .post(url)
                    .set("Title", &header_safe(&n.title))
                    .set("Priority", &(n.priority as u8).to_string())
                    .set("Tags", &n.tags.join(","));
                if let Some(c) = &n.click {
                    req = req.set("Click", c);
                }
                if let Some(a) = auth {
                    req = req.set("Authorization", a);
                }
                match super::ntfy_actions_header(&n.actions) {
                    Ok(Some(h)) => req = req.set("Actions", &h),
                    Ok(None) => {}
                    // The message still goes, without its buttons.
                    Err(e) => tracing::warn!(error = %e, "ntfy buttons left out"),
                }
                req.send_string(&n.body).map(|r| json_field(r, &["id"]))
            }
            Kind::Telegram {
                url,
                chat_id,
                thread_id,
            } => {
                let mut text = format!("{}\n\n{}", n.title, n.body);
                if let Some(c) = &n.click {
                    text.push_str(&format!("\n{c}"));
                }
                let mut body = json!({
                    "chat_id": chat_id,
                    "text": truncate(&text, TELEGRAM_MAX_CHARS),
                    "disable_notification": n.priority <= Priority::Low,
                });
                if let Some(t) = thread_id {
                    body["message_thread_id"] = json!(t);
                }
                agent
                    .post(url)
                    .send_json(body)
                    .map(|r| json_field(r, &["result", "message_id"]))
            }
            Kind::Discord { url } => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let text = format!("**{}**\n{}", n.title, n.body);
                agent
                    .post(&format!("{url}{sep}wait=true"))
                    .send_json(json!({"content": truncate(&text, DISCORD_MAX_CHARS)}))
                    .map(|r| json_field(r, &["id"]))
            }
            Kind::Webhook { url } => agent
                .post(url)
                .send_json(json!({
                    "event": n.class,
                    "title": n.title,
                    "body": n.body,
                    "priority": n.priority as u8,
                    "repo": n.repo,
                    "run_id": n.run_id,
                    "url": n.click,
                    "ts": crate::time::iso_millis(crate::time::now()),
                }))
                .map(|_| None),
        };
        result.map_err(|e| {
            let mut err = self.describe(e);
            // An answer that echoes a button's token does not put it in the ledger.
            for a in &n.actions {
                if let super::NotifyAction::Post { bearer, .. } = a {
                    err.message = err.message.replace(bearer.as_str(), "***");
                }
            }
            err
        })
    }

    fn describe(&self, e: ureq::Error) -> SendError {
        let (message, retry_after, permanent) = match e {
            ureq::Error::Status(code, resp) => {
                let header = resp
                    .header("Retry-After")
                    .and_then(|v| v.trim().parse::<u64>().ok());
                let text = resp.into_string().unwrap_or_default();
                let body_retry = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v["parameters"]["retry_after"].as_u64());
                let retry = header
                    .or(body_retry)
                    .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                let permanent = (400..500).contains(&code) && code != 429 && code != 408;
                (
                    format!("HTTP {code}: {}", truncate(text.trim(), 300)),
                    retry,
                    permanent,
                )
            }
            ureq::Error::Transport(t) => {
                // A request car built wrong will not get better by retrying.
                let permanent = matches!(
                    t.kind(),
                    ureq::ErrorKind::BadHeader
                        | ureq::ErrorKind::InvalidUrl
                        | ureq::ErrorKind::UnknownScheme
                );
                (format!("transport error: {}", t.kind()), None, permanent)
            }
        };
        SendError {
            message: self.scrub(&message),
            retry_after,
            permanent,
        }
    }

    /// Removes every secret of this provider from `text`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .filter(|s| s.len() >= 4)
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "***"))
    }
}

fn json_field(r: ureq::Response, path: &[&str]) -> Option<String> {
    let v: serde_json::Value = r.into_json().ok()?;
    let f = path.iter().try_fold(&v, |v, k| v.get(*k))?;
    Some(match f {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// HTTP headers must be one line of ASCII: other text is sent as an RFC 2047
/// encoded word (`=?UTF-8?B?...?=`), which ntfy decodes.
fn header_safe(s: &str) -> String {
    let line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if line.is_ascii() {
        line
    } else {
        format!("=?UTF-8?B?{}?=", base64(line.as_bytes()))
    }
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn non_ascii_titles_are_encoded_words() {
        assert_eq!(header_safe("car: plain"), "car: plain");
        assert_eq!(
            header_safe("café"),
            format!("=?UTF-8?B?{}?=", base64("café".as_bytes()))
        );
        assert_eq!(header_safe("a\nb"), "a b");
    }

    #[test]
    fn an_error_that_echoes_a_buttons_token_is_scrubbed() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; 65536];
            let n = conn.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            let actions = req
                .lines()
                .find_map(|l| l.strip_prefix("Actions: "))
                .unwrap_or_default()
                .to_string();
            let body = format!("invalid actions: {actions}");
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            conn.write_all(resp.as_bytes()).unwrap();
            actions
        });
        let p = Provider {
            name: "ntfy",
            kind: Kind::Ntfy {
                url: format!("http://127.0.0.1:{port}/topic"),
                auth: None,
            },
            secrets: vec![],
        };
        let token = "car_act.r.resume-stop.99.abcdef0123";
        let n = Notification {
            class: crate::notify::NotifyClass::NeedsInput,
            title: "t".into(),
            body: "b".into(),
            priority: Priority::Urgent,
            tags: vec![],
            click: None,
            repo: "r".into(),
            run_id: None,
            actions: vec![super::super::NotifyAction::Post {
                label: "Stop".into(),
                url: "http://h/x".into(),
                bearer: token.into(),
            }],
        };
        let err = p.send(&n, Duration::from_secs(10)).unwrap_err();
        let sent = server.join().unwrap();
        assert!(sent.contains(token), "the header went: {sent}");
        assert!(err.message.contains("HTTP 400"), "{}", err.message);
        assert!(!err.message.contains(token), "{}", err.message);
        assert!(err.message.contains("Bearer ***"), "{}", err.message);
    }

    #[test]
    fn truncation_keeps_the_limit() {
        assert_eq!(truncate("abcdef", 4).chars().count(), 4);
        assert_eq!(truncate("abc", 4), "abc");
    }
}
