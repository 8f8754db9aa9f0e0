"""What `havirt generate` writes, checked by the real tools: crm_verify, pcs,
crm_simulate, virt-xml-validate, and `havirt apply` pushing to a file-backed CIB
(CIB_file) through real pcs/cibadmin. Each test skips, saying why, where a tool
is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.ocf.runner import CommandRunner
from havirt.tools.cli.main import main
from havirt.tools.generate import cib_plan as cibgen
from havirt.tools.generate import corosync
from havirt.tools.generate.apply import parse
from havirt.tools.inventory import load
from havirt.tools.pacemaker import Pacemaker
from lxml import etree

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "cluster-templates").glob("*.toml"))
IDS = [p.stem for p in EXAMPLES]


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pacemaker-cli-utils, pcs)")


@pytest.fixture(params=EXAMPLES, ids=IDS)
def generated(request, tmp_path) -> tuple[Path, Path]:
    """(inventory, directory written by havirt generate)."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(request.param), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return request.param, out


def test_crm_verify_accepts_the_cib(generated) -> None:
    _need("crm_verify")
    _, out = generated
    verdict = Pacemaker().verify(str(out / "cib.xml"))
    assert verdict.ok and verdict.errors == () and verdict.warnings == (), verdict


def test_corosync_conf_is_what_pcs_writes(generated, tmp_path) -> None:
    _need("pcs")
    inventory, out = generated
    theirs = tmp_path / "pcs-corosync.conf"
    argv = corosync.pcs_setup_argv(load(str(inventory)), str(theirs))
    result = CommandRunner().run(argv, timeout=60)  # offline: writes only that file
    assert result.ok, result.describe()
    assert (out / "corosync.conf").read_text() == theirs.read_text()


def test_libvirt_xml_validates(generated) -> None:
    _need("virt-xml-validate")
    _, out = generated
    for path in sorted((out / "nodes").rglob("*.xml")):
        result = CommandRunner().run(["virt-xml-validate", str(path)], timeout=30)
        assert result.ok, result.describe()


# -- cib.pcs and cib.xml say the same --------------------------------------------------


def _fresh_cib(path: Path, nodes: list[tuple[str, str]]) -> None:
    """What a new cluster's CIB looks like once its nodes have joined."""
    empty = CommandRunner().run(["cibadmin", "--empty"], timeout=30)
    assert empty.ok, empty.describe()
    root = etree.fromstring(empty.stdout.encode())
    for nodeid, name in nodes:
        etree.SubElement(root.find("configuration/nodes"), "node", id=nodeid, uname=name)
    path.write_bytes(etree.tostring(root))


def _pcs_shim(folder: Path, missing_agents: list[str]) -> None:
    """pcs refuses to create resources of agents not installed here (the StoragePool and
    fence agents live on the cluster's nodes): add --force for exactly those."""
    cases = "|".join(f"*' {a} '*" for a in missing_agents) or "__none__"
    pcs = shutil.which("pcs")
    shim = folder / "pcs"
    shim.write_text(
        f'#!/bin/sh\ncase " $* " in {cases}) exec {pcs} --force "$@";; esac\nexec {pcs} "$@"\n'
    )
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)


def _agent_installed(agent: str) -> bool:
    name = agent if ":" in agent else f"stonith:{agent}"
    return CommandRunner().run(["crm_resource", "--show-metadata", name], timeout=30).ok


def _normalized_configuration(path: Path) -> bytes:
    config = parse(path.read_bytes()).find("configuration")
    for pair in config.iterfind("crm_config//nvpair"):
        pair.set("id", "")  # pcs truncates property ids to the name's first 20 characters
    return etree.tostring(config, method="c14n")


# pcs takes 0.5-1.5 s per command here: the lab (what the lab cluster runs) and the NFS
# example (clone, order, colocation, anti-affinity, preferences, check levels) suffice.
@pytest.mark.parametrize("example", ["lab", "nfs-2node"])
def test_pcs_script_makes_the_same_configuration(example, tmp_path) -> None:
    _need("pcs", "cibadmin", "crm_resource")
    inventory = REPO / "cluster-templates" / f"{example}.toml"
    out = tmp_path / "out"
    CliRunner().invoke(main, ["generate", str(inventory), "-o", str(out)])
    plan = cibgen.plan(load(str(inventory)))
    agents = {(r.primitive if isinstance(r, cibgen.Clone) else r).agent for r in plan.resources}
    _pcs_shim(tmp_path, sorted(a for a in agents if not _agent_installed(a)))
    target = tmp_path / "cib.xml"
    _fresh_cib(target, [(str(n.nodeid), n.name) for n in plan.nodes])
    env = {"PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = CommandRunner().run(["sh", str(out / "cib.pcs"), str(target)], timeout=300, env=env)
    assert result.ok, result.describe()
    assert _normalized_configuration(target) == _normalized_configuration(out / "cib.xml")


# -- what Pacemaker's scheduler does with it ---------------------------------------------


def _started(out: Path, tmp_path: Path) -> tuple[Pacemaker, str]:
    """Every resource started where the scheduler puts it (a simulated running cluster)."""
    running = str(tmp_path / "running.xml")
    Pacemaker().simulate(str(out / "cib.xml"), save_output=running)
    return Pacemaker(), running


@pytest.mark.parametrize("example", ["nfs-2node", "three-node", "lab"])
def test_standby_live_migrates_guests(example, tmp_path) -> None:
    _need("crm_simulate", "crm_attribute")
    out = tmp_path / "out"
    CliRunner().invoke(
        main, ["generate", str(REPO / "cluster-templates" / f"{example}.toml"), "-o", str(out)]
    )
    pm, running = _started(out, tmp_path)
    inv = load(str(REPO / "cluster-templates" / f"{example}.toml"))
    guests = {g.name: g for g in inv.guests}
    before = Pacemaker(cib_file=running).status()
    node = inv.nodes[0].name
    on_node = [g for g in guests if before.where(g) == (node,)]
    assert on_node, f"no guest started on {node}"
    for fence in inv.nodes:  # a node never runs the device that fences it
        assert before.where(fence.fence_id) not in ((), (fence.name,))
    standby = CommandRunner().run(
        ["crm_attribute", "--node", node, "--name", "standby", "--update", "on"],
        timeout=30,
        env={"CIB_file": running},
    )
    assert standby.ok, standby.describe()
    sim = pm.simulate(running)
    moved = {a.resource: a for a in sim.actions if a.resource in guests}
    for name in on_node:
        expected = "migrate" if guests[name].migrate else "move"
        assert moved[name].action == expected, (name, moved[name])
    # Nothing else is restarted: the pool clone instance stopping on the standby node
    # does not stop guests elsewhere.
    assert all(a.action == "migrate" for a in moved.values() if guests[a.resource].migrate)
    if example != "three-node":
        # Stickiness keeps the other guests where they are. (In three-node, three DNS
        # guests kept apart on two nodes: the scheduler may live-migrate one more.)
        assert set(moved) == set(on_node)


def test_pool_failure_on_one_node_touches_only_its_guests(tmp_path) -> None:
    _need("crm_simulate")
    inventory = REPO / "cluster-templates" / "nfs-2node.toml"
    out = tmp_path / "out"
    CliRunner().invoke(main, ["generate", str(inventory), "-o", str(out)])
    pm, running = _started(out, tmp_path)
    status = Pacemaker(cib_file=running).status()
    inv = load(str(inventory))
    node = inv.nodes[1].name
    pool = next(r for r in status.instances("pool-vmstorage-clone") if node in r.nodes)
    sim = pm.simulate(running, op_inject=[f"{pool.id}_monitor_20000@{node}=7"])
    touched = {a.resource for a in sim.actions if a.resource in {g.name for g in inv.guests}}
    elsewhere = {g.name for g in inv.guests if status.where(g.name) != (node,)}
    assert elsewhere and not touched & elsewhere, sim.actions


def test_placement_honours_preferences_and_anti_affinity(tmp_path) -> None:
    _need("crm_simulate")
    inventory = REPO / "cluster-templates" / "three-node.toml"
    out = tmp_path / "out"
    CliRunner().invoke(main, ["generate", str(inventory), "-o", str(out)])
    _, running = _started(out, tmp_path)
    status = Pacemaker(cib_file=running).status()
    assert [status.where(f"dns{i}") for i in (1, 2, 3)] == [("kvm1",), ("kvm2",), ("kvm3",)]
    assert status.where("app1") != status.where("app2")
    assert status.where("db1") == ("kvm3",)


# -- havirt apply through the real pcs/cibadmin, on a file-backed CIB ----------------------


def _cli(args: list[str], cib_file: Path):
    return CliRunner().invoke(main, args, env={"CIB_file": str(cib_file)})


def test_apply_to_a_cib_file(tmp_path) -> None:
    _need("pcs", "cibadmin", "crm_verify", "crm_diff", "crm_resource")
    lab = REPO / "cluster-templates" / "lab.toml"
    live = tmp_path / "live.xml"
    _fresh_cib(live, [("1", "node1"), ("2", "node2"), ("3", "node3")])
    out = tmp_path / "out"

    diff = _cli(["generate", str(lab), "-o", str(out), "--diff", "--json"], live)
    assert diff.exit_code == 0, diff.output
    assert "resource vm1" in json.loads(diff.output)["comparison"]["added"]
    applied = _cli(["apply", str(out), "--json"], live)
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.output)["pushed"]
    cib = parse(live.read_bytes())
    assert cib.get("epoch") == "2"  # one transaction
    assert {p.get("id") for p in cib.iterfind(".//primitive")} == {
        "fence-node1", "fence-node2", "fence-node3", "vm1", "vm2", "vm3"
    }  # fmt: skip

    # Applying the same directory again: the live CIB is not the one it was compared with.
    again = _cli(["apply", str(out)], live)
    assert again.exit_code == 3 and "nothing was pushed" in again.output

    # An admin stops vm1; the inventory changes stickiness; the guest stays stopped.
    stop = CommandRunner().run(
        ["crm_resource", "--resource", "vm1", "--meta", "--set-parameter", "target-role",
         "--parameter-value", "Stopped"],
        timeout=30,
        env={"CIB_file": str(live)},
    )  # fmt: skip
    assert stop.ok, stop.describe()
    changed = tmp_path / "lab.toml"
    changed.write_text(lab.read_text().replace("stickiness = 100", "stickiness = 200"))
    result = _cli(["generate", str(changed), "-o", str(out), "--apply", "--json"], live)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["comparison"]["changed"] == ["resource default resource-stickiness"]
    cib = parse(live.read_bytes())
    assert cib.find(".//nvpair[@name='resource-stickiness']").get("value") == "200"
    assert (
        cib.find(".//primitive[@id='vm1']//nvpair[@name='target-role']").get("value") == "Stopped"
    )

    # The live CIB changes between --diff and apply: refused, nothing pushed.
    _cli(["generate", str(lab), "-o", str(out), "--diff"], live)
    bump = CommandRunner().run(
        ["crm_attribute", "--name", "cluster-recheck-interval", "--update", "3min"],
        timeout=30,
        env={"CIB_file": str(live)},
    )
    assert bump.ok, bump.describe()
    before = live.read_bytes()
    refused = _cli(["apply", str(out)], live)
    assert refused.exit_code == 3 and "changed since" in refused.output
    assert live.read_bytes() == before
    assert Pacemaker().verify(str(live)).ok


# -- fencing cannot be turned off by accident ------------------------------------------


def _lab_with_cluster_tables(tmp_path: Path, tables: str) -> Path:
    text = (REPO / "cluster-templates" / "lab.toml").read_text()
    changed = tmp_path / "lab.toml"
    changed.write_text(text.replace("[policies]", tables + "\n[policies]", 1))
    return changed


def test_stonith_enabled_false_is_refused_and_nothing_is_written(tmp_path) -> None:
    inventory = tmp_path / "lab.toml"
    inventory.write_text(
        (REPO / "cluster-templates" / "lab.toml")
        .read_text()
        .replace('dc-deadtime = "5s"', 'stonith-enabled = "false"')
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(inventory), "-o", str(out)])
    assert result.exit_code != 0
    assert "stonith-enabled is set by havirt" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_a_fencing_override_is_valid_pacemaker_and_warned_on_apply(tmp_path) -> None:
    _need("pcs", "cibadmin", "crm_verify", "crm_diff")
    inventory = _lab_with_cluster_tables(
        tmp_path,
        "[cluster.overrides.stonith-enabled]\n"
        'value = "false"\nreason = "a test cluster without fence devices"\n',
    )
    live = tmp_path / "live.xml"
    _fresh_cib(live, [("1", "node1"), ("2", "node2"), ("3", "node3")])
    out = tmp_path / "out"
    diff = _cli(["generate", str(inventory), "-o", str(out), "--diff"], live)
    assert diff.exit_code == 0, diff.output
    assert "OVERRIDE stonith-enabled = 'false': fencing is off" in diff.output
    verdict = Pacemaker().verify(str(out / "cib.xml"))
    assert verdict.ok, verdict  # one nvpair per property: no duplicate id
    cib = parse((out / "cib.xml").read_bytes())
    assert [n.get("value") for n in cib.iterfind(".//nvpair[@name='stonith-enabled']")] == ["false"]
    applied = _cli(["apply", str(out), "--json"], live)
    assert applied.exit_code == 0, applied.output
    unsafe = json.loads(applied.output)["unsafe"]
    assert len(unsafe) == 1 and "stonith-enabled is 'false': fencing is off" in unsafe[0]


@pytest.mark.parametrize(
    "properties",
    ['dc-deadtime = "5s"\nstartup-fencing = "true"', 'no-quorum-policy = "stop"'],
)
def test_generated_property_variations_pass_crm_verify(tmp_path, properties: str) -> None:
    _need("crm_verify")
    inventory = tmp_path / "lab.toml"
    inventory.write_text(
        (REPO / "cluster-templates" / "lab.toml")
        .read_text()
        .replace('dc-deadtime = "5s"', properties)
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", str(inventory), "-o", str(out)])
    assert result.exit_code == 0, result.output
    verdict = Pacemaker().verify(str(out / "cib.xml"))
    assert verdict.ok and verdict.errors == (), verdict


def test_cluster_option_list_is_the_installed_pacemakers() -> None:
    """The inventory's list of Pacemaker cluster options against the daemons' meta-data."""
    from havirt.tools.inventory.cluster_options import PACEMAKER_CLUSTER_OPTIONS

    daemons = [f"/usr/lib/pacemaker/pacemaker-{d}" for d in ("schedulerd", "controld", "based")]
    missing = [d for d in daemons if not os.access(d, os.X_OK)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (pacemaker)")
    installed: set[str] = set()
    for daemon in daemons:
        result = CommandRunner().run([daemon, "metadata"], timeout=30)
        assert result.ok, result.describe()
        root = parse(result.stdout)
        installed |= {p.get("name") for p in root.iterfind(".//parameter")}
    assert installed == set(PACEMAKER_CLUSTER_OPTIONS)
