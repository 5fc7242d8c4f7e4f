//! Speech to text, bring your own key: a recording is forwarded as
//! `multipart/form-data` (`file`, `model`) to an OpenAI-compatible
//! `{voice.base_url}/audio/transcriptions` with `Authorization: Bearer`
//! and the key read from the variable `voice.api_key_env` at each request.
//! Neither the key nor the audio is ever logged or put in an answer.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use car_core::VoiceConfig;

use crate::error::ApiError;

/// The longest part of an endpoint's error text put in our message.
const MAX_MESSAGE: usize = 500;

/// Why a recording was not transcribed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VoiceError {
    /// `voice.enabled` is false.
    #[error("voice input is turned off (voice.enabled is false)")]
    Disabled,
    /// The key variable is not set.
    #[error(
        "voice input needs a transcription key: set the environment variable {var} (named by voice.api_key_env) where car serve runs"
    )]
    NoKey { var: String },
    /// The recording's type is not audio.
    #[error(
        "the recording's Content-Type is {got:?}; expected an audio type such as audio/webm, audio/ogg, audio/mp4, audio/mpeg or audio/wav"
    )]
    NotAudio { got: String },
    /// No bytes.
    #[error("the recording is empty")]
    Empty,
    /// Over `voice.max_bytes`.
    #[error("the recording is more than voice.max_bytes ({max} bytes)")]
    TooLarge { max: u64 },
    /// No answer within `voice.timeout_seconds`.
    #[error(
        "the transcription endpoint {url} did not answer within {secs} s (voice.timeout_seconds)"
    )]
    Timeout { url: String, secs: u64 },
    /// Connection refused, DNS, TLS...
    #[error("cannot reach the transcription endpoint {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The endpoint answered an error status.
    #[error("the transcription endpoint {url} answered {status}: {message}")]
    Endpoint {
        url: String,
        status: u16,
        message: String,
    },
    /// A 2xx answer without a `text`.
    #[error("the transcription endpoint {url} answered without a text: {reason}")]
    BadAnswer { url: String, reason: String },
}

impl From<VoiceError> for ApiError {
    fn from(e: VoiceError) -> Self {
        let (status, kind) = match &e {
            VoiceError::Disabled | VoiceError::NoKey { .. } => {
                (StatusCode::CONFLICT, "not_configured")
            }
            VoiceError::NotAudio { .. } => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_request"),
            VoiceError::Empty => (StatusCode::BAD_REQUEST, "bad_request"),
            VoiceError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            VoiceError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "upstream"),
            VoiceError::Unreachable { .. }
            | VoiceError::Endpoint { .. }
            | VoiceError::BadAnswer { .. } => (StatusCode::BAD_GATEWAY, "upstream"),
        };
        ApiError::new(status, kind, e.to_string())
    }
}

/// The key, when voice input is on and its variable is set (non-empty).
pub(crate) fn key(cfg: &VoiceConfig) -> Result<String, VoiceError> {
    if !cfg.enabled {
        return Err(VoiceError::Disabled);
    }
    std::env::var(&cfg.api_key_env)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| VoiceError::NoKey {
            var: cfg.api_key_env.clone(),
        })
}

/// Whether the pages show the microphone.
pub(crate) fn available(cfg: &VoiceConfig) -> bool {
    key(cfg).is_ok()
}

/// The file name the endpoint sees (it tells the format by the
/// extension) for a Content-Type; `Err` when it is not audio.
pub(crate) fn file_name(content_type: &str) -> Result<&'static str, VoiceError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    Ok(match essence.as_str() {
        "audio/webm" | "video/webm" => "voice.webm",
        "audio/ogg" | "audio/opus" | "video/ogg" => "voice.ogg",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "video/mp4" | "audio/aac" => "voice.m4a",
        "audio/mpeg" | "audio/mp3" => "voice.mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" => "voice.wav",
        "audio/flac" | "audio/x-flac" => "voice.flac",
        _ => {
            return Err(VoiceError::NotAudio {
                got: content_type.to_string(),
            });
        }
    })
}

/// The multipart body: `model`, then `file` (named `name`, of type
/// `content_type`); and its Content-Type with the boundary.
pub(crate) fn multipart(
    model: &str,
    name: &str,
    content_type: &str,
    audio: &[u8],
) -> (Vec<u8>, String) {
    let boundary = format!(
        "car-voice-{}",
        crate::sessions::random_secret().unwrap_or_else(|_| format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ))
    );
    let ctype = content_type.replace(['\r', '\n', '"'], "");
    let mut body = Vec::with_capacity(audio.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n{model}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"response_format\"\r\n\r\njson\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: {ctype}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(audio);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

/// Sends `audio` to the endpoint and returns its text (blocking: call it
/// on a blocking thread).
pub(crate) fn transcribe(
    cfg: &VoiceConfig,
    key: &str,
    content_type: &str,
    audio: &[u8],
) -> Result<String, VoiceError> {
    let name = file_name(content_type)?;
    let url = format!("{}/audio/transcriptions", cfg.base_url);
    let (body, multipart_type) = multipart(&cfg.model, name, content_type, audio);
    let agent = ureq::AgentBuilder::new().timeout(cfg.timeout).build();
    let started = Instant::now();
    let answer = agent
        .post(&url)
        .set("Authorization", &format!("Bearer {key}"))
        .set("Content-Type", &multipart_type)
        .set("Accept", "application/json")
        .send_bytes(&body);
    let resp = match answer {
        Ok(r) => r,
        Err(ureq::Error::Status(status, r)) => {
            let text = r.into_string().unwrap_or_default();
            return Err(VoiceError::Endpoint {
                url,
                status,
                message: endpoint_message(&text),
            });
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(if timed_out(&t, started.elapsed(), cfg.timeout) {
                VoiceError::Timeout {
                    url,
                    secs: cfg.timeout.as_secs().max(1),
                }
            } else {
                VoiceError::Unreachable {
                    url,
                    reason: t.to_string(),
                }
            });
        }
    };
    let text = resp.into_string().map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock {
            VoiceError::Timeout {
                url: url.clone(),
                secs: cfg.timeout.as_secs().max(1),
            }
        } else {
            VoiceError::BadAnswer {
                url: url.clone(),
                reason: e.to_string(),
            }
        }
    })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| VoiceError::BadAnswer {
            url: url.clone(),
            reason: format!("not JSON ({e})"),
        })?;
    match json.get("text").and_then(serde_json::Value::as_str) {
        Some(t) => Ok(t.trim().to_string()),
        None => Err(VoiceError::BadAnswer {
            url,
            reason: "no `text` field".into(),
        }),
    }
}

/// Whether a transport error is the timeout.
fn timed_out(t: &ureq::Transport, elapsed: Duration, timeout: Duration) -> bool {
    let mut source = std::error::Error::source(t);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        {
            return true;
        }
        source = s.source();
    }
    elapsed + Duration::from_millis(50) >= timeout
}

/// The endpoint's own words: `error.message` (OpenAI's shape), `error`
/// or `message` as text, else the body, cut to [`MAX_MESSAGE`] characters.
fn endpoint_message(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let found = json
        .pointer("/error/message")
        .or_else(|| json.get("error"))
        .or_else(|| json.get("message"))
        .or_else(|| json.get("detail"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let text = found.unwrap_or_else(|| body.trim().to_string());
    let text = if text.is_empty() {
        "(no message)".to_string()
    } else {
        text
    };
    if text.chars().count() > MAX_MESSAGE {
        let cut: String = text.chars().take(MAX_MESSAGE).collect();
        format!("{cut}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_follows_the_type_and_other_types_are_refused() {
        assert_eq!(file_name("audio/webm;codecs=opus").unwrap(), "voice.webm");
        assert_eq!(file_name("Audio/OGG; codecs=opus").unwrap(), "voice.ogg");
        assert_eq!(file_name("audio/mp4").unwrap(), "voice.m4a");
        let e = file_name("application/json").unwrap_err().to_string();
        assert!(
            e.contains("application/json") && e.contains("audio/webm"),
            "{e}"
        );
    }

    #[test]
    fn the_multipart_body_has_the_model_and_the_file() {
        let (body, ctype) = multipart("whisper-1", "voice.webm", "audio/webm", b"\x00\x01abc");
        let boundary = ctype
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"));
        assert!(text.contains(
            "name=\"file\"; filename=\"voice.webm\"\r\nContent-Type: audio/webm\r\n\r\n\u{0}\u{1}abc\r\n"
        ));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
    }

    #[test]
    fn the_endpoints_message_is_found_in_its_usual_shapes() {
        assert_eq!(
            endpoint_message(r#"{"error":{"message":"bad key","type":"x"}}"#),
            "bad key"
        );
        assert_eq!(endpoint_message(r#"{"detail":"nope"}"#), "nope");
        assert_eq!(endpoint_message("plain words\n"), "plain words");
        assert_eq!(endpoint_message(""), "(no message)");
        assert!(endpoint_message(&"x".repeat(2000)).chars().count() <= MAX_MESSAGE + 1);
    }
}
