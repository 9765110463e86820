//! Which cgroup layout the host has, and where this process sits in it. Pure: the texts of
//! `/proc/self/mountinfo` and `/proc/self/cgroup` come in as strings, so every layout (pure
//! v1, hybrid, pure v2) is tested here without the machine having it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The controllers runbox needs from v1 hierarchies.
pub const V1_CONTROLLERS: [&str; 3] = ["cpuacct", "memory", "pids"];
/// The controllers runbox needs from the v2 hierarchy.
pub const V2_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted.
    pub mount: PathBuf,
    /// Its v1 controllers (`["cpu", "cpuacct"]`); empty for cgroup2.
    pub controllers: Vec<String>,
    /// True for cgroup2.
    pub unified: bool,
}

/// Where runbox puts its cgroups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// v1 controllers (pure v1, or the hybrid layout): one directory per controller, each
    /// this process's own cgroup in that hierarchy.
    V1 {
        /// The cpuacct cgroup directory.
        cpuacct: PathBuf,
        /// The memory cgroup directory.
        memory: PathBuf,
        /// The pids cgroup directory.
        pids: PathBuf,
    },
    /// The unified hierarchy: this process's own cgroup2 directory.
    V2 {
        /// The cgroup directory.
        dir: PathBuf,
    },
}

/// Reads the cgroup mounts out of `/proc/self/mountinfo`.
pub fn parse_mountinfo(text: &str) -> Vec<Hierarchy> {
    text.lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
            let (left, right) = line.split_once(" - ")?;
            let mount = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let superopts = right.nth(1).unwrap_or("");
            let mount = PathBuf::from(unescape(mount));
            match fstype {
                "cgroup2" => Some(Hierarchy {
                    mount,
                    controllers: vec![],
                    unified: true,
                }),
                "cgroup" => Some(Hierarchy {
                    mount,
                    controllers: superopts
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || *o == "cpu")
                        .map(String::from)
                        .collect(),
                    unified: false,
                }),
                _ => None,
            }
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(byte) = u8::from_str_radix(&code, 8) {
                out.push(char::from(byte));
                continue;
            }
            out.push(c);
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

/// This process's cgroup per hierarchy from `/proc/self/cgroup`: v1 entries keyed by each of
/// their controllers, the v2 entry under the key `""`.
pub fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    let mut own = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        for controller in controllers.split(',') {
            own.insert(controller.to_string(), path.to_string());
        }
    }
    own
}

/// Puts runbox's cgroups below `path` in every hierarchy instead of below its own cgroups.
pub fn place_under(own: &mut BTreeMap<String, String>, path: &str) {
    for value in own.values_mut() {
        *value = path.to_string();
    }
}

/// Why no layout fits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoCgroups(pub String);

/// Picks the layout: v1 when cpuacct, memory and pids are all mounted as v1 hierarchies
/// (pure v1 or hybrid), else cgroup2. Each directory is this process's own cgroup there.
pub fn choose(
    hierarchies: &[Hierarchy],
    own: &BTreeMap<String, String>,
) -> Result<Layout, NoCgroups> {
    let v1_dir = |controller: &str| -> Option<PathBuf> {
        let hierarchy = hierarchies
            .iter()
            .find(|h| !h.unified && h.controllers.iter().any(|c| c == controller))?;
        Some(join_cgroup(&hierarchy.mount, own.get(controller)?))
    };
    if let (Some(cpuacct), Some(memory), Some(pids)) =
        (v1_dir("cpuacct"), v1_dir("memory"), v1_dir("pids"))
    {
        return Ok(Layout::V1 {
            cpuacct,
            memory,
            pids,
        });
    }
    if let (Some(unified), Some(path)) = (hierarchies.iter().find(|h| h.unified), own.get("")) {
        return Ok(Layout::V2 {
            dir: join_cgroup(&unified.mount, path),
        });
    }
    Err(NoCgroups(
        "no cgroup v1 hierarchies with cpuacct, memory and pids, and no cgroup2 mount".into(),
    ))
}

/// `mount` + a cgroup path from /proc/self/cgroup (absolute within the hierarchy).
fn join_cgroup(mount: &Path, path: &str) -> PathBuf {
    mount.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine: v1 controllers mounted one by one, an empty cgroup2 beside them, and
    /// this process in a non-root memory cgroup.
    const HYBRID_MOUNTINFO: &str = "\
25 20 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
30 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
31 25 0:28 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
4:memory:/process_api/f1e0
2:cpuacct:/
1:cpu:/
0::/";

    #[test]
    fn hybrid_uses_the_v1_controllers_and_the_own_memory_cgroup() {
        let layout = choose(
            &parse_mountinfo(HYBRID_MOUNTINFO),
            &parse_proc_cgroup(HYBRID_CGROUP),
        )
        .unwrap();
        assert_eq!(
            layout,
            Layout::V1 {
                cpuacct: "/sys/fs/cgroup/cpuacct".into(),
                memory: "/sys/fs/cgroup/memory/process_api/f1e0".into(),
                pids: "/sys/fs/cgroup/pids".into(),
            }
        );
    }

    #[test]
    fn co_mounted_cpu_and_cpuacct_are_one_hierarchy() {
        let mountinfo = "\
1 0 0:1 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
3 0 0:3 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids";
        let own = "3:cpu,cpuacct:/judge\n2:memory:/judge\n1:pids:/judge";
        let Layout::V1 { cpuacct, .. } =
            choose(&parse_mountinfo(mountinfo), &parse_proc_cgroup(own)).unwrap()
        else {
            panic!("not v1");
        };
        assert_eq!(cpuacct, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/judge"));
    }

    #[test]
    fn pure_v2_uses_the_own_unified_cgroup() {
        let mountinfo = "35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate";
        let own = "0::/system.slice/judge.service";
        assert_eq!(
            choose(&parse_mountinfo(mountinfo), &parse_proc_cgroup(own)),
            Ok(Layout::V2 {
                dir: "/sys/fs/cgroup/system.slice/judge.service".into()
            })
        );
    }

    #[test]
    fn a_v1_layout_missing_a_controller_falls_back_to_v2_or_fails() {
        let without_pids = "\
1 0 0:1 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct
2 0 0:2 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
        let own = parse_proc_cgroup("2:cpuacct:/\n1:memory:/");
        assert!(choose(&parse_mountinfo(without_pids), &own).is_err());
        let with_v2 =
            format!("{without_pids}\n3 0 0:3 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw");
        let own = parse_proc_cgroup("2:cpuacct:/\n1:memory:/\n0::/x");
        assert_eq!(
            choose(&parse_mountinfo(&with_v2), &own),
            Ok(Layout::V2 {
                dir: "/sys/fs/cgroup/unified/x".into()
            })
        );
    }

    #[test]
    fn a_configured_parent_replaces_the_own_cgroup_everywhere() {
        let mut own = parse_proc_cgroup(HYBRID_CGROUP);
        place_under(&mut own, "/judge");
        let Layout::V1 { memory, pids, .. } =
            choose(&parse_mountinfo(HYBRID_MOUNTINFO), &own).unwrap()
        else {
            panic!("not v1");
        };
        assert_eq!(memory, PathBuf::from("/sys/fs/cgroup/memory/judge"));
        assert_eq!(pids, PathBuf::from("/sys/fs/cgroup/pids/judge"));
    }

    #[test]
    fn escaped_mount_points() {
        let line = "1 0 0:1 / /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw";
        assert_eq!(parse_mountinfo(line)[0].mount, PathBuf::from("/mnt/cg v2"));
    }
}
