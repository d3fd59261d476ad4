//! A command's stdout through a FIFO in one of the container's volumes, read straight from
//! the engine's host. `docker exec`'s attach stream goes through dockerd and relays about
//! 220 MB/s here: a 1.15 GB `pg_basebackup` takes ~5 s through it and ~1.1 s inside the
//! container. The FIFO is a kernel pipe, so a backup is bounded by compression instead.
//! Only possible when the volume's files are visible to us (appstack on the engine's host
//! with access to the local driver's directory); otherwise the caller uses the attach stream.
//! `StdinFifo` is the same for what a restore feeds into a one-off container.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

use super::engine::DResult;
use super::engine::{Engine, ExecOutput};
use super::error::DockerError;

const READ: usize = 256 << 10;
/// A bigger pipe than Linux's 64 KiB default: fewer wake-ups per MB on both ends.
const PIPE_SIZE: i32 = 1 << 20;

/// Runs `cmd` in container `name` with its stdout into a FIFO we read; `None` when no
/// writable volume of the container is reachable from here.
pub async fn exec_via_fifo<E: Engine>(
    engine: &E,
    name: &str,
    cmd: &[String],
    stdout: &mpsc::Sender<Bytes>,
) -> Option<DResult<ExecOutput>> {
    if !engine.direct_volume_io() {
        return None;
    }
    let mounts = engine.volume_mounts(name).await.ok()?;
    let (host_dir, inside) = mounts
        .into_iter()
        .find(|(host, _)| Path::new(host).is_dir())?;
    let file = format!(".appstack-stream-{:016x}", rand::random::<u64>());
    let host = PathBuf::from(&host_dir).join(&file);
    let fifo = Fifo::create(&host, Path::new(&host_dir)).ok()?;
    let receiver = pipe::OpenOptions::new()
        .read_write(true)
        .open_receiver(&fifo.0)
        .ok()?;
    set_pipe_size(&receiver);
    let target = format!("{}/{file}", inside.trim_end_matches('/'));
    let mut argv = vec![
        "sh".to_string(),
        "-c".to_string(),
        format!("exec \"$@\" > '{target}'"),
        "sh".to_string(),
    ];
    argv.extend(cmd.iter().cloned());
    // The command's own stdout is the FIFO: the attach stream carries only stderr.
    let (unused, _drop) = mpsc::channel(1);
    Some(
        relay(
            engine.exec_stream(name, argv, unused),
            receiver,
            stdout,
            name,
        )
        .await,
    )
}

/// Forwards what the FIFO yields until the command has exited and the pipe is empty. The
/// FIFO is opened read-write, so it never reports end-of-file: the exit says when to stop.
async fn relay(
    exec: impl std::future::Future<Output = DResult<ExecOutput>>,
    receiver: pipe::Receiver,
    stdout: &mpsc::Sender<Bytes>,
    name: &str,
) -> DResult<ExecOutput> {
    tokio::pin!(exec);
    let gone = || DockerError::Other(format!("the reader of {name}'s output went away"));
    let io = |e: std::io::Error| DockerError::Other(format!("reading {name}'s output: {e}"));
    let mut buf = BytesMut::with_capacity(READ);
    let out = loop {
        tokio::select! {
            biased;
            ready = receiver.readable() => {
                ready.map_err(io)?;
                if drain(&receiver, &mut buf).map_err(io)? > 0 {
                    stdout.send(buf.split().freeze()).await.map_err(|_| gone())?;
                }
            }
            out = &mut exec => break out?,
        }
    };
    // The writer has exited: whatever it wrote is in the pipe now.
    while drain(&receiver, &mut buf).map_err(io)? > 0 {
        stdout
            .send(buf.split().freeze())
            .await
            .map_err(|_| gone())?;
    }
    Ok(out)
}

/// Reads what is available now, up to one buffer.
fn drain(receiver: &pipe::Receiver, buf: &mut BytesMut) -> std::io::Result<usize> {
    let mut total = 0;
    while buf.len() < READ {
        buf.reserve(READ - buf.len());
        match receiver.try_read_buf(buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

fn set_pipe_size(end: &impl std::os::fd::AsRawFd) {
    use nix::fcntl::{fcntl, FcntlArg};
    // Best effort: an unprivileged limit (pipe-max-size) just leaves the default.
    let _ = fcntl(end.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
}

/// The other direction, for a one-off container's stdin (a restore's tar): the attach
/// stream's stdin is as slow as its stdout. The container's script makes the FIFO and
/// opens it (`wrap`), so it is the container's user's and a new volume is still empty when
/// Docker gives it the image directory's ownership at the first mount. We open the writing
/// end only once a reader has it open (a FIFO's buffered data dies with its last open end),
/// and closing it is the reader's end of file.
pub struct StdinFifo {
    pub sender: pipe::Sender,
}

/// Where the FIFO will be, decided before the container exists.
pub struct PlannedFifo {
    host: PathBuf,
    /// The FIFO's path inside the container.
    target: String,
}

/// How long the container may take to open its end.
const OPEN_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

impl PlannedFifo {
    /// In the volume whose host directory is `host_dir`, mounted at `inside`; `None` when
    /// that directory is not reachable from here.
    pub fn new(host_dir: &Path, inside: &str) -> Option<Self> {
        if !host_dir.is_dir() {
            return None;
        }
        let file = format!(".appstack-stream-{:016x}", rand::random::<u64>());
        Some(Self {
            host: host_dir.join(&file),
            target: format!("{}/{file}", inside.trim_end_matches('/')),
        })
    }

    /// `script` with its stdin read from the FIFO (removed as soon as both ends are open).
    pub fn wrap(&self, script: &str) -> String {
        format!(
            "f='{}'; mkfifo -m 600 \"$f\"; exec 0<\"$f\"; rm -f \"$f\"\n{script}",
            self.target
        )
    }

    /// The writing end, once the container has opened its reading end.
    pub async fn open(self) -> std::io::Result<StdinFifo> {
        let deadline = tokio::time::Instant::now() + OPEN_WAIT;
        loop {
            match pipe::OpenOptions::new().open_sender(&self.host) {
                Ok(sender) => {
                    set_pipe_size(&sender);
                    return Ok(StdinFifo { sender });
                }
                // Not made yet, or no reader yet.
                Err(e)
                    if (e.kind() == std::io::ErrorKind::NotFound
                        || e.raw_os_error() == Some(nix::libc::ENXIO))
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&self.host);
                    return Err(e);
                }
            }
        }
    }
}

/// The FIFO on the host, owned like its directory (so the container's user may write it),
/// removed when dropped.
struct Fifo(PathBuf);

impl Fifo {
    fn create(path: &Path, dir: &Path) -> std::io::Result<Self> {
        nix::unistd::mkfifo(
            path,
            nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        )
        .map_err(std::io::Error::from)?;
        let fifo = Self(path.to_path_buf());
        let meta = std::fs::metadata(dir)?;
        std::os::unix::fs::chown(path, Some(meta.uid()), Some(meta.gid()))?;
        Ok(fifo)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
