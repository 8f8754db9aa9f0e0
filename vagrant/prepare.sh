#!/bin/bash
# What `vagrant up` needs on the outer host before a machine starts, run by the
# Vagrantfile's trigger. Vagrant brings the machines up in parallel and runs the trigger
# once per machine: a lock makes them take turns, and each step is idempotent, so the
# first does the work and the others find it done.
#
#   prepare.sh HAVIRT KEYS_DIR OUTER_HOST_KEY OUTER_USER HOST...
#
#   - the namespace outer host (HAVIRT lab vagrant-host up), unless HAVIRT is "-"
#     (the machines run on this host's own libvirtd), and the fence key let in there;
#   - the lab's key material (provision/cluster-keys.sh KEYS_DIR OUTER_HOST_KEY
#     OUTER_USER HOST...);
#   - havirt's Python dependencies as wheels (box/wheels.sh), synced with the checkout
#     (`vagrant provision` installs havirt from them).
#
#   prepare.sh --box BOX
#
#   the wheels and BOX, the lab's own box (box/add.sh BOX): the Vagrantfile runs this
#   as it is loaded for `vagrant up`, not in the trigger, because Vagrant looks each
#   machine's box up before any trigger runs.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ "${1:-}" = --box ]; then
    [ $# -eq 2 ] || { echo "usage: prepare.sh --box BOX" >&2; exit 2; }
    mkdir -p "$here/.vagrant"
    exec 9>"$here/.vagrant/prepare.lock"
    flock 9
    bash "$here/box/wheels.sh"
    bash "$here/box/add.sh" "$2"
    exit 0
fi
[ $# -ge 5 ] || { echo "usage: prepare.sh HAVIRT KEYS_DIR OUTER_HOST_KEY OUTER_USER HOST..." >&2; exit 2; }
havirt=$1
shift

mkdir -p "$here/.vagrant"
exec 9>"$here/.vagrant/prepare.lock"
flock 9
# The namespace outer host first: its SSH host key is the one the keys step copies
# for the machines (the Vagrantfile names it), and it then lets the fence key in.
[ "$havirt" = - ] || "$havirt" lab vagrant-host up >/dev/null
authorized_here=0
[ "$havirt" = - ] || authorized_here=1  # the next step lets the fence key in
FENCE_KEY_AUTHORIZED_BY_CALLER=$authorized_here bash "$here/provision/cluster-keys.sh" "$@"
[ "$havirt" = - ] || "$havirt" lab vagrant-host authorize "$1/fence_key.pub" >/dev/null
bash "$here/box/wheels.sh"
