//! Data protection: backups into a store (filesystem or S3-compatible), one manifest per
//! backup, a catalog rebuilt from the store, verification. Independent of Docker: the tools
//! run through a `Runner` (exec in the database container or pod).

pub mod app_role;
pub mod backup;
pub mod crypto;
pub mod damaged;
pub mod decode;
pub mod digest;
pub mod dump;
pub mod error;
pub mod jobs;
pub mod local_runner;
pub mod manifest;
pub mod pipeline;
pub mod restore;
pub mod retention;
pub mod runner;
pub mod s3;
pub mod schedule;
pub mod shipper;
pub mod spool;
pub mod stack_record;
pub mod store;
pub mod tar_scan;
pub mod target;
pub mod verdicts;
pub mod verify;
pub mod wal;
pub mod wal_cover;
pub mod wal_fetch;

pub use error::ProtectError;
pub use store::{FsStore, ObjectStore};
