//! Semantic validation: `AppStack` → `ValidatedStack`, every error collected and named by
//! field path. Nothing is applied unless this succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use super::defaults as d;
use super::errors::{Collector, ValidationErrors};
use super::quantity::{parse_bytes, parse_cpu_millis, parse_duration};
use super::spec::{AppStack, ResourcesSpec};
use super::validated::*;

pub use super::validated::ValidatedStack;

/// Built-in component names; extra services may not reuse them.
pub const BUILTIN: [&str; 7] = [
    "frontend",
    "cms",
    "database",
    "cache",
    "prometheus",
    "node-exporter",
    "alertmanager",
];

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

/// Validates a parsed manifest; `origin` names the file in errors.
pub fn validate(stack: &AppStack, origin: &str) -> Result<ValidatedStack, ValidationErrors> {
    let mut c = Collector::default();
    let name = stack.metadata.name.clone().unwrap_or_default();
    if !is_dns_label(&name) || name.len() > 40 {
        c.push("metadata.name", format!("{name:?} is not a valid stack name (expected lowercase letters, digits and '-', at most 40 characters, starting with a letter)"));
    }
    let spec = &stack.spec;

    let database = spec.database.as_ref().map(|db| {
        let p = "spec.database";
        image(&mut c, &format!("{p}.image"), &db.image);
        if !(13..=17).contains(&db.version) {
            c.push(format!("{p}.version"), format!("{} is not a supported PostgreSQL major version (expected 13 to 17)", db.version));
        }
        for (i, ext) in db.extensions.iter().enumerate() {
            ident(&mut c, &format!("{p}.extensions[{i}]"), ext);
        }
        ident(&mut c, &format!("{p}.name"), &db.name);
        ident(&mut c, &format!("{p}.user"), &db.user);
        if !(10..=10_000).contains(&db.max_connections) {
            c.push(format!("{p}.maxConnections"), format!("{} is out of range (expected 10 to 10000)", db.max_connections));
        }
        for key in db.parameters.keys() {
            let path = format!("{p}.parameters.{key}");
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
            storage_bytes: bytes(&mut c, &format!("{p}.storage"), &db.storage),
            max_connections: db.max_connections,
            name: db.name.clone(),
            user: db.user.clone(),
            parameters: db.parameters.clone(),
            resources: resources(&mut c, p, db.resources.as_ref()),
        }
    });

    let cache = spec.cache.as_ref().map(|cache| {
        let p = "spec.cache";
        image(&mut c, &format!("{p}.image"), &cache.image);
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
        Cache {
            image: cache.image.clone(),
            maxmemory_bytes: bytes(&mut c, &format!("{p}.maxmemory"), &cache.maxmemory),
            maxmemory_policy: cache.maxmemory_policy.clone(),
            persistence: cache.persistence,
            resources: resources(&mut c, p, cache.resources.as_ref()),
        }
    });

    let cms = spec.cms.as_ref().filter(|cms| cms.enabled).map(|cms| {
        let p = "spec.cms";
        if database.is_none() {
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
            .filter(|n| {
                (**n == "database" && database.is_some()) || (**n == "cache" && cache.is_some())
            })
            .map(|n| n.to_string())
            .collect();
        let app = http_app(
            &mut c,
            p,
            HttpInput {
                image: &cms.image,
                port: cms.port,
                replicas: cms.replicas,
                env: &cms.env,
                health_path: &cms.health_path,
                depends_on: cms.depends_on.clone().unwrap_or(default_deps),
                resources: cms.resources.as_ref(),
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
                    size_bytes: bytes(&mut c, &format!("{p}.uploads.size"), &u.size),
                    path: abs_path(&mut c, &format!("{p}.uploads.path"), &u.path),
                },
            },
            None => Uploads::Volume {
                size_bytes: parse_bytes(&d::uploads_size()).unwrap_or(0),
                path: d::uploads_path(),
            },
        };
        Cms { app, uploads }
    });

    let frontend = spec.frontend.as_ref().filter(|f| f.enabled).map(|f| {
        let default_deps = if cms.is_some() {
            vec!["cms".to_string()]
        } else {
            Vec::new()
        };
        http_app(
            &mut c,
            "spec.frontend",
            HttpInput {
                image: &f.image,
                port: f.port,
                replicas: f.replicas,
                env: &f.env,
                health_path: &f.health_path,
                depends_on: f.depends_on.clone().unwrap_or(default_deps),
                resources: f.resources.as_ref(),
            },
        )
    });

    let monitoring = monitoring(&mut c, spec);

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
        image(&mut c, &format!("{p}.image"), &s.image);
        env(&mut c, &p, &s.env);
        if let Some(port) = s.port {
            port_nonzero(&mut c, &format!("{p}.port"), port);
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
        replicas(&mut c, &format!("{p}.replicas"), s.replicas);
        services.push(Service {
            name: s.name.clone(),
            image: s.image.clone(),
            command: s.command.clone(),
            env: s.env.clone(),
            port: s.port,
            health_command: s.health_command.clone(),
            depends_on: s.depends_on.clone(),
            replicas: s.replicas,
            resources: resources(&mut c, &p, s.resources.as_ref()),
        });
    }

    // Every component and its dependencies, for reference and cycle checks.
    let mut graph: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    if let Some(db) = &database {
        let _ = db;
        graph.insert("database".into(), ("spec.database".into(), vec![]));
    }
    if cache.is_some() {
        graph.insert("cache".into(), ("spec.cache".into(), vec![]));
    }
    if let Some(cms) = &cms {
        graph.insert(
            "cms".into(),
            ("spec.cms.dependsOn".into(), cms.app.depends_on.clone()),
        );
    }
    if let Some(f) = &frontend {
        graph.insert(
            "frontend".into(),
            ("spec.frontend.dependsOn".into(), f.depends_on.clone()),
        );
    }
    if monitoring.prometheus.is_some() {
        graph.insert("prometheus".into(), (String::new(), vec![]));
    }
    if monitoring.node_exporter_image.is_some() {
        graph.insert("node-exporter".into(), (String::new(), vec![]));
    }
    if monitoring.alertmanager.is_some() {
        graph.insert("alertmanager".into(), (String::new(), vec![]));
    }
    for (i, s) in services.iter().enumerate() {
        graph.insert(
            s.name.clone(),
            (
                format!("spec.services[{i}].dependsOn"),
                s.depends_on.clone(),
            ),
        );
    }
    dependencies(&mut c, &graph);

    let published = published_ports(&mut c, spec, &graph, &frontend, &cms, &services);
    let ingress = spec.ingress.as_ref().map(|ing| {
        for (field, host) in [("host", &ing.host), ("cmsHost", &ing.cms_host)] {
            if let Some(h) = host {
                if !is_dns_name(h) {
                    c.push(
                        format!("spec.ingress.{field}"),
                        format!("{h:?} is not a DNS host name"),
                    );
                }
            }
        }
        Ingress {
            host: ing.host.clone(),
            cms_host: ing.cms_host.clone(),
            class_name: ing.class_name.clone(),
            tls: ing.tls.as_ref().filter(|t| t.enabled).map(|t| Tls {
                secret_name: t
                    .secret_name
                    .clone()
                    .unwrap_or_else(|| format!("{name}-tls")),
                cluster_issuer: t.cluster_issuer.clone(),
            }),
        }
    });
    let backup = backup(&mut c, spec, database.is_some());
    let recovery = recovery(&mut c, spec);

    c.finish(origin)?;
    Ok(ValidatedStack {
        name,
        namespace: stack
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into()),
        generation: stack.metadata.generation,
        uid: stack.metadata.uid.clone(),
        frontend,
        cms,
        database,
        cache,
        services,
        published,
        ingress,
        monitoring,
        backup,
        recovery,
    })
}

struct HttpInput<'a> {
    image: &'a str,
    port: u16,
    replicas: u32,
    env: &'a BTreeMap<String, String>,
    health_path: &'a str,
    depends_on: Vec<String>,
    resources: Option<&'a ResourcesSpec>,
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
    }
    HttpApp {
        image: input.image.to_string(),
        port: input.port,
        replicas: input.replicas,
        env: input.env.clone(),
        health_path: input.health_path.to_string(),
        depends_on: input.depends_on,
        resources: resources(c, p, input.resources),
    }
}

fn monitoring(c: &mut Collector, spec: &super::AppStackSpec) -> Monitoring {
    let Some(m) = spec.monitoring.as_ref().filter(|m| m.enabled) else {
        return Monitoring::default();
    };
    let p = "spec.monitoring";
    let prometheus = match &m.prometheus {
        Some(pr) if !pr.enabled => None,
        other => {
            let (img, retention, scrape) = other.as_ref().map_or_else(
                || {
                    (
                        d::prometheus_image(),
                        d::prometheus_retention(),
                        d::prometheus_scrape_interval(),
                    )
                },
                |pr| {
                    (
                        pr.image.clone(),
                        pr.retention.clone(),
                        pr.scrape_interval.clone(),
                    )
                },
            );
            image(c, &format!("{p}.prometheus.image"), &img);
            Some(Prometheus {
                image: img,
                retention: duration(c, &format!("{p}.prometheus.retention"), &retention),
                retention_text: retention,
                scrape_interval: duration(c, &format!("{p}.prometheus.scrapeInterval"), &scrape),
            })
        }
    };
    let node_exporter_image = match &m.node_exporter {
        Some(n) if !n.enabled => None,
        Some(n) => {
            image(c, &format!("{p}.nodeExporter.image"), &n.image);
            Some(n.image.clone())
        }
        None => Some(d::node_exporter_image()),
    };
    let alertmanager = match &m.alertmanager {
        Some(a) if !a.enabled => None,
        other => {
            let (img, hook, window) = other.as_ref().map_or_else(
                || (d::alertmanager_image(), None, d::alert_dedup_window()),
                |a| {
                    (
                        a.image.clone(),
                        a.webhook_url.clone(),
                        a.dedup_window.clone(),
                    )
                },
            );
            image(c, &format!("{p}.alertmanager.image"), &img);
            if let Some(url) = &hook {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    c.push(
                        format!("{p}.alertmanager.webhookUrl"),
                        format!("{url:?} is not an http(s) URL"),
                    );
                }
            }
            Some(Alertmanager {
                image: img,
                webhook_url: hook,
                dedup_window: duration(c, &format!("{p}.alertmanager.dedupWindow"), &window),
            })
        }
    };
    Monitoring {
        prometheus,
        node_exporter_image,
        alertmanager,
    }
}

fn dependencies(c: &mut Collector, graph: &BTreeMap<String, (String, Vec<String>)>) {
    for (name, (path, deps)) in graph {
        for (i, dep) in deps.iter().enumerate() {
            if dep == name {
                c.push(
                    format!("{path}[{i}]"),
                    format!("{name:?} cannot depend on itself"),
                );
            } else if !graph.contains_key(dep) {
                let known: Vec<&str> = graph.keys().map(String::as_str).collect();
                c.push(
                    format!("{path}[{i}]"),
                    format!(
                        "unknown or disabled component {dep:?} (expected one of: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    // Depth-first search; a back edge is a cycle, reported once with its members.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, (String, Vec<String>)>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        found: &mut Vec<Vec<&'a str>>,
    ) {
        state.insert(node, 1);
        stack.push(node);
        if let Some((_, deps)) = graph.get(node) {
            for dep in deps {
                match state.get(dep.as_str()) {
                    Some(1) => {
                        let start = stack.iter().position(|n| *n == dep).unwrap_or(0);
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(dep);
                        found.push(cycle);
                    }
                    None if graph.contains_key(dep) => visit(dep, graph, state, stack, found),
                    _ => {}
                }
            }
        }
        stack.pop();
        state.insert(node, 2);
    }
    let mut cycles = Vec::new();
    for name in graph.keys() {
        if !state.contains_key(name.as_str()) {
            visit(name, graph, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    for cycle in cycles {
        let mut members: Vec<&str> = cycle[..cycle.len() - 1].to_vec();
        members.sort_unstable();
        if reported.insert(members) {
            let path = graph
                .get(cycle[0])
                .map(|(p, _)| p.clone())
                .unwrap_or_default();
            c.push(path, format!("dependency cycle: {}", cycle.join(" -> ")));
        }
    }
}

fn published_ports(
    c: &mut Collector,
    spec: &super::AppStackSpec,
    graph: &BTreeMap<String, (String, Vec<String>)>,
    frontend: &Option<HttpApp>,
    cms: &Option<Cms>,
    services: &[Service],
) -> Vec<Published> {
    let mut out = Vec::new();
    let mut used: BTreeMap<u16, usize> = BTreeMap::new();
    let Some(ing) = &spec.ingress else { return out };
    for (i, pp) in ing.published_ports.iter().enumerate() {
        let p = format!("spec.ingress.publishedPorts[{i}]");
        if !graph.contains_key(&pp.component) {
            c.push(
                format!("{p}.component"),
                format!("unknown or disabled component {:?}", pp.component),
            );
        } else if container_port(&pp.component, frontend, cms, services).is_none() {
            c.push(
                format!("{p}.component"),
                format!("component {:?} has no port to publish", pp.component),
            );
        }
        port_nonzero(c, &format!("{p}.hostPort"), pp.host_port);
        if let Some(first) = used.insert(pp.host_port, i) {
            c.push(
                format!("{p}.hostPort"),
                format!(
                    "duplicate host port {} (also used by spec.ingress.publishedPorts[{first}])",
                    pp.host_port
                ),
            );
        }
        let bind = IpAddr::from_str(&pp.bind).unwrap_or_else(|_| {
            c.push(
                format!("{p}.bind"),
                format!(
                    "{:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)",
                    pp.bind
                ),
            );
            IpAddr::from([127, 0, 0, 1])
        });
        out.push(Published {
            component: pp.component.clone(),
            host_port: pp.host_port,
            bind,
        });
    }
    out
}

/// The container port of a component, as the planner assigns it.
pub fn container_port(
    name: &str,
    frontend: &Option<HttpApp>,
    cms: &Option<Cms>,
    services: &[Service],
) -> Option<u16> {
    match name {
        "frontend" => frontend.as_ref().map(|f| f.port),
        "cms" => cms.as_ref().map(|c| c.app.port),
        "database" => Some(d::DATABASE_PORT),
        "cache" => Some(d::CACHE_PORT),
        "prometheus" => Some(d::PROMETHEUS_PORT),
        "node-exporter" => Some(d::NODE_EXPORTER_PORT),
        "alertmanager" => Some(d::ALERTMANAGER_PORT),
        other => services
            .iter()
            .find(|s| s.name == other)
            .and_then(|s| s.port),
    }
}

fn backup(c: &mut Collector, spec: &super::AppStackSpec, has_db: bool) -> Option<Backup> {
    let b = spec.backup.as_ref().filter(|b| b.enabled)?;
    let p = "spec.backup";
    if !has_db {
        c.push(
            p,
            "backups need a database: add spec.database or set spec.backup.enabled: false",
        );
    }
    let target = if let Some(path) = b.target.strip_prefix("file://") {
        if !path.starts_with('/') {
            c.push(
                format!("{p}.target"),
                format!(
                    "{:?} must be an absolute path (file:///var/lib/appstack/backups)",
                    b.target
                ),
            );
        }
        BackupTarget::Filesystem {
            path: path.to_string(),
        }
    } else if let Some(rest) = b.target.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            c.push(
                format!("{p}.target"),
                "an s3:// target needs a bucket (s3://bucket/prefix)",
            );
        }
        let s3 = b.s3.as_ref();
        BackupTarget::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
            endpoint: s3.and_then(|s| s.endpoint.clone()),
            region: s3.map_or_else(d::s3_region, |s| s.region.clone()),
            path_style: s3.is_some_and(|s| s.path_style),
            credentials_secret: s3.and_then(|s| s.credentials_secret.clone()),
        }
    } else {
        c.push(
            format!("{p}.target"),
            format!(
                "{:?} is not a backup target (expected file:///path or s3://bucket/prefix)",
                b.target
            ),
        );
        BackupTarget::Filesystem {
            path: String::new(),
        }
    };
    let schedule =
        |c: &mut Collector, field: &str, s: &Option<super::spec::ScheduleSpec>, default: String| {
            match s {
                Some(s) if !s.enabled => None,
                Some(s) => Some(cron(c, &format!("{p}.{field}.schedule"), &s.schedule)),
                None => Some(default),
            }
        };
    let base_backup_schedule = schedule(c, "baseBackup", &b.base_backup, d::base_backup_schedule());
    let dump_schedule = schedule(c, "dump", &b.dump, d::dump_schedule());
    let files_schedule = schedule(c, "files", &b.files, d::files_schedule());
    let (keep_last, max_age) = b.retention.as_ref().map_or_else(
        || (d::keep_last(), d::max_age()),
        |r| (r.keep_last, r.max_age.clone()),
    );
    if keep_last == 0 {
        c.push(
            format!("{p}.retention.keepLast"),
            "must be at least 1 (restore needs a base backup)",
        );
    }
    let max_age = duration(c, &format!("{p}.retention.maxAge"), &max_age);
    let wal = match &b.wal {
        Some(w) if !w.enabled => None,
        Some(w) => Some(Wal {
            mode: w.mode,
            ship_interval: duration(c, &format!("{p}.wal.shipInterval"), &w.ship_interval),
            spool_alert_bytes: bytes(
                c,
                &format!("{p}.wal.spoolAlertThreshold"),
                &w.spool_alert_threshold,
            ),
        }),
        None => Some(Wal {
            mode: WalMode::Stream,
            ship_interval: parse_duration(&d::wal_segment_ship_interval())
                .unwrap_or(Duration::from_secs(5)),
            spool_alert_bytes: parse_bytes(&d::spool_alert_threshold()).unwrap_or(1 << 30),
        }),
    };
    if !(1..=19).contains(&b.compression_level) {
        c.push(
            format!("{p}.compressionLevel"),
            format!("{} is out of range (expected 1 to 19)", b.compression_level),
        );
    }
    let encryption_key_file = b.encryption.as_ref().map(|e| {
        if e.key_file.trim().is_empty() {
            c.push(
                format!("{p}.encryption.keyFile"),
                "must name a key file or Secret",
            );
        }
        e.key_file.clone()
    });
    Some(Backup {
        target,
        base_backup_schedule,
        dump_schedule,
        files_schedule,
        keep_last,
        max_age,
        wal,
        timeout: duration(c, &format!("{p}.timeout"), &b.timeout),
        compression_level: b.compression_level,
        encryption_key_file,
    })
}

fn recovery(c: &mut Collector, spec: &super::AppStackSpec) -> Recovery {
    let p = "spec.recovery";
    let r = spec.recovery.as_ref();
    let (rto, rpo) = r
        .and_then(|r| r.objectives.as_ref())
        .map_or_else(|| (d::rto(), d::rpo()), |o| (o.rto.clone(), o.rpo.clone()));
    let drill_schedule = match r.and_then(|r| r.drill.as_ref()) {
        Some(dr) if !dr.enabled => None,
        Some(dr) => Some(cron(c, &format!("{p}.drill.schedule"), &dr.schedule)),
        None => r.map(|_| d::drill_schedule()),
    };
    Recovery {
        rto: duration(c, &format!("{p}.objectives.rto"), &rto),
        rpo: duration(c, &format!("{p}.objectives.rpo"), &rpo),
        drill_schedule,
    }
}

fn resources(c: &mut Collector, p: &str, r: Option<&ResourcesSpec>) -> Resources {
    let Some(r) = r else {
        return Resources::default();
    };
    Resources {
        cpu_millis: r.cpu.as_ref().map(|cpu| {
            parse_cpu_millis(cpu).unwrap_or_else(|| {
                c.push(
                    format!("{p}.resources.cpu"),
                    format!("{cpu:?} is not a CPU quantity (e.g. 500m or 2)"),
                );
                0
            })
        }),
        memory_bytes: r
            .memory
            .as_ref()
            .map(|m| bytes(c, &format!("{p}.resources.memory"), m)),
    }
}

fn bytes(c: &mut Collector, path: &str, text: &str) -> u64 {
    match parse_bytes(text) {
        Some(b) if b > 0 => b,
        _ => {
            c.push(path, format!("{text:?} is not a quantity (e.g. 20Gi)"));
            0
        }
    }
}

fn duration(c: &mut Collector, path: &str, text: &str) -> Duration {
    match parse_duration(text) {
        Some(dur) if !dur.is_zero() => dur,
        _ => {
            c.push(
                path,
                format!("{text:?} is not a duration (e.g. 15m, 1h, 14d)"),
            );
            Duration::ZERO
        }
    }
}

fn cron(c: &mut Collector, path: &str, text: &str) -> String {
    if text.split_whitespace().count() != 5 {
        c.push(path, format!("{text:?} is not a cron expression (expected 5 fields: minute hour day month weekday, e.g. \"0 2 * * *\")"));
    } else if let Err(err) = croner::Cron::from_str(text) {
        c.push(path, format!("{text:?} is not a cron expression: {err}"));
    }
    text.to_string()
}

fn image(c: &mut Collector, path: &str, image: &str) {
    if image.trim().is_empty() {
        c.push(path, "an image is required (e.g. postgis/postgis:15-3.4)");
    } else if image
        .chars()
        .any(|ch| ch.is_whitespace() || ch.is_control())
        || image.starts_with([':', '/', '@'])
        || image.ends_with([':', '/', '@'])
    {
        c.push(
            path,
            format!("{image:?} is not an image reference (e.g. registry/name:tag)"),
        );
    }
}

fn env(c: &mut Collector, p: &str, env: &BTreeMap<String, String>) {
    for key in env.keys() {
        let ok = key
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
            && key
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !ok {
            c.push(format!("{p}.env.{key}"), "is not an environment variable name (expected letters, digits and '_', not starting with a digit)");
        }
    }
}

fn port_nonzero(c: &mut Collector, path: &str, port: u16) {
    if port == 0 {
        c.push(path, "0 is not a port (expected 1 to 65535)");
    }
}

fn replicas(c: &mut Collector, path: &str, n: u32) {
    if !(1..=100).contains(&n) {
        c.push(path, format!("{n} is out of range (expected 1 to 100; use enabled: false to turn a component off)"));
    }
}

fn ident(c: &mut Collector, path: &str, text: &str) {
    let ok = text.len() <= 63
        && text
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_lowercase() || ch == '_')
        && text
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
    if !ok {
        c.push(path, format!("{text:?} is not a PostgreSQL identifier (expected lowercase letters, digits and '_')"));
    }
}

fn abs_path(c: &mut Collector, path: &str, text: &str) -> String {
    if !text.starts_with('/') {
        c.push(path, format!("{text:?} must be an absolute path"));
    }
    text.to_string()
}

pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|ch: char| ch.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        })
}
