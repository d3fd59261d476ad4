//! WAL in the store: segment names and LSNs, the object naming scheme, and the questions a
//! restore or a verify asks of the archive (which segments follow a base backup, where the
//! gaps are).
//!
//! Objects live under `<stack>/wal/` and carry the sha256 of the raw WAL in their name:
//! `<segment>-<sha256>.zst` for a complete segment, `<segment>.partial-<sha256>.zst` for
//! the segment being written (its valid prefix, trailing zeros trimmed) and
//! `<tli>.history-<sha256>.zst` for timeline history. One list call is the whole catalog
//! of WAL and its checksums. `.enc` follows `.zst` when the bytes are encrypted.
//!
//! The database system identifier (16 hex digits) goes between the file name and the
//! checksum — `<segment>-<system>-<sha256>.zst` — because one stack's store outlives its
//! clusters: after `down --volumes` and `up` a new cluster writes segments of the same
//! names, and a restore must replay only the WAL of the backup's own cluster. Objects
//! without it (written before it was recorded) belong to any cluster.

use std::fmt;

use super::error::ProtectError;
use super::store::{ObjectMeta, ObjectStore};

/// PostgreSQL's default (and only supported here) WAL segment size.
pub const SEGMENT_SIZE: u64 = 16 * 1024 * 1024;
const SEGMENTS_PER_XLOGID: u64 = 0x1_0000_0000 / SEGMENT_SIZE;

/// A log sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's `X/Y` notation.
    pub fn parse(s: &str) -> Option<Self> {
        let (hi, lo) = s.trim().split_once('/')?;
        let hi = u64::from_str_radix(hi, 16).ok()?;
        let lo = u64::from_str_radix(lo, 16).ok()?;
        (lo <= u32::MAX as u64 && hi <= u32::MAX as u64).then_some(Lsn((hi << 32) | lo))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// A WAL segment: timeline and position (segment number from the start of WAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Segment {
    pub timeline: u32,
    pub number: u64,
}

impl Segment {
    /// The segment holding `lsn` on `timeline`.
    pub fn of(timeline: u32, lsn: Lsn) -> Self {
        Segment {
            timeline,
            number: lsn.0 / SEGMENT_SIZE,
        }
    }

    /// Parses a 24-hex-digit segment file name.
    pub fn parse(name: &str) -> Option<Self> {
        if name.len() != 24 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let tli = u32::from_str_radix(&name[0..8], 16).ok()?;
        let log = u64::from_str_radix(&name[8..16], 16).ok()?;
        let seg = u64::from_str_radix(&name[16..24], 16).ok()?;
        (seg < SEGMENTS_PER_XLOGID).then_some(Segment {
            timeline: tli,
            number: log * SEGMENTS_PER_XLOGID + seg,
        })
    }

    pub fn name(&self) -> String {
        format!(
            "{:08X}{:08X}{:08X}",
            self.timeline,
            self.number / SEGMENTS_PER_XLOGID,
            self.number % SEGMENTS_PER_XLOGID
        )
    }

    pub fn next(&self) -> Self {
        Segment {
            timeline: self.timeline,
            number: self.number + 1,
        }
    }

    /// First LSN of the segment.
    pub fn start_lsn(&self) -> Lsn {
        Lsn(self.number * SEGMENT_SIZE)
    }
}

/// What a WAL file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WalKind {
    /// A complete segment.
    Segment(Segment),
    /// The valid prefix of the segment being written.
    Partial(Segment),
    /// A timeline history file.
    History(u32),
}

impl WalKind {
    /// Parses a spool file name (`pg_receivewal` output).
    pub fn from_file_name(name: &str) -> Option<Self> {
        if let Some(seg) = name.strip_suffix(".partial") {
            return Segment::parse(seg).map(WalKind::Partial);
        }
        if let Some(tli) = name.strip_suffix(".history") {
            return (tli.len() == 8)
                .then(|| u32::from_str_radix(tli, 16).ok())
                .flatten()
                .map(WalKind::History);
        }
        Segment::parse(name).map(WalKind::Segment)
    }

    /// The file name PostgreSQL asks for in `restore_command` (a partial is restored under
    /// its segment's name).
    pub fn restore_name(&self) -> String {
        match self {
            WalKind::Segment(s) | WalKind::Partial(s) => s.name(),
            WalKind::History(t) => format!("{t:08X}.history"),
        }
    }

    /// The name in the spool and in the store key.
    pub fn file_name(&self) -> String {
        match self {
            WalKind::Segment(s) => s.name(),
            WalKind::Partial(s) => format!("{}.partial", s.name()),
            WalKind::History(t) => format!("{t:08X}.history"),
        }
    }
}

/// A WAL object in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalObject {
    pub key: String,
    pub kind: WalKind,
    /// sha256 of the raw (decoded) WAL bytes.
    pub sha256: String,
    pub encrypted: bool,
    pub size: u64,
    /// The database system identifier of the cluster that wrote it, when recorded.
    pub system: Option<u64>,
}

impl WalObject {
    /// Whether it may belong to the cluster `system` (an unrecorded side matches any).
    pub fn of_system(&self, system: Option<u64>) -> bool {
        match (self.system, system) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

/// The database system identifier in the long header of a segment's first page
/// (`XLogLongPageHeaderData.xlp_sysid`, after the 24-byte short header), or None when
/// `head` does not start with one.
pub fn system_of_segment(head: &[u8]) -> Option<u64> {
    const XLP_LONG_HEADER: u16 = 0x0002;
    let info = u16::from_le_bytes(head.get(2..4)?.try_into().ok()?);
    if info & XLP_LONG_HEADER == 0 {
        return None;
    }
    let sysid = u64::from_le_bytes(head.get(24..32)?.try_into().ok()?);
    (sysid != 0).then_some(sysid)
}

/// The key prefix of a stack's WAL.
pub fn prefix(stack: &str) -> String {
    format!("{stack}/wal/")
}

/// The key of a WAL file of cluster `system` with raw-content checksum `sha256`.
pub fn object_key(
    stack: &str,
    kind: WalKind,
    system: Option<u64>,
    sha256: &str,
    encrypted: bool,
) -> String {
    let enc = if encrypted { ".enc" } else { "" };
    let system = system.map_or_else(String::new, |s| format!("-{s:016x}"));
    format!(
        "{}{}{system}-{sha256}.zst{enc}",
        prefix(stack),
        kind.file_name()
    )
}

/// Parses a listed key; anything else under the prefix is not WAL (and is ignored).
pub fn parse_object(stack: &str, meta: &ObjectMeta) -> Option<WalObject> {
    let name = meta.key.strip_prefix(&prefix(stack))?;
    let (body, encrypted) = match name.strip_suffix(".zst.enc") {
        Some(b) => (b, true),
        None => (name.strip_suffix(".zst")?, false),
    };
    let (rest, sha) = body.rsplit_once('-')?;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let (file, system) = match rest.rsplit_once('-') {
        Some((file, sys)) => (file, Some(u64::from_str_radix(sys, 16).ok()?)),
        None => (rest, None),
    };
    Some(WalObject {
        key: meta.key.clone(),
        kind: WalKind::from_file_name(file)?,
        sha256: sha.to_string(),
        encrypted,
        size: meta.size,
        system,
    })
}

/// Every WAL object of the stack, in WAL order (history files first).
pub async fn list<S: ObjectStore>(store: &S, stack: &str) -> Result<Vec<WalObject>, ProtectError> {
    let mut out: Vec<WalObject> = store
        .list(&prefix(stack))
        .await?
        .iter()
        .filter_map(|m| parse_object(stack, m))
        .collect();
    out.sort_by(|a, b| a.kind.cmp(&b.kind).then(a.key.cmp(&b.key)));
    Ok(out)
}

/// A hole in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub missing: Segment,
    pub after: Option<Segment>,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WAL segment {} (LSN {} to {}) is missing",
            self.missing.name(),
            self.missing.start_lsn(),
            self.missing.next().start_lsn()
        )?;
        if let Some(a) = self.after {
            write!(f, "; the archive continues after {}", a.name())?;
        }
        Ok(())
    }
}

/// The WAL a restore from a base backup starting at `from` replays, in order: each
/// complete segment from `from` on, then the newest segment's partial when its complete
/// version is not there yet. Stops at the first gap, which is returned too.
pub fn chain(all: &[WalObject], from: Segment) -> (Vec<WalObject>, Option<Gap>) {
    let mut complete: Vec<&WalObject> = all
        .iter()
        .filter(
            |o| matches!(o.kind, WalKind::Segment(s) if s.timeline == from.timeline && s >= from),
        )
        .collect();
    complete.sort_by_key(|o| o.kind);
    complete.dedup_by_key(|o| o.kind);
    let mut out = Vec::new();
    let mut expect = from;
    let mut gap = None;
    for o in complete {
        let WalKind::Segment(s) = o.kind else {
            continue;
        };
        if s != expect {
            gap = Some(Gap {
                missing: expect,
                after: Some(s),
            });
            break;
        }
        out.push(o.clone());
        expect = s.next();
    }
    if gap.is_none() {
        // The newest partial of the next expected segment, if any.
        let partial = all
            .iter()
            .filter(|o| o.kind == WalKind::Partial(expect))
            .max_by_key(|o| o.size);
        match partial {
            Some(p) => out.push(p.clone()),
            None => {
                // A partial of a later segment means WAL between is missing.
                let later = all.iter().find_map(|o| match o.kind {
                    WalKind::Partial(s) if s.timeline == expect.timeline && s > expect => Some(s),
                    _ => None,
                });
                if let Some(s) = later {
                    gap = Some(Gap {
                        missing: expect,
                        after: Some(s),
                    });
                }
            }
        }
    }
    (out, gap)
}

/// The newest timeline in the archive when it is newer than `timeline`: the stack was
/// promoted onto it after a base backup of `timeline` (an in-place restore), so replaying
/// `timeline`'s WAL to its end would bring back the history that restore left.
pub fn newer_timeline(all: &[WalObject], timeline: u32) -> Option<u32> {
    all.iter()
        .map(|o| match o.kind {
            WalKind::Segment(s) | WalKind::Partial(s) => s.timeline,
            WalKind::History(t) => t,
        })
        .max()
        .filter(|newest| *newest > timeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(stack: &str, kind: WalKind) -> WalObject {
        let key = object_key(stack, kind, None, &"ab".repeat(32), false);
        parse_object(stack, &ObjectMeta { key, size: 10 }).unwrap()
    }

    #[test]
    fn names_and_lsns() {
        let s = Segment::parse("0000000100000002000000FF").unwrap();
        assert_eq!(s.timeline, 1);
        assert_eq!(s.number, 2 * 256 + 255);
        assert_eq!(s.next().name(), "000000010000000300000000");
        assert_eq!(Lsn::parse("2/FF000028"), Some(Lsn(0x2_FF00_0028)));
        assert_eq!(Segment::of(1, Lsn::parse("2/FF000028").unwrap()), s);
        assert_eq!(s.start_lsn().to_string(), "2/FF000000");
        assert!(Segment::parse("00000001000000020000FFFF").is_none());
        assert!(Segment::parse("xyz").is_none());
        assert_eq!(
            WalKind::from_file_name("000000010000000000000003.partial"),
            Some(WalKind::Partial(Segment {
                timeline: 1,
                number: 3
            }))
        );
        assert_eq!(
            WalKind::from_file_name("00000002.history"),
            Some(WalKind::History(2))
        );
    }

    #[test]
    fn keys_round_trip() {
        let kind = WalKind::Partial(Segment {
            timeline: 1,
            number: 7,
        });
        let key = object_key("s", kind, None, &"0f".repeat(32), true);
        assert_eq!(
            key,
            format!(
                "s/wal/000000010000000000000007.partial-{}.zst.enc",
                "0f".repeat(32)
            )
        );
        let o = parse_object("s", &ObjectMeta { key, size: 3 }).unwrap();
        assert_eq!(o.kind, kind);
        assert!(o.encrypted);
        assert_eq!(o.system, None);
        // With the cluster's system identifier: only that cluster's restores take it.
        let key = object_key(
            "s",
            kind,
            Some(7714621209534468116),
            &"0f".repeat(32),
            false,
        );
        assert_eq!(
            key,
            format!(
                "s/wal/000000010000000000000007.partial-6b0fd71dc2ff1014-{}.zst",
                "0f".repeat(32)
            )
        );
        let o = parse_object("s", &ObjectMeta { key, size: 3 }).unwrap();
        assert_eq!((o.kind, o.system), (kind, Some(7714621209534468116)));
        assert!(o.of_system(Some(7714621209534468116)) && o.of_system(None));
        assert!(!o.of_system(Some(1)));
        // A segment's first page carries it in its long header.
        let mut page = vec![0u8; 40];
        page[0..2].copy_from_slice(&0xD110u16.to_le_bytes());
        page[2..4].copy_from_slice(&0x0002u16.to_le_bytes());
        page[24..32].copy_from_slice(&7714621209534468116u64.to_le_bytes());
        assert_eq!(system_of_segment(&page), Some(7714621209534468116));
        page[2..4].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(system_of_segment(&page), None);
        assert!(parse_object(
            "s",
            &ObjectMeta {
                key: "s/wal/junk".into(),
                size: 1
            }
        )
        .is_none());
    }

    #[test]
    fn a_newer_timeline_in_the_archive_is_found() {
        let seg = |timeline, number| Segment { timeline, number };
        let mut all = vec![
            obj("s", WalKind::Segment(seg(1, 2))),
            obj("s", WalKind::Partial(seg(1, 3))),
        ];
        assert_eq!(newer_timeline(&all, 1), None);
        all.push(obj("s", WalKind::History(2)));
        assert_eq!(newer_timeline(&all, 1), Some(2));
        all.push(obj("s", WalKind::Segment(seg(3, 3))));
        assert_eq!(newer_timeline(&all, 1), Some(3));
        assert_eq!(newer_timeline(&all, 3), None);
        assert_eq!(newer_timeline(&[], 1), None);
    }

    #[test]
    fn chain_follows_segments_then_the_partial_and_reports_gaps() {
        let seg = |n| Segment {
            timeline: 1,
            number: n,
        };
        let mut all = vec![
            obj("s", WalKind::Segment(seg(2))),
            obj("s", WalKind::Segment(seg(3))),
            obj("s", WalKind::Segment(seg(4))),
            obj("s", WalKind::Partial(seg(5))),
            obj("s", WalKind::Partial(seg(4))),
        ];
        let (got, gap) = chain(&all, seg(3));
        assert_eq!(gap, None);
        let kinds: Vec<WalKind> = got.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            vec![
                WalKind::Segment(seg(3)),
                WalKind::Segment(seg(4)),
                WalKind::Partial(seg(5))
            ]
        );
        all.remove(1);
        let (got, gap) = chain(&all, seg(2));
        assert_eq!(got.len(), 1);
        let gap = gap.unwrap();
        assert_eq!(gap.missing, seg(3));
        assert!(gap.to_string().contains("0/3000000 to 0/4000000"), "{gap}");
        // Only a later partial: the segments between are missing.
        let (_, gap) = chain(&[obj("s", WalKind::Partial(seg(9)))], seg(7));
        assert_eq!(gap.unwrap().missing, seg(7));
    }
}
