"""Files installed into the node image: its PID 1, the command server the host drives it through, the DHCP
hook, and the Vagrantfile packed into the box."""

REALNODE_RUN = r"""#!/bin/bash
# PID 1 of an nc-harness node (user-mode-linux, QEMU or a Vagrant/libvirt VM): mount the basics, load loop and
# device-mapper, start udev as a real node has it, mount the data disk on /disk1 and the host's exchange
# directory on /xchg (UML hostfs or QEMU 9p), then serve commands (realnode-serve) on the console.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts /run /disk1 /xchg
mount -t devpts devpts /dev/pts
mount -t tmpfs run /run
mount -o remount,rw /
cmdline=$(cat /proc/cmdline)
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
hostname "$(arg realnode.hostname | grep . || echo realnode)"
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$(hostname)" > /etc/hosts   # sudo resolves its own host name
for m in dm_mod dm_snapshot dm_zero loop; do modprobe "$m"; done
[ -d /sys/bus/virtio ] && modprobe virtio_net 2>/dev/null
if ! grep -qw realnode.noudev /proc/cmdline; then
    /lib/systemd/systemd-udevd --daemon >/dev/null 2>&1
    udevadm trigger --action=add --subsystem-match=block --subsystem-match=misc
    udevadm settle
fi
mount LABEL=disk1 /disk1 2>/dev/null || mount /dev/ubdb /disk1
share=$(arg realnode.share)
[ -n "$share" ] && mount -t hostfs none /xchg -o "$share"
case " $cmdline " in *" realnode.9p "*)
    modprobe 9pnet_virtio; modprobe 9p
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 xchg /xchg ;;
esac
ip=$(arg realnode.ip)
ip link set lo up
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
if [ -n "$ip" ]; then
    # ssh mode: the first NIC gets the address, root's key comes from the host, sshd starts
    ip addr add "$ip" dev "$nic" && ip link set "$nic" up
    gw=$(arg realnode.gw)
    [ -n "$gw" ] && ip route add default via "$gw"
fi
case " $cmdline " in *" realnode.dhcp "*)
    # Vagrant/libvirt mode: an address from libvirt's dnsmasq, as a cloud node gets one
    ip link set "$nic" up
    busybox udhcpc -q -t 30 -i "$nic" -s /usr/local/sbin/realnode-dhcp >/dev/null 2>&1 ;;
esac
if [ -n "$ip" ] || [ -n "$nic" -a -n "$(ip -4 addr show dev "$nic" 2>/dev/null)" ]; then
    mkdir -p /root/.ssh /run/sshd && chmod 700 /root/.ssh
    [ -f /xchg/authorized_keys ] && cp /xchg/authorized_keys /root/.ssh/authorized_keys
    ssh-keygen -A >/dev/null 2>&1
    /usr/sbin/sshd
fi
/usr/local/sbin/realnode-serve
# the console closed: stay up as PID 1 (its exit would panic the kernel) and reap orphans
while :; do sleep 3600 & wait $!; done
"""

REALNODE_SERVE = r"""#!/bin/bash
# Reads request numbers on the console. Request N is /xchg/N.argv (NUL-separated argv, run as is: no shell
# parses it) with /xchg/N.in as stdin; stdout, stderr and the exit status go to N.out, N.err, N.rc. `N&` is
# served in the background: the host sends that from a worker thread, or while another request is running, so
# its threads can have several at once (each waits for its own before it sends the next). A lone request runs in
# this shell, as before: a background subshell costs one more fork, 30-45 ms on UML.
stty -echo -onlcr 2>/dev/null
dmesg -n 1 2>/dev/null   # kernel messages must not cut into the replies on the console
cd /root
useradd --system --no-create-home eucalyptus 2>/dev/null   # a node controller's own user, as on a real NC
serve() {
    local n=$1 argv
    mapfile -d '' -t argv < "/xchg/$n.argv"
    case "${argv[0]}" in
        # builtins that would change this shell run in a subshell; anything else is forked once
        exit|exec|cd|source|.|eval|set|shopt|read|trap|ulimit|umask|export|unset|alias|builtin|command)
            ( "${argv[@]}" ) < "/xchg/$n.in" > "/xchg/$n.out" 2> "/xchg/$n.err" ;;
        *)  "${argv[@]}" < "/xchg/$n.in" > "/xchg/$n.out" 2> "/xchg/$n.err" ;;
    esac
    echo $? > "/xchg/$n.rc"
    echo "__REALNODE_DONE__ $n"
}
echo "__REALNODE_READY__"
while read -r n; do
    case "$n" in
        *[0-9]'&') serve "${n%'&'}" & ;;
        ''|*[!0-9]*) continue ;;
        *) serve "$n" ;;
    esac
done
"""

REALNODE_DHCP = r"""#!/bin/sh
# udhcpc hook: apply the lease (address, default route, resolver)
case "$1" in
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        [ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
        [ -n "$dns" ] && printf 'nameserver %s\n' $dns > /etc/resolv.conf ;;
esac
exit 0
"""


def box_vagrantfile(boot_dir: str, box: str) -> str:
    """The box's own Vagrantfile: direct kernel boot of the node image (no bootloader), TCG unless the project
    Vagrantfile says kvm."""
    return f"""# nc-harness node box (built by `nc-harness node build --box`)
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
    lv.kernel = "{boot_dir}/{box}-vmlinuz"
    lv.initrd = "{boot_dir}/{box}-initrd.img"
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet init=/usr/local/sbin/realnode-run realnode.dhcp"
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
"""


MODPROBE_DM = "options dm_mod major=253\n"
FSTAB = "LABEL=realroot / ext4 rw 0 1\n"
