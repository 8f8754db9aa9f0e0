"""Cluster properties: an inventory cannot turn fencing or quorum off by accident.

Refused in [cluster.properties]: stonith-enabled and placement-strategy (havirt sets
them), options Pacemaker maintains or does not know, and values that weaken fencing
or quorum. [cluster.overrides] accepts them with a reason and warns on every check.
"""

from __future__ import annotations

import pytest
from havirt.tools.generate import cib_plan as cibgen
from havirt.tools.inventory import check_text, load_text
from havirt.tools.inventory.cluster_options import PACEMAKER_CLUSTER_OPTIONS, weakens_safety
from test_inventory_loader import BASE

THIRD_NODE = """
[[nodes]]
name = "kvm3"
addresses = ["10.0.0.3/24"]
memory = "8GiB"
vcpus = 4
fence = { agent = "fence_ipmilan", options = { ip = "10.0.1.3" } }
"""


def with_cluster(extra: str, nodes: int = 2) -> str:
    """BASE with EXTRA after [cluster]'s keys, and a third node if asked."""
    text = BASE.replace('name = "c1"\n', 'name = "c1"\n\n' + extra + "\n", 1)
    if nodes == 3:
        text = text.replace("\n[[networks]]", THIRD_NODE + "\n[[networks]]", 1)
    return text


def problems(text: str) -> list[tuple[str, str]]:
    return [(p.severity, str(p)) for p in check_text(text, "c.toml").problems]


def errors(text: str) -> list[str]:
    return [line for severity, line in problems(text) if severity == "error"]


@pytest.mark.parametrize(
    ("properties", "nodes", "expected"),
    [
        ('stonith-enabled = "false"', 2, "stonith-enabled is set by havirt"),
        ("stonith-enabled = false", 3, "stonith-enabled is set by havirt"),
        ('stonith-enabled = "true"', 2, "stonith-enabled is set by havirt"),
        ('placement-strategy = "utilization"', 2, "set placement_strategy in [policies]"),
        ('startup-fencing = "false"', 2, "startup-fencing = 'false' refused"),
        ('no-quorum-policy = "ignore"', 3, "no-quorum-policy = 'ignore' refused"),
        ('stop-all-resources = "true"', 2, "every guest of the cluster is stopped"),
        ('dc-version = "2.1.5"', 2, "dc-version is maintained by Pacemaker"),
        ('dc-deadtme = "5s"', 2, "did you mean 'dc-deadtime'?"),
        ('my-own-option = "1"', 2, "not a Pacemaker 2.1 cluster option"),
    ],
)
def test_refused_properties_name_the_fix(properties: str, nodes: int, expected: str) -> None:
    found = errors(with_cluster("[cluster.properties]\n" + properties, nodes))
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith("c.toml:5: cluster.properties.")  # the line of the key


@pytest.mark.parametrize(
    "properties",
    [
        'no-quorum-policy = "ignore"',  # two nodes: corosync's two_node decides
        'no-quorum-policy = "freeze"',
        'startup-fencing = "true"',
        'dc-deadtime = "5s"\ncluster-recheck-interval = "5min"',
        'stop-all-resources = "false"',
    ],
)
def test_harmless_properties_pass(properties: str) -> None:
    assert problems(with_cluster("[cluster.properties]\n" + properties)) == []


OVERRIDE = """[cluster.overrides.stonith-enabled]
value = "false"
reason = "test cluster on one hypervisor, no fence device yet"
"""


def test_override_turns_fencing_off_with_a_loud_warning() -> None:
    found = problems(with_cluster(OVERRIDE, nodes=3))
    assert [severity for severity, _ in found] == ["warning"]
    line = found[0][1]
    assert "OVERRIDE stonith-enabled = 'false': fencing is off" in line
    assert "no fence device yet" in line
    inv = load_text(with_cluster(OVERRIDE, nodes=3), "c.toml")
    plan = cibgen.plan(inv)
    assert dict(plan.properties)["stonith-enabled"] == "false"
    names = [name for name, _ in plan.properties]
    assert len(names) == len(set(names)), "one nvpair per property"


def test_override_needs_a_reason() -> None:
    text = with_cluster('[cluster.overrides.stonith-enabled]\nvalue = "false"\n')
    assert any("missing key 'reason'" in e for e in errors(text))


def test_override_of_an_unknown_option_is_accepted_with_a_warning() -> None:
    text = with_cluster(
        '[cluster.overrides.node-pending-timeout]\nvalue = "2h"\nreason = "Pacemaker 2.1.7 here"\n'
    )
    found = problems(text)
    assert [s for s, _ in found] == ["warning"]
    assert "not a Pacemaker 2.1 option" in found[0][1]


@pytest.mark.parametrize("name", ["placement-strategy", "dc-version"])
def test_some_properties_cannot_be_overridden(name: str) -> None:
    text = with_cluster(f'[cluster.overrides.{name}]\nvalue = "x"\nreason = "because I can"\n')
    assert any("cannot be overridden" in e for e in errors(text))


def test_property_and_override_of_one_name_is_refused() -> None:
    text = with_cluster(
        '[cluster.properties]\ndc-deadtime = "5s"\n\n'
        '[cluster.overrides.dc-deadtime]\nvalue = "9s"\nreason = "slow switches"\n'
    )
    assert any("also in [cluster.properties]" in e for e in errors(text))


def test_generated_properties_keep_havirts_first_and_are_unique() -> None:
    inv = load_text(with_cluster('[cluster.properties]\ndc-deadtime = "5s"'), "c.toml")
    assert cibgen.plan(inv).properties == (
        ("stonith-enabled", "true"),
        ("placement-strategy", "balanced"),
        ("dc-deadtime", "5s"),
    )


def test_weakens_safety_reads_pacemaker_booleans() -> None:
    for word in ("false", "FALSE", "no", "off", "0", "n"):
        assert weakens_safety("stonith-enabled", word, 2)
    for word in ("true", "yes", "on", "1"):
        assert weakens_safety("stonith-enabled", word, 2) is None
    assert weakens_safety("no-quorum-policy", "ignore", 2) is None
    assert weakens_safety("no-quorum-policy", "ignore", 3)
    assert "stonith-enabled" in PACEMAKER_CLUSTER_OPTIONS
