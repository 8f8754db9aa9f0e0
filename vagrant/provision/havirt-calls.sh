# shellcheck shell=bash
# Every call of the havirt CLI made by the lab's provisioning, in one place (sourced).
#
# These follow the interface the issues describe (`havirt validate`, `havirt generate`
# into a directory, fence_havirt with a libvirt URI and plug = domain name); the
# commands were being written while this lab was. When their final options or output
# file names differ, this is the file to adjust (docs/vagrant-lab.md lists what to check).

HAVIRT=${HAVIRT:-/usr/local/bin/havirt}

# havirt_validate INVENTORY: compares every node over SSH; fails on any mismatch.
havirt_validate() {
    "$HAVIRT" validate --inventory "$1"
}

# havirt_generate INVENTORY DIR: renders the cluster configuration into DIR.
havirt_generate() {
    "$HAVIRT" generate --inventory "$1" --output "$2"
}

# generated_file DIR NAME: the one file called NAME that `havirt generate` wrote under DIR.
generated_file() {
    local found
    found=$(find "$1" -type f -name "$2")
    [ "$(printf '%s' "$found" | grep -c .)" -eq 1 ] \
        || die "expected exactly one $2 under $1 (found: ${found:-none})"
    printf '%s\n' "$found"
}

# havirt_apply_cib DIR: pushes the generated CIB as one transaction (the configuration
# section replaced, after crm_verify accepted it).
havirt_apply_cib() {
    local cib
    cib=$(generated_file "$1" cib.xml)
    crm_verify --xml-file "$cib"
    pcs cluster cib-push "$cib" --config
}
