use clap::Parser;

use appstack::cli::{run, Cli};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    bound_allocator();
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

/// A backup allocates a 6 MiB buffer per multipart part and frees it once the part is
/// stored. glibc's dynamic mmap threshold would rise to that size after the first free and
/// serve the next buffers from per-thread arenas, where freed parts stay resident: a base
/// backup's peak RSS was ~50 MB, ~39 MB with the threshold pinned below the part size
/// (chunks of 1 MiB still come from the heap, without an mmap each).
fn bound_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before any other thread
    // of ours allocates large buffers, and the value is within glibc's accepted range.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}
