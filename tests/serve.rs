//! `rag serve` and `rag mcp` end to end: the real binary on a temp index,
//! spoken to over plain TCP (so that hostile requests can be sent as they are)
//! and by the official `openai` and `mcp` Python SDKs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{json, ok, Workspace};
use serde_json::{json, Value};

/// A `rag serve --port 0` child, stopped when dropped.
struct Server {
    child: Child,
    address: SocketAddr,
}

impl Server {
    fn start(workspace: &Workspace, extra: &[&str]) -> Server {
        Self::start_with(workspace.rag(), extra)
    }

    fn start_with(mut cmd: Command, extra: &[&str]) -> Server {
        let mut child = cmd
            .args(["-q", "serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rag serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("the first line is the URL: {line:?}"))
            .parse()
            .unwrap();
        Server { child, address }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// One request on its own connection: (status, headers, body).
    fn request(&self, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Response {
        let mut stream = TcpStream::connect(self.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.address,
            body.len()
        );
        for header in headers {
            head.push_str(header);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        // A server that refuses a large body early may close before it is all sent.
        let _ = stream.write_all(body);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        Response::parse(&raw)
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        self.request("POST", path, &[], body.to_string().as_bytes())
    }

    fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    head: String,
    body: String,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {text:?}"));
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            unchunk(body)
        } else {
            body.to_string()
        };
        Response {
            status,
            head: head.to_string(),
            body,
        }
    }

    fn json(&self) -> Value {
        json(&self.body)
    }

    /// An OpenAI-shaped error with this status; its message.
    fn error(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}\n{}", self.head, self.body);
        let body = self.json();
        assert!(body["error"]["type"].is_string(), "{body}");
        body["error"]["message"].as_str().unwrap().to_string()
    }

    /// The `data:` payloads of a server-sent event stream.
    fn events(&self) -> Vec<(String, String)> {
        self.body
            .split("\n\n")
            .filter_map(|block| {
                let mut name = String::from("message");
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_string();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data = Some(d.trim_start().to_string());
                    }
                }
                data.map(|d| (name, d))
            })
            .collect()
    }
}

fn unchunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

fn indexed_wiki() -> Workspace {
    let workspace = Workspace::with_wiki();
    workspace.ingest_json(&["-q"]);
    workspace
}

const QUESTION: &str =
    "In a fugue, what is it called when the subject overlaps itself in different voices?";

/// With sixteen samples of up to 2,000 tokens at temperature 1, the answer to
/// this takes over a minute here: far longer than a cancelled one may run on.
const LONG_QUESTION: &str = "In a fugue, what is it called when the subject overlaps itself in different voices? Explain every part of a fugue at great length, with many examples.";

#[test]
fn serve_answers_as_rag_ask_does_in_openai_and_its_own_shapes() {
    let workspace = indexed_wiki();
    let server = Server::start(&workspace, &[]);

    assert_eq!(server.get("/health").json()["status"], "ok");
    let models = server.get("/v1/models").json();
    let model = models["data"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(model, "smollm2-135m-instruct");
    let status = server.get("/v1/status").json();
    assert!(status["chunks"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["answer_model"], "smollm2-135m-instruct");

    // Search: exactly `rag search --json`, but for the time it took.
    let mut by_command = json(&ok(workspace.rag().args([
        "search",
        "stretto fugue",
        "--json",
        "-k",
        "3",
    ])));
    let mut by_server = server
        .post("/v1/search", &json!({"query": "stretto fugue", "k": 3}))
        .json();
    by_command["took_ms"] = Value::Null;
    by_server["took_ms"] = Value::Null;
    assert_eq!(by_server, by_command);

    // Ask: the same answer as `rag ask --json` with the same settings.
    let asked = common::asked(workspace.rag().args(["ask", QUESTION, "--json"]));
    let answered = server.post("/v1/ask", &json!({"question": QUESTION}));
    assert_eq!(answered.status, 200, "{}", answered.body);
    let answered = answered.json();
    for field in [
        "answer",
        "refused",
        "citations",
        "sources",
        "model",
        "prompt_tokens",
    ] {
        assert_eq!(answered[field], asked[field], "{field}");
    }

    // Streamed: the terminal's events, ending with the whole answer.
    let streamed = server.post("/v1/ask", &json!({"question": QUESTION, "stream": true}));
    let events = streamed.events();
    assert_eq!(events[0].0, "retrieved", "{:?}", events);
    let (last, done) = events.last().unwrap();
    assert_eq!(last, "done");
    assert_eq!(json(done)["answer"], asked["answer"]);

    // OpenAI's chat completions: the answer with its [n] marks, sources beside it.
    let completion = server
        .post(
            "/v1/chat/completions",
            &json!({"model": model, "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": QUESTION}]}),
        )
        .json();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        asked["answer"]
    );
    assert_eq!(completion["rag"]["citations"], asked["citations"]);
    assert_eq!(completion["rag"]["refused"], asked["refused"]);
    assert_eq!(
        completion["usage"]["prompt_tokens"], asked["prompt_tokens"],
        "a system message does not change rag's prompt"
    );

    let stream = server.post(
        "/v1/chat/completions",
        &json!({"messages": [{"role": "user", "content": QUESTION}], "stream": true,
                "stream_options": {"include_usage": true}}),
    );
    let chunks: Vec<String> = stream.events().into_iter().map(|(_, d)| d).collect();
    assert_eq!(chunks.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = chunks[..chunks.len() - 1].iter().map(|c| json(c)).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text.trim(), asked["answer"].as_str().unwrap().trim());
    let finish = chunks
        .iter()
        .find(|c| c["choices"][0]["finish_reason"].is_string())
        .expect("a chunk with the finish reason");
    assert_eq!(finish["rag"]["citations"], asked["citations"]);
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    let embedded = server
        .post("/v1/embeddings", &json!({"input": ["one", "two"]}))
        .json();
    assert_eq!(embedded["data"].as_array().unwrap().len(), 2);
    assert_eq!(
        embedded["data"][1]["embedding"].as_array().unwrap().len(),
        384
    );

    // The page: self-contained, shows document text as text only.
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("textContent") && !page.body.contains("innerHTML"));
    assert!(
        !page.body.contains("https://"),
        "nothing fetched from elsewhere"
    );
}

#[test]
fn bad_requests_get_openai_shaped_errors_and_the_server_goes_on() {
    let workspace = indexed_wiki();
    let server = Server::start(&workspace, &[]);
    let chat = "/v1/chat/completions";
    let user = |text: &str| json!([{"role": "user", "content": text}]);

    assert!(server
        .request("POST", chat, &[], b"{\"messages\": [")
        .error(400)
        .contains("not valid JSON"));
    assert!(server
        .request("POST", chat, &[], b"{\"messages\": \"\xff\xfe\"}")
        .error(400)
        .contains("UTF-8"));
    server.post(chat, &json!({"messages": "hello"})).error(400);
    server.post(chat, &json!({"messages": []})).error(400);
    server
        .post(
            chat,
            &json!({"messages": [{"role": "assistant", "content": "hi"}]}),
        )
        .error(400);
    server
        .post(
            chat,
            &json!({"messages": [{"role": "wizard", "content": "hi"}]}),
        )
        .error(400);
    let unknown = server
        .post(chat, &json!({"model": "gpt-9", "messages": user("hi")}))
        .json();
    assert_eq!(unknown["error"]["code"], "model_not_found", "{unknown}");
    for (field, value) in [
        ("temperature", json!(1e300)),
        ("temperature", json!(-1)),
        ("max_tokens", json!(0)),
        ("max_tokens", json!(1e30)),
        ("top_p", json!(7)),
        ("n", json!(3)),
        ("stop", json!(["a", "b", "c", "d", "e"])),
        ("seed", json!("x")),
    ] {
        let mut body = json!({"messages": user("hi")});
        body[field] = value.clone();
        let message = server.post(chat, &body).error(400);
        assert!(
            message.contains(field) || message.contains("invalid"),
            "{field}={value}: {message}"
        );
    }
    let long_question = "why ".repeat(10_000);
    server
        .post(chat, &json!({"messages": user(&long_question)}))
        .error(400);
    // A 5 MB body is refused before it is read whole.
    let huge = format!("{{\"question\": \"{}\"}}", "a".repeat(5 << 20));
    server
        .request("POST", "/v1/ask", &[], huge.as_bytes())
        .error(413);
    server.post("/v1/search", &json!({"query": 3})).error(400);
    server
        .post("/v1/search", &json!({"query": "fugue", "mode": "psychic"}))
        .error(400);
    assert!(server.get("/v1/nothing").error(404).contains("/v1/nothing"));

    // Ten thousand messages: the recent turns that fit are kept.
    let mut messages: Vec<Value> = (0..5_000)
        .flat_map(|i| {
            [
                json!({"role": "user", "content": format!("question {i}")}),
                json!({"role": "assistant", "content": format!("answer {i}")}),
            ]
        })
        .collect();
    messages.push(json!({"role": "user", "content": QUESTION}));
    let long = server.post(chat, &json!({"messages": messages, "max_tokens": 8}));
    assert_eq!(long.status, 200, "{}", long.body);

    // A client that opens a request and never finishes its body does not hold
    // up the others, and is cut off.
    let mut slow = TcpStream::connect(server.address).unwrap();
    slow.write_all(b"POST /v1/search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"q")
        .unwrap();
    let found = server.post("/v1/search", &json!({"query": "fugue", "k": 1}));
    assert_eq!(found.status, 200);
    assert_eq!(server.get("/health").status, 200);
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = slow.read_to_end(&mut answer);
    let answer = Response::parse(&answer);
    assert!(answer.status >= 400, "{}", answer.body);
}

#[test]
fn a_request_may_name_another_installed_model_and_never_a_file() {
    let workspace = indexed_wiki();
    let server = Server::start(&workspace, &[]);
    let chat = "/v1/chat/completions";
    let listed = server.get("/v1/models").json();
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    // scripts/fetch-models --all-models (the README's test command) installs it.
    common::catalogue_model("gemma-3-270m");
    assert!(ids.contains(&"gemma-3-270m"), "{listed}");
    assert_eq!(ids[0], "smollm2-135m-instruct");
    assert!(ids.last().unwrap().contains("MiniLM"), "{listed}");

    let ask = |model: &str| {
        server
            .post(
                chat,
                &json!({"model": model, "messages": [{"role": "user", "content": QUESTION}], "temperature": 0, "max_tokens": 8}),
            )
            .json()
    };
    let switched = ask("Gemma-3-270M");
    assert_eq!(switched["model"], "gemma-3-270m", "{switched}");
    assert_eq!(
        server.get("/v1/status").json()["answer_model"],
        "gemma-3-270m"
    );
    assert_eq!(
        server.get("/v1/models").json()["data"][0]["id"],
        "gemma-3-270m"
    );
    let back = ask("smollm2-135m-instruct");
    assert_eq!(back["model"], "smollm2-135m-instruct", "{back}");

    // A model is a catalogue name: a path is never loaded, even one that exists.
    let gguf = common::catalogue_model("smollm2-135m-instruct");
    for named in ["/etc/passwd", "../../x.gguf", gguf.to_str().unwrap()] {
        let refused = ask(named);
        assert_eq!(
            refused["error"]["code"], "model_not_found",
            "{named}: {refused}"
        );
    }
    assert_eq!(
        server.get("/v1/status").json()["answer_model"],
        "smollm2-135m-instruct"
    );
}

#[test]
fn a_key_guards_the_api_and_other_addresses_need_one() {
    let workspace = indexed_wiki();
    let out = common::run(
        workspace
            .rag()
            .args(["serve", "--host", "0.0.0.0", "--port", "0"]),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--api-key-file"));

    let key_file = workspace.path().join("key");
    std::fs::write(&key_file, "s3cret\n").unwrap();
    let server = Server::start(&workspace, &["--api-key-file", key_file.to_str().unwrap()]);
    let search = json!({"query": "fugue", "k": 1}).to_string();
    let refused = server.request("POST", "/v1/search", &[], search.as_bytes());
    assert!(refused.error(401).contains("Bearer"));
    server
        .request(
            "POST",
            "/v1/search",
            &["Authorization: Bearer s3cre"],
            search.as_bytes(),
        )
        .error(401);
    let allowed = server.request(
        "POST",
        "/v1/search",
        &["Authorization: Bearer s3cret"],
        search.as_bytes(),
    );
    assert_eq!(allowed.status, 200, "{}", allowed.body);
    assert_eq!(server.get("/health").status, 200, "health needs no key");
    assert!(!server.get("/").head.contains("access-control-allow-origin"));
}

/// Reads a streamed response until `found` says it has what it waits for.
fn read_until(stream: &mut TcpStream, found: impl Fn(&str) -> bool) -> String {
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    while !found(&String::from_utf8_lossy(&seen)) {
        let n = stream.read(&mut buffer).unwrap();
        assert!(
            n > 0,
            "the stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn pending(server: &Server) -> u64 {
    server.get("/v1/status").json()["answers_pending"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_client_that_leaves_stops_its_answer_and_a_full_queue_says_when_to_retry() {
    let workspace = indexed_wiki();
    let server = Server::start(
        &workspace,
        &[
            "--queue",
            "1",
            "--samples",
            "16",
            "--temperature",
            "1",
            "--max-tokens",
            "2000",
        ],
    );
    let long = json!({"question": LONG_QUESTION, "stream": true}).to_string();
    let mut running = TcpStream::connect(server.address).unwrap();
    write!(
        running,
        "POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{long}",
        long.len()
    )
    .unwrap();
    read_until(&mut running, |seen| seen.contains("event: retrieved"));

    // Searches do not wait behind the answer.
    let found = server.post("/v1/search", &json!({"query": "fugue", "k": 1}));
    assert_eq!(found.status, 200);
    assert_eq!(pending(&server), 1, "the answer still runs");

    // One more may wait; the next is told to come back later.
    let mut waiting = TcpStream::connect(server.address).unwrap();
    write!(
        waiting,
        "POST /v1/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{long}",
        long.len()
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending(&server) < 2 {
        assert!(
            Instant::now() < deadline,
            "the second answer was never queued"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = server.post("/v1/ask", &json!({"question": QUESTION}));
    refused.error(429);
    assert!(
        refused.head.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        refused.head
    );

    // Both clients leave: the waiting answer never starts, the running one stops.
    drop(waiting);
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pending(&server) > 0 {
        assert!(
            Instant::now() < deadline,
            "answers still running 5 s after their clients left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let next = server.post(
        "/v1/ask",
        &json!({"question": QUESTION, "temperature": 0, "max_tokens": 8}),
    );
    assert_eq!(next.status, 200, "{}", next.body);
}

/// The official `openai` SDK, from the venv `scripts/api-clients install` makes.
#[test]
fn the_openai_python_sdk_talks_to_rag_serve() {
    let python = api_clients_python();
    let workspace = indexed_wiki();
    let asked = common::asked(workspace.rag().args(["ask", QUESTION, "--json"]));
    let server = Server::start(&workspace, &[]);
    let out = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/openai_client.py"
        ))
        .args([&server.url(), QUESTION])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(seen["models"][0], "smollm2-135m-instruct");
    assert_eq!(seen["answer"], asked["answer"]);
    assert_eq!(
        seen["streamed"].as_str().unwrap().trim(),
        asked["answer"].as_str().unwrap().trim()
    );
    assert_eq!(seen["rag"]["citations"], asked["citations"]);
    assert_eq!(seen["stream_rag"]["citations"], asked["citations"]);
    assert!(seen["stream_usage"].as_u64().unwrap() > 0);
    assert_eq!(seen["embedding_dims"], json!([384, 384, 384]));
    assert_eq!(seen["unknown_model"], 404);
    assert_eq!(seen["empty_messages"], 400);
}

fn api_clients_python() -> String {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/api-clients"))
        .arg("python")
        .output()
        .expect("scripts/api-clients runs");
    assert!(
        out.status.success(),
        "the API clients are not installed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The official `mcp` SDK as an agent uses it: `rag mcp` over stdio, and
/// `/mcp` of `rag serve` over streamable HTTP; both give `rag ask`'s answer.
#[test]
fn the_mcp_python_sdk_uses_rags_tools_over_stdio_and_http() {
    let python = api_clients_python();
    let workspace = indexed_wiki();
    let asked = common::asked(workspace.rag().args(["ask", QUESTION, "--json"]));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/mcp_client.py");
    let mut client = Command::new(&python);
    // The child `rag mcp` gets the test environment through the client.
    for (key, value) in common::rag().get_envs() {
        match value {
            Some(value) => client.env(key, value),
            None => client.env_remove(key),
        };
    }
    let stdio = client
        .current_dir(workspace.path())
        .args([
            script,
            "stdio",
            QUESTION,
            env!("CARGO_BIN_EXE_rag"),
            "-q",
            "mcp",
        ])
        .output()
        .unwrap();
    let server = Server::start(&workspace, &[]);
    let http = Command::new(&python)
        .args([script, "http", QUESTION, &server.url()])
        .output()
        .unwrap();
    for (door, out) in [("stdio", stdio), ("http", http)] {
        assert!(
            out.status.success(),
            "{door}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let seen = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(seen["server"], "rag", "{door}");
        assert_eq!(seen["tools"], json!(["ask", "search", "status"]), "{door}");
        assert_eq!(seen["search_error"], false, "{door}");
        let results = seen["search"]["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "{door}");
        assert!(
            results[0]["path"].as_str().unwrap().ends_with("fugue.md"),
            "{door}"
        );
        assert!(
            seen["search_text"].as_str().unwrap().contains("fugue.md:"),
            "{door}"
        );
        assert_eq!(seen["ask"]["answer"], asked["answer"], "{door}");
        assert_eq!(seen["ask"]["citations"], asked["citations"], "{door}");
        assert!(
            seen["ask_text"].as_str().unwrap().contains(&format!(
                "[1] {}",
                asked["citations"][0]["path"].as_str().unwrap()
            )),
            "{door}: {}",
            seen["ask_text"]
        );
        assert_eq!(seen["bad_mode_error"], true, "{door}");
        assert!(
            seen["bad_mode_text"].as_str().unwrap().contains("psychic"),
            "{door}"
        );
        assert!(seen["status"]["chunks"].as_u64().unwrap() > 0, "{door}");
    }
}

/// The chat page in a real browser (headless Chromium, the Debian package,
/// driven over the DevTools protocol by tests/clients/browser.py):
/// a question in the link is asked, the streamed answer and a source's
/// `path:line` land in the page, and markup inside a document stays text.
#[test]
fn the_page_shows_a_streamed_answer_and_its_sources_in_a_browser() {
    let browser = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|out| out.status.success())
        })
        .expect("Chromium is not installed (Debian: apt-get install chromium)");
    let workspace = Workspace::with_wiki();
    std::fs::write(
        workspace.docs().join("fugue-trivia.md"),
        "# Fugue trivia\n\nIn a fugue, a stretto <img src=x onerror=\"document.title='pwned'\"> is when \
         the subject overlaps itself in different voices <script>document.title='pwned'</script>.\n",
    )
    .unwrap();
    workspace.ingest_json(&["-q"]);
    let server = Server::start(&workspace, &[]);
    let question = QUESTION.replace(' ', "+").replace('?', "%3F");
    // Done: the answer's sources (or an error) are listed.
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/clients/browser.py"
        ))
        .arg(browser)
        .arg(format!("{}/?q={question}", server.url()))
        .arg(".turn .sources, .turn .error")
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the page did not finish: {dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dom.contains("class=\"error"), "{dom}");
    let asked = common::asked(workspace.rag().args(["ask", QUESTION, "--json"]));
    let answer = asked["answer"].as_str().unwrap();
    let escaped = answer
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        dom.contains(&escaped),
        "the answer {answer:?} is not in {dom}"
    );
    let cited = asked["citations"][0]["path"].as_str().unwrap();
    assert!(dom.contains(&format!("{cited}:")), "no {cited}: in {dom}");
    assert!(
        dom.contains("fugue-trivia.md:"),
        "the hostile page is a source: {dom}"
    );
    assert!(
        dom.contains("<title>rag</title>"),
        "a document ran script: {dom}"
    );
    assert!(
        !dom.contains("<img"),
        "a document's markup became an element: {dom}"
    );
}

/// `rag ingest` beside a running server: its next search sees the new commit.
#[test]
fn a_running_server_searches_what_ingest_just_committed() {
    let workspace = indexed_wiki();
    let server = Server::start(&workspace, &[]);
    let query = json!({"query": TEAPOT_QUERY, "k": 1, "mode": "bm25"});
    let before = server.post("/v1/search", &query).json();
    assert!(before["results"].as_array().unwrap().is_empty(), "{before}");
    write_teapot(&workspace);
    workspace.ingest_json(&["-q"]);
    assert_teapot_found_within(&server, Duration::from_secs(30));
    assert_eq!(
        server.get("/v1/status").json()["reopen_failed"],
        Value::Null
    );
}

/// `rag serve --watch docs`: the folder is ingested before serving, and a
/// file written while serving is searched a moment later.
#[test]
fn serve_watch_ingests_first_and_keeps_the_index_current() {
    let workspace = Workspace::with_wiki();
    let server = Server::start(&workspace, &["--watch", "docs"]);
    let fugue = server.post("/v1/search", &json!({"query": "stretto fugue", "k": 1}));
    assert_eq!(fugue.status, 200, "{}", fugue.body);
    assert!(fugue.json()["results"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("fugue.md"));
    write_teapot(&workspace);
    assert_teapot_found_within(&server, Duration::from_secs(60));
}

const TEAPOT_QUERY: &str = "zorbulent quasicrystal teapot";

/// A page whose words are in no other document.
fn write_teapot(workspace: &Workspace) {
    std::fs::write(
        workspace.docs().join("teapot.md"),
        "# Teapots\n\nThe zorbulent quasicrystal teapot pours tea in five directions at once.\n",
    )
    .unwrap();
}

/// Searches until the teapot page comes first, failing after `limit`.
fn assert_teapot_found_within(server: &Server, limit: Duration) {
    let query = json!({"query": TEAPOT_QUERY, "k": 1, "mode": "bm25"});
    let deadline = Instant::now() + limit;
    loop {
        let found = server.post("/v1/search", &query).json();
        if let Some(first) = found["results"].as_array().and_then(|r| r.first()) {
            assert!(
                first["path"].as_str().unwrap().ends_with("teapot.md"),
                "{found}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the teapot page was never searched: {found}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
