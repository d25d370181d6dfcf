//! SentencePiece tokenization (`tokenizer.ggml.model = "llama"`: Llama 2,
//! TinyLlama, Mistral, Phi-3, Gemma), done the way llama.cpp does it: the GGUF
//! holds pieces and their scores but no merge list, and pieces merge by score.
//!
//! The text is split at special tokens; each plain fragment gets a leading
//! space when the model asks for one (at the start and after a special
//! token), spaces become `▁`, and then, starting from single characters, the
//! adjacent pair whose concatenation is the best-scoring piece merges first
//! (the leftmost among equals). Characters no piece covers are spelled as
//! byte tokens (`<0x0A>`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use aho_corasick::{AhoCorasick, MatchKind};

use super::error::{Error, Result};

/// The character SentencePiece writes for a space.
pub const SPACE: char = '▁';

/// What a GGUF says about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl Kind {
    /// llama.cpp's numbering (`tokenizer.ggml.token_type`).
    pub fn from_gguf(value: i64) -> Kind {
        match value {
            2 => Kind::Unknown,
            3 => Kind::Control,
            4 => Kind::UserDefined,
            5 => Kind::Unused,
            6 => Kind::Byte,
            _ => Kind::Normal,
        }
    }
}

pub struct SentencePiece {
    /// Pieces that merges may form: neither control nor byte tokens, so that
    /// document text can never turn into `</s>`.
    pieces: HashMap<String, u32>,
    scores: Vec<f32>,
    bytes: [Option<u32>; 256],
    unknown: Option<u32>,
    add_space_prefix: bool,
    /// Control and user-defined tokens, found in text we write ourselves.
    special: Option<Splitter>,
    /// User-defined tokens only: llama.cpp splits those out of any text.
    user_defined: Option<Splitter>,
}

/// Finds whole special tokens in text, the longest at each place.
struct Splitter {
    matcher: AhoCorasick,
    ids: Vec<u32>,
}

impl Splitter {
    fn new(tokens: Vec<(&str, u32)>) -> Result<Option<Self>> {
        if tokens.is_empty() {
            return Ok(None);
        }
        let matcher = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|(text, _)| text))
            .map_err(|e| Error::Tokenizer(format!("special tokens: {e}")))?;
        Ok(Some(Splitter {
            matcher,
            ids: tokens.iter().map(|&(_, id)| id).collect(),
        }))
    }
}

impl SentencePiece {
    pub fn new(
        tokens: &[&str],
        kinds: &[Kind],
        scores: Vec<f32>,
        unknown: Option<u32>,
        add_space_prefix: bool,
    ) -> Result<Self> {
        let mut pieces = HashMap::with_capacity(tokens.len());
        let mut bytes = [None; 256];
        let mut special = Vec::new();
        let mut user_defined = Vec::new();
        for (id, (&text, &kind)) in tokens.iter().zip(kinds).enumerate() {
            let id = id as u32;
            match kind {
                Kind::Byte => {
                    if let Some(byte) = byte_token_value(text) {
                        bytes[byte as usize].get_or_insert(id);
                    }
                }
                Kind::Control => special.push((text, id)),
                Kind::UserDefined => {
                    special.push((text, id));
                    user_defined.push((text, id));
                    pieces.entry(text.to_string()).or_insert(id);
                }
                Kind::Normal | Kind::Unknown | Kind::Unused => {
                    pieces.entry(text.to_string()).or_insert(id);
                }
            }
        }
        // Empty texts would match everywhere.
        special.retain(|(text, _)| !text.is_empty());
        user_defined.retain(|(text, _)| !text.is_empty());
        let mut scores = scores;
        scores.resize(tokens.len(), 0.0);
        Ok(SentencePiece {
            pieces,
            scores,
            bytes,
            unknown,
            add_space_prefix,
            special: Splitter::new(special)?,
            user_defined: Splitter::new(user_defined)?,
        })
    }

    /// Token ids of `text`; unless `literal`, control-token text (e.g.
    /// `<start_of_turn>`) becomes that token.
    pub fn encode(&self, text: &str, literal: bool) -> Vec<u32> {
        self.encode_parts(&[(text, literal)])
    }

    /// Token ids of a text given in `(text, literal)` parts: control tokens
    /// are found only in the parts that are not literal, but plain text runs on
    /// across parts, so the ids are those of the whole text ("[INST] " then
    /// "What" gives `▁What`, as "[INST] What" does).
    pub fn encode_parts(&self, parts: &[(&str, bool)]) -> Vec<u32> {
        let mut fragments: Vec<Fragment> = Vec::new();
        let plain = |fragments: &mut Vec<Fragment>, text: &str| {
            if let Some(Fragment::Text(last)) = fragments.last_mut() {
                last.push_str(text);
            } else {
                fragments.push(Fragment::Text(text.to_string()));
            }
        };
        for &(text, literal) in parts {
            let splitter = if literal {
                self.user_defined.as_ref()
            } else {
                self.special.as_ref()
            };
            let mut start = 0;
            if let Some(splitter) = splitter {
                for found in splitter.matcher.find_iter(text) {
                    if found.start() > start {
                        plain(&mut fragments, &text[start..found.start()]);
                    }
                    fragments.push(Fragment::Token(splitter.ids[found.pattern().as_usize()]));
                    start = found.end();
                }
            }
            if start < text.len() {
                plain(&mut fragments, &text[start..]);
            }
        }
        let mut out = Vec::new();
        let mut after_special = true;
        for fragment in fragments {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(text) => {
                    let mut escaped = String::with_capacity(text.len() + 3);
                    if self.add_space_prefix && after_special {
                        escaped.push(SPACE);
                    }
                    escaped.extend(text.chars().map(|c| if c == ' ' { SPACE } else { c }));
                    self.tokenize(&escaped, &mut out);
                    after_special = false;
                }
            }
        }
        out
    }

    fn tokenize(&self, text: &str, out: &mut Vec<u32>) {
        // Symbols are byte ranges of `text`, linked as a list; merging a pair
        // grows the left one and empties the right one.
        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (i, (at, c)) in text.char_indices().enumerate() {
            symbols.push(Symbol {
                start: at,
                len: c.len_utf8(),
                prev: i.checked_sub(1),
                next: None,
            });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        let push = |queue: &mut BinaryHeap<Bigram>, symbols: &[Symbol], left: usize| {
            let Some(right) = symbols[left].next else {
                return;
            };
            let (l, r) = (&symbols[left], &symbols[right]);
            let merged = &text[l.start..r.start + r.len];
            if let Some(&id) = self.pieces.get(merged) {
                queue.push(Bigram {
                    score: self.scores[id as usize],
                    left,
                    len: merged.len(),
                });
            }
        };
        for i in 0..symbols.len() {
            push(&mut queue, &symbols, i);
        }
        while let Some(bigram) = queue.pop() {
            let left = bigram.left;
            let Some(right) = symbols[left].next else {
                continue;
            };
            // A stale entry: one side has merged with something else since.
            if symbols[left].len == 0
                || symbols[right].len == 0
                || symbols[left].len + symbols[right].len != bigram.len
            {
                continue;
            }
            symbols[left].len += symbols[right].len;
            symbols[right].len = 0;
            symbols[left].next = symbols[right].next;
            if let Some(next) = symbols[right].next {
                symbols[next].prev = Some(left);
            }
            if let Some(prev) = symbols[left].prev {
                push(&mut queue, &symbols, prev);
            }
            push(&mut queue, &symbols, left);
        }
        let mut at = (!symbols.is_empty()).then_some(0);
        while let Some(i) = at {
            let symbol = &symbols[i];
            let piece = &text[symbol.start..symbol.start + symbol.len];
            match self.pieces.get(piece) {
                Some(&id) => out.push(id),
                None => {
                    for byte in piece.bytes() {
                        if let Some(id) = self.bytes[byte as usize].or(self.unknown) {
                            out.push(id);
                        }
                    }
                }
            }
            at = symbol.next;
        }
    }
}

/// The text a token stands for: `▁` back to spaces, byte tokens to their byte.
pub fn piece_bytes(text: &str, kind: Kind) -> Vec<u8> {
    match kind {
        Kind::Byte => byte_token_value(text).map_or_else(|| text.as_bytes().to_vec(), |b| vec![b]),
        Kind::Normal => text.replace(SPACE, " ").into_bytes(),
        _ => text.as_bytes().to_vec(),
    }
}

/// `<0x0A>` -> 0x0A.
fn byte_token_value(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    u8::from_str_radix(hex, 16).ok()
}

enum Fragment {
    Text(String),
    Token(u32),
}

struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A candidate merge: the best score first, then the leftmost.
struct Bigram {
    score: f32,
    left: usize,
    len: usize,
}

impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Bigram {}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(entries: &[(&str, f32, Kind)]) -> SentencePiece {
        let tokens: Vec<&str> = entries.iter().map(|e| e.0).collect();
        let kinds: Vec<Kind> = entries.iter().map(|e| e.2).collect();
        let scores = entries.iter().map(|e| e.1).collect();
        SentencePiece::new(&tokens, &kinds, scores, Some(0), true).expect("vocabulary")
    }

    #[test]
    fn the_best_scoring_pair_merges_first() {
        use Kind::*;
        let sp = vocab(&[
            ("<unk>", 0.0, Unknown),
            ("▁", -1.0, Normal),
            ("a", -1.0, Normal),
            ("b", -1.0, Normal),
            ("c", -1.0, Normal),
            ("ab", -5.0, Normal),
            ("bc", -2.0, Normal),
            ("▁a", -3.0, Normal),
        ]);
        // "▁abc": "bc" (-2) beats "▁a" (-3) and "ab" (-5); then "▁a" + "bc".
        assert_eq!(sp.encode("abc", true), vec![7, 6]);
    }

    #[test]
    fn unknown_characters_are_spelled_as_bytes_and_specials_split_out() {
        use Kind::*;
        let sp = vocab(&[
            ("<unk>", 0.0, Unknown),
            ("<s>", 0.0, Control),
            ("▁", -1.0, Normal),
            ("<0xC3>", 0.0, Byte),
            ("<0xA9>", 0.0, Byte),
            ("x", -1.0, Normal),
        ]);
        assert_eq!(sp.encode("é", true), vec![2, 3, 4]);
        // Control text is plain text in literal text; a space goes after it.
        assert_eq!(sp.encode("<s>x", false), vec![1, 2, 5]);
        assert!(!sp.encode("<s>x", true).contains(&1));
    }

    #[test]
    fn pieces_print_spaces_and_bytes() {
        assert_eq!(piece_bytes("▁Hello", Kind::Normal), b" Hello");
        assert_eq!(piece_bytes("<0x0A>", Kind::Byte), b"\n");
        assert_eq!(piece_bytes("<s>", Kind::Control), b"<s>");
    }
}
