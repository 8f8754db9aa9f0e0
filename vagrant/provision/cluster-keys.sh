#!/bin/bash
# Runs on the OUTER host (a Vagrant trigger before up/provision/reload): creates the
# lab's key material once, in DIR (vagrant/.cluster, not committed), so that the
# machines trust each other without ever accepting an unknown host key:
#   DIR/hvN/id_ed25519[.pub]           root's key on hvN (migration, havirt validate)
#   DIR/hvN/ssh_host_ed25519_key[.pub] hvN's SSH host key (goes into every known_hosts)
#   DIR/fence_key[.pub]                the KVM hosts' key for fence_havirt -> outer host
#   DIR/corosync-authkey               Corosync's shared key
#   DIR/outer_host_key.pub             the outer host's SSH host key (copied)
# Existing files are kept (delete DIR to rotate everything).
# With FENCE_KEY_AUTHORIZED_BY_CALLER=1 (prepare.sh, when the namespace outer host runs
# the machines and it lets the key in itself) no line to authorize it is printed.
#
# usage: cluster-keys.sh DIR OUTER_HOST_KEY_FILE OUTER_USER HOST...
set -euo pipefail

[ $# -ge 4 ] || {
    echo "usage: $0 DIR OUTER_HOST_KEY_FILE OUTER_USER HOST..." >&2
    exit 2
}
dir=$1 outer_key=$2 outer_user=$3
shift 3

umask 077
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9  # the trigger runs once per machine, possibly in parallel

keygen() {  # keygen FILE COMMENT
    [ -f "$1" ] && return 0
    mkdir -p "$(dirname "$1")"
    ssh-keygen -q -t ed25519 -N '' -C "$2" -f "$1"
    echo "created $1"
}

for host in "$@"; do
    keygen "$dir/$host/id_ed25519" "root@$host (havirt vagrant lab)"
    keygen "$dir/$host/ssh_host_ed25519_key" "host key of $host (havirt vagrant lab)"
done
new_fence_key=no
[ -f "$dir/fence_key" ] || new_fence_key=yes
keygen "$dir/fence_key" "havirt-vagrant-fence"
if [ ! -f "$dir/corosync-authkey" ]; then
    head -c 256 /dev/urandom >"$dir/corosync-authkey.tmp"
    mv "$dir/corosync-authkey.tmp" "$dir/corosync-authkey"
    echo "created $dir/corosync-authkey"
fi

if [ -r "$outer_key" ]; then
    # Only the key type and data: the machines name the outer host by its lab address.
    awk '{print $1, $2}' "$outer_key" >"$dir/outer_host_key.pub"
    chmod 644 "$dir/outer_host_key.pub"
else
    echo "warning: cannot read the outer host's SSH host key $outer_key:" \
        "fence_havirt will refuse to connect (set HAVIRT_VAGRANT_OUTER_HOST_KEY)" >&2
    rm -f "$dir/outer_host_key.pub"
fi

if [ "$new_fence_key" = yes ] && [ "${FENCE_KEY_AUTHORIZED_BY_CALLER:-0}" != 1 ]; then
    cat <<EOF
The KVM hosts fence each other through this host's libvirt as user '$outer_user'.
Authorize their key once (see docs/vagrant-lab.md, "Fencing"):
    printf 'restrict %s\n' "\$(cat $dir/fence_key.pub)" >> ~$outer_user/.ssh/authorized_keys
EOF
fi
