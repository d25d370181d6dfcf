//! From ranked hits to the numbered sources of a prompt: hits that are
//! neighbours in one file become one passage, and passages are packed, best
//! first, into a token budget.

use std::collections::HashMap;

use rag_index::manifest::StoredChunk;
use rag_index::{FileLines, Hit, Location, SearchIndex};
use serde::Serialize;

use super::instructions::neutralised;
use super::located::{cited_at, place_in_document, LinesIn, SourceJson};

/// Two chunks' shared text shorter than this is a coincidence, not the splitter's overlap.
const MIN_OVERLAP: usize = 16;
/// A passage is cut to fit the budget only when this many tokens of it would remain.
const MIN_PARTIAL_TOKENS: usize = 48;
/// A passage whose fused score is under this share of the best passage's is
/// not given to the model: it matched the question's words and meaning far
/// worse than the best, and a small model reads it as a distractor. The
/// scores are the index's fused scores, each side scaled by its best.
const RELEVANT_SHARE: f32 = 0.5;

/// One numbered passage shown to the model (or, after a refusal, to the user).
/// Its lines are those of the text the index holds, so that a quote is found
/// at `line_start` plus its line breaks; [`Source::file_line`] gives the
/// file's line, which is what the user is shown (and the JSON holds).
#[derive(Debug, Clone, Serialize)]
#[serde(into = "SourceJson")]
pub struct Source {
    pub n: usize,
    /// As the user should see it (relative to the current folder when below it).
    pub path: String,
    pub line_start: u32,
    pub line_end: u32,
    pub heading: String,
    /// The best fused retrieval score among the passage's chunks.
    pub score: f32,
    /// The document's divisions the passage is in (pages, slides, rows...).
    pub location: Option<Location>,
    /// For converted text (HTML), the file's line of each text line.
    pub file_lines: FileLines,
    /// Other files that hold the same passage (as the user should see them).
    pub also_in: Vec<String>,
    pub bm25: Option<f32>,
    pub similarity: Option<f32>,
    /// The passage text given to the model.
    pub text: String,
    /// As stored in the index (relative to the index root, or absolute).
    pub stored_path: String,
}

impl Source {
    fn from_hit(hit: &Hit) -> Self {
        Source {
            n: 0,
            path: hit.path.clone(),
            line_start: hit.line_start,
            line_end: hit.line_end,
            heading: hit.heading.clone(),
            score: hit.score,
            location: hit.location.clone(),
            file_lines: hit.file_lines.clone(),
            also_in: hit.also_in.clone(),
            bm25: hit.bm25,
            similarity: hit.similarity,
            text: hit.text.clone(),
            stored_path: hit.path.clone(),
        }
    }

    /// Where in its document the passage is, for a document whose lines
    /// are not the file's (see [`place_in_document`]).
    pub fn place(&self) -> Option<String> {
        place_in_document(
            self.lines_in(),
            self.location.as_ref(),
            &self.heading,
            (self.line_start, self.line_end),
        )
    }

    pub fn lines_in(&self) -> LinesIn {
        LinesIn::of(&self.stored_path, &self.file_lines)
    }

    /// The file's line of the passage's text line `line`.
    pub fn file_line(&self, line: u32) -> u32 {
        self.file_lines.file_line(line)
    }

    /// The form citations take: "path:12-30" for text and pages, or where
    /// in the document for the rest ("deck.pptx slide 7", "paper.pdf page 3",
    /// "report.docx §Results").
    pub fn location(&self) -> String {
        self.citation_at(self.location.as_ref())
    }

    /// The citation of a part of the passage at `location` inside it.
    pub fn location_at(&self, location: &Location) -> String {
        self.citation_at(Some(location))
    }

    fn citation_at(&self, location: Option<&Location>) -> String {
        cited_at(
            &self.path,
            self.lines_in(),
            location,
            &self.heading,
            (
                self.file_line(self.line_start),
                self.file_line(self.line_end),
            ),
        )
    }
}

/// The hits worth reading (see [`RELEVANT_SHARE`]), in their order. Scores
/// that do not say how far apart two passages are (none positive) keep all.
pub fn relevant(hits: &[Hit]) -> Vec<Hit> {
    let best = hits.iter().map(|hit| hit.score).fold(0.0f32, f32::max);
    if best <= 0.0 {
        return hits.to_vec();
    }
    hits.iter()
        .filter(|hit| hit.score >= RELEVANT_SHARE * best)
        .cloned()
        .collect()
}

/// Sources for hits as they are, one per hit (e.g. the nearest passages after a refusal).
pub fn unmerged(hits: &[Hit]) -> Vec<Source> {
    hits.iter()
        .enumerate()
        .map(|(i, hit)| Source {
            n: i + 1,
            ..Source::from_hit(hit)
        })
        .collect()
}

/// Merges hits from one file whose chunks touch or overlap (in rank order of
/// each passage's best hit), so the model reads one continuous passage instead
/// of two fragments that repeat the splitter's overlap.
pub fn merge_neighbours(index: &dyn SearchIndex, hits: &[Hit]) -> rag_index::Result<Vec<Source>> {
    let mut passages: Vec<(Source, Vec<usize>)> = Vec::new();
    // A server answers each file's chunks over the network: once per file.
    let mut files: HashMap<&str, Vec<StoredChunk>> = HashMap::new();
    for hit in hits {
        if !files.contains_key(hit.path.as_str()) {
            files.insert(&hit.path, index.chunks_of(&hit.path)?);
        }
        let order = &files[hit.path.as_str()];
        let position = order.iter().position(|c| c.id == hit.chunk_id);
        let neighbour = passages.iter_mut().find(|(p, positions)| {
            p.stored_path == hit.path
                && match position {
                    Some(at) => positions.iter().any(|&q| q.abs_diff(at) <= 1),
                    None => hit.line_start <= p.line_end + 1 && p.line_start <= hit.line_end + 1,
                }
        });
        match neighbour {
            Some((passage, positions)) => {
                absorb(passage, hit);
                positions.extend(position);
            }
            None => passages.push((Source::from_hit(hit), position.into_iter().collect())),
        }
    }
    for at in 0..passages.len() {
        let order = &files[passages[at].0.stored_path.as_str()];
        if let Some(next) = continuation(&passages, at, order) {
            let (passage, positions) = &mut passages[at];
            let chunk = &order[next].chunk;
            let gap = chunk.line_start as i64 - passage.line_end as i64;
            passage.text = join_overlapping(&passage.text, &chunk.text, gap);
            passage.line_end = passage.line_end.max(chunk.line_end);
            passage.file_lines = passage.file_lines.joined(&chunk.file_lines);
            if let (Some(a), Some(b)) = (&passage.location, &chunk.location) {
                passage.location = a.joined(b).or_else(|| Some(a.clone()));
            }
            positions.push(next);
        }
    }
    Ok(passages
        .into_iter()
        .enumerate()
        .map(|(i, (source, _))| Source { n: i + 1, ..source })
        .collect())
}

/// The position in `order` of the chunk that finishes passage `at`, when
/// its last chunk leads into the next one of the same section: it ends with
/// a colon ("...a definition like this:") or the next chunk opens with the
/// code example its explanation is about. The splitter cuts a section's
/// prose from its example; the model needs both. None when the next chunk
/// is another section's, or already part of a passage.
fn continuation(
    passages: &[(Source, Vec<usize>)],
    at: usize,
    order: &[StoredChunk],
) -> Option<usize> {
    let (passage, positions) = &passages[at];
    let last = *positions.iter().max()?;
    let next = order.get(last + 1)?;
    let taken = passages
        .iter()
        .any(|(p, ps)| p.stored_path == passage.stored_path && ps.contains(&(last + 1)));
    if taken || next.chunk.heading != order[last].chunk.heading {
        return None;
    }
    let leads_in = passage.text.trim_end().ends_with(':');
    let example_follows = next.chunk.text.trim_start().starts_with("```");
    (leads_in || example_follows).then_some(last + 1)
}

fn absorb(passage: &mut Source, hit: &Hit) {
    let (first, second, gap) = if hit.line_start < passage.line_start {
        let gap = passage.line_start as i64 - hit.line_end as i64;
        (hit.text.as_str(), passage.text.as_str(), gap)
    } else {
        let gap = hit.line_start as i64 - passage.line_end as i64;
        (passage.text.as_str(), hit.text.as_str(), gap)
    };
    passage.text = join_overlapping(first, second, gap);
    passage.line_start = passage.line_start.min(hit.line_start);
    passage.line_end = passage.line_end.max(hit.line_end);
    passage.file_lines = passage.file_lines.joined(&hit.file_lines);
    passage.location = match (&passage.location, &hit.location) {
        (Some(a), Some(b)) => a.joined(b).or_else(|| Some(a.clone())),
        (a, b) => a.clone().or_else(|| b.clone()),
    };
    passage.score = passage.score.max(hit.score);
    passage.bm25 = max_option(passage.bm25, hit.bm25);
    passage.similarity = max_option(passage.similarity, hit.similarity);
    if hit.heading.len() < passage.heading.len() {
        // The shorter path is the enclosing section of both.
        passage.heading = hit.heading.clone();
    }
}

fn max_option(a: Option<f32>, b: Option<f32>) -> Option<f32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// `first` then `second`, without the text that ends one and starts the
/// other. `gap` is the line `second` starts on minus the line `first` ends
/// on: chunks that do not overlap are joined with as many line breaks, so
/// that a line of the joined text is still `line_start` plus its line breaks
/// (quotes are located that way).
pub fn join_overlapping(first: &str, second: &str, gap: i64) -> String {
    let longest = first.len().min(second.len());
    let overlap = (MIN_OVERLAP..=longest)
        .rev()
        .filter(|&n| second.is_char_boundary(n) && first.is_char_boundary(first.len() - n))
        .find(|&n| first.ends_with(&second[..n]));
    match overlap {
        Some(n) => format!("{first}{}", &second[n..]),
        None if first.contains(second) => first.to_string(),
        None => {
            let between = match gap {
                0 => " ".to_string(),
                // The line breaks of the file between the two chunks.
                1.. => "\n".repeat(gap.min(64) as usize),
                _ => "\n".to_string(),
            };
            format!("{}{between}{}", first.trim_end(), second.trim_start())
        }
    }
}

/// Keeps sources, best first, while their tokens (counted by `count`) fit in
/// `budget`; the first source that does not fit is cut at a line or sentence end
/// when enough of it remains. The first source is always kept, cut if need be.
/// Sources are renumbered 1..
pub fn pack(sources: Vec<Source>, budget: usize, count: &dyn Fn(&str) -> usize) -> Vec<Source> {
    let mut packed: Vec<Source> = Vec::new();
    let mut used = 0;
    for mut source in sources {
        let tokens = count(&block(&source));
        if used + tokens <= budget {
            used += tokens;
            packed.push(source);
            continue;
        }
        let left = budget.saturating_sub(used);
        if left >= MIN_PARTIAL_TOKENS || packed.is_empty() {
            let header = count(&block(&Source {
                text: String::new(),
                ..source.clone()
            }));
            let text_budget = left.saturating_sub(header).max(1);
            let kept = cut_to_tokens(&source.text, text_budget, count);
            if !kept.trim().is_empty() {
                source.line_end = source.line_start + kept.trim_end().matches('\n').count() as u32;
                source.text = kept;
                packed.push(source);
            }
        }
        break;
    }
    for (i, source) in packed.iter_mut().enumerate() {
        source.n = i + 1;
    }
    packed
}

/// How a source appears in the prompt: its number and heading path, then its
/// text with what speaks to the model removed. The file path is left out: the
/// model copied paths into its answers, and the reader gets them from the
/// sources list.
pub fn block(source: &Source) -> String {
    numbered_block(
        source.n,
        &neutralised(title(source)),
        &neutralised(&source.text),
    )
}

/// A source as the prompt shows it: its number and title, then its text.
pub fn numbered_block(n: usize, title: &str, text: &str) -> String {
    format!("[{n}] {title}\n{}", text.trim())
}

/// What the prompt calls a source: its heading path, else its file path.
pub fn title(source: &Source) -> &str {
    if source.heading.is_empty() {
        source.path.as_str()
    } else {
        source.heading.as_str()
    }
}

/// The longest prefix of `text` within `budget` tokens, ending at a line or
/// sentence end when there is one in its second half.
fn cut_to_tokens(text: &str, budget: usize, count: &dyn Fn(&str) -> usize) -> String {
    if count(text) <= budget {
        return text.to_string();
    }
    // Binary search on characters: token counts grow with the prefix.
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let (mut lo, mut hi) = (0, bounds.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if count(&text[..bounds[mid.min(bounds.len() - 1)]]) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let prefix = &text[..bounds[lo.min(bounds.len() - 1)]];
    let natural = prefix
        .rfind(['\n', '.', '!', '?'])
        .filter(|&at| at >= prefix.len() / 2)
        .map(|at| &prefix[..=at]);
    natural.unwrap_or(prefix).to_string()
}

/// A source `docN.md` holding `text` from `line_start` on, for the tests of
/// the steps that read sources.
#[cfg(test)]
pub(crate) fn test_source(n: usize, line_start: u32, text: &str) -> Source {
    Source {
        n,
        path: format!("doc{n}.md"),
        line_start,
        line_end: line_start + text.matches('\n').count() as u32,
        heading: String::new(),
        score: 1.0,
        location: None,
        file_lines: Default::default(),
        also_in: Vec::new(),
        bm25: None,
        similarity: None,
        text: text.to_string(),
        stored_path: format!("doc{n}.md"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: usize, text: &str) -> Source {
        test_source(n, 1, text)
    }

    fn words(text: &str) -> usize {
        text.split_whitespace().count()
    }

    #[test]
    fn overlapping_chunks_join_without_repeating() {
        let a = "one two three. The shared overlap text here";
        let b = "The shared overlap text here, then four five.";
        assert_eq!(
            join_overlapping(a, b, 0),
            "one two three. The shared overlap text here, then four five."
        );
        assert_eq!(join_overlapping("abc", "xyz", -1), "abc\nxyz");
        // Chunks apart keep the blank lines between them, and so their line numbers.
        assert_eq!(join_overlapping("abc", "xyz", 2), "abc\n\nxyz");
        assert_eq!(join_overlapping("abc", "xyz", 0), "abc xyz");
    }

    #[test]
    fn packing_keeps_the_best_sources_within_the_budget() {
        let long = "word ".repeat(100) + "end.";
        let sources = vec![
            source(1, &"a ".repeat(50)),
            source(2, &long),
            source(3, "c"),
        ];
        let packed = pack(sources, 120, &words);
        assert_eq!(packed.len(), 2);
        assert!(packed.iter().map(|s| words(&block(s))).sum::<usize>() <= 120);
        assert_eq!(packed[1].n, 2);
        assert!(packed[1].text.len() < long.len());
    }

    #[test]
    fn the_first_source_is_cut_rather_than_dropped() {
        let text = "First line here.\n".repeat(40);
        let packed = pack(vec![source(1, &text)], 30, &words);
        assert_eq!(packed.len(), 1);
        assert!(words(&block(&packed[0])) <= 30);
        assert!(packed[0].text.ends_with('\n') || packed[0].text.ends_with('.'));
        assert_eq!(
            packed[0].line_end,
            1 + packed[0].text.trim_end().matches('\n').count() as u32
        );
    }

    #[test]
    fn a_tiny_remainder_is_not_worth_a_fragment() {
        let sources = vec![source(1, &"a ".repeat(100)), source(2, &"b ".repeat(100))];
        let packed = pack(sources, 110, &words);
        assert_eq!(packed.len(), 1);
    }

    fn stored(id: u64, heading: &str, text: &str) -> StoredChunk {
        StoredChunk {
            id,
            path: "doc1.md".into(),
            chunk: rag_index::Chunk {
                line_start: id as u32 * 10,
                line_end: id as u32 * 10 + 5,
                heading: heading.into(),
                text: text.into(),
                location: None,
                file_lines: Default::default(),
            },
        }
    }

    #[test]
    fn a_passage_that_leads_into_an_example_gets_the_example() {
        let order = [
            stored(
                0,
                "Types > Sized",
                "a generic function definition like this:",
            ),
            stored(
                1,
                "Types > Sized",
                "```rust\nfn generic<T: ?Sized>(t: &T) {}\n```",
            ),
            stored(2, "Types > Sized", "Prose that goes on."),
            stored(3, "Types > Other", "```rust\nlet x = 1;\n```"),
        ];
        let passage = |first: usize, text: &str| {
            let mut source = test_source(1, order[first].chunk.line_start, text);
            source.stored_path = "doc1.md".into();
            (source, vec![first])
        };
        // Ends with a colon, or the next chunk of its section is code: take it.
        let passages = [passage(0, &order[0].chunk.text)];
        assert_eq!(continuation(&passages, 0, &order), Some(1));
        let passages = [passage(0, "an explanation.")];
        assert_eq!(continuation(&passages, 0, &order), Some(1));
        // Plain prose after, another section's code, or the end of the file: no.
        let passages = [passage(1, "```rust\n```")];
        assert_eq!(continuation(&passages, 0, &order), None);
        let passages = [passage(2, "It goes on:")];
        assert_eq!(continuation(&passages, 0, &order), None);
        let passages = [passage(3, "the last:")];
        assert_eq!(continuation(&passages, 0, &order), None);
    }

    fn scored(chunk_id: u64, score: f32) -> Hit {
        Hit {
            chunk_id,
            score,
            bm25: None,
            similarity: None,
            path: format!("{chunk_id}.md"),
            line_start: 1,
            line_end: 1,
            heading: String::new(),
            text: String::new(),
            location: None,
            file_lines: Default::default(),
            also_in: Vec::new(),
        }
    }

    #[test]
    fn passages_far_below_the_best_are_not_read() {
        let ids = |hits: Vec<Hit>| hits.iter().map(|h| h.chunk_id).collect::<Vec<_>>();
        // The best need not come first (a follow-up's rankings are summed).
        let hits = [
            scored(1, 0.6),
            scored(2, 1.0),
            scored(3, 0.33),
            scored(4, 0.5),
        ];
        assert_eq!(ids(relevant(&hits)), [1, 2, 4]);
        // Close scores all stay, and scores that say nothing keep everything.
        let close = [scored(1, 0.016), scored(2, 0.0159), scored(3, 0.0158)];
        assert_eq!(ids(relevant(&close)), [1, 2, 3]);
        let unscored = [scored(1, 0.0), scored(2, -1.0)];
        assert_eq!(ids(relevant(&unscored)), [1, 2]);
        assert!(relevant(&[]).is_empty());
    }

    #[test]
    fn html_lines_are_the_files_only_where_the_index_mapped_them() {
        let mapped = FileLines {
            first: 1,
            lines: vec![40, 41],
        };
        let none = FileLines::default();
        assert_eq!(LinesIn::of("site/a.html", &mapped), LinesIn::File);
        assert_eq!(LinesIn::of("site/a.html", &none), LinesIn::Text);
        assert_eq!(LinesIn::of("notes.md", &none), LinesIn::File);
        assert_eq!(LinesIn::of("deck.pptx", &none), LinesIn::Text);
        let mut source = test_source(1, 1, "one\ntwo");
        source.path = "site/a.html".into();
        source.stored_path = "site/a.html".into();
        source.heading = "A > Pumps".into();
        assert_eq!(source.location(), "site/a.html §Pumps");
        source.file_lines = mapped;
        assert_eq!(source.location(), "site/a.html:40-41");
    }
}
