//! `rag serve`: the loaded engine behind HTTP until Ctrl+C.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::http::HeaderValue;
use rag::server::{self, Access, Service};
use rag::{Error, Result};

use crate::cli::{McpArgs, ServeArgs};
use crate::context::Context;

/// The longest queue `--queue` may ask for.
const MAX_QUEUE: usize = 1024;

pub fn run(ctx: &Context, args: &ServeArgs) -> Result<()> {
    let api_key = api_key(args.api_key_file.as_deref())?;
    if !args.host.is_loopback() && api_key.is_none() && !args.no_auth {
        return Err(Error::Usage(format!(
            "--host {} lets other machines ask your documents: give --api-key-file FILE (or set RAG_API_KEY), or --no-auth to serve without a key",
            args.host
        )));
    }
    if args.queue > MAX_QUEUE {
        return Err(Error::Usage(format!(
            "--queue must be from 0 to {MAX_QUEUE}"
        )));
    }
    let cors_origin = args
        .cors
        .as_deref()
        .map(|origin| {
            HeaderValue::from_str(origin.trim_end_matches('/')).map_err(|_| {
                Error::Usage(format!(
                    "--cors {origin:?} is not an origin like http://localhost:3000"
                ))
            })
        })
        .transpose()?;
    let needs_key = api_key.is_some();
    // Bound before the models load: a port in use is said at once.
    let address = SocketAddr::new(args.host, args.port);
    let listener =
        std::net::TcpListener::bind(address).map_err(network("listening on", address))?;
    let bound = listener
        .local_addr()
        .map_err(network("listening on", address))?;
    let watching = watch_first(ctx, &args.watch)?;
    let service = start_service(ctx, &args.answer, args.queue)?;
    let model = service.model().to_string();
    let index = service.session().index().location();
    let app = server::router(
        Arc::clone(&service),
        Access {
            api_key,
            cors_origin,
            any_host: !bound.ip().is_loopback(),
        },
    );

    let url = format!("http://{}", shown(bound));
    // The first line is for scripts (`--port 0`): the address, nothing else.
    println!("{url}");
    let _ = std::io::stdout().flush();
    if !ctx.quiet {
        let key = if needs_key {
            "send the key as `Authorization: Bearer KEY`"
        } else {
            "no key needed"
        };
        eprintln!(
            "rag serve: answering with {model} from {index}\n  the chat page: {url}/\n  OpenAI API:    {url}/v1 ({key})\n  MCP:           {url}/mcp\n  Ctrl+C stops"
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watching.map(|(watch, location)| {
        let (stop, roots, settings) = (Arc::clone(&stop), args.watch.clone(), &ctx.settings);
        move || keep_current(watch, &location, &roots, settings, &stop)
    });
    let served = std::thread::scope(|scope| {
        let watcher = watcher.map(|keep| scope.spawn(keep));
        let served = serve_until_stopped(listener, app, bound);
        stop.store(true, Ordering::SeqCst);
        if let Some(watcher) = watcher {
            let _ = watcher.join();
        }
        served
    });
    served?;
    if !ctx.quiet {
        eprintln!("rag serve: stopped");
    }
    Ok(())
}

fn serve_until_stopped(
    listener: std::net::TcpListener,
    app: axum::Router,
    bound: SocketAddr,
) -> Result<()> {
    runtime()?.block_on(async move {
        listener
            .set_nonblocking(true)
            .map_err(network("listening on", bound))?;
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(network("listening on", bound))?;
        server::serve(listener, app, stop_signal())
            .await
            .map_err(network("serving on", bound))
    })
}

/// With `--watch`: the folders ingested before the index is opened for
/// serving, and the watch that keeps it current afterwards.
fn watch_first(
    ctx: &Context,
    roots: &[PathBuf],
) -> Result<Option<(super::watch::Watch, rag::engine::IndexLocation)>> {
    if roots.is_empty() {
        return Ok(None);
    }
    let location = ctx.index_for_writing()?;
    let canonical: Vec<PathBuf> = roots
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let watch = super::watch::Watch::start(&canonical, location.folder())?;
    let summary = rag::engine::ingest(&ctx.settings, &location, roots, &|_| {})?;
    if !ctx.quiet {
        eprintln!("{}", super::progress::summary_line(&summary, &location));
    }
    Ok(Some((watch, location)))
}

/// Ingests each burst of changes until `stop`; the server opens each commit.
fn keep_current(
    mut watch: super::watch::Watch,
    location: &rag::engine::IndexLocation,
    roots: &[PathBuf],
    settings: &rag::engine::Settings,
    stop: &AtomicBool,
) {
    let ingested = watch.run(stop, || {
        if let Err(e) = rag::engine::ingest(settings, location, roots, &|_| {}) {
            // Another ingest holds the index, a file vanished mid-read...: the
            // next burst tries again.
            eprintln!("warning: {}", crate::remedy::report(&e));
        }
        Ok(())
    });
    if let Err(e) = ingested {
        eprintln!("warning: no longer watching: {}", crate::remedy::report(&e));
    }
}

/// `rag mcp`: the tools on stdin and stdout until the client closes them.
/// Standard output belongs to the protocol: everything else goes to stderr.
pub fn mcp(ctx: &Context, args: &McpArgs) -> Result<()> {
    let service = start_service(ctx, &args.answer, MCP_QUEUE)?;
    runtime()?
        .block_on(server::mcp::serve_stdio(service))
        .map_err(Error::Internal)
}

/// Tool calls an MCP client may have waiting behind a running answer.
const MCP_QUEUE: usize = 8;

/// The engine every door serves: the models loaded once, the answer queue.
pub(crate) fn start_service(
    ctx: &Context,
    answer: &crate::cli::AnswerArgs,
    queue: usize,
) -> Result<Arc<Service>> {
    let options = super::ask_options(ctx, answer)?;
    let session = super::open_session(ctx, answer, options, true)?;
    Service::start(session, queue)
        .map(Arc::new)
        .map_err(|source| Error::Io {
            action: "starting the answer worker thread for",
            path: PathBuf::from("the server"),
            source,
        })
}

/// The async runtime of the server's doors: a few threads suffice, the
/// answers run on the model's own.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("starting the async runtime: {e}")))
}

/// The key from `--api-key-file`, else `$RAG_API_KEY`; none when neither is given.
fn api_key(file: Option<&Path>) -> Result<Option<String>> {
    let key = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                action: "reading the API key from",
                path: path.to_path_buf(),
                source,
            })?;
            let key = text.trim().to_string();
            if key.is_empty() {
                return Err(Error::Usage(format!(
                    "the API key file {} is empty",
                    path.display()
                )));
            }
            Some(key)
        }
        None => std::env::var("RAG_API_KEY")
            .ok()
            .map(|key| key.trim().to_string())
            .filter(|key| !key.is_empty()),
    };
    Ok(key)
}

/// A socket error, said of `address`.
fn network(action: &'static str, address: SocketAddr) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        action,
        path: PathBuf::from(address.to_string()),
        source,
    }
}

/// IPv6 addresses in brackets, as URLs write them.
fn shown(address: SocketAddr) -> String {
    match address.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", address.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", address.port()),
    }
}

async fn stop_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
