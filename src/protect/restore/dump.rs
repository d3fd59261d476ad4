//! `appstack restore --from-dump`: a logical dump into a new isolated stack. The copy
//! starts from a fresh database (the image initialises it as the spec says), then gets the
//! roles and every database back with `pg_restore -j`. pg_restore cannot read a parallel
//! restore from a pipe, so the dump's files are first streamed into the data volume, next
//! to (not inside) the cluster directory, and removed afterwards.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::{
    boot_copy, boot_database, check_helper, checks, connect, copy_spec, credentials, data_volume,
    dump_verified, pick_error, removed_on_failure, rt, stack_exists, Copy, DataVolume,
    RestoreError,
};
use crate::api::validated::Database;
use crate::api::ValidatedStack;
use crate::docker::engine::Exec;
use crate::docker::BollardEngine;
use crate::plan;
use crate::progress::meter::Meter;
use crate::progress::{metered, Bar};
use crate::protect::decode::spawn_zstd;
use crate::protect::runner::capture;
use crate::protect::runner::DockerRunner;
use crate::protect::stack_record::StackRecord;
use crate::protect::target::AnyStore;
use crate::protect::ObjectStore;

/// Where the dump's files wait in the data volume (the cluster itself is in `pgdata`).
const STAGING: &str = "/var/lib/postgresql/data/appstack_restore";
const GLOBALS: &str = "globals.sql.zst";
const DUMP_SUFFIX: &str = ".dump.zst";

/// Restores dump `id` of `stack` into the new stack `into`; removes the partial copy when
/// that fails.
pub(super) async fn run(
    stack: &ValidatedStack,
    store: Arc<AnyStore>,
    id: &str,
    into: &str,
    record: Option<&StackRecord>,
    started: Instant,
    state_dir: &Path,
) -> Result<(), RestoreError> {
    let manifest = dump_verified(store.as_ref(), &stack.name, id)
        .await
        .map_err(pick_error)?;
    let key = crate::protect::store::key_for(stack, &manifest)?;
    eprintln!("restoring dump {id} of {} into stack {into}", stack.name);
    let plan = Arc::new(plan::build(&copy_spec(stack, into)));
    let engine = connect().await?;
    if stack_exists(&engine, into).await? {
        return Err(RestoreError::Invalid(format!(
            "stack {into:?} already exists here: remove it with `appstack down --volumes` first"
        )));
    }
    let (credentials, _) = credentials::install(state_dir, &plan, record)?;
    let copy = Copy {
        engine,
        store,
        stack,
        plan,
        manifest: &manifest,
        key,
        started,
        state_dir,
        uploads: None,
        credentials,
    };
    let result = DumpJob { copy: &copy }.run().await;
    removed_on_failure(result, &copy.engine, &copy.plan, state_dir).await
}

pub struct DumpJob<'a> {
    pub copy: &'a Copy<'a>,
}

impl DumpJob<'_> {
    pub async fn run(&self) -> Result<(), RestoreError> {
        let into = self.copy.plan.stack.clone();
        let Some(db) = &self.copy.stack.database else {
            return Ok(());
        };
        let databases = databases(self.copy.manifest);
        if databases.is_empty() {
            return Err(RestoreError::Failed(format!(
                "dump {} holds no database",
                self.copy.manifest.id
            )));
        }
        self.stage(db, &into).await?;

        // The database alone first: the CMS must not start on an empty database.
        let runner = boot_database(&self.copy.engine, &self.copy.plan, self.copy.state_dir).await?;
        self.restore_databases(&runner, db, &databases).await?;
        // The dump's globals brought the source's password verifiers back.
        let secrets = super::secrets(self.copy.state_dir, &self.copy.plan)?;
        credentials::reset(&runner, db, &self.copy.plan, &secrets).await?;
        crate::protect::app_role::ensure(&runner, db, &self.copy.plan)
            .await
            .map_err(rt)?;
        let sh = |script: String| vec!["sh".to_string(), "-c".to_string(), script];
        capture(&runner, "database", sh(format!("rm -rf {STAGING}")))
            .await
            .map_err(rt)?;
        let psql = |sql: &str| crate::protect::backup::psql_argv(&db.user, &db.name, &[sql]);
        capture(&runner, "database", psql("ANALYZE"))
            .await
            .map_err(rt)?;
        let runner = boot_copy(&self.copy.engine, &self.copy.plan, self.copy.state_dir).await?;
        let checks = checks(&runner, db).await?;
        eprintln!(
            "stack {into} restored from dump {} and healthy in {:.1}s: {}",
            self.copy.manifest.id,
            self.copy.started.elapsed().as_secs_f64(),
            checks.join(", ")
        );
        Ok(())
    }

    /// Streams every object of the dump, decoded, into the copy's data volume.
    async fn stage(&self, db: &Database, into: &str) -> Result<(), RestoreError> {
        let DataVolume {
            mounts,
            helper_labels,
        } = data_volume(self.copy.engine.as_ref(), into).await?;

        // Staged one object at a time, each decoded on the way in.
        let helper = format!("{into}-restore");
        for (i, o) in self.copy.manifest.objects.iter().enumerate() {
            let file = o.name.trim_end_matches(".zst");
            let object = self
                .copy
                .store
                .get(&self.copy.manifest.object_key(&o.name))
                .await
                .map_err(rt)?;
            let meter = Meter::default();
            let (plain, decoder) =
                spawn_zstd(Box::pin(metered(object, &meter)), self.copy.key.clone());
            let bar = Bar::bytes(&format!("staging {file}"), &meter, Some(o.size));
            // Staged under its index: nothing read from the store enters the script.
            let script = format!(
                "set -e; mkdir -p {STAGING}; cat > {}; if [ \"$(id -u)\" = 0 ]; then chown -R postgres:postgres {STAGING}; fi",
                staged(i)
            );
            let (staged, decoded) = tokio::join!(
                self.copy.engine.run_with_stdin(
                    &helper,
                    &db.image,
                    &script,
                    mounts.clone(),
                    helper_labels.clone(),
                    plain,
                ),
                decoder
            );
            bar.done();
            let raw = decoded
                .map_err(|e| RestoreError::Failed(e.to_string()))?
                .map_err(rt)?;
            check_helper(&format!("staging {file}"), staged?)?;
            eprintln!(
                "staged {file}: {} in {:.1}s",
                crate::api::quantity::format_bytes(raw),
                self.copy.started.elapsed().as_secs_f64()
            );
        }

        Ok(())
    }

    /// The roles, then every database with `pg_restore -j`; names travel as arguments.
    async fn restore_databases(
        &self,
        runner: &DockerRunner<BollardEngine>,
        db: &Database,
        databases: &[(usize, String)],
    ) -> Result<(), RestoreError> {
        let objects = &self.copy.manifest.objects;
        // Roles first (the image already made the superuser: "already exists" is expected).
        if let Some(g) = objects.iter().position(|o| o.name == GLOBALS) {
            let script = format!(
                "psql -X -q -U {user} -d postgres -f {file} 2>&1 | grep -v 'already exists' >&2 || true",
                user = db.user,
                file = staged(g)
            );
            capture(runner, "database", vec!["sh".into(), "-c".into(), script])
                .await
                .map_err(rt)?;
        }
        let jobs = capture(runner, "database", vec!["nproc".into()])
            .await
            .ok()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or(2)
            .to_string();
        for (i, name) in databases {
            let t = Instant::now();
            let bar = Bar::spinner(&format!("pg_restore -j of database {name:?}"));
            // The spec's database exists already (with its extensions); others are created.
            let created = if name == &db.name || name == "postgres" {
                Ok(String::new())
            } else {
                let argv = ["createdb", "-U", &db.user, "--", name];
                capture(runner, "database", argv.map(String::from).to_vec()).await
            };
            let out = match created {
                Ok(_) => {
                    let argv = [
                        "pg_restore",
                        "-U",
                        &db.user,
                        "-d",
                        &crate::protect::backup::conninfo_dbname(name),
                        "-j",
                        &jobs,
                        "--clean",
                        "--if-exists",
                        "--exit-on-error",
                        &staged(*i),
                    ];
                    capture(runner, "database", argv.map(String::from).to_vec()).await
                }
                Err(e) => Err(e),
            };
            bar.done();
            out.map_err(|e| RestoreError::Failed(format!("pg_restore of database {name:?}: {e}")))?;
            eprintln!(
                "database {name:?} restored with pg_restore -j in {:.1}s",
                t.elapsed().as_secs_f64()
            );
        }
        Ok(())
    }
}

/// Where object `index` of the dump is staged in the data volume.
fn staged(index: usize) -> String {
    format!("{STAGING}/object-{index}")
}

/// The dump's databases, each with the index of the object holding it. Dumps before objects
/// were named by index carry the name in the object's name (checked plain when the
/// catalog read the manifest).
fn databases(manifest: &crate::protect::manifest::Manifest) -> Vec<(usize, String)> {
    manifest
        .objects
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let name = o
                .database
                .clone()
                .or_else(|| o.name.strip_suffix(DUMP_SUFFIX).map(str::to_string))?;
            Some((i, name))
        })
        .collect()
}
