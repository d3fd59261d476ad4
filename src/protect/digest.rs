//! A digest trailer for WAL objects: a zstd *skippable frame* after the data holding the
//! sha256 of every stored byte before it. WAL object names carry the sha256 of the raw WAL,
//! but a flipped byte in some zstd header fields (the window size) still decodes to the
//! same WAL; the trailer makes a flip anywhere in the stored object visible. Decoders skip
//! the frame, so objects stay plain zstd; objects written before it have no trailer.

use sha2::{Digest, Sha256};

/// zstd skippable-frame magic (0x184D2A5E, little endian), payload length 36.
const MAGIC: [u8; 4] = [0x5E, 0x2A, 0x4D, 0x18];
const TAG: &[u8; 4] = b"ASD1";
const PAYLOAD: usize = 4 + 32;
pub const LEN: usize = 8 + PAYLOAD;

/// The trailer for stored bytes whose sha256 is `sha`.
pub fn frame(sha: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(LEN);
    f.extend_from_slice(&MAGIC);
    f.extend_from_slice(&(PAYLOAD as u32).to_le_bytes());
    f.extend_from_slice(TAG);
    f.extend_from_slice(sha);
    f
}

/// Checks a stored object's trailer; objects without one pass (the raw sha256 in the name
/// still guards their content).
pub fn check(stored: &[u8]) -> Result<(), String> {
    let Some(start) = stored.len().checked_sub(LEN) else {
        return Ok(());
    };
    let trailer = &stored[start..];
    if trailer[..4] != MAGIC {
        return Ok(());
    }
    if trailer[4..8] != (PAYLOAD as u32).to_le_bytes() || &trailer[8..12] != TAG {
        return Err("its digest trailer is damaged".into());
    }
    let actual = Sha256::digest(&stored[..start]);
    if actual.as_slice() != &trailer[12..] {
        return Err(format!(
            "stored bytes hash to {}, the trailer says {}",
            hex::encode(actual),
            hex::encode(&trailer[12..])
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(raw: &[u8]) -> Vec<u8> {
        let mut stored = zstd::stream::encode_all(raw, 3).unwrap();
        let sha = Sha256::digest(&stored);
        stored.extend_from_slice(&frame(&sha));
        stored
    }

    #[test]
    fn decoders_skip_the_trailer_and_any_flipped_byte_is_caught() {
        let raw: Vec<u8> = (0..200_000u32).map(|i| (i % 7) as u8).collect();
        let stored = object(&raw);
        assert_eq!(zstd::stream::decode_all(&stored[..]).unwrap(), raw);
        assert!(check(&stored).is_ok());
        for at in 0..stored.len() {
            let mut bad = stored.clone();
            bad[at] ^= 0x20;
            // Either the trailer check or decoding to the same WAL must fail.
            let caught = check(&bad).is_err()
                || zstd::stream::decode_all(&bad[..]).map_or(true, |d| d != raw);
            assert!(
                caught,
                "flip at byte {at} of {} went unnoticed",
                stored.len()
            );
        }
        // An object from before the trailer existed passes on its own.
        assert!(check(&zstd::stream::encode_all(&raw[..], 3).unwrap()).is_ok());
    }
}
