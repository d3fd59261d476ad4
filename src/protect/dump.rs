//! Logical dumps: the globals (roles) and every non-template database with `pg_dump -Fc`,
//! each object named by its index with the database's name kept in the manifest, and every
//! name passed as an argument (hex-encoded out of psql, a connection string into pg_dump):
//! a database's name is data, never a key, a path or shell text.

use chrono::Utc;

use super::backup::{args, finished, new_id, psql, stream_object, versions, Job, Target, SOCKET};
use super::error::ProtectError;
use super::manifest::{Kind, Manifest};
use super::pipeline::{Compression, Inspect};
use super::runner::{capture, Runner};
use super::store::ObjectStore;

/// The database names of a hex-encoded listing, one per line.
fn database_names(listed: &str) -> Result<Vec<String>, ProtectError> {
    listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            hex::decode(l)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ProtectError::Exec {
                    tool: "psql".into(),
                    message: format!("not a hex-encoded database name: {l:?}"),
                })
        })
        .collect()
}

/// A libpq connection string naming database `name` and nothing else: given to `-d` as a
/// bare name, one holding `=` would be read as a connection string (another host, another
/// database).
pub fn conninfo_dbname(name: &str) -> String {
    format!(
        "dbname='{}'",
        name.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// Logical dumps: every non-template database (`pg_dump -Fc`) and the globals (roles).
pub async fn dump<S: ObjectStore, R: Runner>(
    store: &S,
    runner: &R,
    t: &Target,
) -> Result<Manifest, ProtectError> {
    let id = new_id(Kind::Dump);
    let started_at = Utc::now();
    let (pg_version, tools) = versions(runner, t, &["pg_dump", "pg_dumpall"]).await?;
    let dir = Manifest::dir(&t.stack, Kind::Dump, &id);
    // Names travel hex-encoded: a database's name may hold a newline.
    let listed = capture(
        runner,
        "database",
        psql(
            t,
            "SELECT encode(convert_to(datname, 'UTF8'), 'hex') FROM pg_database WHERE NOT datistemplate ORDER BY datname",
        ),
    )
    .await?;
    let dbs = database_names(&listed)?;
    // Globals (roles) first, then each database; -Z0: zstd beats pg_dump's own zlib.
    let mut jobs: Vec<(Vec<String>, String, Option<String>)> = vec![(
        args(&[
            "pg_dumpall",
            "-h",
            SOCKET,
            "-U",
            &t.db_user,
            "--globals-only",
        ]),
        "globals.sql.zst".into(),
        None,
    )];
    for (i, db) in dbs.into_iter().enumerate() {
        jobs.push((
            args(&[
                "pg_dump",
                "-h",
                SOCKET,
                "-U",
                &t.db_user,
                "-Fc",
                "-Z0",
                "-d",
                &conninfo_dbname(&db),
            ]),
            format!("db-{i:04}.dump.zst"),
            Some(db),
        ));
    }
    let mut objects = Vec::new();
    for (argv, name, database) in jobs {
        let key = format!("{dir}/{name}");
        let job = Job {
            component: "database",
            argv,
            key: &key,
            compression: Compression::Zstd(t.compression_level),
            inspect: Inspect::Nothing,
        };
        let mut entry = stream_object(store, runner, t, job).await?.entry;
        entry.database = database;
        objects.push(entry);
    }
    let mut manifest = finished(t, id, Kind::Dump, started_at, objects);
    manifest.pg_version = Some(pg_version);
    manifest.tools = tools;
    manifest.save(store).await?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_and_quoted_for_libpq() {
        let listed = format!("{}\n{}\n", hex::encode("app"), hex::encode("two\nlines"));
        assert_eq!(database_names(&listed).unwrap(), ["app", "two\nlines"]);
        assert!(database_names("zz").is_err());
        assert_eq!(
            conninfo_dbname("dbname=x host=evil"),
            "dbname='dbname=x host=evil'"
        );
        assert_eq!(conninfo_dbname("it's\\"), "dbname='it\\'s\\\\'");
    }
}
