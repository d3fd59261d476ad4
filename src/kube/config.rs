//! ConfigMaps (each component's rendered files, e.g. the Prometheus config and alert rules)
//! and Secrets (generated credentials). Secrets are created once and never rotated: the
//! controller creates one only when it is absent, and adds to an existing one only the
//! generated keys a newer release introduced, never touching a value that is there.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::meta::{component_meta, meta, stack_labels, Owner};
use super::pod::{config_map_name, secret_name};
use crate::plan::{Plan, SecretSource};

pub fn config_maps(plan: &Plan, owner: &Owner) -> Vec<ConfigMap> {
    plan.components
        .iter()
        .filter(|c| !c.files.is_empty())
        .map(|c| {
            let mut m = component_meta(plan, owner, c, "");
            m.name = Some(config_map_name(plan, c));
            ConfigMap {
                metadata: m,
                data: Some(
                    c.files
                        .iter()
                        .map(|f| (f.name.clone(), f.content.clone()))
                        .collect(),
                ),
                ..Default::default()
            }
        })
        .collect()
}

/// Annotation naming a Secret's keys rendered from its other keys (they cannot be added to
/// an existing Secret without its values, so a sync never adds them).
pub const DERIVED_KEYS: &str = "appstack.io/derived-keys";

/// The stack's Secrets with freshly generated values (used only where absent).
pub fn secrets(
    plan: &Plan,
    owner: &Owner,
    generate: &mut dyn FnMut(usize) -> String,
) -> Vec<Secret> {
    plan.secrets
        .iter()
        .map(|s| {
            let mut values: BTreeMap<String, String> = BTreeMap::new();
            for k in &s.keys {
                if let SecretSource::Generated { length } = &k.source {
                    values.insert(k.key.clone(), generate(*length));
                }
            }
            for k in &s.keys {
                if let SecretSource::Template { template } = &k.source {
                    let mut text = template.clone();
                    for (name, v) in &values {
                        text = text.replace(&format!("${{{name}}}"), v);
                    }
                    values.insert(k.key.clone(), text);
                }
            }
            let derived: Vec<&str> = s
                .keys
                .iter()
                .filter(|k| matches!(k.source, SecretSource::Template { .. }))
                .map(|k| k.key.as_str())
                .collect();
            let mut metadata = meta(plan, owner, secret_name(plan, &s.name), stack_labels(plan));
            if !derived.is_empty() {
                metadata
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(DERIVED_KEYS.into(), derived.join(","));
            }
            Secret {
                metadata,
                string_data: Some(values),
                type_: Some("Opaque".into()),
                ..Default::default()
            }
        })
        .collect()
}
