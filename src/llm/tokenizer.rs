//! The tokenizer, built from the GGUF's own metadata (`tokenizer.ggml.*`) so that
//! a model file is all a user needs, and so that it splits text exactly as
//! llama.cpp does for the same file.

use std::collections::HashMap;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

use super::error::{Error, Result};
use super::gguf::Gguf;
use super::sentencepiece::{self, Kind, SentencePiece};

/// GPT-2's pre-tokenizer split (contractions, words, numbers, punctuation, spaces).
const GPT2_RE: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Llama 3's split: case-insensitive contractions, numbers in groups of up to three.
const LLAMA3_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's split: like Llama 3 but every digit on its own.
const QWEN2_RE: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Control tokens that end generation besides eos, as llama.cpp counts them:
/// the end-of-turn markers of ChatML, Llama 3, Phi-3 and Gemma, and end-of-text.
const END_OF_GENERATION: [&str; 6] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
];

/// A tokenizer for one model.
pub struct Tokenizer {
    engine: Engine,
    /// The bytes each token stands for; a token may hold part of a UTF-8 character.
    pieces: Vec<Vec<u8>>,
    /// Control tokens (bos, eos, turn markers) are never printed.
    control: Vec<bool>,
    ids: HashMap<String, u32>,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
}

/// How text becomes tokens, by the vocabulary's kind.
enum Engine {
    /// Byte-level BPE (`gpt2`: SmolLM, Qwen2, Llama 3), through the tokenizers crate.
    Bpe {
        /// Splits special tokens such as `<|im_start|>` out of the text (for prompts we build).
        special: tokenizers::Tokenizer,
        /// Treats special-token text as plain text (for text we did not write).
        literal: tokenizers::Tokenizer,
    },
    /// SentencePiece (`llama`: Llama 2, TinyLlama, Mistral, Gemma).
    SentencePiece(SentencePiece),
}

impl Tokenizer {
    pub fn from_gguf(gguf: &Gguf) -> Result<Self> {
        let unsupported = |what: String| Error::Unsupported {
            path: gguf.path().to_path_buf(),
            what,
        };
        let model = gguf.string_opt("tokenizer.ggml.model")?.unwrap_or("gpt2");
        if !matches!(model, "gpt2" | "llama") {
            return Err(unsupported(format!(
                "unsupported tokenizer type tokenizer.ggml.model = {model:?} (supported: gpt2, llama)"
            )));
        }
        let tokens = gguf.strings("tokenizer.ggml.tokens")?;
        let types = match gguf.value("tokenizer.ggml.token_type") {
            Some(_) => gguf.ints("tokenizer.ggml.token_type")?,
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(Error::Metadata {
                path: gguf.path().to_path_buf(),
                key: "tokenizer.ggml.token_type".into(),
                reason: format!("{} types for {} tokens", types.len(), tokens.len()),
            });
        }
        let kinds: Vec<Kind> = types.iter().map(|&t| Kind::from_gguf(t)).collect();

        // The vocabulary id of a token is its index in the list.
        let mut ids = HashMap::with_capacity(tokens.len());
        for (id, token) in tokens.iter().enumerate() {
            ids.entry(token.to_string()).or_insert(id as u32);
        }
        let (engine, pieces) = if model == "llama" {
            sentencepiece_engine(gguf, &tokens, &kinds)?
        } else {
            bpe_engine(gguf, &tokens, &kinds, &ids)?
        };
        let control = kinds.iter().map(|&k| k == Kind::Control).collect();

        let token_id = |key: &str| -> Result<Option<u32>> {
            match gguf.value(key) {
                None => Ok(None),
                Some(_) => {
                    let id = gguf.uint(key)?;
                    if id as usize >= tokens.len() {
                        return Err(Error::Metadata {
                            path: gguf.path().to_path_buf(),
                            key: key.into(),
                            reason: format!(
                                "id {id} is outside the vocabulary of {}",
                                tokens.len()
                            ),
                        });
                    }
                    Ok(Some(id as u32))
                }
            }
        };
        Ok(Tokenizer {
            engine,
            pieces,
            control,
            ids,
            bos: token_id("tokenizer.ggml.bos_token_id")?,
            eos: token_id("tokenizer.ggml.eos_token_id")?,
            add_bos: gguf.bool_or("tokenizer.ggml.add_bos_token", false)?,
        })
    }

    /// Tokens of `text`, with special-token text (e.g. `<|im_end|>`) mapped to
    /// its single id. No bos is added: see [`Tokenizer::encode_prompt`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match &self.engine {
            Engine::Bpe { special, .. } => encode_with(special, text),
            Engine::SentencePiece(sp) => Ok(sp.encode(text, false)),
        }
    }

    /// Tokens of `text`, treating special-token text as ordinary characters: for
    /// text from documents, which must not be able to end a turn.
    pub fn encode_literal(&self, text: &str) -> Result<Vec<u32>> {
        match &self.engine {
            Engine::Bpe { literal, .. } => encode_with(literal, text),
            Engine::SentencePiece(sp) => Ok(sp.encode(text, true)),
        }
    }

    /// Tokens of a prompt given in parts, each `(text, literal)` (see
    /// [`Tokenizer::encode_literal`]), bos first when the model asks for it.
    /// A SentencePiece vocabulary encodes the plain text across parts as one
    /// run, as it would the whole prompt; byte-level BPE encodes each part
    /// (chat templates end their markup with a newline, where BPE splits anyway).
    pub fn encode_parts(&self, parts: &[(&str, bool)]) -> Result<Vec<u32>> {
        let ids = match &self.engine {
            Engine::Bpe { special, literal } => {
                let mut ids = Vec::new();
                for &(text, is_literal) in parts {
                    ids.extend(encode_with(
                        if is_literal { literal } else { special },
                        text,
                    )?);
                }
                ids
            }
            Engine::SentencePiece(sp) => sp.encode_parts(parts),
        };
        Ok(self.with_bos(ids))
    }

    /// Tokens of a whole prompt: bos first when the model asks for it.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.with_bos(self.encode(text)?))
    }

    fn with_bos(&self, body: Vec<u32>) -> Vec<u32> {
        let mut ids = Vec::new();
        if let (true, Some(bos)) = (self.add_bos, self.bos) {
            // A template that writes the bos text itself must not get it twice.
            if body.first() != Some(&bos) {
                ids.push(bos);
            }
        }
        ids.extend(body);
        ids
    }

    /// The text of `ids`, leaving out control tokens.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut stream = StreamDecoder::default();
        let mut text = String::new();
        for &id in ids {
            text.push_str(&stream.push(self, id));
        }
        text.push_str(&stream.finish());
        text
    }

    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// The token's text as raw bytes (possibly part of a UTF-8 character).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Tokens that end generation: eos and the end-of-turn control tokens this
    /// vocabulary has (so `<|im_end|>` stops a ChatML model even when its eos
    /// is `<|endoftext|>`, and the other way round).
    pub fn end_of_generation_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = END_OF_GENERATION
            .iter()
            .filter_map(|text| self.token_id(text))
            .filter(|&id| self.is_control(id))
            .chain(self.eos)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Byte-level BPE from the GGUF's tokens and merges; returns the engine and
/// each token's bytes.
fn bpe_engine(
    gguf: &Gguf,
    tokens: &[&str],
    kinds: &[Kind],
    ids: &HashMap<String, u32>,
) -> Result<(Engine, Vec<Vec<u8>>)> {
    let merges: Vec<(String, String)> = gguf
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .map(|m| {
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| Error::Metadata {
                    path: gguf.path().to_path_buf(),
                    key: "tokenizer.ggml.merges".into(),
                    reason: format!("merge {m:?} is not two tokens separated by a space"),
                })
        })
        .collect::<Result<_>>()?;
    let vocab: tokenizers::models::bpe::Vocab =
        ids.iter().map(|(token, &id)| (token.clone(), id)).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| Error::Tokenizer(e.to_string()))?;

    let pre = gguf.string_opt("tokenizer.ggml.pre")?.unwrap_or("default");
    let pre_tokenizer = pre_tokenizer(pre)?;

    let mut special = tokenizers::Tokenizer::new(bpe);
    special.with_pre_tokenizer(Some(pre_tokenizer));
    special.with_decoder(Some(ByteLevelDecoder::default()));
    // Control tokens become single ids wherever their text appears in a prompt
    // (llama.cpp's `special = true`); user-defined ones too, but as normal tokens.
    let added: Vec<AddedToken> = tokens
        .iter()
        .zip(kinds)
        .filter(|(_, &k)| k == Kind::Control || k == Kind::UserDefined)
        .map(|(token, &k)| {
            AddedToken::from(token.to_string(), k == Kind::Control).normalized(false)
        })
        .collect();
    special
        .add_special_tokens(added.iter().filter(|t| t.special).cloned())
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    special
        .add_tokens(added.iter().filter(|t| !t.special).cloned())
        .map_err(|e| Error::Tokenizer(e.to_string()))?;
    let mut literal = special.clone();
    literal.set_encode_special_tokens(true);

    let byte_of = unicode_to_byte();
    let pieces = tokens
        .iter()
        .zip(kinds)
        .map(|(token, &k)| {
            if k == Kind::Control || k == Kind::UserDefined {
                // These are stored as plain text, not byte-level encoded.
                token.as_bytes().to_vec()
            } else {
                byte_level_bytes(token, &byte_of)
            }
        })
        .collect();
    Ok((Engine::Bpe { special, literal }, pieces))
}

/// SentencePiece from the GGUF's tokens and scores (it has no merges).
fn sentencepiece_engine(
    gguf: &Gguf,
    tokens: &[&str],
    kinds: &[Kind],
) -> Result<(Engine, Vec<Vec<u8>>)> {
    let scores = gguf.floats("tokenizer.ggml.scores")?;
    if scores.len() != tokens.len() {
        return Err(Error::Metadata {
            path: gguf.path().to_path_buf(),
            key: "tokenizer.ggml.scores".into(),
            reason: format!("{} scores for {} tokens", scores.len(), tokens.len()),
        });
    }
    let unknown = match gguf.value("tokenizer.ggml.unknown_token_id") {
        Some(_) => Some(gguf.uint("tokenizer.ggml.unknown_token_id")? as u32)
            .filter(|&id| (id as usize) < tokens.len()),
        None => None,
    };
    // llama.cpp's default for SentencePiece vocabularies; Gemma's say false.
    let add_space_prefix = gguf.bool_or("tokenizer.ggml.add_space_prefix", true)?;
    let sp = SentencePiece::new(tokens, kinds, scores, unknown, add_space_prefix)?;
    let pieces = tokens
        .iter()
        .zip(kinds)
        .map(|(token, &k)| sentencepiece::piece_bytes(token, k))
        .collect();
    Ok((Engine::SentencePiece(sp), pieces))
}

fn encode_with(tokenizer: &tokenizers::Tokenizer, text: &str) -> Result<Vec<u32>> {
    tokenizer
        .encode_fast(text, false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| Error::Tokenizer(e.to_string()))
}

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre`: a regex split, then
/// GPT-2's byte-level mapping (without its own regex, which the split replaces).
fn pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper> {
    let split = |re: &str| -> Result<PreTokenizerWrapper> {
        Split::new(
            SplitPattern::Regex(re.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map(PreTokenizerWrapper::Split)
        .map_err(|e| Error::Tokenizer(format!("pre-tokenizer regex: {e}")))
    };
    let mut steps = match pre {
        // StarCoder-family vocabularies: every digit alone, then GPT-2's split.
        "smollm" | "starcoder" | "refact" | "command-r" => vec![split(r"\p{N}")?, split(GPT2_RE)?],
        "llama3" | "llama-bpe" | "smaug-bpe" | "falcon3" => vec![split(LLAMA3_RE)?],
        "qwen2" | "deepseek-r1-qwen" => vec![split(QWEN2_RE)?],
        // "gpt2", "default" and types we do not know: GPT-2's split is the common base.
        _ => vec![split(GPT2_RE)?],
    };
    steps.push(PreTokenizerWrapper::ByteLevel(
        ByteLevel::default()
            .add_prefix_space(false)
            .trim_offsets(true)
            .use_regex(false),
    ));
    Ok(PreTokenizerWrapper::Sequence(Sequence::new(steps)))
}

/// GPT-2 stores bytes as printable characters; this is the inverse of its
/// `bytes_to_unicode` table.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut map = HashMap::with_capacity(256);
    let mut extra = 0u32;
    for b in 0u32..=255 {
        let printable =
            (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
        let c = if printable {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let Some(c) = char::from_u32(c) {
            map.insert(c, b as u8);
        }
    }
    map
}

fn byte_level_bytes(token: &str, byte_of: &HashMap<char, u8>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(token.len());
    for c in token.chars() {
        match byte_of.get(&c) {
            Some(&b) => bytes.push(b),
            // Not byte-level text: keep the character as it is.
            None => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
    bytes
}

/// Turns a stream of token ids into text without ever splitting a UTF-8
/// character: bytes of an unfinished character wait for the next token.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
}

impl StreamDecoder {
    /// The text that `id` completes (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> String {
        if tokenizer.is_control(id) {
            return String::new();
        }
        self.pending.extend_from_slice(tokenizer.token_bytes(id));
        self.take(false)
    }

    /// Whatever is left at the end (an unfinished character becomes U+FFFD).
    pub fn finish(&mut self) -> String {
        self.take(true)
    }

    fn take(&mut self, last: bool) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    out.push_str(text);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe: from_utf8 just said these bytes are valid.
                    out.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                    match e.error_len() {
                        // Bytes that can never be valid: show them as U+FFFD and go on.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &rest[valid + bad..];
                        }
                        // An unfinished character at the end: wait for more bytes.
                        None if !last => {
                            rest = &rest[valid..];
                            break;
                        }
                        None => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &[];
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection() {
        let map = unicode_to_byte();
        assert_eq!(map.len(), 256);
        assert_eq!(map[&'Ġ'], b' ');
        assert_eq!(map[&'Ċ'], b'\n');
        assert_eq!(map[&'A'], b'A');
    }

    fn tokenizer_with_pieces(pieces: Vec<Vec<u8>>) -> Tokenizer {
        let bpe = BPE::default();
        let t = tokenizers::Tokenizer::new(bpe);
        Tokenizer {
            engine: Engine::Bpe {
                literal: t.clone(),
                special: t,
            },
            control: vec![false; pieces.len()],
            pieces,
            ids: HashMap::new(),
            bos: None,
            eos: None,
            add_bos: false,
        }
    }

    #[test]
    fn stream_decoder_waits_for_whole_characters() {
        // "é🚀" split at every byte: nothing is printed until a character is whole.
        let text = "é🚀!";
        let pieces: Vec<Vec<u8>> = text.bytes().map(|b| vec![b]).collect();
        let tok = tokenizer_with_pieces(pieces.clone());
        let mut stream = StreamDecoder::default();
        let mut outputs = Vec::new();
        for id in 0..pieces.len() as u32 {
            outputs.push(stream.push(&tok, id));
        }
        assert_eq!(outputs, vec!["", "é", "", "", "", "🚀", "!"]);
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn stream_decoder_replaces_invalid_bytes() {
        let tok = tokenizer_with_pieces(vec![vec![0xff, b'a'], vec![0xe6, 0x9d]]);
        let mut stream = StreamDecoder::default();
        assert_eq!(stream.push(&tok, 0), "\u{fffd}a");
        assert_eq!(stream.push(&tok, 1), "");
        assert_eq!(stream.finish(), "\u{fffd}");
    }
}
