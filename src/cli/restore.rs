use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::common::{connect, load};
use super::CliError;
use crate::api::validate::is_dns_label;
use crate::docker::apply::Applier;
use crate::docker::progress::Lines;
use crate::docker::render::volume_name;
use crate::docker::Engine;
use crate::plan::{self, LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_STACK};
use crate::protect::decode::spawn_zstd;
use crate::protect::restore::{pick_verified, Pick};
use crate::protect::{ObjectStore, ProtectError};
use crate::secrets::SecretStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AppStack manifest (YAML) of the stack whose backup is restored.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Restore into a new, isolated stack of this name (no published ports, same images).
    #[arg(long, value_name = "NAME")]
    pub into: Option<String>,
    /// What to restore: `latest` or a base backup id (see `appstack backup list`).
    #[arg(long, default_value = "latest")]
    pub to: String,
}

/// Restores the data volume from the chosen base backup, then brings the copy up healthy.
pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let started = Instant::now();
    let (stack, _) = load(&args.file)?;
    let Some(into) = args.into.clone() else {
        return Err(CliError::Invalid("--into NAME is required: in-place restore (with its safety backup) is not available yet".into()));
    };
    if !is_dns_label(&into) || into.len() > 40 {
        return Err(CliError::Invalid(format!("--into: {into:?} is not a valid stack name (lowercase letters, digits and '-', at most 40)")));
    }
    if into == stack.name {
        return Err(CliError::Invalid(
            "--into must name a new stack, not the source".into(),
        ));
    }
    let pick = match args.to.as_str() {
        "latest" => Pick::Latest,
        id if id.starts_with("base-") => Pick::Id(id.to_string()),
        other => {
            return Err(CliError::Invalid(format!(
                "--to: {other:?} is neither `latest` nor a base backup id; restoring to a point in time needs WAL shipping, which is not available yet"
            )))
        }
    };
    let db = stack
        .database
        .clone()
        .ok_or_else(|| CliError::Invalid("spec.database: not set; nothing to restore".into()))?;
    let store = super::backup::open_store(&stack)?;
    let manifest = pick_verified(&store, &stack.name, &pick)
        .await
        .map_err(|e| match e {
            ProtectError::UnknownBackup { .. } => CliError::Invalid(e.to_string()),
            ProtectError::Checksum { key, actual, .. } => CliError::Runtime(format!(
                "refusing to restore a corrupt backup: {key}: {actual}"
            )),
            other => CliError::Runtime(other.to_string()),
        })?;
    // A missing or wrong key is refused before anything is created.
    let key = super::backup::key_for(&stack, &manifest)?;
    eprintln!(
        "restoring {} (stop LSN {}) of {} into stack {into}",
        manifest.id,
        manifest.stop_lsn.as_deref().unwrap_or("?"),
        stack.name
    );

    // The copy: same components and images, its own names, network and volumes, nothing
    // published on the host and no backups of its own.
    let mut copy = stack.clone();
    copy.name = into.clone();
    copy.published.clear();
    copy.backup = None;
    copy.recovery.drill_schedule = None;
    let plan = plan::build(&copy);

    let engine = connect().await?;
    if !engine.list_containers(&into).await?.is_empty()
        || !engine.list_volumes(&into).await?.is_empty()
    {
        return Err(CliError::Invalid(format!(
            "stack {into:?} already exists: remove it with `appstack down --volumes` first"
        )));
    }
    SecretStore::new(state_dir, &into).copy_from(&SecretStore::new(state_dir, &stack.name))?;
    let secrets = super::common::secrets(state_dir, &plan)?;

    let labels: HashMap<String, String> = HashMap::from([
        (LABEL_STACK.to_string(), into.clone()),
        (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
        (
            "appstack.io/volume".to_string(),
            "database-data".to_string(),
        ),
    ]);
    let volume = volume_name(&into, "database-data");
    engine.create_volume(&volume, labels.clone()).await?;
    let object = store
        .get(&manifest.object_key("base.tar.zst"))
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let (tar, decoder) = spawn_zstd(object, key);
    let mut helper_labels = labels;
    helper_labels.insert(LABEL_COMPONENT.to_string(), "restore".to_string());
    // Runs as the image's user; as root (official images) it hands the files to postgres.
    let script = "set -e; d=/var/lib/postgresql/data/pgdata; mkdir -p \"$d\"; chmod 700 \"$d\"; tar -x -C \"$d\"; rm -f \"$d/postmaster.pid\"; if [ \"$(id -u)\" = 0 ]; then chown -R postgres:postgres /var/lib/postgresql/data; fi";
    let helper = format!("{into}-restore");
    let fill = engine.run_with_stdin(
        &helper,
        &db.image,
        script,
        vec![(volume, "/var/lib/postgresql/data".into())],
        helper_labels,
        tar,
    );
    let (filled, decoded) = tokio::join!(fill, decoder);
    let raw = decoded
        .map_err(|e| CliError::Runtime(e.to_string()))?
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let filled = filled?;
    if filled.exit_code != 0 {
        return Err(CliError::Runtime(format!(
            "filling the data volume failed (exit {}): {}",
            filled.exit_code,
            filled.output.trim()
        )));
    }
    let data_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "data restored: {} in {data_secs:.1}s; starting the stack",
        crate::api::quantity::format_bytes(raw)
    );
    let applier = Applier {
        engine,
        plan: Arc::new(plan),
        secrets,
        reporter: Arc::new(Lines::new()),
        wait: true,
    };
    applier.apply().await?;
    eprintln!(
        "stack {into} restored from {} and healthy in {:.1}s",
        manifest.id,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
