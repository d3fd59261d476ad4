//! Leader election through a `coordination.k8s.io/v1` Lease: one replica holds it and
//! renews it; the others wait for it to expire. Writes are made only while it is held, so
//! two replicas never both act. Replace carries the resourceVersion it read, so a lost
//! race is a 409, never two holders. A replica that does not hold the lease knows why (who
//! holds it, or what the API said), so its reconciles can say so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::Client;
use tracing::{info, warn};

/// Whether this replica may write, and if not, why.
#[derive(Debug, Clone, Default)]
pub struct Leadership {
    held: Arc<AtomicBool>,
    why: Arc<RwLock<String>>,
}

impl Leadership {
    /// Always leader (single replica, tests).
    pub fn always() -> Self {
        let l = Self::default();
        l.set(true);
        l
    }

    pub fn is_leader(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }

    pub fn set(&self, held: bool) {
        self.held.store(held, Ordering::SeqCst);
    }

    /// Not the leader, for `reason` (who holds the lease, or what went wrong).
    pub fn wait(&self, reason: String) {
        if let Ok(mut w) = self.why.write() {
            *w = reason;
        }
        self.set(false);
    }

    /// Why writes are held back, for logs and errors.
    pub fn why_not(&self) -> String {
        let why = self.why.read().map(|w| w.clone()).unwrap_or_default();
        if why.is_empty() {
            "the leader lease has not been acquired yet".into()
        } else {
            why
        }
    }
}

/// The outcome of one acquire-or-renew attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This replica holds the lease.
    Us,
    /// Another replica holds it, last renewed at `renewed`.
    Other { identity: String, renewed: String },
    /// A write raced with another replica's (409); the next attempt reads again.
    Raced,
}

/// Why the lease cannot be used at all; the operator stops rather than wait forever.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("the lease namespace \"{namespace}\" does not exist: create it (kubectl create namespace {namespace}) or pass --lease-namespace (env POD_NAMESPACE) naming the operator's own namespace")]
    NamespaceMissing { namespace: String },
    #[error("not allowed to use the lease {namespace}/{name}: {message}. The operator's Role grants get, create and update on leases.coordination.k8s.io in its own namespace only: is --lease-namespace (env POD_NAMESPACE) \"{namespace}\" that namespace?")]
    Forbidden {
        namespace: String,
        name: String,
        message: String,
    },
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
}

impl LeaseError {
    /// True when retrying cannot help: the operator should exit.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, LeaseError::Api { .. })
    }

    fn from_api(cfg: &LeaseConfig, e: kube::Error, creating: bool) -> Self {
        match e {
            kube::Error::Api(s) if s.code == 404 && creating => LeaseError::NamespaceMissing {
                namespace: cfg.namespace.clone(),
            },
            kube::Error::Api(s) if s.code == 403 => LeaseError::Forbidden {
                namespace: cfg.namespace.clone(),
                name: cfg.name.clone(),
                message: s.message,
            },
            source => LeaseError::Api {
                namespace: cfg.namespace.clone(),
                name: cfg.name.clone(),
                source,
            },
        }
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

/// The first acquire attempt, before anything else starts: a missing namespace or missing
/// rights end the operator here, with the reason, instead of a silent retry loop.
pub async fn first(
    client: Client,
    cfg: &LeaseConfig,
    leadership: &Leadership,
) -> Result<(), LeaseError> {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    match acquire(&api, cfg).await {
        Ok(h) => {
            record(cfg, leadership, &h);
            Ok(())
        }
        Err(e) if e.is_fatal() => Err(e),
        Err(e) => {
            warn!(lease = %cfg.name, "{e}");
            leadership.wait(e.to_string());
            Ok(())
        }
    }
}

/// Acquires and renews the lease forever, updating `leadership`.
pub async fn run(client: Client, cfg: LeaseConfig, leadership: Leadership) {
    let api: Api<Lease> = Api::namespaced(client, &cfg.namespace);
    loop {
        tokio::time::sleep(cfg.renew_every()).await;
        match acquire(&api, &cfg).await {
            Ok(h) => record(&cfg, &leadership, &h),
            Err(e) => {
                warn!(lease = %cfg.name, "{e}");
                leadership.wait(e.to_string());
            }
        }
    }
}

fn record(cfg: &LeaseConfig, leadership: &Leadership, holder: &Holder) {
    let held = *holder == Holder::Us;
    if held != leadership.is_leader() {
        info!(lease = %cfg.name, identity = %cfg.identity, held, "leadership changed");
    }
    match holder {
        Holder::Us => leadership.set(true),
        Holder::Other { identity, renewed } => leadership.wait(format!(
            "lease {}/{} is held by \"{identity}\" (renewed {renewed}); this replica is \"{}\" and waits for it to expire",
            cfg.namespace, cfg.name, cfg.identity
        )),
        Holder::Raced => leadership.wait(format!(
            "lease {}/{} changed under this replica (\"{}\"); reading it again",
            cfg.namespace, cfg.name, cfg.identity
        )),
    }
}

/// One acquire-or-renew attempt; true when this identity holds the lease afterwards.
pub async fn try_acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<bool, LeaseError> {
    acquire(api, cfg).await.map(|h| h == Holder::Us)
}

/// One acquire-or-renew attempt, saying who holds the lease afterwards.
pub async fn acquire(api: &Api<Lease>, cfg: &LeaseConfig) -> Result<Holder, LeaseError> {
    let now = Timestamp::now();
    let secs = i32::try_from(cfg.duration.as_secs()).unwrap_or(i32::MAX);
    let current = match api
        .get_opt(&cfg.name)
        .await
        .map_err(|e| LeaseError::from_api(cfg, e, false))?
    {
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
                Ok(_) => Ok(Holder::Us),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Holder::Raced),
                Err(e) => Err(LeaseError::from_api(cfg, e, true)),
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
        return Ok(Holder::Other {
            identity: spec.holder_identity.clone().unwrap_or_default(),
            renewed: spec
                .renew_time
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| "never".into()),
        });
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
        Ok(_) => Ok(Holder::Us),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Holder::Raced),
        Err(e) => Err(LeaseError::from_api(cfg, e, false)),
    }
}
