//! Resolving a path as a traced program sees it: relative to its cwd or a dirfd, `.` and
//! `..`, symbolic links (followed or not, as the call does), and `/proc/self` and
//! `/proc/thread-self` made the program's own; another process's `/proc` entries are
//! refused. Pure: the file system is seen only through the `readlink` given, so the tracer
//! passes one that reads the program's view and the tests pass a map.

use std::path::{Component, Path, PathBuf};

/// The most links followed in one resolution (the kernel's limit).
pub const MAX_LINKS: usize = 40;

/// Why a path cannot be judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// More than [`MAX_LINKS`] links.
    TooManyLinks,
    /// The path reaches into another process's `/proc` entry.
    OtherProcess(PathBuf),
    /// Empty path, or a relative path without a base.
    Empty,
}

/// Who is asking: `/proc/self` is `/proc/<pid>`, `/proc/thread-self` is
/// `/proc/<pid>/task/<tid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The thread group id.
    pub pid: u32,
    /// The thread id.
    pub tid: u32,
}

/// Resolves `raw` against `base` (the cwd or the dirfd's path, absolute), following links
/// through `readlink` (which returns a link's target, or `None` for anything that is not a
/// link); the last component is followed only with `follow_last`.
pub fn resolve(
    raw: &Path,
    base: &Path,
    caller: Caller,
    follow_last: bool,
    readlink: &dyn Fn(&Path) -> Option<PathBuf>,
) -> Result<PathBuf, PathError> {
    if raw.as_os_str().is_empty() || !base.is_absolute() {
        return Err(PathError::Empty);
    }
    // Components still to walk, last first, so that a link's target can be pushed in front.
    let mut todo: Vec<PathBuf> = Vec::new();
    push_components(&mut todo, &base.join(raw));
    let mut done = PathBuf::from("/");
    let mut links = 0;
    while let Some(next) = todo.pop() {
        match next.to_str() {
            Some("/") => done = PathBuf::from("/"),
            Some(".") => {}
            Some("..") => {
                done.pop();
            }
            _ => {
                let candidate = proc_alias(&done.join(&next), caller)?;
                let is_last = todo.is_empty();
                let target = if is_last && !follow_last {
                    None
                } else {
                    readlink(&candidate)
                };
                match target {
                    Some(target) => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(PathError::TooManyLinks);
                        }
                        push_components(&mut todo, &target);
                    }
                    None => done = candidate,
                }
            }
        }
    }
    Ok(done)
}

/// Pushes the components of `path` so that they pop in order; an absolute path starts with
/// `/`, which resets the walk to the root.
fn push_components(todo: &mut Vec<PathBuf>, path: &Path) {
    let parts: Vec<PathBuf> = path
        .components()
        .map(|c| match c {
            Component::RootDir => PathBuf::from("/"),
            Component::CurDir => PathBuf::from("."),
            Component::ParentDir => PathBuf::from(".."),
            Component::Normal(n) => PathBuf::from(n),
            Component::Prefix(p) => PathBuf::from(p.as_os_str()),
        })
        .collect();
    todo.extend(parts.into_iter().rev());
}

/// `/proc/self` and `/proc/thread-self` as the caller's own; another pid's entry refused.
fn proc_alias(path: &Path, caller: Caller) -> Result<PathBuf, PathError> {
    let Ok(rest) = path.strip_prefix("/proc") else {
        return Ok(path.to_path_buf());
    };
    let mut parts = rest.components();
    let Some(Component::Normal(first)) = parts.next() else {
        return Ok(path.to_path_buf());
    };
    let own = Path::new("/proc").join(caller.pid.to_string());
    match first.to_str() {
        Some("self") => Ok(own.join(parts.as_path())),
        Some("thread-self") => Ok(own
            .join("task")
            .join(caller.tid.to_string())
            .join(parts.as_path())),
        Some(n) if n.parse::<u32>().is_ok_and(|p| p != caller.pid) => {
            Err(PathError::OtherProcess(path.to_path_buf()))
        }
        _ => Ok(path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const ME: Caller = Caller { pid: 42, tid: 43 };

    fn links(pairs: &[(&str, &str)]) -> BTreeMap<PathBuf, PathBuf> {
        pairs
            .iter()
            .map(|(l, t)| (PathBuf::from(l), PathBuf::from(t)))
            .collect()
    }

    fn resolve_in(
        fs: &BTreeMap<PathBuf, PathBuf>,
        raw: &str,
        base: &str,
        follow: bool,
    ) -> Result<PathBuf, PathError> {
        resolve(Path::new(raw), Path::new(base), ME, follow, &|p| {
            fs.get(p).cloned()
        })
    }

    #[test]
    fn relative_paths_dots_and_dirfds() {
        let fs = links(&[]);
        assert_eq!(
            resolve_in(&fs, "out.txt", "/w", true),
            Ok("/w/out.txt".into())
        );
        assert_eq!(
            resolve_in(&fs, "../etc/./shadow", "/w", true),
            Ok("/etc/shadow".into())
        );
        assert_eq!(
            resolve_in(&fs, "../../../../etc/shadow", "/w", true),
            Ok("/etc/shadow".into())
        );
        assert_eq!(
            resolve_in(&fs, "/etc/passwd", "/w", true),
            Ok("/etc/passwd".into())
        );
        assert_eq!(resolve_in(&fs, "", "/w", true), Err(PathError::Empty));
    }

    #[test]
    fn links_are_followed_anywhere_but_the_last_component_when_asked() {
        let fs = links(&[
            ("/w/link", "/etc/shadow"),
            ("/w/dir", "../etc"),
            ("/etc/alt", "relative"),
        ]);
        assert_eq!(
            resolve_in(&fs, "link", "/w", true),
            Ok("/etc/shadow".into())
        );
        assert_eq!(resolve_in(&fs, "link", "/w", false), Ok("/w/link".into()));
        assert_eq!(
            resolve_in(&fs, "dir/shadow", "/w", false),
            Ok("/etc/shadow".into())
        );
        // A relative target is relative to the link's directory.
        assert_eq!(
            resolve_in(&fs, "/etc/alt", "/", true),
            Ok("/etc/relative".into())
        );
    }

    #[test]
    fn link_loops_end() {
        let fs = links(&[("/a", "/b"), ("/b", "/a")]);
        assert_eq!(
            resolve_in(&fs, "/a", "/", true),
            Err(PathError::TooManyLinks)
        );
    }

    #[test]
    fn proc_self_is_the_caller_and_other_processes_are_refused() {
        let fs = links(&[]);
        assert_eq!(
            resolve_in(&fs, "/proc/self/status", "/", true),
            Ok("/proc/42/status".into())
        );
        assert_eq!(
            resolve_in(&fs, "/proc/thread-self/comm", "/", true),
            Ok("/proc/42/task/43/comm".into())
        );
        assert_eq!(
            resolve_in(&fs, "/proc/meminfo", "/", true),
            Ok("/proc/meminfo".into())
        );
        assert_eq!(
            resolve_in(&fs, "/proc/1/root/etc/shadow", "/", true),
            Err(PathError::OtherProcess("/proc/1".into()))
        );
        // Through the caller's own root link, a forbidden file is still seen for what it is.
        let fs = links(&[("/proc/42/root", "/")]);
        assert_eq!(
            resolve_in(&fs, "/proc/self/root/etc/shadow", "/", true),
            Ok("/etc/shadow".into())
        );
    }
}
