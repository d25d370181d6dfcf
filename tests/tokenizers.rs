//! Our tokenizers against llama.cpp's own test vectors (`tests/fixtures/vocab`,
//! from llama.cpp's `models/ggml-vocab-*`): vocabulary-only GGUFs, the texts
//! its `test-tokenizer-0` encodes and the ids it expects. No model needed.

use rag::llm::gguf::Gguf;
use rag::llm::Tokenizer;

const VOCAB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vocab");

fn tokenizer(name: &str) -> Tokenizer {
    let path = format!("{VOCAB}/ggml-vocab-{name}.gguf");
    let gguf = Gguf::open(path.as_ref()).expect("the vocabulary file opens");
    Tokenizer::from_gguf(&gguf).expect("the tokenizer builds")
}

/// (text, ids) pairs, parsed as llama.cpp's test does.
fn cases(name: &str) -> Vec<(String, Vec<u32>)> {
    let read = |ext: &str| {
        std::fs::read_to_string(format!("{VOCAB}/ggml-vocab-{name}.gguf.{ext}"))
            .expect("test vector file")
    };
    let raw = read("inp");
    // The file ends with a separator, which starts no case.
    let raw = raw.strip_suffix("\n__ggml_vocab_test__\n").unwrap_or(&raw);
    let inputs: Vec<String> = raw
        .split("\n__ggml_vocab_test__\n")
        .map(str::to_string)
        .collect();
    let outputs: Vec<Vec<u32>> = read("out")
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|id| id.parse().expect("a token id"))
                .collect()
        })
        .collect();
    assert_eq!(
        inputs.len(),
        outputs.len(),
        "{name}: inputs and outputs pair up"
    );
    inputs.into_iter().zip(outputs).collect()
}

fn check(name: &str) {
    let tokenizer = tokenizer(name);
    let cases = cases(name);
    assert!(cases.len() > 30, "{name}: {} cases", cases.len());
    for (text, expected) in &cases {
        let ids = tokenizer.encode_literal(text).expect("encodes");
        assert_eq!(&ids, expected, "{name}: {text:?}");
        // And back: the text, with SentencePiece's leading space.
        let decoded = tokenizer.decode(&ids);
        assert_eq!(decoded.strip_prefix(' ').unwrap_or(&decoded), text.as_str());
    }
}

#[test]
fn sentencepiece_llama_matches_llama_cpp() {
    check("llama-spm");
}

#[test]
fn sentencepiece_phi3_matches_llama_cpp() {
    check("phi-3");
}

#[test]
fn special_tokens_split_out_only_when_asked() {
    let tokenizer = tokenizer("llama-spm");
    let eos = tokenizer.eos().expect("an eos token");
    let special = tokenizer.encode("Hi</s>").expect("encodes");
    assert_eq!(special.last(), Some(&eos));
    assert!(!tokenizer
        .encode_literal("Hi</s>")
        .expect("encodes")
        .contains(&eos));
}

#[test]
fn a_prompt_in_parts_tokenizes_as_a_whole() {
    let tokenizer = tokenizer("llama-spm");
    let whole = tokenizer
        .encode_prompt("[INST] What is 2 + 2? [/INST]")
        .expect("encodes");
    let parts = tokenizer
        .encode_parts(&[
            ("[INST] ", false),
            ("What is 2 + 2?", true),
            (" [/INST]", false),
        ])
        .expect("encodes");
    assert_eq!(parts, whole);
    assert_eq!(Some(whole[0]), tokenizer.bos());
}
