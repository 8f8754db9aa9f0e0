from __future__ import annotations

import pytest
from havirt.ocf.environment import Deadline, OcfEnvironment


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def env_for(action: str = "monitor", **variables: str) -> OcfEnvironment:
    return OcfEnvironment.from_environ(action, variables)


# -- reskey / meta split


def test_reskeys_and_meta_are_split_and_unprefixed():
    env = env_for(
        "start",
        OCF_RESKEY_config="/etc/x.conf",
        OCF_RESKEY_crm_feature_set="3.16.2",
        OCF_RESKEY_CRM_meta_timeout="20000",
        OCF_RESKEY_CRM_meta_on_node="node1",
        OCF_RESOURCE_INSTANCE="vm1",
        HA_debug="0",
        PATH="/bin",
    )
    assert env.reskeys == {"config": "/etc/x.conf", "crm_feature_set": "3.16.2"}
    assert env.meta == {"timeout": "20000", "on_node": "node1"}
    assert env.resource == "vm1"
    assert env.action == "start"
    assert env.raw["PATH"] == "/bin"


def test_resource_defaults_to_undef():
    assert env_for().resource == "undef"
    assert env_for(OCF_RESOURCE_INSTANCE="").resource == "undef"


def test_empty_reskey_is_kept():
    assert env_for(OCF_RESKEY_mode="").reskeys == {"mode": ""}


def test_reads_os_environ_when_not_given(monkeypatch):
    monkeypatch.setenv("OCF_RESKEY_zzz_test_only", "1")
    assert OcfEnvironment.from_environ("start").reskeys["zzz_test_only"] == "1"


# -- milliseconds


@pytest.mark.parametrize(
    ("text", "ms"),
    [("20000", 20000), (" 1500 ", 1500), ("0", 0), ("", None), ("20s", None), ("abc", None)],
)
def test_timeout_is_milliseconds_and_junk_is_ignored(text, ms):
    assert env_for(OCF_RESKEY_CRM_meta_timeout=text).timeout_ms == ms


def test_timeout_absent():
    assert env_for().timeout_ms is None


@pytest.mark.parametrize(("text", "ms"), [("10000", 10000), ("0", 0), ("", 0), ("junk", 0)])
def test_interval_ms(text, ms):
    assert env_for(OCF_RESKEY_CRM_meta_interval=text).interval_ms == ms


def test_interval_absent_is_zero():
    assert env_for().interval_ms == 0


# -- probes


@pytest.mark.parametrize("action", ["monitor", "status"])
def test_monitor_with_interval_zero_is_a_probe(action):
    env = env_for(action, OCF_RESKEY_CRM_meta_interval="0")
    assert env.is_monitor and env.is_probe


def test_monitor_without_interval_is_a_probe():
    assert env_for("monitor").is_probe


def test_recurring_monitor_is_not_a_probe():
    env = env_for("monitor", OCF_RESKEY_CRM_meta_interval="10000")
    assert env.is_monitor and not env.is_probe


@pytest.mark.parametrize("action", ["start", "stop", "validate-all", "migrate_to"])
def test_other_actions_are_never_probes(action):
    env = env_for(action, OCF_RESKEY_CRM_meta_interval="0")
    assert not env.is_monitor and not env.is_probe


# -- check level


def test_check_level_from_ocf_check_level():
    assert env_for(OCF_CHECK_LEVEL="20").check_level == 20


def test_check_level_from_meta_depth():
    assert env_for(OCF_RESKEY_CRM_meta_depth="10").check_level == 10


def test_ocf_check_level_wins_over_depth():
    assert env_for(OCF_CHECK_LEVEL="20", OCF_RESKEY_CRM_meta_depth="10").check_level == 20


@pytest.mark.parametrize("text", ["", "deep", "1.5"])
def test_check_level_junk_is_zero(text):
    assert env_for(OCF_CHECK_LEVEL=text).check_level == 0


def test_check_level_default_zero():
    assert env_for().check_level == 0


# -- other views


def test_node_name_prefers_meta_on_node():
    assert env_for(OCF_RESKEY_CRM_meta_on_node="n1", HA_node_name="n2").node_name == "n1"
    assert env_for(HA_node_name="n2").node_name == "n2"
    assert env_for().node_name is None


def test_migration_peers():
    env = env_for(
        "migrate_to",
        OCF_RESKEY_CRM_meta_migrate_source="a",
        OCF_RESKEY_CRM_meta_migrate_target="b",
    )
    assert (env.migrate_source, env.migrate_target) == ("a", "b")
    assert env_for("migrate_to", OCF_RESKEY_CRM_meta_migrate_target="").migrate_target is None


def test_state_dir():
    assert env_for(HA_RSCTMP="/run/x").state_dir == "/run/x"
    assert env_for().state_dir == "/run/resource-agents"


@pytest.mark.parametrize(
    ("major", "minor", "version"),
    [
        (None, None, (1, 0)),
        ("1", "0", (1, 0)),
        ("1", "1", (1, 1)),
        ("2", "0", (2, 0)),
        ("1", "x", (1, 0)),
        ("", "", (1, 0)),
    ],
)
def test_ocf_version(major, minor, version):
    variables = {}
    if major is not None:
        variables["OCF_RA_VERSION_MAJOR"] = major
    if minor is not None:
        variables["OCF_RA_VERSION_MINOR"] = minor
    assert env_for("meta-data", **variables).ocf_version == version


# -- deadlines


def test_deadline_counts_down_with_the_clock():
    clock = FakeClock()
    d = Deadline(10.0, clock)
    assert d.total == 10.0
    assert d.remaining() == 10.0
    assert not d.expired()
    clock.advance(4)
    assert d.remaining() == 6.0
    clock.advance(6)
    assert d.remaining() == 0.0
    assert d.expired()
    clock.advance(5)
    assert d.remaining() == 0.0  # never negative


def test_sooner_ends_margin_before_and_never_in_the_past():
    clock = FakeClock()
    d = Deadline(10.0, clock)
    s = d.sooner(3)
    assert s.remaining() == 7.0
    clock.advance(8)
    assert s.expired()
    assert d.remaining() == 2.0
    late = d.sooner(5)
    assert late.remaining() == 0.0
    assert late.end == clock.now


def test_within_is_capped_by_the_parent():
    clock = FakeClock()
    d = Deadline(10.0, clock)
    assert d.within(4).remaining() == 4.0
    assert d.within(60).remaining() == 10.0
    clock.advance(9)
    assert d.within(4).remaining() == 1.0


def test_child_deadlines_share_the_clock():
    clock = FakeClock()
    child = Deadline(10.0, clock).within(5)
    clock.advance(5)
    assert child.expired()


def test_env_deadline_from_meta_timeout():
    clock = FakeClock()
    d = env_for("start", OCF_RESKEY_CRM_meta_timeout="12500").deadline(99, clock)
    assert d.total == 12.5
    assert d.remaining() == 12.5
    clock.advance(2)
    assert d.remaining() == 10.5


@pytest.mark.parametrize("timeout", [None, "", "0", "-5", "junk"])
def test_env_deadline_falls_back_to_default(timeout):
    variables = {} if timeout is None else {"OCF_RESKEY_CRM_meta_timeout": timeout}
    assert env_for("start", **variables).deadline(45, FakeClock()).total == 45
