//! The connection both sides share: a small runtime driving the async SDK,
//! the mapping of its errors to rag's, and the helpers for filters and rows.

use std::collections::HashMap;
use std::time::Duration;

use milvus::v2::error::Error as SdkError;
use milvus::v2::prelude::*;
use rag_index::Error;

use crate::url::MilvusUrl;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RPC_TIMEOUT: Duration = Duration::from_secs(120);
/// The most rows one query asks for: real Milvus caps offset + limit at 16384.
pub(crate) const QUERY_LIMIT: i64 = 16_384;

/// A client and the runtime its calls run on (the traits are sync).
pub(crate) struct Conn {
    pub runtime: tokio::runtime::Runtime,
    pub client: ClientV2,
    pub url: MilvusUrl,
}

impl Conn {
    pub fn open(url: &MilvusUrl, token: Option<&str>) -> rag_index::Result<Self> {
        let location = url.to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| Error::Unreachable {
                location: location.clone(),
                reason: format!("cannot start the client's runtime: {e}"),
            })?;
        let mut config = ConnectConfig::new()
            .uri(url.endpoint())
            .connect_timeout(CONNECT_TIMEOUT)
            .rpc_timeout(RPC_TIMEOUT)
            // milvus-lite answers the heartbeat with UNIMPLEMENTED; nothing needs it.
            .telemetry(TelemetryConfig::new().enabled(false));
        if let Some(token) = token {
            config = config.token(token);
        }
        let client = runtime
            .block_on(ClientV2::new(&config))
            .map_err(|e| sdk_error(&location, "connecting", e))?;
        Ok(Conn {
            runtime,
            client,
            url: url.clone(),
        })
    }

    pub fn location(&self) -> String {
        self.url.to_string()
    }

    /// Maps an SDK error met while doing `action`.
    pub fn err(&self, action: &str) -> impl Fn(SdkError) -> Error + '_ {
        let action = action.to_string();
        move |e| sdk_error(&self.location(), &action, e)
    }

    pub fn has_collection(&self, name: &str) -> rag_index::Result<bool> {
        let request = HasCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(self.err("checking the collection"))?;
        self.runtime
            .block_on(self.client.has_collection(request))
            .map(|r| r.exists())
            .map_err(self.err("checking the collection"))
    }

    pub fn describe(&self, name: &str) -> rag_index::Result<CollectionDesc> {
        let action = format!("describing {name}");
        let request = DescribeCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(self.err(&action))?;
        self.runtime
            .block_on(self.client.describe_collection(request))
            .map(|r| r.description().clone())
            .map_err(self.err(&action))
    }

    pub fn load(&self, name: &str) -> rag_index::Result<()> {
        let action = format!("loading {name}");
        let request = LoadCollectionRequest::builder()
            .collection_name(name)
            .build()
            .map_err(self.err(&action))?;
        self.runtime
            .block_on(self.client.load_collection(request))
            .map_err(self.err(&action))
    }

    /// Rows of `collection` matching `filter` (all rows when empty).
    pub fn count(
        &self,
        collection: &str,
        filter: &str,
        consistency: Option<ConsistencyLevel>,
    ) -> rag_index::Result<usize> {
        self.runtime
            .block_on(count(&self.client, collection, filter, consistency))
            .map_err(self.err("counting rows"))
    }

    /// Sets string properties of the chunks collection.
    pub fn set_properties(
        &self,
        collection: &str,
        properties: HashMap<String, String>,
    ) -> rag_index::Result<()> {
        let action = "updating the collection's properties";
        let request = AlterCollectionPropertiesRequest::builder()
            .collection_name(collection)
            .properties(properties)
            .build()
            .map_err(self.err(action))?;
        self.runtime
            .block_on(self.client.alter_collection_properties(request))
            .map(|_| ())
            .map_err(self.err(action))
    }
}

/// `count(*)` of the rows matching `filter`.
pub(crate) async fn count(
    client: &ClientV2,
    collection: &str,
    filter: &str,
    consistency: Option<ConsistencyLevel>,
) -> milvus::v2::error::Result<usize> {
    let mut request = QueryRequest::builder()
        .collection_name(collection)
        .filter(filter)
        .output_fields(["count(*)"]);
    if let Some(level) = consistency {
        request = request.consistency_level(level);
    }
    let response = client.query(request.build()?).await?;
    let count = match response.results().rows()?.next() {
        Some(row) => row.get_i64("count(*)")?,
        None => 0,
    };
    Ok(usize::try_from(count).unwrap_or(0))
}

/// True for failures of the way to the server rather than of the request:
/// refused, timed out, broken transport, rejected credentials.
fn is_unreachable(e: &SdkError) -> bool {
    // gRPC status codes (tonic::Code, not a dependency of ours).
    const CANCELLED: i32 = 1;
    const DEADLINE_EXCEEDED: i32 = 4;
    const PERMISSION_DENIED: i32 = 7;
    const UNAVAILABLE: i32 = 14;
    const UNAUTHENTICATED: i32 = 16;
    match e {
        SdkError::Grpc(status) => matches!(
            status.code() as i32,
            CANCELLED | DEADLINE_EXCEEDED | PERMISSION_DENIED | UNAVAILABLE | UNAUTHENTICATED
        ),
        SdkError::Timeout(_) | SdkError::Cancelled(_) => true,
        SdkError::RetryExhausted { source, .. } => is_unreachable(source),
        _ => false,
    }
}

/// The one mapping of SDK errors to rag's: the way to the server failing is
/// [`Error::Unreachable`], anything the server or the SDK said about the
/// request is [`Error::Server`] naming what was being done.
pub(crate) fn sdk_error(location: &str, action: &str, e: SdkError) -> Error {
    if is_unreachable(&e) {
        return Error::Unreachable {
            location: location.to_string(),
            reason: reason_of(&e),
        };
    }
    Error::Server {
        location: location.to_string(),
        action: action.to_string(),
        reason: reason_of(&e),
    }
}

fn reason_of(e: &SdkError) -> String {
    match e {
        SdkError::Server(server) => server.reason().to_string(),
        SdkError::Grpc(status) if !status.message().is_empty() => {
            format!("{:?}: {}", status.code(), status.message())
        }
        SdkError::RetryExhausted { source, .. } => reason_of(source),
        other => other.to_string(),
    }
}

/// True when an error is worth retrying (the request is idempotent).
pub(crate) fn is_transient(e: &Error) -> bool {
    matches!(e, Error::Unreachable { .. })
}

/// A string literal for a Milvus filter expression. Filter templates would
/// spare this, but milvus-lite does not support them.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `path in ["a", "b"]`.
pub(crate) fn path_in(paths: &[&str]) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| quote(p)).collect();
    format!("path in [{}]", quoted.join(", "))
}

/// The id of a file's `ordinal`th chunk: the same on every ingest, so that
/// writing a file again replaces its rows instead of adding to them.
pub(crate) fn chunk_id(path: &str, ordinal: usize) -> u64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(path.as_bytes());
    hasher.update(&[0]);
    hasher.update(ordinal.to_string().as_bytes());
    let bytes = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes.as_bytes()[..8]);
    // Int64 primary keys: the top bit stays clear.
    u64::from_le_bytes(first) & (i64::MAX as u64)
}

/// Which of 65536 buckets a file's record falls in, for reading the files
/// collection in pages of bounded size.
pub(crate) fn bucket(path: &str) -> i64 {
    let hash = blake3::hash(path.as_bytes());
    i64::from(u16::from_le_bytes([hash.as_bytes()[0], hash.as_bytes()[1]]))
}

pub(crate) const BUCKETS: i64 = 1 << 16;

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What is stored in `body` (what BM25 reads): the chunk's embedding text,
/// the heading line then the text.
pub(crate) fn body_of(heading: &str, text: &str) -> String {
    let body = if heading.is_empty() {
        text.to_string()
    } else {
        format!("{heading}\n{text}")
    };
    truncate(&body, crate::schema::BODY_MAX).to_string()
}

/// The chunk text back from a stored body.
pub(crate) fn text_of<'a>(heading: &str, body: &'a str) -> &'a str {
    if heading.is_empty() {
        return body;
    }
    body.strip_prefix(heading)
        .and_then(|rest| rest.strip_prefix('\n'))
        .unwrap_or(body)
}

/// What is stored in `terms` (what the server's BM25 reads): the keyword
/// terms rag's own analyzer makes of the body (stemmed, folded, stop words
/// gone), space-separated, so the server counts the words a folder index
/// counts whatever analyzers the server has (milvus-lite has no stemmer).
pub(crate) fn terms_of(body: &str) -> String {
    let mut terms = String::new();
    for term in rag_index::keyword_terms(body) {
        if terms.len() + term.len() + 1 > crate::schema::BODY_MAX {
            break;
        }
        if !terms.is_empty() {
            terms.push(' ');
        }
        terms.push_str(&term);
    }
    terms
}

pub(crate) fn unix_now() -> u64 {
    rag_index::manifest::unix_now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_literals_are_escaped() {
        assert_eq!(quote("a.md"), r#""a.md""#);
        assert_eq!(quote(r#"say "hi".md"#), r#""say \"hi\".md""#);
        assert_eq!(quote(r"back\slash"), r#""back\\slash""#);
        assert_eq!(quote("line\nbreak\r\ttab"), r#""line\nbreak\r\ttab""#);
        assert_eq!(
            quote("dir/we\"ird \\ näme_%.md"),
            r#""dir/we\"ird \\ näme_%.md""#
        );
        assert_eq!(path_in(&["a", "b\"c"]), r#"path in ["a", "b\"c"]"#);
    }

    #[test]
    fn terms_are_the_folder_index_words() {
        assert_eq!(
            terms_of("The Fugue's structure: fugues and ÜBER-voices"),
            "fugu s structur fugu uber voic"
        );
        assert_eq!(terms_of("the and of ... ?"), "");
    }

    #[test]
    fn chunk_ids_are_deterministic_distinct_and_fit_int64() {
        assert_eq!(chunk_id("a.md", 0), chunk_id("a.md", 0));
        let mut seen = std::collections::HashSet::new();
        for path in ["a.md", "b.md", "a.md\0", "/x/a.md", "a.m", "1"] {
            for ordinal in 0..50 {
                let id = chunk_id(path, ordinal);
                assert!(id <= i64::MAX as u64);
                assert!(seen.insert(id), "{path}#{ordinal} collides");
            }
        }
        // "a" + ordinal 11 must not be "a1" + ordinal 1.
        assert_ne!(chunk_id("a", 11), chunk_id("a1", 1));
    }

    #[test]
    fn buckets_cover_the_range() {
        for path in ["a", "b", "/some/long/path.md"] {
            let b = bucket(path);
            assert!((0..BUCKETS).contains(&b));
            assert_eq!(b, bucket(path));
        }
    }

    #[test]
    fn body_and_text_round_trip() {
        assert_eq!(
            body_of("Title > Part", "the text"),
            "Title > Part\nthe text"
        );
        assert_eq!(
            text_of("Title > Part", "Title > Part\nthe text"),
            "the text"
        );
        assert_eq!(body_of("", "only text"), "only text");
        assert_eq!(text_of("", "only text"), "only text");
        let text = "line one\nline two\n";
        assert_eq!(text_of("H", &body_of("H", text)), text);
        // A body that does not start with the heading is returned whole.
        assert_eq!(text_of("H", "other"), "other");
    }

    #[test]
    fn long_bodies_are_cut_at_a_character_boundary() {
        let text = "é".repeat(40_000);
        let body = body_of("", &text);
        assert!(body.len() <= crate::schema::BODY_MAX);
        assert_eq!(body.len(), 65_534);
        assert!(text.starts_with(&body));
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate("aé", 2), "a");
    }
}
