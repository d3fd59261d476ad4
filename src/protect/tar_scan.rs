//! An incremental reader of a tar stream that captures a few named members (pg_basebackup's
//! `backup_label` and `backup_manifest`) as the bytes pass by, without buffering the rest.

const BLOCK: usize = 512;
/// A captured member larger than this is cut (a backup_manifest of a huge cluster).
const MAX_CAPTURE: u64 = 256 << 20;

pub struct TarScan {
    wanted: Vec<String>,
    header: Vec<u8>,
    /// Bytes left in the current member's data, and in its padding.
    data_left: u64,
    pad_left: u64,
    current: Option<(String, Vec<u8>)>,
    members: Vec<(String, Vec<u8>)>,
    done: bool,
}

impl TarScan {
    pub fn new(wanted: Vec<String>) -> Self {
        Self {
            wanted,
            header: Vec::with_capacity(BLOCK),
            data_left: 0,
            pad_left: 0,
            current: None,
            members: Vec::new(),
            done: false,
        }
    }

    pub fn into_members(self) -> Vec<(String, Vec<u8>)> {
        self.members
    }

    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.done {
            if self.data_left > 0 {
                let n = (self.data_left as usize).min(data.len());
                if let Some((_, buf)) = self.current.as_mut() {
                    if (buf.len() as u64) < MAX_CAPTURE {
                        buf.extend_from_slice(&data[..n]);
                    }
                }
                self.data_left -= n as u64;
                data = &data[n..];
                if self.data_left == 0 {
                    if let Some(m) = self.current.take() {
                        self.members.push(m);
                    }
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
        self.data_left = size;
        self.pad_left = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let base = full.trim_start_matches("./").to_string();
        if size > 0 && self.wanted.contains(&base) {
            self.current = Some((base, Vec::new()));
        } else if size == 0 && self.wanted.contains(&base) {
            self.members.push((base, Vec::new()));
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
}
