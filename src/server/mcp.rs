//! The Model Context Protocol door: tools `search`, `ask` and `status` for
//! agents and editors, over stdio (`rag mcp`) or streamable HTTP (`/mcp` of
//! `rag serve`), on the official SDK.

use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool, tool_handler, tool_router, ServerHandler, ServiceExt};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use super::service::{finished, Overrides, Service};
use crate::assistant::Answer;
use crate::results::SearchResponse;

/// Passages a search returns when the agent does not say.
const SEARCH_K: u64 = 5;

#[derive(Clone)]
pub struct RagTools {
    service: Arc<Service>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchParams {
    /// What to look for, in words (a question works too).
    pub query: String,
    /// How many passages to return (default 5).
    pub k: Option<u64>,
    /// "hybrid" (keywords and meaning; the default), "bm25" (keywords only) or "vector" (meaning only).
    pub mode: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AskParams {
    /// The question, in the user's words.
    pub question: String,
}

#[tool_router]
impl RagTools {
    pub fn new(service: Arc<Service>) -> Self {
        RagTools { service }
    }

    #[tool(
        description = "Search the user's own indexed documents (notes, docs, code) on this machine. Returns the best passages, each with its file path, line range, heading and text."
    )]
    async fn search(&self, Parameters(params): Parameters<SearchParams>) -> CallToolResult {
        let found = self
            .service
            .search(
                params.query,
                Some(params.k.unwrap_or(SEARCH_K)),
                params.mode.as_deref(),
            )
            .await;
        match found {
            Ok(found) => with_text(json!(found), search_text(&found)),
            Err(error) => failed(&error),
        }
    }

    #[tool(
        description = "Answer a question from the user's own indexed documents with a local model. Returns the answer with [n] citations, each source's path, lines and the quoted sentence, or says plainly that the documents do not hold the answer."
    )]
    async fn ask(&self, Parameters(params): Parameters<AskParams>) -> CallToolResult {
        let answered = async {
            let options = self.service.options(&Overrides::default())?;
            let progress = self
                .service
                .ask(None, params.question, Vec::new(), options)?;
            finished(progress).await
        }
        .await;
        match answered {
            Ok(answer) => with_text(
                json!({
                    "answer": answer.answer,
                    "refused": answer.refused,
                    "refusal": answer.refusal,
                    "citations": answer.citations,
                    "sources": answer.sources,
                }),
                answer_text(&answer),
            ),
            Err(error) => failed(&error),
        }
    }

    #[tool(
        description = "What the document index holds: files, passages, folders, when it was last updated, and the models in use."
    )]
    async fn status(&self) -> CallToolResult {
        match self.service.status().await {
            Ok(status) => CallToolResult::structured(status),
            Err(error) => failed(&error),
        }
    }
}

#[tool_handler]
impl ServerHandler for RagTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rag", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "rag answers from the user's own documents, indexed on this machine. Use `search` to find passages, `ask` for an answer with citations; cite the paths it returns.",
            )
    }
}

/// Structured content with readable text for the model that reads it.
fn with_text(value: serde_json::Value, text: String) -> CallToolResult {
    let mut result = CallToolResult::structured(value);
    result.content = vec![ContentBlock::text(text)];
    result
}

fn failed(error: &ApiError) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(error.message.clone())])
}

fn search_text(found: &SearchResponse) -> String {
    if found.results.is_empty() {
        return "No passage matches.".into();
    }
    found
        .results
        .iter()
        .map(|row| {
            format!(
                "[{}] {}  {}\n{}",
                row.rank,
                row.cited_at,
                row.heading,
                row.text.trim()
            )
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn answer_text(answer: &Answer) -> String {
    let mut text = answer.answer.trim().to_string();
    if !answer.citations.is_empty() {
        text.push_str("\n\nSources:");
        for citation in &answer.citations {
            text.push_str(&format!("\n[{}] {}", citation.n, citation.span()));
            if let Some(quote) = &citation.quote {
                text.push_str(&format!(" \"{quote}\""));
            }
        }
    }
    text
}

/// Serves the tools on stdin and stdout until the client closes them.
pub async fn serve_stdio(service: Arc<Service>) -> Result<(), String> {
    let running = RagTools::new(service)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("the MCP session did not start: {e}"))?;
    running
        .waiting()
        .await
        .map(|_| ())
        .map_err(|e| format!("the MCP session failed: {e}"))
}

/// The tools over streamable HTTP, for `/mcp`. Only loopback `Host` headers
/// are accepted unless `any_host` (a server bound to another address).
pub fn http_service(
    service: Arc<Service>,
    any_host: bool,
) -> StreamableHttpService<RagTools, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default();
    if any_host {
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(RagTools::new(Arc::clone(&service))),
        Default::default(),
        config,
    )
}
