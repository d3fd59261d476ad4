use super::common::{connect, load, table};
use super::{CliError, FileArg};
use crate::daemon::status::{recoverability, wal_status};
use crate::docker::status::{observe, stack_status};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

pub async fn run(args: Args, state_dir: &std::path::Path) -> Result<(), CliError> {
    let (stack, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let observed = observe(engine.as_ref(), &plan).await?;
    let mut status = stack_status(&plan, &observed);
    status.recoverability = recoverability(&stack).await;
    let wal = wal_status(&stack, state_dir);
    if let (Some(r), Some(w)) = (status.recoverability.as_mut(), &wal) {
        let at =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        r.last_wal_shipped = w.newest_wal_at.map(at);
        r.rpo_estimate = w
            .rpo_estimate(chrono::Utc::now())
            .map(|d| format!("{}s", d.as_secs()));
        r.spool_bytes = Some(w.spool_bytes);
    }
    crate::daemon::conditions::judge(
        &stack,
        &plan,
        &mut status,
        wal.as_ref(),
        state_dir,
        &crate::api::conditions::SystemClock,
    );
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
    let conditions: Vec<Vec<String>> = status
        .conditions
        .iter()
        .map(|c| {
            vec![
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                c.message.clone(),
            ]
        })
        .collect();
    println!(
        "\n{}",
        table(&["CONDITION", "STATUS", "REASON", "MESSAGE"], &conditions)
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
        match &wal {
            Some(w) => {
                println!("  last WAL shipped:   {}", show(&r.last_wal_shipped));
                println!(
                    "  RPO estimate:       {}",
                    r.rpo_estimate.clone().unwrap_or_else(|| "unknown".into())
                );
                println!(
                    "  WAL spool:          {}{}",
                    crate::api::quantity::format_bytes(w.spool_bytes),
                    if w.spool_alert {
                        " (above the alert threshold)"
                    } else {
                        ""
                    }
                );
                match &w.failing_since {
                    None => println!("  WAL shipping:       ok"),
                    Some(t) => println!(
                        "  WAL shipping:       FAILING since {t}: {}",
                        w.last_error.as_deref().unwrap_or("")
                    ),
                }
            }
            None if crate::plan::wal::streams(&stack) => {
                println!("  WAL shipping:       not running (start `appstack run -f <file>`)")
            }
            None => {}
        }
        match &r.last_drill {
            Some(d) => println!(
                "  last drill:         {} {} (RTO {}, RPO {})",
                d.finished_at,
                if d.passed { "passed" } else { "FAILED" },
                d.rto.as_deref().unwrap_or("not measured"),
                d.rpo.as_deref().unwrap_or("not measured"),
            ),
            None => println!("  last drill:         never (run `appstack drill -f <file>`)"),
        }
    }
    Ok(())
}
