#!/bin/bash
# The lab's storage host: exports one NFS directory that every KVM host mounts as the
# libvirt netfs pool (guest disks and XML, virtlockd's lockspace), as the seeds' storage
# host does. Idempotent.
set -euo pipefail
# shellcheck source=common.sh
source "${HAVIRT_SRC:?}/vagrant/provision/common.sh"
require_settings HAVIRT_VAGRANT_NODE HAVIRT_VAGRANT_CLUSTER_NET

set_hostname
cluster_nic_up
write_hosts_block
apt_install nfs-kernel-server e2fsprogs
time_sync server

# The export lives on the machine's extra disk (found by its serial), formatted once.
# Without that disk (e.g. a box that ignores it) the root filesystem serves, with a warning.
disk=/dev/disk/by-id/virtio-$NFS_DISK_SERIAL
mount_point=$(dirname "$NFS_EXPORT")
if [ -b "$disk" ]; then
    if ! blkid "$disk" >/dev/null 2>&1; then
        log "formatting $disk for the NFS export"
        mkfs.ext4 -q -L "$NFS_DISK_SERIAL" "$disk"
    fi
    uuid=$(blkid -s UUID -o value "$disk")
    if ! grep -q "^UUID=$uuid " /etc/fstab; then
        echo "UUID=$uuid $mount_point ext4 defaults,noatime 0 2" >>/etc/fstab
        log "added $mount_point to /etc/fstab"
    fi
    mkdir -p "$mount_point"
    mountpoint -q "$mount_point" || mount "$mount_point"
else
    log "warning: no disk with serial $NFS_DISK_SERIAL; exporting from the root filesystem"
fi
mkdir -p "$NFS_EXPORT"

# Only the KVM hosts may mount it. no_root_squash: libvirt (as root) hands the images to
# the QEMU user (dynamic_ownership), which needs chown on the export; the seeds do the same.
clients=""
for host in "${KVM_HOSTS[@]}"; do
    clients+=" $(node_address "$host")(rw,sync,no_subtree_check,no_root_squash)"
done
if echo "$NFS_EXPORT$clients" | install_file /etc/exports.d/havirt.exports 0644; then
    exportfs -ra
fi
# A short NFSv4 lease (the kernel's default is 90 s). A KVM host that loses power keeps
# its locks on the server, QEMU's image locks among them, until its lease runs out: until
# then no other host can start its guests ("Failed to get write lock"), even after the
# cluster has fenced it. 15 s frees them before fencing completes (about 30 s here); the
# grace period after a server restart shrinks with it. The cost: clients renew every 5 s.
restart_nfs=no
if printf '[nfsd]\nlease-time=15\ngrace-time=15\n' \
    | install_file /etc/nfs.conf.d/havirt-lease.conf 0644; then
    restart_nfs=yes
fi
systemctl enable --now nfs-server
if [ "$restart_nfs" = yes ]; then
    systemctl restart nfs-server
    log "NFSv4 lease time: $(cat /proc/fs/nfsd/nfsv4leasetime 2>/dev/null || echo '?') s"
fi
exportfs -ra
log "exported $NFS_EXPORT to ${KVM_HOSTS[*]}"
