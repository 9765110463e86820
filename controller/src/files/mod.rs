//! # Files in and out of a run, and the file store
//!
//! A judge that has no host directory for a submission sends its files in the request and
//! gets the outputs back in the result:
//!
//! - **in** ([`CopyIn`], `copy_in`): files written into the run's fresh tmpfs (`/w`, `/tmp`)
//!   before the program starts, from text, a host file or a stored file;
//!   `stdin` ([`Input`]) may be text or a stored file too;
//! - **out**: `stdout` / `stderr` captured by a [`collect::Collector`] ([`OutputTo`]);
//!   `copy_out` files returned as text, `copy_out_cached` ones put in the [`FileStore`]
//!   and returned by id; each bounded, and every problem an entry of
//!   [`FilesOut::file_errors`], never the run's status;
//! - the store ([`store`]), shared by every run of a batch or a server.
//!
//! The steps, in the one lifecycle (`run.rs`): the request's values are checked as
//! they are read (pure: [`path`], the types here); the inputs are opened before any
//! sandbox is taken ([`open_inputs`]: an unknown id, a host path through a link, are the
//! request's errors and nothing is left behind); in a container, [`RunFiles::fill`] writes
//! them into the room's mounts before they are attached, the collectors are drained while
//! the program runs, and [`RunFiles::copy_out`] reads the outputs after it
//! ([`copy`] has the rules of both copies).

pub mod collect;
pub mod copy;
pub mod path;
pub mod store;

use crate::cancel::Cancel;
use crate::given_path;
use crate::units::Size;
use collect::{Collector, MAX_COLLECT};
use copy::{Found, Source};
pub use path::{Area, SandboxPath};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::str::FromStr;
pub use store::{FileStore, StoreError, StoredFile};

/// The default bound of each copied-out file: 64 MiB.
pub const DEFAULT_COPY_OUT_MAX: u64 = 64 << 20;
/// The most bytes of text a request may carry in one `content`: 16 MiB (a request line's
/// own bound).
pub const MAX_CONTENT: usize = 16 << 20;

/// A file mode, written as an octal string (`"0755"`), at most `0777`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl FromStr for FileMode {
    type Err = String;

    fn from_str(text: &str) -> Result<FileMode, String> {
        let digits = text.strip_prefix("0o").unwrap_or(text);
        match u32::from_str_radix(digits, 8) {
            Ok(mode) if mode <= 0o777 && !digits.is_empty() => Ok(FileMode(mode)),
            _ => Err(format!(
                "{text:?} is not a file mode (octal, at most \"0777\", such as \"0755\")"
            )),
        }
    }
}

/// Where a file copied in comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InSource {
    /// `{"content": "TEXT"}`.
    Content(String),
    /// `{"src": "/host/path"}`: a regular host file, reached through no symbolic link.
    Src(PathBuf),
    /// `{"file": "ID"}`: a file of the store.
    File(String),
    /// `{"symlink": "TARGET"}`: a symbolic link to `TARGET` (any path; nothing is looked
    /// at or followed, by runbox or the kernel, as the link is made), made after the
    /// entries that are files.
    Symlink(String),
}

/// The longest symbolic link target: `PATH_MAX` less its NUL.
pub const MAX_LINK_TARGET: usize = 4095;

/// One file to copy in: where, from what, with what mode (`None`: 0644 for text, the
/// source's own mode otherwise; a symbolic link has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyIn {
    /// Where in the sandbox.
    pub path: SandboxPath,
    /// From what.
    pub source: InSource,
    /// Its mode.
    pub mode: Option<FileMode>,
}

/// A request's `copy_in`: `{"PATH": {"content" | "src" | "file": ..., "mode"?: "0755"}}`
/// or `{"PATH": {"symlink": "TARGET"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyInList(pub Vec<CopyIn>);

/// A path to copy out: `"PATH"`, or `"PATH?"` for one that may be missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutName {
    /// The name as given, without its `?`: the key in the result.
    pub name: String,
    /// Where in the sandbox.
    pub path: SandboxPath,
    /// A missing file is no error.
    pub optional: bool,
}

/// A program's stdin: a host path (the command line's and a batch's string), text, or a
/// stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A host file (or `-`, runbox's own stdin, on the command line).
    Path(PathBuf),
    /// `{"content": "TEXT"}`.
    Content(String),
    /// `{"file": "ID"}`.
    File(String),
}

/// A program's stdout or stderr: a host path, or `{"collect": "64K"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTo {
    /// A host file, created or truncated.
    Path(PathBuf),
    /// Captured into the result, at most this many bytes (past them: the run is stopped,
    /// `output_limit_exceeded`).
    Collect(u64),
}

impl FromStr for Input {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Input, Self::Err> {
        Ok(Input::Path(text.into()))
    }
}

impl FromStr for OutputTo {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<OutputTo, Self::Err> {
        Ok(OutputTo::Path(text.into()))
    }
}

/// Reads a JSON object with exactly one of `sources` (a string each) and, if `with_mode`,
/// an optional `"mode"`; any other key is an error naming it.
fn one_of<'de, A: MapAccess<'de>>(
    mut map: A,
    sources: &'static [&'static str],
    with_mode: bool,
) -> Result<(&'static str, String, Option<FileMode>), A::Error> {
    let mut found: Option<(&'static str, String)> = None;
    let mut mode = None;
    while let Some(key) = map.next_key::<String>()? {
        if with_mode && key == "mode" {
            let text: String = map.next_value()?;
            mode = Some(text.parse().map_err(de::Error::custom)?);
            continue;
        }
        let Some(&source) = sources.iter().find(|s| **s == key) else {
            let mut expected: Vec<&str> = sources.to_vec();
            if with_mode {
                expected.push("mode");
            }
            return Err(de::Error::unknown_field(&key, leak(expected)));
        };
        if found.is_some() {
            return Err(de::Error::custom(format!(
                "one of {} only",
                quoted(sources)
            )));
        }
        found = Some((source, map.next_value()?));
    }
    let (source, value) =
        found.ok_or_else(|| de::Error::custom(format!("needs one of {}", quoted(sources))))?;
    if value.len() > MAX_CONTENT {
        return Err(de::Error::custom(format!(
            "{source}: longer than {MAX_CONTENT} bytes"
        )));
    }
    Ok((source, value, mode))
}

fn quoted(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

/// serde's `unknown_field` wants a `'static` list: the few lists here are fixed.
fn leak(names: Vec<&'static str>) -> &'static [&'static str] {
    match names.as_slice() {
        ["content", "src", "file", "symlink", "mode"] => {
            &["content", "src", "file", "symlink", "mode"]
        }
        ["content", "file"] => &["content", "file"],
        ["collect"] => &["collect"],
        _ => &[],
    }
}

/// A visitor of a string or an object, for the stdio fields.
struct PathOr<T> {
    expecting: &'static str,
    from_path: fn(PathBuf) -> T,
    from_object: fn(&'static str, String) -> Result<T, String>,
    sources: &'static [&'static str],
}

impl<'de, T> Visitor<'de> for PathOr<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        Ok((self.from_path)(text.into()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let (source, value, _) = one_of(map, self.sources, false)?;
        (self.from_object)(source, value).map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Input, D::Error> {
        d.deserialize_any(PathOr {
            expecting: "a host path, {\"content\": \"TEXT\"} or {\"file\": \"ID\"}",
            from_path: Input::Path,
            from_object: |source, value| match source {
                "content" => Ok(Input::Content(value)),
                _ => Ok(Input::File(value)),
            },
            sources: &["content", "file"],
        })
    }
}

impl<'de> Deserialize<'de> for OutputTo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OutputTo, D::Error> {
        d.deserialize_any(PathOr {
            expecting: "a host path or {\"collect\": \"64K\"}",
            from_path: OutputTo::Path,
            from_object: |_, value| {
                let bound: Size<0, MAX_COLLECT> =
                    value.parse().map_err(|e| format!("collect: {e}"))?;
                Ok(OutputTo::Collect(bound.get()))
            },
            sources: &["collect"],
        })
    }
}

impl<'de> Deserialize<'de> for CopyInList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CopyInList, D::Error> {
        struct Files;
        impl<'de> Visitor<'de> for Files {
            type Value = CopyInList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an object {\"PATH\": {\"content\" | \"src\" | \"file\" | \"symlink\": ...}}",
                )
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CopyInList, A::Error> {
                let mut all = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let path = path::parse(&key).map_err(de::Error::custom)?;
                    let entry: CopyInEntry = map.next_value()?;
                    all.push(CopyIn {
                        path,
                        source: entry.source,
                        mode: entry.mode,
                    });
                }
                Ok(CopyInList(all))
            }
        }
        d.deserialize_map(Files)
    }
}

/// One value of `copy_in`.
struct CopyInEntry {
    source: InSource,
    mode: Option<FileMode>,
}

impl<'de> Deserialize<'de> for CopyInEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CopyInEntry, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = CopyInEntry;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "{\"content\": \"TEXT\"}, {\"src\": \"/host/path\"}, {\"file\": \"ID\"} \
                     or {\"symlink\": \"TARGET\"}",
                )
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CopyInEntry, A::Error> {
                let sources = &["content", "src", "file", "symlink"];
                let (source, value, mode) = one_of(map, sources, true)?;
                let source = match source {
                    "content" => InSource::Content(value),
                    "src" => InSource::Src(value.into()),
                    "file" => InSource::File(value),
                    _ => InSource::Symlink(link_target(value, mode).map_err(de::Error::custom)?),
                };
                Ok(CopyInEntry { source, mode })
            }
        }
        d.deserialize_map(Entry)
    }
}

/// A symbolic link's target as a request gives it: not empty, no NUL, at most
/// [`MAX_LINK_TARGET`] bytes, and no `mode` beside it.
fn link_target(target: String, mode: Option<FileMode>) -> Result<String, String> {
    if mode.is_some() {
        return Err("symlink: a symbolic link has no mode".into());
    }
    check_link_target(&target)?;
    Ok(target)
}

/// Whether `target` can be a symbolic link's: not empty, no NUL, at most
/// [`MAX_LINK_TARGET`] bytes; the error says why not.
pub fn check_link_target(target: &str) -> Result<(), String> {
    if target.is_empty() || target.contains('\0') || target.len() > MAX_LINK_TARGET {
        return Err(format!(
            "symlink: {target:?} is no link target (1 to {MAX_LINK_TARGET} bytes, no NUL)"
        ));
    }
    Ok(())
}

impl<'de> Deserialize<'de> for OutName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OutName, D::Error> {
        let given = String::deserialize(d)?;
        let (name, optional) = match given.strip_suffix('?') {
            Some(name) => (name, true),
            None => (given.as_str(), false),
        };
        let path = path::parse(name).map_err(de::Error::custom)?;
        Ok(OutName {
            name: name.to_string(),
            path,
            optional,
        })
    }
}

/// A run's files, as the library's [`crate::RunSpec`] carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Files written in before the run.
    pub copy_in: Vec<CopyIn>,
    /// Files returned as text after it.
    pub copy_out: Vec<OutName>,
    /// Files put in the store after it, returned by id.
    pub copy_out_cached: Vec<OutName>,
    /// The most bytes of each file copied out.
    pub copy_out_max: u64,
}

impl Default for FileSpec {
    fn default() -> Self {
        FileSpec {
            copy_in: Vec::new(),
            copy_out: Vec::new(),
            copy_out_cached: Vec::new(),
            copy_out_max: DEFAULT_COPY_OUT_MAX,
        }
    }
}

impl FileSpec {
    /// True when the run copies nothing in or out.
    pub fn is_empty(&self) -> bool {
        self.copy_in.is_empty() && self.copy_out.is_empty() && self.copy_out_cached.is_empty()
    }
}

/// True where the kernel has `openat2` (for unit tests that use it: qemu-user has none).
#[cfg(test)]
pub(crate) fn openat2_works() -> bool {
    crate::sys::fs::open_no_symlinks(c"/", libc::O_PATH, 0)
        .map_or_else(|e| e.raw_os_error() != Some(libc::ENOSYS), |_| true)
}

/// Why a run's files could not be made ready: each names the field and the path or id.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A stored file asked for is not there.
    #[error("{field}: {source}")]
    Store {
        /// `copy_in /w/a.out`, `stdin`.
        field: String,
        /// Which id, and why (evicted, unknown).
        #[source]
        source: StoreError,
    },
    /// A stored file asked for where no store is (`runbox run`).
    #[error("{field}: {{\"file\": ...}} and copy_out_cached need a file store (runbox batch, or the library's)")]
    NoStore {
        /// The field.
        field: String,
    },
    /// A host `src` that cannot be opened, or is no regular file.
    #[error("copy_in {path}: src {why}")]
    Src {
        /// The path in the sandbox.
        path: String,
        /// What is wrong with the source.
        why: String,
    },
    /// A file could not be written into the room.
    #[error(transparent)]
    CopyIn(#[from] copy::CopyInError),
}

/// An input opened, ready to be written into any number of rooms (read at explicit
/// offsets).
#[derive(Debug)]
enum Opened {
    Text(String),
    Host {
        fd: OwnedFd,
        size: u64,
    },
    Stored(StoredFile),
    /// A symbolic link's target (made, not opened).
    Link(CString),
}

/// The inputs of a run, opened.
#[derive(Debug, Default)]
pub struct Inputs {
    files: Vec<(SandboxPath, Opened, u32)>,
}

/// Opens every input of `spec`: stored files looked up in `store`, host files reached
/// through no symbolic link and checked to be regular.
pub fn open_inputs(spec: &FileSpec, store: Option<&FileStore>) -> Result<Inputs, FilesError> {
    if !spec.copy_out_cached.is_empty() && store.is_none() {
        return Err(FilesError::NoStore {
            field: "copy_out_cached".into(),
        });
    }
    let mut files = Vec::with_capacity(spec.copy_in.len());
    for entry in &spec.copy_in {
        let field = || format!("copy_in {}", entry.path);
        let (opened, own_mode) = match &entry.source {
            InSource::Content(text) => (Opened::Text(text.clone()), 0o644),
            InSource::Symlink(target) => {
                // Checked when read; a request made in code is checked here.
                let target = CString::new(target.as_str()).map_err(|_| FilesError::Src {
                    path: entry.path.to_string(),
                    why: "symlink: a NUL byte in the target".into(),
                })?;
                (Opened::Link(target), 0o777)
            }
            InSource::File(id) => {
                let store = store.ok_or_else(|| FilesError::NoStore { field: field() })?;
                let file = store.get(id).map_err(|source| FilesError::Store {
                    field: field(),
                    source,
                })?;
                (Opened::Stored(file), 0o755)
            }
            InSource::Src(host) => {
                let src = |why: String| FilesError::Src {
                    path: entry.path.to_string(),
                    why,
                };
                let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY;
                let fd = given_path::open(host, flags, 0).map_err(|e| src(e.to_string()))?;
                let (kind, mode, size) = crate::sys::fs::stat_fd(fd.as_fd())
                    .map_err(|e| src(format!("{}: fstat: {e}", host.display())))?;
                if kind != libc::S_IFREG {
                    return Err(src(format!("{}: not a regular file", host.display())));
                }
                (Opened::Host { fd, size }, mode & 0o777)
            }
        };
        let mode = entry.mode.map_or(own_mode, |m| m.0);
        files.push((entry.path.clone(), opened, mode));
    }
    Ok(Inputs { files })
}

/// What a problem with a file copied out is.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileErrorKind {
    /// Missing, and not marked optional.
    NotFound,
    /// Past `copy_out_max` (or the store's bound).
    TooLarge,
    /// A symbolic link, a directory, a FIFO...
    NotRegular,
}

/// One problem with a file copied out.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The name as the request gave it.
    pub name: String,
    /// What kind of problem.
    #[serde(rename = "type")]
    pub kind: FileErrorKind,
    /// What exactly.
    pub message: String,
}

/// The files part of a result: collected outputs, files copied out, stored ids, problems.
/// Each is left out of the JSON when empty.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct FilesOut {
    /// The collected stdout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    /// The collected stderr.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
    /// `copy_out`: name -> text (invalid UTF-8 as U+FFFD).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub files: BTreeMap<String, String>,
    /// `copy_out_cached`: name -> id.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub file_ids: BTreeMap<String, String>,
    /// What could not be copied out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_errors: Vec<FileError>,
}

impl FilesOut {
    /// Takes the collectors' captures.
    pub fn collected(&mut self, collectors: &[Collector]) {
        for collector in collectors {
            let text = Some(collector.text());
            match collector.fd {
                1 => self.stdout = text,
                _ => self.stderr = text,
            }
        }
    }
}

/// The descriptors of a room's `/w` and `/tmp` mounts, kept from before they were
/// attached, for what is read after the run (the copies out, the look for full files): a
/// detached mount lives while a descriptor holds it.
#[derive(Debug, Default)]
pub struct KeptMounts {
    work: Option<OwnedFd>,
    tmp: Option<OwnedFd>,
}

impl KeptMounts {
    /// Keeps the mounts `mount_of` gives for `/w` and `/tmp`.
    pub fn keep<'m>(
        mount_of: impl Fn(Area) -> Option<BorrowedFd<'m>>,
    ) -> std::io::Result<KeptMounts> {
        let keep = |area| mount_of(area).map(|fd| fd.try_clone_to_owned()).transpose();
        Ok(KeptMounts {
            work: keep(Area::Work)?,
            tmp: keep(Area::Tmp)?,
        })
    }

    /// The kept mounts' roots.
    pub fn roots(&self) -> Vec<BorrowedFd<'_>> {
        [&self.work, &self.tmp]
            .into_iter()
            .flatten()
            .map(AsFd::as_fd)
            .collect()
    }
}

/// A run's files, as a container carries them out: what to write in, the collectors to
/// drain, what to read out and where to store, and what came out.
#[derive(Debug)]
pub struct RunFiles<'a> {
    /// The inputs, opened.
    pub inputs: &'a Inputs,
    /// The outputs asked for.
    pub spec: &'a FileSpec,
    /// The collected stdout and stderr (drained while the program runs).
    pub collectors: &'a mut [Collector],
    /// Where `copy_out_cached` files go.
    pub store: Option<&'a FileStore>,
    /// The order that ends the run early (a server's client went away), watched with the
    /// collectors while it runs.
    pub cancel: Option<&'a Cancel>,
    /// What came out.
    pub out: FilesOut,
}

impl RunFiles<'_> {
    /// Writes the inputs into the room's mounts (`mount_of` gives the root of `/w` or
    /// `/tmp`'s fresh mount), owned by `owner`.
    pub fn fill<'m>(
        &self,
        mount_of: impl Fn(Area) -> Option<BorrowedFd<'m>>,
        owner: u32,
    ) -> Result<(), FilesError> {
        // The files first, then the links (go-judge's order): no entry's parents are made
        // through a link, whatever the request's order (a path through one is refused).
        let (links, files): (Vec<_>, Vec<_>) = self
            .inputs
            .files
            .iter()
            .partition(|(_, opened, _)| matches!(opened, Opened::Link(_)));
        for (path, opened, mode) in files.into_iter().chain(links) {
            let root = mount_of(path.area).ok_or_else(|| copy::CopyInError {
                path: path.to_string(),
                step: "find the run's own tmpfs".into(),
                source: std::io::Error::from_raw_os_error(libc::ENOENT),
            })?;
            let source = match opened {
                Opened::Link(target) => {
                    copy::link_in(root, path, target, owner)?;
                    continue;
                }
                Opened::Text(text) => Source::Bytes(text.as_bytes()),
                Opened::Host { fd, size } => Source::File {
                    fd: fd.as_fd(),
                    size: *size,
                },
                Opened::Stored(file) => Source::File {
                    fd: file.fd(),
                    size: file.size,
                },
            };
            copy::write_in(root, path, source, *mode, owner)?;
        }
        Ok(())
    }

    /// After the run: the collectors' captures, and the copies out from `kept`.
    pub fn copy_out(&mut self, kept: &KeptMounts) -> std::io::Result<()> {
        self.out.collected(self.collectors);
        let max = self.spec.copy_out_max;
        let lists = [
            (&self.spec.copy_out, false),
            (&self.spec.copy_out_cached, true),
        ];
        for (list, cached) in lists {
            for out in list {
                let root = match out.path.area {
                    Area::Work => kept.work.as_ref(),
                    Area::Tmp => kept.tmp.as_ref(),
                };
                let found = match root {
                    Some(root) => copy::open_out(root.as_fd(), &out.path, max)?,
                    None => Found::Missing,
                };
                self.take(out, found, cached)?;
            }
        }
        Ok(())
    }

    /// Records one file copied out (or its problem).
    fn take(&mut self, out: &OutName, found: Found, cached: bool) -> std::io::Result<()> {
        let problem = |kind, message: String| FileError {
            name: out.name.clone(),
            kind,
            message,
        };
        let error = match found {
            Found::Missing if out.optional => return Ok(()),
            Found::Missing => problem(
                FileErrorKind::NotFound,
                format!("{}: no such file", out.path),
            ),
            Found::NotRegular(what) => problem(
                FileErrorKind::NotRegular,
                format!("{}: {what}, not a regular file", out.path),
            ),
            Found::TooLarge(size) => problem(
                FileErrorKind::TooLarge,
                format!(
                    "{}: {size} bytes, more than copy_out_max ({} bytes)",
                    out.path, self.spec.copy_out_max
                ),
            ),
            Found::File(fd, size) if cached => {
                let store = self.store.expect("checked in open_inputs");
                match store.add_from(&out.name, fd.as_fd(), size) {
                    Ok(id) => {
                        self.out.file_ids.insert(out.name.clone(), id);
                        return Ok(());
                    }
                    Err(e @ StoreError::TooLarge { .. }) => {
                        problem(FileErrorKind::TooLarge, format!("{}: {e}", out.path))
                    }
                    Err(StoreError::Io { source, .. }) => return Err(source),
                    Err(e) => return Err(std::io::Error::other(e.to_string())),
                }
            }
            Found::File(fd, size) => {
                let bytes = copy::read_at_most(fd.as_fd(), size)?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.out.files.insert(out.name.clone(), text);
                return Ok(());
            }
        };
        self.out.file_errors.push(error);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Request {
        #[serde(default)]
        copy_in: CopyInList,
        #[serde(default)]
        copy_out: Vec<OutName>,
        stdin: Option<Input>,
        stdout: Option<OutputTo>,
    }

    fn parse(json: &str) -> Result<Request, String> {
        let mut d = serde_json::Deserializer::from_str(json);
        serde_path_to_error::deserialize(&mut d).map_err(|e| e.to_string())
    }

    #[test]
    fn files_in_and_out_parse_with_their_modes_and_options() {
        let r = parse(
            r#"{"copy_in":{"a.cpp":{"content":"int main(){}"},"/tmp/b":{"src":"/etc/hostname","mode":"0600"},"/w/bin/x":{"file":"ABCDEFGH","mode":"755"}},
                "copy_out":["out.txt","maybe?"],"stdin":{"content":"1 2\n"},"stdout":{"collect":"64K"}}"#,
        )
        .unwrap();
        let list = r.copy_in.0;
        assert_eq!(list.len(), 3);
        assert_eq!(list[0].path.to_string(), "/w/a.cpp");
        assert_eq!(list[1].mode, Some(FileMode(0o600)));
        assert_eq!(list[2].source, InSource::File("ABCDEFGH".into()));
        assert_eq!(list[2].mode, Some(FileMode(0o755)));
        assert!(!r.copy_out[0].optional && r.copy_out[1].optional);
        assert_eq!(r.copy_out[1].name, "maybe");
        assert_eq!(r.stdin, Some(Input::Content("1 2\n".into())));
        assert_eq!(r.stdout, Some(OutputTo::Collect(64 << 10)));
        let link = parse(r#"{"copy_in":{"l":{"symlink":"../../etc/passwd"}}}"#).unwrap();
        assert_eq!(
            (&link.copy_in.0[0].source, link.copy_in.0[0].mode),
            (&InSource::Symlink("../../etc/passwd".into()), None)
        );
        let plain = parse(r#"{"stdin":"/in","stdout":"/out"}"#).unwrap();
        assert_eq!(plain.stdin, Some(Input::Path("/in".into())));
        assert_eq!(plain.stdout, Some(OutputTo::Path("/out".into())));
    }

    #[test]
    fn bad_files_name_their_field() {
        let cases = [
            (
                r#"{"copy_in":{"../x":{"content":""}}}"#,
                "copy_in",
                "\"..\" is refused",
            ),
            (
                r#"{"copy_in":{"/etc/x":{"content":""}}}"#,
                "copy_in",
                "not under /w or /tmp",
            ),
            (
                r#"{"copy_in":{"a\u0000b":{"content":""}}}"#,
                "copy_in",
                "NUL",
            ),
            (
                r#"{"copy_in":{"a":{"content":"","mode":"0999"}}}"#,
                "copy_in.a",
                "not a file mode",
            ),
            (
                r#"{"copy_in":{"a":{"content":"","src":"/x"}}}"#,
                "copy_in.a",
                "one of",
            ),
            (r#"{"copy_in":{"a":{}}}"#, "copy_in.a", "needs one of"),
            (
                r#"{"copy_in":{"a":{"symlink":"t","mode":"0777"}}}"#,
                "copy_in.a",
                "a symbolic link has no mode",
            ),
            (
                r#"{"copy_in":{"a":{"symlink":""}}}"#,
                "copy_in.a",
                "is no link target",
            ),
            (
                r#"{"copy_in":{"a":{"contents":""}}}"#,
                "copy_in.a",
                "unknown field `contents`",
            ),
            (r#"{"copy_in":["a"]}"#, "copy_in", "invalid type"),
            (
                r#"{"copy_out":["/proc/1/environ"]}"#,
                "copy_out[0]",
                "not under /w or /tmp",
            ),
            (r#"{"copy_out":[7]}"#, "copy_out[0]", "invalid type"),
            (r#"{"stdin":{"file":1}}"#, "stdin", "invalid type"),
            (
                r#"{"stdin":{"collect":"1K"}}"#,
                "stdin",
                "unknown field `collect`",
            ),
            (
                r#"{"stdout":{"collect":"2G"}}"#,
                "stdout",
                "collect: must be at most 1G",
            ),
            (r#"{"stdout":{"collect":"lots"}}"#, "stdout", "collect:"),
            (
                r#"{"stdout":{"content":"x"}}"#,
                "stdout",
                "unknown field `content`",
            ),
        ];
        for (json, field, says) in cases {
            let err = parse(json).unwrap_err();
            assert!(err.starts_with(field), "{json}: {err}");
            assert!(err.contains(says), "{json}: {err}");
        }
    }

    #[test]
    fn an_unknown_stored_file_is_named_and_no_store_is_said() {
        let spec = FileSpec {
            copy_in: vec![CopyIn {
                path: path::parse("a").unwrap(),
                source: InSource::File("ZZZZZZZZ".into()),
                mode: None,
            }],
            ..FileSpec::default()
        };
        let store = FileStore::default();
        let err = open_inputs(&spec, Some(&store)).unwrap_err().to_string();
        assert!(
            err.contains("copy_in /w/a") && err.contains("\"ZZZZZZZZ\""),
            "{err}"
        );
        let err = open_inputs(&spec, None).unwrap_err().to_string();
        assert!(err.contains("need a file store"), "{err}");
        let link = FileSpec {
            copy_in: vec![CopyIn {
                path: path::parse("a").unwrap(),
                source: InSource::Src("/proc/self/cwd/Cargo.toml".into()),
                mode: None,
            }],
            ..FileSpec::default()
        };
        if !openat2_works() {
            return; // qemu-user has no openat2 (the emulated kernels and the host do)
        }
        let err = open_inputs(&link, None).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
    }
}
