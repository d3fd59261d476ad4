use std::path::PathBuf;

use crate::docker::engine::Containers;
use futures::stream::{select_all, StreamExt};

use super::common::{connect, load};
use super::CliError;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AppStack manifest (YAML).
    #[arg(long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// One component (default: all).
    pub component: Option<String>,
    /// Keep printing new lines.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Lines from the end of each log.
    #[arg(long)]
    pub tail: Option<u64>,
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let (_, plan) = load(&args.file)?;
    let names: Vec<String> = match &args.component {
        Some(c) if plan.component(c).is_none() => {
            let known: Vec<&str> = plan.components.iter().map(|c| c.name.as_str()).collect();
            return Err(CliError::Invalid(format!(
                "component {c:?} is not in the stack (expected one of: {})",
                known.join(", ")
            )));
        }
        Some(c) => vec![c.clone()],
        None => plan.components.iter().map(|c| c.name.clone()).collect(),
    };
    let engine = connect().await?;
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let single = names.len() == 1;
    let streams = names.iter().map(|n| {
        let prefix = if single {
            String::new()
        } else {
            format!("{n:<width$} | ")
        };
        engine
            .logs(&plan.object_name(n), args.follow, args.tail)
            .map(move |line| line.map(|l| (prefix.clone(), l)))
    });
    let mut all = select_all(streams);
    while let Some(item) = all.next().await {
        match item {
            Ok((prefix, text)) => {
                for line in text.lines() {
                    println!("{prefix}{line}");
                }
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
