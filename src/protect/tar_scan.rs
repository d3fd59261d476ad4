//! An incremental reader of a tar stream that looks at its members as the bytes pass by,
//! without buffering the rest: it captures a few named members (pg_basebackup's
//! `backup_label` and `backup_manifest`), or records the size and sha256 of every regular
//! file (the uploads of a files backup, which a restore proves it brought back).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const BLOCK: usize = 512;
/// A captured member larger than this is cut (a backup_manifest of a huge cluster).
const MAX_CAPTURE: u64 = 256 << 20;

/// A regular file of an archive: its path (without a leading `./`), size and sha256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The member whose data is passing.
struct Current {
    name: String,
    capture: Option<Vec<u8>>,
    hash: Option<(Sha256, u64)>,
}

pub struct TarScan {
    wanted: Vec<String>,
    digest_files: bool,
    header: Vec<u8>,
    /// Bytes left in the current member's data, and in its padding.
    data_left: u64,
    pad_left: u64,
    current: Option<Current>,
    members: Vec<(String, Vec<u8>)>,
    files: Vec<FileDigest>,
}

impl TarScan {
    /// Captures the members named `wanted`.
    pub fn new(wanted: Vec<String>) -> Self {
        Self {
            wanted,
            digest_files: false,
            header: Vec::with_capacity(BLOCK),
            data_left: 0,
            pad_left: 0,
            current: None,
            members: Vec::new(),
            files: Vec::new(),
        }
    }

    /// Records the size and sha256 of every regular file.
    pub fn file_digests() -> Self {
        Self {
            digest_files: true,
            ..Self::new(Vec::new())
        }
    }

    pub fn into_members(self) -> Vec<(String, Vec<u8>)> {
        self.members
    }

    pub fn into_files(self) -> Vec<FileDigest> {
        self.files
    }

    /// Captured members and file digests.
    pub fn into_parts(self) -> (Vec<(String, Vec<u8>)>, Vec<FileDigest>) {
        (self.members, self.files)
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.data_left > 0 {
                let n = (self.data_left as usize).min(data.len());
                if let Some(cur) = self.current.as_mut() {
                    if let Some(buf) = cur.capture.as_mut() {
                        if (buf.len() as u64) < MAX_CAPTURE {
                            buf.extend_from_slice(&data[..n]);
                        }
                    }
                    if let Some((h, _)) = cur.hash.as_mut() {
                        h.update(&data[..n]);
                    }
                }
                self.data_left -= n as u64;
                data = &data[n..];
                if self.data_left == 0 {
                    self.end_member();
                }
            } else if self.pad_left > 0 {
                let n = (self.pad_left as usize).min(data.len());
                self.pad_left -= n as u64;
                data = &data[n..];
            } else {
                let n = (BLOCK - self.header.len()).min(data.len());
                self.header.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.header.len() == BLOCK {
                    self.start_member();
                    self.header.clear();
                }
            }
        }
    }

    fn end_member(&mut self) {
        let Some(cur) = self.current.take() else {
            return;
        };
        if let Some(buf) = cur.capture {
            self.members.push((cur.name.clone(), buf));
        }
        if let Some((h, size)) = cur.hash {
            self.files.push(FileDigest {
                path: cur.name,
                size,
                sha256: hex::encode(h.finalize()),
            });
        }
    }

    fn start_member(&mut self) {
        let h = &self.header;
        if h.iter().all(|b| *b == 0) {
            // End-of-archive blocks; a following tar (pg_basebackup appends) starts fresh.
            return;
        }
        let field = |a: usize, b: usize| {
            let raw = &h[a..b];
            let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
            String::from_utf8_lossy(&raw[..end]).to_string()
        };
        let name = field(0, 100);
        let prefix = if &h[257..262] == b"ustar" {
            field(345, 500)
        } else {
            String::new()
        };
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let size_text = field(124, 136);
        let size = u64::from_str_radix(size_text.trim(), 8).unwrap_or(0);
        // '0' and NUL are regular files; links, directories and the like carry no data
        // that a restore could get wrong.
        let regular = matches!(h[156], b'0' | 0);
        // pax and GNU long-name headers carry data too: skipped like any other member.
        self.data_left = size;
        self.pad_left = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let base = full.trim_start_matches("./").to_string();
        let cur = Current {
            capture: self.wanted.contains(&base).then(Vec::new),
            hash: (self.digest_files && regular).then(|| (Sha256::new(), size)),
            name: base,
        };
        if cur.capture.is_some() || cur.hash.is_some() {
            self.current = Some(cur);
            if size == 0 {
                self.end_member();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_named_members_across_chunk_boundaries() {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [
            ("base/1/123", vec![7u8; 3000]),
            (
                "backup_label",
                b"START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n".to_vec(),
            ),
            ("backup_manifest", b"{\"x\":1}".to_vec()),
        ] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        let mut scan = TarScan::new(vec!["backup_label".into(), "backup_manifest".into()]);
        for chunk in bytes.chunks(97) {
            scan.feed(chunk);
        }
        let members = scan.into_members();
        assert_eq!(members.len(), 2);
        assert!(String::from_utf8_lossy(&members[0].1).starts_with("START WAL LOCATION: 0/2000028"));
        assert_eq!(
            members[1],
            ("backup_manifest".to_string(), b"{\"x\":1}".to_vec())
        );
    }

    #[test]
    fn digests_every_regular_file() {
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = tar::Header::new_ustar();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_size(0);
        dir.set_mode(0o755);
        dir.set_cksum();
        b.append_data(&mut dir, "./img", std::io::empty()).unwrap();
        for (name, data) in [("./img/a.png", vec![1u8; 1500]), ("./empty", vec![])] {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_slice()).unwrap();
        }
        let bytes = b.into_inner().unwrap();
        let mut scan = TarScan::file_digests();
        for chunk in bytes.chunks(333) {
            scan.feed(chunk);
        }
        let files = scan.into_files();
        assert_eq!(files.len(), 2, "{files:?}");
        assert_eq!(files[0].path, "img/a.png");
        assert_eq!(files[0].size, 1500);
        assert_eq!(files[0].sha256, hex::encode(Sha256::digest([1u8; 1500])));
        assert_eq!(files[1].path, "empty");
        assert_eq!(files[1].sha256, hex::encode(Sha256::digest([])));
    }
}
