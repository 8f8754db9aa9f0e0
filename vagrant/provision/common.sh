# shellcheck shell=bash disable=SC2034  # (the layout variables are used by the scripts)
# Shared by the Vagrant lab's provisioning scripts (sourced, not run).
#
# Every setting comes from the Vagrantfile as an environment variable (its defaults
# live in vagrant/settings.env, the one place they are written down); this file only
# adds the lab's fixed layout and small idempotent helpers. Each helper changes the
# machine only when what is there differs from what is wanted, so running a
# provisioner again is safe (`vagrant provision`).

# The lab's fixed layout (not settings: the inventory and every host must agree).
POOL_NAME=shared                   # the libvirt netfs pool on every KVM host
POOL_TARGET=/var/lib/libvirt/shared  # where it is mounted (same path everywhere)
NFS_EXPORT=/srv/nfs/havirt         # the storage host's export
GUEST_NETWORK=guests               # libvirt network (bridge mode) for the guests' NICs
NFS_DISK_SERIAL=havirt-nfs         # serial of the storage host's extra disk
LOCKSPACE_DIR=$POOL_TARGET/lockspace  # virtlockd's leases, on the shared pool
STATE_DIR=/var/lib/havirt-vagrant  # stamps of this provisioning (box/customize.sh names one)
HAVIRT_ETC=/etc/havirt             # rendered inventory and generated configuration
INVENTORY=$HAVIRT_ETC/inventory.toml  # the lab's inventory, rendered on every KVM host
GENERATED=$HAVIRT_ETC/generated    # what `havirt generate` writes from it
HAVIRT_HOME=/opt/havirt            # local copy of the checkout and its venv
FENCE_KEY=/root/.ssh/havirt_fence  # fence_havirt's key for the outer host
HOST_RESERVED_MIB=1024             # a KVM host's memory not offered to guests
KVM_HOSTS=(hv1 hv2 hv3)            # fixed: the inventory names them

log() { printf 'havirt-vagrant[%s]: %s\n' "${HAVIRT_VAGRANT_NODE:-?}" "$*"; }
die() {
    log "error: $*" >&2
    exit 1
}

# require_settings NAME...: every named variable is set and not empty.
require_settings() {
    local name
    for name in "$@"; do
        [ -n "${!name:-}" ] || die "setting $name is missing (run through the Vagrantfile)"
    done
}

# node_address NAME: a machine's address on the cluster network.
node_address() {
    case "$1" in
        storage) echo "$HAVIRT_VAGRANT_CLUSTER_NET.10" ;;
        hv[1-9]) echo "$HAVIRT_VAGRANT_CLUSTER_NET.1${1#hv}" ;;
        *) die "no address for machine '$1'" ;;
    esac
}

# guest_net_address NAME: a KVM host's address on its guest bridge.
guest_net_address() { echo "$HAVIRT_VAGRANT_GUEST_NET.1${1#hv}"; }

# apt_install PACKAGE...: installs those not installed yet (one apt run).
apt_install() {
    local pkg missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

# install_file PATH MODE < CONTENT: writes PATH only when its content or mode differs.
# Returns 0 when it changed something, 1 when PATH was already as wanted.
install_file() {
    local path=$1 mode=$2 tmp
    tmp=$(mktemp)
    cat >"$tmp"
    if [ -f "$path" ] && cmp -s "$tmp" "$path" \
        && [ "$(stat -c %a "$path")" = "${mode#0}" ]; then
        rm -f "$tmp"
        return 1
    fi
    mkdir -p "$(dirname "$path")"
    install -m "$mode" "$tmp" "$path"
    rm -f "$tmp"
    log "wrote $path"
    return 0
}

# set_conf_line FILE KEY VALUE: makes `KEY = VALUE` the one active setting of KEY in a
# libvirt-style config file (commented defaults stay). Returns 0 when it changed.
set_conf_line() {
    local file=$1 key=$2 value=$3 pattern
    pattern="^[[:space:]]*${key}[[:space:]]*="
    [ "$(grep -E "$pattern" "$file" 2>/dev/null)" = "$key = $value" ] && return 1
    [ -f "$file" ] && sed -i -E "/$pattern/d" "$file"
    printf '%s = %s\n' "$key" "$value" >>"$file"
    log "$file: $key = $value"
    return 0
}

# write_managed_block FILE MODE < LINES: LINES between "# havirt-vagrant begin/end"
# markers at the end of FILE, replacing the block a previous run wrote; the rest of FILE
# stays as it is. Returns 0 when it changed FILE.
write_managed_block() {
    local file=$1 mode=$2 tmp rc=0
    tmp=$(mktemp)
    [ -f "$file" ] && sed '/^# havirt-vagrant begin$/,/^# havirt-vagrant end$/d' "$file" >"$tmp"
    {
        echo "# havirt-vagrant begin"
        cat
        echo "# havirt-vagrant end"
    } >>"$tmp"
    install_file "$file" "$mode" <"$tmp" || rc=$?
    rm -f "$tmp"
    return "$rc"
}

# set_hostname: the machine's name is its name in the lab (HAVIRT_VAGRANT_NODE). Set
# here rather than with the Vagrantfile's vm.hostname: Vagrant's Debian step also takes
# every interface down and up again, which cost 40 s of `vagrant up` under TCG.
set_hostname() {
    local name=${HAVIRT_VAGRANT_NODE:?}
    [ "$(cat /etc/hostname 2>/dev/null)" = "$name" ] || echo "$name" >/etc/hostname
    if [ "$(hostname)" != "$name" ]; then
        hostname "$name"
        log "hostname $name"
    fi
}

# cluster_nic_up: this machine's cluster address, on the NIC the Vagrantfile attached
# for it (found by its MAC). The Vagrantfile leaves that NIC to provisioning
# (auto_config: false): Vagrant's own network step took each machine 15-20 s of SSH
# round trips under TCG, and took every NIC down and up again.
cluster_nic_up() {
    require_settings HAVIRT_VAGRANT_NODE HAVIRT_VAGRANT_CLUSTER_MAC HAVIRT_VAGRANT_CLUSTER_NET
    local nic address
    address=$(node_address "$HAVIRT_VAGRANT_NODE")
    nic=$(ip -o link | awk -v mac="${HAVIRT_VAGRANT_CLUSTER_MAC,,}" \
        'tolower($0) ~ ("link/ether " mac) {sub(":$", "", $2); print $2; exit}')
    [ -n "$nic" ] || die "no NIC with MAC $HAVIRT_VAGRANT_CLUSTER_MAC (the cluster network)"
    grep -qE '^[[:space:]]*source(-directory)?[[:space:]]+/etc/network/interfaces\.d' \
        /etc/network/interfaces || echo 'source /etc/network/interfaces.d/*' >>/etc/network/interfaces
    if install_file /etc/network/interfaces.d/havirt-cluster 0644 <<EOF; then
# The lab's cluster network (havirt vagrant lab, provision/common.sh).
auto $nic
iface $nic inet static
    address $address/24
EOF
        ifdown "$nic" 2>/dev/null || true
        ifup "$nic"
    fi
    ip -o addr show dev "$nic" | grep -q " $address/" || ifup "$nic"
}

# write_hosts_block: every lab machine's name -> cluster address in /etc/hosts, so all
# of them resolve each other alike (havirt validate compares this); the box's
# "127.0.1.1 <own name>" line goes, so a host's own name is its cluster address too.
write_hosts_block() {
    local name
    # The box (127.0.1.1) and Vagrant's hostname step, if a Vagrantfile of yours sets
    # vm.hostname (127.0.2.1), map the machine's name to loopback: Corosync and
    # migrations would use it.
    sed -i -E '/^127\.0\.[12]\.1[[:space:]]/d' /etc/hosts
    for name in storage "${KVM_HOSTS[@]}"; do
        echo "$(node_address "$name") $name"
    done | write_managed_block /etc/hosts 0644 || true
}

# virsh_info KIND NAME FIELD: one field of `virsh KIND-info NAME` (e.g. net Active).
virsh_info() {
    virsh -q "$1-info" "$2" 2>/dev/null | awk -v f="$3:" '$1 == f {print $2}'
}

# wait_until SECONDS WHAT COMMAND...: retries COMMAND every 5 s until it succeeds.
wait_until() {
    local limit=$1 what=$2 start
    shift 2
    start=$SECONDS
    until "$@" >/dev/null 2>&1; do
        [ $((SECONDS - start)) -lt "$limit" ] || die "gave up after ${limit}s waiting for $what"
        sleep 5
    done
}

# render_inventory TEMPLATE OUT: fills TEMPLATE's @NAME@ placeholders from the settings
# and the fixed layout above; refuses to leave one unfilled.
render_inventory() {
    local template=$1 out=$2 text key left
    require_settings HAVIRT_VAGRANT_CLUSTER_NET HAVIRT_VAGRANT_GUEST_NET \
        HAVIRT_VAGRANT_HOST_BRIDGE HAVIRT_VAGRANT_PREFIX HAVIRT_VAGRANT_OUTER_URI \
        HAVIRT_VAGRANT_HV_MEMORY HAVIRT_VAGRANT_HV_CPUS HAVIRT_VAGRANT_COROSYNC_TOKEN \
        HAVIRT_VAGRANT_LOAD_THRESHOLD
    [ "$HAVIRT_VAGRANT_HV_MEMORY" -gt "$HOST_RESERVED_MIB" ] \
        || die "HAVIRT_VAGRANT_HV_MEMORY=$HAVIRT_VAGRANT_HV_MEMORY leaves no memory for" \
            "guests (a KVM host keeps $HOST_RESERVED_MIB MiB for itself)"
    text=$(<"$template")
    declare -A values=(
        [CLUSTER_NET]=$HAVIRT_VAGRANT_CLUSTER_NET
        [GUEST_NET]=$HAVIRT_VAGRANT_GUEST_NET
        [HOST_BRIDGE]=$HAVIRT_VAGRANT_HOST_BRIDGE
        [PREFIX]=$HAVIRT_VAGRANT_PREFIX
        [OUTER_URI]=$HAVIRT_VAGRANT_OUTER_URI
        [HV_GUEST_MEMORY]="$((HAVIRT_VAGRANT_HV_MEMORY - HOST_RESERVED_MIB))MiB"
        [HV_CPUS]=$HAVIRT_VAGRANT_HV_CPUS
        [COROSYNC_TOKEN]=$HAVIRT_VAGRANT_COROSYNC_TOKEN
        [LOAD_THRESHOLD]=$HAVIRT_VAGRANT_LOAD_THRESHOLD
        [FENCE_KEY]=$FENCE_KEY
        [POOL_NAME]=$POOL_NAME
        [POOL_TARGET]=$POOL_TARGET
        [NFS_EXPORT]=$NFS_EXPORT
        [GUEST_NETWORK]=$GUEST_NETWORK
        [STORAGE_ADDRESS]=$(node_address storage)
    )
    for key in "${!values[@]}"; do
        text=${text//@"$key"@/"${values[$key]}"}
    done
    left=$(grep -oE '@[A-Z_]+@' <<<"$text" | sort -u | tr '\n' ' ' || true)
    [ -z "$left" ] || die "$template: unknown placeholders: $left"
    printf '%s\n' "$text" | install_file "$out" 0644 || true
}

# time_sync server|client: chrony, the storage host serving its clock to the KVM hosts
# on the cluster network. The machines reach no NTP server, and under TCG their clocks
# drift apart by seconds within minutes: `havirt validate` refused the cluster once
# ("clock of hv2 is +1.05 s off"). What matters to a cluster is that its nodes agree;
# makestep lets chrony step a clock that an emulated machine let run away.
time_sync() {
    local conf
    apt_install chrony
    if [ "$1" = server ]; then
        conf="local stratum 8
allow $HAVIRT_VAGRANT_CLUSTER_NET.0/24
makestep 1 -1"
    else
        conf="server $(node_address storage) iburst minpoll 4 maxpoll 6
makestep 1 -1"
    fi
    if echo "$conf" | install_file /etc/chrony/conf.d/havirt-vagrant.conf 0644; then
        systemctl enable chrony >/dev/null 2>&1 || true
        systemctl restart chrony
    fi
    systemctl is-active -q chrony || systemctl start chrony
}
