//! Semantic validation: `AppStack` → `ValidatedStack`, every error collected and named by
//! field path. Nothing is applied unless this succeeds.

mod audit;
mod checks;
mod components;
mod edge;
mod fields;
mod graph;
mod protection;
mod reference;

use super::errors::{Collector, ValidationErrors};
use super::spec::AppStack;

pub use fields::is_dns_label;
pub use graph::container_port;

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

/// Where `target` (`file:///path` or `s3://bucket/prefix`, with `s3`'s settings) puts
/// backups; the reason when it names no store.
pub fn backup_target(
    target: &str,
    s3: Option<&crate::api::spec::S3Spec>,
) -> Result<super::validated::BackupTarget, String> {
    let mut c = Collector::default();
    let spec: crate::api::spec::BackupSpec =
        serde_json::from_value(serde_json::json!({"target": target, "s3": s3}))
            .map_err(|e| e.to_string())?;
    let t = protection::target(&mut c, "target", &spec);
    match c.finish("--from") {
        Ok(()) => Ok(t),
        Err(e) => Err(e
            .errors
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// Validates a parsed manifest; `origin` names the file in errors.
pub fn validate(stack: &AppStack, origin: &str) -> Result<ValidatedStack, ValidationErrors> {
    let mut c = Collector::default();
    let name = stack.metadata.name.clone().unwrap_or_default();
    if !is_dns_label(&name) || name.len() > 40 {
        c.push("metadata.name", format!("{name:?} is not a valid stack name (expected lowercase letters, digits and '-', at most 40 characters, starting with a letter)"));
    }
    let spec = &stack.spec;
    let database = components::database(&mut c, spec);
    let cache = components::cache(&mut c, spec);
    let cms = components::cms(&mut c, spec, database.is_some(), cache.is_some());
    let frontend = components::frontend(&mut c, spec, cms.is_some());
    let monitoring = protection::monitoring(&mut c, spec);
    let services = components::services(&mut c, spec);
    let graph = graph::graph(&database, &cache, &cms, &frontend, &monitoring, &services);
    graph::dependencies(&mut c, &graph);
    let published = graph::published_ports(&mut c, spec, &graph, &frontend, &cms, &services);
    let ingress = graph::ingress(&mut c, spec, &name);
    let backup = protection::backup(&mut c, spec, database.is_some());
    let recovery = protection::recovery(&mut c, spec);
    let health_check = checks::health_checks(
        &mut c,
        spec,
        database.is_some(),
        cms.is_some(),
        cache.is_some(),
    );

    let audit = audit::audit(&mut c, spec, database.is_some(), cache.is_some());

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
        health_check,
        audit,
        spec: spec.clone(),
    })
}
