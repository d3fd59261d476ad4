//! Semantic validation: `AppStack` → `ValidatedStack`, every error collected and named by
//! field path. Nothing is applied unless this succeeds.

mod components;
mod fields;
mod graph;
mod protection;

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
