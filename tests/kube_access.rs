//! The per-stack identity's reach: its Role names the one pod it may read and exec in (the
//! database StatefulSet's), and the two jobs that used to exec elsewhere run their commands
//! in their own container: the files backup on the CMS's uploads claim mounted read-only,
//! the drill's check on its copy's shared socket directory.

use std::path::Path;

use appstack::kube::{build, Children, Images, Owner};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::PodSpec;

fn children(example: &str) -> (String, Children) {
    let (_, stack) = appstack::api::load_validated(Path::new(example)).unwrap();
    let plan = appstack::plan::build(&stack);
    let owner = Owner {
        name: stack.name.clone(),
        uid: Some("00000000-0000-4000-8000-000000000001".into()),
    };
    let images = Images {
        operator: "registry.example.com/appstack:test".into(),
        operator_service: appstack::kube::OPERATOR_SERVICE.into(),
    };
    let mut n = 0;
    let children = build(&plan, &owner, &images, &mut |len| {
        n += 1;
        format!("{n:0>len$}")
    });
    (stack.name, children)
}

fn job_pod<'a>(jobs: &'a [CronJob], name: &str) -> &'a PodSpec {
    let job = jobs
        .iter()
        .find(|j| j.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no CronJob {name}"));
    let spec = job
        .spec
        .as_ref()
        .unwrap()
        .job_template
        .spec
        .as_ref()
        .unwrap();
    spec.template.spec.as_ref().unwrap()
}

#[test]
fn the_stacks_roles_reach_pods_only_by_the_database_pods_name() {
    for example in ["examples/crm.yaml", "examples/quickstart.yaml"] {
        let (stack, c) = children(example);
        assert!(!c.roles.is_empty(), "{example}: no Role");
        let mut exec = 0;
        for role in &c.roles {
            for rule in role.rules.iter().flatten() {
                let resources = rule.resources.clone().unwrap_or_default();
                if resources.iter().any(|r| r.starts_with("pods")) {
                    assert_eq!(
                        rule.resource_names.as_deref(),
                        Some(&[format!("{stack}-database-0")][..]),
                        "{example}: {:?} {rule:?}",
                        role.metadata.name
                    );
                    assert!(!rule.verbs.iter().any(|v| v == "list" || v == "*"));
                    exec += usize::from(resources.iter().any(|r| r == "pods/exec"));
                }
                assert!(
                    rule.resource_names.as_ref().is_some_and(|n| !n.is_empty()),
                    "{example}: every rule of a stack's Role names its objects: {rule:?}"
                );
            }
        }
        assert_eq!(
            exec, 1,
            "{example}: the backup identity execs in the database"
        );
    }
}

#[test]
fn the_files_backup_reads_the_uploads_claim_beside_the_cms() {
    let (stack, c) = children("examples/quickstart.yaml");
    let pod = job_pod(&c.cron_jobs, &format!("{stack}-backup-files"));
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap();
    assert!(args.windows(2).any(|w| w == ["--here", "cms"]), "{args:?}");
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == "/directus/uploads")
        .expect("the uploads mounted at the CMS's own path");
    assert_eq!(mount.read_only, Some(true));
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    let claim = volume.persistent_volume_claim.as_ref().unwrap();
    assert_eq!(claim.claim_name, format!("{stack}-cms-uploads"));
    assert_eq!(claim.read_only, Some(true));
    // ReadWriteOnce: the job must land on the node where the CMS has the claim attached.
    let term = &pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .expect("a required pod affinity")[0];
    assert_eq!(term.topology_key, "kubernetes.io/hostname");
    let labels = term.label_selector.as_ref().unwrap().match_labels.as_ref();
    assert_eq!(
        labels
            .and_then(|l| l.get("appstack.io/component"))
            .map(String::as_str),
        Some("cms")
    );
    // The other backups exec in the database and mount nothing of the stack's.
    for other in ["backup-db", "backup-dump"] {
        let p = job_pod(&c.cron_jobs, &format!("{stack}-{other}"));
        let args = p.containers[0].args.clone().unwrap();
        assert!(!args.contains(&"--here".to_string()), "{other}: {args:?}");
        assert!(p.affinity.is_none(), "{other}");
    }
}

#[test]
fn the_drill_check_shares_the_copys_socket_directory() {
    let (stack, c) = children("examples/crm.yaml");
    let pod = job_pod(&c.cron_jobs, &format!("{stack}-drill"));
    let socket = |mounts: &Option<Vec<k8s_openapi::api::core::v1::VolumeMount>>| {
        mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path == "/var/run/postgresql")
            .map(|m| m.name.clone())
    };
    let database = pod
        .init_containers
        .iter()
        .flatten()
        .find(|c| c.name == "database")
        .unwrap();
    let shared = socket(&database.volume_mounts).expect("the copy's socket on a volume");
    assert_eq!(
        socket(&pod.containers[0].volume_mounts),
        Some(shared.clone())
    );
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == shared)
        .unwrap();
    assert!(volume.empty_dir.is_some());
    // Nothing reads the pod's own name any more: the check never execs in its pod.
    assert!(pod.containers[0].env.is_none());
}
