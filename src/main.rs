//! `psserver`: the PlateSpin Migrate Server emulator.

use clap::Parser;
use psserver::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

// mimalloc rather than glibc's allocator, whose malloc and free weighed on every report (the
// figures are in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // On one CPU (a container's share, or `taskset`), one thread runs every task: the
    // multi-thread scheduler would only add its hand-offs between threads to each request (its
    // queues, its atomics, the wake-ups of an idle worker). bench/RESULTS.md has the figures.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut runtime = match one_cpu {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    };
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(serve(one_cpu)),
        Err(e) => {
            eprintln!("psserver: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(one_cpu: bool) -> std::process::ExitCode {
    let config = Config::parse();
    if let Some(tool) = &config.tool {
        return match psserver::tools::run(tool) {
            Ok(done) => {
                println!("{done}");
                std::process::ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("psserver: {why}");
                std::process::ExitCode::from(2)
            }
        };
    }
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
    }
    if one_cpu {
        tracing::info!("one CPU: every task runs on one thread");
    }
    match psserver::server::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("psserver: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
