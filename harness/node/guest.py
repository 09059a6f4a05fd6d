"""Files installed into the node image: its PID 1 and the command server the host drives it through."""

REALNODE_RUN = r"""#!/bin/bash
# PID 1 of an nc-harness node (user-mode-linux): mount the basics, load loop and device-mapper, start udev
# as a real node has it, mount the data disk on /disk1 and the host's exchange directory on /xchg, then
# serve commands (realnode-serve) on the console.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /run /disk1 /xchg
mount -t devpts devpts /dev/pts
mount -t tmpfs run /run
mount -o remount,rw /
hostname realnode
for m in dm_mod dm_snapshot dm_zero loop; do modprobe "$m"; done
if ! grep -qw realnode.noudev /proc/cmdline; then
    /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
    udevadm trigger --action=add --subsystem-match=block --subsystem-match=misc
    udevadm settle
fi
mount LABEL=disk1 /disk1 2>/dev/null || mount /dev/ubdb /disk1
share=$(sed -n 's/.*realnode.share=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$share" ] && mount -t hostfs none /xchg -o "$share"
ip=$(sed -n 's/.*realnode.ip=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$ip" ]; then
    # ssh mode: the first NIC gets the address, root's key comes from the host, sshd starts
    ip link set lo up
    nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
    ip addr add "$ip" dev "$nic" && ip link set "$nic" up
    mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh
    [ -f /xchg/authorized_keys ] && cp /xchg/authorized_keys /root/.ssh/authorized_keys
    ssh-keygen -A >/dev/null 2>&1
    /usr/sbin/sshd
fi
exec /usr/local/sbin/realnode-serve
"""

REALNODE_SERVE = r"""#!/bin/bash
# Reads request numbers on the console. Request N is /xchg/N.argv (NUL-separated argv, run as is: no shell
# parses it) with /xchg/N.in as stdin; stdout, stderr and the exit status go to N.out, N.err, N.rc.
stty -echo -onlcr 2>/dev/null
cd /root
useradd --system --no-create-home eucalyptus 2>/dev/null   # a node controller's own user, as on a real NC
echo "__REALNODE_READY__"
while read -r n; do
    case "$n" in ''|*[!0-9]*) continue ;; esac
    mapfile -d '' -t argv < "/xchg/$n.argv"
    case "${argv[0]}" in
        # builtins that would change this loop's shell run in a subshell; anything else is forked once
        exit|exec|cd|source|.|eval|set|shopt|read|trap|ulimit|umask|export|unset|alias|builtin|command)
            ( "${argv[@]}" ) < "/xchg/$n.in" > "/xchg/$n.out" 2> "/xchg/$n.err" ;;
        *)  "${argv[@]}" < "/xchg/$n.in" > "/xchg/$n.out" 2> "/xchg/$n.err" ;;
    esac
    echo $? > "/xchg/$n.rc"
    echo "__REALNODE_DONE__ $n"
done
"""

MODPROBE_DM = "options dm_mod major=253\n"
FSTAB = "LABEL=realroot / ext4 rw 0 1\n"
