//! Which cgroup of the unified hierarchy runbox takes over, and how.
//!
//! cgroup v2's no-internal-process rule: a cgroup other than the root that holds processes
//! cannot enable controllers for its children. On a systemd host runbox's own cgroup is such
//! a cgroup: a login session's scope (the shell is in it) or a service's. So runbox takes
//! over the **delegated** cgroup it runs in: the nearest of its own cgroup and its
//! ancestors that systemd delegated (a service or scope with `Delegate=yes`, which systemd
//! 251+ marks with the `trusted.delegate` xattr, and the user manager with `user.delegate`),
//! or the one `RUNBOX_CGROUP_PARENT` names. In it runbox makes `runbox/`, enables the
//! controllers on the way down, and puts its cgroups there. When runbox is that cgroup's only
//! process (a service whose main process it is, `systemd-run --scope -p Delegate=yes
//! runbox ...`) it first moves itself into the leaf `runbox/self`, as go-judge does; when
//! the cgroup holds other processes, nothing can be enabled and the error names them.
//!
//! A host without systemd (`/run/systemd/system` absent: the busybox guests of the arm run,
//! a container's own init) keeps the simple rule: runbox's own cgroup is its to divide.
//!
//! [`owned`] and [`claim`] decide, purely; [`take_over`] reads the host and applies.

use super::file;
use super::v2;
use super::PARENT;
use std::path::{Path, PathBuf};

/// The leaf below `runbox/` that runbox moves itself into when it was its cgroup's only
/// process.
pub const SELF_LEAF: &str = "self";

/// The xattrs by which systemd marks a delegated cgroup (the system manager's, readable by
/// root only, and the user manager's).
pub const DELEGATE_XATTRS: [&str; 2] = ["trusted.delegate", "user.delegate"];

/// Why runbox cannot take over a cgroup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// On a systemd host, no cgroup from runbox's own up is delegated.
    #[error(
        "runbox's cgroup {own} is systemd's, not delegated to runbox (a login session's scope, \
         or a unit without Delegate=yes): under cgroup v2 no controller can be enabled below \
         it; start runbox in a delegated unit (`systemd-run --scope -p Delegate=yes runbox \
         ...`, or Delegate=yes in the judge's service), or name a cgroup runbox may own with \
         RUNBOX_CGROUP_PARENT"
    )]
    NotDelegated {
        /// runbox's own cgroup.
        own: String,
    },
    /// The cgroup to take over holds processes other than runbox.
    #[error(
        "cgroup {owned} holds processes other than runbox ({others:?}): under cgroup v2 no \
         controller can be enabled below it; move them into a leaf cgroup of it (or make \
         runbox the unit's only process), or name another cgroup with RUNBOX_CGROUP_PARENT"
    )]
    Busy {
        /// The cgroup.
        owned: String,
        /// Their pids.
        others: Vec<u32>,
    },
}

/// What taking a cgroup over takes, as paths within the hierarchy (`/a/b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Where runbox's cgroups go: `<owned>/runbox`.
    pub parent: String,
    /// The leaf runbox moves itself into first, if any.
    pub move_self_to: Option<String>,
    /// The cgroups whose subtree gets the controllers, top down.
    pub enable: Vec<String>,
}

/// `parent/child` within the hierarchy.
fn join(parent: &str, child: &str) -> String {
    format!("{}/{child}", parent.trim_end_matches('/'))
}

/// The cgroup runbox takes over: the one named (`RUNBOX_CGROUP_PARENT`); else on a systemd
/// host the nearest of `own` and its ancestors below the root that is `delegated` (or the
/// root, when runbox runs there: nothing delegates it, and it has no rule against
/// processes); else `own`.
pub fn owned(
    own: &str,
    named: Option<&str>,
    systemd: bool,
    delegated: impl Fn(&str) -> bool,
) -> Result<String, ClaimError> {
    if let Some(named) = named {
        return Ok(format!("/{}", named.trim_matches('/')));
    }
    if !systemd {
        return Ok(own.to_string());
    }
    let mut at = own.trim_end_matches('/');
    if at.is_empty() {
        return Ok("/".into());
    }
    // Up to the root's children: the root itself is systemd's here.
    while !at.is_empty() {
        if delegated(at) {
            return Ok(at.to_string());
        }
        at = &at[..at.rfind('/').unwrap_or(0)];
    }
    Err(ClaimError::NotDelegated {
        own: own.to_string(),
    })
}

/// How to take `owned` over, runbox (pid `me`, in cgroup `own`) seeing `procs` in it.
pub fn claim(owned: &str, own: &str, procs: &[u32], me: u32) -> Result<Claim, ClaimError> {
    let parent = join(owned, PARENT);
    if owned == "/" {
        return Ok(Claim {
            enable: vec!["/".into(), parent.clone()],
            parent,
            move_self_to: None,
        });
    }
    let others: Vec<u32> = procs.iter().copied().filter(|&p| p != me).collect();
    if !others.is_empty() {
        return Err(ClaimError::Busy {
            owned: owned.to_string(),
            others,
        });
    }
    let alone_in_it = own == owned && procs.contains(&me);
    Ok(Claim {
        move_self_to: alone_in_it.then(|| join(&parent, SELF_LEAF)),
        enable: vec![owned.to_string(), parent.clone()],
        parent,
    })
}

/// Why a take-over failed.
#[derive(Debug, thiserror::Error)]
pub enum TakeOverError {
    /// The decision.
    #[error("{0}")]
    Claim(#[from] ClaimError),
    /// A cgroup file.
    #[error("{0}")]
    File(#[from] file::CgroupError),
}

/// Takes over the cgroup [`owned`] picks (runbox's own cgroup is `own`, a path within the
/// cgroup2 hierarchy mounted at `mount`) as [`claim`] says; returns the directory of
/// runbox's parent.
pub fn take_over(mount: &Path, own: &str, named: Option<&str>) -> Result<PathBuf, TakeOverError> {
    let dir = |path: &str| mount.join(path.trim_start_matches('/'));
    let systemd = Path::new("/run/systemd/system").is_dir();
    let owned = owned(own, named, systemd, |path| is_delegated(&dir(path)))?;
    let procs = file::read(&dir(&owned).join("cgroup.procs"))?;
    let procs: Vec<u32> = procs
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let claim = claim(&owned, own, &procs, std::process::id())?;
    if let Some(leaf) = &claim.move_self_to {
        file::mkdir(&dir(leaf))?;
        file::write(
            &dir(leaf).join("cgroup.procs"),
            &std::process::id().to_string(),
        )?;
    }
    for path in &claim.enable {
        // runbox's parent may be removed meanwhile by another runbox's last cgroup
        // ([`super::Cgroup`]'s drop): made again, as a creation does.
        file::again_while_vanished(file::CREATE_ATTEMPTS, || v2::prepare_parent(&dir(path)))?;
    }
    Ok(dir(&claim.parent))
}

/// Whether systemd marked `dir` as delegated.
fn is_delegated(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    DELEGATE_XATTRS.iter().any(|name| {
        let name = std::ffi::CString::new(*name).expect("no NUL in a constant");
        crate::sys::fs::has_xattr(&path, &name).unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "/user.slice/user-0.slice/session-3.scope";
    const SERVICE: &str = "/system.slice/judge.service";

    #[test]
    fn a_named_cgroup_wins() {
        let never = |_: &str| false;
        assert_eq!(
            owned(SESSION, Some("judge/"), true, never),
            Ok("/judge".into())
        );
    }

    #[test]
    fn a_session_scope_is_not_runbox_s() {
        let err = owned(SESSION, None, true, |_| false).unwrap_err();
        // Nor is the root above it.
        assert!(owned("/system.slice/run-r1.scope", None, true, |_| false).is_err());
        assert_eq!(
            err,
            ClaimError::NotDelegated {
                own: SESSION.into()
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("Delegate=yes") && text.contains("RUNBOX_CGROUP_PARENT"),
            "{text}"
        );
    }

    #[test]
    fn the_nearest_delegated_cgroup_is_taken() {
        let delegated = |p: &str| p == SERVICE;
        assert_eq!(owned(SERVICE, None, true, delegated), Ok(SERVICE.into()));
        let below = format!("{SERVICE}/harness");
        assert_eq!(owned(&below, None, true, delegated), Ok(SERVICE.into()));
        // The root is runbox's wherever it sits there.
        assert_eq!(owned("/", None, true, |_| false), Ok("/".into()));
    }

    #[test]
    fn without_systemd_the_own_cgroup_is_runbox_s() {
        assert_eq!(owned("/judge", None, false, |_| false), Ok("/judge".into()));
    }

    #[test]
    fn alone_in_a_delegated_cgroup_runbox_moves_into_a_leaf() {
        let claim = claim(SERVICE, SERVICE, &[42], 42).unwrap();
        assert_eq!(
            claim,
            Claim {
                parent: format!("{SERVICE}/runbox"),
                move_self_to: Some(format!("{SERVICE}/runbox/self")),
                enable: vec![SERVICE.into(), format!("{SERVICE}/runbox")],
            }
        );
    }

    #[test]
    fn below_an_empty_delegated_cgroup_nothing_moves() {
        let claim = claim(SERVICE, &format!("{SERVICE}/harness"), &[], 42).unwrap();
        assert_eq!(claim.move_self_to, None);
        assert_eq!(
            claim.enable,
            vec![SERVICE.to_string(), format!("{SERVICE}/runbox")]
        );
    }

    #[test]
    fn other_processes_in_the_cgroup_are_named() {
        let err = claim(SERVICE, SERVICE, &[7, 42, 9], 42).unwrap_err();
        assert_eq!(
            err,
            ClaimError::Busy {
                owned: SERVICE.into(),
                others: vec![7, 9]
            }
        );
        assert!(err.to_string().contains("leaf"), "{err}");
    }

    #[test]
    fn the_root_may_hold_processes() {
        let claim = claim("/", "/", &[1, 42], 42).unwrap();
        assert_eq!(claim.parent, "/runbox");
        assert_eq!(claim.move_self_to, None);
    }
}
