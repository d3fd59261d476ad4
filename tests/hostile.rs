//! Hostile and careless manifests (tests/hostile/, one class per file: duplicate keys,
//! bad namespaces, values beyond their type, endless crons, shell text in paths, bad image
//! references and URLs, multi-line parameters, cycles, deep nesting) and generated giants:
//! each is refused with exit 2, naming the field, without hanging (a 10 s guard; the times
//! are printed).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn validate(path: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_appstack"))
        .args(["validate", "-f"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{}: still running after 10 s", path.display());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn refused(path: &Path, expect: &str) -> (String, Duration) {
    let (out, took) = validate(path);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
    assert!(
        stderr.contains(expect),
        "{}: expected {expect:?} in: {stderr}",
        path.display()
    );
    (stderr, took)
}

#[test]
fn every_hostile_manifest_is_refused_naming_its_field() {
    let mut entries: Vec<_> = std::fs::read_dir("tests/hostile")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    let mut slowest = (Duration::ZERO, String::new());
    for path in &entries {
        let text = std::fs::read_to_string(path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks '# expect:'", path.display()));
        let (_, took) = refused(path, expect);
        if took > slowest.0 {
            slowest = (took, path.display().to_string());
        }
    }
    eprintln!(
        "{} hostile manifests refused; slowest {:.2}s ({})",
        entries.len(),
        slowest.0.as_secs_f64(),
        slowest.1
    );
    assert!(
        entries.len() >= 60,
        "the corpus has {} files",
        entries.len()
    );
}

const HEAD: &str = "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata: {name: t}\n";

#[test]
fn giants_are_refused_quickly_and_briefly() {
    let dir = tempfile::tempdir().unwrap();
    // A 40,000-service dependency chain closed into a cycle.
    let mut chain = format!("{HEAD}spec:\n  services:\n");
    for i in 0..40_000 {
        chain.push_str(&format!(
            "    - {{name: s{i}, image: \"w:1\", dependsOn: [s{}]}}\n",
            (i + 39_999) % 40_000
        ));
    }
    // 100 KB of unclosed brackets.
    let brackets = "[".repeat(100 * 1024);
    // 5 MB of unknown keys, and just under the size limit.
    let unknown = |bytes: usize| {
        let mut text = format!("{HEAD}spec:\n  database: {{}}\n");
        let mut i = 0;
        while text.len() < bytes {
            text.push_str(&format!("unknown{i}: 1\n"));
            i += 1;
        }
        text
    };
    for (name, text, expect) in [
        ("chain.yaml", chain, "document"),
        ("brackets.yaml", brackets, "nested deeper"),
        ("unknown-5mb.yaml", unknown(5 << 20), "at most"),
        (
            "unknown-1mb.yaml",
            unknown((1 << 20) - 64),
            "more errors not shown",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (stderr, took) = refused(&path, expect);
        let errors = stderr.lines().filter(|l| l.starts_with("  - ")).count();
        eprintln!(
            "{name}: refused in {:.2}s with {errors} error lines",
            took.as_secs_f64()
        );
        assert!(errors <= 101, "{name}: {errors} error lines");
    }
}
