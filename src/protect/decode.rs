//! Reading a stored object back: store chunks → zstd decode (blocking thread) → bounded
//! channel of raw chunks, memory flat whatever the size.

use std::io::Read;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::crypto::{DecryptReader, Key};
use super::error::ProtectError;
use super::pipeline::{CHUNK, DEPTH};

/// `Read` over chunks handed across from the async side.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, ProtectError>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e.to_string())),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Decodes a zstd object stream; the handle reports decode errors.
pub fn spawn_zstd(
    mut source: BoxStream<'static, Result<Bytes, ProtectError>>,
    key: Option<Key>,
) -> (mpsc::Receiver<Bytes>, JoinHandle<Result<u64, ProtectError>>) {
    let (in_tx, in_rx) = mpsc::channel::<Result<Bytes, ProtectError>>(DEPTH);
    let (out_tx, out_rx) = mpsc::channel::<Bytes>(DEPTH);
    tokio::spawn(async move {
        while let Some(chunk) = source.next().await {
            let failed = chunk.is_err();
            if in_tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    });
    let handle = tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx: in_rx,
            current: Bytes::new(),
        };
        let reader: Box<dyn Read + Send> = match &key {
            Some(k) => Box::new(DecryptReader::new(k, reader)?),
            None => Box::new(reader),
        };
        let mut decoder = zstd::stream::read::Decoder::new(reader)
            .map_err(|e| ProtectError::Io(format!("zstd: {e}")))?;
        let mut total = 0u64;
        loop {
            let mut buf = vec![0u8; CHUNK];
            let mut filled = 0;
            while filled < CHUNK {
                let n = decoder
                    .read(&mut buf[filled..])
                    .map_err(|e| ProtectError::Io(format!("decoding backup: {e}")))?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if filled == 0 {
                return Ok(total);
            }
            buf.truncate(filled);
            total += filled as u64;
            if out_tx.blocking_send(Bytes::from(buf)).is_err() {
                return Err(ProtectError::Io(
                    "the restore target stopped reading".into(),
                ));
            }
        }
    });
    (out_rx, handle)
}
