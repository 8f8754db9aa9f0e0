#!/bin/bash
# The lab's storage host: exports one NFS directory that every KVM host mounts as the
# libvirt netfs pool (guest disks and XML, virtlockd's lockspace), as the seeds' storage
# host does. Idempotent.
set -euo pipefail
# shellcheck source=common.sh
source "${HAVIRT_SRC:?}/vagrant/provision/common.sh"
require_settings HAVIRT_VAGRANT_NODE HAVIRT_VAGRANT_CLUSTER_NET

write_hosts_block
apt_install nfs-kernel-server e2fsprogs

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
systemctl enable --now nfs-server
exportfs -ra
log "exported $NFS_EXPORT to ${KVM_HOSTS[*]}"
