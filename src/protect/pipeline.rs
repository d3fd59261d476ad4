//! The byte pipeline of a backup: raw chunks in → (tar inspection) → zstd → sha256 → chunks
//! out to the store. It runs on a blocking thread between two bounded channels, so memory
//! stays flat whatever the size of the database.

use std::io::Write;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::crypto::{EncryptWriter, Key};
use super::error::ProtectError;
use super::tar_scan::{FileDigest, TarScan};
use crate::progress::meter::Meter;

/// Chunks of ~1 MiB go to the store; 8 in flight at most on each side.
pub const CHUNK: usize = 1 << 20;
pub const DEPTH: usize = 4;

/// What the pipeline saw.
#[derive(Debug, Clone, Default)]
pub struct Encoded {
    pub raw_size: u64,
    pub stored_size: u64,
    /// sha256 of the stored bytes (what `verify` recomputes).
    pub sha256: String,
    /// Captured tar members (backup_label, backup_manifest) when inspection was asked for.
    pub members: Vec<(String, Vec<u8>)>,
    /// Every regular file of the tar, with its sha256, when asked for.
    pub files: Vec<FileDigest>,
}

/// What the pipeline looks at in a tar passing through it.
#[derive(Debug, Clone, Copy)]
pub enum Inspect<'a> {
    Nothing,
    /// Keep these members' bytes.
    Members(&'a [&'a str]),
    /// Record every regular file's size and sha256.
    FileDigests,
}

impl Inspect<'_> {
    fn scanner(self) -> Option<TarScan> {
        match self {
            Inspect::Nothing => None,
            Inspect::Members(m) => Some(TarScan::new(m.iter().map(|s| s.to_string()).collect())),
            Inspect::FileDigests => Some(TarScan::file_digests()),
        }
    }
}

struct Sink {
    out: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
    hash: Sha256,
    size: u64,
}

impl Sink {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.out.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the store stopped reading")
        })
    }
}

impl Write for Sink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.hash.update(data);
        self.size += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where compressed bytes go: straight to the sink, or through encryption first.
enum Out {
    Plain(Sink),
    Sealed(EncryptWriter<Sink>),
}

impl Out {
    fn finish(self) -> std::io::Result<Sink> {
        match self {
            Out::Plain(s) => Ok(s),
            Out::Sealed(e) => e.finish(),
        }
    }
}

impl Write for Out {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Plain(s) => s.write(data),
            Out::Sealed(e) => e.write(data),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Compression of a pipeline.
#[derive(Debug, Clone, Copy)]
pub enum Compression {
    Zstd(i32),
    /// zstd plus a digest trailer (`digest`): for WAL objects, which have no manifest
    /// recording the sha256 of their stored bytes. Unencrypted only (AEAD guards the rest).
    ZstdDigest(i32),
    /// The input is already compressed (e.g. `pg_dump -Fc`): stored as is, still hashed.
    None,
}

/// Starts a pipeline; feed raw chunks into the returned sender, store the receiver's chunks.
pub fn spawn(
    compression: Compression,
    inspect: Inspect<'_>,
    key: Option<Key>,
    meter: Option<Meter>,
) -> (
    mpsc::Sender<Bytes>,
    mpsc::Receiver<Bytes>,
    JoinHandle<Result<Encoded, ProtectError>>,
) {
    let (raw_tx, mut raw_rx) = mpsc::channel::<Bytes>(DEPTH);
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(DEPTH);
    let scan = inspect.scanner();
    let handle = tokio::task::spawn_blocking(move || {
        let io = |e: std::io::Error| ProtectError::Io(format!("backup pipeline: {e}"));
        let sink = Sink {
            out: out_tx,
            buf: Vec::with_capacity(CHUNK),
            hash: Sha256::new(),
            size: 0,
        };
        // raw → zstd → (encrypt) → sha256 of what is stored → store.
        let out = match &key {
            Some(k) => Out::Sealed(EncryptWriter::new(k, sink).map_err(io)?),
            None => Out::Plain(sink),
        };
        let mut scan = scan;
        let mut raw_size = 0u64;
        let mut sink = match compression {
            Compression::Zstd(level) | Compression::ZstdDigest(level) => {
                let mut enc = zstd::stream::write::Encoder::new(out, level).map_err(io)?;
                // Use the second core when there is one; compression is the hot loop. Jobs
                // of 1 MiB instead of zstd's default (4 windows, 8 MiB at level 3): its buffer
                // pool was ~30 MiB of the backup's resident memory, for no measurable speed.
                let _ = enc.multithread(1);
                let _ = enc.set_parameter(zstd::stream::raw::CParameter::JobSize(CHUNK as u32));
                while let Some(chunk) = raw_rx.blocking_recv() {
                    raw_size += chunk.len() as u64;
                    if let Some(m) = &meter {
                        m.add(chunk.len() as u64);
                    }
                    if let Some(s) = scan.as_mut() {
                        s.feed(&chunk);
                    }
                    enc.write_all(&chunk).map_err(io)?;
                }
                enc.finish().map_err(io)?.finish().map_err(io)?
            }
            Compression::None => {
                let mut out = out;
                while let Some(chunk) = raw_rx.blocking_recv() {
                    raw_size += chunk.len() as u64;
                    if let Some(m) = &meter {
                        m.add(chunk.len() as u64);
                    }
                    out.write_all(&chunk).map_err(io)?;
                }
                out.finish().map_err(io)?
            }
        };
        if matches!(compression, Compression::ZstdDigest(_)) && key.is_none() {
            let sha = sink.hash.clone().finalize();
            sink.write_all(&super::digest::frame(&sha)).map_err(io)?;
        }
        sink.flush_chunk().map_err(io)?;
        let sha256 = hex::encode(sink.hash.clone().finalize());
        let (members, files) = scan.map(TarScan::into_parts).unwrap_or_default();
        Ok(Encoded {
            raw_size,
            stored_size: sink.size,
            sha256,
            members,
            files,
        })
    });
    (raw_tx, out_rx, handle)
}
