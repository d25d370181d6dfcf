//! Chunks to vectors: shortest first in batches (little padding), each
//! distinct text embedded once. A docs site repeats its pages in a print page,
//! folders hold copies of one README: their passages, heading path included,
//! are the same text and get the same vector without asking the model again.

use std::collections::HashMap;

use crate::chunk::Chunk;
use crate::embedder::Embedder;
use crate::{Error, Result};

/// Vectors kept for reuse within one ingest, at most (a few tens of MB).
const CACHE_CAPACITY: usize = 20_000;

/// Vectors of texts embedded earlier in this ingest, by the text's hash.
#[derive(Default)]
pub(crate) struct EmbeddingCache {
    vectors: HashMap<[u8; 32], Vec<f32>>,
}

impl EmbeddingCache {
    fn keep(&mut self, key: [u8; 32], vector: &[f32]) {
        if self.vectors.len() < CACHE_CAPACITY {
            self.vectors.insert(key, vector.to_vec());
        }
    }
}

/// A text to embed, its hash, and the (file, chunk) slots that wait for it.
type Distinct = (String, [u8; 32], Vec<(usize, usize)>);

/// Where a chunk's vector comes from.
enum Slot {
    Cached(Vec<f32>),
    /// The n-th distinct text to embed.
    Text(usize),
}

/// Each file's vectors, in chunk order, for `files` (each a file's chunks).
/// `file_done(i)` is called as soon as file `i`'s last vector is known,
/// `embedded(n)` after each batch with the chunks it resolved. When `stop()`
/// turns true (asked before each batch), the rest is not embedded: files
/// whose vectors are all known still get them, the others `None`.
pub(crate) fn embed_files(
    embedder: &dyn Embedder,
    files: &[&[Chunk]],
    batch: usize,
    cache: &mut EmbeddingCache,
    file_done: &mut dyn FnMut(usize),
    embedded: &mut dyn FnMut(usize),
    stop: &dyn Fn() -> bool,
) -> Result<Vec<Option<Vec<Vec<f32>>>>> {
    let mut distinct: Vec<Distinct> = Vec::new();
    let mut position: HashMap<[u8; 32], usize> = HashMap::new();
    let mut slots: Vec<Vec<Option<Slot>>> = files
        .iter()
        .map(|chunks| chunks.iter().map(|_| None).collect())
        .collect();
    let mut remaining: Vec<usize> = files.iter().map(|chunks| chunks.len()).collect();
    let mut cached = 0;
    for (file, chunks) in files.iter().enumerate() {
        for (n, chunk) in chunks.iter().enumerate() {
            let text = chunk.embedding_text();
            let key = *blake3::hash(text.as_bytes()).as_bytes();
            if let Some(vector) = cache.vectors.get(&key) {
                slots[file][n] = Some(Slot::Cached(vector.clone()));
                remaining[file] -= 1;
                cached += 1;
                continue;
            }
            let at = *position.entry(key).or_insert_with(|| {
                distinct.push((text, key, Vec::new()));
                distinct.len() - 1
            });
            distinct[at].2.push((file, n));
            slots[file][n] = Some(Slot::Text(at));
        }
    }
    if cached > 0 {
        embedded(cached);
    }
    for (file, left) in remaining.iter().enumerate() {
        if *left == 0 {
            file_done(file);
        }
    }
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_by_key(|&i| distinct[i].0.len());
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; distinct.len()];
    for part in order.chunks(batch.max(1)) {
        if stop() {
            break;
        }
        let texts: Vec<&str> = part.iter().map(|&i| distinct[i].0.as_str()).collect();
        let batch_vectors = embedder.embed(&texts).map_err(Error::Embedding)?;
        if batch_vectors.len() != part.len() {
            return Err(Error::Embedding(format!(
                "asked for {} vectors, got {}",
                part.len(),
                batch_vectors.len()
            )));
        }
        let mut resolved = 0;
        for (&i, vector) in part.iter().zip(batch_vectors) {
            cache.keep(distinct[i].1, &vector);
            for &(file, _) in &distinct[i].2 {
                resolved += 1;
                remaining[file] -= 1;
                if remaining[file] == 0 {
                    file_done(file);
                }
            }
            vectors[i] = Some(vector);
        }
        embedded(resolved);
    }
    slots
        .into_iter()
        .zip(remaining)
        .map(|(file, left)| {
            if left > 0 {
                // Stopped before this file's last vector.
                return Ok(None);
            }
            file.into_iter()
                .map(|slot| match slot {
                    Some(Slot::Cached(vector)) => Ok(vector),
                    Some(Slot::Text(i)) => vectors[i].clone().ok_or_else(missing),
                    None => Err(missing()),
                })
                .collect::<Result<Vec<_>>>()
                .map(Some)
        })
        .collect()
}

fn missing() -> Error {
    Error::Embedding("a chunk was left without a vector".into())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::test_embedder::TestEmbedder;

    /// Counts the texts the model is asked to embed.
    struct Counting {
        inner: TestEmbedder,
        texts: AtomicUsize,
    }

    impl Embedder for Counting {
        fn model_id(&self) -> &str {
            self.inner.model_id()
        }
        fn dimension(&self) -> usize {
            self.inner.dimension()
        }
        fn tokenizer(&self) -> &tokenizers::Tokenizer {
            self.inner.tokenizer()
        }
        fn max_tokens(&self) -> usize {
            self.inner.max_tokens()
        }
        fn embed(&self, texts: &[&str]) -> std::result::Result<Vec<Vec<f32>>, String> {
            self.texts.fetch_add(texts.len(), Ordering::Relaxed);
            self.inner.embed(texts)
        }
    }

    fn chunk(heading: &str, text: &str) -> Chunk {
        Chunk {
            line_start: 1,
            line_end: 1,
            heading: heading.into(),
            text: text.into(),
            location: None,
            file_lines: Default::default(),
        }
    }

    #[test]
    fn each_distinct_text_is_embedded_once_per_ingest() {
        let embedder = Counting {
            inner: TestEmbedder::new(),
            texts: AtomicUsize::new(0),
        };
        let page = [
            chunk("Book > Git", "add the git key"),
            chunk("Book > Path", "a path dependency"),
        ];
        let print = [
            chunk("Book > Git", "add the git key"),
            chunk("Book > Path", "a path dependency"),
            chunk("Book > Intro", "welcome"),
            // The same words under another heading are another passage.
            chunk("Book > Other", "welcome"),
        ];
        let mut cache = EmbeddingCache::default();
        let (mut done, mut resolved) = (Vec::new(), 0);
        let vectors = embed_files(
            &embedder,
            &[&page, &print],
            2,
            &mut cache,
            &mut |file| done.push(file),
            &mut |n| resolved += n,
            &|| false,
        )
        .unwrap();
        let vectors: Vec<Vec<Vec<f32>>> = vectors.into_iter().map(Option::unwrap).collect();
        assert_eq!(embedder.texts.load(Ordering::Relaxed), 4);
        assert_eq!(resolved, 6);
        done.sort();
        assert_eq!(done, [0, 1]);
        assert_eq!(vectors[0][0], vectors[1][0]);
        assert_eq!(vectors[0][1], vectors[1][1]);
        assert_ne!(vectors[1][2], vectors[1][3]);
        let expected = embedder
            .inner
            .embed(&["Book > Path\na path dependency"])
            .unwrap();
        assert_eq!(vectors[1][1], expected[0]);
        // A later buffer of the same ingest asks the model for nothing it has seen.
        let again = embed_files(
            &embedder,
            &[&page],
            2,
            &mut cache,
            &mut |_| {},
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        assert_eq!(embedder.texts.load(Ordering::Relaxed), 4);
        assert_eq!(again[0].as_ref(), Some(&vectors[0]));
    }

    #[test]
    fn a_stop_ends_embedding_between_batches_and_keeps_the_files_done() {
        let embedder = TestEmbedder::default();
        let short = [chunk("A", "one")];
        let long = [
            chunk("B", "a much longer passage than the first"),
            chunk(
                "B",
                "another much longer passage than the first, longer still",
            ),
        ];
        let batches = std::cell::Cell::new(0);
        let vectors = embed_files(
            &embedder,
            &[&short, &long],
            1,
            &mut EmbeddingCache::default(),
            &mut |_| {},
            &mut |_| batches.set(batches.get() + 1),
            &|| batches.get() >= 2,
        )
        .unwrap();
        assert_eq!(batches.get(), 2, "no batch after the stop");
        assert!(vectors[0].is_some(), "the short file was done");
        assert!(vectors[1].is_none(), "the long file was not");
    }
}
