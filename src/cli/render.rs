use super::common::load;
use super::{CliError, FileArg};
use crate::kube::{build, Images, Owner};

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Print the Kubernetes objects the operator applies for a stack (multi-document YAML).
    ///
    /// Secrets are not printed: the operator creates each one once, with generated values,
    /// and never applies over it; they are listed in a comment. Owner references appear
    /// when the manifest carries metadata.uid (the operator's copy always does).
    #[command(
        after_help = "Examples:\n  appstack render kube -f examples/crm.yaml\n  appstack render kube -f stack.yaml --operator-image registry.example.com/appstack:0.1.0 > children.yaml"
    )]
    Kube(KubeArgs),
}

#[derive(Debug, clap::Args)]
pub struct KubeArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// The appstack image for the WAL shipper sidecar and the backup CronJobs.
    #[arg(long, value_name = "IMAGE")]
    pub operator_image: Option<String>,
}

pub fn run(target: Target) -> Result<(), CliError> {
    let Target::Kube(args) = target;
    let (stack, plan) = load(&args.file.file)?;
    let owner = Owner {
        name: stack.name.clone(),
        uid: stack.uid.clone(),
    };
    let mut images = Images::default();
    if let Some(i) = args.operator_image {
        images.operator = i;
    }
    let mut children = build(&plan, &owner, &images, &mut |_| String::new());
    let secrets = std::mem::take(&mut children.secrets);
    let mut out = String::new();
    for s in &secrets {
        out.push_str(&format!(
            "# Secret {} (keys: {}) is created once by the operator with generated values.\n",
            s.metadata.name.as_deref().unwrap_or(""),
            s.string_data
                .as_ref()
                .map(|d| d.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ));
    }
    out.push_str(&children.to_yaml().map_err(CliError::Runtime)?);
    print!("{out}");
    Ok(())
}
