use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::common::{load, secrets};
use super::{CliError, FileArg};
use crate::compose;

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Write a docker-compose.yml (with its config and secret files) that runs the same stack.
    #[command(
        after_help = "Examples:\n  appstack export compose -f examples/quickstart.yaml -o /tmp/quickstart\n  docker-compose -f /tmp/quickstart/docker-compose.yml up -d"
    )]
    Compose(ComposeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ComposeArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// Directory to write docker-compose.yml, files/ and secrets/ into.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
}

pub fn run(target: Target, state_dir: &Path) -> Result<(), CliError> {
    let Target::Compose(args) = target;
    let (_, plan) = load(&args.file.file)?;
    let resolved = secrets(state_dir, &plan)?;
    let (doc, files) = compose::render(&plan);
    let io = |p: &Path, e: std::io::Error| CliError::Runtime(format!("{}: {e}", p.display()));
    let secret_dir = args.output.join("secrets");
    fs::create_dir_all(&secret_dir).map_err(|e| io(&secret_dir, e))?;
    fs::set_permissions(&secret_dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| io(&secret_dir, e))?;
    for f in files {
        let path = args.output.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        let content = if f.secret {
            let rel = f.path.trim_start_matches("secrets/");
            let value = plan
                .secrets
                .iter()
                .flat_map(|s| s.keys.iter().map(move |k| (s, k)))
                .find(|(s, k)| compose::secret_path(&s.name, &k.key) == f.path)
                .and_then(|(s, k)| resolved.get(&(s.name.clone(), k.key.clone())));
            match value {
                Some(v) => v.expose().to_string(),
                None => {
                    return Err(CliError::Runtime(format!(
                        "secret {rel} missing from the store"
                    )))
                }
            }
        } else {
            f.content
        };
        // Secret files are bind-mounted, so the service user in the container must read
        // them: 0644 inside a 0700 directory that only root can enter on the host.
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| io(&path, e))?;
        out.write_all(content.as_bytes())
            .map_err(|e| io(&path, e))?;
    }
    let yaml = compose::to_yaml(&doc, &plan.stack).map_err(CliError::Runtime)?;
    let compose_file = args.output.join("docker-compose.yml");
    fs::write(&compose_file, yaml).map_err(|e| io(&compose_file, e))?;
    eprintln!("wrote {}", compose_file.display());
    Ok(())
}
