//! A container's CPU and memory from its cgroup files (v1 or v2), found through its main
//! process: cheap enough to sample every second, unlike the engine's stats call (~1 s each
//! here).

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Where a process's accounting lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// The unified hierarchy: one directory.
    V2(PathBuf),
    /// Separate memory and cpuacct directories.
    V1 { memory: PathBuf, cpu: PathBuf },
}

/// One reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// CPU time used since the container started, in microseconds.
    pub cpu_usec: u64,
    pub memory_bytes: u64,
    /// None when unlimited.
    pub memory_limit: Option<u64>,
}

impl Cgroup {
    /// The cgroup of process `pid`, from /proc/<pid>/cgroup.
    pub fn of_pid(pid: u32) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        Self::parse(&text, Path::new(ROOT)).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no cgroup found for process {pid}"),
            )
        })
    }

    /// The directories named by a /proc/<pid>/cgroup text under `root`, checked to exist
    /// (a nested hierarchy shows paths relative to an outer root: the container's id is the
    /// last component either way, so a missing path is looked up by it).
    pub fn parse(text: &str, root: &Path) -> Option<Self> {
        let mut memory = None;
        let mut cpu = None;
        let mut unified = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            match controllers {
                "" => unified = Some(rel.to_string()),
                c if c.split(',').any(|x| x == "memory") => memory = Some(rel.to_string()),
                c if c.split(',').any(|x| x == "cpuacct") => cpu = Some(rel.to_string()),
                _ => {}
            }
        }
        if let (Some(m), Some(c)) = (memory, cpu) {
            let memory = find(&root.join("memory"), &m)?;
            let cpu =
                find(&root.join("cpuacct"), &c).or_else(|| find(&root.join("cpu,cpuacct"), &c))?;
            return Some(Cgroup::V1 { memory, cpu });
        }
        let dir = find(root, &unified?)?;
        dir.join("memory.current")
            .exists()
            .then_some(Cgroup::V2(dir))
    }

    /// Reads the current figures.
    pub fn read(&self) -> std::io::Result<Usage> {
        match self {
            Cgroup::V2(dir) => {
                let cpu = std::fs::read_to_string(dir.join("cpu.stat"))?;
                Ok(Usage {
                    cpu_usec: stat_field(&cpu, "usage_usec").unwrap_or(0),
                    memory_bytes: number(&dir.join("memory.current"))?.unwrap_or(0),
                    memory_limit: number(&dir.join("memory.max"))?,
                })
            }
            Cgroup::V1 { memory, cpu } => Ok(Usage {
                cpu_usec: number(&cpu.join("cpuacct.usage"))?.unwrap_or(0) / 1000,
                memory_bytes: number(&memory.join("memory.usage_in_bytes"))?.unwrap_or(0),
                // v1 says "unlimited" with a huge page-rounded number.
                memory_limit: number(&memory.join("memory.limit_in_bytes"))?
                    .filter(|&l| l < (1 << 62)),
            }),
        }
    }
}

/// `rel` under `base`, or else the directory under `base` (two levels deep at most) whose
/// name is `rel`'s last component.
fn find(base: &Path, rel: &str) -> Option<PathBuf> {
    let direct = base.join(rel);
    if direct.is_dir() {
        return Some(direct);
    }
    let last = Path::new(rel).file_name()?;
    let mut dirs = vec![base.to_path_buf()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for d in &dirs {
            for e in std::fs::read_dir(d).ok()?.flatten() {
                let p = e.path();
                if !p.is_dir() {
                    continue;
                }
                if p.file_name() == Some(last) {
                    return Some(p);
                }
                next.push(p);
            }
        }
        dirs = next;
    }
    None
}

/// A file holding one number, or "max" (None).
fn number(path: &Path) -> std::io::Result<Option<u64>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text.trim().parse().ok())
}

fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dirs: &[&str], files: &[(&str, &str)]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for d in dirs {
            std::fs::create_dir_all(t.path().join(d)).unwrap();
        }
        for (f, text) in files {
            std::fs::write(t.path().join(f), text).unwrap();
        }
        t
    }

    #[test]
    fn v2_reads_the_unified_directory() {
        let t = tree(
            &["system.slice/docker-abc.scope"],
            &[
                ("system.slice/docker-abc.scope/memory.current", "1048576\n"),
                ("system.slice/docker-abc.scope/memory.max", "max\n"),
                (
                    "system.slice/docker-abc.scope/cpu.stat",
                    "usage_usec 2500\nuser_usec 2000\n",
                ),
            ],
        );
        let cg = Cgroup::parse("0::/system.slice/docker-abc.scope\n", t.path()).unwrap();
        let u = cg.read().unwrap();
        assert_eq!(
            u,
            Usage {
                cpu_usec: 2500,
                memory_bytes: 1 << 20,
                memory_limit: None
            }
        );
    }

    #[test]
    fn v1_is_found_by_the_container_id_under_a_nested_root() {
        let t = tree(
            &["memory/outer/docker/abc", "cpuacct/outer/docker/abc"],
            &[
                ("memory/outer/docker/abc/memory.usage_in_bytes", "2048"),
                ("memory/outer/docker/abc/memory.limit_in_bytes", "536870912"),
                ("cpuacct/outer/docker/abc/cpuacct.usage", "5000000"),
            ],
        );
        let text = "4:memory:/docker/abc\n2:cpuacct:/docker/abc\n0::/\n";
        let u = Cgroup::parse(text, t.path()).unwrap().read().unwrap();
        assert_eq!(
            u,
            Usage {
                cpu_usec: 5000,
                memory_bytes: 2048,
                memory_limit: Some(512 << 20)
            }
        );
    }
}
