//! Splits a document into token-budgeted chunks that remember where they came from.

use serde::{Deserialize, Serialize};
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::extract::{Document, Kind};
use crate::location::{FileLines, Location};
use crate::{Error, Result};

/// Chunk sizes in the embedding model's tokens. Stored in the manifest: an
/// index re-chunks every file when they change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerConfig {
    pub target_tokens: usize,
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

impl Default for ChunkerConfig {
    /// MiniLM reads 256 tokens; the heading prefix and [CLS]/[SEP] take the rest.
    fn default() -> Self {
        ChunkerConfig {
            target_tokens: 200,
            max_tokens: 224,
            overlap_tokens: 30,
        }
    }
}

/// One retrievable passage of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// 1-based, inclusive.
    pub line_start: u32,
    pub line_end: u32,
    /// "Title > Section > Subsection".
    pub heading: String,
    pub text: String,
    /// The document's divisions the chunk is in (pages, slides, sheet rows...).
    pub location: Option<Location>,
    /// For converted text (HTML), the file's line of each of the chunk's
    /// lines; empty when the text's lines are the file's.
    pub file_lines: FileLines,
}

impl Chunk {
    /// The text the embedding model sees: the heading path gives a passage
    /// its context ("Fugue > Structure" says what "it" refers to).
    pub fn embedding_text(&self) -> String {
        if self.heading.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.heading, self.text)
        }
    }
}

enum Splitter {
    Markdown(MarkdownSplitter<Tokenizer>),
    Text(TextSplitter<Tokenizer>),
}

pub struct Chunker {
    markdown: Splitter,
    text: Splitter,
    config: ChunkerConfig,
}

impl Chunker {
    pub fn new(tokenizer: &Tokenizer, config: ChunkerConfig) -> Result<Self> {
        if config.target_tokens == 0 || config.max_tokens < config.target_tokens {
            return Err(Error::Config(format!(
                "chunk sizes must satisfy 0 < target ({}) <= max ({})",
                config.target_tokens, config.max_tokens
            )));
        }
        // Sizing must count every token: the model's file pads and truncates for batching.
        let mut tokenizer = tokenizer.clone();
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::Config(format!("tokenizer: {e}")))?;
        let chunk_config = || {
            ChunkConfig::new(config.target_tokens..config.max_tokens + 1)
                .with_sizer(tokenizer.clone())
                .with_overlap(config.overlap_tokens)
                .map_err(|e| Error::Config(format!("chunk overlap: {e}")))
        };
        Ok(Chunker {
            markdown: Splitter::Markdown(MarkdownSplitter::new(chunk_config()?)),
            text: Splitter::Text(TextSplitter::new(chunk_config()?)),
            config,
        })
    }

    pub fn config(&self) -> ChunkerConfig {
        self.config
    }

    pub fn chunk(&self, doc: &Document) -> Vec<Chunk> {
        let splitter = match doc.kind {
            Kind::Markdown | Kind::Html | Kind::Document(_) => &self.markdown,
            Kind::Text | Kind::Code | Kind::Pdf => &self.text,
        };
        let mut pieces: Vec<(usize, &str)> = Vec::new();
        for (start, segment) in segments(&doc.text) {
            let found: Vec<(usize, &str)> = match splitter {
                Splitter::Markdown(s) => s.chunk_indices(segment).collect(),
                Splitter::Text(s) => s.chunk_indices(segment).collect(),
            };
            pieces.extend(found.into_iter().map(|(at, piece)| (start + at, piece)));
        }
        let lines = LineIndex::new(&doc.text);
        let headings = match doc.kind {
            Kind::Markdown | Kind::Html | Kind::Document(_) => {
                pieces = with_openers_beside_their_code(&doc.text, pieces);
                markdown_headings(&doc.text)
            }
            _ => Vec::new(),
        };
        pieces
            .into_iter()
            .filter(|(_, piece)| !piece.trim().is_empty())
            .map(|(offset, piece)| {
                let line_start = lines.line_of(offset);
                let line_end = lines.line_of(offset + piece.len().saturating_sub(1));
                Chunk {
                    line_start,
                    line_end,
                    heading: heading_path(&doc.title, &headings, offset),
                    text: piece.to_string(),
                    location: Location::of_lines(&doc.places, line_start, line_end),
                    file_lines: FileLines::slice(&doc.file_lines, line_start, line_end),
                }
            })
            .collect()
    }
}

/// The splitter measures a semantic unit (a section, a code block, a line)
/// by tokenizing it whole, at about 120 bytes of memory per byte: a 20 MB
/// line would take gigabytes. Text longer than this is split first into
/// segments of at most this many bytes, chunked one by one.
const SEGMENT_BYTES: usize = 256 * 1024;

/// `text` as segments of at most [`SEGMENT_BYTES`] with their offsets, each
/// cut after a blank line, else a line end, else a space, in the second half
/// of its window. Text that short is one segment: chunks are as before.
fn segments(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let mut start = 0;
    while text.len() - start > SEGMENT_BYTES {
        let mut end = start + SEGMENT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let window = &text[start..end];
        let half = window.len() / 2;
        let after =
            |at: Option<usize>, width: usize| at.filter(|&at| at >= half).map(|at| at + width);
        let cut = after(window.rfind("\n\n"), 2)
            .or_else(|| after(window.rfind('\n'), 1))
            .or_else(|| after(window.rfind(' '), 1))
            .unwrap_or(window.len());
        found.push((start, &text[start..start + cut]));
        start += cut;
    }
    found.push((start, &text[start..]));
    found
}

/// The splitter cuts a code block too long for one chunk after its opening
/// fence, leaving a piece that ends with "```toml" (or is only that line)
/// and a next piece with the code but no fence: the first ranks high on its
/// heading alone and shows the model nothing, the second reads as prose.
/// An opening fence that ends a piece moves to the start of the next one.
fn with_openers_beside_their_code<'t>(
    text: &'t str,
    pieces: Vec<(usize, &'t str)>,
) -> Vec<(usize, &'t str)> {
    let openers = fence_openers(text);
    let mut kept: Vec<(usize, &'t str)> = Vec::with_capacity(pieces.len());
    let mut pieces = pieces.into_iter().peekable();
    while let Some((start, piece)) = pieces.next() {
        let end = start + piece.trim_end().len();
        let last_line = text[..end].rfind('\n').map_or(0, |at| at + 1);
        let opener = openers.binary_search(&last_line).is_ok();
        match pieces.peek_mut() {
            Some((next_start, next)) if opener && *next_start + next.len() > last_line => {
                let next_end = *next_start + next.len();
                *next_start = (*next_start).min(last_line);
                *next = &text[*next_start..next_end];
                let before = text[start..last_line.max(start)].trim_end();
                if !before.trim().is_empty() {
                    kept.push((start, before));
                }
            }
            _ => kept.push((start, piece)),
        }
    }
    kept
}

/// Byte offsets of the lines that open a fenced code block (CommonMark: a
/// run of three or more backticks or tildes, closed by a run of the same
/// character at least as long with nothing after it).
fn fence_openers(text: &str) -> Vec<usize> {
    let mut openers = Vec::new();
    let mut open: Option<(u8, usize)> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let trimmed = line[indent..].trim_end();
        let marker = trimmed.bytes().next().filter(|b| matches!(b, b'`' | b'~'));
        if let (Some(marker), true) = (marker, indent < 4) {
            let run = trimmed.bytes().take_while(|&b| b == marker).count();
            let info = &trimmed[run..];
            if run >= 3 {
                match open {
                    None if marker == b'~' || !info.contains('`') => {
                        openers.push(offset);
                        open = Some((marker, run));
                    }
                    Some((m, n)) if m == marker && run >= n && info.is_empty() => open = None,
                    _ => {}
                }
            }
        }
        offset += line.len();
    }
    openers
}

/// Byte offset to 1-based line number.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> u32 {
        self.starts.partition_point(|&start| start <= offset) as u32
    }
}

pub(crate) struct Heading {
    level: usize,
    pub(crate) title: String,
    offset: usize,
}

/// ATX headings outside fenced code blocks.
pub(crate) fn markdown_headings(text: &str) -> Vec<Heading> {
    let mut headings = Vec::new();
    let mut in_fence = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        } else if !in_fence && trimmed.starts_with('#') && line.len() - trimmed.len() < 4 {
            let level = trimmed.bytes().take_while(|&b| b == b'#').count();
            let rest = &trimmed[level..];
            if level <= 6 && (rest.starts_with(' ') || rest.starts_with('\t')) {
                let title = rest.trim().trim_end_matches('#').trim();
                if !title.is_empty() {
                    headings.push(Heading {
                        level,
                        title: title.to_string(),
                        offset,
                    });
                }
            }
        }
        offset += line.len();
    }
    headings
}

/// The document title followed by the headings in force at `offset`.
fn heading_path(title: &str, headings: &[Heading], offset: usize) -> String {
    let mut stack: Vec<&Heading> = Vec::new();
    for heading in headings.iter().take_while(|h| h.offset <= offset) {
        while stack.last().is_some_and(|top| top.level >= heading.level) {
            stack.pop();
        }
        stack.push(heading);
    }
    let mut parts: Vec<&str> = Vec::with_capacity(stack.len() + 1);
    if !title.is_empty() {
        parts.push(title);
    }
    for heading in stack {
        if parts.last() != Some(&heading.title.as_str()) {
            parts.push(&heading.title);
        }
    }
    parts.join(" > ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{Place, Unit};
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;

    /// A tokenizer that counts whitespace-separated words, so budgets are exact.
    fn word_tokenizer(text: &str) -> Tokenizer {
        let mut vocab: std::collections::HashMap<String, u32> = Default::default();
        vocab.insert("[UNK]".into(), 0);
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            let next = vocab.len() as u32;
            vocab.entry(word.to_string()).or_insert(next);
        }
        let model = WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(Whitespace {}));
        tokenizer
    }

    fn doc(kind: Kind, title: &str, text: &str) -> Document {
        Document {
            kind,
            title: title.into(),
            text: text.into(),
            places: Vec::new(),
            file_lines: Vec::new(),
        }
    }

    fn chunker(text: &str, target: usize, max: usize, overlap: usize) -> Chunker {
        Chunker::new(
            &word_tokenizer(text),
            ChunkerConfig {
                target_tokens: target,
                max_tokens: max,
                overlap_tokens: overlap,
            },
        )
        .unwrap()
    }

    #[test]
    fn small_document_is_one_chunk_with_all_lines() {
        let text = "# Fugue\n\nA fugue is a form.\nIt has voices.\n";
        let chunks = chunker(text, 50, 60, 5).chunk(&doc(Kind::Markdown, "Fugue", text));
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].line_start, chunks[0].line_end), (1, 4));
        assert_eq!(chunks[0].heading, "Fugue");
        assert_eq!(
            chunks[0].embedding_text(),
            format!("Fugue\n{}", text.trim())
        );
    }

    #[test]
    fn sections_split_at_headings_and_carry_their_path() {
        let mut text = String::from("# Guide\n\nIntro words here.\n\n## Install\n\n");
        for i in 0..30 {
            text.push_str(&format!("install step {i} runs\n"));
        }
        text.push_str("\n### Linux\n\nuse the package manager\n\n## Usage\n\nrun the tool now\n");
        let chunks = chunker(&text, 40, 50, 0).chunk(&doc(Kind::Markdown, "Guide", &text));
        assert!(chunks.len() >= 3, "{chunks:#?}");
        let usage = chunks
            .iter()
            .find(|c| c.text.contains("run the tool"))
            .unwrap();
        assert_eq!(usage.heading, "Guide > Usage");
        let linux = chunks
            .iter()
            .find(|c| c.text.contains("package manager"))
            .unwrap();
        assert!(
            linux.heading.starts_with("Guide > Install"),
            "{}",
            linux.heading
        );
        assert_chunks_are_their_lines(&text, &chunks);
    }

    /// Every chunk's text is exactly the lines it claims.
    fn assert_chunks_are_their_lines(text: &str, chunks: &[Chunk]) {
        let lines: Vec<&str> = text.lines().collect();
        for chunk in chunks {
            let span = lines[chunk.line_start as usize - 1..chunk.line_end as usize].join("\n");
            assert_eq!(span.trim(), chunk.text.trim(), "{chunk:?}");
        }
    }

    #[test]
    fn budget_and_overlap_are_respected() {
        let text: String = (0..400)
            .map(|i| format!("Sentence number {i} is here."))
            .collect::<Vec<_>>()
            .join(" ");
        let tokenizer = word_tokenizer(&text);
        let chunks = chunker(&text, 40, 50, 8).chunk(&doc(Kind::Text, "t", &text));
        assert!(chunks.len() > 10);
        for chunk in &chunks {
            let n = tokenizer.encode(chunk.text.as_str(), false).unwrap().len();
            assert!(n <= 50, "chunk of {n} tokens");
            assert_eq!(chunk.heading, "t");
        }
        // Overlap: consecutive chunks share text.
        let shared = chunks.windows(2).filter(|w| {
            let tail: Vec<&str> = w[0].text.split_whitespace().rev().take(3).collect();
            tail.iter().all(|word| w[1].text.contains(word))
        });
        assert!(shared.count() > chunks.len() / 2);
    }

    #[test]
    fn a_code_block_split_in_pieces_keeps_its_opening_fence() {
        let mut text = String::from("# Git\n\nMore examples of git dependencies:\n\n```toml\n");
        for i in 0..40 {
            text.push_str(&format!("regex{i} = {{ git = \"url\", tag = \"v{i}\" }}\n"));
        }
        text.push_str("```\n\nCargo locks the commits.\n");
        let chunks = chunker(&text, 40, 50, 0).chunk(&doc(Kind::Markdown, "Git", &text));
        assert!(chunks.len() > 3, "{chunks:#?}");
        let code = chunks
            .iter()
            .position(|c| c.text.contains("regex0 "))
            .unwrap();
        assert!(chunks[code].text.starts_with("```toml\n"), "{chunks:#?}");
        assert_eq!(chunks[code].line_start, 5);
        for chunk in &chunks {
            assert_ne!(chunk.text.trim(), "```toml", "{chunks:#?}");
            assert!(!chunk.text.trim_end().ends_with("```toml"), "{chunk:?}");
        }
        assert_chunks_are_their_lines(&text, &chunks);
    }

    #[test]
    fn fences_open_and_close_as_commonmark_says() {
        let text = "a\n```rust\nx\n~~~\n```\n````\n```\n````\n  ~~~ sh\nz\n~~~\n    ```\n";
        let lines: Vec<usize> = text.match_indices('\n').map(|(at, _)| at + 1).collect();
        // Openers: line 2 (```rust), line 6 (````), line 9 (~~~ sh); the
        // indented ``` of line 12 is code, not a fence.
        assert_eq!(fence_openers(text), [lines[0], lines[4], lines[7]]);
    }

    #[test]
    fn headings_inside_code_fences_are_ignored() {
        let text = "# Top\n\n```sh\n# not a heading\n```\n\nafter\n";
        let headings = markdown_headings(text);
        assert_eq!(headings.len(), 1);
        assert_eq!(heading_path("Top", &headings, text.len() - 2), "Top");
    }

    #[test]
    fn pdf_pages_follow_lines() {
        let text = "page one text\n\npage two text\n\n";
        let mut d = doc(Kind::Pdf, "p", text);
        d.places = [1, 3]
            .into_iter()
            .zip(1..)
            .map(|(line, number)| Place {
                line,
                unit: Unit::Page,
                number,
                name: None,
            })
            .collect();
        let chunks = chunker(text, 3, 4, 0).chunk(&d);
        let page = |chunk: &Chunk| chunk.location.as_ref().map(Location::label);
        assert_eq!(page(&chunks[0]).as_deref(), Some("page 1"));
        assert_eq!(page(chunks.last().unwrap()).as_deref(), Some("page 2"));
        assert_eq!(chunks.last().unwrap().line_start, 3);
    }

    #[test]
    fn converted_text_keeps_the_file_line_of_each_chunk_line() {
        let text = "one two three\n\nfour five six\n";
        let mut d = doc(Kind::Html, "p", text);
        d.file_lines = vec![12, 13, 40];
        let chunks = chunker(text, 3, 4, 0).chunk(&d);
        let last = chunks.last().unwrap();
        assert_eq!(
            (last.line_start, last.file_lines.file_line(last.line_start)),
            (3, 40)
        );
        assert_eq!(chunks[0].file_lines.file_line(1), 12);
    }

    #[test]
    fn long_text_is_chunked_in_bounded_segments_that_cover_it() {
        let short = "one line\n".repeat(100);
        assert_eq!(segments(&short), [(0, short.as_str())]);
        // One endless line, and many lines: every byte in exactly one segment.
        let line = "word ".repeat(200_000);
        let lines = "a line of text\n\n".repeat(50_000);
        for text in [line, lines] {
            let found = segments(&text);
            assert!(found.len() > 1);
            let mut next = 0;
            for (start, segment) in &found {
                assert_eq!(*start, next);
                assert!(segment.len() <= SEGMENT_BYTES);
                next += segment.len();
            }
            assert_eq!(next, text.len());
        }
        // Offsets stay those of the whole text: lines are counted right.
        let text = format!("{}\nneedle here\n", "word ".repeat(120_000));
        let chunker = chunker(&text, 64, 96, 0);
        let chunks = chunker.chunk(&doc(Kind::Text, "t", &text));
        let needle = chunks.iter().find(|c| c.text.contains("needle")).unwrap();
        assert_eq!(needle.line_end, 2);
    }
}
