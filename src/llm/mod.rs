//! The local generator: a llama-family GGUF model run on the CPU with candle,
//! its tokenizer and chat template read from the same file.

mod error;
pub mod generate;
pub mod gguf;
mod lookup;
pub mod model;
mod quant;
pub mod sampler;
mod saved_start;
mod sentencepiece;
mod simd;
pub mod template;
pub mod tokenizer;

pub use error::{Error, Result};
pub use generate::{
    GenerateOptions, Generation, Generator, PenaltyScope, Prefilled, StopReason, Timings,
};
pub use quant::kernel_peak;
pub use sampler::SamplingOptions;
pub use saved_start::start_file;
pub use template::{Message, Prompt, PromptFormat};
pub use tokenizer::{StreamDecoder, Tokenizer};
