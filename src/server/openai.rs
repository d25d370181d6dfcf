//! OpenAI's API as its clients call it: chat completions (plain and streamed),
//! models and embeddings. The answer keeps its `[n]` marks; its sources,
//! citations with their quotes and a refusal flag travel in an extra `rag`
//! field that plain clients ignore.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use futures_util::{stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::{parse, ApiError};
use super::native::{Events, KEEP_ALIVE};
use super::service::{finished, unix_now, Overrides, Service};
use super::AppState;
use crate::assistant::{Answer, Turn};
use crate::session::queue::Progress;

/// Stop strings a request may give, as OpenAI allows.
const MAX_STOP_STRINGS: usize = 4;
const MAX_STOP_CHARS: usize = 200;
/// Texts one embeddings request may give.
const MAX_EMBEDDING_INPUTS: usize = 2048;

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Vec<ChatMessage>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    max_completion_tokens: Option<u64>,
    stop: Option<Stop>,
    n: Option<u64>,
    #[serde(flatten)]
    overrides: Overrides,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Content {
    fn text(&self) -> Result<String, ApiError> {
        match self {
            Content::Text(text) => Ok(text.clone()),
            Content::Parts(parts) => parts
                .iter()
                .map(|part| match (part.kind.as_str(), &part.text) {
                    ("text", Some(text)) => Ok(text.as_str()),
                    (kind, _) => Err(ApiError::param(
                        "messages",
                        format!("message parts of type `{kind}` are not supported: rag answers text questions from text documents"),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|texts| texts.join("\n")),
        }
    }
}

/// The question (the last message, the user's) and the conversation before it.
fn conversation(messages: &[ChatMessage]) -> Result<(String, Vec<Turn>), ApiError> {
    let mut turns = Vec::new();
    let mut asked: Option<String> = None;
    let mut last_user = None;
    for (i, message) in messages.iter().enumerate() {
        let text = match &message.content {
            Some(content) => content.text()?,
            None => String::new(),
        };
        match message.role.as_str() {
            "user" => {
                asked = Some(text);
                last_user = Some(i);
            }
            "assistant" => {
                if let Some(question) = asked.take() {
                    turns.push(Turn {
                        question,
                        answer: text,
                    });
                }
            }
            // The instruction is rag's own (answer from the sources, cite
            // them); tool turns have no place in an open-book answer.
            "system" | "developer" | "tool" | "function" => {}
            other => {
                return Err(ApiError::param(
                    "messages",
                    format!("unknown message role `{other}` (user, assistant, system)"),
                ))
            }
        }
    }
    match (asked, last_user) {
        (Some(question), Some(i)) if messages[i + 1..].iter().all(|m| m.role != "assistant") => {
            Ok((question, turns))
        }
        _ => Err(ApiError::param(
            "messages",
            "the last message must be the user's question",
        )),
    }
}

/// The installed model a request names, as the catalogue spells it.
fn installed_model(
    named: &str,
    installed: &[String],
    service: &Service,
) -> Result<String, ApiError> {
    if let Some(found) = installed.iter().find(|m| m.eq_ignore_ascii_case(named)) {
        return Ok(found.clone());
    }
    let installed = installed.join(", ");
    if named == service.embedding_model() {
        let why = format!(
            "`{named}` is the embedding model (for /v1/embeddings); answers come from {installed}"
        );
        return Err(ApiError::param("model", why));
    }
    Err(ApiError::unknown_model(named, &installed))
}

pub(super) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let mut request: ChatRequest = parse(body)?;
    let service = &state.service;
    let installed = service.models();
    let model = match request.model.as_deref().filter(|named| !named.is_empty()) {
        None => None,
        Some(named) => Some(installed_model(named, &installed, service)?),
    };
    if request.n.is_some_and(|n| n != 1) {
        return Err(ApiError::param("n", "n must be 1: one answer per request"));
    }
    if request.messages.is_empty() {
        return Err(ApiError::param(
            "messages",
            "messages is empty: send the question as a user message",
        ));
    }
    let (question, history) = conversation(&request.messages)?;
    if request.max_completion_tokens.is_some() {
        request.overrides.max_tokens = request.max_completion_tokens;
    }
    let mut options = service.options(&request.overrides)?;
    options.generate.stop_strings = stop_strings(request.stop)?;
    let answering = model.clone().unwrap_or_else(|| installed[0].clone());
    let progress = service
        .ask(model, question, history, options)
        .map_err(|error| error.for_param("messages"))?;
    let id = completion_id();
    if request.stream == Some(true) {
        let usage = request.stream_options.is_some_and(|o| o.include_usage);
        let events = stream_chunks(progress, id, answering, usage);
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response());
    }
    let answer = finished(progress).await?;
    Ok(Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": unix_now(),
        "model": answer.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": answer.answer },
            "finish_reason": finish_reason(&answer),
            "logprobs": null,
        }],
        "usage": usage(&answer),
        "rag": rag_field(&answer),
    }))
    .into_response())
}

fn stop_strings(stop: Option<Stop>) -> Result<Vec<String>, ApiError> {
    let stop = match stop {
        None => Vec::new(),
        Some(Stop::One(one)) => vec![one],
        Some(Stop::Many(many)) => many,
    };
    if stop.len() > MAX_STOP_STRINGS {
        return Err(ApiError::param(
            "stop",
            format!("stop takes at most {MAX_STOP_STRINGS} strings"),
        ));
    }
    if stop
        .iter()
        .any(|s| s.is_empty() || s.chars().count() > MAX_STOP_CHARS)
    {
        return Err(ApiError::param(
            "stop",
            format!("each stop string must have 1 to {MAX_STOP_CHARS} characters"),
        ));
    }
    Ok(stop)
}

/// OpenAI's chunks: the role, the answer's pieces, the finish reason with the
/// `rag` field, usage when asked, then `[DONE]`.
fn stream_chunks(
    progress: UnboundedReceiver<Progress>,
    id: String,
    model: String,
    include_usage: bool,
) -> Events {
    let created = unix_now();
    let chunk = move |delta: Value, finish: Option<&str>, extra: Option<(&str, Value)>| {
        let mut value = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish, "logprobs": null }],
        });
        if let Some((key, extra)) = extra {
            if key == "usage" {
                value["choices"] = json!([]);
            }
            value[key] = extra;
        }
        Event::default().data(value.to_string())
    };
    let opening = chunk(json!({ "role": "assistant", "content": "" }), None, None);
    let mut streamed = false;
    let body = super::service::progress_stream(progress).flat_map(move |event| {
        let events = match event {
            Progress::Token(text) => {
                streamed = true;
                vec![chunk(json!({ "content": text }), None, None)]
            }
            Progress::Retrieved { .. } | Progress::Thinking(_) => Vec::new(),
            Progress::Done(answer) => {
                let mut events = Vec::new();
                if !streamed && !answer.answer.is_empty() {
                    events.push(chunk(json!({ "content": answer.answer }), None, None));
                }
                events.push(chunk(
                    json!({}),
                    Some(finish_reason(&answer)),
                    Some(("rag", rag_field(&answer))),
                ));
                if include_usage {
                    events.push(chunk(json!({}), None, Some(("usage", usage(&answer)))));
                }
                events.push(Event::default().data("[DONE]"));
                events
            }
            Progress::Failed(message) => vec![
                Event::default().data(ApiError::internal(message).json().to_string()),
                Event::default().data("[DONE]"),
            ],
        };
        stream::iter(events.into_iter().map(Ok))
    });
    Box::pin(stream::once(async { Ok(opening) }).chain(body))
}

fn finish_reason(answer: &Answer) -> &'static str {
    if answer.truncated {
        "length"
    } else {
        "stop"
    }
}

fn usage(answer: &Answer) -> Value {
    json!({
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.generated_tokens,
        "total_tokens": answer.prompt_tokens + answer.generated_tokens,
    })
}

/// What a rag-aware client shows beside the answer.
fn rag_field(answer: &Answer) -> Value {
    json!({
        "refused": answer.refused,
        "refusal": answer.refusal,
        "truncated": answer.truncated,
        "unsupported": answer.unsupported,
        "citations": answer.citations,
        "sources": answer.sources,
        "timings": answer.timings,
    })
}

fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "chatcmpl-{nanos:x}{:04x}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The installed answering models, the one loaded first, then the index's
/// embedding model (for /v1/embeddings).
pub(super) async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
    let service = &state.service;
    let listed = |id: &str| json!({ "id": id, "object": "model", "created": service.started(), "owned_by": "rag" });
    let mut data: Vec<Value> = service.models().iter().map(|m| listed(m)).collect();
    data.push(listed(&service.embedding_model()));
    Json(json!({ "object": "list", "data": data }))
}

#[derive(Deserialize)]
struct EmbeddingsRequest {
    input: Input,
    model: Option<String>,
    encoding_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<String>),
}

pub(super) async fn embeddings(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: EmbeddingsRequest = parse(body)?;
    let service = &state.service;
    let model = service.embedding_model().to_string();
    if let Some(named) = request.model.as_deref() {
        let full = service.session().embedding_model_id();
        if !named.is_empty() && named != model && named != full {
            return Err(ApiError::unknown_model(named, &model));
        }
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::param(
                "encoding_format",
                format!("encoding_format `{other}` is not one of float, base64"),
            ))
        }
    };
    let texts = match request.input {
        Input::One(text) => vec![text],
        Input::Many(texts) => texts,
    };
    if texts.is_empty() || texts.len() > MAX_EMBEDDING_INPUTS {
        return Err(ApiError::param(
            "input",
            format!("input must hold 1 to {MAX_EMBEDDING_INPUTS} texts"),
        ));
    }
    let (vectors, tokens) = service.embed(texts).await?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, vector)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })))
}
