"""``havirt domain edit --apply`` (tools/domains/apply.py and the edit command): the
guest not running, a live change through a fake LiveApplier (and virsh through a fake
SSH session), a restart refused without consent and carried out through Pacemaker's
target-role with it, on a fake cluster that does at once what target-role says."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from havirt.ocf.runner import CommandResult
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.domains import apply as A
from havirt.tools.domains.change import LIVE, Item, classify
from havirt.tools.errors import HavirtError, Refused
from havirt.tools.pacemaker import ClusterStatus, NodeStatus, ResourceStatus
from havirt.tools.placement.domain import DomainReport, follow
from havirt.tools.placement.guest_move import DONE, GuestMove
from lock_fakes import Admin, World

NODES = ("n1", "n2")
UUID = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"
WHEN = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
ANY_SCHEMA = """<grammar xmlns="http://relaxng.org/ns/structure/1.0">
  <start><ref name="any"/></start>
  <define name="any"><element><anyName/><zeroOrMore><choice>
    <attribute><anyName/></attribute><text/><ref name="any"/>
  </choice></zeroOrMore></element></define>
</grammar>"""


def _status(on: tuple[str, ...]) -> ClusterStatus:
    nodes = tuple(
        NodeStatus(n, n, True, False, False, False, False, False, False, False, 0, "member")
        for n in NODES
    )
    guest = ResourceStatus(
        id="web1",
        agent="ocf:havirt:VirtualDomain",
        role="Started" if on else "Stopped",
        active=bool(on),
        managed=True,
        failed=False,
        blocked=False,
        orphaned=False,
        nodes=on,
    )
    return ClusterStatus(nodes, (guest,), (), "n1", True, True, False)


@dataclass
class ObedientCluster:
    """One guest, web1, that runs on ``node`` exactly when its target-role says Started
    (``starts``: False, it never comes up again); records every target-role written."""

    role: str = "Started"
    node: str = "n1"
    starts: bool = True
    written: list[str] = field(default_factory=list)

    def _on(self, role: str) -> tuple[str, ...]:
        return (self.node,) if role == "Started" and (self.starts or not self.written) else ()

    def status(self) -> ClusterStatus:
        return _status(self._on(self.role))

    def cib_xml(self, scope: str | None = None) -> str:
        return (
            "<cib><configuration><crm_config/><nodes>"
            + "".join(f'<node id="{n}" uname="{n}"/>' for n in NODES)
            + '</nodes><resources><primitive id="web1" class="ocf" provider="havirt" '
            'type="VirtualDomain"><meta_attributes id="web1-meta"><nvpair id="web1-meta-tr" '
            f'name="target-role" value="{self.role}"/></meta_attributes></primitive>'
            "</resources><constraints/></configuration><status/></cib>"
        )

    def set_resource_meta(self, resource: str, name: str, value: str) -> None:
        assert (resource, name) == ("web1", "target-role")
        self.role = value
        self.written.append(value)

    def create_element(self, scope: str, xml: str) -> bool:  # the cluster lock
        return True

    def delete_where(self, xpath: str) -> None:
        return None


@dataclass
class FakeApplier:
    """Records each live change; ``fail`` names an operation libvirt refuses."""

    fail: str = ""
    done: list[tuple[str, str]] = field(default_factory=list)

    def _do(self, op: str, value: str) -> None:
        if op == self.fail:
            raise HavirtError("libvirt said no")
        self.done.append((op, value))

    def set_memory(self, guest: str, kib: int) -> None:
        self._do("memory", str(kib))

    def set_vcpus(self, guest: str, count: int) -> None:
        self._do("vcpus", str(count))

    def attach(self, guest: str, device_xml: str) -> None:
        self._do("attach", device_xml)

    def detach(self, guest: str, device_xml: str) -> None:
        self._do("detach", device_xml)

    def set_text(self, guest: str, title: bool, text: str) -> None:
        self._do("title" if title else "description", text)


def xml(memory: int = 1024, vcpus: int = 1, machine: str = "pc", extra: str = "") -> str:
    return (
        f"<domain type='kvm'>\n  <name>web1</name>\n  <uuid>{UUID}</uuid>\n"
        f"  <memory unit='MiB'>2048</memory>\n"
        f"  <currentMemory unit='MiB'>{memory}</currentMemory>\n"
        f"  <vcpu current='{vcpus}'>4</vcpu>\n"
        f"  <os><type machine='{machine}'>hvm</type></os>\n"
        f"  <devices>{extra}</devices>\n</domain>\n"
    )


LIVE_CHANGE = classify(xml(), xml(memory=1536, vcpus=2))
RESTART_CHANGE = classify(xml(), xml(machine="q35"))


def env(pm: ObedientCluster):  # type: ignore[no-untyped-def]
    return Admin(World()).cluster_env(pm)


def obedient_roles(
    env: ClusterEnv, name: str, role: str, *, wait: float | None = None, dry_run: bool = False
) -> DomainReport:
    """set_role on the obedient cluster, without its scheduler (crm_simulate): the
    target-role written and the guest followed until it gets there or the wait ends."""
    pm = env.pacemaker
    before = pm.status().where(name)
    running = role == "Started"
    report = DomainReport(name, "start" if running else "stop", True, before)
    if dry_run:
        return report
    pm.set_resource_meta(name, "target-role", role)
    report.move = GuestMove(name, before[0] if before else None, None, required=False)
    follow(env, report.move, pm.status(), running=running, timeout=wait or 0.0, poll=1.0)
    return report


def restarted(
    pm: ObedientCluster, roles: A.RoleSetter, applier: FakeApplier | None = None
) -> A.ApplyReport:
    """The restart change applied with the admin's consent, ``roles`` setting target-role."""
    applier = applier or FakeApplier()
    return A.apply_change(
        env(pm),
        "web1",
        RESTART_CHANGE,
        applier=lambda n: applier,
        restart=True,
        wait=30,
        roles=roles,
    )


def test_a_guest_that_is_not_running_has_nothing_to_apply() -> None:
    pm, applier = ObedientCluster(role="Stopped"), FakeApplier()
    report = A.apply_change(env(pm), "web1", RESTART_CHANGE, applier=lambda n: applier)
    assert (report.outcome, report.node, report.ok) == (A.NOT_RUNNING, None, True)
    assert pm.written == [] and applier.done == []


def test_a_live_change_is_applied_on_the_node_the_guest_runs_on() -> None:
    pm, applier, asked = ObedientCluster(node="n2"), FakeApplier(), []

    def on(node: str) -> FakeApplier:
        asked.append(node)
        return applier

    report = A.apply_change(env(pm), "web1", LIVE_CHANGE, applier=on)
    assert (report.outcome, report.node, asked) == (A.APPLIED_LIVE, "n2", ["n2"])
    assert applier.done == [("memory", str(1536 * 1024)), ("vcpus", "2")]
    assert [i.what for i in report.applied] == [i.what for i in LIVE_CHANGE]
    assert pm.written == []


def test_a_live_change_that_fails_half_way_says_what_was_applied() -> None:
    applier = FakeApplier(fail="vcpus")
    change = classify(xml(), xml(memory=1536, vcpus=2, extra="<serial type='pty'/>"))
    live = [i for i in change if i.kind == LIVE]
    with pytest.raises(A.PartlyApplied) as caught:
        A.apply_live(applier, "web1", "n1", [*live, Item(LIVE, "the title", A.SET_TITLE, "x")])
    message = caught.value.message
    assert "the vCPUs in use, to 2 of 4 failed: libvirt said no" in message
    assert "applied: the current memory, to 1536 MiB" in message
    assert "not tried: the title" in message


def test_a_restart_is_refused_without_consent_and_changes_nothing() -> None:
    pm, applier = ObedientCluster(), FakeApplier()
    with pytest.raises(A.NeedsRestart) as caught:
        A.apply_change(env(pm), "web1", RESTART_CHANGE, applier=lambda n: applier)
    assert "web1 must be restarted" in caught.value.message
    assert "it runs on n1 and was not restarted" in caught.value.message
    assert "(it changes <os>)" in caught.value.message
    assert pm.written == [] and applier.done == []


def test_a_restart_goes_through_pacemaker_stop_then_start() -> None:
    pm, applier = ObedientCluster(), FakeApplier()
    report = restarted(pm, obedient_roles, applier)
    assert pm.written == ["Stopped", "Started"]
    assert applier.done == []  # never libvirt
    assert report.outcome == A.RESTARTED and report.ok
    assert report.stop and report.stop.move and report.stop.move.state == DONE
    assert report.start and report.start.move and report.start.move.node == "n1"
    assert report.to_dict()["ok"] is True


def test_a_restart_whose_start_never_comes_is_not_ok() -> None:
    pm = ObedientCluster(starts=False)
    report = restarted(pm, obedient_roles)
    assert pm.written == ["Stopped", "Started"]
    assert report.start is not None and not report.ok
    assert report.outcome == A.RESTARTED


def test_a_restart_whose_stop_never_comes_does_not_start_it_again() -> None:
    def never_stops(env: ClusterEnv, name: str, role: str, **kw: object) -> DomainReport:
        env.pacemaker.set_resource_meta(name, "target-role", role)
        report = DomainReport(name, "stop", True, ("n1",))
        report.move = GuestMove(name, "n1", None, required=False, state="timed out")
        return report

    pm = ObedientCluster()
    report = restarted(pm, never_stops)
    assert pm.written == ["Stopped"]
    assert (report.outcome, report.start, report.ok) == (A.NOT_STOPPED, None, False)


@dataclass
class FakeSession:
    """An SSH session: records each command; ``answer`` is what each returns."""

    answer: CommandResult = field(default_factory=lambda: CommandResult((), 0, "", ""))
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, timeout: float) -> CommandResult:
        self.commands.append(command)
        return self.answer

    def close(self) -> None:
        self.commands.append("closed")


def test_virsh_makes_each_change_live_on_the_node() -> None:
    session = FakeSession()
    virsh = A.VirshApplier(session, "n1", 20)
    virsh.set_memory("web1", 1572864)
    virsh.attach("web1", "<disk type='file'/>")
    virsh.set_text("web1", True, "it's new")
    memory, attach, title = session.commands
    assert "virsh -c qemu:///system setmem web1 1572864KiB --live" in memory
    assert "attach-device web1 /dev/stdin --live" in attach and "<disk type=" in attach
    assert "desc web1 --live --title --new-desc" in title
    refused = FakeSession(CommandResult((), 1, "", "error: no more PCI slots\n"))
    with pytest.raises(HavirtError, match="virsh attach-device on n1: error: no more PCI slots"):
        A.VirshApplier(refused, "n1", 20).attach("web1", "<interface/>")


# -- the command ------------------------------------------------------------------------


@dataclass
class FakeConnector:
    session: FakeSession = field(default_factory=FakeSession)
    reached: list[str] = field(default_factory=list)

    def connect(self, target):  # type: ignore[no-untyped-def]
        self.reached.append(f"{target.name}={target.address}")
        return self.session


def edit(
    tmp_path: Path,
    pm: ObedientCluster,
    new: str,
    *args: str,
    connector: FakeConnector | None = None,
    schema: str = ANY_SCHEMA,
) -> Result:
    # each grammar its own folder: havirt keeps a schema once read, by its folder
    schemas = tmp_path / f"schemas-{abs(hash(schema))}"
    for folder in (tmp_path / "scratch", tmp_path / "store", schemas):
        folder.mkdir(exist_ok=True)
    (schemas / "domain.rng").write_text(schema)
    world = ClusterWorld(
        make=lambda quiet: env(pm),
        connector=lambda *a: connector or FakeConnector(),
        who=lambda: "alice",
        now=lambda: WHEN,
        scratch=lambda: str(tmp_path / "scratch"),
        schemas=str(schemas),
    )
    store = ["--store", str(tmp_path / "store")]
    source = tmp_path / "web1.xml"
    if not (tmp_path / "store" / "web1").exists():
        source.write_text(xml())
        imported = CliRunner().invoke(
            main, ["domain", "import", "web1", "--xml", str(source), *store], obj=world
        )
        assert imported.exit_code == 0, imported.output
    source.write_text(new)
    argv = ["domain", "edit", "web1", "--xml", str(source), *store, *args]
    return CliRunner().invoke(main, argv, obj=world)


def test_edit_says_what_the_change_needs_after_its_diff(tmp_path: Path) -> None:
    result = edit(tmp_path, ObedientCluster(), xml(memory=1536))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("+  <currentMemory unit='MiB'>1536") < out.index("revision 2 stored")
    assert "web1: the change can be applied live while it runs (--apply does that)" in out
    assert "  live: the current memory, to 1536 MiB" in out
    result = edit(tmp_path, ObedientCluster(), xml(memory=1536, machine="q35"))
    assert "web1: the change needs a restart to take effect (--apply --restart" in result.stdout
    assert "  needs restart: <os>" in result.stdout


def test_edit_refuses_xml_libvirts_schema_refuses_and_stores_nothing(tmp_path: Path) -> None:
    edit(tmp_path, ObedientCluster(), xml(memory=1536))  # revision 2
    strict = ANY_SCHEMA.replace("<anyName/><zeroOrMore>", "<name>nothing</name><zeroOrMore>", 1)
    result = edit(tmp_path, ObedientCluster(), xml(memory=512), schema=strict)
    assert result.exit_code == 2
    assert "is not a libvirt domain definition" in result.stderr
    assert not (tmp_path / "store" / "web1" / "revisions" / "000003.xml").exists()


def test_edit_apply_live_reaches_the_guests_node_over_ssh(tmp_path: Path) -> None:
    connector = FakeConnector()
    pm = ObedientCluster(node="n2")
    result = edit(tmp_path, pm, xml(memory=1536), "--apply", "--json", connector=connector)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["revision"], body["needs"], body["apply"]["outcome"]) == (2, LIVE, "applied live")
    assert body["changes"][0]["op"] == "set memory"
    assert connector.reached == ["n2=n2"]
    assert "setmem web1 1572864KiB --live" in connector.session.commands[0]
    assert connector.session.commands[-1] == "closed"
    assert pm.written == []


def test_edit_apply_of_a_restart_without_consent_stores_and_does_not_apply(tmp_path: Path) -> None:
    pm = ObedientCluster()
    result = edit(tmp_path, pm, xml(machine="q35"), "--apply")
    assert result.exit_code == 2
    assert "revision 2 is stored and not applied" in result.stderr
    assert "add --restart" in result.stderr
    assert (tmp_path / "store" / "web1" / "revisions" / "000002.xml").exists()
    assert pm.written == []


def test_edit_apply_on_a_stopped_guest_has_nothing_to_apply(tmp_path: Path) -> None:
    result = edit(tmp_path, ObedientCluster(role="Stopped"), xml(machine="q35"), "--apply")
    assert result.exit_code == 0, result.output
    assert "web1: not running; nothing to apply (its next start uses revision 2)" in result.stdout


def test_restart_without_apply_is_bad_input_and_stores_nothing(tmp_path: Path) -> None:
    edit(tmp_path, ObedientCluster(), xml(memory=1536))  # revision 2
    result = edit(tmp_path, ObedientCluster(), xml(memory=512), "--restart")
    assert result.exit_code == 2
    assert "--restart goes with --apply" in result.stderr
    assert not (tmp_path / "store" / "web1" / "revisions" / "000003.xml").exists()


def test_a_start_refused_after_the_stop_leaves_it_stopped_and_says_why() -> None:
    def no_room_after_the_stop(env: ClusterEnv, name: str, role: str, **kw: object) -> DomainReport:
        if role == "Started":
            raise Refused("Pacemaker would not start web1: no node has room", "free room")
        return obedient_roles(env, name, role, wait=10)

    pm = ObedientCluster()
    report = restarted(pm, no_room_after_the_stop)
    assert pm.written == ["Stopped"]
    assert (report.outcome, report.ok) == (A.NOT_STARTED, False)
    assert report.detail == "Pacemaker would not start web1: no node has room (free room)"
