#!/usr/bin/env bash
# The emulated arm run: boots Debian's own arm64 and armmp kernels under qemu-system with a
# small initramfs (the static arm build of runbox, a static test program, busybox, and the
# driver tests/emulated/init.sh), which runs the smoke suite as root in the guest and prints
# "N passed, N failed". This script checks that line for each kernel.
#
#   scripts/emulated-arm.sh [arm64] [armhf]      (default: both)
#
# Everything it needs it installs: qemu-system-arm, cpio, the cross C compilers; the
# kernels and busybox are fetched with apt-get download for their architectures (added to
# dpkg's foreign architectures for that) and unpacked, never installed. Downloads are kept
# in target/emulation/debs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# shellcheck source=scripts/cross-env.sh
source scripts/cross-env.sh

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(arm64 armhf)

missing=()
command -v qemu-system-aarch64 >/dev/null || missing+=(qemu-system-arm)
command -v cpio >/dev/null || missing+=(cpio)
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
dpkg -s libc6-dev-arm64-cross >/dev/null 2>&1 || missing+=(libc6-dev-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
    echo "emulated-arm: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The package lists of the foreign architectures: fetched once, again if the kernel
# package is unknown. A list that fails to download (a mirror in sync) is not fatal by
# itself: what matters is that the packages below resolve.
stale=no
for arch in "${arches[@]}"; do
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        dpkg --add-architecture "$arch"
        stale=yes
    fi
    case $arch in arm64) probe=linux-image-arm64 ;; *) probe=linux-image-armmp ;; esac
    apt-cache show "$probe:$arch" >/dev/null 2>&1 || stale=yes
done
if [ $stale = yes ]; then
    apt-get update -qq || echo "emulated-arm: apt-get update reported errors; going on" >&2
fi

work=target/emulation
mkdir -p "$work/debs"

# The newest .deb of PACKAGE:ARCH in the download cache, fetched if missing. For a
# metapackage (linux-image-arm64), the kernel image package it depends on.
fetch() {
    local package=$1 arch=$2 name
    name=$package
    if [[ $package == linux-image-* ]]; then
        name=$(apt-cache depends "$package:$arch" | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
        name=${name%%:*}
    fi
    if ! compgen -G "$work/debs/${name}_*_$arch.deb" >/dev/null; then
        (cd "$work/debs" && apt-get download -qq "$name:$arch" 2>/dev/null)
    fi
    compgen -G "$work/debs/${name}_*_$arch.deb" | sort | tail -1
}

status=0
for arch in "${arches[@]}"; do
    case $arch in
    arm64)
        target=aarch64-unknown-linux-musl kernel_package=linux-image-arm64
        cc=aarch64-linux-gnu-gcc qemu=(qemu-system-aarch64 -M virt -cpu cortex-a57)
        ;;
    armhf)
        target=armv7-unknown-linux-gnueabihf kernel_package=linux-image-armmp
        cc=arm-linux-gnueabihf-gcc qemu=(qemu-system-arm -M virt -cpu cortex-a15)
        ;;
    *)
        echo "emulated-arm: unknown architecture $arch (arm64 or armhf)" >&2
        exit 2
        ;;
    esac
    dir="$work/$arch"
    rm -rf "$dir"
    mkdir -p "$dir/unpacked" "$dir/root"/{bin,usr/bin,etc,tmp,proc,sys,dev}
    dpkg-deb -x "$(fetch "$kernel_package" "$arch")" "$dir/unpacked"
    dpkg-deb -x "$(fetch busybox-static "$arch")" "$dir/unpacked"
    kernel=$(compgen -G "$dir/unpacked/boot/vmlinuz-*" | head -1)

    cargo build --release --locked --package runbox --bin runbox --target "$target"
    root="$dir/root"
    cp "target/$target/release/runbox" "$root/runbox"
    "$cc" -static -O2 -o "$root/usr/bin/probe" tests/emulated/probe.c
    cp "$dir/unpacked/bin/busybox" "$root/bin/busybox"
    cp tests/emulated/init.sh "$root/init"
    chmod 755 "$root/init"
    chmod 1777 "$root/tmp"
    cp tests/emulated/runbox.toml "$root/etc/runbox.toml"
    echo "a host file no sandbox may read" >"$root/secret"
    chmod 644 "$root/secret"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initrd.gz"

    echo "emulated-arm: booting $(basename "$kernel") under ${qemu[0]}"
    log="$dir/console.log"
    started=$SECONDS
    timeout 600 "${qemu[@]}" -m 768 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$kernel" -initrd "$dir/initrd.gz" \
        -append "console=ttyAMA0 panic=-1 quiet" </dev/null >"$log" 2>&1 || true
    tr -d '\r' <"$log" | grep -E '^(guest:|PASS|FAIL|    )' || true
    summary=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1 || true)
    echo "emulated-arm: $arch: ${summary:-no summary (see $log)} in $((SECONDS - started)) s"
    if [[ ! $summary =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
        status=1
    fi
done
exit $status
