#!/bin/bash
# Makes the lab's own box available to Vagrant as NAME (default havirt/bookworm): builds
# it when needed (build.sh, cached) and adds it when Vagrant does not hold this very
# build yet. Run by the Vagrantfile before `vagrant up` when no other box is configured.
#
#   vagrant/box/add.sh [NAME]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name=${1:-havirt/bookworm}
box=$("$here/build.sh")
vagrant_home=${VAGRANT_HOME:-$HOME/.vagrant.d}
marker=$vagrant_home/havirt-box-${name//\//-}
if [ "$(cat "$marker" 2>/dev/null)" = "$(basename "$box")" ] \
    && vagrant box list --machine-readable | grep -q ",box-name,$name\$"; then
    exit 0
fi
printf 'havirt box: adding %s to Vagrant as %s\n' "$box" "$name" >&2
vagrant box add --force --name "$name" "$box" >/dev/null
mkdir -p "$vagrant_home"
basename "$box" >"$marker"
