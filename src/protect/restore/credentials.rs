//! The credentials of a stack restored from the store: the stack's own, unsealed from its
//! record with the backup key, or — with no key, or no secrets in the record — new ones,
//! set on the restored roles before any client starts. A restored cluster carries the
//! source's roles and their password verifiers, and Directus' admin carries its password
//! hash, so new credentials must be written into the restored data, not just generated.
//!
//! Only verifiers reach the database's command line: PostgreSQL takes a SCRAM-SHA-256
//! verifier in `ALTER ROLE … PASSWORD`, and Directus checks an argon2 hash, so no password
//! is ever passed to a process.

use std::path::Path;

use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{rt, RestoreError};
use crate::api::validated::Database;
use crate::plan::Plan;
use crate::protect::backup::psql_argv;
use crate::protect::runner::{capture, Runner};
use crate::protect::stack_record::StackRecord;
use crate::secrets::{Resolved, SecretStore};

/// Where the restored stack's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// The stack's own, unsealed from the store: nothing to change in the data.
    Restored,
    /// New ones: the restored roles (and the CMS admin) must be given them.
    Reset,
}

/// Fills the (new, empty) secret store of `plan`'s stack: from `record`'s sealed secrets
/// when it has them, else newly generated.
pub fn install(
    state_dir: &Path,
    plan: &Plan,
    record: Option<&StackRecord>,
) -> Result<(Credentials, Resolved), RestoreError> {
    let store = SecretStore::new(state_dir, &plan.stack);
    let sealed = record.map(|r| &r.secrets).filter(|s| !s.is_empty());
    let credentials = match sealed {
        Some(values) => {
            store.install(values)?;
            Credentials::Restored
        }
        None => Credentials::Reset,
    };
    Ok((credentials, store.ensure(&plan.secrets)?))
}

/// Gives the restored database role (and Directus' admin, when the CMS is Directus) the
/// new credentials. The database must be promoted and no client started yet.
pub async fn reset<R: Runner>(
    runner: &R,
    db: &Database,
    plan: &Plan,
    resolved: &Resolved,
) -> Result<Vec<String>, RestoreError> {
    let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);
    let mut done = Vec::new();
    if let Some(pw) = resolved.get(&("database".to_string(), "password".to_string())) {
        let sql = format!(
            "ALTER ROLE {} PASSWORD '{}'",
            quote_ident(&db.user),
            scram_verifier(pw.expose())
        );
        capture(runner, "database", psql(&sql)).await.map_err(rt)?;
        done.push(format!("database role {} has a new password", db.user));
    }
    let admin = resolved.get(&("cms".to_string(), "admin-password".to_string()));
    let email = plan
        .component("cms")
        .and_then(|c| c.env.get("ADMIN_EMAIL").cloned());
    if let (Some(pw), Some(email)) = (admin, email) {
        let present = capture(
            runner,
            "database",
            psql("SELECT to_regclass('directus_users') IS NOT NULL"),
        )
        .await
        .map_err(rt)?;
        if present.trim() == "t" {
            let sql = format!(
                "UPDATE directus_users SET password = '{}' WHERE email = '{}'",
                directus_hash(pw.expose())?,
                email.replace('\'', "''")
            );
            let out = capture(runner, "database", psql(&sql)).await.map_err(rt)?;
            done.push(if out.trim() == "UPDATE 0" {
                format!("no Directus user {email} in the restored data: its admin password was not reset (sign in as an admin the data holds)")
            } else {
                format!("Directus admin {email} has a new password")
            });
        }
    }
    Ok(done)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// PostgreSQL's SCRAM-SHA-256 verifier of `password` (RFC 7677, as `pg_authid` stores
/// it): what `ALTER ROLE … PASSWORD` accepts in place of the password.
pub fn scram_verifier(password: &str) -> String {
    const ITERATIONS: u32 = 4096;
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, ITERATIONS, &mut salted);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored_key),
        B64.encode(server_key)
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// An argon2id hash of `password` with Directus' own parameters (its `argon2` package's
/// defaults), which Directus' login verifies.
pub fn directus_hash(password: &str) -> Result<String, RestoreError> {
    let params = argon2::Params::new(65536, 3, 4, None)
        .map_err(|e| RestoreError::Failed(format!("argon2 parameters: {e}")))?;
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    hasher
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| RestoreError::Failed(format!("hashing the CMS admin password: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_have_the_formats_their_checkers_parse() {
        let v = scram_verifier("pencil");
        let (head, keys) = v.split_once('$').unwrap().1.split_once('$').unwrap();
        let (iter, salt) = head.split_once(':').unwrap();
        assert_eq!(iter, "4096");
        assert_eq!(B64.decode(salt).unwrap().len(), 16);
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!(B64.decode(stored).unwrap().len(), 32);
        assert_eq!(B64.decode(server).unwrap().len(), 32);
        assert!(v.starts_with("SCRAM-SHA-256$"));
        assert!(!v.contains("pencil"));
        // Salted: the same password never gives the same verifier.
        assert_ne!(v, scram_verifier("pencil"));

        let h = directus_hash("pencil").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{h}");
        let parsed = argon2::PasswordHash::new(&h).unwrap();
        assert!(argon2::PasswordVerifier::verify_password(
            &argon2::Argon2::default(),
            b"pencil",
            &parsed
        )
        .is_ok());
    }

    #[test]
    fn scram_keys_follow_rfc_7677() {
        // The RFC's salted password for "pencil" (salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096
        // rounds) gives its ServerKey, whose signature of the RFC's auth message is the
        // RFC's server signature "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"pencil", &salt, 4096, &mut salted);
        let server_key = hmac_sha256(&salted, b"Server Key");
        let auth = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let signature = hmac_sha256(&server_key, auth.as_bytes());
        assert_eq!(
            B64.encode(signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }
}
