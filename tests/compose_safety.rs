//! `export compose -o DIR` writes secrets, so it must not be turned into a write elsewhere:
//! a symbolic link planted in DIR, a DIR owned by someone else or writable by others is
//! refused with exit 2 before anything is written; `secrets/` is 0700.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn export(state: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_appstack"))
        .args(["--state-dir", state.to_str().unwrap()])
        .args(["export", "compose", "-f", "examples/quickstart.yaml", "-o"])
        .arg(out)
        .output()
        .unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        out.push(e.path());
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        }
    }
    out
}

fn refused(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(needle) && err.contains("nothing was written"),
        "{err}"
    );
}

#[test]
fn a_planted_link_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    for (link, target) in [("docker-compose.yml", &victim), ("secrets", &elsewhere)] {
        let out = tmp.path().join(format!("out-{link}"));
        std::fs::create_dir(&out).unwrap();
        symlink(target, out.join(link)).unwrap();
        let before = listing(&out);
        let o = export(&state, &out);
        refused(&o, "is a symbolic link");
        assert_eq!(listing(&out), before, "{link}: something was written");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            listing(&elsewhere).is_empty(),
            "{link}: a file was written through the link"
        );
    }
    // The output directory itself a link.
    let link = tmp.path().join("out-link");
    symlink(&elsewhere, &link).unwrap();
    refused(&export(&state, &link), "is a symbolic link");
    assert!(listing(&elsewhere).is_empty());
}

#[test]
fn secrets_are_0700_and_a_second_export_replaces_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = tmp.path().join("out");
    for _ in 0..2 {
        let o = export(&state, &out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let mode = std::fs::metadata(out.join("secrets"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(std::fs::read_to_string(out.join("docker-compose.yml"))
        .unwrap()
        .contains("services:"));
    // No temporary file is left behind.
    assert!(
        listing(&out).iter().all(|n| !n.contains(".appstack-")),
        "{:?}",
        listing(&out)
    );
}

#[test]
fn a_directory_others_may_write_or_own_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out = tmp.path().join("shared");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    refused(&export(&state, &out), "writable by other users");
    assert!(listing(&out).is_empty());
    if nix::unistd::geteuid().is_root() {
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        refused(&export(&state, &theirs), "owned by uid 65534");
        assert!(listing(&theirs).is_empty());
    }
}
