use clap::Parser;

use appstack::cli::{run, Cli};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = Cli::parse();
    // A bare level applies to appstack itself; the HTTP stack below stays at warn.
    let directive = match cli.log_level.as_str() {
        "error" | "warn" | "info" | "debug" | "trace" => format!("warn,appstack={}", cli.log_level),
        other => other.to_string(),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(directive)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    if let Err(err) = run(cli).await {
        eprintln!("error: {err}");
        std::process::exit(err.exit() as i32);
    }
}
