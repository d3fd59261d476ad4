//! `appstack recover`: its options, handed to `drill::recover`; prints what came back.

use std::path::{Path, PathBuf};

use super::CliError;
use crate::api::spec::S3Spec;
use crate::drill::recover::{self, Request};
use crate::protect::restore::credentials::Credentials;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The backup store the lost host wrote to: `file:///path` or `s3://bucket/prefix`
    /// (S3 credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The stack to rebuild (its name in the store; it keeps it here).
    #[arg(long, value_name = "NAME")]
    pub stack: String,
    /// The backup key (`appstack backup keygen`): opens the sealed secrets, so the stack
    /// comes back with its own credentials, and encrypted backups. Without it, new
    /// credentials are set on the restored roles and written to the state directory.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// `latest` (all shipped WAL), an RFC 3339 time, or a base backup id.
    #[arg(long, value_name = "TARGET", default_value = "latest")]
    pub to: String,
    /// A partial AppStack manifest merged over the stored one (RFC 7386: maps merge, null
    /// removes), e.g. other images, ports or S3 settings on the new host.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub overlay: Option<PathBuf>,
    /// S3 endpoint of `--from` (MinIO, R2, B2, Ceph, moto); AWS when unset.
    #[arg(long, value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region of `--from`.
    #[arg(long, value_name = "REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Path-style S3 addressing (most S3-compatible stores need it).
    #[arg(long)]
    pub s3_path_style: bool,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let s3 = args.from.strip_prefix("s3://").map(|rest| S3Spec {
        bucket: rest.split('/').next().unwrap_or_default().to_string(),
        prefix: None,
        endpoint: args.s3_endpoint.clone(),
        region: args.s3_region.clone(),
        path_style: args.s3_path_style,
        credentials_secret: None,
    });
    let req = Request {
        from: args.from,
        stack: args.stack,
        key_file: args.key,
        to: args.to,
        overlay: args.overlay,
        s3,
    };
    let r = recover::run(&req, state_dir).await?;
    for step in &r.steps {
        eprintln!("  {:>7.1}s  {}", step.1.as_secs_f64(), step.0);
    }
    for check in &r.checks {
        eprintln!("  ok  {check}");
    }
    if r.credentials == Credentials::Reset {
        eprintln!(
            "new credentials were set (the store had no sealed secrets for this key): they are in {}",
            state_dir.join("stacks").join(&r.stack).join("secrets").display()
        );
    }
    eprintln!(
        "stack {} recovered and healthy: RTO {:.1}s, restored to {}; its manifest is {} (`appstack run -f` it)",
        r.stack,
        r.rto.as_secs_f64(),
        r.restored_point.map_or_else(
            || format!("base backup {} (finished {})", r.base.0, r.base.1.to_rfc3339()),
            |t| format!("{} (newest commit)", t.to_rfc3339())
        ),
        r.manifest.display()
    );
    Ok(())
}
