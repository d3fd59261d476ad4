//! Monitoring, backups and recovery objectives.

use std::time::Duration;

use super::fields::{bytes, cron, duration, http_url, image, resources};
use crate::api::defaults as d;
use crate::api::errors::Collector;
use crate::api::quantity::{parse_bytes, parse_duration};
use crate::api::spec::{AppStackSpec, BackupSpec};
use crate::api::validated::*;

pub(super) fn monitoring(c: &mut Collector, spec: &AppStackSpec) -> Monitoring {
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
            let spec_resources = other.as_ref().and_then(|pr| pr.resources.as_ref());
            Some(Prometheus {
                resources: resources(c, &format!("{p}.prometheus"), spec_resources),
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
                http_url(c, &format!("{p}.alertmanager.webhookUrl"), url);
            }
            let spec_resources = other.as_ref().and_then(|a| a.resources.as_ref());
            Some(Alertmanager {
                resources: resources(c, &format!("{p}.alertmanager"), spec_resources),
                image: img,
                webhook_url: hook,
                dedup_window: duration(c, &format!("{p}.alertmanager.dedupWindow"), &window),
            })
        }
    };
    let has_http = spec.cms.is_some() || spec.frontend.is_some();
    Monitoring {
        prometheus,
        node_exporter_image,
        alertmanager,
        blackbox_image: exporter(
            c,
            "blackboxExporter",
            &m.blackbox_exporter,
            has_http,
            d::blackbox_exporter_image,
        ),
        postgres_exporter_image: exporter(
            c,
            "postgresExporter",
            &m.postgres_exporter,
            spec.database.is_some(),
            d::postgres_exporter_image,
        ),
        redis_exporter_image: exporter(
            c,
            "redisExporter",
            &m.redis_exporter,
            spec.cache.is_some(),
            d::redis_exporter_image,
        ),
        daemon_port: m.daemon_port,
    }
}

/// An exporter's image: None when disabled or when what it measures is not in the stack.
fn exporter(
    c: &mut Collector,
    field: &str,
    spec: &Option<crate::api::spec::ExporterSpec>,
    applies: bool,
    default: fn() -> String,
) -> Option<String> {
    if !applies || spec.as_ref().is_some_and(|e| !e.enabled) {
        return None;
    }
    let img = spec
        .as_ref()
        .and_then(|e| e.image.clone())
        .unwrap_or_else(default);
    image(c, &format!("spec.monitoring.{field}.image"), &img);
    Some(img)
}

pub(super) fn backup(c: &mut Collector, spec: &AppStackSpec, has_db: bool) -> Option<Backup> {
    let b = spec.backup.as_ref().filter(|b| b.enabled)?;
    let p = "spec.backup";
    if !has_db {
        c.push(
            p,
            "backups need a database: add spec.database or set spec.backup.enabled: false",
        );
    }
    let target = target(c, p, b);
    let schedule = |c: &mut Collector,
                    field: &str,
                    s: &Option<crate::api::spec::ScheduleSpec>,
                    default: String| {
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
    let wal = wal(c, p, b);
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

/// Where backups go: a directory (`file:///path`) or a bucket (`s3://bucket/prefix`).
pub(super) fn target(c: &mut Collector, p: &str, b: &BackupSpec) -> BackupTarget {
    if let Some(path) = b.target.strip_prefix("file://") {
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
        if let Some(endpoint) = s3.and_then(|s| s.endpoint.as_deref()) {
            http_url(c, &format!("{p}.s3.endpoint"), endpoint);
        }
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
    }
}

/// Continuous WAL, streamed unless turned off.
fn wal(c: &mut Collector, p: &str, b: &BackupSpec) -> Option<Wal> {
    match &b.wal {
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
    }
}

pub(super) fn recovery(c: &mut Collector, spec: &AppStackSpec) -> Recovery {
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
