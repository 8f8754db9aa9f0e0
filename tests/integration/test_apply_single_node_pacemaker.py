"""`havirt generate` + `apply` against a real, running Pacemaker: one node (corosync
+ pacemakerd) in its own mount/network/UTS/PID namespaces, reached through a
PrefixRunner that prefixes `nsenter` -- the way the lab cluster runs it in a node.

The cluster runs in maintenance mode (set by the inventory itself): Pacemaker
takes the configuration but runs no agent, so no libvirt is needed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from havirt.tools import generate
from havirt.tools.generate.apply import LiveCibChanged, apply_directory, record_live
from havirt.tools.inventory import load_text
from havirt.tools.lab.proc import spawn
from havirt.tools.pacemaker import Pacemaker, PacemakerError, PrefixRunner

pytestmark = pytest.mark.integration

TOOLS = ("unshare", "nsenter", "corosync", "pacemakerd", "pcs", "crm_mon", "cibadmin", "ip")

# Runs as PID 1 of the node's PID namespace: private mounts, then the two daemons.
NODE_SCRIPT = r"""
set -e
d=$1
for x in var-lib-pacemaker/cib var-lib-pacemaker/pengine var-lib-pacemaker/blackbox \
         var-lib-pacemaker/cores var-lib-corosync etc-corosync log/pacemaker log/corosync \
         var-lib-pcsd; do mkdir -p "$d/$x"; done
chown -R hacluster:haclient "$d/var-lib-pacemaker" "$d/log/pacemaker"
mount --bind "$d/var-lib-pacemaker" /var/lib/pacemaker
mount --bind "$d/var-lib-corosync" /var/lib/corosync
mount --bind "$d/etc-corosync" /etc/corosync
mount --bind "$d/var-lib-pcsd" /var/lib/pcsd
mount --bind "$d/log" /var/log
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /dev/shm
mount -t proc proc /proc
hostname pm1
ip link set lo up
cp "$d/corosync.conf" /etc/corosync/corosync.conf
cp "$d/cib.xml" /var/lib/pacemaker/cib/cib.xml
chown hacluster:haclient /var/lib/pacemaker/cib/cib.xml
chmod 600 /var/lib/pacemaker/cib/cib.xml
corosync -f &
sleep 0.5
PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd &
wait
"""

COROSYNC = """\
totem {
    version: 2
    cluster_name: pm
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}

nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: pm1
        nodeid: 1
    }
}

quorum {
    provider: corosync_votequorum
}
"""

# A first CIB with a short dc-deadtime: a lone node elects itself in ~2 s, not 20.
FIRST_CIB = """\
<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0"
     admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"""

INVENTORY = """\
[cluster]
name = "pm"

[cluster.properties]
maintenance-mode = true

[guest_defaults]
config = "/srv/guests/{name}.xml"

[[nodes]]
name = "pm1"
addresses = ["127.0.0.1"]
memory = "4GiB"
vcpus = 2
fence = { agent = "fence_dummy", options = { type = "file" } }

[[guests]]
name = "vm1"
vcpus = 1
memory = "256MiB"
"""


@pytest.fixture
def pacemaker_node(tmp_path: Path) -> Iterator[Pacemaker]:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, bind mounts, Pacemaker's daemons)")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (corosync, pacemaker, pcs)")
    node_dir = tmp_path / "node"
    node_dir.mkdir()
    (node_dir / "corosync.conf").write_text(COROSYNC)
    (node_dir / "cib.xml").write_text(FIRST_CIB)
    # --kill-child: when unshare ends, the namespace's PID 1 is killed, and with it
    # every process of the node (corosync, pacemakerd and its children).
    holder = spawn(
        ["unshare", "--mount", "--net", "--uts", "--pid", "--fork", "--kill-child=SIGKILL",
         "--propagation", "private", "bash", "-c", NODE_SCRIPT, "node", str(node_dir)],
        log=tmp_path / "node.log",
    )  # fmt: skip
    init: int | None = None
    try:
        init = _child_of(holder.pid)
        prefix = ["nsenter", "--target", str(init), "--mount", "--net", "--uts", "--pid", "--"]
        pm = Pacemaker(PrefixRunner(prefix), timeout=30)
        _wait_for_dc(pm, deadline=time.monotonic() + 90)
        yield pm
    finally:
        # unshare ignores SIGTERM while it waits for its child: SIGKILL it (our own
        # process, by PID); --kill-child then ends the namespace's PID 1.
        holder.kill()
        holder.wait(timeout=30)
        _wait_gone(init)


def _wait_gone(pid: int | None, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while pid is not None and os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
        time.sleep(0.05)


def _child_of(pid: int, timeout: float = 10.0) -> int:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except FileNotFoundError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError(f"unshare (pid {pid}) started no child")


def _wait_for_dc(pm: Pacemaker, deadline: float) -> None:
    last: object = None
    while time.monotonic() < deadline:
        try:
            status = pm.status(timeout=10)
            if status.dc and status.node("pm1") and status.node("pm1").online:
                return
            last = status
        except PacemakerError as exc:
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"no DC within the deadline: {last}")


def test_generate_and_apply_to_a_running_pacemaker(pacemaker_node: Pacemaker, tmp_path) -> None:
    pm = pacemaker_node
    inv = load_text(INVENTORY, "pm.toml")
    files = generate.render(inv)
    out = str(tmp_path / "out")
    generate.write(out, files, generate.manifest(inv, generate.sha256(INVENTORY), files))

    cmp = record_live(out, pm)
    assert "resource vm1" in cmp.merge.added and "property maintenance-mode" in cmp.merge.added
    before = pm.cib_version()
    report = apply_directory(out, pm)
    assert report.pushed
    after = pm.cib_version()
    assert after.configuration == (before.admin_epoch, before.epoch + 1)  # one transaction

    status = pm.status()
    assert status.maintenance_mode and status.stonith_enabled
    vm1 = status.instances("vm1")[0]
    assert vm1.agent == "ocf:havirt:VirtualDomain" and not vm1.managed
    assert status.instances("fence-pm1")[0].agent == "stonith:fence_dummy"
    config = pm.resource_config()
    prim = next(p for p in config["primitives"] if p["id"] == "vm1")
    meta = {m["name"]: m["value"] for s in prim["meta_attributes"] for m in s["nvpairs"]}
    assert meta == {"allow-migrate": "true"}
    assert pm.verify().ok  # crm_verify --live-check

    # The directory was compared with the CIB before the push: apply again is refused.
    with pytest.raises(LiveCibChanged):
        apply_directory(out, pm)
    # Compared afresh: nothing left to change.
    assert not record_live(out, pm).merge.has_changes
    assert not apply_directory(out, pm).pushed
