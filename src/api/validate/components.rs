//! The application components: database, cache, CMS, frontend and extra services.

use std::collections::{BTreeMap, BTreeSet};

use super::fields::{
    abs_path, bytes, env, ident, image, is_dns_label, network, port_nonzero, replicas, resources,
};
use super::BUILTIN;
use crate::api::defaults as d;
use crate::api::errors::Collector;
use crate::api::quantity::parse_bytes;
use crate::api::spec::{AppStackSpec, ResourcesSpec};
use crate::api::validated::*;

const MANAGED_CMS_ENV: [&str; 10] = [
    "DB_CLIENT",
    "DB_HOST",
    "DB_PORT",
    "DB_DATABASE",
    "DB_USER",
    "DB_PASSWORD",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "KEY",
];
const MANAGED_PG_PARAMS: [&str; 6] = [
    "max_connections",
    "listen_addresses",
    "port",
    "wal_level",
    "archive_mode",
    "archive_command",
];
const REDIS_POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

pub(super) fn database(c: &mut Collector, spec: &AppStackSpec) -> Option<Database> {
    spec.database.as_ref().map(|db| {
        let p = "spec.database";
        image(c, &format!("{p}.image"), &db.image);
        if !(13..=17).contains(&db.version) {
            c.push(format!("{p}.version"), format!("{} is not a supported PostgreSQL major version (expected 13 to 17)", db.version));
        }
        for (i, ext) in db.extensions.iter().enumerate() {
            ident(c, &format!("{p}.extensions[{i}]"), ext);
        }
        ident(c, &format!("{p}.name"), &db.name);
        ident(c, &format!("{p}.user"), &db.user);
        if !(10..=10_000).contains(&db.max_connections) {
            c.push(format!("{p}.maxConnections"), format!("{} is out of range (expected 10 to 10000)", db.max_connections));
        }
        for (key, value) in &db.parameters {
            let path = format!("{p}.parameters.{key}");
            if value.chars().any(char::is_control) || value.len() > 1024 {
                c.push(
                    path.clone(),
                    "a parameter value is one line of at most 1024 characters (no newline or control character)",
                );
            }
            if MANAGED_PG_PARAMS.contains(&key.as_str()) {
                c.push(path, "is managed by appstack (use spec.database.maxConnections / spec.backup.wal)");
            } else if !key.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_' || ch == '.') {
                c.push(path, "is not a PostgreSQL parameter name (expected lowercase letters, digits, '_' or '.')");
            }
        }
        Database {
            image: db.image.clone(),
            version: db.version,
            extensions: db.extensions.clone(),
            storage_bytes: bytes(c, &format!("{p}.storage"), &db.storage),
            max_connections: db.max_connections,
            name: db.name.clone(),
            user: db.user.clone(),
            parameters: db.parameters.clone(),
            resources: resources(c, p, db.resources.as_ref()),
        }
    })
}

pub(super) fn cache(c: &mut Collector, spec: &AppStackSpec) -> Option<Cache> {
    spec.cache.as_ref().map(|cache| {
        let p = "spec.cache";
        image(c, &format!("{p}.image"), &cache.image);
        if !REDIS_POLICIES.contains(&cache.maxmemory_policy.as_str()) {
            c.push(
                format!("{p}.maxmemoryPolicy"),
                format!(
                    "{:?} is not a Redis eviction policy (expected one of: {})",
                    cache.maxmemory_policy,
                    REDIS_POLICIES.join(", ")
                ),
            );
        }
        let maxmemory_bytes = bytes(c, &format!("{p}.maxmemory"), &cache.maxmemory);
        let limits = resources(c, p, cache.resources.as_ref());
        // Redis evicts at maxmemory; a container limit below it means the kernel kills
        // Redis before it ever evicts a key.
        if limits.memory_bytes.is_some_and(|l| l > 0 && l <= maxmemory_bytes) {
            let given = cache.resources.as_ref().and_then(|r| r.memory.clone());
            c.push(
                format!("{p}.resources.memory"),
                format!(
                    "{:?} is not above maxmemory ({:?}): Redis needs room beyond its data (twice maxmemory with persistence)",
                    given.unwrap_or_default(),
                    cache.maxmemory
                ),
            );
        }
        Cache {
            image: cache.image.clone(),
            maxmemory_bytes,
            maxmemory_policy: cache.maxmemory_policy.clone(),
            persistence: cache.persistence,
            resources: limits,
        }
    })
}

pub(super) fn cms(
    c: &mut Collector,
    spec: &AppStackSpec,
    has_db: bool,
    has_cache: bool,
) -> Option<Cms> {
    spec.cms.as_ref().filter(|cms| cms.enabled).map(|cms| {
        let p = "spec.cms";
        if !has_db {
            c.push(p, "the CMS needs a database: add spec.database");
        }
        for key in cms.env.keys() {
            if MANAGED_CMS_ENV.contains(&key.as_str()) {
                c.push(
                    format!("{p}.env.{key}"),
                    "is managed by appstack from spec.database / spec.cache",
                );
            }
        }
        let default_deps = ["database", "cache"]
            .iter()
            .filter(|n| (**n == "database" && has_db) || (**n == "cache" && has_cache))
            .map(|n| n.to_string())
            .collect();
        let app = http_app(
            c,
            p,
            HttpInput {
                image: &cms.image,
                port: cms.port,
                replicas: cms.replicas,
                env: &cms.env,
                health_path: &cms.health_path,
                depends_on: cms.depends_on.clone().unwrap_or(default_deps),
                resources: cms.resources.as_ref(),
                migrate: cms.migrate.as_ref(),
            },
        );
        let uploads = match &cms.uploads {
            Some(u) => match &u.s3 {
                Some(s3) => Uploads::S3 {
                    bucket: s3.bucket.clone(),
                    prefix: s3.prefix.clone(),
                    endpoint: s3.endpoint.clone(),
                    region: s3.region.clone(),
                    path: u.path.clone(),
                },
                None => Uploads::Volume {
                    size_bytes: bytes(c, &format!("{p}.uploads.size"), &u.size),
                    path: abs_path(c, &format!("{p}.uploads.path"), &u.path),
                },
            },
            None => Uploads::Volume {
                size_bytes: parse_bytes(&d::uploads_size()).unwrap_or(0),
                path: d::uploads_path(),
            },
        };
        let admin_allowlist = cms.admin_allowlist.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .filter_map(|(i, a)| network(c, &format!("{p}.adminAllowlist[{i}]"), a))
                .collect()
        });
        Cms {
            app,
            uploads,
            admin_allowlist,
        }
    })
}

pub(super) fn frontend(c: &mut Collector, spec: &AppStackSpec, has_cms: bool) -> Option<HttpApp> {
    spec.frontend.as_ref().filter(|f| f.enabled).map(|f| {
        let default_deps = if has_cms {
            vec!["cms".to_string()]
        } else {
            Vec::new()
        };
        http_app(
            c,
            "spec.frontend",
            HttpInput {
                image: &f.image,
                port: f.port,
                replicas: f.replicas,
                env: &f.env,
                health_path: &f.health_path,
                depends_on: f.depends_on.clone().unwrap_or(default_deps),
                resources: f.resources.as_ref(),
                migrate: f.migrate.as_ref(),
            },
        )
    })
}

pub(super) fn services(c: &mut Collector, spec: &AppStackSpec) -> Vec<Service> {
    let mut services = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, s) in spec.services.iter().enumerate() {
        let p = format!("spec.services[{i}]");
        if !is_dns_label(&s.name) || s.name.len() > 30 {
            c.push(format!("{p}.name"), format!("{:?} is not a valid service name (expected lowercase letters, digits and '-', at most 30 characters)", s.name));
        } else if BUILTIN.contains(&s.name.as_str()) {
            c.push(
                format!("{p}.name"),
                format!("{:?} is a built-in component name; choose another", s.name),
            );
        } else if !seen.insert(s.name.clone()) {
            c.push(
                format!("{p}.name"),
                format!("duplicate service name {:?}", s.name),
            );
        }
        image(c, &format!("{p}.image"), &s.image);
        env(c, &p, &s.env);
        if let Some(port) = s.port {
            port_nonzero(c, &format!("{p}.port"), port);
        }
        if s.health_command.as_ref().is_some_and(|h| h.is_empty()) {
            c.push(
                format!("{p}.healthCommand"),
                "must not be empty (omit it for no health check)",
            );
        }
        if s.command.as_ref().is_some_and(|h| h.is_empty()) {
            c.push(
                format!("{p}.command"),
                "must not be empty (omit it to use the image's default)",
            );
        }
        replicas(c, &format!("{p}.replicas"), s.replicas);
        services.push(Service {
            name: s.name.clone(),
            image: s.image.clone(),
            command: s.command.clone(),
            env: s.env.clone(),
            port: s.port,
            health_command: s.health_command.clone(),
            depends_on: s.depends_on.clone(),
            replicas: s.replicas,
            resources: resources(c, &p, s.resources.as_ref()),
        });
    }
    services
}

struct HttpInput<'a> {
    image: &'a str,
    port: u16,
    replicas: u32,
    env: &'a BTreeMap<String, String>,
    health_path: &'a str,
    depends_on: Vec<String>,
    resources: Option<&'a ResourcesSpec>,
    migrate: Option<&'a Vec<String>>,
}

/// The characters RFC 3986 allows in a path and query unescaped (and `%` for escapes): no
/// space, control character or quote that could end the request line of a probe.
fn url_path_char(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?%".contains(ch)
}

fn http_app(c: &mut Collector, p: &str, input: HttpInput<'_>) -> HttpApp {
    image(c, &format!("{p}.image"), input.image);
    port_nonzero(c, &format!("{p}.port"), input.port);
    replicas(c, &format!("{p}.replicas"), input.replicas);
    env(c, p, input.env);
    if !input.health_path.starts_with('/') {
        c.push(
            format!("{p}.healthPath"),
            format!("{:?} must start with '/'", input.health_path),
        );
    } else if let Some(bad) = input.health_path.chars().find(|ch| !url_path_char(*ch)) {
        c.push(
            format!("{p}.healthPath"),
            format!(
                "{:?} holds {bad:?}: a URL path (and query) may hold letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @ / ? % only",
                input.health_path
            ),
        );
    }
    HttpApp {
        image: input.image.to_string(),
        port: input.port,
        replicas: input.replicas,
        env: input.env.clone(),
        health_path: input.health_path.to_string(),
        depends_on: input.depends_on,
        resources: resources(c, p, input.resources),
        migrate: input.migrate.map(|m| migrate(c, p, m)).unwrap_or_default(),
    }
}

/// A migration command: an argv the engine runs without a shell, so each element must be a
/// plain string (no NUL) and the program named.
fn migrate(c: &mut Collector, p: &str, argv: &[String]) -> Vec<String> {
    let field = format!("{p}.migrate");
    if argv.is_empty() || argv[0].trim().is_empty() {
        c.push(
            field,
            "must name the program to run, e.g. [\"npx\", \"directus\", \"database\", \"migrate:latest\"]",
        );
    } else if argv.len() > 256 {
        c.push(field, format!("has {} arguments; at most 256", argv.len()));
    } else if let Some(i) = argv
        .iter()
        .position(|a| a.contains('\0') || a.len() > 16 * 1024)
    {
        c.push(
            format!("{field}[{i}]"),
            "holds a NUL byte or is longer than 16 KiB",
        );
    }
    argv.to_vec()
}
