//! Filling a volume straight from the engine's host: a restore's tar stream unpacked by us
//! into the volume's directory, instead of piped into a one-off container whose create,
//! start, exit and pipe cost about a second of a five-second restore. Only when the
//! volume's directory is reachable and we may give files away (root on the engine's host,
//! local driver); callers fall back to the container otherwise.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use bytes::{Buf, Bytes};
use tokio::sync::mpsc::Receiver;

use super::engine::{DResult, Engine};

/// A volume's directory on this host; what we write there is owned like its root.
#[derive(Debug, Clone)]
pub struct HostVolume {
    root: PathBuf,
    uid: u32,
    gid: u32,
}

impl HostVolume {
    /// The directory of `volume`, or `None` when it is out of reach. Call it once a
    /// container mounting the volume exists: creating that container is when Docker gives a
    /// new, empty volume the image directory's content and owner, so the root's owner is
    /// the database's user whatever its uid in the image.
    pub async fn open<E: Engine>(engine: &E, volume: &str) -> DResult<Option<Self>> {
        if !engine.direct_volume_io() || !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        let root = PathBuf::from(engine.volume_mountpoint(volume).await?);
        let Ok(meta) = std::fs::metadata(&root) else {
            return Ok(None);
        };
        if !meta.is_dir() {
            return Ok(None);
        }
        Ok(Some(Self {
            root,
            uid: meta.uid(),
            gid: meta.gid(),
        }))
    }

    /// A directory of this process (e.g. a pod's emptyDir): what we write stays ours.
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }

    /// `rel` under the volume's root.
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Makes `rel` (and its parents) a directory of mode 0700 owned like the root.
    pub fn private_dir(&self, rel: &str) -> std::io::Result<PathBuf> {
        let dir = self.path(rel);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        self.own(&dir)?;
        Ok(dir)
    }

    /// Appends `text` to `rel` (created 0600 when missing), owned like the root.
    pub fn append(&self, rel: &str, text: &str) -> std::io::Result<()> {
        let path = self.path(rel);
        // The file may come from a backup: a link there (to a host file, as root) is
        // refused, never followed.
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        f.write_all(text.as_bytes())?;
        self.own(&path)
    }

    /// Removes file `rel` if it is there.
    pub fn remove_file(&self, rel: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(rel)) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn own(&self, path: &Path) -> std::io::Result<()> {
        std::os::unix::fs::lchown(path, Some(self.uid), Some(self.gid))
    }

    /// Unpacks the tar archive(s) arriving on `input` (one after the other, as `tar
    /// --ignore-zeros` reads them) into directory `rel`, modes kept, owned like the root.
    /// Entries that would land outside it are refused. Returns the bytes read.
    pub async fn unpack(&self, rel: &str, input: Receiver<Bytes>) -> std::io::Result<u64> {
        let this = self.clone();
        let rel = rel.to_string();
        tokio::task::spawn_blocking(move || this.unpack_blocking(&rel, input))
            .await
            .map_err(std::io::Error::other)?
    }

    fn unpack_blocking(&self, rel: &str, input: Receiver<Bytes>) -> std::io::Result<u64> {
        let dir = self.private_dir(rel)?;
        let mut reader = ChannelReader {
            rx: input,
            current: Bytes::new(),
            total: 0,
        };
        let _writeback = Writeback::start(&dir);
        {
            let mut archive = tar::Archive::new(&mut reader);
            archive.set_ignore_zeros(true);
            archive.set_preserve_permissions(true);
            archive.set_preserve_mtime(true);
            archive.set_overwrite(true);
            for entry in archive.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.into_owned();
                if name
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
                {
                    return Err(std::io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "archive entry {} leaves the target directory",
                            name.display()
                        ),
                    ));
                }
                entry.unpack_in(&dir)?;
                self.own(&dir.join(&name))?;
            }
        }
        // Whatever follows the last archive (padding) is read too, so the sender finishes.
        std::io::copy(&mut reader, &mut std::io::sink())?;
        Ok(reader.total)
    }
}

/// Flushes the volume's filesystem in the background while we unpack: the database syncs
/// its whole directory when it starts from a backup, and the gigabytes written here would
/// otherwise all reach the disk only then.
struct Writeback {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Writeback {
    fn start(dir: &Path) -> Option<Self> {
        use std::os::fd::AsRawFd;
        use std::sync::atomic::Ordering;
        let handle = std::fs::File::open(dir).ok()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                // Best effort: a failed flush only leaves the work to the database.
                let _ = nix::unistd::syncfs(handle.as_raw_fd());
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        Some(Self { stop })
    }
}

impl Drop for Writeback {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A blocking `Read` over a channel of chunks (used on a blocking thread only).
struct ChannelReader {
    rx: Receiver<Bytes>,
    current: Bytes,
    total: u64,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        self.total += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn volume(dir: &Path) -> HostVolume {
        let meta = std::fs::metadata(dir).unwrap();
        HostVolume {
            root: dir.to_path_buf(),
            uid: meta.uid(),
            gid: meta.gid(),
        }
    }

    #[tokio::test]
    async fn two_archives_in_one_stream_unpack_with_their_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let v = volume(tmp.path());
        let mut stream = tar_of(&[("PG_VERSION", b"15\n"), ("base/1/123", b"page")]);
        stream.extend(tar_of(&[("wal/000000010000000000000001", b"wal")]));
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let chunks: Vec<Bytes> = stream.chunks(700).map(Bytes::copy_from_slice).collect();
        let feeder = tokio::spawn(async move {
            for chunk in chunks {
                tx.send(chunk).await.unwrap();
            }
        });
        let read = v.unpack("pgdata", rx).await.unwrap();
        feeder.await.unwrap();
        assert_eq!(read, stream.len() as u64);
        let d = tmp.path().join("pgdata");
        assert_eq!(std::fs::read(d.join("base/1/123")).unwrap(), b"page");
        assert_eq!(
            std::fs::read(d.join("wal/000000010000000000000001")).unwrap(),
            b"wal"
        );
        let mode = std::fs::metadata(d.join("PG_VERSION"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        v.append("pgdata/postgresql.auto.conf", "a = 1\n").unwrap();
        // A link planted where the file goes is not followed.
        let victim = d.parent().unwrap().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("linked.conf")).unwrap();
        assert!(v.append("pgdata/linked.conf", "x = 1\n").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        v.append("pgdata/postgresql.auto.conf", "b = 2\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("postgresql.auto.conf")).unwrap(),
            "a = 1\nb = 2\n"
        );
        v.remove_file("pgdata/PG_VERSION").unwrap();
        v.remove_file("pgdata/PG_VERSION").unwrap();
    }

    #[tokio::test]
    async fn an_entry_escaping_the_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let v = volume(tmp.path());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o600);
        // `append_data` refuses "..", so the name goes into the header directly.
        h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../escape");
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &b"x"[..]).unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(Bytes::from(b.into_inner().unwrap())).await.unwrap();
        drop(tx);
        let err = v.unpack("pgdata", rx).await.unwrap_err();
        assert!(err.to_string().contains("leaves the target"), "{err}");
        assert!(!tmp.path().join("escape").exists());
    }
}
