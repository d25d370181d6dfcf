//! `rag search QUERY` and `rag search --batch FILE`.

use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

use rag::assistant::located::LinesIn;
use rag::index::{Hit, SearchIndex, SearchOptions};
use rag::session::Searcher;
use serde::Serialize;

use super::stdout_error;
use crate::cli::SearchArgs;
use crate::context::{display_path, Context};
use crate::terminal::sanitize;
use crate::Outcome;
use rag::results::SearchResponse;
use rag::{Error, Result};

pub fn run(ctx: &Context, args: &SearchArgs) -> Result<Outcome> {
    // The index `ask` answers from: with none here, the bundled corpus's.
    let searcher = Searcher::open(
        &ctx.settings,
        &crate::context::current_dir()?,
        args.mode,
        &super::progress::bundled(ctx),
    )?;
    let index = searcher.index();
    ctx.warn_if_out_of_step(index);
    let options = SearchOptions {
        k: args.k.max(1),
        mode: args.mode,
        fusion: args.fusion.fusion,
        rrf_k: args.fusion.rrf_k,
        bm25_weight: args.fusion.bm25_weight,
        vector_weight: args.fusion.vector_weight,
        candidates: args.fusion.candidates.unwrap_or(0),
        ef: args.fusion.ef,
    };
    match &args.batch {
        Some(file) => run_batch(&searcher, &options, file).map(|()| Outcome::Success),
        None => {
            let query = args.query.as_deref().unwrap_or_default();
            check_length(query).map_err(Error::Usage)?;
            let started = Instant::now();
            let hits = searcher.search(query, &options)?;
            let took_ms = started.elapsed().as_secs_f64() * 1000.0;
            let count = hits.len();
            let mut out = std::io::stdout().lock();
            let written = if args.json {
                let response = response(index, query, took_ms, hits);
                writeln!(out, "{}", to_json(&response)?)
            } else {
                use std::io::IsTerminal;
                let colour = ctx.colour(std::io::stdout().is_terminal());
                print_human(&mut out, index, query, &hits, colour)
            };
            match written.and_then(|_| out.flush()) {
                // `rag search ... | head`: the reader has all it wanted.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(Outcome::Success)
                }
                Err(source) => return Err(stdout_error(source)),
                Ok(()) => {}
            }
            if !ctx.quiet {
                eprintln!("{count} results in {took_ms:.1} ms");
            }
            // Nothing found exits 1, as `grep` does.
            Ok(if count == 0 {
                Outcome::Negative
            } else {
                Outcome::Success
            })
        }
    }
}

fn run_batch(searcher: &Searcher, options: &SearchOptions, file: &std::path::Path) -> Result<()> {
    let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let opened = std::fs::File::open(file).map_err(|source| Error::Io {
            action: "cannot read queries from",
            path: file.to_path_buf(),
            source,
        })?;
        Box::new(std::io::BufReader::new(opened))
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed: Vec<String> = Vec::new();
    for line in rag::limited::lines(input, MAX_QUERY_BYTES) {
        let line = line.map_err(|source| Error::Io {
            action: "reading",
            path: file.to_path_buf(),
            source,
        })?;
        // A query that cannot be run gets an error line in its place, so that
        // output line N still answers input line N.
        let query = line
            .text
            .map_err(|problem| problem.to_string())
            .and_then(|query| check_length(&query).map(|()| query));
        let json = match query {
            Ok(query) => {
                let started = Instant::now();
                let hits = searcher.search(&query, options)?;
                let took_ms = started.elapsed().as_secs_f64() * 1000.0;
                to_json(&response(searcher.index(), &query, took_ms, hits))?
            }
            Err(reason) => {
                failed.push(format!("line {}: {reason}", line.number));
                serde_json::json!({"line": line.number, "error": reason}).to_string()
            }
        };
        writeln!(out, "{json}").map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)?;
    match failed.as_slice() {
        [] => Ok(()),
        [first, ..] => Err(Error::InvalidInput {
            place: file.display().to_string(),
            reason: format!(
                "{} could not be run ({first}); the output has an error line in place of each",
                super::count(failed.len(), "query", "queries")
            ),
        }),
    }
}

/// A batch line longer than this is not a query (every query is checked
/// against `MAX_QUESTION_CHARS` too).
const MAX_QUERY_BYTES: usize = rag::batch::MAX_QUESTION_CHARS * 4;

/// Queries, like questions, are bounded: a pasted file is not a query, and
/// matching it would take seconds per thousand words.
fn check_length(query: &str) -> std::result::Result<(), String> {
    let chars = query.chars().count();
    if chars > rag::batch::MAX_QUESTION_CHARS {
        return Err(format!(
            "the query is too long ({chars} characters; the limit is {})",
            rag::batch::MAX_QUESTION_CHARS
        ));
    }
    Ok(())
}

fn response(index: &dyn SearchIndex, query: &str, took_ms: f64, hits: Vec<Hit>) -> SearchResponse {
    SearchResponse::new(query, took_ms, hits, &|path| display_path(index, path))
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding JSON: {e}")))
}

fn print_human(
    out: &mut impl Write,
    index: &dyn SearchIndex,
    query: &str,
    hits: &[Hit],
    colour: bool,
) -> std::io::Result<()> {
    // ripgrep's colours: path magenta, line number green, matches bold red.
    let (path_on, line_on, match_on, dim, off) = if colour {
        ("\x1b[35m", "\x1b[32m", "\x1b[1;31m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    if hits.is_empty() {
        writeln!(out, "no results")?;
    }
    let terms = super::snippet::terms(query);
    for (i, hit) in hits.iter().enumerate() {
        let (offset, line) = super::snippet::best_line(&hit.text, &terms);
        let line_number = (hit.line_start + offset as u32).min(hit.line_end.max(hit.line_start));
        let file_line = |line: u32| hit.file_lines.file_line(line);
        let path = sanitize(&rag::index::paths::escape_controls(&display_path(
            index, &hit.path,
        )))
        .into_owned();
        match LinesIn::of(&hit.path, &hit.file_lines) {
            // ripgrep's `path:line:`, the line of the file an editor opens.
            LinesIn::File => writeln!(
                out,
                "{path_on}{path}{off}:{line_on}{}{off}: {}  {dim}[{}] lines {}-{}{off}",
                file_line(line_number),
                sanitize(&hit.heading),
                i + 1,
                file_line(hit.line_start),
                file_line(hit.line_end),
            )?,
            // A document's lines exist only in its text: where it is says more.
            LinesIn::Text => {
                let place = hit
                    .location
                    .as_ref()
                    .map(|l| format!(" {line_on}{}{off}", l.label()))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{path_on}{path}{off}{place}: {}  {dim}[{}] text lines {}-{}{off}",
                    sanitize(&hit.heading),
                    i + 1,
                    hit.line_start,
                    hit.line_end,
                )?
            }
        }
        writeln!(
            out,
            "    {}",
            super::snippet::render(line, &terms, 150, match_on, off)
        )?;
        if !hit.also_in.is_empty() {
            let copies: Vec<String> = hit
                .also_in
                .iter()
                .map(|p| {
                    sanitize(&rag::index::paths::escape_controls(&display_path(index, p)))
                        .into_owned()
                })
                .collect();
            writeln!(out, "    {dim}also in {}{off}", copies.join(", "))?;
        }
    }
    Ok(())
}
