"""ocf:havirt:StoragePool's iSCSI pools: iscsi-direct (libiscsi, nothing on the node) and
iscsi (the kernel initiator): definitions, validation, start and monitor."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from havirt.agents.pool.definition import (
    DefinitionError,
    differences,
    from_params,
    from_xml,
    to_xml,
)

SUCCESS, GENERIC, INSTALLED, CONFIGURED, NOT_RUNNING = 0, 1, 5, 6, 7
TARGET_IQN = "iqn.2026-12.com.example:storage1"
INITIATOR = "iqn.2026-12.com.example:node1"
DIRECT = {
    "pool": "luns",
    "type": "iscsi-direct",
    "source_host": "192.0.2.3",
    "source_device": TARGET_IQN,
    "initiator_iqn": INITIATOR,
}
PREFIX = f"ip-192.0.2.3:3260-iscsi-{TARGET_IQN}-lun-"
# As libvirt 9.0's `virsh pool-dumpxml` prints an active iscsi-direct pool.
LIBVIRT_DIRECT = f"""<pool type='iscsi-direct'>
  <name>luns</name>
  <uuid>3c1e4f0a-7b2d-4e9a-8c5f-0123456789ab</uuid>
  <capacity unit='bytes'>268434944</capacity>
  <allocation unit='bytes'>268434944</allocation>
  <available unit='bytes'>0</available>
  <source>
    <host name='192.0.2.3' port='3260'/>
    <device path='{TARGET_IQN}'/>
    <initiator>
      <iqn name='{INITIATOR}'/>
    </initiator>
  </source>
</pool>"""


# -- definitions --------------------------------------------------------------------------


def test_iscsi_direct_from_params_has_no_target_and_the_default_port() -> None:
    spec = from_params(DIRECT)
    assert spec is not None and spec.luns and not spec.mounted
    assert spec.target == "" and spec.where == "through libiscsi"
    assert spec.source_host == "192.0.2.3:3260"
    assert spec.source == f"iscsi://192.0.2.3:3260/{TARGET_IQN}"
    root = ET.fromstring(to_xml(spec))
    assert root.get("type") == "iscsi-direct" and root.find("target") is None
    assert root.find("source/host").attrib == {"name": "192.0.2.3", "port": "3260"}
    assert root.find("source/device").get("path") == TARGET_IQN
    assert root.find("source/initiator/iqn").get("name") == INITIATOR
    assert root.find("source/format") is None


def test_libvirts_iscsi_direct_xml_matches_the_parameters() -> None:
    assert differences(from_params(DIRECT), from_xml(LIBVIRT_DIRECT)) == []
    other = from_params({**DIRECT, "initiator_iqn": "iqn.2026-12.com.example:node2"})
    assert differences(other, from_xml(LIBVIRT_DIRECT)) == [
        f"initiator_iqn: defined {INITIATOR}, wanted iqn.2026-12.com.example:node2"
    ]


def test_iscsi_kernel_pool_defaults_to_by_path_and_keeps_an_ipv6_portal() -> None:
    spec = from_params(
        {
            "pool": "k",
            "type": "iscsi",
            "source_host": "[2001:db8::3]:3261",
            "source_device": TARGET_IQN,
        }
    )
    assert spec is not None and spec.target == "/dev/disk/by-path"
    assert spec.source_host == "[2001:db8::3]:3261" and spec.initiator_iqn is None
    xml = to_xml(spec)
    assert ET.fromstring(xml).find("source/host").attrib == {"name": "2001:db8::3", "port": "3261"}
    assert from_xml(xml) == spec


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"initiator_iqn": None}, "type=iscsi-direct needs parameter 'initiator_iqn'"),
        ({"source_device": None}, "type=iscsi-direct needs parameter 'source_device'"),
        ({"target_path": "/dev/x"}, "'target_path' does not apply to type=iscsi-direct"),
        ({"source_host": "h:0"}, "parameter 'source_host': 'h:0' is not an iSCSI portal"),
        ({"source_host": "h:x"}, "parameter 'source_host'"),
        ({"source_device": "storage1"}, "parameter 'source_device': 'storage1' is not an iSCSI"),
        ({"initiator_iqn": "iqn.26-1.x"}, "parameter 'initiator_iqn'"),
    ],
)
def test_definition_errors_name_the_parameter(values, words) -> None:
    with pytest.raises(DefinitionError, match=words.replace("(", r"\(")):
        from_params({**DIRECT, **values})


@pytest.mark.parametrize(
    "name", [TARGET_IQN, "iqn.2001-04.com.example", "eui.02004567A425678D", "naa.52004567BA64678D"]
)
def test_iscsi_names_that_are_fine(name: str) -> None:
    assert from_params({**DIRECT, "source_device": name}) is not None


# -- the agent ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reskeys", "words"),
    [
        ({"source_device": "storage1"}, ["parameter 'source_device'", "not an iSCSI name"]),
        ({"initiator_iqn": "node1"}, ["parameter 'initiator_iqn'", "iqn.YYYY-MM"]),
        ({"source_host": "a b"}, ["parameter 'source_host'", "not an iSCSI portal"]),
        ({"initiator_iqn": None}, ["type=iscsi-direct needs parameter 'initiator_iqn'"]),
    ],
)
def test_bad_iscsi_parameters_are_configuration_errors(sp, reskeys, words) -> None:
    for action in ("validate-all", "start", "monitor"):
        outcome = sp.run(action, **{**DIRECT, **reskeys})
        assert outcome.rc == CONFIGURED, (action, outcome)
        assert "\n" not in (outcome.reason or "").strip(), outcome  # one line
        for word in words:
            assert word in (outcome.reason or ""), (word, outcome)
    assert not sp.hv.calls_of("define_pool") and not sp.hv.calls_of("start")


def _target_has(sp, *luns: int) -> None:
    """What libvirt lists once it has logged in to the target (LUN 0: the controller)."""
    sp.hv.on_pool_started = lambda pool: pool.volumes.extend(f"{PREFIX}{n}" for n in luns)


def test_start_defines_and_starts_an_iscsi_direct_pool_without_touching_the_node(sp) -> None:
    _target_has(sp, 0, 1)
    outcome = sp.run("start", **DIRECT)
    assert outcome.rc == SUCCESS, outcome
    ((_, xml),) = sp.hv.calls_of("define_pool")
    assert ET.fromstring(xml).get("type") == "iscsi-direct"
    assert sp.hv.calls_of("start") and not sp.hv.calls_of("build")
    assert sp.fs.checks == []  # no target: no filesystem check
    assert "through libiscsi" in outcome.stderr
    for depth in (0, 10, 20):
        assert sp.run("monitor", extra={"OCF_CHECK_LEVEL": str(depth)}, **DIRECT).rc == SUCCESS
    assert sp.fs.checks == []


def test_a_target_showing_only_its_controller_lun_fails(sp) -> None:
    _target_has(sp, 0)
    outcome = sp.run("start", **DIRECT)
    assert outcome.rc == GENERIC and "no data LUN" in outcome.reason, outcome
    assert "ACL" in outcome.reason
    monitor = sp.run("monitor", **DIRECT)
    assert monitor.rc == GENERIC and "no data LUN" in monitor.reason, monitor


def test_iscsi_direct_monitor_without_libvirt_cannot_tell(sp) -> None:
    _target_has(sp, 0, 1)
    assert sp.run("start", **DIRECT).rc == SUCCESS
    sp.hv.unavailable = "Cannot recv data"
    outcome = sp.run("monitor", **DIRECT)
    assert outcome.rc == GENERIC and "only libvirt knows the state" in outcome.reason, outcome


def test_kernel_iscsi_pool_needs_open_iscsi(sp) -> None:
    reskeys = {**DIRECT, "type": "iscsi"}
    sp.host.missing.add("iscsiadm")
    outcome = sp.run("validate-all", **reskeys)
    assert outcome.rc == INSTALLED and "apt-get install open-iscsi" in outcome.reason, outcome
    sp.host.missing.clear()
    assert sp.run("validate-all", **reskeys).rc == SUCCESS
    assert sp.run("validate-all", **DIRECT).rc == SUCCESS  # iscsi-direct needs no tool
