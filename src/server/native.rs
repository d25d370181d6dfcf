//! rag's own endpoints: `/v1/search` and `/v1/ask` answer exactly the JSON of
//! `rag search --json` and `rag ask --json`; `/v1/ask` with `"stream": true`
//! sends the answer's events as they come (server-sent events).

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;

use super::error::{parse, ApiError};
use super::service::{finished, progress_stream, Overrides};
use super::AppState;
use crate::results::SearchResponse;
use crate::session::queue::Progress;

/// How often a quiet stream (a long prefill) sends a comment: a client that
/// has gone is noticed at the next write, and its answer stopped.
pub(super) const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// The events of a stream, typed for `Sse`.
pub(super) type Events = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

pub(super) async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub(super) async fn status(
    State(state): State<Arc<AppState>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(state.service.status().await?))
}

#[derive(Deserialize)]
struct SearchBody {
    query: String,
    k: Option<u64>,
    mode: Option<String>,
}

pub(super) async fn search(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<SearchResponse>, ApiError> {
    let body: SearchBody = parse(body)?;
    let found = state
        .service
        .search(body.query, body.k, body.mode.as_deref())
        .await?;
    Ok(Json(found))
}

#[derive(Deserialize)]
struct AskBody {
    question: String,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(flatten)]
    overrides: Overrides,
}

pub(super) async fn ask(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: AskBody = parse(body)?;
    let options = state.service.options(&body.overrides)?;
    let progress = state
        .service
        .ask(None, body.question, Vec::new(), options)?;
    if body.stream == Some(true) {
        let events: Events = Box::pin(progress_stream(progress).map(ask_event));
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response());
    }
    Ok(Json(finished(progress).await?).into_response())
}

/// One answer event as the terminal gets it, named by its kind.
fn ask_event(progress: Progress) -> Result<Event, Infallible> {
    let (name, data) = match progress {
        Progress::Retrieved { sources, refused } => (
            "retrieved",
            serde_json::json!({ "sources": sources, "refused": refused }),
        ),
        Progress::Thinking(text) => ("thinking", serde_json::json!({ "text": text })),
        Progress::Token(text) => ("token", serde_json::json!({ "text": text })),
        Progress::Done(answer) => ("done", serde_json::to_value(&answer).unwrap_or_default()),
        Progress::Failed(message) => ("error", ApiError::internal(message).json()),
    };
    Ok(Event::default().event(name).data(data.to_string()))
}
