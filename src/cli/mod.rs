//! The command line: one file per subcommand; this file holds the argument types.

mod alert_test;
mod audit;
pub(crate) mod backup;
mod common;
mod cost;
mod crd;
mod deploy;
mod down;
mod drill;
mod export;
mod health_check;
mod load;
mod logs;
mod operator;
mod plan;
mod recover;
mod render;
mod restore;
mod rollback;
mod run;
mod source;
mod status;
mod up;
mod validate;
mod wal;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use common::{CliError, Exit};

const ABOUT: &str =
    "Runs a whole web application stack (frontend, CMS, PostgreSQL/PostGIS, Redis, \
monitoring) from one declarative AppStack manifest, and keeps its data recoverable.";

const AFTER: &str = "Exit codes: 0 success, 1 runtime failure, 2 invalid input (nothing applied).

Examples:
  appstack validate -f examples/quickstart.yaml
  appstack up -f examples/quickstart.yaml
  appstack status -f examples/quickstart.yaml -o json
  appstack run -f examples/quickstart.yaml
  appstack drill -f examples/quickstart.yaml";

#[derive(Debug, Parser)]
#[command(name = "appstack", version, about = ABOUT, after_help = AFTER)]
pub struct Cli {
    /// Directory for secrets and state (0700).
    #[arg(
        long,
        global = true,
        env = "APPSTACK_STATE_DIR",
        default_value = "/var/lib/appstack"
    )]
    pub state_dir: PathBuf,
    /// Log filter (error, warn, info, debug, trace or a tracing directive).
    #[arg(long, global = true, env = "APPSTACK_LOG", default_value = "warn")]
    pub log_level: String,
    /// How backups and restores move volume data: `auto` reads and writes the volume's
    /// directory directly when it is reachable (appstack as root on the engine's host),
    /// `engine` only through the engine's API (slower; for a remote engine or when
    /// appstack must not touch the engine's files).
    #[arg(
        long,
        global = true,
        env = "APPSTACK_VOLUME_IO",
        value_enum,
        default_value_t
    )]
    pub volume_io: crate::docker::VolumeIo,
    #[command(subcommand)]
    pub command: Command,
}

/// The manifest argument most commands share.
#[derive(Debug, clap::Args)]
pub struct FileArg {
    /// The AppStack manifest (YAML).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a manifest; print every error with its field path.
    #[command(
        after_help = "Examples:\n  appstack validate -f examples/crm.yaml\n  appstack validate -f stack.yaml -o json"
    )]
    Validate(validate::Args),
    /// Show what `up` would change (the steps as a table), changing nothing.
    #[command(after_help = "Examples:\n  appstack plan -f examples/quickstart.yaml")]
    Plan(plan::Args),
    /// Apply the manifest to the local Docker engine and wait until every component is healthy.
    #[command(
        after_help = "Examples:\n  appstack up -f examples/quickstart.yaml\n  appstack up -f stack.yaml --no-wait"
    )]
    Up(up::Args),
    /// Stop and remove the stack's containers; volumes (data) are kept unless --volumes.
    #[command(
        after_help = "Examples:\n  appstack down -f examples/quickstart.yaml\n  appstack down -f stack.yaml --volumes --yes   # deletes the data too"
    )]
    Down(down::Args),
    /// Show the state and health of every component.
    #[command(
        after_help = "Examples:\n  appstack status -f examples/quickstart.yaml\n  appstack status -f stack.yaml -o json"
    )]
    Status(status::Args),
    /// Check security, connectivity, storage, recoverability and runtime of a running stack.
    #[command(
        name = "health-check",
        after_help = "Each check has an id, a group, a level (error or warning), the evidence it saw and\nthe manifest change that fixes it. Exit 0 when all pass, 1 on a failed error (with\n--strict also on a failed warning), 2 when the stack does not run here (or its AppStack does not\nvalidate). Run it after every deploy and every restore. In Kubernetes, --stack reads the\nAppStack, its pods, Services and Secrets and its status; commands run through pods/exec and\nHTTP through a port-forward. What the application needs goes in spec.healthCheck\n(coreTables, queue: {key, maxBacklog}); spec.cms.adminAllowlist adds\nsecurity.admin-allowlist. Every check: docs/operations.md.\n\nExamples:\n  appstack health-check -f examples/quickstart.yaml --strict\n  appstack health-check -f stack.yaml -o json\n  appstack health-check --stack shop --namespace prod --strict"
    )]
    HealthCheck(health_check::Args),
    /// Send a test alert through the running Alertmanager and report each receiver.
    #[command(
        name = "alert-test",
        after_help = "Posts a synthetic alert (AppstackAlertTest, severity info) to the stack's running\nAlertmanager and waits until the alert log (written by `appstack run`) and the webhook\n(spec.monitoring.alertmanager.webhookUrl) got it; prints where it went and how long it\ntook. Exit 1 when a receiver did not get it.\n\nExamples:\n  appstack alert-test -f examples/quickstart.yaml\n  appstack alert-test -f stack.yaml --wait 2m"
    )]
    AlertTest(alert_test::Args),
    /// Print the logs of one or all components.
    #[command(
        after_help = "Examples:\n  appstack logs --file examples/quickstart.yaml cms --tail 50\n  appstack logs --file stack.yaml -f"
    )]
    Logs(logs::Args),
    /// Run as a daemon: reconcile continuously, restart unhealthy containers, serve /metrics.
    #[command(
        after_help = "Examples:\n  appstack run -f examples/quickstart.yaml\n  appstack run -f a.yaml -f b.yaml --listen 127.0.0.1:9464"
    )]
    Run(run::Args),
    /// Ship a new image of a stateless component without an outage: pre-flight, optional
    /// maintenance page and migration, blue/green cutover, health check and a watch window
    /// under a built-in probe, automatic rollback when the new version does worse.
    #[command(
        after_help = "The new container starts beside the running one; the edge switches new requests to it\nonce it is healthy (its config reloaded in place, never restarted), the old one finishes\nits requests (spec.ingress.edge.drainSeconds) and is kept, stopped, for `appstack rollback`.\nA probe sends --rate requests/s to the public route through the edge and prints sent,\nfailed and p50/p99 before, during and after the switch. Exit 0 when deployed, 1 when\nrefused, aborted (the old version kept serving) or rolled back, 2 on bad input.\nWithout --write the manifest still names the old image: the next `up` (or `run`) goes back to it.\n\nExamples:\n  appstack deploy -f examples/edge.yaml frontend --image registry.example/web:1.4.3\n  appstack deploy -f stack.yaml cms --image appstack/directus:11.17 --migrate --maintenance --write\n  appstack deploy -f stack.yaml frontend --image web:2 --watch 2m -o json\n  appstack deploy --stack shop --namespace prod frontend --image registry.example/web:1.4.3   # Kubernetes: patches the AppStack, waits for the rolling update, rolls the spec back on failure"
    )]
    Deploy(deploy::Args),
    /// Switch a component back to the version it replaced (kept stopped after a blue/green
    /// replacement); the spec's version is then held until the spec changes.
    #[command(
        after_help = "Examples:\n  appstack rollback -f examples/edge.yaml frontend\n  appstack rollback -f stack.yaml frontend   # again: forward to the version rolled back from"
    )]
    Rollback(rollback::Args),
    /// Audit the running stack's performance: each route's DNS, connect, TLS, TTFB and total
    /// (p50/p95/p99 over new connections), the host's and every component's CPU and memory
    /// headroom (cgroup files), the job queues of spec.audit.queues, the database's findings
    /// with proven missing indexes, the capacity for --users, recommendations, and verdicts
    /// against spec.audit.targets. Bounded by --max-duration; traffic stays on this host.
    /// With --stack, the same through the cluster's API (port-forwards, pods/exec, the
    /// metrics API), without the capacity test.
    #[command(
        after_help = "Exit 0 with the report (verdicts included), 1 when the stack cannot be reached, 2 on bad input.\n\nExamples:\n  appstack audit -f examples/quickstart.yaml\n  appstack audit -f stack.yaml --samples 50 -o json --out audit-2026-12-04\n  appstack audit --stack shop --namespace prod --apply-indexes"
    )]
    Audit(audit::Args),
    /// Put a bounded HTTP load on one URL and print throughput and latency percentiles
    /// (the audit's load generator: closed model with --users and --think, or open model
    /// with --rate; latencies corrected for coordinated omission).
    #[command(
        after_help = "Examples:\n  appstack load http://127.0.0.1:3000/ --users 50 --duration 20s\n  appstack load https://app.localtest/ --connect-to 127.0.0.1:8443 --cacert root.crt --rate 200\n  appstack load http://127.0.0.1:8080/ --users 64 --threads 1 -o json"
    )]
    Load(load::Args),
    /// Estimate the monthly cost of running the stack: the smallest VPS (or node pool)
    /// that holds its resources with headroom, block storage for its volumes, object
    /// storage for its backups (measured from the store), a load balancer, and a managed
    /// database as the alternative, from a dated price table naming its sources.
    #[command(
        after_help = "Exit 0 with the estimate, 1 when no offer fits, 2 on bad input (an unknown provider, a\nprice table with a bad field).\n\nExamples:\n  appstack cost -f examples/crm.yaml\n  appstack cost -f examples/crm.yaml --provider hetzner --load-balancer\n  appstack cost -f stack.yaml --runtime kubernetes -o json\n  appstack cost -f stack.yaml --prices my-prices.yaml --provider mycloud"
    )]
    Cost(cost::Args),
    /// Take, list and verify backups.
    #[command(subcommand)]
    Backup(backup::Command),
    /// Continuous WAL shipping (the Kubernetes sidecar; `run` ships WAL itself in Docker mode).
    #[command(subcommand)]
    Wal(wal::Command),
    /// Restore a verified base backup (and the WAL after it, to a point in time) into a new,
    /// isolated stack, or with --force into the stack itself, and bring it up healthy.
    #[command(
        after_help = "Examples:\n  appstack restore -f examples/quickstart.yaml --into quickstart-copy\n  appstack restore -f stack.yaml --into crm-drill --to 2026-11-23T10:15:00Z\n  appstack restore -f stack.yaml --into crm-drill --to base-20261123T020000.000Z\n  appstack restore -f stack.yaml --into crm-dump --from-dump dump-20261123T031500.000Z\n  appstack restore -f stack.yaml --to 2026-11-23T10:15:00Z --force   # in place, after a safety backup"
    )]
    Restore(restore::Args),
    /// Run a DR drill: restore the latest recoverable state into the isolated copy
    /// `<stack>-drill` from nothing but the store and the key, run the checks a user makes
    /// after a disaster, measure RTO (by phase) and RPO against spec.recovery, keep a report
    /// (JSON, Markdown and an SVG timeline, in the store and the state directory) and
    /// remove the copy. Exits 1 when an objective is missed or the store lacks anything a
    /// lost host would need.
    #[command(
        after_help = "Examples:\n  appstack drill -f examples/quickstart.yaml\n  appstack drill -f stack.yaml --json > drill.json\n  appstack drill -f stack.yaml --keep    # inspect the copy, then:\n  appstack drill -f stack.yaml --clean\n  appstack drill -f stack.yaml --to random          # a random point, checked by heartbeat\n  appstack drill -f stack.yaml --inject-fault corrupt-base   # must fail (exit 1)\n  appstack drill history -f stack.yaml"
    )]
    Drill(drill::Args),
    /// Rebuild a lost host's stack on this one from nothing but the backup store and the
    /// key: the manifest as applied and the sealed secrets come from the store, the
    /// database is restored (base backup + WAL to the target), the uploads from the newest
    /// files backup taken at or before the target (uploads newer than that backup are not
    /// in it, though the database may reference them). The stack comes up under its own
    /// name and ports, passes the drill's smoke checks, and RTO and the restored point are
    /// printed. Refused when a stack of that name exists here, the key is missing or wrong
    /// for sealed secrets, or the store has nothing recoverable.
    #[command(after_help = "Examples:
  appstack recover --from s3://backups/appstack --s3-endpoint https://s3.example.net --stack quickstart --key /etc/appstack/backup.key
  appstack recover --from file:///mnt/backups --stack crm --to 2026-11-23T10:15:00Z
  appstack recover --from file:///mnt/backups --stack crm -f new-host.yaml   # other ports or images here")]
    Recover(recover::Args),
    /// Export the stack in another format.
    #[command(subcommand)]
    Export(export::Target),
    /// Run the Kubernetes operator: reconcile AppStack resources into their children.
    #[command(
        after_help = "Examples:\n  appstack operator\n  appstack operator --namespace shop --listen 0.0.0.0:8080"
    )]
    Operator(operator::Args),
    /// Render the stack for another runtime.
    #[command(subcommand)]
    Render(render::Target),
    /// Print the AppStack CustomResourceDefinition (YAML).
    #[command(after_help = "Examples:\n  appstack crd > crds/appstack.yaml")]
    Crd,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    crate::docker::engine::set_volume_io(cli.volume_io);
    if uses_state_dir(&cli.command) {
        crate::secrets::private_state_dir(&cli.state_dir)?;
    }
    match cli.command {
        Command::Validate(a) => validate::run(a),
        Command::Plan(a) => plan::run(a, &cli.state_dir).await,
        Command::Up(a) => up::run(a, &cli.state_dir).await,
        Command::Down(a) => down::run(a, &cli.state_dir).await,
        Command::Status(a) => status::run(a, &cli.state_dir).await,
        Command::AlertTest(a) => alert_test::run(a, &cli.state_dir).await,
        Command::HealthCheck(a) => health_check::run(a, &cli.state_dir).await,
        Command::Logs(a) => logs::run(a).await,
        Command::Run(a) => run::run(a, &cli.state_dir).await,
        Command::Deploy(a) => deploy::run(a, &cli.state_dir).await,
        Command::Rollback(a) => rollback::run(a, &cli.state_dir).await,
        Command::Cost(a) => cost::run(a).await,
        Command::Audit(a) => audit::run(a).await,
        Command::Load(a) => load::run(a),
        Command::Backup(c) => backup::run(c, &cli.state_dir).await,
        Command::Wal(c) => wal::run(c).await,
        Command::Restore(a) => restore::run(a, &cli.state_dir).await,
        Command::Drill(a) => drill::run(a, &cli.state_dir).await,
        Command::Recover(a) => recover::run(a, &cli.state_dir).await,
        Command::Export(t) => export::run(t, &cli.state_dir),
        Command::Render(t) => render::run(t),
        Command::Operator(a) => operator::run(a).await,
        Command::Crd => crd::run(),
    }
}

/// Commands that keep secrets or state under `--state-dir`.
fn uses_state_dir(c: &Command) -> bool {
    matches!(
        c,
        Command::Plan(_)
            | Command::Up(_)
            | Command::Down(_)
            | Command::Status(_)
            | Command::AlertTest(_)
            | Command::HealthCheck(_)
            | Command::Run(_)
            | Command::Deploy(_)
            | Command::Rollback(_)
            | Command::Restore(_)
            | Command::Drill(_)
            | Command::Recover(_)
            | Command::Export(_)
    )
}
