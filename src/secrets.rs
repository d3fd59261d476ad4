//! Secrets of a stack: generated once, stored 0600 under the state directory, never printed
//! or logged (`SecretValue`'s Debug and Display are redacted).

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::distr::{Alphanumeric, SampleString};

use crate::plan::{Secret, SecretSource};

/// A secret value; formatting it never reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value itself, for writing into a container or a Kubernetes Secret.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A value read back from where it was kept (a sealed stack record).
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret store {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("secret {secret}: template refers to unknown key {key:?}")]
    Template { secret: String, key: String },
    #[error("secret name {0:?} is not a plain file name")]
    Name(String),
}

impl SecretError {
    pub fn category(&self) -> &'static str {
        match self {
            SecretError::Io { .. } => "secret_io",
            SecretError::Template { .. } => "secret_template",
            SecretError::Name(_) => "secret_name",
        }
    }
}

/// Resolved values, keyed by (secret, key).
pub type Resolved = BTreeMap<(String, String), SecretValue>;

/// The per-stack secret directory: `<state>/stacks/<stack>/secrets/<secret>/<key>`.
#[derive(Debug, Clone)]
pub struct SecretStore {
    dir: PathBuf,
}

impl SecretStore {
    pub fn new(state_dir: &Path, stack: &str) -> Self {
        Self {
            dir: state_dir.join("stacks").join(stack).join("secrets"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every secret of the plan, generating (once) those that do not exist yet.
    pub fn ensure(&self, secrets: &[Secret]) -> Result<Resolved, SecretError> {
        let mut out = Resolved::new();
        for secret in secrets {
            let dir = self.dir.join(&secret.name);
            create_private_dir(&dir)?;
            let mut values: BTreeMap<String, String> = BTreeMap::new();
            for key in secret
                .keys
                .iter()
                .filter(|k| matches!(k.source, SecretSource::Generated { .. }))
            {
                let path = dir.join(&key.key);
                let value = match read(&path)? {
                    Some(v) => v,
                    None => {
                        let SecretSource::Generated { length } = key.source else {
                            continue;
                        };
                        let v = Alphanumeric.sample_string(&mut rand::rng(), length);
                        write_private(&path, &v)?;
                        v
                    }
                };
                values.insert(key.key.clone(), value);
            }
            // Templates are always re-rendered so they follow their source keys.
            for key in &secret.keys {
                if let SecretSource::Template { template } = &key.source {
                    let rendered =
                        render(template, &values).map_err(|k| SecretError::Template {
                            secret: secret.name.clone(),
                            key: k,
                        })?;
                    let path = dir.join(&key.key);
                    if read(&path)?.as_deref() != Some(rendered.as_str()) {
                        write_private(&path, &rendered)?;
                    }
                    values.insert(key.key.clone(), rendered);
                }
            }
            for (k, v) in values {
                out.insert((secret.name.clone(), k), SecretValue(v));
            }
        }
        Ok(out)
    }

    /// Gives this stack the same secrets as `source` (a restored copy carries the source's
    /// database roles, so it needs the source's passwords). Existing values are replaced.
    pub fn copy_from(&self, source: &SecretStore) -> Result<usize, SecretError> {
        let mut copied = 0;
        let secrets = match fs::read_dir(&source.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(io(&source.dir, e)),
        };
        for secret in secrets.flatten().filter(|e| e.path().is_dir()) {
            let target = self.dir.join(secret.file_name());
            create_private_dir(&target)?;
            for key in fs::read_dir(secret.path())
                .map_err(|e| io(&secret.path(), e))?
                .flatten()
            {
                if key.path().extension().is_some_and(|x| x == "tmp") {
                    continue;
                }
                if let Some(value) = read(&key.path())? {
                    write_private(&target.join(key.file_name()), &value)?;
                    copied += 1;
                }
            }
        }
        Ok(copied)
    }

    /// Writes `values` (secret, key → value) as the stack's secrets, replacing what is
    /// there: the secrets a stack record in the store brought back.
    pub fn install(
        &self,
        values: &BTreeMap<(String, String), SecretValue>,
    ) -> Result<usize, SecretError> {
        for ((secret, key), value) in values {
            if [secret, key]
                .iter()
                .any(|p| p.is_empty() || p.contains('/') || p.starts_with('.'))
            {
                return Err(SecretError::Name(format!("{secret}/{key}")));
            }
            let dir = self.dir.join(secret);
            create_private_dir(&dir)?;
            write_private(&dir.join(key), value.expose())?;
        }
        Ok(values.len())
    }

    /// Deletes every secret of the stack (only with `down --volumes`: the data they guard is gone).
    pub fn remove_all(&self) -> Result<(), SecretError> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&self.dir, e)),
        }
    }
}

/// Makes the state directory private (0700): it holds the secrets and the stacks' state.
/// Created when missing; a looser existing one is tightened with a warning.
pub fn private_state_dir(dir: &Path) -> Result<(), SecretError> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io(dir, e))?;
    let mode = fs::metadata(dir)
        .map_err(|e| io(dir, e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| io(dir, e))?;
        eprintln!(
            "warning: state directory {} was {mode:o}, readable by other users: made it 0700",
            dir.display()
        );
    }
    Ok(())
}

fn render(template: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or_else(|| after.to_string())?;
        let key = &after[..end];
        out.push_str(values.get(key).ok_or_else(|| key.to_string())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn io(path: &Path, source: std::io::Error) -> SecretError {
    SecretError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn create_private_dir(dir: &Path) -> Result<(), SecretError> {
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut p = Some(dir);
    // The secrets tree is 0700 up to and including `secrets/`.
    while let Some(d) = p {
        fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(|e| io(d, e))?;
        if d.file_name().is_some_and(|n| n == "secrets") {
            break;
        }
        p = d.parent();
    }
    Ok(())
}

fn read(path: &Path) -> Result<Option<String>, SecretError> {
    match fs::read_to_string(path) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path, e)),
    }
}

/// Writes via a temporary file and rename, so a crash never leaves a half-written secret.
fn write_private(path: &Path, value: &str) -> Result<(), SecretError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    f.write_all(value.as_bytes()).map_err(|e| io(&tmp, e))?;
    f.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::SecretKey;

    #[test]
    fn generated_once_private_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::new(dir.path(), "demo");
        let secrets = vec![Secret {
            name: "cache".into(),
            keys: vec![
                SecretKey {
                    key: "password".into(),
                    source: SecretSource::Generated { length: 32 },
                },
                SecretKey {
                    key: "auth.conf".into(),
                    source: SecretSource::Template {
                        template: "requirepass ${password}\n".into(),
                    },
                },
            ],
        }];
        let first = store.ensure(&secrets).unwrap();
        let second = store.ensure(&secrets).unwrap();
        assert_eq!(first, second);
        let pw = &first[&("cache".to_string(), "password".to_string())];
        assert_eq!(pw.expose().len(), 32);
        assert_eq!(format!("{pw:?} {pw}"), "<redacted> <redacted>");
        let conf = &first[&("cache".to_string(), "auth.conf".to_string())];
        assert_eq!(conf.expose(), format!("requirepass {}\n", pw.expose()));
        let file = store.dir().join("cache/password");
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
