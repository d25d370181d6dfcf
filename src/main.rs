use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    pin_thread_count();
    let cli = rag::cli::Cli::parse();
    match rag::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(rag::ERROR_EXIT_CODE)
        }
    }
}

/// candle asks for its thread count before every matmul, and without
/// RAYON_NUM_THREADS it finds it by reading /proc/cpuinfo: ~200 reads per
/// generated token, 7% of decode time. Setting it once (to the cores this
/// process may use) answers that from the environment. Done first thing,
/// while the process has a single thread.
fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", cores.to_string());
    }
}
