//! `backup verify`: every object's sha256 against its manifest, streamed (bounded memory).

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::error::ProtectError;
use super::manifest::Manifest;
use super::store::ObjectStore;

/// One finding of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub backup: String,
    pub object: String,
    pub message: String,
}

/// Verifies the objects of `manifests`; returns every problem found (empty = all good).
pub async fn verify<S: ObjectStore>(
    store: &S,
    manifests: &[Manifest],
) -> Result<Vec<Problem>, ProtectError> {
    let mut problems = Vec::new();
    for m in manifests {
        for o in &m.objects {
            let key = m.object_key(&o.name);
            let problem = |message: String| Problem {
                backup: m.id.clone(),
                object: key.clone(),
                message,
            };
            let mut stream = match store.get(&key).await {
                Ok(s) => s,
                Err(ProtectError::NotFound { .. }) => {
                    problems.push(problem("missing from the store".into()));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut hash = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                hash.update(&chunk);
            }
            let actual = hex::encode(hash.finalize());
            if actual != o.sha256 {
                problems.push(problem(format!("sha256 {actual} does not match the manifest's {} ({size} bytes, manifest says {})", o.sha256, o.size)));
            }
        }
    }
    Ok(problems)
}

/// WAL checks: every WAL object decodes to the bytes its name's sha256 promises, and the
/// archive continues without a gap from each base backup's start to the newest segment.
/// Returns the number of WAL objects checked and the problems.
pub async fn verify_wal<S: ObjectStore>(
    store: &S,
    stack: &str,
    bases: &[Manifest],
    key: Option<super::crypto::Key>,
) -> Result<(usize, Vec<Problem>), ProtectError> {
    use super::wal::{chain, list, Lsn, Segment};
    let all = list(store, stack).await?;
    let mut problems = Vec::new();
    for o in &all {
        match super::wal_fetch::fetch_raw(store, o, key.clone()).await {
            Ok(_) => {}
            // The shipper replaced this partial with a newer one while we were reading.
            Err(ProtectError::NotFound { .. })
                if matches!(o.kind, super::wal::WalKind::Partial(_)) => {}
            Err(e @ (ProtectError::Checksum { .. } | ProtectError::NotFound { .. })) => problems
                .push(Problem {
                    backup: "wal".into(),
                    object: o.key.clone(),
                    message: e.to_string(),
                }),
            Err(e) => return Err(e),
        }
    }
    for m in bases {
        let (Some(tli), Some(lsn)) = (m.timeline, m.start_lsn.as_deref().and_then(Lsn::parse))
        else {
            continue;
        };
        let start = Segment::of(tli, lsn);
        let (_, gap) = chain(&all, start);
        if let Some(gap) = gap {
            problems.push(Problem {
                backup: m.id.clone(),
                object: format!("{stack}/wal/{}", gap.missing.name()),
                message: format!("WAL after base backup {} is not continuous: {gap}", m.id),
            });
        }
    }
    Ok((all.len(), problems))
}
