#!/bin/bash
# A KVM host of the lab (hv1..hv3), prepared the way the seeds' runbooks prepare one:
# havirt installed from the synced checkout (tools/bootstrap.sh setup), the guests'
# bridge, the shared NFS pool at the same path everywhere (network and pool as `havirt
# generate` writes them from the lab's inventory), virtlockd leases on that pool, SSH
# trust between the hosts for live migration, and the key fence_havirt uses to reach
# the outer host. Idempotent; the cluster itself is cluster.sh's job.
set -euo pipefail
# shellcheck source=common.sh
source "${HAVIRT_SRC:?}/vagrant/provision/common.sh"
# shellcheck source=havirt-calls.sh
source "$HAVIRT_SRC/vagrant/provision/havirt-calls.sh"
require_settings HAVIRT_VAGRANT_NODE HAVIRT_VAGRANT_CLUSTER_NET HAVIRT_VAGRANT_GUEST_NET \
    HAVIRT_VAGRANT_GUEST_MAC HAVIRT_VAGRANT_HOST_BRIDGE HAVIRT_VAGRANT_OUTER_ADDRESS \
    HAVIRT_VAGRANT_OUTER_USER
node=$HAVIRT_VAGRANT_NODE
bridge=$HAVIRT_VAGRANT_HOST_BRIDGE
keys=$HAVIRT_SRC/vagrant/.cluster
for key in "$node/id_ed25519" "$node/ssh_host_ed25519_key" fence_key corosync-authkey; do
    [ -f "$keys/$key" ] || die "$keys/$key is missing (the Vagrantfile's trigger makes it)"
done
mkdir -p "$STATE_DIR" "$HAVIRT_ETC"

set_hostname
cluster_nic_up
write_hosts_block
apt_install bridge-utils ifupdown nfs-common rsync
time_sync client

# -- nested KVM ----------------------------------------------------------------------
if [ -c /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
    log "nested KVM available"
else
    log "warning: no usable /dev/kvm (nested virtualization off on the outer host?):" \
        "guests will run under TCG, slowly (docs/vagrant-lab.md, Requirements)"
fi

# -- havirt from the synced checkout --------------------------------------------------
# A local copy: bootstrap.sh builds its venv inside the checkout, and the synced folder
# may be shared with the outer host and the other machines (nfs, virtiofs). The lab's
# own box already has a copy here with its venv (box/customize.sh): bootstrap.sh keeps
# that venv when pyproject.toml is the same, and builds it otherwise.
mkdir -p "$HAVIRT_HOME"
rsync -a --delete --exclude /.venv --exclude /.git --exclude '__pycache__' \
    --exclude /vagrant/.vagrant --exclude /vagrant/.cluster \
    "$HAVIRT_SRC/" "$HAVIRT_HOME/src/"
if [ -d "$HAVIRT_HOME/src/vagrant/.wheels" ]; then
    # The wheels came with the checkout (vagrant/box/wheels.sh, run before `vagrant up`):
    # nothing is fetched from PyPI, and the lab's own box has every Debian package.
    HAVIRT_SYSTEM_PACKAGES=skip HAVIRT_WHEELHOUSE=$HAVIRT_HOME/src/vagrant/.wheels \
        bash "$HAVIRT_HOME/src/tools/bootstrap.sh" setup
else
    bash "$HAVIRT_HOME/src/tools/bootstrap.sh" setup
fi
ln -sfn "$HAVIRT_HOME/src/.venv/bin/havirt" /usr/local/bin/havirt

# The lab's inventory and what havirt generates from it: the guests' network and the
# shared pool below are defined from the generated XML, so they are exactly what the
# cluster's resources expect (the StoragePool agent refuses to take over an active pool
# whose definition differs from its own).
generate_lab_configuration

# -- the guests' bridge -------------------------------------------------------------
nic=$(ip -o link | awk -v mac="${HAVIRT_VAGRANT_GUEST_MAC,,}" -v br="$bridge:" \
    '$2 != br && tolower($0) ~ ("link/ether " mac) {sub(":$", "", $2); print $2; exit}')
[ -n "$nic" ] || die "no NIC with MAC $HAVIRT_VAGRANT_GUEST_MAC (the guests' network)"
grep -qE '^[[:space:]]*source(-directory)?[[:space:]]+/etc/network/interfaces\.d' \
    /etc/network/interfaces || echo 'source /etc/network/interfaces.d/*' >>/etc/network/interfaces
if install_file "/etc/network/interfaces.d/havirt-$bridge" 0644 <<EOF; then
# The guests' bridge (havirt vagrant lab): $nic carries the guests' network.
auto $bridge
iface $bridge inet static
    address $(guest_net_address "$node")/24
    bridge_ports $nic
    bridge_stp off
    bridge_fd 0
EOF
    ifdown "$bridge" 2>/dev/null || true
    ifup "$bridge"
fi
ip link show "$bridge" up | grep -q . || ifup "$bridge"

# The same bridge as a libvirt network, so guests name it alike on every host.
if [ -z "$(virsh_info net "$GUEST_NETWORK" Name)" ]; then
    virsh -q net-define "$GENERATED/nodes/$node/networks/$GUEST_NETWORK.xml"
fi
virsh -q net-autostart "$GUEST_NETWORK"
[ "$(virsh_info net "$GUEST_NETWORK" Active)" = yes ] || virsh -q net-start "$GUEST_NETWORK"

# -- SSH: trust between the hosts, and the outer host for fencing ---------------------
install -d -m 0700 /root/.ssh
install -m 0600 "$keys/$node/id_ed25519" /root/.ssh/id_ed25519
install -m 0644 "$keys/$node/id_ed25519.pub" /root/.ssh/id_ed25519.pub
install -m 0600 "$keys/fence_key" "$FENCE_KEY"
host_key_changed=no
install_file /etc/ssh/ssh_host_ed25519_key 0600 <"$keys/$node/ssh_host_ed25519_key" \
    && host_key_changed=yes
install_file /etc/ssh/ssh_host_ed25519_key.pub 0644 <"$keys/$node/ssh_host_ed25519_key.pub" \
    && host_key_changed=yes
if [ "$host_key_changed" = yes ]; then
    systemctl restart ssh
fi

known=""
authorized=""
for host in "${KVM_HOSTS[@]}"; do
    known+="$host,$(node_address "$host") $(cut -d' ' -f1,2 "$keys/$host/ssh_host_ed25519_key.pub")"$'\n'
    authorized+="$(cat "$keys/$host/id_ed25519.pub")"$'\n'
done
if [ -f "$keys/outer_host_key.pub" ]; then
    known+="$HAVIRT_VAGRANT_OUTER_ADDRESS $(cat "$keys/outer_host_key.pub")"$'\n'
else
    log "warning: the outer host's SSH host key is unknown: fence_havirt cannot connect"
fi
# OpenSSH (and libvirt's qemu+ssh) read the system file; havirt validate's SSH library
# reads root's own known_hosts: both get the same, verified, keys.
printf '%s' "$known" | install_file /etc/ssh/ssh_known_hosts 0644 || true
printf '%s' "$known" | write_managed_block /root/.ssh/known_hosts 0600 || true
printf '%s' "$authorized" | write_managed_block /root/.ssh/authorized_keys 0600 || true
install_file /etc/ssh/ssh_config.d/havirt-vagrant.conf 0644 <<EOF || true
# havirt vagrant lab: never accept an unknown host key; fence_havirt's way out.
Host ${KVM_HOSTS[*]} $HAVIRT_VAGRANT_CLUSTER_NET.*
    StrictHostKeyChecking yes
Host $HAVIRT_VAGRANT_OUTER_ADDRESS
    User $HAVIRT_VAGRANT_OUTER_USER
    IdentityFile $FENCE_KEY
    IdentitiesOnly yes
    StrictHostKeyChecking yes
EOF

# -- shared storage: the NFS export as a libvirt netfs pool ---------------------------
storage=$(node_address storage)
log "waiting for the NFS export on $storage"
wait_until 1200 "the NFS export $storage:$NFS_EXPORT" \
    sh -c "timeout 10 showmount -e $storage | grep -q '^$NFS_EXPORT '"
if [ -z "$(virsh_info pool "$POOL_NAME" Name)" ]; then
    virsh -q pool-define "$GENERATED/nodes/$node/pools/$POOL_NAME.xml"
fi
mkdir -p "$POOL_TARGET"
# Not autostarted: once the cluster runs, its StoragePool clone mounts it.
virsh -q pool-autostart --disable "$POOL_NAME"
[ "$(virsh_info pool "$POOL_NAME" State)" = running ] || virsh -q pool-start "$POOL_NAME"
mkdir -p "$LOCKSPACE_DIR"

# -- storage leases: virtlockd with its lockspace on the shared pool ------------------
# (docs/storage-leases.md) A second start of a guest on another host then fails with
# "resource busy" even if the cluster were wrong.
restart_libvirt=no
set_conf_line /etc/libvirt/qemu.conf lock_manager '"lockd"' && restart_libvirt=yes
set_conf_line /etc/libvirt/qemu-lockd.conf auto_disk_leases 1 && restart_libvirt=yes
set_conf_line /etc/libvirt/qemu-lockd.conf require_lease_for_disks 1 && restart_libvirt=yes
set_conf_line /etc/libvirt/qemu-lockd.conf file_lockspace_dir "\"$LOCKSPACE_DIR\"" \
    && restart_libvirt=yes
systemctl enable --now virtlockd.socket virtlockd-admin.socket >/dev/null
if [ "$restart_libvirt" = yes ]; then
    # Safe only while no guest runs here, as on a fresh host: say so otherwise.
    running=$(virsh -q list --name | sed '/^$/d')
    if [ -n "$running" ]; then
        log "warning: lock manager settings changed while guests run: restart libvirtd" \
            "after moving them away (pcs node standby $node)"
    else
        systemctl restart virtlockd libvirtd
    fi
fi

touch "$STATE_DIR/node-ready"
log "host prepared"
