#!/bin/bash
# Set up everything havirt needs on a Debian 12 machine, then run one job:
#   tools/bootstrap.sh demo      the demo on an embedded local lab
#   tools/bootstrap.sh test      the test suite (extra arguments go to pytest)
#   tools/bootstrap.sh setup     only install (system packages, venv, agents)
# Idempotent: packages already present and an up-to-date venv are not redone.
#
# `test` after installing the system packages runs pytest with HAVIRT_REQUIRE_REAL_PARTS=1:
# every part the tests need is then present, so a skipped test fails the run (a skip
# there means a missing install step, never "nothing to test"). CI (.ci/run) runs this.
#
# HAVIRT_WHEELHOUSE=DIR installs havirt and its runtime dependencies from DIR only, with
# no index (a machine without a way to PyPI: the Vagrant lab's, see vagrant/box/wheels.sh).
#
# HAVIRT_SYSTEM_PACKAGES=skip leaves the system alone (no apt-get, no root needed):
# the venv is built from PyPI only, without libvirt-python when libvirt's headers are
# missing, and the agents are installed only where an OCF root exists. Tests that
# need libvirt, QEMU or Pacemaker then skip, saying what is missing.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
JOB=${1:-setup}
[ $# -gt 0 ] && shift
SYSTEM=${HAVIRT_SYSTEM_PACKAGES:-install}

# Debian packages, each for a reason:
# - the product on a node: libvirt + QEMU (TCG is enough), the cluster stack, nfs-common
#   (mount.nfs for ocf:havirt:StoragePool's netfs pools), lvm2 (its logical pools),
#   e2fsprogs and util-linux (fs pools, mount, losetup), procps;
# - building libvirt-python: libvirt-dev, pkg-config, gcc, python3-dev, python3-venv;
# - the lab and the tests: the tools they drive for real (ocf-tester, crm_resource, pcs,
#   stonith_admin, xmllint, sshd, ip, nsenter), busybox-static, cpio and kmod (the test
#   guests' initramfs), bindfs (a FUSE filesystem the storage pool tests hang on purpose),
#   vagrant + vagrant-libvirt (`vagrant validate` of vagrant/), shellcheck (its scripts),
#   dnsmasq-base (the DHCP and DNS of the networks libvirt and vagrant-libvirt create, in
#   the Vagrant lab's namespace outer host: `havirt lab vagrant-host`), mmdebstrap (the
#   Vagrant lab's box, built from Debian's packages: vagrant/box/build.sh);
# - iSCSI without the kernel initiator: tgt (the userspace target the tests start),
#   libiscsi-bin (its initiator tools), qemu-block-extra (QEMU's iscsi block driver) and
#   libvirt-daemon-driver-storage-iscsi-direct (libvirt's iscsi-direct pools). Installed
#   with the rest, before any lab runs: the lab's QEMU capability seed is refreshed from
#   each lab's first node (libvirt re-probes when QEMU's module directory changed).
PACKAGES=(
    libvirt-daemon-system libvirt-clients libvirt-dev pkg-config gcc python3-dev python3-venv
    qemu-system-x86 qemu-utils busybox-static iproute2 util-linux openssh-server openssh-client
    resource-agents pacemaker pacemaker-cli-utils corosync pcs fence-agents libxml2-utils
    cpio kmod bindfs nfs-common lvm2 e2fsprogs procps vagrant vagrant-libvirt shellcheck
    tgt libiscsi-bin qemu-block-extra libvirt-daemon-driver-storage-iscsi-direct dnsmasq-base
    mmdebstrap
)
if [ "$SYSTEM" != skip ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: run as root (it installs packages and starts libvirt/Pacemaker" \
            "daemons), or set HAVIRT_SYSTEM_PACKAGES=skip" >&2
        exit 2
    fi
    missing=()
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "bootstrap: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        log=$(mktemp /tmp/havirt-apt.XXXXXX)
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
                "${missing[@]}"; } >"$log" 2>&1; then
            tail -n 25 "$log" >&2
            echo "bootstrap: installing the Debian packages failed (the lines above; whole log:" \
                "$log)" >&2
            exit 1
        fi
        rm -f "$log"
    fi
fi

# The Python environment: one venv in the checkout, rebuilt when pyproject.toml or the
# interpreter changes. Debian's own python3 by default: Pacemaker runs agents as root
# but ocf-tester also runs meta-data as "nobody", so the interpreter must not live in a
# private home directory (as a pyenv one does).
PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3)
with_libvirt=yes
if ! pkg-config --exists libvirt 2>/dev/null; then
    with_libvirt=no  # libvirt-python builds against libvirt's headers
fi
stamp=$VENV/.havirt-pyproject.sha
WHEELHOUSE=${HAVIRT_WHEELHOUSE:-}
[ -n "$WHEELHOUSE" ] && with_libvirt=wheel
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $(readlink -f "$PY") libvirt=$with_libvirt"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: creating $VENV"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
    if [ -n "$WHEELHOUSE" ]; then
        "${pip[@]}" --no-index --find-links "$WHEELHOUSE" -e .
    elif [ "$with_libvirt" = yes ]; then
        "${pip[@]}" -e ".[test]"
    else
        echo "bootstrap: libvirt's headers are missing: installing without libvirt-python"
        # Every dependency pyproject.toml names, but libvirt-python.
        mapfile -t deps < <("$VENV/bin/python" - <<'PYEOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for dep in project["dependencies"] + project["optional-dependencies"]["test"]:
    if not dep.startswith("libvirt-python"):
        print(dep)
PYEOF
        )
        "${pip[@]}" "${deps[@]}"
        "${pip[@]}" --no-deps -e .
    fi
    echo "$want" > "$stamp"
fi

# Agents where Pacemaker looks for them (bound to this venv's interpreter).
ocf_root=$(pkg-config --variable=ocfrootdir resource-agents 2>/dev/null || true)
ocf_root=${ocf_root:-/usr/lib/ocf}
if [ -d "$ocf_root" ] && [ -w "$ocf_root" ]; then
    "$VENV/bin/havirt" install-agents --ocf-root "$ocf_root" >/dev/null
else
    echo "bootstrap: no writable OCF root ($ocf_root): agents not installed"
fi

case "$JOB" in
    setup) echo "bootstrap: ready" ;;
    test)
        if [ "$SYSTEM" != skip ]; then
            export HAVIRT_REQUIRE_REAL_PARTS=${HAVIRT_REQUIRE_REAL_PARTS:-1}
        fi
        exec "$VENV/bin/python" -m pytest "$@" ;;
    demo) exec "$VENV/bin/havirt" demo "$@" ;;
    *) echo "bootstrap: unknown job '$JOB' (use demo, test or setup)" >&2; exit 2 ;;
esac
