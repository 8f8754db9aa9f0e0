"""libvirt's progress of a live migration in the move watcher's lines: the watcher of
test_move_outcomes.py on its round-by-round fake cluster, with a fake LibvirtView that
answers a script of jobs; ``NodesLibvirt.job`` and ``scan.read_job`` with a fake reader
and a fake connection (libvirt's test:/// driver runs no migration job)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from havirt.agents.libvirt.objects import JobProgress
from havirt.tools.cluster.env import ClusterEnv, NoneKnown
from havirt.tools.pacemaker import ClusterStatus
from havirt.tools.pacemaker.cib import CibConfig, parse_config
from havirt.tools.placement.domain import DomainReport
from havirt.tools.placement.guest_move import DONE, GuestMove
from havirt.tools.placement.migration_job import JobNotes, job_text
from havirt.tools.placement.watch import watch
from havirt.tools.records import NodeScan, NodesLibvirt
from havirt.tools.records.scan import MigrationJob, read_job
from records_fakes import Rsc
from test_move_outcomes import POLL, FakeCluster, Scenario, live_migration, on_node1, virtual_env

MIB = 1024 * 1024
CONFIG = parse_config(
    "<cib><configuration><crm_config/><nodes/><resources/><constraints/></configuration></cib>"
)


def _job(left_mib: int, sent_mib: int, elapsed_s: float, total_mib: int = 1024) -> MigrationJob:
    return MigrationJob(total_mib * MIB, sent_mib * MIB, left_mib * MIB, int(elapsed_s * 1000))


@dataclass
class ScriptedLibvirt(NoneKnown):
    """The default LibvirtView, but job() answers the next of ``jobs`` (the last one
    repeats)."""

    jobs: list[MigrationJob | None]
    asked: list[tuple[str, str]] = field(default_factory=list)

    def job(
        self, status: ClusterStatus, config: CibConfig, node: str, domain: str
    ) -> MigrationJob | None:
        self.asked.append((node, domain))
        return self.jobs.pop(0) if len(self.jobs) > 1 else self.jobs[0]


def _migrating(polls: int) -> Scenario:
    """vm1 on node1, shown migrating for ``polls`` polls, then live-migrated to node2."""
    scenario = on_node1("vm1")
    for _ in range(polls):
        scenario.round(Rsc("vm1", ("node1",), pending="Migrating"), standby=())
    second = polls + 1
    return scenario.round(
        Rsc("vm1", ("node2",)), ops=live_migration("vm1", "node1", "node2", second), standby=()
    )


def _follow(scenario: Scenario, libvirt: ScriptedLibvirt | None) -> tuple[list[str], GuestMove]:
    """Watch vm1's move to node2 as `domain migrate` does; the details each line showed."""
    pm = FakeCluster(scenario.rounds)
    status, history = pm.baseline()
    shown: list[str] = []
    env: ClusterEnv = virtual_env(pm, lambda move: shown.append(f"{move.state} {move.detail}"))
    jobs = None
    if libvirt is not None:
        env = env.seeing(libvirt)
        jobs = JobNotes(env, CONFIG, {"vm1": "vm1-domain"})
    move = GuestMove("vm1", "node1", "node2")
    (move,) = watch(
        env, [move], timeout=60.0, baseline=status, history=history, poll=POLL, jobs=jobs
    )
    return shown, move


def test_the_progress_lines_say_what_libvirt_says_of_the_job_in_order() -> None:
    libvirt = ScriptedLibvirt([_job(768, 256, 2), _job(512, 512, 3), _job(100, 924, 5)])
    shown, move = _follow(_migrating(3), libvirt)
    assert shown == [
        "moving migrating: 768 of 1024 MiB left, 25 %",
        "moving migrating: 512 of 1024 MiB left, 50 %, 256 MiB/s",
        "moving migrating: 100 of 1024 MiB left, 90 %, 206 MiB/s",
        "done ",
    ]
    assert libvirt.asked == [("node1", "vm1-domain")] * 3  # the source node, the domain's name
    assert (move.state, move.detail, move.node) == (DONE, "", "node2")


def test_the_last_reading_is_kept_for_the_report() -> None:
    scenario = _migrating(2)
    pm = FakeCluster(scenario.rounds)
    status, history = pm.baseline()
    env = virtual_env(pm).seeing(ScriptedLibvirt([_job(768, 256, 2), _job(100, 924, 5), None]))
    jobs = JobNotes(env, CONFIG, {})
    watch(
        env,
        [GuestMove("vm1", "node1", "node2")],
        timeout=60.0,
        baseline=status,
        history=history,
        poll=POLL,
        jobs=jobs,
    )
    assert jobs.last == {"vm1": _job(100, 924, 5)}
    report = DomainReport("vm1", "migrate", True, ("node1",), job=jobs.last["vm1"])
    assert report.to_dict()["job"] == {
        "total": 1024 * MIB,
        "processed": 924 * MIB,
        "remaining": 100 * MIB,
        "elapsed_ms": 5000,
    }


def test_a_view_that_knows_nothing_changes_nothing() -> None:
    today, _ = _follow(_migrating(3), None)
    assert today == ["moving migrating", "done "]
    shown, move = _follow(_migrating(3), ScriptedLibvirt([None]))
    assert shown == today and move.ok


def test_the_same_text_twice_is_one_line_and_a_job_gone_is_plain_migrating_again() -> None:
    same = _job(512, 512, 3)
    libvirt = ScriptedLibvirt([same, same, None, None])
    shown, _ = _follow(_migrating(4), libvirt)
    assert shown == [
        "moving migrating: 512 of 1024 MiB left, 50 %",
        "moving migrating",  # libvirt no longer reports a job: no numbers are made up
        "done ",
    ]


def test_the_job_is_read_at_most_once_a_second() -> None:
    scenario = _migrating(4)
    pm = FakeCluster(scenario.rounds)
    status, history = pm.baseline()
    libvirt = ScriptedLibvirt([_job(768, 256, 2), _job(512, 512, 3)])
    env = virtual_env(pm).seeing(libvirt)
    jobs = JobNotes(env, CONFIG, {})
    move = GuestMove("vm1", "node1", "node2")
    watch(env, [move], timeout=60.0, baseline=status, history=history, poll=0.5, jobs=jobs)
    # four polls half a second apart show it migrating: two readings, by the guest's name
    assert libvirt.asked == [("node1", "vm1")] * 2


@pytest.mark.parametrize(
    ("job", "text"),
    [
        (_job(1024, 0, 0), "1024 of 1024 MiB left, 0 %"),
        (_job(1100, 2000, 9), "1100 of 1024 MiB left, 0 %"),  # dirtied faster than sent
        (_job(0, 1024, 9), "0 of 1024 MiB left, 100 %"),
    ],
)
def test_job_text(job: MigrationJob, text: str) -> None:
    assert job_text(job) == text


def test_no_speed_without_time_passing_in_libvirt() -> None:
    assert job_text(_job(500, 600, 3), _job(600, 500, 3)) == "500 of 1024 MiB left, 51 %"


# -- the real view: NodesLibvirt.job and scan.read_job --------------------------------------


class NoScanner:
    def prepare(self) -> None:
        raise AssertionError("a job read lists no node")

    def scan(self, targets: dict[str, str], timeout: float) -> dict[str, NodeScan]:
        raise AssertionError("a job read lists no node")


def _status() -> ClusterStatus:
    return FakeCluster(on_node1("vm1").rounds).baseline()[0]


def test_nodes_libvirt_reads_the_job_through_the_template_and_timeout() -> None:
    reads: list[tuple[str, str, float]] = []

    def reader(uri: str, domain: str, timeout: float) -> MigrationJob | None:
        reads.append((uri, domain, timeout))
        return _job(1, 2, 3)

    view = NodesLibvirt(
        NoScanner(), "qemu+tls://{node}/system", 2.5, hostname="admin", read_job=reader
    )
    assert view.job(_status(), CONFIG, "node1", "vm1-domain") == _job(1, 2, 3)
    assert reads == [("qemu+tls://node1/system", "vm1-domain", 2.5)]


def test_a_node_that_cannot_be_read_gives_no_job_and_is_not_asked_again() -> None:
    reads: list[str] = []

    def reader(uri: str, domain: str, timeout: float) -> MigrationJob | None:
        reads.append(uri)
        raise OSError("connection refused")

    view = NodesLibvirt(NoScanner(), "qemu+ssh://{node}/system", hostname="admin", read_job=reader)
    assert view.job(_status(), CONFIG, "node1", "vm1") is None
    assert view.job(_status(), CONFIG, "node1", "vm1") is None
    assert reads == ["qemu+ssh://node1/system"]
    assert view.unreadable == {"node1": "connection refused"}


@dataclass
class FakeDomain:
    progress: JobProgress
    limits: list[float | None] = field(default_factory=list)

    def job_progress(self, limit: float | None = None) -> JobProgress:
        self.limits.append(limit)
        return self.progress


@dataclass
class FakeConnection:
    """What read_job uses of the libvirt boundary's Hypervisor."""

    domains: dict[str, FakeDomain]
    connected: bool = False
    closed: bool = False

    def connect(self) -> None:
        self.connected = True

    def lookup(self, name: str | None = None, uuid: str | None = None) -> FakeDomain | None:
        assert self.connected
        return self.domains.get(name or "")

    def close(self) -> None:
        self.closed = True


def test_read_job_asks_the_domain_s_job_stats_and_always_closes() -> None:
    running = JobProgress(
        active=True,
        elapsed_ms=4000,
        data_total=1024 * MIB,
        data_processed=700 * MIB,
        data_remaining=324 * MIB,
    )
    dom = FakeDomain(running)
    conn = FakeConnection({"vm1": dom})
    opened: list[tuple[str, float]] = []

    def connect(uri: str, timeout: float) -> FakeConnection:
        opened.append((uri, timeout))
        conn.connected = conn.closed = False
        return conn

    assert read_job("qemu+ssh://n1/system", "vm1", 3.0, connect) == _job(324, 700, 4)
    assert opened == [("qemu+ssh://n1/system", 3.0)] and dom.limits == [3.0] and conn.closed
    dom.progress = JobProgress(active=False)
    assert read_job("qemu+ssh://n1/system", "vm1", 3.0, connect) is None and conn.closed
    assert read_job("qemu+ssh://n1/system", "vm9", 3.0, connect) is None and conn.closed
