//! `POST /api/v1/repos/{id}/voice/transcribe`: a recording (the body,
//! with its audio Content-Type) forwarded to the configured transcription
//! endpoint (see `crate::voice`); answers `{text}`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::blocking;
use crate::error::ApiError;
use crate::state::AppState;
use crate::voice::{self, VoiceError};

/// What was said.
#[derive(Debug, Serialize, ToSchema)]
pub struct Transcript {
    /// The endpoint's text, trimmed.
    pub text: String,
}

/// A recording's bytes, of the audio type its Content-Type names.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct Audio(Vec<u8>);

/// Transcribes a recording: the body is the audio (at most
/// `voice.max_bytes`), its Content-Type an audio type (`audio/webm`,
/// `audio/ogg`, `audio/mp4`, `audio/mpeg`, `audio/wav`, `audio/flac`).
/// It is sent with `voice.model` to `{voice.base_url}/audio/transcriptions`
/// with the key from the variable `voice.api_key_env`; nothing is kept.
#[utoipa::path(post, path = "/api/v1/repos/{id}/voice/transcribe", tag = "repos",
    params(("id" = String, Path, description = "repository id")),
    request_body(content = Audio, content_type = "audio/webm", description = "the recording, any audio type"),
    responses((status = 200, body = Transcript),
              (status = 400, body = crate::ErrorBody, description = "an empty recording"),
              (status = 404, body = crate::ErrorBody, description = "no such repository"),
              (status = 413, body = crate::ErrorBody, description = "more than voice.max_bytes"),
              (status = 415, body = crate::ErrorBody, description = "not an audio type"),
              (status = 502, body = crate::ErrorBody, description = "the endpoint is unreachable or answered an error (its message)"),
              (status = 409, body = crate::ErrorBody, description = "voice is off, or the key variable is not set (named)"),
              (status = 504, body = crate::ErrorBody, description = "no answer within voice.timeout_seconds")))]
pub(crate) async fn transcribe(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Transcript>, ApiError> {
    let repo = state.repo(&id)?;
    let cfg = repo.config().voice.clone();
    let key = voice::key(&cfg)?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    voice::file_name(&content_type)?;
    let too_large = || VoiceError::TooLarge { max: cfg.max_bytes };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > cfg.max_bytes) {
        return Err(too_large().into());
    }
    let mut audio = Vec::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the recording: {e}")))?;
        if (audio.len() + chunk.len()) as u64 > cfg.max_bytes {
            return Err(too_large().into());
        }
        audio.extend_from_slice(&chunk);
    }
    if audio.is_empty() {
        return Err(VoiceError::Empty.into());
    }
    let text = blocking(move || Ok(voice::transcribe(&cfg, &key, &content_type, &audio)?)).await?;
    Ok(Json(Transcript { text }))
}
