//! Before a deploy changes anything: the image is here (or can be pulled), the component
//! runs healthy now, and the host has the memory for a second copy beside the first.

use crate::docker::engine::Health;
use crate::docker::health::wait_healthy;
use crate::docker::{apply::Applier, Engine};
use crate::plan::Component;

use super::DeployError;

const MIB: u64 = 1024 * 1024;

/// MemAvailable of /proc/meminfo, in bytes.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_available(&text)
}

fn parse_available(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemAvailable:")?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// Refuses unless `available` holds the new copy's memory (its limit: the most it may
/// take while the old one still runs).
pub fn memory_for_second_copy(c: &Component, available: Option<u64>) -> Result<(), DeployError> {
    let (Some(need), Some(have)) = (c.resources.memory_bytes, available) else {
        return Ok(());
    };
    if have < need {
        return Err(DeployError::Refused(format!(
            "not enough memory for a second {} beside the running one: it may take {} MiB, {} MiB are available, {} MiB missing (free memory or lower spec.{}.resources.memory)",
            c.name,
            need / MIB,
            have / MIB,
            (need - have).div_ceil(MIB),
            c.name
        )));
    }
    Ok(())
}

/// The component's container runs and is healthy (a deploy replaces a working version).
pub async fn serving<E: Engine>(applier: &Applier<E>, c: &Component) -> Result<(), DeployError> {
    let name = applier.plan.object_name(&c.name);
    let observed = applier.engine.list_containers(&applier.plan.stack).await?;
    match observed.iter().find(|o| o.name == name) {
        Some(o) if o.state == "running" && matches!(o.health, Health::Healthy | Health::None) => {
            Ok(())
        }
        // The engine's own check runs every 10 s: appstack's probe answers sooner.
        Some(o) if o.state == "running" && o.health == Health::Starting => {
            let (mut events, feeder) = applier.event_feed();
            let probed =
                wait_healthy(applier.engine.as_ref(), c, &name, &o.id, false, &mut events).await;
            feeder.abort();
            probed.map(|_| ()).map_err(|e| {
                DeployError::Refused(format!(
                    "{name} is not healthy ({e}): fix it before deploying"
                ))
            })
        }
        Some(o) => Err(DeployError::Refused(format!(
            "{name} is {} ({}): bring the stack up healthy first (`appstack up`)",
            o.state,
            o.health.as_str()
        ))),
        None => Err(DeployError::Refused(format!(
            "{name} does not exist: run `appstack up` first"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_is_read_and_a_short_host_is_refused_with_the_amount() {
        let text = "MemTotal:       2000000 kB\nMemAvailable:     102400 kB\n";
        assert_eq!(parse_available(text), Some(100 * MIB));
        let text = include_str!("../../examples/edge.yaml");
        let stack = crate::api::load::parse_str(text, "e").unwrap();
        let plan = crate::plan::build(&crate::api::validate::validate(&stack, "e").unwrap());
        let c = plan.component("frontend").unwrap();
        let need = c.resources.memory_bytes.unwrap();
        let err = memory_for_second_copy(c, Some(need - 10 * MIB)).unwrap_err();
        assert!(err.to_string().contains("10 MiB missing"), "{err}");
        assert!(memory_for_second_copy(c, Some(need)).is_ok());
    }
}
