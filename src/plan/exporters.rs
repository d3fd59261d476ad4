//! The exporters Prometheus scrapes: node-exporter (the host), the blackbox exporter (each
//! HTTP component's health endpoint, as a user's browser would see it fail), the PostgreSQL
//! exporter (as a `pg_monitor` role of its own) and the Redis exporter (as a read-only ACL
//! user of its own). None of them gets the superuser's or the application's credentials.

use super::build::{component, host, http_health, port, secret_mount, Parts};
use super::monitoring_config as mc;
use super::*;
use crate::api::defaults as d;
use crate::api::validated::{self as v, ValidatedStack};

/// The Redis ACL of the exporter's user: connection and read-only introspection commands.
pub const REDIS_MONITOR_ACL: &str = "on ~* &* -@all +@connection +info +config|get +client|list +slowlog|get +latency|latest +memory|stats +dbsize +select +ping";

/// The exporter's setup step, for the runtimes appstack does not run in (the compose export,
/// Kubernetes): psql as the stack's owner, reading the role's password from the secret file
/// into a variable, with statement logging off for its session so that no log keeps it.
const MONITOR_ROLE_SQL: &str = "monitor-role.sql";
const MONITOR_ROLE_SQL_PATH: &str = "/etc/postgres-exporter/monitor-role.sql";
const MONITOR_PASSWORD_PATH: &str = "/run/secrets/database-monitor-password";

fn monitor_role_psql() -> String {
    let mut lines = vec![
        "\\set ON_ERROR_STOP on".to_string(),
        // A failing statement is logged with its text unless this is off too.
        "SET log_statement = 'none';".to_string(),
        "SET log_min_error_statement = 'panic';".to_string(),
        format!("\\set pw `cat {MONITOR_PASSWORD_PATH}`"),
    ];
    lines.extend(
        monitor_role_sql(":'pw'")
            .into_iter()
            .map(|s| format!("{s};")),
    );
    lines.join("\n") + "\n"
}

fn monitor_role_setup(stack: &ValidatedStack, image: &str, user: &str, db: &str) -> SetupStep {
    // Constant text: the secrets are read at run time, nothing is pasted in.
    let script = format!(
        "set -eu\n\
         umask 077\n\
         printf '*:*:*:*:%s\\n' \"$(cat /run/secrets/database-password)\" > /tmp/pgpass\n\
         export PGPASSFILE=/tmp/pgpass\n\
         exec psql -X -q -f {MONITOR_ROLE_SQL_PATH}\n"
    );
    SetupStep {
        name: "monitor-role".into(),
        image: image.into(),
        args: vec!["bash".into(), "-c".into(), script],
        env: BTreeMap::from([
            ("PGHOST".into(), host(stack, "database")),
            ("PGPORT".into(), d::DATABASE_PORT.to_string()),
            ("PGUSER".into(), user.into()),
            ("PGDATABASE".into(), db.into()),
        ]),
        secrets: vec![
            secret_mount(
                "database",
                "password",
                "/run/secrets/database-password",
                None,
            ),
            secret_mount("database", "monitor-password", MONITOR_PASSWORD_PATH, None),
        ],
        depends_on: vec![Dependency {
            component: "database".into(),
            condition: Condition::Healthy,
        }],
    }
}

/// The SQL that makes `appstack_monitor` what the PostgreSQL exporter needs and no more;
/// `password` is an SQL expression (a SCRAM verifier literal, or a psql variable).
pub fn monitor_role_sql(password: &str) -> Vec<String> {
    let role = d::MONITOR_ROLE;
    vec![
        format!(
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; END IF; END$$"
        ),
        format!(
            "ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5 PASSWORD {password}"
        ),
        format!("GRANT pg_monitor TO {role}"),
    ]
}

pub(super) fn exporters(stack: &ValidatedStack, parts: &mut Parts) {
    node_exporter(stack, parts);
    blackbox(stack, parts);
    postgres(stack, parts);
    redis(stack, parts);
}

/// The health URLs the blackbox exporter probes: every HTTP component's, by its name on
/// the stack's network.
pub(super) fn probed_urls(stack: &ValidatedStack) -> Vec<String> {
    let mut urls = Vec::new();
    if let Some(cms) = &stack.cms {
        urls.push(format!(
            "http://{}:{}{}",
            host(stack, "cms"),
            cms.app.port,
            cms.app.health_path
        ));
    }
    if let Some(f) = &stack.frontend {
        urls.push(format!(
            "http://{}:{}{}",
            host(stack, "frontend"),
            f.port,
            f.health_path
        ));
    }
    urls
}

/// node-exporter, reading the host's /proc, /sys and root filesystem (free disk).
fn node_exporter(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(image) = &stack.monitoring.node_exporter_image else {
        return;
    };
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
        "--path.rootfs=/host/root".into(),
        format!("--web.listen-address=:{}", d::NODE_EXPORTER_PORT),
    ]);
    c.mounts = ["proc", "sys"]
        .iter()
        .map(|p| Mount::Host {
            host_path: format!("/{p}"),
            path: format!("/host/{p}"),
        })
        .chain(std::iter::once(Mount::Host {
            host_path: "/".into(),
            path: "/host/root".into(),
        }))
        .collect();
    c.ports = vec![port("metrics", d::NODE_EXPORTER_PORT)];
    c.health = Some(http_health(d::NODE_EXPORTER_PORT, "/metrics"));
    parts.comps.push(c);
}

fn blackbox(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(image) = &stack.monitoring.blackbox_image else {
        return;
    };
    let mut c = component(
        stack,
        "blackbox-exporter",
        Role::Monitoring,
        image,
        v::Resources::default(),
    );
    c.args = Some(vec![
        "--config.file=/etc/blackbox/blackbox.yml".into(),
        format!("--web.listen-address=:{}", d::BLACKBOX_PORT),
    ]);
    c.files = vec![ConfigFile {
        name: "blackbox.yml".into(),
        path: "/etc/blackbox/blackbox.yml".into(),
        content: mc::blackbox_yml(),
    }];
    c.ports = vec![port("http", d::BLACKBOX_PORT)];
    c.health = Some(http_health(d::BLACKBOX_PORT, "/-/healthy"));
    parts.comps.push(c);
}

/// The PostgreSQL exporter, signed in as `appstack_monitor` (created and given its password
/// by `ops::monitor_role` once the database is up).
fn postgres(stack: &ValidatedStack, parts: &mut Parts) {
    let (Some(image), Some(db)) = (&stack.monitoring.postgres_exporter_image, &stack.database)
    else {
        return;
    };
    let mut c = component(
        stack,
        "postgres-exporter",
        Role::Monitoring,
        image,
        v::Resources::default(),
    );
    c.args = Some(vec![
        "--extend.query-path=/etc/postgres-exporter/queries.yaml".into(),
        format!("--web.listen-address=:{}", d::POSTGRES_EXPORTER_PORT),
    ]);
    c.env = BTreeMap::from([
        (
            "DATA_SOURCE_URI".into(),
            format!(
                "{}:{}/{}?sslmode=disable",
                host(stack, "database"),
                d::DATABASE_PORT,
                db.name
            ),
        ),
        ("DATA_SOURCE_USER".into(), d::MONITOR_ROLE.into()),
    ]);
    c.secrets = vec![secret_mount(
        "database",
        "monitor-password",
        MONITOR_PASSWORD_PATH,
        Some("DATA_SOURCE_PASS_FILE"),
    )];
    c.files = vec![
        ConfigFile {
            name: "queries.yaml".into(),
            path: "/etc/postgres-exporter/queries.yaml".into(),
            content: mc::postgres_exporter_queries(),
        },
        ConfigFile {
            name: MONITOR_ROLE_SQL.into(),
            path: MONITOR_ROLE_SQL_PATH.into(),
            content: monitor_role_psql(),
        },
    ];
    c.setup = Some(monitor_role_setup(stack, &db.image, &db.user, &db.name));
    c.ports = vec![port("metrics", d::POSTGRES_EXPORTER_PORT)];
    c.health = Some(http_health(d::POSTGRES_EXPORTER_PORT, "/"));
    parts.comps.push(c);
}

/// The Redis exporter, signed in as the read-only `appstack-monitor` ACL user.
fn redis(stack: &ValidatedStack, parts: &mut Parts) {
    let (Some(image), Some(_)) = (&stack.monitoring.redis_exporter_image, &stack.cache) else {
        return;
    };
    let mut c = component(
        stack,
        "redis-exporter",
        Role::Monitoring,
        image,
        v::Resources::default(),
    );
    c.args = Some(vec![
        format!("--redis.addr={}", redis_url(stack)),
        format!("--redis.user={}", d::MONITOR_REDIS_USER),
        "--redis.password-file=/run/secrets/cache-exporter.json".into(),
        format!("--web.listen-address=:{}", d::REDIS_EXPORTER_PORT),
    ]);
    c.secrets = vec![secret_mount(
        "cache",
        "exporter.json",
        "/run/secrets/cache-exporter.json",
        None,
    )];
    c.ports = vec![port("metrics", d::REDIS_EXPORTER_PORT)];
    c.health = Some(http_health(d::REDIS_EXPORTER_PORT, "/health"));
    parts.comps.push(c);
}

/// The cache as the Redis exporter addresses it (also the key of its password file).
pub(super) fn redis_url(stack: &ValidatedStack) -> String {
    format!("redis://{}:{}", host(stack, "cache"), d::CACHE_PORT)
}

/// The scrape jobs of the exporters that run.
pub(super) fn jobs(stack: &ValidatedStack) -> Vec<mc::Job> {
    let m = &stack.monitoring;
    let metrics = |job: &str, comp: &str, p: u16| mc::Job::Metrics {
        job: job.into(),
        target: format!("{}:{p}", host(stack, comp)),
        path: "/metrics".into(),
    };
    let mut jobs = Vec::new();
    if m.node_exporter_image.is_some() {
        jobs.push(metrics("node", "node-exporter", d::NODE_EXPORTER_PORT));
    }
    if m.postgres_exporter_image.is_some() && stack.database.is_some() {
        jobs.push(metrics(
            "postgres",
            "postgres-exporter",
            d::POSTGRES_EXPORTER_PORT,
        ));
    }
    if m.redis_exporter_image.is_some() && stack.cache.is_some() {
        jobs.push(metrics("redis", "redis-exporter", d::REDIS_EXPORTER_PORT));
    }
    if m.blackbox_image.is_some() {
        jobs.push(mc::Job::Probe {
            exporter: format!("{}:{}", host(stack, "blackbox-exporter"), d::BLACKBOX_PORT),
            urls: probed_urls(stack),
        });
    }
    jobs
}
