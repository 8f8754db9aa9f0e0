#!/bin/bash
# mmdebstrap's customize hook for the lab's box (run by build.sh, not by hand):
# turns the freshly bootstrapped Debian root in $1 into a vagrant-libvirt machine.
#   - user "vagrant" with password-less sudo and the login key build.sh made for this
#     box (Vagrant keeps using it: no key swap at first boot);
#   - eth0 by DHCP (ifupdown): vagrant-libvirt finds the machine through the lease on
#     its management network; Vagrant configures the other NICs itself;
#   - no SSH host keys and no machine-id in the image: each machine makes its own
#     at first boot, so no two lab machines share an identity;
#   - the daemons the lab configures later (Corosync, Pacemaker, pcsd, the NFS server)
#     do not start by themselves: under TCG every second of boot counts, and
#     provisioning starts what a machine's role needs (libvirtd stays socket-activated).
set -euo pipefail
root=${1:?usage: customize.sh ROOT}
vagrant_pub=${HAVIRT_BOX_VAGRANT_KEY:?the path of the public half of the box login key}
in_root() { chroot "$root" "$@"; }

echo vagrant-box >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tvagrant-box\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
    >"$root/etc/hosts"
echo 'LABEL=havirt-root / ext4 errors=remount-ro 0 1' >"$root/etc/fstab"

cat >"$root/etc/network/interfaces" <<'EOT'
# The management NIC (vagrant-libvirt's network, DHCP); Vagrant adds the others.
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
allow-hotplug eth0
iface eth0 inet dhcp
EOT

in_root useradd --create-home --shell /bin/bash --groups sudo vagrant
install -d -m 0700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$vagrant_pub" "$root/home/vagrant/.ssh/authorized_keys"
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$root/etc/sudoers.d/vagrant"
chmod 0440 "$root/etc/sudoers.d/vagrant"
printf 'UseDNS no\n' >"$root/etc/ssh/sshd_config.d/vagrant.conf"

# Host keys at first boot, before sshd checks its configuration: one ed25519 key, the
# type the lab's machines and Vagrant use. (ssh-keygen -A also makes a 3072-bit RSA
# key, which took most of a minute of an emulated machine's boot, with sshd and so
# Vagrant waiting for it.)
rm -f "$root"/etc/ssh/ssh_host_*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\n' >"$root/etc/ssh/sshd_config.d/host-key.conf"
cat >"$root/etc/systemd/system/havirt-ssh-host-keys.service" <<'EOT'
[Unit]
Description=SSH host keys of this machine (made at first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
EOT
systemctl --root="$root" enable havirt-ssh-host-keys.service
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

for unit in pcsd.service pcsd-ruby.service nfs-server.service apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer \
    e2scrub_reap.service fstrim.timer; do
    if [ -e "$root/lib/systemd/system/$unit" ]; then
        systemctl --root="$root" disable "$unit" >/dev/null 2>&1 || true
    fi
done
# Corosync and Pacemaker are enabled here, so that a node that is fenced and boots again
# rejoins by itself, but start only on a machine the provisioning made a cluster node
# (provision/cluster.sh writes the stamp): enabling them at provisioning time cost each
# KVM host 10-20 s of systemd-sysv-install under TCG.
for unit in corosync.service pacemaker.service; do
    mkdir -p "$root/etc/systemd/system/$unit.d"
    printf '[Unit]\n# Set by the havirt lab box (vagrant/box/customize.sh).\nConditionPathExists=/var/lib/havirt-vagrant/cluster-prepared\n' \
        >"$root/etc/systemd/system/$unit.d/havirt-lab.conf"
    systemctl --root="$root" enable "$unit" >/dev/null 2>&1
done
# apt's cache goes, but for the kernel's package: the lab's test guests boot this kernel
# (tools/lab/guest_image.py takes it from there; the machines cannot download it).
# build.sh tells mmdebstrap to leave the cache to this script (--skip=cleanup/apt/cache).
kept=$(mktemp -d)
mv "$root"/var/cache/apt/archives/linux-image-6.1.0-*-amd64_*.deb "$kept"/
in_root apt-get clean
mv "$kept"/*.deb "$root/var/cache/apt/archives/"
rmdir "$kept"
rm -rf "$root"/var/lib/apt/lists/*

# havirt's venv, built where kvm-host.sh installs havirt ($HAVIRT_HOME/src, its .venv)
# from the checkout and the wheels the box was built with: under TCG, building it took
# each KVM host two minutes of `vagrant up`. Provisioning syncs the checkout over this
# copy (the venv is left out of the sync) and tools/bootstrap.sh keeps a venv built
# from the same pyproject.toml with the same interpreter.
src=${HAVIRT_BOX_SRC:?the checkout to build the venv from}
wheels=${HAVIRT_BOX_WHEELS:?the wheels to build the venv with}
dest=/opt/havirt/src
mkdir -p "$root$dest"
# What the Vagrantfile's rsync sends (its rsync__exclude), but the lab's keys and wheels.
tar -C "$src" --exclude=./.git --exclude=./.venv --exclude=./vagrant/.vagrant \
    --exclude=./vagrant/.cluster --exclude=./vagrant/.wheels --exclude=__pycache__ \
    --exclude=./.pytest_cache --exclude=./.ruff_cache --exclude='*.egg-info' \
    --exclude=./lab-state -cf - . | tar -C "$root$dest" -xf -
mkdir -p "$root$dest/vagrant/.wheels"
cp -a "$wheels"/. "$root$dest/vagrant/.wheels/"
# The same files, hard-linked and with their times, where `vagrant up` syncs the checkout
# to (the Vagrantfile's GUEST_SRC): its rsync then sends only what changed since the box
# was built, not the whole checkout and its wheels over SSH to an emulated machine.
cp -al "$root$dest" "$root/havirt-src"
# A clean environment: the building host's pip settings (PIP_FIND_LINKS...) are not the box's.
in_root env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root HAVIRT_SYSTEM_PACKAGES=skip \
    HAVIRT_WHEELHOUSE="$dest/vagrant/.wheels" bash "$dest/tools/bootstrap.sh" setup >/dev/null
[ -x "$root$dest/.venv/bin/havirt" ] || { echo "customize: havirt's venv was not built" >&2; exit 1; }
# The lab's test guests' kernel and initramfs (make_guests.py copies them to the shared
# pool), from the kernel package kept above: unpacking it took a KVM host most of a
# minute under TCG.
in_root env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$dest/.venv/bin/python" -c \
    'from havirt.tools.lab.guest_image import build_guest_assets; build_guest_assets()' >/dev/null
