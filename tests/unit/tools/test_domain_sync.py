"""havirt domain sync's library on fake nodes: what is synced, skipped, refused, and how
each failure leaves the node (tools/domains/sync.py). The scripts themselves run
against real libvirt in tests/integration/test_domain_sync.py."""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field

import pytest
from havirt.ocf.runner import CommandResult
from havirt.tools.domains import sync as S
from havirt.tools.domains.drift import Stored
from havirt.tools.errors import BadRequest
from havirt.tools.validate.targets import Target

WEB1 = (
    "<domain type='kvm'><name>web1</name><uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>"
    "<memory unit='MiB'>512</memory></domain>"
)


def libvirt_form(xml: str) -> str:
    """What the fake libvirt makes of a definition: it rewrites the memory unit."""
    return xml.replace("<memory unit='MiB'>512</memory>", "<memory unit='KiB'>524288</memory>")


def stored(text: str = WEB1, revision: int = 4) -> Stored:
    return Stored("web1", revision, text, hashlib.sha256(text.encode()).hexdigest())


@dataclass
class FakeNode:
    """A node's persistent definitions as the sync scripts see them."""

    name: str
    domains: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # backups written
    backup_fails: bool = False
    define_fails: bool = False
    metadata_fails: bool = False
    scripts: list[str] = field(default_factory=list)

    def run(self, command: str, timeout: float) -> CommandResult:
        script = shlex.split(command)[2]
        self.scripts.append(script)
        body = script.split("\n", 1)[1]
        if body.startswith("mkdir -p"):
            return self.define(body)
        if " metadata " in body:
            return self.stamp(body)
        return self.batch(shlex.split(body)[-1])  # a virsh batch

    def result(self, out: str = "", rc: int = 0, err: str = "") -> CommandResult:
        return CommandResult(argv=("sh",), returncode=rc, stdout=out, stderr=err)

    def batch(self, batch: str) -> CommandResult:
        out = []
        for command in batch.split("; "):
            words = shlex.split(command)
            if words[0] == "echo":
                out.append(words[1] + "\n")
            elif words[:2] == ["list", "--all"]:
                out.append("".join(f"{n}\n" for n in self.domains) + "\n")
            elif words[:2] == ["dumpxml", "--inactive"]:
                out.append(self.domains.get(words[2], "") + "\n")
        return self.result("".join(out))

    def define(self, body: str) -> CommandResult:
        backup = re.search(r"> (\S+) \|\| exit 10", body)
        name = re.search(r"dumpxml --inactive (\S+) >", body)
        assert backup and name
        if self.backup_fails:
            return self.result(rc=10, err="mkdir: cannot create directory: Permission denied")
        self.files[backup.group(1)] = self.domains[name.group(1)]
        if self.define_fails:
            return self.result(rc=11, err="error: XML error: bad\n")
        xml = body.split("\n")[2]  # the here-document's one line
        self.domains[name.group(1)] = libvirt_form(xml)
        return self.result(self.domains[name.group(1)])

    def stamp(self, body: str) -> CommandResult:
        words = shlex.split(body.split("\n")[0])
        name = words[words.index("metadata") + 1]
        if self.metadata_fails:
            return self.result(rc=13, err="error: metadata: nope\n")
        element = words[words.index("--set") + 1].replace(
            "<definition ", '<havirt:definition xmlns:havirt="urn:havirt:definition" '
        )
        xml = self.domains[name]
        self.domains[name] = xml.replace("</uuid>", f"</uuid><metadata>{element}</metadata>")
        return self.result(self.domains[name])


class Connector:
    def __init__(self, nodes: dict[str, FakeNode], down: tuple[str, ...] = ()) -> None:
        self.nodes = nodes
        self.down = down

    def connect(self, target: Target) -> FakeNode:
        if target.name in self.down:
            raise ConnectionError(f"{target.name}: connection refused")
        return self.nodes[target.name]


def targets(*names: str) -> list[Target]:
    return [Target(n, n) for n in names]


def sync(nodes: dict[str, FakeNode], **kw) -> S.SyncReport:
    kw.setdefault("connect_errors", (ConnectionError,))
    return S.sync(
        targets(*nodes),
        Connector(nodes, kw.pop("down", ())),
        {"web1": stored()},
        now=lambda: 0.0,
        **kw,
    )


def states(report: S.SyncReport) -> list[tuple[str, str, str]]:
    return [(r.node, r.guest, r.state) for r in report.rows]


def test_an_out_of_step_definition_is_backed_up_redefined_and_stamped_and_then_in_step() -> None:
    old = WEB1.replace("512", "256")
    nodes = {"n1": FakeNode("n1", {"web1": old}), "n2": FakeNode("n2")}
    report = sync(nodes)
    assert states(report) == [("n1", "web1", S.SYNCED)]
    assert report.ok
    row = report.rows[0]
    assert row.backup == "/var/lib/havirt/definitions/web1.19700101T000000.xml"
    assert nodes["n1"].files == {row.backup: old}
    assert "urn:havirt:definition" in nodes["n1"].domains["web1"]
    # a second sync finds it in step and changes nothing
    before = len(nodes["n1"].scripts)
    assert states(sync(nodes)) == [("n1", "web1", S.IN_STEP)]
    assert len(nodes["n1"].scripts) == before + 2  # the two reads only


def test_a_node_without_a_definition_gets_none() -> None:
    nodes = {"n1": FakeNode("n1")}
    assert states(sync(nodes)) == []
    assert nodes["n1"].domains == {}


def test_a_dry_run_says_what_it_would_do_and_changes_nothing() -> None:
    nodes = {"n1": FakeNode("n1", {"web1": WEB1.replace("kvm", "qemu")})}
    report = sync(nodes, dry_run=True)
    assert states(report) == [("n1", "web1", S.WOULD_SYNC)]
    assert report.rows[0].detail == "differs from the store's revision 4"
    assert nodes["n1"].domains["web1"] == WEB1.replace("kvm", "qemu")
    assert nodes["n1"].files == {}


def test_a_guest_the_store_does_not_know_is_reported_and_left_alone() -> None:
    stray = WEB1.replace("web1", "stray")
    nodes = {"n1": FakeNode("n1", {"stray": stray})}
    assert states(sync(nodes)) == [("n1", "stray", S.UNKNOWN)]
    assert nodes["n1"].domains == {"stray": stray}


def test_no_backup_no_change() -> None:
    old = WEB1.replace("512", "256")
    nodes = {"n1": FakeNode("n1", {"web1": old}, backup_fails=True)}
    report = sync(nodes)
    assert states(report) == [("n1", "web1", S.FAILED)]
    assert report.rows[0].detail == (
        "could not keep its XML: mkdir: cannot create directory: Permission denied"
    )
    assert report.rows[0].backup is None
    assert nodes["n1"].domains["web1"] == old
    assert not report.ok


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        ("define_fails", "libvirt refused the definition: error: XML error: bad"),
        ("metadata_fails", "not stamped: error: metadata: nope"),
    ],
)
def test_each_failing_step_is_named_and_the_backup_said(fault: str, detail: str) -> None:
    node = FakeNode("n1", {"web1": WEB1.replace("512", "256")})
    setattr(node, fault, True)
    report = sync({"n1": node})
    assert (report.rows[0].state, report.rows[0].detail) == (S.FAILED, detail)
    assert report.rows[0].backup in node.files


def test_an_unreachable_node_is_a_row_and_the_others_are_synced() -> None:
    nodes = {"n1": FakeNode("n1"), "n2": FakeNode("n2", {"web1": WEB1.replace("kvm", "qemu")})}
    report = sync(nodes, down=("n1",))
    assert states(report) == [("n1", "", S.UNREACHABLE), ("n2", "web1", S.SYNCED)]
    assert report.rows[0].detail == "n1: connection refused"


def test_naming_a_guest_the_store_does_not_know_is_refused_before_any_node_is_touched() -> None:
    nodes = {"n1": FakeNode("n1", {"web1": WEB1.replace("kvm", "qemu")})}
    with pytest.raises(BadRequest, match="does not know nope"):
        sync(nodes, guests=["nope"])
    assert nodes["n1"].scripts == []


# -- the command (havirt domain sync), its connector and clock from the world


def invoke(tmp_path, nodes: dict[str, FakeNode], *args: str):
    import datetime as dt

    from click.testing import CliRunner
    from havirt.tools.cli.main import main
    from havirt.tools.cli.world import ClusterWorld
    from havirt.tools.domains import Change, DefinitionStore

    root = tmp_path / "store"
    if not root.exists():
        root.mkdir()
        change = Change("alice", dt.datetime(2026, 12, 3, tzinfo=dt.UTC), "test")
        DefinitionStore(str(root)).create("web1", WEB1, change)
    world = ClusterWorld(
        connector=lambda *a: Connector(nodes),
        now=lambda: dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC),
    )
    hosts = [w for n in nodes for w in ("--host", n)]
    return CliRunner().invoke(
        main, ["domain", "sync", *hosts, "--store", str(root), *args], obj=world
    )


def test_the_command_syncs_and_says_where_the_old_xml_is(tmp_path) -> None:
    nodes = {"n1": FakeNode("n1", {"web1": WEB1.replace("512", "256")}), "n2": FakeNode("n2")}
    result = invoke(tmp_path, nodes)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "n1  web1  synced to revision 1; its former XML is kept in "
        "/var/lib/havirt/definitions/web1.20261203T200000.xml",
        "1 synced",
    ]


def test_the_command_dry_run_json_and_a_failure_exit_1(tmp_path) -> None:
    import json

    node = FakeNode("n1", {"web1": WEB1.replace("512", "256")}, define_fails=True)
    dry = invoke(tmp_path, {"n1": node}, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    data = json.loads(dry.output)
    assert data["dry_run"] is True
    assert [r["state"] for r in data["rows"]] == ["would sync"]
    failed = invoke(tmp_path, {"n1": node})
    assert failed.exit_code == 1
    assert "FAILED: libvirt refused the definition: error: XML error: bad" in failed.output


def test_the_command_refuses_an_unknown_guest_with_exit_2(tmp_path) -> None:
    result = invoke(tmp_path, {"n1": FakeNode("n1")}, "nope")
    assert result.exit_code == 2
    assert "the definition store does not know nope" in result.output
