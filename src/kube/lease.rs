//! Leader election through a `coordination.k8s.io/v1` Lease: one replica holds it and
//! renews it; the others wait for it to expire. Writes are made only while it is held, so
//! two replicas never both act. Replace carries the resourceVersion it read, so a lost
//! race is a 409, never two holders.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::Client;
use tracing::{info, warn};

/// Whether this replica may write.
#[derive(Debug, Clone, Default)]
pub struct Leadership(Arc<AtomicBool>);

impl Leadership {
    /// Always leader (single replica, tests).
    pub fn always() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    pub fn is_leader(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    pub fn set(&self, held: bool) {
        self.0.store(held, Ordering::SeqCst);
    }
}

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub duration: Duration,
}

impl LeaseConfig {
    fn renew_every(&self) -> Duration {
        self.duration / 3
    }
}

/// Acquires and renews the lease forever, updating `leadership`.
pub async fn run(client: Client, cfg: LeaseConfig, leadership: Leadership) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        let held = match try_acquire(&api, &cfg).await {
            Ok(held) => held,
            Err(e) => {
                warn!(lease = %cfg.name, "lease: {e}");
                false
            }
        };
        if held != leadership.is_leader() {
            info!(lease = %cfg.name, identity = %cfg.identity, held, "leadership changed");
        }
        leadership.set(held);
        tokio::time::sleep(cfg.renew_every()).await;
    }
}

/// One acquire-or-renew attempt; true when this identity holds the lease afterwards.
pub async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let current = match api.get_opt(&cfg.name).await? {
        Some(l) => l,
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(cfg.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        }
    };
    let spec = current.spec.clone().unwrap_or_default();
    let ours = spec.holder_identity.as_deref() == Some(cfg.identity.as_str());
    let expired = spec.renew_time.as_ref().is_none_or(|t| {
        let d = i64::from(spec.lease_duration_seconds.unwrap_or(secs));
        t.0.checked_add(SignedDuration::from_secs(d))
            .map_or(true, |end| end < now)
    });
    if !ours && !expired {
        return Ok(false);
    }
    let mut next = current.clone();
    next.spec = Some(LeaseSpec {
        holder_identity: Some(cfg.identity.clone()),
        lease_duration_seconds: Some(secs),
        acquire_time: if ours {
            spec.acquire_time.clone()
        } else {
            Some(MicroTime(now))
        },
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!ours)),
        ..Default::default()
    });
    match api.replace(&cfg.name, &PostParams::default(), &next).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
