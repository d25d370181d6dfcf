//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use rag::config::defaults;
use rag::index::SearchOptions;

#[derive(Debug, Parser)]
#[command(
    name = "rag",
    version,
    about = "A local, private open-book assistant: index your folders, search them, ask them.",
    long_about = None,
    after_help = "The index lives in .rag/ in the current folder or the nearest parent that has one (like git); --index DIR overrides, and --index milvus://HOST:PORT/COLLECTION keeps it on a Milvus server (credentials in $RAG_MILVUS_TOKEN).\nModels are read from --models DIR, $RAG_MODELS, or ~/.local/share/rag/models (scripts/fetch-models fills it)."
)]
pub struct Cli {
    /// Index folder, or milvus://HOST:PORT/COLLECTION for a Milvus server
    /// [default: the config file's `index`, else .rag/ found upward from the
    /// current folder]
    #[arg(
        long,
        global = true,
        env = "RAG_INDEX",
        hide_env_values = true,
        value_name = "DIR|URL"
    )]
    pub index: Option<PathBuf>,

    /// Model folder [default: $RAG_MODELS, the config file's `models`, or ~/.local/share/rag/models]
    #[arg(long, global = true, value_name = "DIR")]
    pub models: Option<PathBuf>,

    /// Config file [default: $RAG_CONFIG, else ~/.config/rag/config.toml]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print nothing but results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Colour in terminal output: auto (on a terminal, unless $NO_COLOR is
    /// set), always or never
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub color: ColorWhen,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add folders and files to the index, or bring it up to date with them
    Ingest(IngestArgs),
    /// Remove folders or files from the index (not from the disk)
    Forget(ForgetArgs),
    /// Search the index and print the best passages
    Search(SearchArgs),
    /// Show what the index holds
    Status(StatusArgs),
    /// Verify every index file against the checksum recorded at commit
    Check(CheckArgs),
    /// Copy an index folder into the index named by --index (a Milvus
    /// collection, say) with its stored vectors: nothing is embedded again,
    /// and an interrupted copy resumes
    CopyFrom(CopyFromArgs),
    /// Answer a question from your documents, citing the passages used
    Ask(AskArgs),
    /// Chat with your documents in a full-screen terminal UI (follow-up
    /// questions, sources pane, regenerate, save as markdown)
    Chat(ChatArgs),
    /// Answer a file of questions (text, JSONL or CSV) into JSONL, CSV or a
    /// Markdown report; reruns resume where the last run stopped
    Batch(BatchArgs),
    /// Measure answers against a file of questions with known answers
    Eval(EvalArgs),
    /// Serve answers over HTTP on this machine: an OpenAI-compatible API
    /// (with citations), rag's own search and ask, and a chat page at /
    Serve(ServeArgs),
    /// Offer search and ask as MCP tools on standard input and output, for
    /// agents and editors that speak the Model Context Protocol
    Mcp(McpArgs),
    /// Run the language model alone on a prompt (no retrieval) and stream its answer
    Generate(GenerateArgs),
    /// The language models rag can run: list them, measure them, download them
    Models(ModelsArgs),
    /// Print the effective settings and where each came from (flag, config file, default)
    Config(ConfigArgs),
    /// Print a shell completion script: `rag completions bash > ~/.local/share/bash-completion/completions/rag`
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `rag man > ~/.local/share/man/man1/rag.1`
    Man,
    /// Read PDFs, office documents, e-books, notebooks and mail sent as
    /// framed requests on stdin and reply with their text as JSON, within a
    /// memory limit (what ingest runs to read such files)
    #[command(hide = true)]
    Extract,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    pub command: Option<ModelsCommand>,

    /// Print as JSON (for the list)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The catalogue: installed or not, size, this machine's measured speed
    List {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Measure prefill and decode speed and the first-token time of a
    /// 600-token open-book prompt, and store them for `rag models`
    Bench {
        /// Catalogue names [default: every installed model]
        #[arg(value_name = "NAME")]
        names: Vec<String>,

        /// Tokens to decode after the prompt
        #[arg(long, default_value_t = 32, value_name = "N", value_parser = bounded::decode_tokens)]
        decode_tokens: usize,

        /// Print the measurements as JSON
        #[arg(long)]
        json: bool,
    },
    /// What this machine allows: memory bandwidth (a stream triad) and the
    /// matrix kernel's int8 peak, with the decode and prefill speeds they
    /// bound for a model (its bytes and operations per token)
    Roofline {
        /// A catalogue model or a GGUF file [default: the config file's
        /// model, else the catalogue's default]
        #[arg(long, value_name = "NAME|FILE.gguf")]
        model: Option<String>,

        /// Print the measurements as JSON
        #[arg(long)]
        json: bool,
    },
    /// Download a catalogue model from the Hugging Face hub into the model
    /// folder (checked against its sha256)
    Pull {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Folders or files to index
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Leave out paths matching this glob (gitignore syntax; repeatable). The
    /// index remembers it: later ingests leave them out too (`rag status` lists
    /// the patterns)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Stop leaving out what an exclude pattern the index remembers matches
    /// (as `rag status` lists it; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub drop_exclude: Vec<String>,

    /// Skip files larger than this (e.g. 500KB, 20MB, 1GB)
    #[arg(long, default_value = "20MB", value_parser = parse_size, value_name = "SIZE")]
    pub max_file_size: u64,

    /// Discard the existing index and build it again from scratch
    #[arg(long)]
    pub rebuild: bool,

    /// Follow symbolic links that lead out of the folders being ingested
    /// (by default only links that stay inside them are followed)
    #[arg(short = 'L', long)]
    pub follow: bool,

    /// Read generated and asset files too: minified scripts, search indexes,
    /// stylesheets, SVG drawings, source maps, redirect pages (left out by
    /// default; `-v` lists them)
    #[arg(long)]
    pub include_generated: bool,

    /// Parallel embedding workers [default: number of CPU cores]
    #[arg(long, value_name = "N", value_parser = bounded::threads)]
    pub threads: Option<usize>,

    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,

    /// After ingesting, keep the index current as files change (one commit per
    /// burst of changes); Ctrl+C commits what is done and exits
    #[arg(long)]
    pub watch: bool,

    /// Also list every file left out as unsupported (images, archives...)
    #[arg(short, long)]
    pub verbose: bool,

    /// List what would be read and what left out (and why), reading and
    /// writing nothing else: no embedding, no index
    #[arg(long, conflicts_with_all = ["watch", "rebuild"])]
    pub dry_run: bool,

    /// Commit at least this often during a long ingest (seconds)
    #[arg(long, default_value_t = rag::index::IngestOptions::default().checkpoint_every.as_secs(), value_name = "SECS", hide = true, value_parser = bounded::checkpoint_secs)]
    pub checkpoint_secs: u64,
}

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// Folders or files, as given to `rag ingest`
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print what was removed as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CopyFromArgs {
    /// The index folder to copy (its `.rag/`)
    #[arg(value_name = "DIR")]
    pub from: PathBuf,

    /// Print what was copied as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// What to look for (any text; no query syntax)
    #[arg(value_name = "QUERY", required_unless_present = "batch")]
    pub query: Option<String>,

    /// Number of results
    #[arg(short, default_value_t = SearchOptions::default().k, value_name = "N", value_parser = bounded::search_k)]
    pub k: usize,

    /// hybrid (BM25 + vectors, fused), bm25 (keywords) or vector (meaning)
    #[arg(long, default_value = "hybrid", value_name = "MODE", value_parser = named::search_mode())]
    pub mode: rag::index::Mode,

    /// Print results as JSON
    #[arg(long)]
    pub json: bool,

    /// Run one query per line of FILE ('-' for stdin), printing one JSON line each
    #[arg(long, value_name = "FILE", conflicts_with = "query")]
    pub batch: Option<PathBuf>,

    #[command(flatten)]
    pub fusion: FusionArgs,
}

#[derive(Debug, Args)]
pub struct FusionArgs {
    /// How hybrid search combines the two rankings: convex (weighted sum of
    /// normalised scores) or rrf (reciprocal-rank fusion)
    #[arg(
        long,
        default_value = "convex",
        value_name = "HOW",
        help_heading = "Fusion",
        value_parser = named::fusion()
    )]
    pub fusion: rag::index::Fusion,

    /// RRF rank constant for hybrid fusion
    #[arg(
        long,
        default_value_t = SearchOptions::default().rrf_k,
        value_name = "K",
        value_parser = bounded::rrf_k,
        help_heading = "Fusion"
    )]
    pub rrf_k: f32,

    /// Weight of the keyword ranking in hybrid fusion
    #[arg(long, default_value_t = SearchOptions::default().bm25_weight, value_name = "W", help_heading = "Fusion", value_parser = bounded::fusion_weight)]
    pub bm25_weight: f32,

    /// Weight of the vector ranking in hybrid fusion
    #[arg(long, default_value_t = SearchOptions::default().vector_weight, value_name = "W", help_heading = "Fusion", value_parser = bounded::fusion_weight)]
    pub vector_weight: f32,

    /// Candidates taken from each side before fusing [default: 3 x k]
    #[arg(long, value_name = "N", help_heading = "Fusion", value_parser = bounded::candidates)]
    pub candidates: Option<usize>,

    /// HNSW search breadth (higher: better recall, slower)
    #[arg(long, default_value_t = SearchOptions::default().ef, value_name = "N", help_heading = "Fusion", value_parser = bounded::ef)]
    pub ef: usize,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The prompt (a user message, or the whole prompt with --raw)
    #[arg(value_name = "PROMPT", required_unless_present = "prompt_file")]
    pub prompt: Option<String>,

    /// Read the prompt from FILE ('-' for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub prompt_file: Option<PathBuf>,

    /// Give the prompt to the model as it is, without the chat template
    /// (special tokens such as <|im_start|> in it are still recognised)
    #[arg(long)]
    pub raw: bool,

    /// Use a document-style "Question: ... Answer:" prompt instead of the chat
    /// template (for base models; automatic when the model has no template)
    #[arg(long, conflicts_with = "raw")]
    pub base: bool,

    /// System message put before the prompt
    #[arg(long, value_name = "TEXT", conflicts_with = "raw")]
    pub system: Option<String>,

    /// A catalogue model (see `rag models`) or a GGUF file [default: the
    /// config file's model, else the catalogue's default]
    #[arg(long, value_name = "NAME|FILE.gguf")]
    pub model: Option<String>,

    #[command(flatten)]
    pub sampling: SamplingArgs,

    /// Stop after this many new tokens
    #[arg(long, default_value_t = rag::llm::GenerateOptions::default().max_tokens, value_name = "N", value_parser = bounded::max_tokens)]
    pub max_tokens: usize,

    /// Keep generating past the end-of-text token (for benchmarks)
    #[arg(long)]
    pub ignore_eos: bool,

    /// Print {"text","prompt_tokens","generated_tokens","timings":{...}} as JSON at the end
    #[arg(long)]
    pub json: bool,
}

/// Sampling flags shared by every command that runs the language model.
/// Unset flags fall back to the config file, then to `config::defaults`.
#[derive(Debug, Clone, Default, Args)]
pub struct SamplingArgs {
    #[arg(long, value_name = "T", help_heading = "Sampling", value_parser = bounded::temperature, help = format!(
        "Sampling temperature (0: always the most likely token) [default: {} for generate, {} for answers from documents]",
        defaults::FREE_TEMPERATURE, defaults::ANSWER_TEMPERATURE))]
    pub temperature: Option<f32>,

    #[arg(long, value_name = "K", help_heading = "Sampling", value_parser = bounded::top_k, help = format!(
        "Sample from the K most likely tokens only (0: all) [default: {}]", defaults::TOP_K))]
    pub top_k: Option<usize>,

    #[arg(long, value_name = "P", help_heading = "Sampling", value_parser = bounded::top_p, help = format!(
        "Sample from the most likely tokens holding this much probability (1: all) [default: {}]",
        defaults::TOP_P))]
    pub top_p: Option<f32>,

    #[arg(long, value_name = "P", help_heading = "Sampling", value_parser = bounded::min_p, help = format!(
        "Drop tokens less likely than this fraction of the most likely one (0: none) [default: {}]",
        defaults::MIN_P))]
    pub min_p: Option<f32>,

    #[arg(long, value_name = "X", help_heading = "Sampling", value_parser = bounded::repeat_penalty, help = format!(
        "Penalty for repeating recent tokens (1: none) [default: {}]", defaults::REPEAT_PENALTY))]
    pub repeat_penalty: Option<f32>,

    #[arg(long, value_name = "N", help_heading = "Sampling", value_parser = bounded::repeat_last_n, help = format!(
        "How many recent tokens the repeat penalty looks at [default: {}]",
        defaults::REPEAT_LAST_N))]
    pub repeat_last_n: Option<usize>,

    /// Seed for sampling, for reproducible output [default: random]
    #[arg(long, value_name = "N", help_heading = "Sampling")]
    pub seed: Option<u64>,

    #[arg(long, value_name = "N", help_heading = "Sampling", value_parser = bounded::draft_tokens, help = format!(
        "Tokens guessed from the prompt after each sampled one, checked together in one pass over the model (0: a token per pass); the text is the same either way [default: {}]",
        defaults::DRAFT_TOKENS))]
    pub draft_tokens: Option<usize>,
}

/// How questions are answered: shared by `ask`, `chat`, `batch` and `eval`.
/// Unset flags fall back to the config file, then to `config::defaults`.
#[derive(Debug, Clone, Default, Args)]
pub struct AnswerArgs {
    #[arg(short, value_name = "N", value_parser = bounded::answer_k, help = format!(
        "Passages to retrieve, and up to two more of their files from the next N ranks (neighbours in one file are merged into one source) [default: {}]",
        defaults::K))]
    pub k: Option<usize>,

    #[arg(long, value_name = "N", value_parser = bounded::context_tokens, help = format!(
        "Token budget for the sources in the prompt [default: {}]", defaults::CONTEXT_TOKENS))]
    pub context_tokens: Option<usize>,

    #[arg(long, value_name = "N", value_parser = bounded::max_tokens, help = format!(
        "Stop the answer after this many tokens [default: {}]", defaults::MAX_TOKENS))]
    pub max_tokens: Option<usize>,

    #[arg(long, value_name = "N", value_parser = bounded::samples, help = format!(
        "Sample N answers and keep the one best supported by the sources (needs --temperature above 0) [default: {}]",
        defaults::SAMPLES))]
    pub samples: Option<usize>,

    /// Let the model reason step by step before its answer (hidden unless --show-thinking)
    #[arg(long)]
    pub think: bool,

    /// Print the reasoning of --think (dimmed) before the answer
    #[arg(long, requires = "think")]
    pub show_thinking: bool,

    /// A catalogue model (see `rag models`) or a GGUF file [default: the
    /// config file's model, else the catalogue's default]
    #[arg(long, value_name = "NAME|FILE.gguf")]
    pub model: Option<String>,

    #[arg(long, value_name = "X", help_heading = "Gate", value_parser = bounded::min_evidence, help = format!(
        "Refuse without asking the model unless the best passage's similarity (cosine) plus its keyword match (BM25 / the score of a passage holding every word of the question) reaches this [default: {}]",
        defaults::MIN_EVIDENCE))]
    pub min_evidence: Option<f32>,

    #[command(flatten)]
    pub sampling: SamplingArgs,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question ('-', or none with a pipe, reads it from standard input)
    #[arg(value_name = "QUESTION")]
    pub question: Option<String>,

    #[command(flatten)]
    pub answer: AnswerArgs,

    /// Print {"question","answer","refused","citations","sources","timings","model"} as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on; any but a loopback one needs an API key or --no-auth
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDRESS")]
    pub host: std::net::IpAddr,

    /// The port (0 picks a free one; the first line printed says which)
    #[arg(long, default_value_t = 8765)]
    pub port: u16,

    /// A file holding the API key clients must send as `Authorization: Bearer KEY`
    #[arg(long, value_name = "FILE", conflicts_with = "no_auth")]
    pub api_key_file: Option<std::path::PathBuf>,

    /// Serve a non-loopback address without an API key (anyone who can reach it may ask)
    #[arg(long)]
    pub no_auth: bool,

    /// Let pages from this origin call the API from a browser (e.g. http://localhost:3000)
    #[arg(long, value_name = "ORIGIN")]
    pub cors: Option<String>,

    /// Answers that may wait behind the running one; more get 429 with Retry-After
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub queue: usize,

    /// Ingest these folders first, then keep the index current as their files
    /// change while serving (as `rag ingest --watch` does)
    #[arg(long, value_name = "FOLDER", num_args = 1..)]
    pub watch: Vec<std::path::PathBuf>,

    #[command(flatten)]
    pub answer: AnswerArgs,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    #[command(flatten)]
    pub answer: AnswerArgs,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub answer: AnswerArgs,

    /// Leave the mouse to the terminal (select text freely) instead of
    /// scrolling the conversation with the wheel
    #[arg(long)]
    pub no_mouse: bool,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Questions: a text file (one per line; blank lines and # comments
    /// skipped), JSONL ({"id","question",...}) or CSV with a "question" column
    #[arg(value_name = "QUESTIONS")]
    pub questions: PathBuf,

    /// Ingest these folders or files into the index first (incrementally)
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub docs: Vec<PathBuf>,

    /// Write the results here ('-' for standard output); rerunning with the
    /// same file skips the questions already in it [default: standard output]
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Overwrite the -o file instead of resuming it (needed when it holds
    /// something other than this batch's records)
    #[arg(long)]
    pub force: bool,

    /// Output format [default: from the extension of -o (.csv, .md), else jsonl]
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<rag::batch::OutputFormat>,

    /// Input format [default: from the extension (.jsonl, .csv), else text]
    #[arg(long, value_name = "FORMAT")]
    pub input_format: Option<rag::batch::InputFormat>,

    #[command(flatten)]
    pub answer: AnswerArgs,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Answer a JSONL file of questions ({"id","question","answers","source"} or
    /// "unanswerable": true) and report answer and source accuracy and refusals
    Qa(EvalQaArgs),
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Debug, Args)]
pub struct EvalQaArgs {
    /// Questions, one JSON object per line
    #[arg(value_name = "FILE.jsonl")]
    pub file: PathBuf,

    /// Only the first N questions
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    #[command(flatten)]
    pub answer: AnswerArgs,

    /// Print the numbers and one row per question as JSON
    #[arg(long)]
    pub json: bool,
}

/// Value parsers that hold every numeric flag to `config::limits`: an absurd
/// value is refused by name instead of overflowing or ranking garbage.
/// Flags that take one of a few names: clap knows them, so help and the
/// shell completions list them.
mod named {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

    pub fn search_mode() -> impl TypedValueParser<Value = rag::index::Mode> {
        PossibleValuesParser::new([
            PossibleValue::new("hybrid"),
            PossibleValue::new("bm25").alias("keyword"),
            PossibleValue::new("vector").alias("dense"),
        ])
        .try_map(|name| name.parse::<rag::index::Mode>())
    }

    pub fn fusion() -> impl TypedValueParser<Value = rag::index::Fusion> {
        PossibleValuesParser::new(["convex", "rrf"])
            .try_map(|name| name.parse::<rag::index::Fusion>())
    }
}

mod bounded {
    use rag::config::limits;

    fn count<T>(text: &str, range: &std::ops::RangeInclusive<T>) -> Result<T, String>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let value: T = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number"))?;
        limits::count(value, range)
    }

    fn number(text: &str, range: &std::ops::RangeInclusive<f32>) -> Result<f32, String> {
        let value: f32 = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?;
        limits::number(value, range)
    }

    macro_rules! parsers {
        ($($name:ident: $kind:ident $t:ty = $range:expr;)*) => {
            $(pub fn $name(text: &str) -> Result<$t, String> {
                $kind(text, &$range)
            })*
        };
    }

    parsers! {
        answer_k: count usize = limits::K;
        search_k: count usize = limits::SEARCH_K;
        context_tokens: count usize = limits::CONTEXT_TOKENS;
        max_tokens: count usize = limits::MAX_TOKENS;
        samples: count usize = limits::SAMPLES;
        top_k: count usize = limits::TOP_K;
        repeat_last_n: count usize = limits::REPEAT_LAST_N;
        candidates: count usize = limits::CANDIDATES;
        ef: count usize = limits::EF;
        threads: count usize = limits::THREADS;
        decode_tokens: count usize = limits::DECODE_TOKENS;
        draft_tokens: count usize = limits::DRAFT_TOKENS;
        checkpoint_secs: count u64 = limits::CHECKPOINT_SECS;
        temperature: number f32 = limits::TEMPERATURE;
        top_p: number f32 = limits::TOP_P;
        min_p: number f32 = limits::MIN_P;
        repeat_penalty: number f32 = limits::REPEAT_PENALTY;
        min_evidence: number f32 = limits::MIN_EVIDENCE;
        rrf_k: number f32 = limits::RRF_K;
        fusion_weight: number f32 = limits::FUSION_WEIGHT;
    }
}

/// Parses "20MB", "500k", "1.5GiB", "1024" into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 500KB, 20MB, 1GB)"))?;
    let multiplier: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} (use KB, MB or GB)")),
    };
    Ok((number * multiplier) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert_eq!(parse_size("1.5k"), Ok(1500));
        assert_eq!(parse_size("2 MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
