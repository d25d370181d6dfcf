//! How well an answer is backed by the sources: the share of each sentence's
//! content words that appear in the retrieved text. Cheap, model-free, and good
//! enough to rank several sampled answers and to find which source an
//! uncited answer leans on.

use std::collections::HashSet;

/// Words that carry no evidence: function words and the answer's own scaffolding.
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "also",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "been",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "had",
    "has",
    "have",
    "he",
    "her",
    "his",
    "how",
    "i",
    "in",
    "into",
    "is",
    "it",
    "its",
    "may",
    "more",
    "most",
    "not",
    "of",
    "on",
    "one",
    "or",
    "other",
    "she",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "to",
    "was",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "source",
    "sources",
    "document",
    "documents",
    "answer",
    "according",
];

/// Lower-cased words of `text` that are not stop words (numbers included).
pub fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .filter(|w| w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

/// The set of content words of some evidence text.
pub fn vocabulary<'a>(texts: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    texts.into_iter().flat_map(content_words).collect()
}

/// Mean over the answer's sentences of the share of their content words found
/// in `evidence` (0 to 1). Sentences with no content words do not count; an
/// answer with none scores 0.
pub fn grounding(answer: &str, evidence: &HashSet<String>) -> f32 {
    let scores: Vec<f32> = sentences(answer)
        .filter_map(|sentence| {
            let words = content_words(sentence);
            if words.is_empty() {
                return None;
            }
            let found = words.iter().filter(|w| evidence.contains(*w)).count();
            Some(found as f32 / words.len() as f32)
        })
        .collect();
    if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f32>() / scores.len() as f32
    }
}

/// Share of the answer's content words found in each source's text (0 to 1),
/// counting only the words that tell the sources apart: not the question's
/// (every source was retrieved for them; unless the answer has no others)
/// and, of several sources, only those some source holds and some does not
/// (not `cargo doc` in each passage about `cargo doc`) where two different
/// words or more are left: one word ("known" of "also known as") is too
/// little to judge by.
pub fn overlaps(answer: &str, question: &str, sources: &[&str]) -> Vec<f32> {
    let vocabularies: Vec<HashSet<String>> = sources.iter().map(|s| vocabulary([*s])).collect();
    let asked = vocabulary([question]);
    let mut words = content_words(answer);
    if words.iter().any(|w| !asked.contains(w)) {
        words.retain(|w| !asked.contains(w));
    }
    if vocabularies.len() > 1 {
        let apart: Vec<String> = words
            .iter()
            .filter(|w| {
                let holding = vocabularies.iter().filter(|v| v.contains(*w)).count();
                holding > 0 && holding < vocabularies.len()
            })
            .cloned()
            .collect();
        if apart.iter().collect::<HashSet<_>>().len() >= 2 {
            words = apart;
        }
    }
    vocabularies
        .iter()
        .map(|source| {
            if words.is_empty() {
                return 0.0;
            }
            words.iter().filter(|w| source.contains(*w)).count() as f32 / words.len() as f32
        })
        .collect()
}

fn sentences(text: &str) -> impl Iterator<Item = &str> {
    text.split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_sentences_score_higher() {
        let evidence = vocabulary(["The subject overlaps itself in a stretto, in 1750."]);
        let backed = grounding("It is called a stretto.", &evidence);
        let invented = grounding("It is called a canon by Mozart.", &evidence);
        assert!(backed > invented, "{backed} vs {invented}");
        assert!((grounding("A stretto. In 1750.", &evidence) - 1.0).abs() < 1e-6);
        assert_eq!(grounding("", &evidence), 0.0);
    }

    #[test]
    fn overlap_picks_the_source_an_answer_leans_on() {
        let answer = "Badgers are of least concern on the IUCN Red List";
        let [a, b] = overlaps(
            answer,
            "",
            &[
                "The European badger is classified as least concern by the IUCN.",
                "Belfast is the capital of Northern Ireland.",
            ],
        )[..] else {
            panic!("one overlap per source")
        };
        assert!(a > b);
        assert_eq!(overlaps("the of", "", &["anything"]), [0.0]);
        // The question's words are in every source found for it: the
        // answer's own words decide.
        let question = "How do I read the value of an environment variable?";
        let answer = "Call env::var with the variable's name; it returns a Result.";
        let function = "The env::var function returns a Result holding the variable's value.";
        let output = "The value of the RUST_BACKTRACE environment variable, variable by variable.";
        let both = overlaps(answer, question, &[function, output]);
        assert!(both[0] > 2.0 * both[1], "{both:?}");
        // An answer that only repeats the question keeps its words.
        assert!(overlaps("The environment variable's value.", question, &[output])[0] > 0.0);
        // Words every source holds do not tell them apart.
        let answer = "Use the `--no-deps` option of the cargo doc command.";
        let option = "The cargo doc option --no-deps skips the dependencies.";
        let echo = "Run the cargo doc command to build documentation for all of them.";
        let apart = overlaps(answer, "", &[option, echo]);
        assert!(apart[0] > 2.0 * apart[1], "{apart:?}");
        // Unless they leave fewer than two words, or there is one source.
        assert_eq!(overlaps("cargo doc", "", &[option, echo]), [1.0, 1.0]);
        let known = "Optimization is also known as mathematical programming.";
        let named = "Mathematical optimization or mathematical programming is...";
        let other = "Nonlinear programming, also known as nonlinear optimization...";
        let judged = overlaps(known, "What is optimization?", &[named, other]);
        assert!(judged[0] >= 0.5 * judged[1], "{judged:?}");
        assert_eq!(
            overlaps(answer, "", &[option])[0],
            overlaps(answer, "", &[option, option])[0]
        );
    }

    #[test]
    fn content_words_keep_numbers_and_drop_function_words() {
        assert_eq!(
            content_words("It has 226 species, of the Puya!"),
            ["226", "species", "puya"]
        );
    }
}
