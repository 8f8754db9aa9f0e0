"""``havirt domain start|stop|migrate`` with a fake cluster: the refusals and answers the
scenario folders (tests/scenarios/domain-*) do not show, the CIB copy the scheduler is
asked about, following a guest that never gets there, the command's rendering, and a
start's look at each node's libvirt (a fake LibvirtView) for a copy outside Pacemaker."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner
from havirt.tools.cli.domain_run import state_line
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.errors import BadRequest, Refused
from havirt.tools.pacemaker import ClusterStatus, NodeStatus, ResourceStatus
from havirt.tools.pacemaker.cib import CibConfig, Primitive, parse_config
from havirt.tools.placement.domain import (
    Unverified,
    _check_no_copy,
    _with_role,
    follow,
    migrate,
    read_guest,
    start,
    stop,
)
from havirt.tools.placement.guest_move import DONE, TIMED_OUT, GuestMove
from havirt.tools.records import GuestIdentity, LibvirtDomain, NodeScan
from havirt.tools.records.scan import MigrationJob
from lock_fakes import Admin, World

NODES = ("n1", "n2", "n3")


def _status(
    where: dict[str, tuple[str, ...]],
    *,
    standby: tuple[str, ...] = (),
    unmanaged: tuple[str, ...] = (),
    maintenance: bool = False,
) -> ClusterStatus:
    nodes = tuple(
        NodeStatus(n, n, True, n in standby, False, False, False, False, False, False, 0, "member")
        for n in NODES
    )
    resources = tuple(
        ResourceStatus(
            id=g,
            agent="ocf:havirt:VirtualDomain",
            role="Started" if on else "Stopped",
            active=bool(on),
            managed=g not in unmanaged,
            failed=False,
            blocked=False,
            orphaned=False,
            nodes=on,
        )
        for g, on in where.items()
    )
    return ClusterStatus(nodes, resources, (), "n1", True, True, maintenance)


def _cib(roles: dict[str, str | None]) -> str:
    """A CIB with a guest per entry (its target-role, or none) and a fence device."""
    guests = "".join(
        f'<primitive id="{g}" class="ocf" provider="havirt" type="VirtualDomain">'
        + (
            f'<meta_attributes id="{g}-meta"><nvpair id="{g}-meta-tr" name="target-role" '
            f'value="{role}"/></meta_attributes>'
            if role
            else ""
        )
        + "</primitive>"
        for g, role in roles.items()
    )
    fence = '<primitive id="fence1" class="stonith" type="fence_havirt"/>'
    nodes = "".join(f'<node id="{n}" uname="{n}"/>' for n in NODES)
    return (
        f"<cib><configuration><crm_config/><nodes>{nodes}</nodes>"
        f"<resources>{guests}{fence}</resources><constraints/></configuration>"
        "<status/></cib>"
    )


@dataclass
class FakeCluster:
    """Answers status() from a script (the last one repeats) and one CIB; records what
    is written. It has no scheduler: the tests stop before havirt would ask it."""

    states: list[ClusterStatus]
    cib: str
    written: list[tuple[str, str, str]] = field(default_factory=list)

    def status(self) -> ClusterStatus:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    def cib_xml(self, scope: str | None = None) -> str:
        return self.cib

    def set_resource_meta(self, resource: str, name: str, value: str) -> None:
        self.written.append((resource, name, value))

    def create_element(self, scope: str, xml: str) -> bool:  # the cluster lock
        return True

    def delete_where(self, xpath: str) -> None:
        return None


def _env(pm: FakeCluster, shown: list[GuestMove] | None = None) -> ClusterEnv:
    progress = (lambda move: shown.append(move)) if shown is not None else None
    return Admin(World()).cluster_env(pm, progress)


RUNNING = {"vm1": ("n1",), "vm2": ("n2",)}


def test_a_resource_that_is_not_a_guest_is_refused_by_name() -> None:
    pm = FakeCluster([_status(RUNNING)], _cib({"vm1": None, "vm2": None}))
    with pytest.raises(BadRequest, match="fence1 is not a guest: it is a stonith:fence_havirt"):
        stop(_env(pm), "fence1")
    with pytest.raises(BadRequest, match="guests: vm1, vm2"):
        migrate(_env(pm), "vm9", "n2")
    with pytest.raises(BadRequest, match="nodes: n1, n2, n3"):
        migrate(_env(pm), "vm1", "n9")
    assert pm.written == []


def test_a_guest_stopped_and_meant_to_be_is_left_alone_and_a_running_one_too() -> None:
    pm = FakeCluster([_status({"vm1": (), "vm2": ("n2",)})], _cib({"vm1": "Stopped", "vm2": None}))
    report = stop(_env(pm), "vm1", wait=10)
    assert (report.changed, report.move, report.ok) == (False, None, True)
    report = start(_env(pm), "vm2", wait=10)
    assert (report.changed, report.expected, report.ok) == (False, "n2", True)
    assert migrate(_env(pm), "vm2", "n2").changed is False
    assert pm.written == []


def test_a_stopped_guest_whose_role_says_started_is_still_set_to_stopped() -> None:
    pm = FakeCluster([_status({"vm1": (), "vm2": ("n2",)})], _cib({"vm1": None, "vm2": None}))
    report = stop(_env(pm), "vm1", wait=10)
    assert report.changed and report.move is None
    assert pm.written == [("vm1", "target-role", "Stopped")]


def test_maintenance_mode_unmanaged_guests_and_standby_targets_are_refused() -> None:
    cib = _cib({"vm1": "Stopped", "vm2": None})
    in_maintenance = FakeCluster([_status({"vm1": (), "vm2": ("n2",)}, maintenance=True)], cib)
    with pytest.raises(Refused, match="maintenance mode"):
        start(_env(in_maintenance), "vm1")
    with pytest.raises(Refused, match="maintenance mode"):
        stop(_env(in_maintenance), "vm2")
    unmanaged = FakeCluster([_status(RUNNING, unmanaged=("vm1",))], cib)
    with pytest.raises(Refused, match="not managed"):
        migrate(_env(unmanaged), "vm1", "n2")
    with pytest.raises(Refused, match="not managed"):
        stop(_env(unmanaged), "vm1")
    standby = FakeCluster([_status(RUNNING, standby=("n3",))], cib)
    with pytest.raises(Refused, match="n3 is in standby") as refused:
        migrate(_env(standby), "vm2", "n3")
    assert refused.value.hint == "pick an available node (n1, n2)"
    for pm in (in_maintenance, unmanaged, standby):
        assert pm.written == []


def test_a_guest_that_does_not_run_cannot_be_migrated() -> None:
    pm = FakeCluster([_status({"vm1": (), "vm2": ("n2",)})], _cib({"vm1": "Stopped", "vm2": None}))
    with pytest.raises(Refused, match="vm1 is not running") as refused:
        migrate(_env(pm), "vm1", "n2")
    assert refused.value.hint is not None and "havirt domain start vm1" in refused.value.hint
    twice = FakeCluster([_status({"vm1": ("n1", "n2")})], _cib({"vm1": None}))
    with pytest.raises(Refused, match="listed on several nodes"):
        migrate(_env(twice), "vm1", "n3")


def test_a_guest_that_never_stops_is_followed_until_the_wait_runs_out() -> None:
    pm = FakeCluster([_status(RUNNING)], _cib({"vm1": None, "vm2": None}))
    shown: list[GuestMove] = []
    env = _env(pm, shown)
    move = GuestMove("vm1", "n1", None, required=False)
    follow(env, move, pm.status(), running=False, timeout=2.0, poll=0.5)
    assert (move.state, move.node, move.detail) == (TIMED_OUT, "n1", "runs on n1")
    assert move.seconds == 2.0
    assert [m.state for m in shown][-1] == TIMED_OUT


def test_a_guest_is_done_when_it_runs_nowhere_any_more() -> None:
    pm = FakeCluster(
        [_status(RUNNING), _status(RUNNING), _status({"vm1": (), "vm2": ("n2",)})],
        _cib({"vm1": None, "vm2": None}),
    )
    move = GuestMove("vm1", "n1", None, required=False)
    follow(_env(pm), move, _status(RUNNING), running=False, timeout=10.0, poll=0.5)
    assert (move.state, move.node, move.seconds) == (DONE, None, 1.0)


def test_the_scheduler_is_asked_about_a_copy_with_the_new_role() -> None:
    cib = _cib({"vm1": "Stopped", "vm2": None})
    assert parse_config(_with_role(cib, "vm1", "Started")).primitives["vm1"].meta == {
        "target-role": "Started"
    }
    assert parse_config(_with_role(cib, "vm2", "Stopped")).primitives["vm2"].meta == {
        "target-role": "Stopped"
    }
    assert parse_config(cib).primitives["vm2"].meta == {}  # the original is untouched


def test_progress_lines_of_a_start_and_a_stop() -> None:
    move = GuestMove("vm1", None, "n2", required=False)
    assert state_line(move, True) == "  vm1            starting (expected on n2)"
    move.state, move.node, move.seconds = DONE, "n3", 1.25
    assert "running on n3" in state_line(move, True) and "(1.2 s)" in state_line(move, True)
    move.state, move.detail = TIMED_OUT, "not running"
    assert "timed out stopping" in state_line(move, False)


def test_the_command_answers_in_json_and_refuses_with_exit_2() -> None:
    pm = FakeCluster([_status({"vm1": (), "vm2": ("n2",)})], _cib({"vm1": "Stopped", "vm2": None}))
    world = ClusterWorld(make=lambda quiet: _env(pm))
    result = CliRunner().invoke(main, ["domain", "stop", "vm1", "--json"], obj=world)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["guest"], body["action"], body["changed"], body["ok"]) == (
        "vm1",
        "stop",
        False,
        True,
    )
    result = CliRunner().invoke(main, ["domain", "migrate", "vm1", "n2"], obj=world)
    assert result.exit_code == 2
    assert "vm1 is not running" in result.stderr


def test_a_bare_wait_takes_the_default_and_migrate_answers_in_json() -> None:
    pm = FakeCluster([_status(RUNNING)], _cib({"vm1": None, "vm2": None}))
    world = ClusterWorld(make=lambda quiet: _env(pm))
    result = CliRunner().invoke(main, ["domain", "start", "vm2", "--wait", "--json"], obj=world)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["before"] == ["n2"]
    result = CliRunner().invoke(main, ["domain", "migrate", "vm1", "n1", "--json"], obj=world)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["action"], body["changed"], body["expected"]) == ("migrate", False, "n1")
    result = CliRunner().invoke(main, ["domain", "stop", "vm1", "--wait", "-1"], obj=world)
    assert result.exit_code == 2  # a bad number is refused by the command line
    assert pm.written == []


# -- start refuses while a copy runs outside Pacemaker ------------------------------------


@dataclass
class FakeLibvirt:
    """Each node's libvirt (tools/cluster/env.LibvirtView): a node's domains, or an error
    text (it could not be read), or None (offline, not asked); counts the readings."""

    nodes: dict[str, list[LibvirtDomain] | str | None]
    uuid: str | None = None  # the UUID the guest's config file names
    domain: str | None = None  # the domain name it names (None: the resource id)
    readings: int = 0

    def domains(self, status: ClusterStatus, config: CibConfig) -> dict[str, NodeScan]:
        self.readings += 1
        scans = {}
        for node, seen in self.nodes.items():
            uri = f"qemu+ssh://{node}/system"
            if seen is None:
                scans[node] = NodeScan(node, uri, asked=False)
            elif isinstance(seen, str):
                scans[node] = NodeScan(node, uri, error=seen)
            else:
                scans[node] = NodeScan(node, uri, domains=tuple(seen))
        return scans

    def identity(self, primitive: Primitive) -> GuestIdentity:
        return GuestIdentity(primitive.id, self.domain or primitive.id, self.uuid)

    def job(
        self, status: ClusterStatus, config: CibConfig, node: str, domain: str
    ) -> MigrationJob | None:
        return None


def _running(name: str, uuid: str = "", state: str = "running") -> LibvirtDomain:
    return LibvirtDomain(name, uuid or f"uuid-{name}", state, "booted", persistent=False)


STOPPED_VM1 = {"vm1": (), "vm2": ("n2",)}


def _seeing(pm: FakeCluster, libvirt: FakeLibvirt) -> ClusterEnv:
    return _env(pm).seeing(libvirt)


def test_a_start_is_refused_while_a_copy_runs_outside_pacemaker() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    libvirt = FakeLibvirt({"n1": [], "n2": [_running("vm2")], "n3": [_running("vm1")]})
    with pytest.raises(Refused) as refused:
        start(_seeing(pm, libvirt), "vm1", wait=10)
    assert str(refused.value.message) == (
        "vm1 already runs outside Pacemaker: libvirt runs vm1 on n3; starting it would run "
        "it twice; nothing was changed"
    )
    assert refused.value.hint == (
        "shut that copy down (virsh shutdown vm1 on n3), or let Pacemaker find and manage "
        "it: crm_resource --refresh --resource vm1"
    )
    with pytest.raises(Refused, match="runs vm1 on n3"):
        start(_seeing(pm, libvirt), "vm1", dry_run=True)  # a dry run says so too
    assert pm.written == []


def test_a_copy_is_recognised_by_its_uuid_or_its_domain_name_and_a_paused_one_counts() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    by_uuid = FakeLibvirt({"n1": [_running("renamed", "abcd-1")]}, uuid="ABCD-1")
    with pytest.raises(Refused, match="libvirt runs renamed on n1;"):
        start(_seeing(pm, by_uuid), "vm1")
    by_name = FakeLibvirt({"n1": [], "n3": [_running("alpha", state="paused")]}, domain="alpha")
    with pytest.raises(Refused, match=r"libvirt runs alpha on n3 \(paused\);"):
        start(_seeing(pm, by_name), "vm1")
    assert pm.written == []


def test_a_node_whose_libvirt_cannot_be_read_refuses_the_start_unless_allowed() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    libvirt = FakeLibvirt({"n1": [], "n2": "no answer within 5 s", "n3": []})
    with pytest.raises(Unverified) as refused:
        start(_seeing(pm, libvirt), "vm1")
    assert refused.value.message == (
        "cannot tell whether vm1 runs outside Pacemaker: libvirt could not be read on n2 "
        "(no answer within 5 s); nothing was changed"
    )
    assert pm.written == []
    # passed over only when the caller says so, and then the notes say it was
    cluster, guest = read_guest(_seeing(pm, libvirt), "vm1")
    assert _check_no_copy(_seeing(pm, libvirt), cluster, guest, unreadable_ok=True) == [
        "n2 was not checked for a copy of vm1 outside Pacemaker: its libvirt could not be "
        "read (no answer within 5 s)"
    ]
    # a copy found elsewhere still refuses
    found = FakeLibvirt({"n1": [_running("vm1")], "n2": "refused"})
    with pytest.raises(Refused, match="runs vm1 on n1"):
        start(_seeing(pm, found), "vm1", unreadable_ok=True)


def test_nothing_found_lets_the_start_go_on_with_a_note_on_the_nodes_not_asked() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    libvirt = FakeLibvirt({"n1": [_running("vm9")], "n2": [_running("vm2")], "n3": None})
    env = _seeing(pm, libvirt)
    cluster, guest = read_guest(env, "vm1")
    assert _check_no_copy(env, cluster, guest) == [
        "n3 is offline in Pacemaker; its libvirt was not asked about vm1"
    ]
    # the node Pacemaker runs it on is not a copy outside Pacemaker (stopped, still there),
    # and need not be readable
    stopping = FakeCluster([_status(RUNNING)], _cib({"vm1": "Stopped", "vm2": None}))
    for there in (
        FakeLibvirt({"n1": [_running("vm1")], "n2": [_running("vm2")]}),
        FakeLibvirt({"n1": "down", "n2": [_running("vm2")]}),
    ):
        env = _seeing(stopping, there)
        assert _check_no_copy(env, *read_guest(env, "vm1")) == []


def test_a_guest_running_under_pacemaker_and_meant_to_is_not_looked_for() -> None:
    pm = FakeCluster([_status(RUNNING)], _cib({"vm1": None, "vm2": None}))
    libvirt = FakeLibvirt({"n1": [_running("vm1")], "n3": [_running("vm1")], "n2": "down"})
    report = start(_seeing(pm, libvirt), "vm1", wait=10)
    assert (report.changed, report.expected, libvirt.readings) == (False, "n1", 0)
    stopped = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    stop(_seeing(stopped, libvirt), "vm1", wait=10)  # nor does a stop look
    assert libvirt.readings == 0
    assert pm.written == stopped.written == []


def test_the_start_command_reads_libvirt_as_told_and_names_the_option_that_skips_it() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    libvirt = FakeLibvirt({"n1": [], "n2": "connection refused", "n3": []})
    asked: list[tuple[str | None, float, bool]] = []

    def reader(template: str | None, timeout: float, all_nodes: bool) -> FakeLibvirt:
        asked.append((template, timeout, all_nodes))
        return libvirt

    world = ClusterWorld(make=lambda quiet: _env(pm), libvirt=reader)
    argv = ["domain", "start", "vm1", "--connect-template", "qemu+ssh://root@{node}/system"]
    result = CliRunner().invoke(main, [*argv, "--timeout", "2", "--all-nodes"], obj=world)
    assert result.exit_code == 2, result.output
    assert asked == [("qemu+ssh://root@{node}/system", 2.0, True)]
    assert "libvirt could not be read on n2 (connection refused)" in result.stderr
    assert "make sure vm1 does not run there and pass --ignore-unreadable" in result.stderr
    result = CliRunner().invoke(main, ["domain", "start", "vm1"], obj=world)
    assert asked[-1] == (None, 5.0, False)  # domain locate's defaults
    assert pm.written == []
    result = CliRunner().invoke(main, ["domain", "stop", "vm2", "--all-nodes"], obj=world)
    assert result.exit_code == 2 and "No such option '--all-nodes'" in result.stderr
    assert len(asked) == 2  # stop never reads libvirt


def test_a_connect_template_that_cannot_work_is_refused_before_anything_is_read() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": "Stopped", "vm2": None}))
    world = ClusterWorld(make=lambda quiet: _env(pm), libvirt=lambda t, s, a: FakeLibvirt({}))
    argv = ["domain", "start", "vm1", "--connect-template", "qemu+ssh://root@host/system"]
    result = CliRunner().invoke(main, argv, obj=world)
    assert result.exit_code == 2, result.output
    assert "connect template 'qemu+ssh://root@host/system' does not contain {node}" in (
        result.stderr
    )
    assert pm.written == []


def test_migrate_reads_the_source_node_as_told_and_refuses_a_bad_template_first() -> None:
    pm = FakeCluster([_status(STOPPED_VM1)], _cib({"vm1": None, "vm2": None}))
    asked: list[tuple[str | None, float, bool]] = []

    def reader(template: str | None, timeout: float, all_nodes: bool) -> FakeLibvirt:
        asked.append((template, timeout, all_nodes))
        return FakeLibvirt({})

    world = ClusterWorld(make=lambda quiet: _env(pm), libvirt=reader)
    argv = ["domain", "migrate", "vm1", "n2", "--connect-template", "qemu+tls://{node}/system"]
    result = CliRunner().invoke(main, [*argv, "--libvirt-timeout", "2"], obj=world)
    assert result.exit_code == 2 and "vm1 is not running" in result.stderr
    assert asked == [("qemu+tls://{node}/system", 2.0, False)]
    result = CliRunner().invoke(main, ["domain", "migrate", "vm1", "n2"], obj=world)
    assert asked[-1] == (None, 5.0, False)  # domain locate's defaults
    argv = ["domain", "migrate", "vm1", "n2", "--connect-template", "qemu:///system"]
    result = CliRunner().invoke(main, argv, obj=world)
    assert result.exit_code == 2 and "does not contain {node}" in result.stderr
    assert len(asked) == 2 and pm.written == []
