//! The two Qwen2.5 Coder models of the catalogue (qwen2 architecture: byte-level
//! BPE with the qwen2 pre-tokenizer, ChatML template, attention biases, mostly
//! Q4_K/Q6_K weights) against llama.cpp: `tests/fixtures/<model>-llamacpp-reference.json`
//! from `scripts/make-llamacpp-reference`. Then `rag ask` end to end with the
//! larger one, which cites its sources by itself.

mod common;

use std::path::{Path, PathBuf};

use common::{fixture_json, ids, json, ok, Workspace};
use rag::llm::gguf::Gguf;
use rag::llm::model::Model;
use rag::llm::sampler::{argmax, top_k};
use rag::llm::{Message, PromptFormat, Tokenizer};
use serde_json::Value;

const SMALL: &str = "qwen2.5-coder-0.5b-instruct";
const LARGE: &str = "qwen2.5-coder-1.5b-instruct";

/// Greedy steps where llama.cpp's best two tokens are closer than this are
/// not compared: quantisation noise of either engine may pick either.
const MIN_MARGIN: f64 = 0.5;

/// Of the 48 greedy steps in each reference file, at least this many must be
/// clear enough to compare, or the forward-pass test proves little (when the
/// files were written: 46 for the 0.5B model, 43 for the 1.5B).
const MIN_COMPARED: usize = 32;

fn model_path(name: &str) -> PathBuf {
    common::catalogue_model(name)
}

fn reference(name: &str) -> Value {
    fixture_json(&format!("{name}-llamacpp-reference.json"))
}

fn messages(case: &Value) -> Vec<Message> {
    case["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            Message::new(
                m["role"].as_str().expect("a role"),
                m["content"].as_str().expect("a content"),
            )
        })
        .collect()
}

/// Our tokenizer against llama.cpp's on each string, special-token text read
/// as text and as the special token.
fn tokenizer_matches(name: &str) {
    let gguf = Gguf::open(&model_path(name)).expect("the model opens");
    let tokenizer = Tokenizer::from_gguf(&gguf).expect("the tokenizer builds");
    let reference = reference(name);
    let compared = common::assert_tokenizes_like_reference(&tokenizer, &reference, name);
    assert!(compared >= 8, "{compared} strings");
    for case in reference["tokenize"].as_array().expect("cases") {
        let text = case["text"].as_str().expect("text");
        assert_eq!(
            tokenizer.decode(&ids(&case["ids"])),
            text,
            "{name}: round trip of {text:?}"
        );
    }
}

#[test]
fn small_tokenizer_matches_llama_cpp() {
    tokenizer_matches(SMALL);
}

#[test]
fn large_tokenizer_matches_llama_cpp() {
    tokenizer_matches(LARGE);
}

/// rag renders the GGUF's chat template as Hugging Face's jinja2 does, and the
/// prompt tokenizes to llama.cpp's ids: whole, and in the parts `rag ask` uses
/// (template text with special tokens, the user's text literal).
fn chat_prompts_match(name: &str) {
    let gguf = Gguf::open(&model_path(name)).expect("the model opens");
    let tokenizer = Tokenizer::from_gguf(&gguf).expect("the tokenizer builds");
    let format = PromptFormat::from_gguf(&gguf, &tokenizer).expect("the template parses");
    assert!(format.is_chat(), "{name} ships a chat template");
    let reference = reference(name);
    for case in reference["greedy"].as_array().expect("prompts") {
        let messages = messages(case);
        let prompt = format.render(&messages).expect("the template renders");
        assert_eq!(prompt.text, case["prompt"].as_str().unwrap(), "{name}");
        let want = ids(&case["prompt_ids"]);
        assert_eq!(
            tokenizer.encode_prompt(&prompt.text).unwrap(),
            want,
            "{name}"
        );
        let user = &messages.last().expect("a user message").content;
        let at = prompt.text.rfind(user.as_str()).expect("the question");
        let parts = [
            (&prompt.text[..at], false),
            (user.as_str(), true),
            (&prompt.text[at + user.len()..], false),
        ];
        assert_eq!(
            tokenizer.encode_parts(&parts).unwrap(),
            want,
            "{name}: in parts"
        );
    }
}

#[test]
fn small_chat_prompts_match_llama_cpp() {
    chat_prompts_match(SMALL);
}

#[test]
fn large_chat_prompts_match_llama_cpp() {
    chat_prompts_match(LARGE);
}

/// Each prompt, then llama.cpp's greedy tokens fed back one at a time: our
/// best token must be llama.cpp's wherever its choice was clear. Every
/// disagreement is listed (ours and llama.cpp's best two) before the test fails.
fn forward_pass_matches(name: &str) {
    let mut gguf = Gguf::open(&model_path(name)).expect("the model opens");
    let model = Model::load(&mut gguf).expect("the model loads");
    assert_eq!(model.config().architecture, "qwen2");
    let reference = reference(name);
    let mut compared = 0;
    let mut steps = 0;
    let mut failures = Vec::new();
    // How far our gap between llama.cpp's two best tokens strays from its own.
    let mut worst_gap = 0.0f64;
    for case in reference["greedy"].as_array().expect("prompts") {
        let prompt = ids(&case["prompt_ids"]);
        let expected = ids(&case["generated"]);
        let second = ids(&case["second"]);
        let margins: Vec<f64> = case["margins"]
            .as_array()
            .expect("margins")
            .iter()
            .map(|m| m.as_f64().expect("a margin"))
            .collect();
        assert_eq!(expected.len(), margins.len());
        let mut cache = model.new_cache(prompt.len() + expected.len());
        let mut logits = model.forward(&prompt, &mut cache).expect("prefill");
        for (step, (&want, &margin)) in expected.iter().zip(&margins).enumerate() {
            steps += 1;
            let gap = (logits[want as usize] - logits[second[step] as usize]) as f64;
            worst_gap = worst_gap.max((gap - margin).abs());
            if margin >= MIN_MARGIN {
                compared += 1;
                if argmax(&logits) != want {
                    let ours: Vec<String> = top_k(&logits, 2)
                        .iter()
                        .map(|c| format!("{} ({:.3})", c.id, c.logit))
                        .collect();
                    let mine = |id: u32| logits[id as usize];
                    failures.push(format!(
                        "step {step} after a {}-token prompt: llama.cpp {want} then {} by {margin:.3} \
                         (ours for them: {:.3}, {:.3}); our best two: {}",
                        prompt.len(),
                        second[step],
                        mine(want),
                        mine(second[step]),
                        ours.join(", ")
                    ));
                }
            }
            if step + 1 < expected.len() {
                logits = model.forward(&[want], &mut cache).expect("decode");
            }
        }
    }
    eprintln!(
        "{name}: compared {compared} of {steps} greedy steps (margin >= {MIN_MARGIN}); \
         our logit gap between llama.cpp's two best tokens is at most {worst_gap:.3} off its own"
    );
    assert!(
        failures.is_empty(),
        "{name}: {} of {compared} compared steps differ from llama.cpp:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        compared >= MIN_COMPARED,
        "{name}: only {compared} steps were clear enough to compare"
    );
}

/// Tokens run together through `forward_each` (as drafted tokens are
/// checked) give, row by row, the very logits of running them one at a time,
/// and so does what follows them: passes of several sizes, one longer than
/// a pass holds, and a pass whose last rows are dropped and run again.
#[test]
fn tokens_checked_together_give_the_logits_of_one_at_a_time() {
    let mut gguf = Gguf::open(&model_path(SMALL)).expect("the model opens");
    let model = Model::load(&mut gguf).expect("the model loads");
    let reference = reference(SMALL);
    let case = &reference["greedy"][0];
    let prompt = ids(&case["prompt_ids"]);
    let tokens = ids(&case["generated"]);
    assert!(tokens.len() >= Model::EXACT_ROWS_PER_PASS + 12);
    let bits = |logits: &[f32]| logits.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();

    let mut cache = model.new_cache(prompt.len() + tokens.len());
    model.forward(&prompt, &mut cache).expect("prefill");
    let after_prompt = cache.clone();
    let one_at_a_time: Vec<Vec<u32>> = tokens
        .iter()
        .map(|&token| bits(&model.forward(&[token], &mut cache).expect("decode")))
        .collect();

    let mut cache = after_prompt.clone();
    let mut at = 0;
    for size in [1, 2, Model::EXACT_ROWS_PER_PASS + 1, 2] {
        let rows = model
            .forward_each(&tokens[at..at + size], &mut cache)
            .expect("checked together");
        assert_eq!(rows.len(), size);
        for (i, row) in rows.iter().enumerate() {
            assert!(
                bits(row) == one_at_a_time[at + i],
                "token {} of a pass of {size}",
                at + i
            );
        }
        at += size;
    }
    // Five rows, of which the last three are refused: the next pass starts
    // after the two kept, as decoding would.
    let rows = model
        .forward_each(&tokens[at..at + 5], &mut cache)
        .expect("drafts");
    assert!(bits(&rows[1]) == one_at_a_time[at + 1]);
    cache.truncate(cache.len() - 3);
    at += 2;
    let rows = model
        .forward_each(&tokens[at..at + 4], &mut cache)
        .expect("after the refused drafts");
    for (i, row) in rows.iter().enumerate() {
        assert!(
            bits(row) == one_at_a_time[at + i],
            "token {} after a cut",
            at + i
        );
    }
}

#[test]
fn small_forward_pass_matches_llama_cpp() {
    forward_pass_matches(SMALL);
}

#[test]
fn large_forward_pass_matches_llama_cpp() {
    forward_pass_matches(LARGE);
}

/// `rag ask` with the 1.5B model over the wiki articles: the right answer, and
/// a citation of the right article that the model wrote itself.
#[test]
fn large_model_answers_and_cites_by_itself() {
    model_path(LARGE);
    let ws = Workspace::with_wiki();
    ws.ingest_json(&[]);
    let out = json(&ok(ws.rag().args([
        "ask",
        "In which year did Anders Celsius propose the first version of his temperature scale?",
        "--json",
        "--model",
        LARGE,
        "--max-tokens",
        "48",
    ])));
    let answer = out["answer"].as_str().expect("answer");
    eprintln!("{LARGE} answered: {answer:?}");
    assert!(answer.contains("1742"), "{out}");
    assert_eq!(out["refused"], false, "{out}");
    let citations = out["citations"].as_array().expect("citations");
    let file_name = |c: &Value| {
        Path::new(c["path"].as_str().unwrap_or(""))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    assert!(
        citations
            .iter()
            .any(|c| !c["inferred"].as_bool().unwrap_or(false) && file_name(c) == "celsius.md"),
        "no citation of celsius.md by the model itself: {out}"
    );
}

/// After an answer that cites nothing, the model is asked where it would
/// cite: the answer goes on with an opening bracket after the open-book
/// prompt (whose cache then serves), and the model's most likely number is
/// the source the answer came from.
#[test]
fn asked_after_an_uncited_answer_the_model_names_its_source() {
    use rag::assistant::prompt::{encode_citation_after, encode_open_book};
    use rag::assistant::{Source, Style};
    use rag::llm::Generator;
    let generator = Generator::load(&model_path(LARGE)).expect("the model loads");
    let source = |n: usize, heading: &str, text: &str| Source {
        n,
        path: format!("{n}.md"),
        line_start: 1,
        line_end: 1,
        heading: heading.to_string(),
        score: 1.0,
        location: None,
        file_lines: Default::default(),
        also_in: Vec::new(),
        bm25: None,
        similarity: None,
        text: text.to_string(),
        stored_path: format!("{n}.md"),
    };
    let sources = [
        source(
            1,
            "Cargo Book > Profiles",
            "The `opt-level` setting controls the optimisation level: `opt-level = 3` in \
             `[profile.release]` turns on all optimisations.",
        ),
        source(
            2,
            "Rust Book > Ownership",
            "Each value in Rust has an owner; when the owner goes out of scope, the value \
             is dropped.",
        ),
        source(
            3,
            "Cargo Book > Workspaces",
            "Members of a workspace share one `Cargo.lock` and one output directory. List \
             them with `members = [\"crates/*\"]` under `[workspace]`.",
        ),
    ];
    let cases = [
        (
            "How do I turn on all optimisations?",
            "Set `opt-level = 3` in the `[profile.release]` section of `Cargo.toml`:\n\n```toml\n[profile.release]\nopt-level = 3\n```",
            "1",
        ),
        (
            "What happens when an owner goes out of scope?",
            "When the owner of a value goes out of scope, Rust drops the value automatically, freeing its memory.",
            "2",
        ),
    ];
    let tokenizer = generator.tokenizer();
    for (question, answer, expected) in cases {
        let (prompt, _) = encode_open_book(
            &generator,
            Style::Instructed,
            &sources,
            &[],
            question,
            false,
        )
        .unwrap();
        let asked = encode_citation_after(&generator, Style::Instructed, &prompt, answer)
            .unwrap()
            .expect("an instructed chat model is asked");
        assert_eq!(&asked[..prompt.len()], &prompt[..]);
        assert!(tokenizer.decode(&asked[prompt.len()..]).ends_with(" ["));
        let logits = generator
            .prefill(&asked, 1)
            .unwrap()
            .next_token_logits()
            .to_vec();
        let score = |n: &str| logits[tokenizer.token_id(n).unwrap() as usize];
        let named = ["1", "2", "3"]
            .into_iter()
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .unwrap();
        assert_eq!(named, expected, "{question}");
    }
    // The reading prompt of small models is not asked.
    assert!(
        encode_citation_after(&generator, Style::Reading, &[1, 2], "x")
            .unwrap()
            .is_none()
    );
}
