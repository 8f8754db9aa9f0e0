"""Hostile or mistaken agent input (issue 11.6): refused with a short, printable exit
reason naming the parameter, the documented OCF code, and nothing done."""

from __future__ import annotations

import pytest
from havirt.agents.guest.migration import MigrationConfigError, check_uri, parse_migrate_options
from havirt.ocf.exitcodes import OcfExit

CONFIGURED = OcfExit.ERR_CONFIGURED
INSTALLED = OcfExit.ERR_INSTALLED
HUGE = "9" * 23  # 99999999999999999999999


@pytest.mark.parametrize(
    ("reskeys", "param", "words"),
    [
        ({"migration_speed": HUGE}, "migration_speed", "above the maximum"),
        ({"migration_speed": "9" * 5000}, "migration_speed", "above the maximum"),
        ({"migration_downtime": HUGE}, "migration_downtime", "above the maximum"),
        ({"migrateport": HUGE}, "migrateport", "not a TCP port"),
        ({"hypervisor": "qemu:///system;id"}, "hypervisor", "';'"),
        ({"hypervisor": "qemu:///system$(reboot)"}, "hypervisor", "'$'"),
        ({"hypervisor": "qemu:///sytem"}, "hypervisor", "path"),
        ({"hypervisor": "qemu:///system\x00"}, "hypervisor", "control"),
        ({"migrate_options": "--migrateuri=tcp://x;reboot"}, "migrate_options", "--migrateuri"),
        ({"migrate_options": "--migrateuri ''"}, "migrate_options", "--migrateuri is empty"),
        ({"migrate_options": "--migrateuri=-x"}, "migrate_options", "--migrateuri"),
        ({"migrateuri": "tcp://%n:1|x"}, "migrateuri", "'|'"),
    ],
)
@pytest.mark.parametrize("action", ["validate-all", "start"])
def test_wrong_values_are_refused_before_anything_is_done(h, action, reskeys, param, words):
    out = h.run(action, **reskeys)
    assert out.rc == CONFIGURED, out
    assert f"'{param}'" in out.reason and words in out.reason, out.reason
    assert h.hv.calls == [], "nothing may be done with a malformed configuration"


def test_a_huge_value_is_echoed_capped_and_printable(h):
    out = h.run("validate-all", migration_transport="x\x00" * 5_000_000)
    assert out.rc == CONFIGURED
    assert "..." in out.reason and "\x00" not in out.reason
    assert len(out.reason) < 300


def test_missing_monitor_script_is_named_by_validate(h, tmp_path):
    missing = tmp_path / "check-web"
    out = h.run("validate-all", monitor_scripts=str(missing))
    assert out.rc == INSTALLED and str(missing) in out.reason


def test_good_uris_still_pass():
    for uri in (
        "qemu:///system",
        "qemu:///session",
        "qemu+ssh://root@node2/system",
        "qemu+ssh://node2:2222/system?keyfile=/root/.ssh/k&no_verify=1",
        "qemu+tls://[fe80::1]:16514/system",
        "xen:///",
        "test:///default",
    ):
        assert check_uri(uri, "hypervisor") is None, uri
    assert parse_migrate_options("--p2p --migrateuri=tcp://%n:49152").migrateuri


@pytest.mark.parametrize("text", ["--migrateuri=", "--migrateuri 'a b'", "--migrateuri=x\x01"])
def test_bad_migrateuri_inside_migrate_options(text):
    with pytest.raises(MigrationConfigError, match="--migrateuri"):
        parse_migrate_options(text)


def test_pool_xml_missing_or_a_directory_is_named(sp, tmp_path):
    missing = tmp_path / "gone.xml"
    out = sp.run("validate-all", pool="images", pool_xml=str(missing))
    assert out.rc == INSTALLED and str(missing) in out.reason and "pool_xml" in out.reason
    out = sp.run("validate-all", pool="images", pool_xml=str(tmp_path))
    assert out.rc == CONFIGURED and "pool_xml" in out.reason and "directory" in out.reason


def test_pool_check_timeout_is_bounded(sp):
    out = sp.run("validate-all", pool="images", check_timeout=HUGE)
    assert out.rc == CONFIGURED and "'check_timeout'" in out.reason
