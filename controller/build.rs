//! Builds the container's init (crate runbox-init) for this target's architecture and hands
//! its path to `include_bytes!` (env RUNBOX_INIT_PATH).
//!
//! Artifact dependencies are nightly-only, so this runs a nested `cargo build` with a target
//! dir of its own (sharing the outer one deadlocks `cargo build --release`) and with the outer
//! build's flags removed from its environment. The init links no libc and has its own
//! `_start`, hence the link flags below; rust-lld links it for every architecture, so no
//! cross C toolchain is needed for it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// The init's target for each architecture the controller can be built for.
fn init_target(arch: &str) -> &'static str {
    match arch {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        // armv7 musl's std is not available on stable; the init needs no libc anyway.
        "arm" => "armv7-unknown-linux-gnueabihf",
        other => panic!("runbox supports x86_64, aarch64 and arm, not {other}"),
    }
}

/// Why each flag: no C start files or libc of the toolchain's (init has its own `_start`
/// and memory routines), a position-dependent static executable (no dynamic loader or
/// self-relocation needed), and rust-lld so that any host can link any of the targets.
const INIT_RUSTFLAGS: &[&str] = &[
    "-Clink-self-contained=no",
    "-Crelocation-model=static",
    "-Ctarget-feature=+crt-static",
    "-Clinker=rust-lld",
    "-Clinker-flavor=ld.lld",
];

/// The flags for `target`: on aarch64, atomics are inlined (LL/SC, every ARMv8 CPU) instead
/// of outlined to compiler_builtins helpers, which pick LSE at run time through libc's
/// getauxval, which init does not have.
fn init_rustflags(target: &str) -> Vec<&'static str> {
    let mut flags = INIT_RUSTFLAGS.to_vec();
    if target.starts_with("aarch64") {
        flags.push("-Ctarget-feature=-outline-atomics");
    }
    flags
}

fn main() {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let target = init_target(&arch);
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir
        .parent()
        .expect("controller/ is inside the workspace");
    let target_dir = out_dir.join("init-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--package",
            "runbox-init",
            "--target",
            target,
        ])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            init_rustflags(target).join("\x1f"),
        )
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "s")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false");
    for var in [
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_LLVM_COV",
        "RUSTC_WRAPPER",
    ] {
        build.env_remove(var);
    }
    // A cross build of the controller may name a linker or flags for the same triple as the
    // init's (armv7): the init's own flags above must win.
    let triple_var = target.to_uppercase().replace('-', "_");
    for suffix in ["LINKER", "RUSTFLAGS"] {
        build.env_remove(format!("CARGO_TARGET_{triple_var}_{suffix}"));
    }
    let status = build
        .status()
        .expect("run the nested cargo build of runbox-init");
    assert!(
        status.success(),
        "building runbox-init for {target} failed; is the target installed? \
         (scripts/setup.sh, or: rustup target add {target})"
    );

    let init = target_dir.join(target).join("release").join("runbox-init");
    println!("cargo:rustc-env=RUNBOX_INIT_PATH={}", init.display());
    println!("cargo:rustc-env=RUNBOX_INIT_TARGET={target}");
    for path in ["init", "shared", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
}
