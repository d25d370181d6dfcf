//! `rag serve`: the engine as a local HTTP service. One loaded model answers
//! one question at a time from a bounded queue ([`crate::session::queue`]); searches and
//! embeddings run beside it. Endpoints: OpenAI's chat completions, models and
//! embeddings ([`openai`]), and rag's own search, ask and status ([`native`]),
//! each answering errors in OpenAI's shape ([`error`]).

mod error;
pub mod mcp;
mod native;
mod openai;
mod service;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};

pub use error::ApiError;
pub use service::{finished, Overrides, Service};

/// A request body larger than this is refused (413) before it is read whole:
/// a conversation of thousands of turns fits, a pasted book does not.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A client that has not sent its whole request body by then is cut off.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Who may call the HTTP API, beyond the engine it serves.
#[derive(Default)]
pub struct Access {
    /// Requests must carry `Authorization: Bearer KEY` when set.
    pub api_key: Option<String>,
    /// The one browser origin allowed to call the API (CORS), when set.
    pub cors_origin: Option<HeaderValue>,
    /// Served on an address other than loopback: MCP then takes any `Host`.
    pub any_host: bool,
}

struct AppState {
    service: Arc<Service>,
    key_digest: Option<[u8; 32]>,
}

/// The routes of `rag serve` over `service`: the OpenAI API, rag's own, MCP
/// at `/mcp`, and the page.
pub fn router(service: Arc<Service>, access: Access) -> Router {
    let state = Arc::new(AppState {
        key_digest: access.api_key.as_deref().map(digest),
        service: Arc::clone(&service),
    });
    let api = Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/models", get(openai::models))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/search", post(native::search))
        .route("/v1/ask", post(native::ask))
        .route("/v1/status", get(native::status))
        .nest_service("/mcp", mcp::http_service(service, access.any_host))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            require_key,
        ));
    let mut app = Router::new()
        .route("/", get(page))
        .route("/health", get(native::health))
        .merge(api)
        .fallback(|request: Request| async move {
            ApiError::not_found(request.uri().path()).into_response()
        })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            BODY_TIMEOUT,
        ))
        .with_state(state);
    if let Some(origin) = access.cors_origin {
        app = app.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
        );
    }
    app
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The chat page: one self-contained file, nothing fetched from elsewhere.
async fn page() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        )],
        Html(include_str!("page.html")),
    )
}

async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(expected) = &state.key_digest else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|key| digest(key.trim()));
    match given {
        Some(given) if same(&given, expected) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Compares digests in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_by_digest() {
        assert!(same(&digest("secret"), &digest("secret")));
        assert!(!same(&digest("secret"), &digest("secreT")));
        assert!(!same(&digest(""), &digest("secret")));
    }
}
