//! A component's setup step as a one-shot compose service: it runs at every
//! `docker-compose up`, once the database is healthy, with the component's config files and
//! the step's secrets mounted (the exported stack has no appstack to do it after `up`).

use serde_json::{json, Map, Value};

use super::{esc, file_volume, secret_volume};
use crate::plan::{Component, Plan};

/// The one-shot service of `c`'s setup step, named after the step.
pub fn service(plan: &Plan, c: &Component) -> Option<(String, Map<String, Value>)> {
    let step = c.setup.as_ref()?;
    let mut s = Map::new();
    s.insert("image".into(), json!(step.image));
    s.insert("container_name".into(), json!(plan.object_name(&step.name)));
    s.insert(
        "command".into(),
        json!(step.args.iter().map(|a| esc(a)).collect::<Vec<_>>()),
    );
    s.insert("environment".into(), json!(step.env));
    let mut volumes: Vec<String> = c.files.iter().map(|f| file_volume(c, f)).collect();
    volumes.extend(step.secrets.iter().map(secret_volume));
    s.insert("volumes".into(), json!(volumes));
    // The step talks to what its component talks to (the exporter's step: PostgreSQL), so
    // it joins the same networks.
    s.insert("networks".into(), json!(super::network_keys(plan, c)));
    // Compose's default restart ("no") runs it once per `up`.
    if !step.depends_on.is_empty() {
        s.insert("depends_on".into(), super::depends_on(&step.depends_on));
    }
    Some((step.name.clone(), s))
}
