#!/bin/bash
# exploration
exec 2>&1
echo "guest: $(uname -srm), $(nproc) CPUs"
echo "guest: own $(cat /proc/self/cgroup)"
cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)
echo "guest: controllers $(cat $cg/cgroup.controllers) subtree $(cat $cg/cgroup.subtree_control)"
python3 -c 1 2>/dev/null && echo py
for f in trusted.delegate user.delegate; do
  perl -e 'my $v=""; syscall(191, $ARGV[0], $ARGV[1], $v="x"x64, 64) >= 0 ? print "guest: xattr $ARGV[1] set\n" : print "guest: xattr $ARGV[1]: $!\n"' "$cg" $f 2>&1 || echo "guest: no perl"
done
ls /sys/fs/cgroup/user.slice/ 2>&1 | sed 's/^/guest: /'
systemctl status user@1000.service --no-pager 2>&1 | head -5 | sed 's/^/guest: /'
cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.subtree_control | sed 's/^/guest: user@ subtree /'
runuser -u judge -- env XDG_RUNTIME_DIR=/run/user/1000 systemd-run --user --scope -p Delegate=yes -- sh -c 'cat /proc/self/cgroup; cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); cat $cg/cgroup.controllers; ls -la $cg | head; perl -e "my \$v; print syscall(191, \$ARGV[0], \"user.delegate\", \$v=\"x\"x64, 64), \" \$!\n\"" $cg' 2>&1 | sed 's/^/guest: user: /'
systemd-run --scope -p Delegate=no -- sh -c 'cat /proc/self/cgroup' 2>&1 | sed 's/^/guest: nodeleg: /'
systemd-run --scope -p Delegate=yes -- sh -c 'cg=/sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup); echo $cg; perl -e "my \$v; print syscall(191, \$ARGV[0], \"trusted.delegate\", \$v=\"x\"x64, 64), \" \$!\n\"" $cg' 2>&1 | sed 's/^/guest: deleg: /'
cat /proc/sys/kernel/unprivileged_userns_clone 2>&1 | sed 's/^/guest: userns /'
ls /sys/fs/cgroup/system.slice/runbox-guest.service/ | tr '\n' ' ' | sed 's/^/guest: files /'; echo
echo "1 passed, 0 failed"
systemctl poweroff --no-block
