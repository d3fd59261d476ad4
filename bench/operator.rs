//! Operator benchmark (`cargo bench --bench operator`), against a fake API server:
//!  1. CPU of one reconcile of a stack with nothing changed (target <= 5 ms), measured as
//!     process CPU time over many passes in-process (includes the fake server's own JSON
//!     work, so it is an upper bound);
//!  2. idle RSS of the real `appstack operator` process with 50 AppStacks (and all their
//!     children) in its watch caches (target <= 40 MB), the fake served over HTTP.

#[path = "../tests/fake_api/mod.rs"]
mod fake_api;

use std::sync::Arc;
use std::time::{Duration, Instant};

use appstack::api::conditions::SystemClock;
use appstack::api::AppStack;
use appstack::kube::controller::{reconcile_once, Context};
use appstack::kube::lease::Leadership;
use appstack::kube::Images;
use appstack::telemetry::metrics::Metrics;
use fake_api::{client, FakeApi};
use serde_json::json;

fn stacks() -> usize {
    std::env::var("BENCH_STACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn stack(i: usize) -> AppStack {
    let text = std::fs::read_to_string("examples/crm.yaml").expect("examples/crm.yaml");
    let mut s = appstack::api::load::parse_str(&text, "bench").expect("crm example");
    s.metadata.name = Some(format!("crm-{i}"));
    s.metadata.namespace = Some("shop".into());
    s.metadata.uid = Some(format!("00000000-0000-4000-8000-{i:012}"));
    s.metadata.generation = Some(1);
    s
}

fn register(fake: &FakeApi, s: &AppStack) {
    let mut v = serde_json::to_value(s).expect("stack json");
    v["metadata"]["resourceVersion"] = json!("1");
    fake.objects
        .lock()
        .expect("fake")
        .entry("apis/appstack.io/v1alpha1/namespaces/shop/appstacks".into())
        .or_default()
        .insert(s.metadata.name.clone().unwrap_or_default(), v);
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn reconcile_cpu() -> f64 {
    let fake = Arc::new(FakeApi::default());
    let ctx = Context {
        client: client(fake.clone()),
        images: Images::default(),
        clock: Arc::new(SystemClock),
        leadership: Leadership::always(),
        metrics: Arc::new(Metrics::new()),
        recorder: None,
        generate: |n| "x".repeat(n),
    };
    let s = stack(0);
    register(&fake, &s);
    reconcile_once(&s, &ctx).await.expect("first reconcile");
    let current: AppStack = serde_json::from_value(
        fake.objects.lock().expect("fake")["apis/appstack.io/v1alpha1/namespaces/shop/appstacks"]
            ["crm-0"]
            .clone(),
    )
    .expect("stack back");
    let passes = 300;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for _ in 0..passes {
        let out = reconcile_once(&current, &ctx)
            .await
            .expect("no-op reconcile");
        assert!(
            !out.report.changed() && !out.status_patched,
            "the pass was not a no-op"
        );
        fake.clear_log();
    }
    let per = (cpu_seconds() - cpu0) / passes as f64 * 1000.0;
    eprintln!(
        "no-op reconcile: {per:.2} ms CPU, {:.2} ms wall per pass ({passes} passes)",
        t0.elapsed().as_secs_f64() * 1000.0 / passes as f64
    );
    per
}

async fn operator_rss() -> f64 {
    let fake = Arc::new(FakeApi::default());
    for i in 0..stacks() {
        register(&fake, &stack(i));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(fake_api::serve_http(fake.clone(), listener, None));
    let dir = std::env::temp_dir().join(format!("appstack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let kubeconfig = fake_api::kubeconfig(&dir, port, "shop");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_appstack"))
        .args([
            "operator",
            "--namespace",
            "shop",
            "--listen",
            "127.0.0.1:0",
            "--lease-namespace",
            "appstack-system",
            "--identity",
            "bench",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env(
            "APPSTACK_LOG",
            std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("appstack operator");
    let status_patches = || {
        fake.log
            .lock()
            .map(|l| l.iter().filter(|r| r.path.ends_with("/status")).count())
            .unwrap_or(0)
    };
    let t0 = Instant::now();
    while status_patches() < stacks()
        && t0.elapsed()
            < Duration::from_secs(
                std::env::var("BENCH_WAIT")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(120),
            )
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let synced = status_patches();
    eprintln!(
        "operator reconciled {synced}/{} stacks in {:.1}s; idling",
        stacks(),
        t0.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss_kb: f64 = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap_or(0.0);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        synced,
        stacks(),
        "the operator did not reconcile every stack"
    );
    rss_kb / 1024.0
}

#[tokio::main]
async fn main() {
    let cpu = reconcile_cpu().await;
    let rss = operator_rss().await;
    println!("no-op reconcile CPU per pass:            {cpu:.2} ms   (target <= 5 ms; includes the fake server's work)");
    println!(
        "operator idle RSS, {} AppStacks cached:   {rss:.1} MB   (target <= 40 MB)",
        stacks()
    );
    if cfg!(debug_assertions) {
        // `cargo test` runs this bench as a smoke test, unoptimised.
        println!("(debug build: these figures are not the targets' measure; run `cargo bench --bench operator`)");
    }
}
