//! ConfigMaps (each component's rendered files, e.g. the Prometheus config and alert rules)
//! and Secrets (generated credentials). Secrets are created once and never rotated: the
//! controller creates one only when it is absent and never applies over it.

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

/// The stack's Secrets with freshly generated values (used only when they do not exist).
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
            Secret {
                metadata: meta(plan, owner, secret_name(plan, &s.name), stack_labels(plan)),
                string_data: Some(values),
                type_: Some("Opaque".into()),
                ..Default::default()
            }
        })
        .collect()
}
