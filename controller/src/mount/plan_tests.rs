//! The planner on a fake host: no root, no mounts.

use super::*;
use std::collections::BTreeMap;

/// A host made of a map from path to entry; symlinks resolve by one hop.
#[derive(Default)]
struct FakeHost(BTreeMap<PathBuf, Entry>);

impl FakeHost {
    fn debian() -> Self {
        let mut h = FakeHost::default();
        h.add("/bin", Entry::Symlink("usr/bin".into()));
        h.add("/sbin", Entry::Symlink("usr/sbin".into()));
        h.add("/lib", Entry::Symlink("usr/lib".into()));
        h.add("/lib64", Entry::Symlink("usr/lib64".into()));
        h.add("/usr", Entry::Dir);
        h.add("/usr/bin", Entry::Dir);
        h.add("/usr/lib", Entry::Dir);
        h.add("/usr/lib64", Entry::Dir);
        h.add("/etc/ld.so.cache", Entry::File);
        h.add("/etc/ld.so.conf.d", Entry::Dir);
        h.add("/data", Entry::Dir);
        h.add("/data/input.txt", Entry::File);
        h
    }

    fn add(&mut self, path: &str, entry: Entry) {
        self.0.insert(path.into(), entry);
    }
}

impl HostView for FakeHost {
    fn entry(&self, path: &Path) -> Entry {
        self.0.get(path).cloned().unwrap_or(Entry::Missing)
    }
    fn resolve(&self, path: &Path) -> Entry {
        match self.entry(path) {
            Entry::Symlink(to) => self.entry(&path.parent().unwrap().join(to)),
            other => other,
        }
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        Ok(self
            .0
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .map(|p| p.file_name().unwrap().to_owned())
            .collect())
    }
}

fn position(plan: &MountPlan, op: &Op) -> usize {
    plan.ops
        .iter()
        .position(|o| o == op)
        .unwrap_or_else(|| panic!("{op} not in plan: {:#?}", plan.ops))
}

fn bind(source: &str, target: &str, writable: bool) -> Op {
    Op::Bind {
        source: source.into(),
        target: target.into(),
        writable,
    }
}

#[test]
fn default_root_binds_usr_read_only_and_recreates_merged_usr_links() {
    let plan = plan(&RootSpec::default(), &FakeHost::debian()).unwrap();
    let usr = position(&plan, &bind("/usr", "/usr", false));
    assert!(
        position(
            &plan,
            &Op::MakeDir {
                path: "/usr".into(),
                mode: 0o755
            }
        ) < usr
    );
    position(
        &plan,
        &Op::Symlink {
            points_to: "usr/bin".into(),
            path: "/bin".into(),
        },
    );
    // Missing defaults are skipped, files get file mount points under a created /etc.
    assert!(!plan.ops.iter().any(|o| o.to_string().contains("lib32")));
    let etc = position(
        &plan,
        &Op::MakeDir {
            path: "/etc".into(),
            mode: 0o755,
        },
    );
    let file = position(
        &plan,
        &Op::MakeFile {
            path: "/etc/ld.so.cache".into(),
        },
    );
    assert!(
        etc < file && file < position(&plan, &bind("/etc/ld.so.cache", "/etc/ld.so.cache", false))
    );
}

#[test]
fn work_and_tmp_are_tmpfs_and_dev_is_read_only_after_its_nodes() {
    let plan = plan(&RootSpec::default(), &FakeHost::debian()).unwrap();
    position(
        &plan,
        &Op::Tmpfs {
            target: "/w".into(),
            mode: 0o755,
        },
    );
    position(
        &plan,
        &Op::Tmpfs {
            target: "/tmp".into(),
            mode: 0o1777,
        },
    );
    position(
        &plan,
        &Op::Proc {
            target: "/proc".into(),
        },
    );
    let null = position(&plan, &bind("/dev/null", "/dev/null", true));
    let dev = position(
        &plan,
        &Op::Tmpfs {
            target: "/dev".into(),
            mode: 0o755,
        },
    );
    let ro = position(
        &plan,
        &Op::RemountReadOnly {
            target: "/dev".into(),
        },
    );
    assert!(dev < null && null < ro);
    for node in DEV_NODES {
        position(
            &plan,
            &bind(&format!("/dev/{node}"), &format!("/dev/{node}"), true),
        );
    }
}

#[test]
fn work_dir_is_bound_read_write_and_must_be_a_directory() {
    let host = FakeHost::debian();
    let spec = RootSpec {
        work_dir: Some("/data".into()),
        ..RootSpec::default()
    };
    let plan = plan(&spec, &host).unwrap();
    position(&plan, &bind("/data", "/w", true));
    assert!(!plan.ops.contains(&Op::Tmpfs {
        target: "/w".into(),
        mode: 0o755
    }));

    let spec = RootSpec {
        work_dir: Some("/data/input.txt".into()),
        ..RootSpec::default()
    };
    assert_eq!(
        super::plan(&spec, &host),
        Err(PlanError::WorkDirNotDir("/data/input.txt".into()))
    );
}

#[test]
fn user_binds_create_mount_points_only_on_tmpfs() {
    let host = FakeHost::debian();
    let spec = RootSpec {
        binds: vec![
            "/data/input.txt:/opt/in/input.txt".parse().unwrap(),
            "/data:/w/data:rw".parse().unwrap(),
        ],
        ..RootSpec::default()
    };
    let plan = plan(&spec, &host).unwrap();
    let opt = position(
        &plan,
        &Op::MakeDir {
            path: "/opt/in".into(),
            mode: 0o755,
        },
    );
    let file = position(
        &plan,
        &Op::MakeFile {
            path: "/opt/in/input.txt".into(),
        },
    );
    assert!(
        opt < file && file < position(&plan, &bind("/data/input.txt", "/opt/in/input.txt", false))
    );
    let w = position(
        &plan,
        &Op::Tmpfs {
            target: "/w".into(),
            mode: 0o755,
        },
    );
    assert!(w < position(&plan, &bind("/data", "/w/data", true)));
}

#[test]
fn a_bind_inside_a_host_bind_needs_an_existing_mount_point() {
    let host = FakeHost::debian();
    let spec = RootSpec {
        binds: vec!["/data:/usr/bin".parse().unwrap()],
        ..RootSpec::default()
    };
    // /usr/bin exists on the host: no directory is created, the bind goes over it.
    let plan = plan(&spec, &host).unwrap();
    position(&plan, &bind("/data", "/usr/bin", false));
    assert!(!plan.ops.contains(&Op::MakeDir {
        path: "/usr/bin".into(),
        mode: 0o755
    }));

    let spec = RootSpec {
        binds: vec!["/data:/usr/share/new".parse().unwrap()],
        ..RootSpec::default()
    };
    assert_eq!(
        super::plan(&spec, &host),
        Err(PlanError::NoMountPoint {
            target: "/usr/share/new".into(),
            host_path: "/usr/share/new".into()
        })
    );
}

#[test]
fn bad_binds_are_refused_with_the_path() {
    let host = FakeHost::debian();
    let case = |bind: &str| {
        let spec = RootSpec {
            binds: vec![bind.parse().unwrap()],
            ..RootSpec::default()
        };
        super::plan(&spec, &host).unwrap_err()
    };
    assert_eq!(
        case("/nope:/x"),
        PlanError::BindSourceMissing("/nope".into())
    );
    assert_eq!(
        case("/data:relative"),
        PlanError::BadTarget("relative".into())
    );
    assert_eq!(case("/data:/"), PlanError::BadTarget("/".into()));
    assert_eq!(
        case("/data:/w/../etc"),
        PlanError::BadTarget("/w/../etc".into())
    );
    assert_eq!(
        case("/data:/proc/x"),
        PlanError::ReservedTarget("/proc/x".into())
    );
    assert_eq!(
        case("/data:/dev/sda"),
        PlanError::ReservedTarget("/dev/sda".into())
    );
    assert_eq!(
        case("/data:/bin/x"),
        PlanError::TargetThroughSymlink("/bin/x".into())
    );
}

#[test]
fn bind_syntax() {
    let b: Bind = "/a".parse().unwrap();
    assert_eq!(
        (b.source.to_str(), b.target.to_str(), b.writable),
        (Some("/a"), Some("/a"), false)
    );
    let b: Bind = "/a:/b:rw".parse().unwrap();
    assert_eq!((b.target.to_str(), b.writable), (Some("/b"), true));
    assert!("/a:/b:rx".parse::<Bind>().is_err());
    assert!(":/b".parse::<Bind>().is_err());
    assert!("/a:/b:rw:x".parse::<Bind>().is_err());
}

#[test]
fn rootfs_entries_replace_the_defaults_except_what_runbox_builds() {
    let mut host = FakeHost::default();
    host.add("/r", Entry::Dir);
    host.add("/r/bin", Entry::Dir);
    host.add("/r/proc", Entry::Dir);
    host.add("/r/hello", Entry::File);
    host.add("/usr", Entry::Dir);
    let spec = RootSpec {
        rootfs: Some("/r".into()),
        ..RootSpec::default()
    };
    let plan = plan(&spec, &host).unwrap();
    position(&plan, &bind("/r/bin", "/bin", false));
    position(&plan, &bind("/r/hello", "/hello", false));
    assert!(!plan
        .ops
        .iter()
        .any(|o| matches!(o, Op::Bind { source, .. } if source == Path::new("/r/proc"))));
    assert!(!plan
        .ops
        .iter()
        .any(|o| matches!(o, Op::Bind { source, .. } if source == Path::new("/usr"))));

    let spec = RootSpec {
        rootfs: Some("/r/hello".into()),
        ..RootSpec::default()
    };
    assert_eq!(
        super::plan(&spec, &host),
        Err(PlanError::RootfsNotDir("/r/hello".into()))
    );
}

#[test]
fn given_paths_through_a_symbolic_link_are_refused_naming_the_link() {
    let mut host = FakeHost::debian();
    // A run's --dir where the run left links: to a directory and to a file.
    host.add("/judge/work", Entry::Dir);
    host.add("/judge/work/sub", Entry::Symlink("/root".into()));
    host.add("/judge/work/in.txt", Entry::Symlink("/root/secret".into()));
    host.add("/judge/lnk", Entry::Symlink("work".into()));
    let refused = |spec: RootSpec| plan(&spec, &host).unwrap_err().to_string();
    let dir = |d: &str| RootSpec {
        work_dir: Some(d.into()),
        ..RootSpec::default()
    };
    assert_eq!(
        refused(dir("/judge/work/sub")),
        "dir /judge/work/sub: /judge/work/sub is a symbolic link, and runbox follows none in a path it is given (name the real path)"
    );
    assert!(refused(dir("/judge/lnk/x")).contains(": /judge/lnk is a symbolic link"));
    let bind = RootSpec {
        binds: vec!["/judge/work/in.txt:/in.txt".parse().unwrap()],
        ..RootSpec::default()
    };
    assert!(refused(bind).starts_with("bind source /judge/work/in.txt: /judge/work/in.txt is"));
    let rootfs = RootSpec {
        rootfs: Some("/judge/lnk".into()),
        ..RootSpec::default()
    };
    assert!(refused(rootfs).starts_with("rootfs /judge/lnk:"));
    // The real paths plan.
    assert!(plan(&dir("/judge/work"), &host).is_ok());
}

#[test]
fn the_base_is_the_same_whatever_the_room_holds() {
    let host = FakeHost::debian();
    let bare = plan(&RootSpec::default(), &host).unwrap();
    let spec = RootSpec {
        work_dir: Some("/data".into()),
        binds: vec![
            "/data/input.txt:/opt/in/input.txt".parse().unwrap(),
            "/usr:/tmp/usr".parse().unwrap(),
        ],
        ..RootSpec::default()
    };
    let full = plan(&spec, &host).unwrap();
    // One container (its base) serves every run: what a run brings is all in its room.
    assert_eq!(full.base(), bare.base());
    for op in full.base() {
        assert!(
            !matches!(op, Op::Tmpfs { target, .. } if target == Path::new("/w") || target == Path::new("/tmp")),
            "{op} in the base"
        );
    }
    assert_eq!(bare.room(), default_room());
    // The mount points of the binds are made in the room (and so taken away after it).
    let room: Vec<String> = full.room().iter().map(ToString::to_string).collect();
    assert_eq!(
        room,
        [
            "bind /data -> /w (rw)",
            "tmpfs at /tmp",
            "mkdir /tmp/usr",
            "bind /usr -> /tmp/usr (ro)",
            "mkdir /opt",
            "mkdir /opt/in",
            "create /opt/in/input.txt",
            "bind /data/input.txt -> /opt/in/input.txt (ro)",
        ]
    );
}
