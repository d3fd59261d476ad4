use super::common::{connect, load, table};
use super::{CliError, FileArg};
use crate::api::status::RecoverabilityStatus;
use crate::docker::status::{observe, stack_status};
use crate::protect::manifest::{catalog, Kind, Manifest};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let (stack, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let observed = observe(engine.as_ref(), &plan).await?;
    let mut status = stack_status(&plan, &observed);
    status.recoverability = recoverability(&stack).await;
    if args.output == "json" {
        let doc = serde_json::json!({"stack": plan.stack, "status": status});
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::Runtime(e.to_string()))?
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = plan
        .components
        .iter()
        .map(|c| {
            let s = status.components.get(&c.name).cloned().unwrap_or_default();
            let ports = c
                .ports
                .iter()
                .map(|p| match &p.publish {
                    Some(publ) => {
                        format!("{}:{}->{}", publ.host_ip, publ.host_port, p.container_port)
                    }
                    None => p.container_port.to_string(),
                })
                .collect::<Vec<_>>()
                .join(",");
            vec![c.name.clone(), s.state, s.health, c.image.clone(), ports]
        })
        .collect();
    println!("stack {}: {}", plan.stack, status.phase);
    println!(
        "{}",
        table(&["COMPONENT", "STATE", "HEALTH", "IMAGE", "PORTS"], &rows)
    );
    if stack.backup.is_some() {
        let r = status.recoverability.unwrap_or_default();
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "never".into());
        println!("\nrecoverability:");
        println!("  last base backup:   {}", show(&r.last_base_backup));
        println!("  last dump:          {}", show(&r.last_dump));
        println!(
            "  oldest base backup: {}",
            show(&r.first_recoverability_point)
        );
    }
    Ok(())
}

/// What the backup store says about the stack; absent when the store cannot be read.
async fn recoverability(stack: &crate::api::ValidatedStack) -> Option<RecoverabilityStatus> {
    let store = super::backup::open_store(stack).ok()?;
    let all = catalog(&store, &stack.name).await.ok()?;
    let fmt = |m: &Manifest| {
        m.finished_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let last = |k: Kind| all.iter().rev().find(|m| m.kind == k).map(fmt);
    Some(RecoverabilityStatus {
        last_base_backup: last(Kind::Base),
        last_dump: last(Kind::Dump),
        // Until WAL shipping lands, the restorable points are the base backups themselves.
        first_recoverability_point: all.iter().find(|m| m.kind == Kind::Base).map(fmt),
        ..Default::default()
    })
}
