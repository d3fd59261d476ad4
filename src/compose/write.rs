//! The export on disk: the compose file and everything it mounts, written into a directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{render, secret_path, to_yaml, MANIFEST};
use crate::plan::Plan;
use crate::secrets::Resolved;

/// Writes the export of `plan` into `out`: docker-compose.yml, the config files, the secret
/// files (from `resolved`) and the manifest the WAL shipper reads. Returns the compose file.
pub fn export(
    plan: &Plan,
    resolved: &Resolved,
    manifest: &Path,
    out: &Path,
) -> Result<PathBuf, String> {
    let (doc, files) = render(plan);
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let secret_dir = out.join("secrets");
    fs::create_dir_all(&secret_dir).map_err(|e| io(&secret_dir, e))?;
    fs::set_permissions(&secret_dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| io(&secret_dir, e))?;
    for f in files {
        let path = out.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let content = if f.secret {
            let rel = f.path.trim_start_matches("secrets/");
            let value = plan
                .secrets
                .iter()
                .flat_map(|s| s.keys.iter().map(move |k| (s, k)))
                .find(|(s, k)| secret_path(&s.name, &k.key) == f.path)
                .and_then(|(s, k)| resolved.get(&(s.name.clone(), k.key.clone())));
            match value {
                Some(v) => v.expose().to_string(),
                None => return Err(format!("secret {rel} missing from the store")),
            }
        } else {
            f.content
        };
        // Secret files are bind-mounted, so the service user in the container must read
        // them: 0644 inside a 0700 directory that only root can enter on the host.
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        out.write_all(content.as_bytes())
            .map_err(|e| io(&path, e))?;
    }
    let copy = out.join(MANIFEST);
    fs::copy(manifest, &copy).map_err(|e| io(&copy, e))?;
    let yaml = to_yaml(&doc, &plan.stack)?;
    let compose_file = out.join("docker-compose.yml");
    fs::write(&compose_file, yaml).map_err(|e| io(&compose_file, e))?;
    Ok(compose_file)
}
