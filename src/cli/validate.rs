use crate::api::load_validated;

use super::{CliError, FileArg};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Output format: text or json.
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

pub fn run(args: Args) -> Result<(), CliError> {
    match load_validated(&args.file.file) {
        Ok((_, stack)) => {
            if args.output == "json" {
                println!(
                    "{}",
                    serde_json::json!({"valid": true, "stack": stack.name, "errors": []})
                );
            } else {
                println!(
                    "{}: valid AppStack {:?}",
                    args.file.file.display(),
                    stack.name
                );
            }
            Ok(())
        }
        Err(errs) => {
            if args.output == "json" {
                let list: Vec<_> = errs
                    .errors
                    .iter()
                    .map(|e| serde_json::json!({"path": e.path, "message": e.message}))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "file": errs.origin, "errors": list})
                );
            }
            Err(errs.into())
        }
    }
}
