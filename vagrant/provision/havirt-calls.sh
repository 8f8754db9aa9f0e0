# shellcheck shell=bash
# Every call of the havirt CLI made by the lab's provisioning, in one place (sourced).
#
# `havirt generate` and `havirt apply` as docs/generate.md describes them;
# `havirt validate` as it is being written (docs/vagrant-lab.md, "Checking the
# Vagrantfile"). tests/contract/test_vagrantfile.py runs these functions against the
# real commands.

HAVIRT=${HAVIRT:-/usr/local/bin/havirt}

# havirt_validate INVENTORY [TIMEOUT]: compares every node over SSH; fails on any
# mismatch. TIMEOUT: seconds for each remote command (havirt's default otherwise).
havirt_validate() {
    "$HAVIRT" validate --inventory "$1" ${2:+--timeout "$2"}
}

# havirt_generate INVENTORY DIR: renders the cluster configuration into DIR
# (corosync.conf, cib.xml, ... at its top; a rerun rewrites only what changed).
havirt_generate() {
    "$HAVIRT" generate "$1" -o "$2"
}

# havirt_apply INVENTORY DIR: compares DIR's CIB with the live one (printing the changes)
# and pushes them as one transaction. apply refuses a DIR that was not compared just
# before (or a live CIB changed since), so the comparison is made on every run; with
# nothing to change, nothing is pushed.
havirt_apply() {
    "$HAVIRT" generate "$1" -o "$2" --diff
    "$HAVIRT" apply "$2"
}

# generate_lab_configuration: renders the lab's inventory to $INVENTORY and generates
# its configuration into $GENERATED (common.sh's layout). Run by kvm-host.sh (which
# defines the pool and network from it) and again by cluster.sh, so either picks up
# changed settings.
generate_lab_configuration() {
    render_inventory "$HAVIRT_SRC/vagrant/inventory.toml.in" "$INVENTORY"
    # Nothing is written when the inventory has errors; a rerun changes only what differs.
    havirt_generate "$INVENTORY" "$GENERATED"
}
