//! The local generator against llama.cpp's reference output for the same GGUF,
//! and `rag generate` end to end.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{fixture_json, ids, json, models_dir, ok, rag, run};
use rag::llm::generate::DRAFT_TOKENS;
use rag::llm::template::ChatTemplate;
use rag::llm::{GenerateOptions, Generator, Message, PromptFormat, SamplingOptions, StreamDecoder};
use serde_json::Value;

fn model_path() -> PathBuf {
    let path = models_dir().join("SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "the generator model is missing ({}); run scripts/fetch-models first",
        path.display()
    );
    path
}

/// One loaded model for all tests in this file.
fn generator() -> &'static Generator {
    static GENERATOR: OnceLock<Generator> = OnceLock::new();
    GENERATOR.get_or_init(|| Generator::load(&model_path()).expect("the model loads"))
}

fn reference() -> Value {
    fixture_json("smollm2-llamacpp-reference.json")
}

#[test]
fn tokenizer_matches_llama_cpp() {
    let tokenizer = generator().tokenizer();
    let reference = reference();
    let cases = reference["tokenize"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let got = tokenizer.encode(text).unwrap();
        assert_eq!(got, ids(&case["ids"]), "token ids of {text:?}");
        // Round trip, special tokens and all (they are written out by encode's inverse).
        let bytes: Vec<u8> = got
            .iter()
            .flat_map(|&id| tokenizer.token_bytes(id).to_vec())
            .collect();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            text,
            "round trip of {text:?}"
        );
    }
    let greedy = &reference["greedy"];
    assert_eq!(
        tokenizer
            .encode_prompt(greedy["prompt"].as_str().unwrap())
            .unwrap(),
        ids(&greedy["prompt_ids"])
    );
    // Decoding leaves control tokens out.
    assert_eq!(
        tokenizer.decode(&ids(&greedy["generated_ids"])),
        greedy["generated_text"].as_str().unwrap()
    );
}

#[test]
fn special_token_text_stays_text_when_asked() {
    let tokenizer = generator().tokenizer();
    assert_eq!(tokenizer.encode("<|im_end|>").unwrap(), vec![2]);
    let literal = tokenizer.encode_literal("<|im_end|>").unwrap();
    assert!(literal.len() > 1 && !literal.contains(&2), "{literal:?}");
    assert_eq!(tokenizer.decode(&literal), "<|im_end|>");
}

#[test]
fn greedy_continuation_matches_llama_cpp() {
    let reference = reference();
    let greedy = &reference["greedy"];
    let options = GenerateOptions {
        max_tokens: 24,
        sampling: SamplingOptions::greedy(),
        ..GenerateOptions::default()
    };
    let mut streamed = String::new();
    let generation = generator()
        .generate(&ids(&greedy["prompt_ids"]), &options, &mut |piece| {
            streamed.push_str(piece);
            true
        })
        .unwrap();
    assert_eq!(generation.token_ids, ids(&greedy["generated_ids"]));
    assert_eq!(generation.text, greedy["generated_text"].as_str().unwrap());
    assert_eq!(streamed, generation.text);
    assert_eq!(generation.generated_tokens, 8);
    assert_eq!(generation.prompt_tokens, 32);
}

#[test]
fn chat_template_renders_the_reference_prompt() {
    let reference = reference();
    let PromptFormat::Chat(_) = generator().format() else {
        panic!("SmolLM2 ships a chat template");
    };
    let prompt = generator()
        .prompt(&[
            Message::new("system", "You are a helpful assistant."),
            Message::new(
                "user",
                "What is the capital of France? Answer in one sentence.",
            ),
        ])
        .unwrap();
    assert_eq!(prompt.text, reference["greedy"]["prompt"].as_str().unwrap());
    // Without a system message the template adds its own.
    let prompt = generator().prompt(&[Message::new("user", "Hi")]).unwrap();
    assert!(
        prompt.text.starts_with("<|im_start|>system\n")
            && prompt.text.ends_with("<|im_start|>assistant\n"),
        "{:?}",
        prompt.text
    );
    // The end of a turn (<|im_end|>, also eos here) and <|endoftext|> both stop generation.
    assert_eq!(generator().stop_ids(), &[0, 2]);
    let t = ChatTemplate::new("{{ bos_token }}|{{ eos_token }}", "<s>", "</s>").unwrap();
    assert_eq!(t.render(&[]).unwrap().text, "<s>|</s>");
}

#[test]
fn streaming_never_splits_a_character() {
    let tokenizer = generator().tokenizer();
    let text = "Unicode: café, naïve, Zürich, 東京, Ελληνικά, emoji 🚀🙂";
    let ids = tokenizer.encode(text).unwrap();
    let mut stream = StreamDecoder::default();
    let mut pieces = Vec::new();
    for &id in &ids {
        pieces.push(stream.push(tokenizer, id));
    }
    pieces.push(stream.finish());
    assert_eq!(pieces.concat(), text);
    // The test means something only if some token really ends mid-character.
    assert!(
        ids.iter()
            .any(|&id| std::str::from_utf8(tokenizer.token_bytes(id)).is_err()),
        "no token of {text:?} splits a character"
    );
    assert!(pieces.iter().any(String::is_empty));
}

#[test]
fn generate_json_end_to_end() {
    let out = ok(rag().args([
        "generate",
        "--json",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "Name a colour.",
    ]));
    let v = json(&out);
    assert!(v["text"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
    assert!(v["prompt_tokens"].as_u64().unwrap() > 5, "{v}");
    let generated = v["generated_tokens"].as_u64().unwrap();
    assert!((1..=8).contains(&generated), "{v}");
    // Tokens were read and written, so every timing is positive, and the
    // first token came no later than the end.
    let timing = |key: &str| {
        let value = v["timings"][key].as_f64();
        assert!(value.is_some_and(|x| x > 0.0), "{key}: {v}");
        value.unwrap_or_default()
    };
    timing("prefill_tok_s");
    // Decode speed counts the tokens after the first.
    if generated > 1 {
        timing("decode_tok_s");
    }
    assert!(timing("first_token_ms") <= timing("total_ms"), "{v}");
}

#[test]
fn generate_streams_the_reference_answer() {
    let mut cmd = rag();
    cmd.args([
        "generate",
        "--temperature",
        "0",
        "--repeat-penalty",
        "1",
        "--max-tokens",
        "24",
        "--system",
        "You are a helpful assistant.",
        "What is the capital of France? Answer in one sentence.",
    ]);
    assert_eq!(ok(&mut cmd), "The capital of France is Paris.\n");
    // --raw hands over the prompt as written; the same prompt, the same answer.
    let reference = reference();
    let mut cmd = rag();
    cmd.args([
        "generate",
        "--raw",
        "--json",
        "--temperature",
        "0",
        "--repeat-penalty",
        "1",
    ])
    .arg(reference["greedy"]["prompt"].as_str().unwrap());
    let v = json(&ok(&mut cmd));
    assert_eq!(v["text"], "The capital of France is Paris.");
    assert_eq!(v["prompt_tokens"], 32);
    assert_eq!(v["stop_reason"], "end_of_turn");
}

#[test]
fn same_seed_same_text() {
    let sample = |seed: &str| {
        json(&ok(rag().args([
            "generate",
            "--json",
            "--max-tokens",
            "12",
            "--temperature",
            "1.2",
            "--seed",
            seed,
            "Tell me a story.",
        ])))["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(sample("7"), sample("7"));
}

fn failure(args: &[&str], env_models: Option<&std::path::Path>) -> String {
    let mut cmd = rag();
    if let Some(dir) = env_models {
        cmd.env("RAG_MODELS", dir);
    }
    let out = run(cmd.args(args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "should fail: {args:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn missing_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here.gguf");
    let err = failure(
        &["generate", "--model", missing.to_str().unwrap(), "hi"],
        None,
    );
    assert!(
        err.contains("nothing-here.gguf") && err.contains("scripts/fetch-models"),
        "{err}"
    );
    // The default model, missing from an empty model folder.
    let err = failure(&["generate", "hi"], Some(dir.path()));
    assert!(
        err.contains("SmolLM2-135M-Instruct.Q4_1.gguf") && err.contains("scripts/fetch-models"),
        "{err}"
    );
}

/// Writes `bytes` as a model file, runs `rag generate` on it and returns the error.
fn error_for_model(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    failure(&["generate", "--model", path.to_str().unwrap(), "hi"], None)
}

#[test]
fn corrupt_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    // Random bytes.
    let mut state = 0x1234_5678_u32;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let err = error_for_model(dir.path(), "noise.gguf", &bytes);
    assert!(
        err.contains("noise.gguf") && err.contains("not a GGUF"),
        "{err}"
    );

    // The magic, then garbage.
    let mut data = b"GGUF".to_vec();
    data.extend_from_slice(&bytes);
    let err = error_for_model(dir.path(), "garbage.gguf", &data);
    assert!(
        err.contains("garbage.gguf") && err.contains("corrupt"),
        "{err}"
    );

    // A real model cut short, as by an interrupted download.
    let real = std::fs::read(model_path()).unwrap();
    let err = error_for_model(dir.path(), "truncated.gguf", &real[..real.len() / 3]);
    assert!(
        err.contains("truncated.gguf") && err.contains("truncated"),
        "{err}"
    );

    // An empty file.
    let err = error_for_model(dir.path(), "empty.gguf", b"");
    assert!(err.contains("not a GGUF"), "{err}");
}

#[test]
fn unsupported_architecture_is_named() {
    use candle_core::quantized::gguf_file::{write, Value as GgufValue};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mamba.gguf");
    let mut file = std::fs::File::create(&path).unwrap();
    let arch = GgufValue::String("mamba".into());
    write(&mut file, &[("general.architecture", &arch)], &[]).unwrap();
    drop(file);
    let err = failure(&["generate", "--model", path.to_str().unwrap(), "hi"], None);
    assert!(err.contains("unsupported architecture \"mamba\""), "{err}");
}

#[test]
fn bad_sampling_options_are_usage_errors() {
    let err = failure(&["generate", "--top-p", "0", "hi"], None);
    assert!(err.contains("--top-p"), "{err}");
    // A pass checks at most ten drafted tokens with the one before them.
    let err = failure(&["generate", "--draft-tokens", "11", "hi"], None);
    assert!(
        err.contains("--draft-tokens") && err.contains("10"),
        "{err}"
    );
}

/// `rag generate --raw --json` greedy on the reference prompt, with extra
/// environment and arguments.
fn greedy_reference_text(env: &[(&str, &str)], extra: &[&str]) -> String {
    let reference = reference();
    let mut cmd = rag();
    cmd.envs(env.iter().copied())
        .args(["generate", "--raw", "--json", "--temperature", "0"])
        .args(["--repeat-penalty", "1", "--max-tokens", "24"])
        .args(extra)
        .arg(reference["greedy"]["prompt"].as_str().unwrap());
    json(&ok(&mut cmd))["text"].as_str().unwrap().to_string()
}

#[test]
fn the_large_model_prefill_path_gives_the_reference_answer() {
    // Models too large for a dense f32 copy prefill through the quantised
    // kernels; forcing that path on the small model must not change the answer.
    let text = greedy_reference_text(&[("RAG_DENSE_MAX_MB", "0")], &[]);
    assert_eq!(text, "The capital of France is Paris.");
}

#[test]
fn other_quantisation_types_load_and_answer() {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    use candle_core::Device;
    // The reference model with every Q4_1 layer matrix requantised to Q4_0,
    // a type our kernels read through a conversion to Q8_0 at load.
    let mut source = std::fs::File::open(model_path()).unwrap();
    let content = gguf_file::Content::read(&mut source).unwrap();
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for name in content.tensor_infos.keys() {
        let tensor = content.tensor(&mut source, name, &Device::Cpu).unwrap();
        let tensor = if tensor.dtype() == GgmlDType::Q4_1 {
            let values = tensor.dequantize(&Device::Cpu).unwrap();
            QTensor::quantize(&values, GgmlDType::Q4_0).unwrap()
        } else {
            tensor
        };
        tensors.push((name.clone(), tensor));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("smollm2-q4_0.gguf");
    let mut file = std::fs::File::create(&path).unwrap();
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    gguf_file::write(&mut file, &metadata, &tensor_refs).unwrap();
    drop(file);
    assert!(tensors.iter().any(|(_, t)| t.dtype() == GgmlDType::Q4_0));

    let model = path.to_str().unwrap();
    for env in [vec![], vec![("RAG_DENSE_MAX_MB", "0")]] {
        let text = greedy_reference_text(&env, &["--model", model]);
        assert!(text.contains("Paris"), "{env:?}: {text}");
    }
}

/// A prompt prefilled after an earlier one that shares its start gives the
/// same next-token scores, bit for bit, and the same greedy text as one
/// prefilled from nothing: for a short shared start, and for one that spans
/// a prefill batch.
#[test]
fn prefill_after_a_shared_start_is_the_full_prefill() {
    prefill_after_matches(generator(), &[3, 60]);
    // Qwen's kernels (biases, another shape of attention), on a short start.
    let qwen = Generator::load(&common::catalogue_model("qwen2.5-coder-0.5b-instruct"))
        .expect("the model loads");
    prefill_after_matches(&qwen, &[3]);
}

fn prefill_after_matches(generator: &Generator, shared_lengths: &[usize]) {
    let tokenizer = generator.tokenizer();
    let encode = |text: &str| tokenizer.encode_literal(text).unwrap();
    let sentence = "The open book answers from the numbered sources it is given. ";
    for &shared_sentences in shared_lengths {
        let shared = encode(&sentence.repeat(shared_sentences));
        let mut first = shared.clone();
        first.extend(encode("Question: what is a stretto in a fugue?"));
        let mut second = shared.clone();
        second.extend(encode("Question: which hash does HashMap use by default?"));
        let options = GenerateOptions {
            max_tokens: 24,
            ignore_eos: true,
            sampling: SamplingOptions {
                temperature: 0.0,
                ..SamplingOptions::default()
            },
            ..GenerateOptions::default()
        };
        // Kept as the assistant keeps it: the cache cut to the prompt.
        let earlier = generator.kept_for_reuse(generator.prefill(&first, 24).unwrap());
        let fresh = generator.prefill(&second, 24).unwrap();
        let reused = generator
            .prefill_after(Some(&earlier), &second, 24, &mut |_, _| true)
            .unwrap()
            .unwrap();
        assert!(
            reused.reused_tokens() >= shared.len(),
            "{}",
            reused.reused_tokens()
        );
        assert_eq!(fresh.reused_tokens(), 0);
        let bits = |p: &rag::llm::Prefilled| -> Vec<u32> {
            p.next_token_logits().iter().map(|x| x.to_bits()).collect()
        };
        assert!(
            bits(&fresh) == bits(&reused),
            "logits differ after {shared_sentences} shared sentences"
        );
        let text = |p| {
            generator
                .continue_from(p, &options, &mut |_| true)
                .unwrap()
                .token_ids
        };
        assert_eq!(text(&fresh), text(&reused));
        // The same prompt again: all but its last two tokens come from the
        // cache (a batch of one would run the decode kernel instead).
        let again = generator
            .prefill_after(Some(&fresh), &second, 24, &mut |_, _| true)
            .unwrap()
            .unwrap();
        assert_eq!(again.reused_tokens(), second.len() - 2);
        assert!(bits(&fresh) == bits(&again));
    }
}

/// A prompt's start saved to disk and read back serves a later prompt as the
/// start kept in memory does: bit for bit the full prefill. A file that is
/// not whole, or was written for something else, is no start at all.
#[test]
fn a_saved_start_read_back_is_the_full_prefill() {
    let generator = generator();
    let tokenizer = generator.tokenizer();
    let encode = |text: &str| tokenizer.encode_literal(text).unwrap();
    let shared =
        encode(&"The open book answers from the numbered sources it is given. ".repeat(40));
    let mut first = shared.clone();
    first.extend(encode("Question: what is a stretto in a fugue?"));
    let mut second = shared.clone();
    second.extend(encode("Question: which hash does HashMap use by default?"));
    let dir = tempfile::tempdir().unwrap();
    let file = rag::llm::start_file(dir.path(), generator.path());
    generator
        .save_start(&generator.prefill(&first, 8).unwrap(), shared.len(), &file)
        .unwrap();
    let saved = generator
        .load_start(&file)
        .expect("the saved start reads back");
    let reused = generator
        .prefill_after(Some(&saved), &second, 8, &mut |_, _| true)
        .unwrap()
        .unwrap();
    assert_eq!(reused.reused_tokens(), shared.len());
    let fresh = generator.prefill(&second, 8).unwrap();
    let bits = |p: &rag::llm::Prefilled| -> Vec<u32> {
        p.next_token_logits().iter().map(|x| x.to_bits()).collect()
    };
    assert!(bits(&fresh) == bits(&reused));

    let bytes = std::fs::read(&file).unwrap();
    let damaged = |bytes: &[u8]| {
        std::fs::write(&file, bytes).unwrap();
        generator.load_start(&file).is_none()
    };
    assert!(damaged(&bytes[..bytes.len() - 1]), "cut short");
    assert!(damaged(&[&bytes[..], &[0]].concat()), "too long");
    assert!(damaged(b""), "empty");
    let mut other_program = bytes.clone();
    // Inside the identity, which follows the magic and its length.
    other_program[20] ^= 1;
    assert!(damaged(&other_program), "written for something else");
    std::fs::write(&file, &bytes).unwrap();
    assert!(generator.load_start(&file).is_some());
    std::fs::remove_file(&file).unwrap();
    assert!(generator.load_start(&file).is_none());
}

/// A prefill reports its progress after each layer of each batch, ends at the
/// whole prompt, and stops at the first report that says so: a client that
/// left or a user who pressed Esc waits for one layer, not a 512-token batch.
#[test]
fn a_prefill_reports_each_layer_and_stops_when_told() {
    let generator = generator();
    let layers = generator.config().n_layer;
    let prompt = generator
        .tokenizer()
        .encode_literal(&"The open book answers from the numbered sources. ".repeat(60))
        .unwrap();
    assert!(prompt.len() > 512, "two batches: {}", prompt.len());
    let mut seen = Vec::new();
    let reported = generator
        .prefill_with_progress(&prompt, 8, &mut |read, total| {
            seen.push((read, total));
            true
        })
        .unwrap()
        .expect("not stopped");
    assert_eq!(seen.len(), 2 * layers, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert!(seen.iter().all(|&(_, total)| total == prompt.len()));
    assert_eq!(seen.last(), Some(&(prompt.len(), prompt.len())));
    let plain = generator.prefill(&prompt, 8).unwrap();
    let bits = |p: &rag::llm::Prefilled| -> Vec<u32> {
        p.next_token_logits().iter().map(|x| x.to_bits()).collect()
    };
    assert!(bits(&plain) == bits(&reported));

    let mut asked = 0;
    let stopped = generator
        .prefill_with_progress(&prompt, 8, &mut |_, _| {
            asked += 1;
            asked < 3
        })
        .unwrap();
    assert!(stopped.is_none());
    assert_eq!(asked, 3, "nothing ran after the stop");
}

/// Prompt-lookup decoding changes how many passes an answer takes, never
/// its tokens: greedy or seeded sampling, with the repeat penalty, stopped
/// by the token limit anywhere inside a pass, on the small model's legacy
/// kernels and Qwen's k-quants.
#[test]
fn drafted_tokens_change_the_passes_not_the_text() {
    let qwen = Generator::load(&common::catalogue_model("qwen2.5-coder-0.5b-instruct"))
        .expect("the model loads");
    for generator in [generator(), &qwen] {
        let source = "The zorblax test reactor is cooled by a loop of liquid sodium pumped \
                      at 4 litres per second through a stainless steel jacket, designed in \
                      1987 by the group of Helga Brandt.";
        let prompt = generator
            .prompt(&[Message::new(
                "user",
                &format!("Source: {source}\n\nCopy the source word for word, twice."),
            )])
            .unwrap();
        let ids = generator.tokenizer().encode_prompt(&prompt.text).unwrap();
        let prefilled = generator.prefill(&ids, 96).unwrap();
        let samplings = [
            SamplingOptions::greedy(),
            SamplingOptions {
                seed: Some(11),
                ..SamplingOptions::default()
            },
        ];
        for sampling in samplings {
            for max_tokens in [1, 7, 96] {
                let run = |draft_tokens| {
                    let options = GenerateOptions {
                        max_tokens,
                        sampling: sampling.clone(),
                        draft_tokens,
                        ..GenerateOptions::default()
                    };
                    generator
                        .continue_from(&prefilled, &options, &mut |_| true)
                        .unwrap()
                };
                let plain = run(0);
                let drafted = run(DRAFT_TOKENS);
                assert_eq!(
                    plain.token_ids, drafted.token_ids,
                    "{sampling:?}, {max_tokens}"
                );
                assert_eq!(plain.text, drafted.text);
                assert_eq!(plain.stop_reason, drafted.stop_reason);
                assert_eq!((plain.drafted_tokens, plain.accepted_tokens), (0, 0));
                if max_tokens == 96 && sampling.temperature == 0.0 {
                    // The copy is drafted (how much depends on what rows
                    // cost on this machine, measured as it goes).
                    assert!(drafted.accepted_tokens > 0, "{drafted:?}");
                }
            }
        }
    }
}

/// A guide that rules a token out changes that token and what follows, never
/// what came before, and drafted tokens are checked against the guided
/// choice: the text is the same drafted or not.
#[test]
fn a_guide_rules_tokens_out_whether_drafted_or_not() {
    let generator = generator();
    let source = "The zorblax test reactor is cooled by a loop of liquid sodium pumped \
                  at 4 litres per second through a stainless steel jacket.";
    let prompt = generator
        .prompt(&[Message::new(
            "user",
            &format!("Source: {source}\n\nCopy the source word for word."),
        )])
        .unwrap();
    let ids = generator.tokenizer().encode_prompt(&prompt.text).unwrap();
    let prefilled = generator.prefill(&ids, 48).unwrap();
    let options = |draft_tokens| GenerateOptions {
        max_tokens: 48,
        sampling: SamplingOptions::greedy(),
        draft_tokens,
        ..GenerateOptions::default()
    };
    let mut seen = Vec::new();
    let free = generator
        .continue_guided(
            &prefilled,
            &options(0),
            &mut |so_far, _| seen.push(so_far.to_string()),
            &mut |_| true,
        )
        .unwrap();
    // Each token is guided once, seeing the text before it.
    assert_eq!(seen.len(), free.token_ids.len());
    let at = 12;
    assert!(free.token_ids.len() > at + 4, "{free:?}");
    let (before, banned) = (seen[at].clone(), free.token_ids[at]);
    let guided = |draft_tokens| {
        generator
            .continue_guided(
                &prefilled,
                &options(draft_tokens),
                &mut |so_far, logits| {
                    if so_far == before {
                        logits[banned as usize] = f32::NEG_INFINITY;
                    }
                },
                &mut |_| true,
            )
            .unwrap()
    };
    let plain = guided(0);
    assert_eq!(plain.token_ids[..at], free.token_ids[..at]);
    assert_ne!(plain.token_ids[at], banned);
    let drafted = guided(DRAFT_TOKENS);
    assert_eq!(drafted.token_ids, plain.token_ids);
    assert!(drafted.drafted_tokens > 0, "{drafted:?}");
}
