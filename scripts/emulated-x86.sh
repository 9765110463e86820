#!/usr/bin/env bash
# The emulated x86_64 run: pure cgroup v2 under systemd, as most judge hosts are. Boots
# Debian's own amd64 kernel under qemu-system-x86_64 (TCG) with a minimal Debian 12 rootfs
# (systemd 252, cgroup2 only, nsdelegate, every mount shared; python3 for the fresh room's
# hostile programs), and runs there, on a 9p share, the integration test binaries of
# container mode, every limit and verdict, the pool and the fresh room, built on the host:
# as root inside a `Delegate=yes` service, then (but the fresh room's, which need root) as
# a non-root user inside `systemd-run --user --scope -p Delegate=yes`; the checks of
# tests/emulated/systemd (the documented error from a non-delegated scope, runbox alone in
# a delegated scope, RUNBOX_CGROUP_PARENT); and the figures of the report. TCG is many times slower than a
# native CPU: the guest sets RUNBOX_TEST_SLOWDOWN (the CPU budgets of runs whose time is
# not under test grow, timing checks take the bounds measured there),
# RUNBOX_TEST_POOL_RUNS (fewer pool runs) and RUNBOX_TEST_CACHE_FILE (a file of the share,
# the one filesystem there with a page cache). The guest prints "N passed, N failed"; this
# script checks that line.
#
#   scripts/emulated-x86.sh [--no-build]     (--no-build: take the test binaries as built)
#
# Everything it needs it installs (qemu-system-x86, mmdebstrap, cpio, xz-utils); the kernel
# is fetched with apt-get download and unpacked, never installed; the rootfs is built with
# mmdebstrap. Both are cached in target/emulation/x86_64.
#
# Why this shape (measured on these machines, see issue 18): KVM here cannot run Debian's
# kernel, so TCG; qemu boots the uncompressed vmlinux (decompressing under TCG is slow);
# the rootfs rides in an uncompressed cpio, and its /init copies it onto a tmpfs and
# switch_roots there (pivot_root, which container mode needs, cannot leave the initramfs);
# the 9p modules are loaded by that /init in dependency order; `tsc=reliable` keeps the
# clocksource on the TSC that sched_clock (CPU time) uses: under TCG the watchdog would
# otherwise switch the wall clock to another source, and CPU time then ran up to 4x faster
# than wall time (a 250 ms run charged 1.1 s).
set -euo pipefail
cd "$(dirname "$0")/.."
build=yes
[ "${1:-}" = --no-build ] && build=no

missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v cpio >/dev/null || missing+=(cpio)
command -v xz >/dev/null || missing+=(xz-utils)
if [ ${#missing[@]} -gt 0 ]; then
    echo "emulated-x86: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=target/emulation/x86_64
mkdir -p "$work/debs"
# The 9p modules, in the order each needs the one before.
modules=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci 9pnet 9pnet_virtio netfs fscache 9p)

# The kernel: linux-image-amd64's image package, fetched once.
kernel_name=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [ -z "$kernel_name" ]; then
    apt-get update -qq
    kernel_name=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
if ! compgen -G "$work/debs/${kernel_name}_*.deb" >/dev/null; then
    (cd "$work/debs" && apt-get download -qq "$kernel_name" 2>/dev/null)
fi
deb=$(compgen -G "$work/debs/${kernel_name}_*.deb" | sort | tail -1)
kernel_dir="$work/kernel-$(basename "$deb" .deb)"
if [ ! -e "$kernel_dir/vmlinux" ]; then
    rm -rf "$kernel_dir" "$kernel_dir.new"
    mkdir -p "$kernel_dir.new/unpacked"
    dpkg-deb -x "$deb" "$kernel_dir.new/unpacked"
    vmlinuz=$(compgen -G "$kernel_dir.new/unpacked/boot/vmlinuz-*" | head -1)
    # The bzImage holds the kernel as an xz stream after its set-up code.
    offset=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
    tail -c +$((offset + 1)) "$vmlinuz" | xz -dc >"$kernel_dir.new/vmlinux" 2>/dev/null || true
    file -b "$kernel_dir.new/vmlinux" | grep -q '^ELF 64-bit' || {
        echo "emulated-x86: no vmlinux in $vmlinuz" >&2
        exit 1
    }
    mkdir -p "$kernel_dir.new/modules"
    for m in "${modules[@]}"; do
        find "$kernel_dir.new/unpacked/lib/modules" -name "$m.ko" -exec cp {} "$kernel_dir.new/modules/" \;
    done
    rm -rf "$kernel_dir.new/unpacked"
    mv "$kernel_dir.new" "$kernel_dir"
fi

# The rootfs: Debian 12 minbase with systemd (kmod, or the boot is `degraded`; dbus and
# libpam-systemd for logind and the user manager) and python3 (the fresh-room tests' hostile
# programs: ctypes, resource and mmap are in its libpython3.11-stdlib, not in
# python3-minimal), built once. Its tar is named by a hash of the package list, so that a
# cached rootfs of another list is rebuilt, not reused.
packages=systemd-sysv,udev,kmod,dbus,libpam-systemd,python3
rootfs="$work/rootfs-$(echo "$packages" | sha256sum | cut -c1-16).tar"
if [ ! -e "$rootfs" ]; then
    echo "emulated-x86: building the Debian 12 rootfs with mmdebstrap ($packages)" >&2
    rm -f "$work"/rootfs.tar "$work"/rootfs-*.tar "$work"/rootfs-*.tar.new
    # --format: the name ends in .new, from which mmdebstrap would guess a directory.
    mmdebstrap --quiet --format=tar --variant=minbase --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' bookworm "$rootfs.new"
    mv "$rootfs.new" "$rootfs"
fi

# The initramfs: the rootfs, the modules, the guest's units and /init. Rebuilt when any of
# its inputs changes (the guest's scripts are on the share, not in it).
guest=tests/emulated/systemd
stamp=$( (sha256sum "$rootfs" "$kernel_dir"/modules/* "$guest"/init "$guest"/*.service \
    "$guest"/*.target "$0" | sha256sum) | cut -c1-16)
initrd="$work/initrd-$stamp.cpio"
if [ ! -e "$initrd" ]; then
    rm -f "$work"/initrd-*.cpio
    root="$work/root"
    rm -rf "$root"
    mkdir -p "$root"
    tar -xf "$rootfs" -C "$root"
    mkdir -p "$root/modules" "$root/share"
    cp "$kernel_dir"/modules/*.ko "$root/modules/"
    printf '%s\n' "${modules[@]}" >"$root/modules/order"
    cp "$guest/init" "$root/init"
    chmod 755 "$root/init"
    install -m 644 "$guest"/*.service "$guest"/*.target "$root/etc/systemd/system/"
    ln -sf runbox-guest.target "$root/etc/systemd/system/default.target"
    # The serial line is the tests' output, not a login prompt.
    ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
    ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
    # cache=loose: the share's files have a page cache, that of RUNBOX_TEST_CACHE_FILE (lib.sh).
    echo "tests /share 9p trans=virtio,version=9p2000.L,ro,nofail,cache=loose,msize=262144 0 0" >>"$root/etc/fstab"
    echo runbox-guest >"$root/etc/hostname"
    # The non-root user, with a user manager from boot on (lingering) and subordinate ids.
    chroot "$root" useradd --uid 1000 --create-home --shell /bin/bash judge
    mkdir -p "$root/var/lib/systemd/linger"
    touch "$root/var/lib/systemd/linger/judge"
    (cd "$root" && find . | cpio -o -H newc --quiet) >"$initrd.new"
    rm -rf "$root"
    mv "$initrd.new" "$initrd"
fi

# The test binaries, built on the host (same glibc as the guest), shared read-only.
if [ $build = yes ]; then
    cargo build --locked --package runbox --bin runbox
    cargo test --locked --no-run --package runbox-tests
fi
share="$work/share"
rm -rf "$share"
mkdir -p "$share/deps"
for bin in runbox runbox-probe runbox-bigstatic; do
    cp -l "target/debug/$bin" "$share/$bin" 2>/dev/null || cp "target/debug/$bin" "$share/$bin"
done
for test in container limits pool fresh_room ahead; do
    exe=$(find target/debug/deps -maxdepth 1 -type f -executable -name "$test-*" -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2)
    [ -n "$exe" ] || {
        echo "emulated-x86: no test binary $test in target/debug/deps" >&2
        exit 1
    }
    cp -l "$exe" "$share/deps/$test" 2>/dev/null || cp "$exe" "$share/deps/$test"
done
cp "$guest"/*.sh "$share/"
# The fresh room's cache test reads this (RUNBOX_TEST_CACHE_FILE): 300 MiB on a filesystem
# with a page cache, which the guest's tmpfs has not. Sparse: nothing on the host's disk.
truncate -s 300M "$share/cache-file"

echo "emulated-x86: booting $(basename "$kernel_dir") under qemu-system-x86_64 (TCG)"
log="$work/console.log"
started=$SECONDS
timeout 900 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 3072 \
    -nographic -no-reboot -nic none \
    -kernel "$kernel_dir/vmlinux" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet systemd.show_status=false tsc=reliable transparent_hugepage=always" \
    -virtfs "local,path=$share,mount_tag=tests,security_model=none,readonly=on" \
    </dev/null >"$log" 2>&1 || true
tr -d '\r' <"$log" | grep -E '^(guest|PASS|FAIL|    |root: |user: |measure: |time: )' || true
summary=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1 || true)
echo "emulated-x86: ${summary:-no summary (see $log)} in $((SECONDS - started)) s"
[[ $summary =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]
