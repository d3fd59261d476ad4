//! Every default of the AppStack spec, in one place. Serde and the generated CRD schema both
//! read these functions, so the documented default is the applied one.

use std::collections::BTreeMap;

pub const FRONTEND_PORT: u16 = 3000;
pub const CMS_PORT: u16 = 8055;
pub const DATABASE_PORT: u16 = 5432;
pub const CACHE_PORT: u16 = 6379;
pub const PROMETHEUS_PORT: u16 = 9090;
pub const NODE_EXPORTER_PORT: u16 = 9100;
pub const ALERTMANAGER_PORT: u16 = 9093;
pub const BLACKBOX_PORT: u16 = 9115;
pub const POSTGRES_EXPORTER_PORT: u16 = 9187;
pub const REDIS_EXPORTER_PORT: u16 = 9121;
/// appstack's own /metrics and alert log receiver (the daemon, or the operator).
pub const DAEMON_PORT: u16 = 9464;
/// The PostgreSQL role the exporter signs in as (member of `pg_monitor`).
pub const MONITOR_ROLE: &str = "appstack_monitor";
/// The Redis ACL user the exporter signs in as (read-only commands).
pub const MONITOR_REDIS_USER: &str = "appstack-monitor";

pub fn enabled() -> bool {
    true
}
pub fn replicas() -> u32 {
    1
}
pub fn frontend_port() -> u16 {
    FRONTEND_PORT
}
pub fn frontend_health_path() -> String {
    "/api/health".into()
}
pub fn cms_image() -> String {
    "directus/directus:11.1.0".into()
}
pub fn cms_port() -> u16 {
    CMS_PORT
}
pub fn cms_health_path() -> String {
    "/server/health".into()
}
pub fn uploads_size() -> String {
    "10Gi".into()
}
pub fn uploads_path() -> String {
    "/directus/uploads".into()
}
pub fn queue_max_backlog() -> u64 {
    1000
}
pub fn database_image() -> String {
    "postgis/postgis:15-3.4".into()
}
pub fn database_version() -> u32 {
    15
}
pub fn database_extensions() -> Vec<String> {
    vec!["postgis".into()]
}
pub fn database_storage() -> String {
    "20Gi".into()
}
pub fn database_max_connections() -> u32 {
    100
}
pub fn database_name() -> String {
    "app".into()
}
pub fn database_user() -> String {
    "app".into()
}
pub fn cache_image() -> String {
    "redis:7.2-alpine".into()
}
pub fn cache_maxmemory() -> String {
    "256Mi".into()
}
pub fn cache_policy() -> String {
    "allkeys-lru".into()
}
pub fn published_bind() -> String {
    "127.0.0.1".into()
}
pub fn prometheus_image() -> String {
    "prom/prometheus:v2.53.2".into()
}
pub fn prometheus_retention() -> String {
    "15d".into()
}
pub fn prometheus_scrape_interval() -> String {
    "15s".into()
}
pub fn node_exporter_image() -> String {
    "prom/node-exporter:v1.8.2".into()
}
pub fn blackbox_exporter_image() -> String {
    "prom/blackbox-exporter:v0.23.0".into()
}
pub fn postgres_exporter_image() -> String {
    "quay.io/prometheuscommunity/postgres-exporter:v0.11.1".into()
}
pub fn redis_exporter_image() -> String {
    "oliver006/redis_exporter:v1.45.0".into()
}
pub fn daemon_port() -> u16 {
    DAEMON_PORT
}
pub fn alertmanager_image() -> String {
    "prom/alertmanager:v0.27.0".into()
}
pub fn alert_dedup_window() -> String {
    "10m".into()
}
pub fn backup_target() -> String {
    "file:///var/lib/appstack/backups".into()
}
pub fn base_backup_schedule() -> String {
    "0 2 * * *".into()
}
pub fn dump_schedule() -> String {
    "15 3 * * *".into()
}
pub fn files_schedule() -> String {
    "30 3 * * *".into()
}
pub fn keep_last() -> u32 {
    7
}
pub fn max_age() -> String {
    "14d".into()
}
pub fn backup_timeout() -> String {
    "1h".into()
}
pub fn compression_level() -> i32 {
    3
}
pub fn s3_region() -> String {
    "us-east-1".into()
}
pub fn wal_segment_ship_interval() -> String {
    "2s".into()
}
pub fn spool_alert_threshold() -> String {
    "1Gi".into()
}
pub fn rto() -> String {
    "1h".into()
}
pub fn rpo() -> String {
    "15m".into()
}
pub fn drill_schedule() -> String {
    "0 4 * * 0".into()
}
pub fn empty_map() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// The CMS's first administrator (Directus `ADMIN_EMAIL`), unless `spec.cms.env` names one;
/// the password is generated (`<state-dir>/stacks/<stack>/secrets/cms/admin-password`).
pub const CMS_ADMIN_EMAIL: &str = "admin@example.com";

pub fn edge_image() -> String {
    "caddy:2.8".into()
}

pub fn edge_http_port() -> u16 {
    80
}

pub fn edge_https_port() -> u16 {
    443
}

pub fn edge_bind() -> String {
    "0.0.0.0".into()
}

/// What kamal-proxy drains by default: long enough for a slow page or upload to finish.
pub fn edge_drain_seconds() -> u32 {
    30
}

/// Directus' unauthenticated liveness endpoint (what its own health check calls).
pub const CMS_PING: &str = "/server/ping";
