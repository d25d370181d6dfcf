//! A deterministic [`Embedder`] for unit tests: no model, no files.
//!
//! Each lowercased word (a run of letters and digits) is hashed into one of
//! `dimension` buckets; the bucket counts, L2-normalised, are the vector. So
//! texts that share words have a higher cosine than texts that share none,
//! and the same text always gets the same vector.
//!
//! Its tokenizer counts words (and punctuation runs) as tokens, so chunk
//! budgets are easy to reason about. It can be made to fail, and counts the
//! texts it embedded, so tests can prove what an ingest (re-)embedded.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::Tokenizer;

use crate::embedder::Embedder;

pub const TEST_MODEL_ID: &str = "test/hashed-words@sha256:0000000000000000";
pub const TEST_DIMENSION: usize = 64;

pub struct TestEmbedder {
    model_id: String,
    dimension: usize,
    tokenizer: Tokenizer,
    failing: AtomicBool,
    embedded: AtomicUsize,
}

impl TestEmbedder {
    /// [`TEST_MODEL_ID`] with [`TEST_DIMENSION`] dimensions.
    pub fn new() -> Self {
        Self::with_model(TEST_MODEL_ID, TEST_DIMENSION)
    }

    pub fn with_model(model_id: &str, dimension: usize) -> Self {
        assert!(
            dimension > 0,
            "a test embedder needs at least one dimension"
        );
        TestEmbedder {
            model_id: model_id.to_string(),
            dimension,
            tokenizer: word_tokenizer(),
            failing: AtomicBool::new(false),
            embedded: AtomicUsize::new(0),
        }
    }

    /// From now on, every `embed` call fails (or works again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// How many texts `embed` has turned into vectors so far (queries included).
    pub fn texts_embedded(&self) -> usize {
        self.embedded.load(Ordering::SeqCst)
    }

    /// The vector of one text.
    pub fn vector(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; self.dimension];
        for word in words(text) {
            vector[bucket(&word, self.dimension)] += 1.0;
        }
        let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm == 0.0 {
            // No words: still a unit vector, as the trait promises.
            vector[0] = 1.0;
        } else {
            vector.iter_mut().for_each(|x| *x /= norm);
        }
        vector
    }
}

impl Default for TestEmbedder {
    fn default() -> Self {
        Self::new()
    }
}

impl Embedder for TestEmbedder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn max_tokens(&self) -> usize {
        256
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        if self.failing.load(Ordering::SeqCst) {
            return Err("the test embedder was told to fail".into());
        }
        self.embedded.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts.iter().map(|text| self.vector(text)).collect())
    }
}

/// Lowercased runs of letters and digits.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// FNV-1a: stable across runs and platforms (unlike `DefaultHasher`'s promise).
fn bucket(word: &str, dimension: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in word.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % dimension as u64) as usize
}

/// Every word is one token (all of them unknown to its one-word vocabulary).
fn word_tokenizer() -> Tokenizer {
    let vocab = [("[UNK]".to_string(), 0u32)].into_iter().collect();
    let model = WordLevel::builder()
        .vocab(vocab)
        .unk_token("[UNK]".into())
        .build()
        .expect("a one-word vocabulary builds");
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    tokenizer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let embedder = TestEmbedder::new();
        let a = embedder.vector("The fugue has Voices");
        assert_eq!(a, embedder.vector("the FUGUE has voices!"));
        assert_eq!(a.len(), TEST_DIMENSION);
        for text in ["fugue", "", "...", "a b c d e f g h"] {
            let norm: f32 = embedder.vector(text).iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}: {norm}");
        }
    }

    #[test]
    fn shared_words_mean_higher_cosine() {
        let embedder = TestEmbedder::new();
        let query = embedder.vector("tomato compost garden");
        let close = embedder.vector("the garden needs compost for every tomato plant");
        let far = embedder.vector("a fugue imitates its subject in counterpoint");
        assert!(cosine(&query, &close) > cosine(&query, &far) + 0.2);
    }

    #[test]
    fn counts_texts_and_fails_on_demand() {
        let embedder = TestEmbedder::new();
        let vectors = embedder.embed(&["one", "two words"]).unwrap();
        assert_eq!(vectors.len(), 2);
        assert_eq!(embedder.texts_embedded(), 2);
        embedder.embed_query("three").unwrap();
        assert_eq!(embedder.texts_embedded(), 3);
        embedder.set_failing(true);
        assert!(embedder.embed(&["x"]).is_err());
        assert!(embedder.embed_query("x").is_err());
        assert_eq!(embedder.texts_embedded(), 3);
        embedder.set_failing(false);
        assert!(embedder.embed(&["x"]).is_ok());
    }

    #[test]
    fn the_tokenizer_counts_words() {
        let embedder = TestEmbedder::new();
        let encoding = embedder
            .tokenizer()
            .encode("one two three four", false)
            .unwrap();
        assert_eq!(encoding.len(), 4);
    }
}
