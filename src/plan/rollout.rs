//! How a change of a component reaches the running stack in Docker mode: beside the old
//! copy (blue/green) or by stopping it first. Pure: the driver, `plan` and `deploy` ask it.

use super::{Component, Mount, Role};

/// The way a component is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollout {
    /// The new container starts beside the old, takes traffic once healthy, and the old one
    /// drains and stops (kept, stopped, for `rollback`).
    BlueGreen,
    /// The old container stops before the new one starts, for the reason given.
    StopStart(&'static str),
}

impl Rollout {
    pub fn describe(self) -> &'static str {
        match self {
            Rollout::BlueGreen => "blue/green: new beside old, switch when healthy, drain",
            Rollout::StopStart(why) => why,
        }
    }
}

/// The rollout of `c`. Two copies are safe only for a stateless HTTP component: the data
/// stores own their volume, a published host port takes one binder, and the edge changes
/// its upstreams in place instead.
pub fn rollout(c: &Component) -> Rollout {
    match c.role {
        Role::Database | Role::Cache => {
            return Rollout::StopStart("stop, then start: one copy owns the data");
        }
        Role::Edge => {
            return Rollout::StopStart("stop, then start: it holds the web ports");
        }
        Role::Monitoring | Role::Backup => {
            return Rollout::StopStart("stop, then start: one copy writes its volume");
        }
        Role::Cms | Role::Frontend | Role::Service => {}
    }
    if c.ports.iter().any(|p| p.publish.is_some()) {
        return Rollout::StopStart("stop, then start: it publishes a host port");
    }
    // Uploaded files may be shared by two CMS copies; another service's volume may not.
    let exclusive_volume =
        c.role != Role::Cms && c.mounts.iter().any(|m| matches!(m, Mount::Volume { .. }));
    if exclusive_volume {
        return Rollout::StopStart("stop, then start: one copy writes its volume");
    }
    if c.health.is_none() {
        return Rollout::StopStart("stop, then start: without a health check no cutover is safe");
    }
    Rollout::BlueGreen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{load, validate};

    fn plan(text: &str) -> crate::plan::Plan {
        let stack = load::parse_str(text, "t").unwrap();
        crate::plan::build(&validate::validate(&stack, "t").unwrap())
    }

    #[test]
    fn only_stateless_unpublished_http_components_go_blue_green() {
        let p = plan(include_str!("../../examples/edge.yaml"));
        let of = |n: &str| rollout(p.component(n).unwrap());
        assert_eq!(of("frontend"), Rollout::BlueGreen);
        assert_eq!(of("cms"), Rollout::BlueGreen);
        assert!(matches!(of("database"), Rollout::StopStart(_)));
        assert!(matches!(of("cache"), Rollout::StopStart(_)));
        assert!(matches!(of("edge"), Rollout::StopStart(_)));
        assert!(matches!(of("prometheus"), Rollout::StopStart(_)));
        // Without the edge the quickstart publishes the frontend on the host.
        let q = plan(include_str!("../../examples/quickstart.yaml"));
        assert_eq!(
            rollout(q.component("frontend").unwrap()),
            Rollout::StopStart("stop, then start: it publishes a host port")
        );
    }
}
