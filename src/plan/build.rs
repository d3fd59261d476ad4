//! `ValidatedStack` → `Plan`: pure, deterministic, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use super::config_files::{self as cf, CACHE_AUTH_PATH};
use super::*;
use crate::api::defaults as d;
use crate::api::validated::{self as v, ValidatedStack};

const HEALTH_INTERVAL_MS: u64 = 1_000;

/// Builds the plan of a validated stack.
pub fn build(stack: &ValidatedStack) -> Plan {
    let host = |c: &str| format!("{}-{}", stack.name, c);
    let mut comps: Vec<Component> = Vec::new();
    let mut volumes = Vec::new();
    let mut secrets = Vec::new();
    let healthy = |names: &[String]| -> Vec<Dependency> {
        names
            .iter()
            .map(|n| Dependency {
                component: n.clone(),
                condition: Condition::Healthy,
            })
            .collect()
    };

    if let Some(db) = &stack.database {
        secrets.push(Secret {
            name: "database".into(),
            keys: vec![generated("password")],
        });
        volumes.push(Volume {
            name: "database-data".into(),
            size_bytes: db.storage_bytes,
        });
        let mut args = vec!["postgres".to_string()];
        let mut params: BTreeMap<String, String> = db.parameters.clone();
        params.insert("max_connections".into(), db.max_connections.to_string());
        params.insert("wal_level".into(), "replica".into());
        params.insert("max_wal_senders".into(), "10".into());
        params.insert("max_replication_slots".into(), "10".into());
        for (k, val) in params {
            args.push("-c".into());
            args.push(format!("{k}={val}"));
        }
        let mut c = component(stack, "database", Role::Database, &db.image, db.resources);
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
        comps.push(c);
        if let Some((receiver, spool)) = super::wal::wal_receiver(stack, db) {
            comps.push(receiver);
            volumes.push(spool);
        }
    }

    if let Some(cache) = &stack.cache {
        secrets.push(Secret {
            name: "cache".into(),
            keys: vec![
                generated("password"),
                SecretKey {
                    key: "auth.conf".into(),
                    source: SecretSource::Template {
                        template: "requirepass ${password}\n".into(),
                    },
                },
            ],
        });
        volumes.push(Volume {
            name: "cache-data".into(),
            size_bytes: cache.maxmemory_bytes.saturating_mul(2),
        });
        let mut c = component(stack, "cache", Role::Cache, &cache.image, cache.resources);
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
        comps.push(c);
    }

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
        comps.push(c);
    }

    if let Some(cms) = &stack.cms {
        secrets.push(Secret {
            name: "cms".into(),
            keys: vec![generated("key"), generated("secret")],
        });
        let mut c = http_component(stack, "cms", Role::Cms, &cms.app);
        let mut e = cms.app.env.clone();
        e.insert("PORT".into(), cms.app.port.to_string());
        if let Some(db) = &stack.database {
            e.extend(env([
                ("DB_CLIENT", "pg".to_string()),
                ("DB_HOST", host("database")),
                ("DB_PORT", d::DATABASE_PORT.to_string()),
                ("DB_DATABASE", db.name.clone()),
                ("DB_USER", db.user.clone()),
            ]));
            c.secrets.push(secret_mount(
                "database",
                "password",
                "/run/secrets/database-password",
                Some("DB_PASSWORD_FILE"),
            ));
        }
        if stack.cache.is_some() {
            e.extend(env([
                ("REDIS_HOST", host("cache")),
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
        match &cms.uploads {
            v::Uploads::Volume { size_bytes, path } => {
                volumes.push(Volume {
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
        comps.push(c);
    }

    if let Some(f) = &stack.frontend {
        let mut c = http_component(stack, "frontend", Role::Frontend, f);
        let mut e = f.env.clone();
        e.insert("PORT".into(), f.port.to_string());
        if let Some(cms) = &stack.cms {
            e.entry("CMS_URL".into())
                .or_insert_with(|| format!("http://{}:{}", host("cms"), cms.app.port));
        }
        c.env = e;
        c.depends_on = healthy(&f.depends_on);
        comps.push(c);
    }

    monitoring(stack, &mut comps, &mut volumes);
    publish(stack, &mut comps);
    let without_health: BTreeSet<String> = comps
        .iter()
        .filter(|c| c.health.is_none())
        .map(|c| c.name.clone())
        .collect();
    for c in &mut comps {
        for dep in &mut c.depends_on {
            if without_health.contains(&dep.component) {
                dep.condition = Condition::Started;
            }
        }
        c.env.extend(
            c.secrets
                .iter()
                .filter_map(|s| s.env_file_var.clone().map(|var| (var, s.path.clone()))),
        );
    }
    Plan {
        stack: stack.name.clone(),
        namespace: stack.namespace.clone(),
        components: topo_order(comps),
        volumes,
        secrets,
        ingress: super::routes::ingress(stack),
        jobs: super::routes::jobs(stack),
        drill: super::routes::drill(stack),
        store: super::routes::store_access(stack),
        wal_shipper: super::wal::wal_shipper(stack),
    }
}

fn monitoring(stack: &ValidatedStack, comps: &mut Vec<Component>, volumes: &mut Vec<Volume>) {
    let host = |c: &str| format!("{}-{}", stack.name, c);
    let m = &stack.monitoring;
    if let Some(p) = &m.prometheus {
        let mut targets: Vec<cf::Target> = vec![(
            "prometheus".into(),
            format!("127.0.0.1:{}", d::PROMETHEUS_PORT),
            "/metrics".into(),
        )];
        if m.node_exporter_image.is_some() {
            targets.push((
                "node".into(),
                format!("{}:{}", host("node-exporter"), d::NODE_EXPORTER_PORT),
                "/metrics".into(),
            ));
        }
        if m.alertmanager.is_some() {
            targets.push((
                "alertmanager".into(),
                format!("{}:{}", host("alertmanager"), d::ALERTMANAGER_PORT),
                "/metrics".into(),
            ));
        }
        if let Some(cms) = &stack.cms {
            targets.push((
                "cms".into(),
                format!("{}:{}", host("cms"), cms.app.port),
                "/metrics".into(),
            ));
        }
        if let Some(f) = &stack.frontend {
            targets.push((
                "frontend".into(),
                format!("{}:{}", host("frontend"), f.port),
                f.health_path.clone(),
            ));
        }
        let am = m
            .alertmanager
            .as_ref()
            .map(|_| format!("{}:{}", host("alertmanager"), d::ALERTMANAGER_PORT));
        volumes.push(Volume {
            name: "prometheus-data".into(),
            size_bytes: 10 << 30,
        });
        let mut c = component(
            stack,
            "prometheus",
            Role::Monitoring,
            &p.image,
            v::Resources::default(),
        );
        c.args = Some(vec![
            "--config.file=/etc/prometheus/prometheus.yml".into(),
            "--storage.tsdb.path=/prometheus".into(),
            format!("--storage.tsdb.retention.time={}", p.retention_text),
            format!("--web.listen-address=:{}", d::PROMETHEUS_PORT),
        ]);
        c.files = vec![
            ConfigFile {
                name: "prometheus.yml".into(),
                path: "/etc/prometheus/prometheus.yml".into(),
                content: cf::prometheus_yml(p, &targets, am.as_deref()),
            },
            ConfigFile {
                name: "rules.yml".into(),
                path: "/etc/prometheus/rules.yml".into(),
                content: cf::alert_rules(stack.database.as_ref().map(|db| db.max_connections)),
            },
        ];
        c.ports = vec![port("http", d::PROMETHEUS_PORT)];
        c.mounts = vec![Mount::Volume {
            volume: "prometheus-data".into(),
            path: "/prometheus".into(),
        }];
        c.health = Some(http_health(d::PROMETHEUS_PORT, "/-/ready"));
        comps.push(c);
    }
    if let Some(image) = &m.node_exporter_image {
        let mut c = component(
            stack,
            "node-exporter",
            Role::Monitoring,
            image,
            v::Resources::default(),
        );
        c.args = Some(vec![
            "--path.procfs=/host/proc".into(),
            "--path.sysfs=/host/sys".into(),
            format!("--web.listen-address=:{}", d::NODE_EXPORTER_PORT),
        ]);
        c.mounts = vec![
            Mount::Host {
                host_path: "/proc".into(),
                path: "/host/proc".into(),
            },
            Mount::Host {
                host_path: "/sys".into(),
                path: "/host/sys".into(),
            },
        ];
        c.ports = vec![port("metrics", d::NODE_EXPORTER_PORT)];
        c.health = Some(http_health(d::NODE_EXPORTER_PORT, "/metrics"));
        comps.push(c);
    }
    if let Some(a) = &m.alertmanager {
        volumes.push(Volume {
            name: "alertmanager-data".into(),
            size_bytes: 1 << 30,
        });
        let mut c = component(
            stack,
            "alertmanager",
            Role::Monitoring,
            &a.image,
            v::Resources::default(),
        );
        c.args = Some(vec![
            "--config.file=/etc/alertmanager/alertmanager.yml".into(),
            "--storage.path=/alertmanager".into(),
            format!("--web.listen-address=:{}", d::ALERTMANAGER_PORT),
            "--cluster.listen-address=".into(),
        ]);
        c.files = vec![ConfigFile {
            name: "alertmanager.yml".into(),
            path: "/etc/alertmanager/alertmanager.yml".into(),
            content: cf::alertmanager_yml(a),
        }];
        c.ports = vec![port("http", d::ALERTMANAGER_PORT)];
        c.mounts = vec![Mount::Volume {
            volume: "alertmanager-data".into(),
            path: "/alertmanager".into(),
        }];
        c.health = Some(http_health(d::ALERTMANAGER_PORT, "/-/ready"));
        comps.push(c);
    }
}

fn publish(stack: &ValidatedStack, comps: &mut [Component]) {
    for p in &stack.published {
        if let Some(c) = comps.iter_mut().find(|c| c.name == p.component) {
            if let Some(first) = c.ports.first_mut() {
                first.publish = Some(Publish {
                    host_ip: p.bind.to_string(),
                    host_port: p.host_port,
                });
            }
        }
    }
}

/// Kahn's algorithm over the fixed base order, so the result is deterministic.
fn topo_order(comps: Vec<Component>) -> Vec<Component> {
    let names: BTreeSet<String> = comps.iter().map(|c| c.name.clone()).collect();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    let mut remaining = comps;
    let mut out = Vec::with_capacity(remaining.len());
    while !remaining.is_empty() {
        let ready = remaining.iter().position(|c| {
            c.depends_on
                .iter()
                .all(|dep| placed.contains(&dep.component) || !names.contains(&dep.component))
        });
        // Validation rejects cycles; should one slip through, keep the order rather than loop.
        let idx = ready.unwrap_or(0);
        let c = remaining.remove(idx);
        placed.insert(c.name.clone());
        out.push(c);
    }
    out
}

pub(super) fn component(
    stack: &ValidatedStack,
    name: &str,
    role: Role,
    image: &str,
    r: v::Resources,
) -> Component {
    let labels = BTreeMap::from([
        (LABEL_STACK.to_string(), stack.name.clone()),
        (LABEL_COMPONENT.to_string(), name.to_string()),
        (LABEL_ROLE.to_string(), role.as_str().to_string()),
        (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
        ("app.kubernetes.io/name".to_string(), name.to_string()),
        ("app.kubernetes.io/instance".to_string(), stack.name.clone()),
        (
            "app.kubernetes.io/part-of".to_string(),
            "appstack".to_string(),
        ),
    ]);
    Component {
        name: name.to_string(),
        role,
        image: image.to_string(),
        args: None,
        env: BTreeMap::new(),
        secrets: Vec::new(),
        files: Vec::new(),
        ports: Vec::new(),
        mounts: Vec::new(),
        health: None,
        depends_on: Vec::new(),
        resources: Resources {
            cpu_millis: r.cpu_millis,
            memory_bytes: r.memory_bytes,
        },
        replicas: 1,
        labels,
        stop_grace_secs: 10,
    }
}

fn http_component(stack: &ValidatedStack, name: &str, role: Role, app: &v::HttpApp) -> Component {
    let mut c = component(stack, name, role, &app.image, app.resources);
    c.ports = vec![port("http", app.port)];
    c.health = Some(http_health(app.port, &app.health_path));
    c.replicas = app.replicas;
    c
}

fn http_health(port: u16, path: &str) -> HealthCheck {
    // wget exists in busybox, Alpine and Debian images alike; by IP, never by name
    // (busybox wget of a container name segfaults in Debian images).
    let mut h = health(
        vec![format!(
            "wget -q -O /dev/null http://127.0.0.1:{port}{path} || exit 1"
        )],
        true,
        30_000,
    );
    h.http = Some(HttpGet {
        port,
        path: path.to_string(),
    });
    h
}

pub(super) fn health(command: Vec<String>, shell: bool, start_period_ms: u64) -> HealthCheck {
    HealthCheck {
        command,
        shell,
        interval_ms: HEALTH_INTERVAL_MS,
        timeout_ms: 3_000,
        retries: 3,
        start_period_ms,
        http: None,
    }
}

fn port(name: &str, p: u16) -> Port {
    Port {
        name: name.into(),
        container_port: p,
        publish: None,
    }
}

fn generated(key: &str) -> SecretKey {
    SecretKey {
        key: key.into(),
        source: SecretSource::Generated { length: 32 },
    }
}

pub(super) fn secret_mount(
    secret: &str,
    key: &str,
    path: &str,
    env_var: Option<&str>,
) -> SecretMount {
    SecretMount {
        secret: secret.into(),
        key: key.into(),
        path: path.into(),
        env_file_var: env_var.map(String::from),
    }
}

pub(super) fn env<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}
