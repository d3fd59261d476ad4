//! What limits the curve: read off its busiest step, in the order a resource runs out —
//! the database's connections, a container's memory, a container's CPU limit, a single
//! Node.js or Redis thread at a full core, the host's CPU.

use super::steps::Step;
use crate::plan::Role;

/// A share of a limit counted as reached.
const FULL: f64 = 0.85;

/// The named bottleneck of a curve, or what grew the latency when nothing ran out.
pub fn name(
    steps: &[Step],
    role_of: impl Fn(&str) -> Option<Role>,
    max_connections: Option<u32>,
    cores: u32,
) -> String {
    let Some(s) = steps.iter().max_by(|a, b| a.rps.total_cmp(&b.rps)) else {
        return "not measured".into();
    };
    if let (Some(used), Some(max)) = (s.db_connections, max_connections) {
        if used as f64 >= 0.9 * f64::from(max) {
            return format!("database connections ({used} of {max})");
        }
    }
    for c in &s.components {
        if let Some(limit) = c
            .memory_limit
            .filter(|l| c.memory_bytes as f64 >= 0.9 * *l as f64)
        {
            return format!(
                "memory of {} ({} of {} MiB)",
                c.component,
                c.memory_bytes >> 20,
                limit >> 20
            );
        }
    }
    for c in &s.components {
        if let Some(limit) = c.cpu_limit.filter(|l| c.cpu_cores >= FULL * l) {
            return format!(
                "CPU limit of {} ({:.2} of {limit} cores)",
                c.component, c.cpu_cores
            );
        }
    }
    for c in s.components.iter().filter(|c| c.cpu_cores >= FULL) {
        let what = match role_of(&c.component) {
            Some(Role::Cms) => "the CMS's worker: one Node.js process",
            Some(Role::Frontend) => "the frontend's one Node.js process",
            Some(Role::Cache) => "Redis: one thread",
            _ => continue,
        };
        return format!("{what} at {:.2} cores", c.cpu_cores);
    }
    if s.host_cpu_percent >= FULL * 100.0 {
        let top = s
            .components
            .iter()
            .max_by(|a, b| a.cpu_cores.total_cmp(&b.cpu_cores));
        return match top {
            Some(t) => format!(
                "host CPU ({:.0} % of {cores} cores; most in {} at {:.2} cores)",
                s.host_cpu_percent, t.component, t.cpu_cores
            ),
            None => format!("host CPU ({:.0} % of {cores} cores)", s.host_cpu_percent),
        };
    }
    match s
        .components
        .iter()
        .max_by(|a, b| a.cpu_cores.total_cmp(&b.cpu_cores))
    {
        Some(t) => format!(
            "no resource at its limit; busiest: {} at {:.2} cores",
            t.component, t.cpu_cores
        ),
        None => "no resource at its limit".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::usage::ComponentUsage;

    fn usage(component: &str, cpu: f64, cpu_limit: Option<f64>) -> ComponentUsage {
        ComponentUsage {
            component: component.into(),
            container: format!("s-{component}"),
            cpu_cores: cpu,
            cpu_limit,
            memory_bytes: 100 << 20,
            memory_limit: Some(1 << 30),
        }
    }

    fn step(components: Vec<ComponentUsage>, conns: i64, host: f64) -> Step {
        Step {
            users: 8,
            think_ms: 0.0,
            seconds: 8.0,
            sent: 1,
            failed: 0,
            rps: 10.0,
            mean_ms: 1.0,
            p50_ms: 1.0,
            p95_ms: 1.0,
            p99_ms: 1.0,
            stack_cpu_cores: 1.0,
            host_cpu_percent: host,
            stack_memory_bytes: 0,
            components,
            db_connections: Some(conns),
        }
    }

    fn role(c: &str) -> Option<Role> {
        match c {
            "cms" => Some(Role::Cms),
            "frontend" => Some(Role::Frontend),
            "database" => Some(Role::Database),
            _ => None,
        }
    }

    #[test]
    fn the_first_resource_to_run_out_is_named() {
        let s = step(
            vec![usage("cms", 0.97, None), usage("database", 0.3, None)],
            95,
            60.0,
        );
        assert_eq!(
            name(std::slice::from_ref(&s), role, Some(100), 2),
            "database connections (95 of 100)"
        );
        assert_eq!(
            name(&[s], role, Some(200), 2),
            "the CMS's worker: one Node.js process at 0.97 cores"
        );
        let s = step(vec![usage("database", 0.48, Some(0.5))], 5, 50.0);
        assert_eq!(
            name(&[s], role, Some(100), 2),
            "CPU limit of database (0.48 of 0.5 cores)"
        );
        let s = step(
            vec![usage("database", 0.7, None), usage("cms", 0.6, None)],
            5,
            95.0,
        );
        assert!(name(&[s], role, Some(100), 2)
            .starts_with("host CPU (95 % of 2 cores; most in database"));
    }
}
