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
