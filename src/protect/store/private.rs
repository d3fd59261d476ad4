//! A directory store is private to its owner: base backups hold every row and
//! `globals.sql` the roles' password verifiers. Directories are 0700 and objects 0600 when
//! written, and a store found looser (made by an older appstack, or copied in by hand) is
//! repaired when first opened, with a warning.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Mode of every directory of the store.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every object of the store.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents as 0700.
pub fn create_dirs(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Options that create a file as 0600 (truncating one that exists).
pub fn file_options() -> fs::OpenOptions {
    let mut o = fs::OpenOptions::new();
    o.write(true).create(true).truncate(true).mode(FILE_MODE);
    o
}

/// What a check of a store's tree found and changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    pub dirs: usize,
    pub files: usize,
}

/// Makes the tree under `root` (root included) private; returns what had to change.
/// A missing root is created 0700.
pub fn repair(root: &Path) -> std::io::Result<Repaired> {
    create_dirs(root)?;
    let mut out = Repaired::default();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        out.dirs += usize::from(tighten(&dir, DIR_MODE)?);
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push(entry.path());
            } else if kind.is_file() {
                out.files += usize::from(tighten(&entry.path(), FILE_MODE)?);
            }
        }
    }
    Ok(out)
}

/// Clears the group and other bits of `path` when set; whether it changed.
fn tighten(path: &Path, mode: u32) -> std::io::Result<bool> {
    let current = fs::symlink_metadata(path)?.permissions().mode() & 0o777;
    if current & 0o077 == 0 {
        return Ok(false);
    }
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(true)
}

/// Checks (once per process and root) that the store under `root` is private, repairing
/// and warning when it was not. A store that cannot be checked is reported, not refused:
/// its own reads and writes will say what is wrong.
pub fn ensure(root: &Path) {
    static CHECKED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| Mutex::new(HashSet::new()));
    let Ok(mut seen) = checked.lock() else {
        return;
    };
    if !seen.insert(root.to_path_buf()) {
        return;
    }
    match repair(root) {
        Ok(Repaired { dirs: 0, files: 0 }) => {}
        Ok(r) => eprintln!(
            "warning: backup store file://{} was readable by other users: made {} director{} 0700 and {} file(s) 0600",
            root.display(),
            r.dirs,
            if r.dirs == 1 { "y" } else { "ies" },
            r.files
        ),
        Err(e) => eprintln!(
            "warning: could not check the permissions of backup store file://{}: {e}",
            root.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_loose_tree_is_made_private_and_a_private_one_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        fs::create_dir_all(root.join("s/base/b1")).unwrap();
        fs::write(root.join("s/base/b1/base.tar.zst"), b"x").unwrap();
        fs::set_permissions(root.join("s/base"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(
            root.join("s/base/b1/base.tar.zst"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let first = repair(&root).unwrap();
        assert!(first.dirs >= 1 && first.files == 1, "{first:?}");
        for p in ["", "s", "s/base", "s/base/b1"] {
            assert_eq!(mode(&root.join(p)), DIR_MODE, "{p}");
        }
        assert_eq!(mode(&root.join("s/base/b1/base.tar.zst")), FILE_MODE);
        assert_eq!(repair(&root).unwrap(), Repaired::default());
    }

    #[test]
    fn new_directories_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dirs(&deep).unwrap();
        let f = deep.join("o");
        file_options().open(&f).unwrap();
        assert_eq!(mode(&dir.path().join("a")), DIR_MODE);
        assert_eq!(mode(&deep), DIR_MODE);
        assert_eq!(mode(&f), FILE_MODE);
    }
}
