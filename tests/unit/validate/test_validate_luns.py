"""The LUNs each node's iSCSI pools see: parsing real answers (captured from an
iscsi-direct pool on a lab node against tgtd), and the luns check's findings for
each way nodes can be out of step."""

from __future__ import annotations

import pytest
from havirt.tools.findings import ERROR, WARNING
from havirt.tools.validate import facts as F
from havirt.tools.validate import lun_probe
from havirt.tools.validate.checks.context import Context
from havirt.tools.validate.checks.luns import check_luns
from havirt.tools.validate.framing import parse_sections
from havirt.tools.validate.targets import Target
from lun_fakes import (
    CAPTURED,
    DATA,
    LUN_ANSWER,
    POOLS_ANSWER,
    REAL_IQN,
    REAL_SERIAL,
    LunNode,
    LunSession,
)

REAL_POOL = POOLS_ANSWER.split(f"{CAPTURED} pool luns\n", 1)[1].split(f"\n\n{CAPTURED} end")[0]
CAPACITY = 67108352  # 64 MiB less one block: libvirt's last LBA times the block size


def real_pool(active: bool = True) -> F.Pool:
    return F.parse_pool(REAL_POOL, active, False)


# ---------------------------------------------------------------- parsing


def test_the_pools_source_and_initiator_are_read() -> None:
    pool = real_pool()
    assert pool.type == "iscsi-direct"
    assert F.iscsi_portal(pool) == "192.168.77.3:3260"
    assert F.iscsi_target(pool) == REAL_IQN
    assert pool.initiator == "iqn.2026-12.test.havirt:node1"


def test_a_portal_without_port_gets_iscsis_and_a_pool_without_initiator_none() -> None:
    pool = F.parse_pool(
        "<pool type='iscsi'><name>k</name><source><host name='san1'/>"
        "<device path='iqn.x:t'/></source><target><path>/dev/disk/by-path</path></target></pool>",
        True,
        False,
    )
    assert F.iscsi_portal(pool) == "san1:3260"
    assert pool.initiator is None


def test_the_captured_answer_gives_the_data_lun_with_serial_and_not_the_controller() -> None:
    section = parse_sections(CAPTURED, LUN_ANSWER)["pool0"]
    assert section.ok
    luns = lun_probe.parse_luns(CAPTURED, section.stdout)
    assert list(luns) == [1]
    assert luns[1].capacity == CAPACITY
    assert luns[1].serial == REAL_SERIAL
    assert luns[1].key == f"ip-192.168.77.3:3260-iscsi-{REAL_IQN}-lun-1"


def test_the_serial_is_read_from_iscsi_inq_padded_with_spaces() -> None:
    volume = "<volume><name>unit:0:0:3</name><capacity unit='bytes'>512</capacity></volume>"
    lun = F.parse_lun_volume(volume, (DATA / "iscsi-inq-vpd80.txt").read_text())
    assert lun == F.Lun(3, 512, None, REAL_SERIAL)
    assert F.parse_lun_volume(volume) == F.Lun(3, 512)  # no iscsi-inq: no serial
    assert F.parse_lun_volume(volume.replace(":3<", ":0<")) is None  # the controller


def test_an_unreadable_volume_is_a_value_error() -> None:
    text = f"{CAPTURED} vol unit:0:0:1\n<volume><name>unit:0:0:1</name>"
    with pytest.raises(ValueError, match="volume unit:0:0:1"):
        lun_probe.parse_luns(CAPTURED, text)


def test_read_luns_is_one_round_trip_for_all_pools_and_says_why_one_failed() -> None:
    node = LunNode()
    assert lun_probe.read_luns(LunSession(node), [], 20) == {}
    assert node.commands == []  # no iSCSI pool: no round trip
    answers = lun_probe.read_luns(LunSession(node), [real_pool()], 20, refresh=True)
    assert list(answers["luns"]) == [1]  # type: ignore[arg-type]
    assert len(node.commands) == 1 and "pool-refresh luns" in node.commands[0]
    assert "iscsi-inq -i iqn.2026-12.test.havirt:node1 -e 1 -c 128" in node.commands[0]
    failing = LunNode(luns=None)
    answers = lun_probe.read_luns(LunSession(failing), [real_pool()], 20)
    assert answers == {"luns": "failed to refresh pool 'luns': Failed to connect"}


def test_only_active_iscsi_pools_are_read() -> None:
    netfs = F.Pool("nfs", "netfs", (), "/srv", True, True)
    idle = F.Pool("idle", "iscsi", (), None, False, False)
    assert lun_probe.iscsi_pools({"nfs": netfs, "idle": idle, "luns": real_pool()}) == [real_pool()]


# ---------------------------------------------------------------- the check


def pool(
    portal: str = "10.0.0.5:3260",
    target: str = "iqn.t:a",
    initiator: str | None = "iqn.i:n",
    active: bool = True,
) -> F.Pool:
    source = (("device", target), ("host", portal))
    return F.Pool("luns", "iscsi-direct", source, None, active, True, initiator)


def lun(number: int, capacity: int = 1000, serial: str | None = None) -> F.Lun:
    return F.Lun(number, capacity, None, serial if serial is not None else f"S{number}")


def context(**nodes: tuple[F.Pool | None, dict[int, F.Lun] | None]) -> Context:
    facts = {}
    for name, (p, luns) in nodes.items():
        fact = F.NodeFacts(name, pools={"luns": p} if p else {})
        fact.luns = {"luns": luns} if luns is not None else {}
        facts[name] = fact
    return Context([Target(n, n, "root") for n in nodes], facts)


def found(ctx: Context) -> list[tuple[str, str, str, str]]:
    return [(f.node, f.severity, f.item, f.message) for f in check_luns(ctx)]


LUNS = {1: lun(1), 2: lun(2)}


def test_alike_nodes_have_nothing_to_say_even_with_their_own_initiators() -> None:
    ctx = context(
        node1=(pool(initiator="iqn.i:1"), LUNS),
        node2=(pool(initiator="iqn.i:2"), LUNS),
        node3=(pool(initiator="iqn.i:3"), LUNS),
    )
    assert found(ctx) == []


def test_a_node_missing_a_lun_is_told_to_rescan() -> None:
    ctx = context(node1=(pool(), LUNS), node2=(pool(), {1: lun(1)}), node3=(pool(), LUNS))
    [finding] = check_luns(ctx)
    assert (finding.node, finding.severity, finding.item) == ("node2", ERROR, "pool 'luns' LUN 2")
    assert finding.message == "node2 does not see LUN 2 of pool luns; node1, node3 see it"
    assert finding.fix.startswith("havirt node rescan node2, or check that the target's ACL")


def test_a_lun_only_one_node_sees_is_reported_on_that_node() -> None:
    ctx = context(node1=(pool(), {1: lun(1)}), node2=(pool(), LUNS), node3=(pool(), {1: lun(1)}))
    assert found(ctx) == [
        ("node2", ERROR, "pool 'luns' LUN 2", "node2 sees LUN 2 of pool luns; node1, node3 do not")
    ]


def test_capacity_and_serial_differences() -> None:
    ctx = context(
        node1=(pool(), {1: lun(1, 1000, "A")}),
        node2=(pool(), {1: lun(1, 2000, "B")}),
        node3=(pool(), {1: lun(1, 1000, "A")}),
    )
    assert [m for _, _, _, m in found(ctx)] == [
        "LUN 1 of pool luns has capacity 2000 on node2; node1, node3 see 1000",
        "LUN 1 of pool luns has serial B on node2; node1, node3 see A",
    ]


def test_a_serial_not_read_on_a_node_is_not_a_difference() -> None:
    unread = F.Lun(1, 1000, None, None)
    ctx = context(node1=(pool(), {1: lun(1)}), node2=(pool(), {1: unread}))
    assert found(ctx) == []


def test_a_different_portal_or_target_is_an_error_naming_what_differs() -> None:
    ctx = context(
        node1=(pool(), LUNS),
        node2=(pool(portal="10.0.0.6:3260"), LUNS),
        node3=(pool(target="iqn.t:b"), LUNS),
    )
    assert [(n, m) for n, _, _, m in found(ctx)] == [
        (
            "node2",
            "the portal of pool luns is 10.0.0.6:3260 on node2; node1, node3 use 10.0.0.5:3260",
        ),
        ("node3", "the target IQN of pool luns is iqn.t:b on node3; node1, node2 use iqn.t:a"),
    ]


def test_an_unset_initiator_is_an_error() -> None:
    ctx = context(node1=(pool(), LUNS), node2=(pool(initiator=None), LUNS))
    assert found(ctx) == [
        ("node2", ERROR, "pool 'luns'", "pool luns names no initiator IQN on node2")
    ]


def test_an_inactive_pool_is_a_warning_and_its_luns_are_not_compared() -> None:
    ctx = context(node1=(pool(), LUNS), node2=(pool(active=False), None))
    [finding] = check_luns(ctx)
    assert (finding.node, finding.severity) == ("node2", WARNING)
    assert finding.fix == "on node2: virsh pool-start luns"


def test_a_node_without_the_pool_cannot_run_its_guests() -> None:
    ctx = context(node1=(pool(), LUNS), node2=(pool(), LUNS), node3=(None, None))
    [finding] = check_luns(ctx)
    assert (finding.node, finding.severity, finding.item) == ("node3", ERROR, "pool 'luns'")
    assert "missing on node3" in finding.message and "cannot run there" in finding.message


def test_a_pool_on_one_node_only_is_left_to_the_pools_check() -> None:
    assert found(context(node1=(pool(), LUNS), node2=(None, None))) == []


class _WithLuns:
    """validate's fake node, with LUN listings answered as a real node did."""

    def __init__(self, session, luns: LunNode) -> None:
        self.session = session
        self.luns = LunSession(luns)

    def run(self, command: str, timeout: float):
        if "vol-list" in command:
            return self.luns.run(command, timeout)
        return self.session.run(command, timeout)


@pytest.mark.parametrize("answer", [LUN_ANSWER, None])
def test_validate_runs_the_lun_probe_and_check_end_to_end(answer: str | None) -> None:
    """The whole path (probe, engine, check) over validate's fake nodes: alike LUNs
    give nothing to say; a listing that fails is a luns finding naming pool and fix."""
    from havirt.tools.validate import engine
    from validate_fakes import ConnectFailed, FakeConnector, cluster

    targets, nodes = cluster(2)
    for node in nodes.values():
        node.pools["luns"] = (REAL_POOL, True, True)
    fakes = FakeConnector(nodes)

    class Connector:
        def connect(self, target: Target) -> _WithLuns:
            return _WithLuns(fakes.connect(target), LunNode(luns=answer))

    options = engine.Options(definitions={})
    report = engine.validate(
        targets, Connector(), options, None, (ConnectFailed,), fakes.clock, fakes.wall_clock
    )
    found = [f for f in report.findings if f.code == "luns"]
    if answer is not None:
        assert found == []
        return
    assert [(f.node, f.item) for f in found] == [("node1", "pool 'luns'"), ("node2", "pool 'luns'")]
    assert found[0].message == (
        "could not list the LUNs of pool luns: failed to refresh pool 'luns': Failed to connect"
    )
    assert found[0].fix.startswith("on node1: virsh pool-refresh luns")
