//! The dated price table: what each provider charges, with the page each figure came from.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CostError;

/// The table committed with appstack (`data/prices.yaml`).
pub const BUILT_IN: &str = include_str!("../../data/prices.yaml");
/// How the built-in table is named in reports.
pub const BUILT_IN_NAME: &str = "data/prices.yaml (built in)";

/// A whole price table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriceTable {
    /// The day the figures were read from their sources.
    pub retrieved: String,
    /// What an hourly price is multiplied by for a month.
    pub hours_per_month: f64,
    pub providers: BTreeMap<String, Provider>,
}

/// One provider's offers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provider {
    pub name: String,
    /// ISO 4217 code of every price of this provider.
    pub currency: String,
    pub vps: PlanList<Machine>,
    pub block_storage: PerGib,
    pub object_storage: ObjectStorage,
    #[serde(default)]
    pub load_balancer: Option<Flat>,
    #[serde(default)]
    pub managed_database: Option<PlanList<DatabasePlan>>,
}

/// Plans of one kind, from one source page.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanList<T> {
    pub source: String,
    pub plans: Vec<T>,
}

/// A billed amount: a monthly figure, or an hourly one.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Price {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly: Option<f64>,
}

/// A virtual machine plan.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Machine {
    pub name: String,
    pub vcpu: f64,
    pub memory_gi_b: f64,
    #[serde(rename = "diskGB")]
    pub disk_gb: f64,
    #[serde(flatten)]
    pub price: Price,
}

/// A managed PostgreSQL plan.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabasePlan {
    pub name: String,
    pub vcpu: f64,
    pub memory_gi_b: f64,
    pub storage_gi_b: f64,
    #[serde(flatten)]
    pub price: Price,
}

/// A price per GiB and month.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PerGib {
    pub source: String,
    pub per_gi_b_month: f64,
}

/// Object storage: a subscription that includes some GiB, then a price per GiB.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectStorage {
    pub source: String,
    pub monthly: f64,
    pub included_gi_b: f64,
    pub per_gi_b_month: f64,
}

/// A flat monthly price.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Flat {
    pub source: String,
    pub monthly: f64,
}

impl PriceTable {
    /// Reads a table from `file`, or the built-in one.
    pub fn load(file: Option<&Path>) -> Result<(Self, String), CostError> {
        let (text, name) = match file {
            None => (BUILT_IN.to_string(), BUILT_IN_NAME.to_string()),
            Some(p) => {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| CostError::Prices {
                    file: name.clone(),
                    message: format!("cannot read it: {e}"),
                })?;
                (text, name)
            }
        };
        let table = Self::parse(&text).map_err(|message| CostError::Prices {
            file: name.clone(),
            message,
        })?;
        Ok((table, name))
    }

    /// Parses and checks a table; the message names the field at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let table: PriceTable = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        table.check()?;
        Ok(table)
    }

    fn check(&self) -> Result<(), String> {
        if !(self.hours_per_month > 0.0 && self.hours_per_month <= 744.0) {
            return Err("hoursPerMonth: expected a number of hours in (0, 744]".into());
        }
        if self.providers.is_empty() {
            return Err("providers: expected at least one provider".into());
        }
        for (key, p) in &self.providers {
            p.check().map_err(|m| format!("providers.{key}.{m}"))?;
        }
        Ok(())
    }

    /// The provider named `key`, or an error listing the known ones.
    pub fn provider(&self, key: &str) -> Result<&Provider, CostError> {
        self.providers
            .get(key)
            .ok_or_else(|| CostError::UnknownProvider {
                name: key.to_string(),
                known: self.providers.keys().cloned().collect(),
            })
    }
}

impl Provider {
    fn check(&self) -> Result<(), String> {
        if self.vps.plans.is_empty() {
            return Err("vps.plans: expected at least one plan".into());
        }
        for (i, m) in self.vps.plans.iter().enumerate() {
            positive(m.vcpu, m.memory_gi_b)
                .and(m.price.check())
                .map_err(|e| format!("vps.plans[{i}] ({}): {e}", m.name))?;
        }
        for (i, d) in self
            .managed_database
            .iter()
            .flat_map(|l| l.plans.iter())
            .enumerate()
        {
            positive(d.vcpu, d.memory_gi_b)
                .and(positive(d.storage_gi_b, 1.0))
                .and(d.price.check())
                .map_err(|e| format!("managedDatabase.plans[{i}] ({}): {e}", d.name))?;
        }
        let o = &self.object_storage;
        let figures = [
            (
                "blockStorage.perGiBMonth",
                self.block_storage.per_gi_b_month,
            ),
            ("objectStorage.monthly", o.monthly),
            ("objectStorage.includedGiB", o.included_gi_b),
            ("objectStorage.perGiBMonth", o.per_gi_b_month),
            (
                "loadBalancer.monthly",
                self.load_balancer.as_ref().map_or(0.0, |l| l.monthly),
            ),
        ];
        for (field, value) in figures {
            if !(value.is_finite() && value >= 0.0) {
                return Err(format!(
                    "{field}: expected a price of 0 or more, got {value}"
                ));
            }
        }
        Ok(())
    }
}

fn positive(a: f64, b: f64) -> Result<(), String> {
    if a.is_finite() && b.is_finite() && a > 0.0 && b > 0.0 {
        Ok(())
    } else {
        Err("expected sizes above 0".into())
    }
}

impl Price {
    fn check(&self) -> Result<(), String> {
        match (self.monthly, self.hourly) {
            (Some(v), None) | (None, Some(v)) if v.is_finite() && v >= 0.0 => Ok(()),
            (Some(_), Some(_)) => Err("expected one of monthly or hourly, not both".into()),
            _ => Err("expected a monthly or hourly price of 0 or more".into()),
        }
    }

    /// The month's amount, and how it was reached (for the report's basis column).
    pub fn per_month(&self, hours: f64) -> (f64, String) {
        match (self.monthly, self.hourly) {
            (_, Some(h)) => (h * hours, format!("{h}/h × {hours} h")),
            (Some(m), None) => (m, format!("{m}/month")),
            (None, None) => (0.0, "no price".into()),
        }
    }
}
