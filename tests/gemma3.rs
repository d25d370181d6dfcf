//! A second architecture and vocabulary kind against llama.cpp: Gemma 3 270M
//! (SentencePiece vocabulary without a leading space, query/key norms, GELU,
//! post-norms, sliding-window layers) from `scripts/fetch-models --gemma3`,
//! checked against `tests/fixtures/gemma3-llamacpp-reference.json`
//! (`scripts/make-gemma3-reference`).

mod common;

use std::path::PathBuf;

use common::{fixture_json, ids, json, ok, rag, FIXTURES};
use rag::llm::gguf::Gguf;
use rag::llm::model::Model;
use rag::llm::sampler::argmax;
use rag::llm::Tokenizer;
use serde_json::Value;

/// Greedy steps where llama.cpp's best two tokens are closer than this are
/// not compared: quantisation noise of either engine may pick either.
const MIN_MARGIN: f64 = 0.5;

fn model_path() -> PathBuf {
    common::catalogue_model("gemma-3-270m")
}

fn reference() -> Value {
    fixture_json("gemma3-llamacpp-reference.json")
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let gguf = Gguf::open(&model_path()).expect("the model opens");
    let tokenizer = Tokenizer::from_gguf(&gguf).expect("the tokenizer builds");
    let reference = reference();
    common::assert_tokenizes_like_reference(&tokenizer, &reference, "gemma-3-270m");
    for case in reference["greedy"].as_array().expect("prompts") {
        let prompt = case["prompt"].as_str().expect("prompt");
        assert_eq!(
            tokenizer.encode_prompt(prompt).unwrap(),
            ids(&case["prompt_ids"])
        );
    }
}

/// Each prompt, then llama.cpp's greedy tokens fed back one at a time: our
/// best token must be llama.cpp's wherever its choice was clear. The long
/// prompt (over 900 tokens) runs the local layers past their 512-token window.
#[test]
fn forward_pass_matches_llama_cpp() {
    let mut gguf = Gguf::open(&model_path()).expect("the model opens");
    let model = Model::load(&mut gguf).expect("the model loads");
    assert_eq!(model.config().architecture, "gemma3");
    let reference = reference();
    let mut compared = 0;
    for case in reference["greedy"].as_array().expect("prompts") {
        let prompt = ids(&case["prompt_ids"]);
        let expected = ids(&case["generated"]);
        let margins: Vec<f64> = case["margins"]
            .as_array()
            .expect("margins")
            .iter()
            .map(|m| m.as_f64().expect("a margin"))
            .collect();
        let mut cache = model.new_cache(prompt.len() + expected.len());
        let mut logits = model.forward(&prompt, &mut cache).expect("prefill");
        for (step, (&want, &margin)) in expected.iter().zip(&margins).enumerate() {
            if margin >= MIN_MARGIN {
                assert_eq!(
                    argmax(&logits),
                    want,
                    "step {step} after a {}-token prompt",
                    prompt.len()
                );
                compared += 1;
            }
            logits = model.forward(&[want], &mut cache).expect("decode");
        }
    }
    assert!(
        compared >= 15,
        "only {compared} steps were clear enough to compare"
    );
}

/// A base model (no chat template) answers from the sources through the
/// document prompt, and stops at the end of its answer line.
#[test]
fn a_base_model_answers_from_documents() {
    let dir = tempfile::tempdir().expect("temp dir");
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).expect("docs folder");
    for name in ["belfast.md", "fugue.md", "rocket.md"] {
        std::fs::copy(format!("{FIXTURES}/wiki/{name}"), docs.join(name)).expect("fixture");
    }
    let index = dir.path().join("index");
    ok(rag().arg("--index").arg(&index).arg("ingest").arg(&docs));
    let model = model_path();
    let out = json(&ok(rag()
        .arg("--index")
        .arg(&index)
        .args(["ask", "--json", "--model"])
        .arg(&model)
        .arg("On the banks of which river does Belfast stand?")));
    let answer = out["answer"].as_str().expect("answer");
    assert!(answer.contains("Lagan"), "{out}");
    assert!(!answer.contains('\n'), "one line: {answer:?}");
    let cited = out["citations"].as_array().expect("citations");
    assert!(
        cited
            .iter()
            .any(|c| c["path"].as_str().unwrap_or("").ends_with("belfast.md")),
        "{out}"
    );
}
