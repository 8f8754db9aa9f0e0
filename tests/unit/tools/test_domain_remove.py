"""``havirt domain remove`` with a fake cluster: --purge of a fake store (only once the
resource is gone), the command line's bad input, and the constraints deleted with it.
The scenario folders (tests/scenarios/domain-remove-*) show the rest."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from havirt.tools.domains import Change, DefinitionStore
from havirt.tools.errors import Refused
from havirt.tools.placement.removal import constraints_naming, remove
from test_domain_run import FakeCluster, _cib, _env, _status

STOPPED = {"vm1": (), "vm2": ("n2",)}
XML = (
    "<domain type='kvm'>\n  <name>vm1</name>\n"
    "  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\n"
    "  <memory unit='MiB'>1024</memory>\n</domain>\n"
)


@dataclass
class Deleting(FakeCluster):
    """Records the XPath of each delete, and whether the store still had vm1 then."""

    deleted: list[str] = field(default_factory=list)
    store: Path | None = None
    stored_then: list[bool] = field(default_factory=list)

    def delete_where(self, xpath: str) -> None:
        if "lock" not in xpath:
            self.deleted.append(xpath)
            self.stored_then.append(self.store is not None and (self.store / "vm1").exists())


def _with_constraints(cib: str, xml: str) -> str:
    return cib.replace("<constraints/>", f"<constraints>{xml}</constraints>")


def _store(tmp_path: Path) -> Path:
    store = DefinitionStore(str(tmp_path))
    when = dt.datetime(2026, 12, 3, 20, 0, tzinfo=dt.UTC)
    store.create("vm1", XML, Change("alice", when, "imported"))
    store.commit("vm1", XML.replace("1024", "2048"), 1, Change("bob", when, "more"))
    return tmp_path


def test_purge_deletes_the_history_only_after_the_resource(tmp_path: Path) -> None:
    root = _store(tmp_path)
    pm = Deleting([_status(STOPPED)], _cib({"vm1": "Stopped", "vm2": None}), store=root)
    world = ClusterWorld(make=lambda quiet: _env(pm))
    args = ["domain", "remove", "vm1", "--purge", "--store", str(root), "--json"]
    result = CliRunner().invoke(main, args, obj=world)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert (body["removed"], body["purged"]) == (True, 2)
    assert pm.stored_then == [True]  # the resource went first, while the store had vm1
    assert not (root / "vm1").exists()
    assert DefinitionStore(str(root)).guests() == []


def test_without_purge_the_history_stays_and_the_output_says_how_to_add_it_again(
    tmp_path: Path,
) -> None:
    pm = Deleting([_status(STOPPED)], _cib({"vm1": "Stopped", "vm2": None}))
    world = ClusterWorld(make=lambda quiet: _env(pm))
    result = CliRunner().invoke(main, ["domain", "remove", "vm1"], obj=world)
    assert result.exit_code == 0, result.output
    assert "history stays in the store" in result.stdout
    assert "havirt domain add vm1 --from-store" in result.stdout
    assert pm.deleted == ["/cib/configuration/resources/primitive[@id='vm1']"]


def test_purge_of_a_guest_the_store_never_had_says_so(tmp_path: Path) -> None:
    pm = Deleting([_status(STOPPED)], _cib({"vm1": "Stopped", "vm2": None}))
    world = ClusterWorld(make=lambda quiet: _env(pm))
    args = ["domain", "remove", "vm1", "--purge", "--store", str(tmp_path)]
    result = CliRunner().invoke(main, args, obj=world)
    assert result.exit_code == 0, result.output
    assert "no history of it" in result.stdout


def test_bad_input_is_refused_by_the_command_line_and_changes_nothing(tmp_path: Path) -> None:
    pm = Deleting([_status(STOPPED)], _cib({"vm1": "Stopped", "vm2": None}))
    world = ClusterWorld(make=lambda quiet: _env(pm))
    for args in (
        ["vm1", "--purge"],  # where is the store?
        ["vm1", "--store", str(tmp_path)],  # a store without --purge
        ["vm1", "--wait", "-1"],
        ["vm1", "--wait"],  # needs its number
        [],
    ):
        result = CliRunner().invoke(main, ["domain", "remove", *args], obj=world)
        assert result.exit_code == 2, (args, result.output)
    result = CliRunner().invoke(main, ["domain", "remove", "vm9"], obj=world)
    assert result.exit_code == 2 and "vm1, vm2" in result.stderr
    result = CliRunner().invoke(main, ["domain", "remove", "fence1"], obj=world)
    assert result.exit_code == 2 and "fence1 is not a guest" in result.stderr
    assert (pm.written, pm.deleted) == ([], [])


def test_every_constraint_naming_the_guest_goes_with_it_in_one_delete() -> None:
    rules = (
        '<rsc_location id="l1" rsc="vm1" node="n2" score="50"/>'
        '<rsc_colocation id="c1" rsc="vm2" with-rsc="vm1" score="-INFINITY"/>'
        '<rsc_order id="o1" first="vm1" then="vm2"/>'
        '<rsc_location id="havirt-move-vm1" rsc="vm1" node="n3" score="INFINITY"/>'
        '<rsc_location id="keep" rsc="vm2" node="n1" score="10"/>'
    )
    cib = _with_constraints(_cib({"vm1": "Stopped", "vm2": None}), rules)
    pm = Deleting([_status(STOPPED)], cib)
    report = remove(_env(pm), "vm1")
    assert report.removed and report.constraints == ["c1", "havirt-move-vm1", "l1", "o1"]
    (xpath,) = pm.deleted
    assert xpath == (
        "/cib/configuration/resources/primitive[@id='vm1'] | /cib/configuration/constraints/"
        "*[@id='c1' or @id='havirt-move-vm1' or @id='l1' or @id='o1']"
    )


def test_a_set_shared_with_other_guests_is_refused_and_maintenance_too() -> None:
    shared = (
        '<rsc_order id="s1"><resource_set id="s1-set">'
        '<resource_ref id="vm1"/><resource_ref id="vm2"/></resource_set></rsc_order>'
    )
    with pytest.raises(Refused, match="s1 names vm1 in a set with vm2"):
        constraints_naming(_with_constraints(_cib({"vm1": None}), shared), "vm1")
    pm = Deleting([_status(STOPPED, maintenance=True)], _cib({"vm1": "Stopped", "vm2": None}))
    with pytest.raises(Refused, match="maintenance mode"):
        remove(_env(pm), "vm1")
    pm = Deleting([_status(STOPPED, unmanaged=("vm1",))], _cib({"vm1": "Stopped", "vm2": None}))
    with pytest.raises(Refused, match="not managed"):
        remove(_env(pm), "vm1")
    assert (pm.written, pm.deleted) == ([], [])
