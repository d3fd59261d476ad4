//! The application's components in the plan: database (with the WAL receiver), cache,
//! extra services, CMS and frontend. Each section adds its components, volumes and secrets.

use std::collections::BTreeMap;

use super::build::{
    component, env, generated, health, healthy, host, http_component, port, secret_mount, Parts,
};
use super::config_files::{self as cf, CACHE_AUTH_PATH};
use super::*;
use crate::api::defaults as d;
use crate::api::validated::{self as v, ValidatedStack};

/// PostgreSQL, and the WAL receiver when the stack streams WAL.
pub(super) fn database(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(db) = &stack.database else { return };
    let mut keys = vec![generated("password")];
    if stack.monitoring.postgres_exporter_image.is_some() {
        // The exporter's own role (`pg_monitor`), never the superuser.
        keys.push(generated("monitor-password"));
    }
    let (cms, streams) = (stack.cms.is_some(), super::wal::streams(stack));
    if cms {
        // The CMS's own role (`app_role`), never the superuser.
        keys.push(generated("cms-password"));
    }
    if streams {
        // The WAL receiver's own role, which may only replicate.
        keys.push(generated("replication-password"));
    }
    parts.secrets.push(Secret {
        name: "database".into(),
        keys,
    });
    parts.volumes.push(Volume {
        name: "database-data".into(),
        size_bytes: db.storage_bytes,
    });
    let mut args = vec!["postgres".to_string()];
    let mut params: BTreeMap<String, String> = db.parameters.clone();
    params.insert("max_connections".into(), db.max_connections.to_string());
    params.insert("wal_level".into(), "replica".into());
    params.insert("max_wal_senders".into(), "10".into());
    params.insert("max_replication_slots".into(), "10".into());
    // The audit's top queries come from pg_stat_statements, which must be preloaded; a
    // spec's own preload list keeps its libraries.
    let preload = params.entry("shared_preload_libraries".into()).or_default();
    if !preload.split(',').any(|l| l.trim() == "pg_stat_statements") {
        if !preload.trim().is_empty() {
            preload.push(',');
        }
        preload.push_str("pg_stat_statements");
    }
    for (k, val) in params {
        args.push("-c".into());
        args.push(format!("{k}={val}"));
    }
    let mut c = component(stack, "database", Role::Database, &db.image, db.resources);
    c.capabilities = super::build::data_store_capabilities(&db.image);
    // One backend process per connection, plus the server's own and the tools' (backups).
    c.resources.pids = super::DEFAULT_PIDS.max(db.max_connections.saturating_add(128));
    c.args = Some(args);
    c.env = env([
        ("POSTGRES_USER", db.user.clone()),
        ("POSTGRES_DB", db.name.clone()),
        ("PGDATA", "/var/lib/postgresql/data/pgdata".into()),
        ("POSTGRES_EXTENSIONS", db.extensions.join(" ")),
    ]);
    c.secrets = vec![secret_mount(
        "database",
        "password",
        "/run/secrets/database-password",
        Some("POSTGRES_PASSWORD_FILE"),
    )];
    if cms || streams {
        c.env.extend(app_role::database_env(cms, streams));
        c.files.push(ConfigFile {
            name: "app-role.sql".into(),
            path: app_role::SCRIPT_PATH.into(),
            content: app_role::script(),
        });
    }
    if cms {
        c.secrets.push(secret_mount(
            "database",
            "cms-password",
            app_role::PASSWORD_PATH,
            None,
        ));
    }
    if streams {
        c.secrets.push(secret_mount(
            "database",
            "replication-password",
            app_role::REPLICATION_PASSWORD_PATH,
            None,
        ));
    }
    c.ports = vec![port("postgres", d::DATABASE_PORT)];
    c.mounts = vec![Mount::Volume {
        volume: "database-data".into(),
        path: "/var/lib/postgresql/data".into(),
    }];
    c.health = Some(health(
        vec![
            "pg_isready".into(),
            "-q".into(),
            "-h".into(),
            "127.0.0.1".into(),
            "-U".into(),
            db.user.clone(),
            "-d".into(),
            db.name.clone(),
        ],
        false,
        60_000,
    ));
    // PostgreSQL needs time to checkpoint on shutdown; a kill mid-checkpoint means recovery.
    c.stop_grace_secs = 60;
    parts.comps.push(c);
    if let Some((receiver, spool)) = super::wal::wal_receiver(stack, db) {
        parts.comps.push(receiver);
        parts.volumes.push(spool);
    }
}

/// Redis, with its password from a generated secret.
pub(super) fn cache(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(cache) = &stack.cache else { return };
    let mut auth = "requirepass ${password}\n".to_string();
    let mut keys = vec![generated("password")];
    if stack.monitoring.redis_exporter_image.is_some() {
        // The exporter's read-only ACL user, and its password file keyed by the address.
        auth.push_str(&format!(
            "user {} {} >${{monitor-password}}\n",
            d::MONITOR_REDIS_USER,
            super::exporters::REDIS_MONITOR_ACL
        ));
        keys.push(generated("monitor-password"));
        keys.push(SecretKey {
            key: "exporter.json".into(),
            source: SecretSource::Template {
                template: format!(
                    "{{\"{}\":\"${{monitor-password}}\"}}\n",
                    super::exporters::redis_url(stack)
                ),
            },
        });
    }
    keys.push(SecretKey {
        key: "auth.conf".into(),
        source: SecretSource::Template { template: auth },
    });
    parts.secrets.push(Secret {
        name: "cache".into(),
        keys,
    });
    parts.volumes.push(Volume {
        name: "cache-data".into(),
        size_bytes: cache.maxmemory_bytes.saturating_mul(2),
    });
    let mut c = component(stack, "cache", Role::Cache, &cache.image, cache.resources);
    c.capabilities = super::build::data_store_capabilities(&cache.image);
    c.resources = budgets::resolve(
        cache.resources,
        budgets::cache_budget(cache.maxmemory_bytes),
    );
    c.args = Some(vec![
        "redis-server".into(),
        "/etc/appstack/redis.conf".into(),
    ]);
    c.files = vec![ConfigFile {
        name: "redis.conf".into(),
        path: "/etc/appstack/redis.conf".into(),
        content: cf::redis_conf(cache),
    }];
    c.secrets = vec![
        secret_mount("cache", "password", "/run/secrets/cache-password", None),
        secret_mount("cache", "auth.conf", CACHE_AUTH_PATH, None),
    ];
    c.ports = vec![port("redis", d::CACHE_PORT)];
    c.mounts = vec![Mount::Volume {
        volume: "cache-data".into(),
        path: "/data".into(),
    }];
    c.health = Some(health(
            vec!["REDISCLI_AUTH=\"$(cat /run/secrets/cache-password)\" redis-cli -h 127.0.0.1 ping | grep -q PONG".into()],
            true,
            30_000,
        ));
    parts.comps.push(c);
}

/// The extra services of `spec.services`.
pub(super) fn services(stack: &ValidatedStack, parts: &mut Parts) {
    for s in &stack.services {
        let mut c = component(stack, &s.name, Role::Service, &s.image, s.resources);
        c.args = s.command.clone();
        c.env = s.env.clone();
        c.ports = s.port.map(|p| vec![port("main", p)]).unwrap_or_default();
        c.health = s
            .health_command
            .clone()
            .map(|cmd| health(cmd, false, 30_000));
        c.depends_on = s
            .depends_on
            .clone()
            .iter()
            .map(|n| Dependency {
                component: n.clone(),
                condition: Condition::Healthy,
            })
            .collect();
        c.replicas = s.replicas;
        parts.comps.push(c);
    }
}

/// The CMS (Directus' variables), wired to the database, the cache and its uploads.
pub(super) fn cms(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(cms) = &stack.cms else { return };
    parts.secrets.push(Secret {
        name: "cms".into(),
        keys: vec![
            generated("key"),
            generated("secret"),
            generated("admin-password"),
        ],
    });
    let mut c = http_component(stack, "cms", Role::Cms, &cms.app);
    let mut e = cms.app.env.clone();
    e.insert("PORT".into(), cms.app.port.to_string());
    // Browsers keep Secure cookies only over HTTPS or on loopback (a secure context):
    // there they are Secure and SameSite=lax (Directus always sets HttpOnly).
    let public = e.get("PUBLIC_URL").cloned().unwrap_or_default();
    if secure_context(&public) {
        for prefix in ["REFRESH_TOKEN_COOKIE", "SESSION_COOKIE"] {
            e.entry(format!("{prefix}_SECURE"))
                .or_insert_with(|| "true".into());
            e.entry(format!("{prefix}_SAME_SITE"))
                .or_insert_with(|| "lax".into());
        }
    }
    // An address allowlist means nothing while any client may name its address in
    // X-Forwarded-For (Directus trusts it by default).
    if cms.admin_allowlist.is_some() {
        e.entry("IP_TRUST_PROXY".into())
            .or_insert_with(|| "false".into());
    }
    // Directus creates its first admin from these on an empty database (`bootstrap`).
    e.entry("ADMIN_EMAIL".into())
        .or_insert_with(|| d::CMS_ADMIN_EMAIL.into());
    if let Some(db) = &stack.database {
        e.extend(env([
            ("DB_CLIENT", "pg".to_string()),
            ("DB_HOST", host(stack, "database")),
            ("DB_PORT", d::DATABASE_PORT.to_string()),
            ("DB_DATABASE", db.name.clone()),
            ("DB_USER", app_role::CMS_ROLE.to_string()),
        ]));
        c.secrets.push(secret_mount(
            "database",
            "cms-password",
            "/run/secrets/database-cms-password",
            Some("DB_PASSWORD_FILE"),
        ));
    }
    if stack.cache.is_some() {
        e.extend(env([
            ("REDIS_HOST", host(stack, "cache")),
            ("REDIS_PORT", d::CACHE_PORT.to_string()),
            ("CACHE_ENABLED", "true".into()),
            ("CACHE_STORE", "redis".into()),
        ]));
        c.secrets.push(secret_mount(
            "cache",
            "password",
            "/run/secrets/cache-password",
            Some("REDIS_PASSWORD_FILE"),
        ));
    }
    c.secrets.push(secret_mount(
        "cms",
        "key",
        "/run/secrets/cms-key",
        Some("KEY_FILE"),
    ));
    c.secrets.push(secret_mount(
        "cms",
        "secret",
        "/run/secrets/cms-secret",
        Some("SECRET_FILE"),
    ));
    c.secrets.push(secret_mount(
        "cms",
        "admin-password",
        "/run/secrets/cms-admin-password",
        Some("ADMIN_PASSWORD_FILE"),
    ));
    match &cms.uploads {
        v::Uploads::Volume { size_bytes, path } => {
            parts.volumes.push(Volume {
                name: "cms-uploads".into(),
                size_bytes: *size_bytes,
            });
            c.mounts.push(Mount::Volume {
                volume: "cms-uploads".into(),
                path: path.clone(),
            });
            e.insert("STORAGE_LOCATIONS".into(), "local".into());
            e.insert("STORAGE_LOCAL_ROOT".into(), path.clone());
        }
        v::Uploads::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            ..
        } => {
            e.insert("STORAGE_LOCATIONS".into(), "s3".into());
            e.insert("STORAGE_S3_DRIVER".into(), "s3".into());
            e.insert("STORAGE_S3_BUCKET".into(), bucket.clone());
            e.insert("STORAGE_S3_REGION".into(), region.clone());
            if let Some(p) = prefix {
                e.insert("STORAGE_S3_ROOT".into(), p.clone());
            }
            if let Some(ep) = endpoint {
                e.insert("STORAGE_S3_ENDPOINT".into(), ep.clone());
                e.insert("STORAGE_S3_FORCE_PATH_STYLE".into(), "true".into());
            }
        }
    }
    c.env = e;
    c.depends_on = healthy(&cms.app.depends_on);
    parts.comps.push(c);
}

/// The frontend, pointed at the CMS.
pub(super) fn frontend(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(f) = &stack.frontend else { return };
    let mut c = http_component(stack, "frontend", Role::Frontend, f);
    let mut e = f.env.clone();
    e.insert("PORT".into(), f.port.to_string());
    if let Some(cms) = &stack.cms {
        e.entry("CMS_URL".into())
            .or_insert_with(|| format!("http://{}:{}", host(stack, "cms"), cms.app.port));
    }
    c.env = e;
    c.depends_on = healthy(&f.depends_on);
    parts.comps.push(c);
}

/// An origin browsers treat as a secure context: HTTPS, or plain HTTP on loopback.
fn secure_context(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    scheme == "https" || matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}
