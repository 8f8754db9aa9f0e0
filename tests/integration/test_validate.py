"""`havirt validate` over real SSH against three lab nodes (sshd + libvirtd each).

The command runs in the lab's controller namespace (the host has no route into
the lab), with the lab's key and known_hosts. Each test plants one kind of
mismatch on a node, checks that validate names that node, the item and a fix,
and puts the node back, also when it fails.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from havirt.tools.lab import Lab, LibvirtNode
from havirt.tools.lab.ssh import LAB_USER

pytestmark = pytest.mark.integration

HAVIRT = str(Path(sys.executable).with_name("havirt"))
NET = "<network><name>lan</name><forward mode='bridge'/><bridge name='{bridge}'/></network>"
POOL = "<pool type='dir'><name>shared</name><target><path>{path}</path></target></pool>"


@pytest.fixture(scope="module")
def vlab(request: pytest.FixtureRequest, lab_requirements: None) -> Iterator[Lab]:
    """Three alike nodes: network 'lan' (bridge br-lan), pool 'shared' on the shared mount."""
    lab = Lab(f"va{os.getpid()}", nodes=("node1", "node2", "node3"))
    request.addfinalizer(lab.down)
    lab.up()
    (lab.shared_dir / "pool").mkdir()
    for node in lab.nodes.values():
        for bridge in ("br-lan", "br-other"):  # forward mode 'bridge' needs them to exist
            node.exec(["ip", "link", "add", bridge, "type", "bridge"], check=True)
        define_network(lab, node, "br-lan")
        define_pool(lab, node, f"{lab.shared_mount}/pool")
    yield lab


def _xml_file(lab: Lab, name: str, text: str) -> str:
    path = lab.shared_dir / name
    path.write_text(text)
    return lab.node_path(path)


def define_network(lab: Lab, node: LibvirtNode, bridge: str) -> None:
    node.virsh("net-destroy", "lan", check=False)
    node.virsh("net-undefine", "lan", check=False)
    node.virsh("net-define", _xml_file(lab, f"net-{node.name}.xml", NET.format(bridge=bridge)))
    node.virsh("net-start", "lan")
    node.virsh("net-autostart", "lan")


def define_pool(lab: Lab, node: LibvirtNode, path: str) -> None:
    node.virsh("pool-destroy", "shared", check=False)
    node.virsh("pool-undefine", "shared", check=False)
    node.virsh("pool-define", _xml_file(lab, f"pool-{node.name}.xml", POOL.format(path=path)))
    node.virsh("pool-start", "shared")
    node.virsh("pool-autostart", "shared")


def validate(
    lab: Lab,
    *args: str,
    user: str = "root",
    known_hosts: Path | None = None,
    new_host: str | None = None,
    json_out: bool = True,
) -> tuple[int, Any]:
    """Run `havirt validate` in the controller against the nodes; (exit code, report)."""
    argv = [
        HAVIRT,
        "validate",
        "-u",
        user,
        "-i",
        str(lab.ssh.identity),
        "--ssh-config",
        "/dev/null",
    ]
    argv += ["--known-hosts", str(known_hosts or lab.ssh.known_hosts)]
    for node in lab.nodes.values():
        option = "--new-host" if node.name == new_host else "--host"
        argv += [option, f"{node.name}={node.address}"]
    argv += [*args, *(["--json"] if json_out else [])]
    result = lab.controller.exec(argv, timeout=180)
    assert result.returncode in (0, 1), result.describe() + result.stderr[-2000:]
    return result.returncode, json.loads(result.stdout) if json_out else result.stdout


def findings(report: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"] == check]


def only_errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["severity"] == "error"]


def test_alike_nodes_pass(vlab: Lab) -> None:
    rc, report = validate(vlab)
    assert rc == 0, only_errors(report)
    assert only_errors(report) == []
    assert all(n["reachable"] and n["hostname"] == n["name"] for n in report["nodes"])
    assert {c["id"]: c["status"] for c in report["checks"]} == {
        "connect": "ok",
        "networks": "ok",
        "pools": "ok",
        "ssh-trust": "ok",
        "cpu": "ok",
        "versions": "ok",
        "host-uuid": "ok",
        "hostnames": "ok",
        "clock": "ok",
        "lock-manager": "ok",  # the lab's nodes use virtlockd (storage leases)
        "memory": "ok",
        "definitions": "skipped",  # no definition store given
        "luns": "ok",  # no iSCSI pools to compare
    }
    rc, _ = validate(vlab, "--strict")  # no warnings either
    assert rc == 0


def test_a_non_root_user_in_the_libvirt_group_works(vlab: Lab) -> None:
    rc, report = validate(vlab, user=LAB_USER)
    assert rc == 0, only_errors(report)
    assert {n["user"] for n in report["nodes"]} == {LAB_USER}
    # qemu.conf is root's alone: said, with the fix, as a warning on each node.
    unread = [f for f in findings(report, "lock-manager") if f["item"] == "qemu.conf"]
    assert [f["node"] for f in unread] == ["node1", "node2", "node3"]
    assert all("Permission denied" in f["message"] for f in unread)


def test_network_missing_on_one_node(vlab: Lab) -> None:
    node = vlab.nodes["node2"]
    node.virsh("net-destroy", "lan")
    node.virsh("net-undefine", "lan")
    try:
        rc, report = validate(vlab, "--skip", "ssh-trust")
    finally:
        define_network(vlab, node, "br-lan")
    assert rc == 1
    (finding,) = only_errors(report)
    assert (finding["node"], finding["item"]) == ("node2", "network 'lan'")
    assert "missing on node2; defined on node1, node3" in finding["message"]
    assert "virsh net-define lan.xml" in finding["fix"]


def test_network_with_another_bridge(vlab: Lab) -> None:
    node = vlab.nodes["node3"]
    define_network(vlab, node, "br-other")
    try:
        rc, report = validate(vlab, "--skip", "ssh-trust")
    finally:
        define_network(vlab, node, "br-lan")
    assert rc == 1
    (finding,) = only_errors(report)
    assert finding["node"] == "node3"
    assert finding["message"] == "bridge is 'br-other' on node3; node1, node2 have 'br-lan'"
    assert "<bridge name='br-lan'/>" in finding["fix"]


def test_pool_with_another_target_path(vlab: Lab) -> None:
    node = vlab.nodes["node1"]
    define_pool(vlab, node, "/var/lib/libvirt/images")
    try:
        rc, report = validate(vlab, "--skip", "ssh-trust")
    finally:
        define_pool(vlab, node, f"{vlab.shared_mount}/pool")
    assert rc == 1
    (finding,) = only_errors(report)
    assert (finding["node"], finding["item"]) == ("node1", "pool 'shared'")
    assert finding["actual"] == "/var/lib/libvirt/images"
    assert finding["expected"] == f"{vlab.shared_mount}/pool"
    assert f"<target><path>{vlab.shared_mount}/pool</path></target>" in finding["fix"]


def test_ssh_trust_broken_by_a_removed_authorized_key_and_an_unknown_host_key(
    vlab: Lab,
) -> None:
    # Migrations as the non-root user: its authorized_keys on node2 goes away, and
    # node1's root no longer knows node3's host key.
    keys = vlab.nodes["node2"].dir / "home" / LAB_USER / ".ssh" / "authorized_keys"
    known = vlab.nodes["node1"].dir / "root-ssh" / "known_hosts"
    saved_keys, saved_known = keys.read_text(), known.read_text()
    keys.unlink()
    known.write_text("".join(line for line in saved_known.splitlines(True) if "node3" not in line))
    try:
        rc, report = validate(vlab, "--migration-user", LAB_USER)
    finally:
        keys.write_text(saved_keys)
        os.chown(keys, *_owner(keys.parent))
        keys.chmod(0o600)
        known.write_text(saved_known)
    assert rc == 1
    found = {f["item"]: f for f in findings(report, "ssh-trust")}
    assert set(found) == {"node1 -> node2", "node3 -> node2", "node1 -> node3"}
    denied = found["node3 -> node2"]
    assert denied["node"] == "node3"
    assert f"cannot reach node2 as {LAB_USER}" in denied["message"]
    assert "Permission denied" in denied["message"]
    assert f"ssh-copy-id {LAB_USER}@node2" in denied["fix"]
    unknown = found["node1 -> node3"]
    assert "Host key verification failed" in unknown["message"]
    assert "/etc/ssh/ssh_host_ed25519_key.pub on node3" in unknown["fix"]
    assert "'node3 <type> <key>'" in unknown["fix"]
    assert [f["check"] for f in only_errors(report)] == ["ssh-trust"] * 3


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def test_duplicate_host_uuid(vlab: Lab) -> None:
    node1, node3 = vlab.nodes["node1"], vlab.nodes["node3"]
    conf = node3.dir / "etc-libvirt" / "libvirtd.conf"
    saved = conf.read_text()
    conf.write_text(saved.replace(node3.host_uuid, node1.host_uuid))
    try:
        node3.stop_libvirtd()
        node3.start_libvirtd()
        rc, report = validate(vlab, "--skip", "ssh-trust")
    finally:
        conf.write_text(saved)
        node3.stop_libvirtd()
        node3.start_libvirtd()
    assert rc == 1
    (finding,) = only_errors(report)
    assert finding["check"] == "host-uuid"
    assert finding["node"] == "node3"
    assert f"same host UUID as node1 ({node1.host_uuid})" in finding["message"]
    assert "host_uuid" in finding["fix"]


def test_hostname_resolution_disagreement(vlab: Lab) -> None:
    # node2's /etc/hosts sends node3 to node1's address: validate says so, and SSH
    # from node2 to "node3" meets node1's host key and refuses it.
    hosts = vlab.nodes["node2"].dir / "hosts"
    saved = hosts.read_text()
    node1, node3 = vlab.nodes["node1"], vlab.nodes["node3"]
    hosts.write_text(saved.replace(f"{node3.address}\tnode3", f"{node1.address}\tnode3"))
    try:
        rc, report = validate(vlab)
    finally:
        hosts.write_text(saved)
    assert rc == 1
    (finding,) = findings(report, "hostnames")
    assert (finding["node"], finding["item"]) == ("node2", "name node3")
    assert finding["actual"] == [node1.address] and finding["expected"] == [node3.address]
    assert f"make node3 resolve to {node3.address}" in finding["fix"]
    (trust,) = findings(report, "ssh-trust")
    assert trust["item"] == "node2 -> node3"
    assert len(only_errors(report)) == 2


def test_lock_manager_differing(vlab: Lab) -> None:
    conf = vlab.nodes["node3"].dir / "etc-libvirt" / "qemu.conf"
    saved = conf.read_text()
    assert 'lock_manager = "lockd"' in saved  # the lab's nodes use virtlockd
    conf.write_text(saved.replace('lock_manager = "lockd"', ""))  # read by validate only
    try:
        rc, report = validate(vlab, "--skip", "ssh-trust")
    finally:
        conf.write_text(saved)
    assert rc == 1
    (finding,) = only_errors(report)
    assert finding["node"] == "node3"
    assert finding["message"] == "lock manager is 'none' on node3; node1, node2: 'lockd'"


def test_version_differing(vlab: Lab, tmp_path: Path) -> None:
    node = vlab.nodes["node1"]
    fake = node.dir / "fake-corosync"
    fake.write_text("#!/bin/sh\necho \"Corosync Cluster Engine, version '3.0.0'\"\n")
    fake.chmod(0o755)
    node.exec(["mount", "--bind", str(fake), "/usr/sbin/corosync"], check=True)
    try:
        rc, report = validate(vlab, "--skip", "ssh-trust")
    finally:
        node.exec(["umount", "/usr/sbin/corosync"], check=True)
    assert rc == 1
    (finding,) = only_errors(report)
    assert (finding["node"], finding["item"], finding["actual"]) == ("node1", "Corosync", "3.0.0")


def test_an_unknown_host_key_is_refused_and_known_hosts_is_left_alone(
    vlab: Lab, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    lines = vlab.ssh.known_hosts.read_text().splitlines(True)
    known.write_text("".join(line for line in lines if not line.startswith("node2,")))
    before = known.read_text()
    rc, report = validate(vlab, "--skip", "ssh-trust", known_hosts=known)
    assert rc == 1
    (refused,) = findings(report, "connect")
    assert (refused["node"], refused["actual"]) == ("node2", "host-key-unknown")
    assert "is not in known_hosts" in refused["message"] and "refused" in refused["message"]
    fingerprint = (
        vlab.nodes["node2"]
        .exec(["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"], check=True)
        .stdout.split()[1]
    )
    assert fingerprint in refused["message"]  # what to compare out of band
    key_type, key_data = (
        vlab.nodes["node2"]
        .exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"], check=True)
        .stdout.split()[:2]
    )
    # The fix adds exactly the key compared, never one fetched again (ssh-keyscan).
    assert f"{vlab.nodes['node2'].address} {key_type} {key_data}" in refused["fix"]
    assert "ssh-keyscan" not in refused["fix"]
    assert known.read_text() == before  # never accepted, never written
    assert [n["reachable"] for n in report["nodes"]] == [True, False, True]
    assert only_errors(report) == [refused]  # the two others were still compared


def test_a_changed_host_key_is_refused(vlab: Lab, tmp_path: Path) -> None:
    node1, node2 = vlab.nodes["node1"], vlab.nodes["node2"]
    key1 = vlab.ssh.host_key(node1).read_text().split()
    known = tmp_path / "known_hosts"
    text = vlab.ssh.known_hosts.read_text().splitlines()
    text = [
        f"node2,{node2.address} {key1[0]} {key1[1]}" if t.startswith("node2,") else t for t in text
    ]
    known.write_text("\n".join(text) + "\n")
    rc, report = validate(vlab, "--skip", "ssh-trust", known_hosts=known)
    assert rc == 1
    (refused,) = findings(report, "connect")
    assert (refused["node"], refused["actual"]) == ("node2", "host-key-changed")
    assert "CHANGED" in refused["message"]
    assert f"ssh-keygen -R {node2.address}" in refused["fix"]


def test_new_host_is_compared_with_the_members(vlab: Lab) -> None:
    node = vlab.nodes["node3"]
    node.virsh("net-destroy", "lan")
    node.virsh("net-undefine", "lan")
    try:
        rc, report = validate(vlab, "--skip", "ssh-trust", new_host="node3")
    finally:
        define_network(vlab, node, "br-lan")
    assert rc == 1
    assert (report["mode"], report["new_host"]) == ("new-host", "node3")
    assert [(n["name"], n["role"]) for n in report["nodes"]] == [
        ("node1", "member"),
        ("node2", "member"),
        ("node3", "new-host"),
    ]
    (finding,) = only_errors(report)
    assert (finding["node"], finding["item"]) == ("node3", "network 'lan'")


def test_the_human_report_names_node_item_and_fix(vlab: Lab) -> None:
    node = vlab.nodes["node2"]
    define_network(vlab, node, "br-other")
    try:
        rc, text = validate(vlab, "--skip", "ssh-trust", json_out=False)
    finally:
        define_network(vlab, node, "br-lan")
    assert rc == 1
    assert "ERROR    node2  network 'lan'" in text
    assert "bridge is 'br-other' on node2; node1, node3 have 'br-lan'" in text
    assert "fix: on node2: virsh net-edit lan" in text
    assert "validation failed: 1 error in" in text


SESSION_PROBE = """
import json, sys, time
from havirt.tools.validate import ssh
from havirt.tools.validate.targets import Target

known_hosts, identity, address = sys.argv[1:4]
session = ssh.make_connector([known_hosts], [identity], "/dev/null").connect(
    Target("node1", address, "root")
)
found = {}
r = session.run("echo out; echo err >&2; exit 3", 10)
found["plain"] = [r.returncode, r.stdout, r.stderr, r.timed_out]
start = time.monotonic()
r = session.run("echo started; sleep 30", 1)
found["slow"] = [r.returncode, r.stdout, r.timed_out, time.monotonic() - start]
r = session.run("echo again", 10)
found["after"] = [r.returncode, r.stdout]
session.close()
print(json.dumps(found))
"""


def test_a_session_keeps_output_apart_and_ends_a_slow_command_at_its_deadline(
    vlab: Lab,
) -> None:
    node1 = vlab.nodes["node1"]
    argv = [sys.executable, "-c", SESSION_PROBE, str(vlab.ssh.known_hosts)]
    result = vlab.controller.exec([*argv, str(vlab.ssh.identity), node1.address], timeout=60)
    assert result.returncode == 0, result.describe() + result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert found["plain"] == [3, "out\n", "err\n", False]
    code, out, timed_out, seconds = found["slow"]
    assert (code, out, timed_out) == (124, "started\n", True)
    assert seconds < 5  # its deadline was 1 s
    assert found["after"] == [0, "again\n"]  # the connection still serves the next command
