"""Malformed parameters: the right OCF code and an exit reason naming the parameter."""

from __future__ import annotations

import os

import pytest
from havirt.agents.guest.params import PARAMETERS
from havirt.agents.virtual_domain import VirtualDomain
from havirt.ocf.exitcodes import OcfExit

CONFIGURED = OcfExit.ERR_CONFIGURED
INSTALLED = OcfExit.ERR_INSTALLED

# (case id, reskeys, the parameter the reason must name, words it must contain)
BAD_VALUES = [
    ("hypervisor-not-uri", {"hypervisor": "localhost"}, "hypervisor", "not a libvirt URI"),
    ("hypervisor-space", {"hypervisor": "qemu:///system x"}, "hypervisor", "white space"),
    (
        "hypervisor-transport",
        {"hypervisor": "qemu+pigeon:///system"},
        "hypervisor",
        "unknown transport",
    ),
    ("remoteuri-bad", {"remoteuri": "%n"}, "remoteuri", "not a libvirt URI"),
    ("remoteuri-port", {"remoteuri": "qemu+ssh://%n:ssh/system"}, "remoteuri", "malformed port"),
    ("migrateuri-space", {"migrateuri": "tcp://%n :49152"}, "migrateuri", "white space"),
    ("shutdown_mode", {"shutdown_mode": "acpi,reboot"}, "shutdown_mode", "'reboot'"),
    ("shutdown_mode-case", {"shutdown_mode": "ACPI"}, "shutdown_mode", "'ACPI'"),
    ("speed-text", {"migration_speed": "fast"}, "migration_speed", "not a whole number"),
    ("speed-float", {"migration_speed": "1.5"}, "migration_speed", "not a whole number"),
    ("speed-negative", {"migration_speed": "-1"}, "migration_speed", "below the minimum"),
    ("downtime-text", {"migration_downtime": "1s"}, "migration_downtime", "not a whole number"),
    ("downtime-negative", {"migration_downtime": "-50"}, "migration_downtime", "below"),
    ("port-text", {"migrateport": "http"}, "migrateport", "not a whole number"),
    ("port-zero", {"migrateport": "0"}, "migrateport", "not a TCP port"),
    ("port-high", {"migrateport": "65536"}, "migrateport", "not a TCP port"),
    ("port-negative", {"migrateport": "-49152"}, "migrateport", "not a TCP port"),
    ("user-upper", {"migration_user": "Admin"}, "migration_user", "not a valid user name"),
    ("user-shell", {"migration_user": "root;reboot"}, "migration_user", "not a valid user"),
    ("user-at", {"migration_user": "a@b"}, "migration_user", "not a valid user name"),
    ("transport", {"migration_transport": "carrier"}, "migration_transport", "'carrier'"),
    ("options", {"migrate_options": "--p2p --bandwidth 10"}, "migrate_options", "--bandwidth"),
    ("options-quote", {"migrate_options": "--migrateuri='x"}, "migrate_options", "parse"),
    ("suffix", {"migration_network_suffix": "-mig.lan"}, "migration_network_suffix", "suffix"),
    ("force_stop", {"force_stop": "maybe"}, "force_stop", "not a boolean"),
    ("stateless", {"stateless": "2"}, "stateless", "not a boolean"),
    ("autoset", {"autoset_utilization_cpu": "si"}, "autoset_utilization_cpu", "boolean"),
    ("config-relative", {"config": "vm1.xml"}, "config", "absolute"),
    ("config-empty", {"config": ""}, "config", "empty"),
    ("config-unset", {"config": None}, "config", "not set"),
]


@pytest.mark.parametrize(
    ("reskeys", "param", "words"),
    [c[1:] for c in BAD_VALUES],
    ids=[c[0] for c in BAD_VALUES],
)
@pytest.mark.parametrize("action", ["start", "validate-all", "migrate_to", "monitor"])
def test_bad_values_are_err_configured_naming_the_parameter(h, action, reskeys, param, words):
    out = h.run(action, extra={"OCF_RESKEY_CRM_meta_migrate_target": "node2"}, **reskeys)
    assert out.rc == CONFIGURED, out
    assert f"'{param}'" in out.reason
    assert words in out.reason
    assert h.hv.calls == [], "nothing may be done with a malformed configuration"


def test_snapshot_with_force_stop_is_err_configured(h, tmp_path):
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    out = h.run("start", snapshot=str(snapdir), force_stop="true")
    assert out.rc == CONFIGURED, out
    assert "'snapshot'" in out.reason and "'force_stop'" in out.reason


@pytest.mark.parametrize(
    ("reskeys", "param"),
    [
        ({"snapshot": "havirt-snapshots"}, "snapshot"),
        ({"backingfile": "base.qcow2"}, "backingfile"),
        ({"monitor_scripts": "check-web"}, "monitor_scripts"),
    ],
)
@pytest.mark.parametrize("action", ["start", "validate-all", "monitor"])
def test_files_missing_on_this_node_are_err_installed(h, tmp_path, action, reskeys, param):
    reskeys = {k: str(tmp_path / "nonexistent" / v) for k, v in reskeys.items()}
    out = h.run(action, **reskeys)
    assert out.rc == INSTALLED, out
    assert f"'{param}'" in out.reason
    assert next(iter(reskeys.values())) in out.reason


def test_monitor_script_that_is_not_executable_is_err_installed(h, tmp_path):
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(script, 0o644)
    good = tmp_path / "good.sh"
    good.write_text("#!/bin/sh\nexit 0\n")
    os.chmod(good, 0o755)
    out = h.run("start", monitor_scripts=f"{good} {script}")
    assert out.rc == INSTALLED, out
    assert "'monitor_scripts'" in out.reason and str(script) in out.reason


@pytest.mark.parametrize(
    ("reskeys", "tool", "param"),
    [
        ({"sync_config_on_stop": "true"}, "csync2", "sync_config_on_stop"),
        ({"backingfile": "BASE"}, "qemu-img", "backingfile"),
        (
            {"backingfile": "BASE", "stateless": "true", "copyindirs": "/etc/x"},
            "virt-copy-in",
            "copyindirs",
        ),
    ],
)
def test_tools_missing_on_this_node_are_err_installed(h, tmp_path, reskeys, tool, param):
    base = tmp_path / "base.qcow2"
    base.write_bytes(b"QFI")
    reskeys = {k: (str(base) if v == "BASE" else v) for k, v in reskeys.items()}
    h.host.missing.add(tool)
    out = h.run("start", **reskeys)
    assert out.rc == INSTALLED, out
    assert f"'{param}'" in out.reason and tool in out.reason


def test_missing_config_file_is_err_installed(h, tmp_path):
    missing = tmp_path / "gone.xml"
    out = h.run("start", config=str(missing))
    assert out.rc == INSTALLED, out
    assert str(missing) in out.reason


@pytest.mark.parametrize(
    ("text", "words"),
    [("<domain><name>vm1</name>", "not valid XML"), ("<domain/>", "has no <name>")],
)
def test_broken_config_file_is_err_configured(h, text, words):
    h.config.write_text(text)
    out = h.run("start")
    assert out.rc == CONFIGURED, out
    assert words in out.reason


def test_good_values_pass_validation(h, tmp_path):
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    out = h.run(
        "validate-all",
        hypervisor="qemu+ssh://root@node1:2222/system?keyfile=/k",
        remoteuri="qemu+tls://%n.example.com/system",
        migrateuri="tcp://%n-mig:49152",
        shutdown_mode="acpi,agent",
        migration_speed="100",
        migration_downtime="500",
        migrateport="65535",
        migration_user="virt-mig_1",
        migration_transport="libssh2",
        migrate_options="--p2p --tunnelled --migrateuri=tcp://%n:1",
        migration_network_suffix="-mig",
        force_stop="no",
        snapshot=str(snapdir),
        sync_config_on_stop="yes",
    )
    assert out.rc == OcfExit.SUCCESS, out
    assert out.reasons == []


def test_empty_values_mean_the_defaults(h):
    names = [p.name for p in PARAMETERS if p.name != "config"]
    out = h.run("validate-all", **dict.fromkeys(names, ""))
    assert out.rc == OcfExit.SUCCESS, out


def test_validate_all_warns_about_unknown_parameters(h):
    out = h.run("validate-all", extra={"OCF_RESKEY_migration_tranport": "ssh"})
    assert out.rc == OcfExit.SUCCESS
    assert "migration_tranport" in out.stderr


def test_the_agent_declares_every_parameter_of_the_stock_agent():
    stock = {
        "config",
        "hypervisor",
        "force_stop",
        "migration_transport",
        "migration_user",
        "migration_downtime",
        "migration_speed",
        "migration_network_suffix",
        "migrateuri",
        "migrate_options",
        "monitor_scripts",
        "autoset_utilization_cpu",
        "autoset_utilization_host_memory",
        "autoset_utilization_hv_memory",
        "unset_utilization_cpu",
        "unset_utilization_host_memory",
        "unset_utilization_hv_memory",
        "migrateport",
        "remoteuri",
        "save_config_on_stop",
        "sync_config_on_stop",
        "snapshot",
        "backingfile",
        "stateless",
        "copyindirs",
        "shutdown_mode",
        "start_resources",
    }
    # havirt's own additions, each explained in docs/migrating-from-heartbeat.md
    own = {"require_storage_lease"}
    assert {p.name for p in VirtualDomain.parameters} == stock | own
