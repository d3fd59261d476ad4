//! Client-side encryption of backup objects: ChaCha20-Poly1305 in the STREAM construction
//! (64 KiB segments, each authenticated, the last one marked), so objects of any size are
//! encrypted and decrypted with flat memory, and truncation or reordering is detected.
//! Layout: magic (8) | nonce prefix (7) | segments.

use std::io::{Read, Write};

use aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, OsRng};
use chacha20poly1305::{aead::AeadCore, ChaCha20Poly1305, Key as CKey};
use sha2::{Digest, Sha256};

use super::error::ProtectError;

const MAGIC: &[u8; 8] = b"APSENC1\0";
const SEGMENT: usize = 64 * 1024;
const TAG: usize = 16;
const NONCE_PREFIX: usize = 7;

/// A 256-bit key; its Debug never shows it.
#[derive(Clone)]
pub struct Key([u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key(id {})", self.id())
    }
}

impl Key {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(ChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// Reads a key file: 64 hex characters (whitespace ignored).
    pub fn from_file(path: &str) -> Result<Self, ProtectError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ProtectError::Config(format!(
                "spec.backup.encryption.keyFile: cannot read {path}: {e}"
            ))
        })?;
        let bytes = hex::decode(text.trim()).map_err(|_| ProtectError::Config(format!("spec.backup.encryption.keyFile: {path} must hold 64 hex characters (see `appstack backup keygen`)")))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|_| ProtectError::Config(format!("spec.backup.encryption.keyFile: {path} must hold a 32-byte key (64 hex characters)")))?;
        Ok(Self(arr))
    }

    /// A new key written to `path` (0600, never over an existing file).
    pub fn generate_into(path: &std::path::Path) -> Result<Self, ProtectError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let key = Key::generate();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| ProtectError::Config(format!("{}: {e}", path.display())))?;
        f.write_all(format!("{}\n", key.to_hex()).as_bytes())
            .map_err(|e| ProtectError::Io(format!("{}: {e}", path.display())))?;
        Ok(key)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A public identifier of the key, recorded in manifests.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"appstack key id\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..8])
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(CKey::from_slice(&self.0))
    }
}

/// Encrypts everything written to it into `inner`; `finish` writes the last segment.
pub struct EncryptWriter<W: Write> {
    inner: W,
    enc: Option<EncryptorBE32<ChaCha20Poly1305>>,
    buf: Vec<u8>,
}

impl<W: Write> EncryptWriter<W> {
    pub fn new(key: &Key, mut inner: W) -> std::io::Result<Self> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let prefix = &nonce[..NONCE_PREFIX];
        inner.write_all(MAGIC)?;
        inner.write_all(prefix)?;
        let enc = EncryptorBE32::from_aead(key.cipher(), prefix.into());
        Ok(Self {
            inner,
            enc: Some(enc),
            buf: Vec::with_capacity(SEGMENT),
        })
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        let enc = self
            .enc
            .take()
            .ok_or_else(|| std::io::Error::other("encryptor already finished"))?;
        let ct = enc
            .encrypt_last(self.buf.as_slice())
            .map_err(|_| std::io::Error::other("encryption failed"))?;
        self.inner.write_all(&ct)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            // A full segment is sealed only when more data follows: the last one is
            // sealed as "last" in `finish`.
            if self.buf.len() == SEGMENT {
                let enc = self
                    .enc
                    .as_mut()
                    .ok_or_else(|| std::io::Error::other("encryptor finished"))?;
                let ct = enc
                    .encrypt_next(self.buf.as_slice())
                    .map_err(|_| std::io::Error::other("encryption failed"))?;
                self.inner.write_all(&ct)?;
                self.buf.clear();
            }
            let n = (SEGMENT - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts an encrypted object read from `inner`.
pub struct DecryptReader<R: Read> {
    inner: R,
    dec: Option<DecryptorBE32<ChaCha20Poly1305>>,
    /// Decrypted bytes not yet handed out.
    out: Vec<u8>,
    pos: usize,
    /// One ciphertext segment of lookahead, to know which one is last.
    pending: Vec<u8>,
    started: bool,
}

impl<R: Read> DecryptReader<R> {
    pub fn new(key: &Key, mut inner: R) -> Result<Self, ProtectError> {
        let mut head = [0u8; 8 + NONCE_PREFIX];
        inner
            .read_exact(&mut head)
            .map_err(|e| ProtectError::Io(format!("reading encrypted object header: {e}")))?;
        if &head[..8] != MAGIC {
            return Err(ProtectError::Io(
                "not an appstack-encrypted object (bad magic)".into(),
            ));
        }
        let dec = DecryptorBE32::from_aead(key.cipher(), head[8..].into());
        Ok(Self {
            inner,
            dec: Some(dec),
            out: Vec::new(),
            pos: 0,
            pending: Vec::new(),
            started: false,
        })
    }

    fn read_segment(&mut self) -> std::io::Result<Vec<u8>> {
        let mut seg = vec![0u8; SEGMENT + TAG];
        let mut filled = 0;
        while filled < seg.len() {
            let n = self.inner.read(&mut seg[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        seg.truncate(filled);
        Ok(seg)
    }

    fn refill(&mut self) -> std::io::Result<bool> {
        if self.dec.is_none() {
            return Ok(false);
        }
        if !self.started {
            self.pending = self.read_segment()?;
            self.started = true;
        }
        let next = self.read_segment()?;
        let current = std::mem::replace(&mut self.pending, next);
        let auth = || {
            std::io::Error::other(
                "decryption failed: wrong key, or the object was altered or truncated",
            )
        };
        if self.pending.is_empty() {
            let dec = self.dec.take().ok_or_else(auth)?;
            self.out = dec.decrypt_last(current.as_slice()).map_err(|_| auth())?;
        } else {
            let dec = self.dec.as_mut().ok_or_else(auth)?;
            self.out = dec.decrypt_next(current.as_slice()).map_err(|_| auth())?;
        }
        self.pos = 0;
        Ok(true)
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.out.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(len: usize) {
        let key = Key::generate();
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
        let mut w = EncryptWriter::new(&key, Vec::new()).unwrap();
        for chunk in data.chunks(10_000) {
            w.write_all(chunk).unwrap();
        }
        let ct = w.finish().unwrap();
        let mut r = DecryptReader::new(&key, ct.as_slice()).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert_eq!(back, data, "len {len}");
        // Wrong key and truncation are detected.
        let mut wrong = DecryptReader::new(&Key::generate(), ct.as_slice()).unwrap();
        assert!(wrong.read_to_end(&mut Vec::new()).is_err());
        if ct.len() > 8 + NONCE_PREFIX + TAG + SEGMENT {
            let cut = &ct[..ct.len() - 10];
            let mut t = DecryptReader::new(&key, cut).unwrap();
            assert!(t.read_to_end(&mut Vec::new()).is_err());
        }
    }

    #[test]
    fn roundtrips_any_length() {
        for len in [
            0,
            1,
            SEGMENT - 1,
            SEGMENT,
            SEGMENT + 1,
            3 * SEGMENT,
            200_001,
        ] {
            roundtrip(len);
        }
    }

    #[test]
    fn key_files_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::generate();
        let path = dir.path().join("k");
        std::fs::write(&path, format!("{}\n", key.to_hex())).unwrap();
        let read = Key::from_file(path.to_str().unwrap()).unwrap();
        assert_eq!(read.id(), key.id());
        assert_eq!(key.id().len(), 16);
        assert!(!format!("{key:?}").contains(&key.to_hex()));
        std::fs::write(&path, "nothex").unwrap();
        assert!(Key::from_file(path.to_str().unwrap()).is_err());
    }
}
