//! The import direction, enforced: `cli → deploy → health → daemon → drill → kube runtime (controller,
//! operator, sync, lease, status, pods' own API calls) → protect → renderers (docker,
//! compose, kube builders) → shared leaves (secrets, maintenance, telemetry, progress) →
//! plan → api`. A file may name its own part or anything below it; never anything above,
//! and never a renderer beside it. Read from the source text: `crate::x` paths anywhere in a
//! file (tests at the end of a file included), and `super::x` inside `src/kube/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files of src/kube/ that make API calls or run the operator (the rest are pure builders).
const KUBE_RUNTIME: &[&str] = &[
    "alerts",
    "controller",
    "error",
    "lease",
    "operator",
    "report",
    "rollout",
    "runner",
    "source",
    "status",
    "status_tests",
    "sync",
];

/// Parts from the bottom up; a part may import only parts on lower floors (and itself).
fn floor(part: &str) -> Option<u32> {
    Some(match part {
        "api" => 0,
        "plan" => 1,
        "secrets" | "maintenance" | "telemetry" | "progress" | "load" => 2,
        "docker" | "compose" | "kube-builders" => 3,
        "protect" => 4,
        "ops" | "cost" => 5,
        "kube-runtime" => 6,
        "drill" => 7,
        "daemon" => 8,
        "health" => 9,
        "deploy" => 10,
        "audit" => 11,
        "cli" => 12,
        _ => return None,
    })
}

fn kube_part(file_stem: &str) -> &'static str {
    if KUBE_RUNTIME.contains(&file_stem) {
        "kube-runtime"
    } else {
        "kube-builders"
    }
}

/// The part a source file belongs to (None: lib.rs and main.rs, the top).
fn part_of(path: &Path) -> Option<String> {
    let rel = path.strip_prefix("src").ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    let stem = |p: &Path| {
        p.file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string()
    };
    match first.as_str() {
        "lib.rs" | "main.rs" => None,
        "kube" => Some(kube_part(&stem(rel)).to_string()),
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The parts a path such as `crate::kube::lease::X` names.
fn named_part(segments: &[&str]) -> Option<String> {
    match segments {
        ["kube", next, ..] if next.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
            Some(kube_part(next).to_string())
        }
        ["kube", ..] => Some("kube-builders".into()),
        [first, ..] => Some(first.to_string()),
        [] => None,
    }
}

fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let before = text[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[i + prefix.len()..];
        // `a::b::C;` → [a, b, C]: a path ends at the first segment followed by anything else.
        let mut segments: Vec<String> = Vec::new();
        for piece in rest.split("::") {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                break;
            }
            let whole = name.len() == piece.len();
            segments.push(name);
            if !whole {
                break;
            }
        }
        if !segments.is_empty() {
            out.push(segments);
        }
        // `super::{a, b::c}`: each first name of the group.
        if let Some(group) = rest.strip_prefix('{') {
            let inner: String = group.chars().take_while(|c| *c != '}').collect();
            for item in inner.split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(vec![name]);
                }
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every import that breaks the direction, as "file: part -> part (path)".
fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let mut out = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(root).unwrap().to_path_buf();
        let Some(from) = part_of(&rel) else { continue };
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut named: Vec<(String, String)> = paths_after(&text, "crate::")
            .into_iter()
            .filter_map(|segs| {
                let s: Vec<&str> = segs.iter().map(String::as_str).collect();
                named_part(&s).map(|p| (p, format!("crate::{}", segs.join("::"))))
            })
            .collect();
        if rel.starts_with("src/kube") && !rel.ends_with("mod.rs") {
            for segs in paths_after(&text, "super::") {
                named.push((
                    kube_part(&segs[0]).to_string(),
                    format!("super::{}", segs.join("::")),
                ));
            }
        }
        for (to, path) in named {
            if to == from {
                continue;
            }
            let (Some(f), Some(t)) = (floor(&from), floor(&to)) else {
                out.insert(format!(
                    "{}: unknown part in {from} -> {to} ({path})",
                    rel.display()
                ));
                continue;
            };
            if t >= f {
                out.insert(format!("{}: {from} -> {to} ({path})", rel.display()));
            }
        }
    }
    out.into_iter().collect()
}

#[test]
fn imports_run_one_way() {
    let found = violations(Path::new(env!("CARGO_MANIFEST_DIR")));
    assert!(
        found.is_empty(),
        "imports against the direction cli → deploy → health → daemon → drill → kube runtime → ops → protect → renderers → leaves → plan → api:\n{}",
        found.join("\n")
    );
}

/// The check itself catches what it is for: a copy of the tree with `use crate::cli::…`
/// added to a file of src/protect/, and a renderer importing another, both fail.
#[test]
fn the_check_catches_an_upward_and_a_sideways_import() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for f in &files {
        let to = tmp.path().join(f.strip_prefix(root).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(f, &to).unwrap();
    }
    let add = |file: &str, line: &str| {
        let p = tmp.path().join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, format!("{line}\n{text}")).unwrap();
    };
    add("src/protect/verify.rs", "use crate::cli::CliError;");
    add(
        "src/compose/mod.rs",
        "use crate::docker::render::container_hash;",
    );
    let found = violations(tmp.path());
    assert!(
        found
            .iter()
            .any(|v| v.contains("src/protect/verify.rs: protect -> cli")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|v| v.contains("src/compose/mod.rs: compose -> docker")),
        "{found:?}"
    );
}
