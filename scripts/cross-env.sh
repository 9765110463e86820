#!/usr/bin/env bash
# Sourced by the cross-architecture scripts: installs what building and running the arm
# targets needs (Debian's armhf cross gcc and libc, file, qemu-user-static) and sets cargo's
# per-target linkers, flags and runners. See ../shared/TOOLCHAIN.md for why these routes.
missing=()
command -v arm-linux-gnueabihf-gcc >/dev/null || missing+=(gcc-arm-linux-gnueabihf)
dpkg -s libc6-dev-armhf-cross >/dev/null 2>&1 || missing+=(libc6-dev-armhf-cross)
command -v file >/dev/null || missing+=(file)
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
if [ ${#missing[@]} -gt 0 ]; then
    echo "cross-env: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# aarch64: musl, linked by rust-lld (the default cc cannot); run by qemu-user.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER=qemu-aarch64-static
# armv7: no musl std on stable; glibc linked statically by Debian's cross gcc.
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUSTFLAGS="-C target-feature=+crt-static"
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER=qemu-arm-static
