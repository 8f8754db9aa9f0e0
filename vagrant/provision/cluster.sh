#!/bin/bash
# The cluster, through havirt's own path: on every KVM host the inventory is rendered and
# `havirt generate` writes the configuration (the same on every host: generation is
# deterministic); each host installs the generated corosync.conf. The last host (the
# "leader", HAVIRT_VAGRANT_LEADER) then waits for the others, runs `havirt validate`
# against all of them, creates the test guests on the shared pool, starts Corosync and
# Pacemaker everywhere, and pushes the generated CIB (guests, StoragePool clone,
# fence_havirt devices against the outer host) as one transaction (`havirt generate
# --diff`, then `havirt apply`). Idempotent.
set -euo pipefail
# shellcheck source=common.sh
source "${HAVIRT_SRC:?}/vagrant/provision/common.sh"
# shellcheck source=havirt-calls.sh
source "$HAVIRT_SRC/vagrant/provision/havirt-calls.sh"
require_settings HAVIRT_VAGRANT_NODE HAVIRT_VAGRANT_LEADER
node=$HAVIRT_VAGRANT_NODE
keys=$HAVIRT_SRC/vagrant/.cluster
[ -f "$STATE_DIR/node-ready" ] || die "run kvm-host.sh first"

generate_lab_configuration

# Debian's packages start a one-node cluster of their own on installation: its CIB
# must not leak into the lab's cluster (wiped once, before this host ever joins).
if [ ! -f "$STATE_DIR/cluster-initialised" ]; then
    systemctl stop pacemaker corosync
    rm -f /var/lib/pacemaker/cib/cib*
    touch "$STATE_DIR/cluster-initialised"
fi
corosync_changed=no
install_file /etc/corosync/corosync.conf 0644 <"$GENERATED/corosync.conf" \
    && corosync_changed=yes
install_file /etc/corosync/authkey 0400 <"$keys/corosync-authkey" && corosync_changed=yes
if [ "$corosync_changed" = yes ] && systemctl -q is-active corosync; then
    corosync-cfgtool -R  # a running member reloads the new configuration
fi

touch "$STATE_DIR/cluster-prepared"

if [ "$node" != "$HAVIRT_VAGRANT_LEADER" ]; then
    log "prepared; $HAVIRT_VAGRANT_LEADER validates and starts the cluster"
    exit 0
fi

# -- leader only ---------------------------------------------------------------------
ssh_batch() { ssh -o BatchMode=yes -o ConnectTimeout=10 "$@"; }
for host in "${KVM_HOSTS[@]}"; do
    log "waiting for $host to be prepared"
    wait_until 1800 "$host (vagrant up $host; vagrant provision $host)" \
        ssh_batch "root@$host" test -f "$STATE_DIR/cluster-prepared"
done

for host in "${KVM_HOSTS[@]}"; do  # every clock in step with storage's (time_sync) first
    ssh_batch "root@$host" "chronyc -a makestep >/dev/null; chronyc waitsync 24 0.1 0 5 >/dev/null" \
        || log "warning: $host's clock is not in step with storage's after 2 min"
done
log "havirt validate"
# Under TCG, with the outer host busy, a host's first virsh call (libvirtd started by
# its socket, or back from its idle exit) took longer than validate's default 20 s.
validate_timeout=
[ "${HAVIRT_VAGRANT_DRIVER:-}" = qemu ] && validate_timeout=90
havirt_validate "$INVENTORY" $validate_timeout

# The cluster stack starts on every host at once while the guests' files are made (the
# new cluster's CIB is empty: nothing uses them before the push below). Under TCG each
# of these takes most of a minute.
starting=()
for host in "${KVM_HOSTS[@]}"; do
    # (the lab's own box has them enabled already: is-enabled spares the slow enable)
    ssh_batch "root@$host" "systemctl is-enabled -q corosync pacemaker || systemctl enable corosync pacemaker; systemctl start corosync pacemaker" &
    starting+=("$host:$!")
done
"$HAVIRT_HOME/src/.venv/bin/python" "$HAVIRT_SRC/vagrant/provision/make_guests.py" "$INVENTORY"
for job in "${starting[@]}"; do
    wait "${job#*:}" || die "starting Corosync and Pacemaker on ${job%%:*} failed"
done

# all_nodes_online: every KVM host is an online member, as Pacemaker sees it.
all_nodes_online() {
    crm_mon -1 --output-as=xml | python3 -c '
import sys, xml.etree.ElementTree as ET
nodes = ET.parse(sys.stdin).getroot().find("nodes")
sys.exit(sum(n.get("online") == "true" for n in nodes) < int(sys.argv[1]))' "${#KVM_HOSTS[@]}"
}
log "waiting for ${#KVM_HOSTS[@]} nodes online"
wait_until 300 "${#KVM_HOSTS[@]} nodes online" all_nodes_online

log "pushing the generated CIB"
havirt_apply "$INVENTORY" "$GENERATED"
crm_resource --wait --timeout=600s
crm_mon -1 --inactive
log "cluster ready: fence_havirt devices, the shared pool and the guests are started"
