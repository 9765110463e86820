//! The program of a ptrace run, as execvp would find it on the host, and its path as the
//! file sets name it.

use crate::spec::DEFAULT_PATH;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An absolute path with `.` and `..` resolved by name alone (no link followed).
pub fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(name) => out.push(name),
            _ => {}
        }
    }
    out
}

/// `PATH` of the program's environment, else the default.
pub fn search_path(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|v| v.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// The program as execvp would find it: a name with a `/` as it is (made absolute), else
/// the first executable regular file of that name along `path`. The error is execvp's
/// errno: ENOENT for nothing there, EACCES for something that is no executable file.
pub fn find_program(program: &str, path: &str) -> Result<PathBuf, i32> {
    let is_executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = std::path::absolute(program).map_err(|_| libc::ENOENT)?;
        return match (is_executable(&p), p.exists()) {
            (true, _) => Ok(p),
            (false, true) => Err(libc::EACCES),
            (false, false) => Err(libc::ENOENT),
        };
    }
    if program.is_empty() {
        return Err(libc::ENOENT);
    }
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(program))
        .find(|p| is_executable(p))
        .and_then(|p| std::path::absolute(p).ok())
        .ok_or(libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_as_execvp_finds_them() {
        assert_eq!(
            find_program("sh", "/nonexistent:/bin:/usr/bin"),
            Ok(PathBuf::from("/bin/sh"))
        );
        assert_eq!(find_program("/bin/sh", ""), Ok(PathBuf::from("/bin/sh")));
        assert_eq!(
            find_program("no-such-program-here", "/bin"),
            Err(libc::ENOENT)
        );
        assert_eq!(find_program("/etc/passwd", ""), Err(libc::EACCES));
        assert_eq!(find_program("/tmp", ""), Err(libc::EACCES));
        assert_eq!(find_program("", "/bin"), Err(libc::ENOENT));
    }

    #[test]
    fn dots_are_resolved_by_name() {
        assert_eq!(
            lexically_normal(Path::new("/a/./b/../c")),
            PathBuf::from("/a/c")
        );
        assert_eq!(lexically_normal(Path::new("/../x")), PathBuf::from("/x"));
    }

    #[test]
    fn the_search_path_is_the_environment_s_last_path() {
        let env = ["PATH=/a".to_string(), "X=1".into(), "PATH=/b".into()];
        assert_eq!(search_path(&env), "/b");
        assert_eq!(search_path(&[]), DEFAULT_PATH);
    }
}
