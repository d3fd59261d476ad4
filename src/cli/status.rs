use super::common::{connect, load, table};
use super::{CliError, FileArg};
use crate::docker::status::{observe, stack_status};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let (_, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let observed = observe(engine.as_ref(), &plan).await?;
    let status = stack_status(&plan, &observed);
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
    Ok(())
}
