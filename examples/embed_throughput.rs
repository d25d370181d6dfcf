//! The embedding ceiling: how fast the embedding model alone turns the chunks
//! of a folder into vectors, with the same workers and batching as `rag ingest`.
//! `scripts/bench-retrieval` compares ingest throughput against this number.
//!
//! ```sh
//! cargo run --release --example embed_throughput -- DIR [WORKERS]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use rag::models::{embedding_files, models_dir};
use rag_index::extract::extract;
use rag_index::walk::{walk, Found, WalkOptions};
use rag_index::{Chunker, ChunkerConfig, Embedder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: embed_throughput DIR [WORKERS]")?);
    let workers: usize = match args.next() {
        Some(n) => n.parse()?,
        None => std::thread::available_parallelism()?.get(),
    };
    let models = models_dir(None);
    let embedder = rag::embedding::OnnxEmbedder::new(embedding_files(&models)?, &models, workers)?;
    embedder.load()?;
    let chunker = Chunker::new(embedder.tokenizer(), ChunkerConfig::default())?;

    let mut texts = Vec::new();
    for found in walk(
        std::slice::from_ref(&dir),
        &WalkOptions::default(),
        &dir.join(".rag"),
    )? {
        if let Found::File { path, kind, .. } = found {
            let bytes = std::fs::read(&path)?;
            if let Ok(doc) = extract(&path, kind, &bytes) {
                texts.extend(chunker.chunk(&doc).iter().map(|c| c.embedding_text()));
            }
        }
    }
    texts.sort_by_key(String::len);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut vectors = 0;
    for batch in refs.chunks(256) {
        vectors += embedder.embed(batch)?.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"texts\": {vectors}, \"workers\": {workers}, \"seconds\": {seconds:.3}, \"texts_per_s\": {:.1}}}",
        vectors as f64 / seconds
    );
    Ok(())
}
