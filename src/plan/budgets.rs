//! Default memory budgets: every container gets a limit, so one leaking process is
//! OOM-killed and restarted instead of taking the host (and PostgreSQL with it), and a
//! smaller reservation, so the budgets of a whole stack fit a small VPS or node.
//!
//! Figures: resident memory measured on the quickstart at rest (Directus 208 MiB, Next.js
//! 62 MiB, PostgreSQL 57 MiB, Prometheus 35 MiB, every exporter under 20 MiB), with the
//! limit at several times that so load, caches and imports have room.

use super::{Resources, Role, DEFAULT_PIDS};
use crate::api::validated as v;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A component's memory: the hard limit and the reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub request: u64,
}

impl Budget {
    const fn mib(limit: u64, request: u64) -> Self {
        Budget {
            limit: limit * MIB,
            request: request * MIB,
        }
    }
}

/// The default budget of a component, by what it is.
pub fn default_for(name: &str, role: Role) -> Budget {
    match (role, name) {
        // shared_buffers (128 MiB) plus a backend per connection, plus sorts and vacuum.
        (Role::Database, _) => Budget {
            limit: 2 * GIB,
            request: 256 * MIB,
        },
        (Role::Cms, _) => Budget {
            limit: GIB,
            request: 256 * MIB,
        },
        (Role::Frontend, _) => Budget {
            limit: GIB,
            request: 128 * MIB,
        },
        (Role::Service, _) => Budget::mib(512, 64),
        (Role::Monitoring, "prometheus") => Budget {
            limit: GIB,
            request: 128 * MIB,
        },
        // appstack's own shipper holds compression and upload buffers.
        (Role::Backup, super::wal::WAL_SHIPPER) => Budget::mib(256, 64),
        // Caddy: buffers of the proxied connections.
        (Role::Edge, _) => Budget::mib(256, 64),
        (Role::Cache | Role::Monitoring | Role::Backup, _) => Budget::mib(128, 32),
    }
}

/// Redis holds up to maxmemory of data, and a persistence fork can copy every page it
/// writes meanwhile: twice maxmemory, plus the server itself.
pub fn cache_budget(maxmemory: u64) -> Budget {
    Budget {
        limit: maxmemory.saturating_mul(2).saturating_add(64 * MIB),
        request: maxmemory.saturating_add(32 * MIB),
    }
}

/// The spec's resources over the default budget: a memory limit the spec sets is also the
/// reservation unless it sets one; a reservation alone raises the limit when above it.
pub fn resolve(spec: v::Resources, default: Budget) -> Resources {
    let (limit, request) = match (spec.memory_bytes, spec.memory_request_bytes) {
        (Some(l), Some(r)) => (l, r.min(l)),
        (Some(l), None) => (l, l),
        (None, Some(r)) => (default.limit.max(r), r),
        (None, None) => (default.limit, default.request),
    };
    Resources {
        cpu_millis: spec.cpu_millis,
        memory_bytes: Some(limit),
        memory_request_bytes: Some(request),
        pids: DEFAULT_PIDS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_wins_and_a_limit_alone_is_also_the_reservation() {
        let d = Budget::mib(1024, 256);
        let r = resolve(v::Resources::default(), d);
        assert_eq!(
            (r.memory_bytes, r.memory_request_bytes),
            (Some(GIB), Some(256 * MIB))
        );
        let set = v::Resources {
            memory_bytes: Some(300 * MIB),
            ..Default::default()
        };
        let r = resolve(set, d);
        assert_eq!(
            (r.memory_bytes, r.memory_request_bytes),
            (Some(300 * MIB), Some(300 * MIB))
        );
        let request_only = v::Resources {
            memory_request_bytes: Some(2 * GIB),
            ..Default::default()
        };
        let r = resolve(request_only, d);
        assert_eq!(
            (r.memory_bytes, r.memory_request_bytes),
            (Some(2 * GIB), Some(2 * GIB))
        );
    }

    #[test]
    fn redis_gets_room_for_a_fork_beyond_maxmemory() {
        let b = cache_budget(256 * MIB);
        assert_eq!(b.limit, 576 * MIB);
        assert!(b.request > 256 * MIB && b.request < b.limit);
        assert_eq!(cache_budget(u64::MAX).limit, u64::MAX);
    }
}
