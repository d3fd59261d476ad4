//! The export on disk: the compose file and everything it mounts, written into a directory.
//! The directory is checked before anything is written (ours, no symbolic link anywhere in
//! it), and every file is written to a fresh name opened with O_EXCL|O_NOFOLLOW and renamed
//! into place, so a link planted between the check and the write is replaced, never
//! followed. Run as root, the export can therefore not be turned into a write elsewhere.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::{render, secret_path, to_yaml, MANIFEST};
use crate::plan::Plan;
use crate::secrets::Resolved;

/// At most this many entries are inspected in an existing output directory.
const WALK_LIMIT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The output directory is not safe to write into; nothing was written.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

impl ExportError {
    pub fn category(&self) -> &'static str {
        match self {
            ExportError::Refused(_) => "refused",
            ExportError::Io(_) => "io",
        }
    }
}

fn io(p: &Path, e: std::io::Error) -> ExportError {
    ExportError::Io(format!("{}: {e}", p.display()))
}

/// Writes the export of `plan` into `out`: docker-compose.yml, the config files, the secret
/// files (from `resolved`) and the manifest the WAL shipper reads. Returns the compose file.
pub fn export(
    plan: &Plan,
    resolved: &Resolved,
    manifest: &Path,
    out: &Path,
) -> Result<PathBuf, ExportError> {
    check_output(out)?;
    let (doc, files) = render(plan);
    let mut contents = Vec::new();
    for f in files {
        let content = if f.secret {
            let rel = f.path.trim_start_matches("secrets/").to_string();
            let value = plan
                .secrets
                .iter()
                .flat_map(|s| s.keys.iter().map(move |k| (s, k)))
                .find(|(s, k)| secret_path(&s.name, &k.key) == f.path)
                .and_then(|(s, k)| resolved.get(&(s.name.clone(), k.key.clone())));
            match value {
                Some(v) => v.expose().to_string(),
                None => {
                    return Err(ExportError::Io(format!(
                        "secret {rel} missing from the store"
                    )))
                }
            }
        } else {
            f.content
        };
        contents.push((f.path, content));
    }
    let manifest_text = fs::read(manifest).map_err(|e| io(manifest, e))?;
    let yaml = to_yaml(&doc, &plan.stack).map_err(ExportError::Io)?;
    ensure_dir(out, 0o755)?;
    let secret_dir = out.join("secrets");
    ensure_dir(&secret_dir, 0o700)?;
    fs::set_permissions(&secret_dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| io(&secret_dir, e))?;
    for (rel, content) in contents {
        let path = out.join(&rel);
        ensure_parents(out, Path::new(&rel))?;
        // Secret files are bind-mounted, so the service user in the container must read
        // them: 0644 inside a 0700 directory that only its owner can enter on the host.
        replace_file(&path, content.as_bytes(), 0o644)?;
    }
    replace_file(&out.join(MANIFEST), &manifest_text, 0o644)?;
    let compose_file = out.join("docker-compose.yml");
    replace_file(&compose_file, yaml.as_bytes(), 0o644)?;
    Ok(compose_file)
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// `out` is absent, or a real directory of ours holding no symbolic link.
fn check_output(out: &Path) -> Result<(), ExportError> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(out, e)),
    };
    let refuse = |why: String| {
        Err(ExportError::Refused(format!(
            "--output {}: {why}; nothing was written",
            out.display()
        )))
    };
    if meta.file_type().is_symlink() {
        return refuse(
            "is a symbolic link (give the directory it points to, if you trust it)".into(),
        );
    }
    if !meta.is_dir() {
        return refuse("exists and is not a directory".into());
    }
    if meta.uid() != euid() {
        return refuse(format!(
            "is owned by uid {}, not by you (uid {}): whoever owns it could read the secrets written there",
            meta.uid(),
            euid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!(
            "is writable by other users (mode {:o}): they could swap what appstack writes",
            meta.mode() & 0o7777
        ));
    }
    let mut pending = vec![out.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            seen += 1;
            if seen > WALK_LIMIT {
                return refuse(format!(
                    "holds more than {WALK_LIMIT} entries: give an empty or new directory"
                ));
            }
            let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            if kind.is_symlink() {
                return refuse(format!(
                    "{} is a symbolic link: appstack does not write through links",
                    entry.path().display()
                ));
            }
            if kind.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Creates `dir` with `mode`, or accepts it when it is a real directory of ours.
fn ensure_dir(dir: &Path, mode: u32) -> Result<(), ExportError> {
    match fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() || !m.is_dir() || m.uid() != euid() => {
            Err(ExportError::Refused(format!(
                "{}: not a directory of yours (a link, a file or another user's); nothing more was written",
                dir.display()
            )))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|e| io(dir, e)),
        Err(e) => Err(io(dir, e)),
    }
}

/// Creates each directory between `out` and the file `rel`, one level at a time.
fn ensure_parents(out: &Path, rel: &Path) -> Result<(), ExportError> {
    let mut dir = out.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(());
    };
    for part in parent.components() {
        let Component::Normal(name) = part else {
            return Err(ExportError::Io(format!(
                "{}: not a plain relative path",
                rel.display()
            )));
        };
        dir.push(name);
        ensure_dir(&dir, 0o755)?;
    }
    Ok(())
}

/// Writes `content` to a new file beside `path` (O_EXCL|O_NOFOLLOW) and renames it over
/// `path`: a link at `path` is replaced, never followed.
fn replace_file(path: &Path, content: &[u8], mode: u32) -> Result<(), ExportError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.appstack-{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    let written = f.write_all(content).and_then(|_| f.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(io(&tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io(path, e)
    })
}
