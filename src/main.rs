//! `psserver`: the PlateSpin Migrate Server emulator.

use clap::Parser;
use psserver::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

// mimalloc rather than glibc's allocator, whose malloc and free weighed on every report (the
// figures are in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
    match psserver::server::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("psserver: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
