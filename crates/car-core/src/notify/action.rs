//! A button of a notification, and how ntfy's `Actions` header spells the
//! buttons (its "simple" format: `action, label, url, key=value, ...`,
//! actions separated by `;`, at most three).

use serde::{Deserialize, Serialize};

/// The most buttons ntfy shows (it refuses a message with more).
pub const NTFY_MAX_ACTIONS: usize = 3;

/// A button of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NotifyAction {
    /// Opens `url` (in a browser).
    View {
        /// The button's text.
        label: String,
        /// What it opens.
        url: String,
    },
    /// Sends `POST url` with `Authorization: Bearer <bearer>` and no body,
    /// then dismisses the notification.
    Post {
        /// The button's text.
        label: String,
        /// What it calls.
        url: String,
        /// The token sent.
        bearer: String,
    },
}

/// Why buttons cannot be written as an `Actions` header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionsHeaderError {
    /// More than ntfy takes.
    #[error("ntfy takes at most {NTFY_MAX_ACTIONS} actions, not {0}")]
    TooMany(usize),
    /// A header value must be ASCII on one line.
    #[error("{0:?} is not printable ASCII")]
    NotAscii(String),
    /// ntfy's format cannot quote a value holding both quote characters.
    #[error("{0:?} holds both ' and \" and cannot be quoted for ntfy")]
    Unquotable(String),
}

/// The `Actions` header of `actions`, `None` when there are none.
pub fn ntfy_actions_header(actions: &[NotifyAction]) -> Result<Option<String>, ActionsHeaderError> {
    if actions.is_empty() {
        return Ok(None);
    }
    if actions.len() > NTFY_MAX_ACTIONS {
        return Err(ActionsHeaderError::TooMany(actions.len()));
    }
    let mut out = Vec::new();
    for a in actions {
        let fields = match a {
            NotifyAction::View { label, url } => {
                vec![
                    "view".to_string(),
                    quote(label)?,
                    format!("url={}", quote(url)?),
                ]
            }
            NotifyAction::Post { label, url, bearer } => vec![
                "http".to_string(),
                quote(label)?,
                format!("url={}", quote(url)?),
                "method=POST".to_string(),
                format!(
                    "headers.Authorization={}",
                    quote(&format!("Bearer {bearer}"))?
                ),
                "clear=true".to_string(),
            ],
        };
        out.push(fields.join(", "));
    }
    Ok(Some(out.join("; ")))
}

/// A value as ntfy reads it back: bare when it holds no `,` `;` or quote
/// and no space at its ends (ntfy ends a bare value at `,` or `;`), else
/// in double quotes, or single quotes when it holds a double one (ntfy
/// keeps a backslash before a quote, so escaping cannot be used).
fn quote(v: &str) -> Result<String, ActionsHeaderError> {
    if !v.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return Err(ActionsHeaderError::NotAscii(v.to_string()));
    }
    let special = |c: char| matches!(c, ',' | ';' | '"' | '\'');
    if !v.is_empty() && !v.contains(special) && v.trim() == v {
        return Ok(v.to_string());
    }
    match (v.contains('"'), v.contains('\'')) {
        (false, _) => Ok(format!("\"{v}\"")),
        (true, false) => Ok(format!("'{v}'")),
        (true, true) => Err(ActionsHeaderError::Unquotable(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(label: &str, url: &str) -> NotifyAction {
        NotifyAction::Post {
            label: label.into(),
            url: url.into(),
            bearer: "car_act.r.resume.9.ab".into(),
        }
    }

    #[test]
    fn the_header_names_each_button_in_ntfys_simple_format() {
        let h = ntfy_actions_header(&[
            NotifyAction::View {
                label: "Answer".into(),
                url: "https://car.example/repos/r#answer".into(),
            },
            post("Resume", "https://car.example/api/v1/repos/r/loop/resume"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            h,
            "view, Answer, url=https://car.example/repos/r#answer; \
             http, Resume, url=https://car.example/api/v1/repos/r/loop/resume, method=POST, \
             headers.Authorization=Bearer car_act.r.resume.9.ab, clear=true"
        );
        assert_eq!(ntfy_actions_header(&[]).unwrap(), None);
    }

    #[test]
    fn commas_semicolons_and_quotes_are_quoted() {
        assert_eq!(quote("Resume").unwrap(), "Resume");
        assert_eq!(quote("Stop, now").unwrap(), "\"Stop, now\"");
        assert_eq!(quote("a;b").unwrap(), "\"a;b\"");
        assert_eq!(quote("say \"hi\"").unwrap(), "'say \"hi\"'");
        assert_eq!(quote("it's").unwrap(), "\"it's\"");
        assert_eq!(quote(" padded").unwrap(), "\" padded\"");
        assert_eq!(quote("").unwrap(), "\"\"");
        assert!(matches!(
            quote("both ' and \""),
            Err(ActionsHeaderError::Unquotable(_))
        ));
        assert!(matches!(
            quote("café"),
            Err(ActionsHeaderError::NotAscii(_))
        ));
        assert!(matches!(
            quote("a\nb"),
            Err(ActionsHeaderError::NotAscii(_))
        ));
        let h = ntfy_actions_header(&[post("Go, now", "https://h/x;y")])
            .unwrap()
            .unwrap();
        assert!(
            h.starts_with("http, \"Go, now\", url=\"https://h/x;y\", method=POST"),
            "{h}"
        );
    }

    #[test]
    fn more_than_three_buttons_are_refused() {
        let four = vec![post("a", "https://h/a"); 4];
        assert_eq!(
            ntfy_actions_header(&four),
            Err(ActionsHeaderError::TooMany(4))
        );
    }
}
