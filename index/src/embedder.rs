/// What the index needs from an embedding model. The index never names the
/// runtime behind it (ONNX, candle...), so tests can plug in anything.
pub trait Embedder: Send + Sync {
    /// A stable identifier written to the manifest; an index refuses to open
    /// with a model whose id or dimension differ.
    fn model_id(&self) -> &str;

    fn dimension(&self) -> usize;

    /// The model's own tokenizer, used to size chunks in the model's tokens.
    fn tokenizer(&self) -> &tokenizers::Tokenizer;

    /// The longest input (in tokens, special tokens included) the model sees;
    /// longer inputs are truncated by the model.
    fn max_tokens(&self) -> usize;

    /// Embeds a batch of texts into L2-normalised vectors, one per text, in order.
    /// Callers pass texts of similar length together so little padding is computed.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;

    /// Embeds a search query (some models prefix queries differently).
    fn embed_query(&self, query: &str) -> Result<Vec<f32>, String> {
        let mut vectors = self.embed(&[query])?;
        vectors
            .pop()
            .ok_or_else(|| "the embedder returned no vector".to_string())
    }
}
