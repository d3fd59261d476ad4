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
/// stream's stdin is as slow as its stdout. The container's script starts with
/// `exec 0<'{target}'`; dropping `sender` (the only writer) is its end of file.
pub struct StdinFifo {
    pub sender: pipe::Sender,
    /// The FIFO's path inside the container.
    pub target: String,
    _fifo: Fifo,
}

impl StdinFifo {
    /// In the volume whose host directory is `host_dir`, mounted at `inside`; `None` when
    /// that directory is not reachable from here, or is empty: Docker gives a volume the
    /// ownership of the image's directory only while it is empty, so a new volume must be
    /// initialised by a container first.
    pub fn create(host_dir: &Path, inside: &str) -> Option<Self> {
        std::fs::read_dir(host_dir).ok()?.next()?.ok()?;
        let file = format!(".appstack-stream-{:016x}", rand::random::<u64>());
        let fifo = Fifo::create(&host_dir.join(&file), host_dir).ok()?;
        // Read-write, so opening does not wait for the container to open its end.
        let sender = pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(&fifo.0)
            .ok()?;
        set_pipe_size(&sender);
        Some(Self {
            sender,
            target: format!("{}/{file}", inside.trim_end_matches('/')),
            _fifo: fifo,
        })
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
