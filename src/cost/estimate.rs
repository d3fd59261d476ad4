//! The monthly estimate: one line per thing billed, each with the plan chosen, the
//! arithmetic, and the source page of its price.

use serde::Serialize;

use super::prices::{Machine, PriceTable, Provider};
use super::sizing::{self, Needs, OS_RESERVE_GIB};
use super::store::StoreFigures;
use super::CostError;

/// Where the stack runs: one VPS, or a Kubernetes node pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Kubernetes,
}

/// One billed item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub item: String,
    /// The arithmetic of the low and high ends.
    pub basis: String,
    pub low: f64,
    pub high: f64,
    /// The price table's source page for this item.
    pub source: String,
}

/// A set of lines and their total range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bill {
    pub lines: Vec<Line>,
    pub total_low: f64,
    pub total_high: f64,
}

impl Bill {
    fn of(lines: Vec<Line>) -> Self {
        let total_low = lines.iter().map(|l| l.low).sum();
        let total_high = lines.iter().map(|l| l.high).sum();
        Bill {
            lines,
            total_low,
            total_high,
        }
    }
}

/// What the inputs to an estimate are, besides the plan.
pub struct Inputs<'a> {
    pub table: &'a PriceTable,
    pub provider: &'a Provider,
    pub runtime: Runtime,
    pub load_balancer: bool,
    pub store: &'a StoreFigures,
}

/// The machines for `needs`: one VPS in Docker mode (low: reservations with headroom;
/// high: every limit at once), the cheapest node pool in Kubernetes mode.
pub fn compute_line(needs: &Needs, i: &Inputs) -> Result<Line, CostError> {
    let hours = i.table.hours_per_month;
    let plans = &i.provider.vps.plans;
    let max_nodes = match i.runtime {
        Runtime::Docker => 1,
        Runtime::Kubernetes => 100,
    };
    let low_mem = needs.memory_low_gib() - OS_RESERVE_GIB;
    let low = pool(
        plans,
        needs.cpu_largest,
        needs.memory_largest_gib,
        needs.cpu_largest,
        low_mem,
        max_nodes,
        hours,
    )
    .ok_or_else(|| CostError::NoFit {
        provider: i.provider.name.clone(),
        need: format!(
            "{:.1} GiB of memory and {} cores",
            needs.memory_low_gib(),
            needs.cpu_largest
        ),
    })?;
    let high_mem = needs.memory_limits_gib;
    let high = pool(
        plans,
        needs.cpu_largest,
        needs.memory_largest_gib,
        needs.cpu_sum,
        high_mem,
        max_nodes,
        hours,
    );
    let (high_pool, high_note) = match high {
        Some(p) => (p, String::new()),
        None => (
            biggest(plans, hours, max_nodes),
            format!(
                " (no offer holds every limit, {:.1} GiB, at once)",
                needs.memory_high_gib()
            ),
        ),
    };
    let what = match i.runtime {
        Runtime::Docker => "Compute (one VPS)",
        Runtime::Kubernetes => "Compute (node pool)",
    };
    Ok(Line {
        item: what.into(),
        basis: format!(
            "low {} for reservations {:.2} GiB + 30 % + {OS_RESERVE_GIB} GiB per machine; \
             high {} for limits {:.2} GiB, {:.1} cores{high_note}",
            low.describe(hours),
            needs.memory_requests_gib,
            high_pool.describe(hours),
            needs.memory_limits_gib,
            needs.cpu_sum
        ),
        low: low.monthly(hours),
        high: high_pool.monthly(hours),
        source: i.provider.vps.source.clone(),
    })
}

/// `count` machines of one plan.
#[derive(Debug, Clone, Copy)]
struct Pool<'a> {
    machine: &'a Machine,
    count: u32,
}

impl Pool<'_> {
    fn monthly(&self, hours: f64) -> f64 {
        self.machine.price.per_month(hours).0 * f64::from(self.count)
    }

    fn describe(&self, hours: f64) -> String {
        let m = self.machine;
        format!(
            "{} × {} ({} vCPU, {} GiB; {})",
            self.count,
            m.name,
            m.vcpu,
            m.memory_gi_b,
            m.price.per_month(hours).1
        )
    }
}

/// The cheapest pool of at most `max` machines of one plan holding `cpu` cores and
/// `mem` GiB in all, each machine holding the largest container and its OS reserve.
#[allow(clippy::too_many_arguments)]
fn pool<'a>(
    plans: &'a [Machine],
    one_cpu: f64,
    one_mem: f64,
    cpu: f64,
    mem: f64,
    max: u32,
    hours: f64,
) -> Option<Pool<'a>> {
    plans
        .iter()
        .filter(|m| m.vcpu + 1e-9 >= one_cpu && m.memory_gi_b - OS_RESERVE_GIB + 1e-9 >= one_mem)
        .filter_map(|m| {
            let usable = m.memory_gi_b - OS_RESERVE_GIB;
            let by_mem = (mem / usable - 1e-9).ceil();
            let by_cpu = (cpu / m.vcpu - 1e-9).ceil();
            let count = by_mem.max(by_cpu).max(1.0);
            (count <= f64::from(max)).then_some(Pool {
                machine: m,
                count: count as u32,
            })
        })
        .min_by(|a, b| a.monthly(hours).total_cmp(&b.monthly(hours)))
}

fn biggest(plans: &[Machine], hours: f64, count: u32) -> Pool<'_> {
    let machine = plans
        .iter()
        .max_by(|a, b| {
            a.price
                .per_month(hours)
                .0
                .total_cmp(&b.price.per_month(hours).0)
        })
        .unwrap_or(&plans[0]);
    Pool { machine, count }
}

/// Block storage for the data volumes.
pub fn block_line(needs: &Needs, p: &Provider) -> Line {
    let gib = needs.volume_gib();
    let price = p.block_storage.per_gi_b_month;
    let names: Vec<String> = needs
        .volumes
        .iter()
        .map(|(n, g)| format!("{n} {g:.0}"))
        .collect();
    Line {
        item: "Block storage (volumes)".into(),
        basis: format!("{gib:.0} GiB ({}) × {price}/GiB", names.join(", ")),
        low: gib * price,
        high: gib * price,
        source: p.block_storage.source.clone(),
    }
}

/// Object storage for the backups.
pub fn object_line(store: &StoreFigures, p: &Provider) -> Line {
    let o = &p.object_storage;
    let cost = |gib: f64| o.monthly + (gib - o.included_gi_b).max(0.0) * o.per_gi_b_month;
    Line {
        item: "Object storage (backups)".into(),
        basis: format!(
            "{} + {}/GiB above {} GiB, for {:.1} to {:.1} GiB — {}",
            o.monthly,
            o.per_gi_b_month,
            o.included_gi_b,
            store.now_gib,
            store.retained_gib,
            store.basis
        ),
        low: cost(store.now_gib),
        high: cost(store.retained_gib),
        source: o.source.clone(),
    }
}

/// A load balancer in front, when asked for.
pub fn balancer_line(p: &Provider) -> Result<Line, CostError> {
    let lb = p
        .load_balancer
        .as_ref()
        .ok_or_else(|| CostError::NotOffered {
            provider: p.name.clone(),
            what: "a load balancer".into(),
        })?;
    Ok(Line {
        item: "Load balancer".into(),
        basis: format!("{}/month", lb.monthly),
        low: lb.monthly,
        high: lb.monthly,
        source: lb.source.clone(),
    })
}

/// The estimate's bills: the stack as specified, and with a managed database instead of
/// its own (when the provider offers one and the stack has a database).
pub fn bills(plan: &crate::plan::Plan, i: &Inputs) -> Result<(Bill, Option<Bill>), CostError> {
    let shared = |lines: &mut Vec<Line>| -> Result<(), CostError> {
        lines.push(object_line(i.store, i.provider));
        if i.load_balancer {
            lines.push(balancer_line(i.provider)?);
        }
        Ok(())
    };
    let all = Needs::of(plan, true);
    let mut lines = vec![compute_line(&all, i)?, block_line(&all, i.provider)];
    shared(&mut lines)?;
    let main = Bill::of(lines);
    let (Some(db_mem), Some(offers)) = (
        sizing::database_memory_gib(plan),
        &i.provider.managed_database,
    ) else {
        return Ok((main, None));
    };
    let hours = i.table.hours_per_month;
    let Some(db) = sizing::cheapest_database(&offers.plans, db_mem, hours) else {
        return Ok((main, None));
    };
    let rest = Needs::of(plan, false);
    let db_gib = all.volume_gib() - rest.volume_gib();
    let extra = (db_gib - db.storage_gi_b).max(0.0);
    let (db_price, db_basis) = db.price.per_month(hours);
    let block = i.provider.block_storage.per_gi_b_month;
    let mut lines = vec![compute_line(&rest, i)?, block_line(&rest, i.provider)];
    lines.push(Line {
        item: "Managed PostgreSQL".into(),
        basis: format!(
            "{} ({} vCPU, {} GiB, {} GiB storage; {db_basis}) + {extra:.0} GiB more × {block}/GiB",
            db.name, db.vcpu, db.memory_gi_b, db.storage_gi_b
        ),
        low: db_price + extra * block,
        high: db_price + extra * block,
        source: offers.source.clone(),
    });
    shared(&mut lines)?;
    Ok((main, Some(Bill::of(lines))))
}
