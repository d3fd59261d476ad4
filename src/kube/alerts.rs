//! Kubernetes mode of the alert log receiver: the stacks' Alertmanager posts to the
//! operator's Service (`<stack>-appstack`, an ExternalName); each notification goes to the
//! operator's log as one structured line and becomes an Event on the AppStack it is about
//! (Warning while firing, Normal once resolved), so `kubectl describe stack` shows it.

use kube::api::{Api, ListParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use tracing::{info, warn};

use crate::api::AppStack;
use crate::ops::alert_log::{parse, LogLine};
use crate::telemetry::http::AlertSink;

pub struct EventSink {
    pub client: Client,
    /// The namespace the operator watches (None: every namespace).
    pub namespace: Option<String>,
}

/// The Event a notification becomes.
pub fn event_of(line: &LogLine) -> Event {
    let firing = line.status == "firing";
    let names: Vec<String> = line
        .alerts
        .iter()
        .map(|a| {
            if a.summary.is_empty() {
                a.alertname.clone()
            } else {
                format!("{}: {}", a.alertname, a.summary)
            }
        })
        .collect();
    // Event notes are limited to 1 KiB.
    let mut note = names.join("; ");
    if note.len() > 1000 {
        let cut = (0..=1000)
            .rev()
            .find(|i| note.is_char_boundary(*i))
            .unwrap_or(0);
        note.truncate(cut);
    }
    Event {
        type_: if firing {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: if firing {
            "AlertFiring"
        } else {
            "AlertResolved"
        }
        .into(),
        note: Some(note),
        action: "Alert".into(),
        secondary: None,
    }
}

impl AlertSink for EventSink {
    fn deliver(&self, stack: &str, body: &[u8]) -> Result<(), (bool, String)> {
        let line = parse(stack, body).map_err(|e| (false, e.to_string()))?;
        let names: Vec<&str> = line.alerts.iter().map(|a| a.alertname.as_str()).collect();
        info!(stack, status = %line.status, alerts = ?names, receiver = %line.receiver, "alert notification");
        let api: Api<AppStack> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let recorder = Recorder::new(
            self.client.clone(),
            Reporter {
                controller: "appstack-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        let name = stack.to_string();
        tokio::spawn(async move {
            let ev = event_of(&line);
            let stacks = match api.list(&ListParams::default()).await {
                Ok(l) => l.items,
                Err(e) => {
                    warn!(stack = %name, error = %e, "cannot list AppStacks for the alert's Event");
                    return;
                }
            };
            for s in stacks
                .iter()
                .filter(|s| s.meta().name.as_deref() == Some(&name))
            {
                if let Err(e) = recorder.publish(&ev, &s.object_ref(&())).await {
                    warn!(stack = %name, error = %e, "cannot publish the alert's Event");
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_is_a_warning_and_resolved_is_normal() {
        let body = |status: &str| {
            format!(
                r#"{{"status":"{status}","receiver":"default","alerts":[{{"status":"{status}","labels":{{"alertname":"SiteDown"}},"annotations":{{"summary":"web down"}}}}]}}"#
            )
        };
        let firing = event_of(&parse("shop", body("firing").as_bytes()).unwrap());
        assert_eq!(firing.type_, EventType::Warning);
        assert_eq!(firing.reason, "AlertFiring");
        assert_eq!(firing.note.as_deref(), Some("SiteDown: web down"));
        let resolved = event_of(&parse("shop", body("resolved").as_bytes()).unwrap());
        assert_eq!(resolved.type_, EventType::Normal);
    }
}
