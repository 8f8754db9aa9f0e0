"""Merging the generated CIB into the live one, and apply's refusals (fakes at the
runner seam; tests/contract/test_generate_pacemaker.py does it with the real tools)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from example_paths import EXAMPLES
from havirt.tools import generate
from havirt.tools.cli.exit_codes import exit_code_for
from havirt.tools.errors import HavirtError
from havirt.tools.generate.apply import LiveCibChanged, apply_directory, merge, parse, record_live
from havirt.tools.inventory import load
from havirt.tools.pacemaker import Pacemaker
from runner_queue import ANY

LIVE = """\
<cib epoch="{epoch}" num_updates="4" admin_epoch="0" validate-with="pacemaker-3.9">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-dc-version" name="dc-version" value="2.1.5"/>
        <nvpair id="cib-bootstrap-options-placement-strategy" name="placement-strategy"
                value="default"/>
      </cluster_property_set>
    </crm_config>
    <nodes>
      <node id="1" uname="node1">
        <instance_attributes id="nodes-1">
          <nvpair id="nodes-1-standby" name="standby" value="on"/>
        </instance_attributes>
      </node>
      <node id="2" uname="node2"/>
      <node id="3" uname="node3"/>
    </nodes>
    <resources>
      <primitive id="vm1" class="ocf" provider="havirt" type="VirtualDomain">
        <instance_attributes id="vm1-instance_attributes">
          <nvpair id="vm1-instance_attributes-config" name="config" value="/old/vm1.xml"/>
        </instance_attributes>
        <meta_attributes id="vm1-meta_attributes">
          <nvpair id="vm1-meta_attributes-target-role" name="target-role" value="Stopped"/>
        </meta_attributes>
      </primitive>
      <primitive id="old-vm" class="ocf" provider="havirt" type="VirtualDomain"/>
      <primitive id="ip1" class="ocf" provider="heartbeat" type="IPaddr2"/>
    </resources>
    <constraints>
      <rsc_location id="cli-prefer-vm2" rsc="vm2" node="node2" score="INFINITY"/>
    </constraints>
  </configuration>
  <status/>
</cib>
"""


@pytest.fixture
def lab_dir(tmp_path):
    inv = load(str(EXAMPLES / "lab.toml"))
    files = generate.render(inv)
    directory = str(tmp_path / "out")
    generate.write(directory, files, generate.manifest(inv, "0" * 64, files))
    return directory


def _generated(directory: str) -> str:
    with open(os.path.join(directory, generate.CIB_XML)) as handle:
        return handle.read()


def test_merge_lays_the_inventory_over_the_live_cib(lab_dir) -> None:
    m = merge(LIVE.format(epoch=7), _generated(lab_dir))
    assert "resource vm1" in m.changed and "resource vm2" in m.added
    assert "property placement-strategy" in m.changed and "property dc-deadtime" in m.added
    assert m.not_in_inventory == ["old-vm"]
    cib = m.cib
    # kept: what havirt does not manage
    assert cib.find(".//nvpair[@name='dc-version']") is not None
    assert cib.find(".//primitive[@id='ip1']") is not None
    assert cib.find(".//rsc_location[@id='cli-prefer-vm2']") is not None
    assert cib.find(".//primitive[@id='old-vm']") is not None
    node1 = cib.find(".//node[@uname='node1']")
    assert node1.find("instance_attributes/nvpair[@name='standby']").get("value") == "on"
    assert node1.find("utilization/nvpair[@name='hv_memory']").get("value") == "2048"
    # replaced, with the admin's target-role kept: applying never starts a stopped guest
    vm1 = cib.find(".//primitive[@id='vm1']")
    assert (
        vm1.find(".//nvpair[@name='config']").get("value")
        == "/srv/havirt-shared/guests/vm1/domain.xml"
    )
    meta = {p.get("name"): p.get("value") for p in vm1.findall("meta_attributes/nvpair")}
    assert meta == {"allow-migrate": "true", "target-role": "Stopped"}
    assert [el.tag for el in vm1] == [
        "instance_attributes",
        "meta_attributes",
        "operations",
        "utilization",
    ]
    assert cib.find(".//rsc_defaults//nvpair[@name='resource-stickiness']").get("value") == "100"


def test_merging_twice_changes_nothing(lab_dir) -> None:
    once = merge(LIVE.format(epoch=7), _generated(lab_dir))
    twice = merge(once.xml(), _generated(lab_dir))
    assert not twice.has_changes and twice.added == twice.changed == []


def test_merge_refuses_an_id_used_otherwise(lab_dir) -> None:
    live = LIVE.format(epoch=7).replace(
        '<primitive id="ip1" class="ocf" provider="heartbeat" type="IPaddr2"/>',
        '<group id="g"><primitive id="vm2" class="ocf" provider="heartbeat" type="Dummy"/></group>',
    )
    with pytest.raises(HavirtError, match="the live CIB has vm2 as inside g"):
        merge(live, _generated(lab_dir))


def test_merge_refuses_a_foreign_node_id(lab_dir) -> None:
    live = LIVE.format(epoch=7).replace('uname="node3"', 'uname="other"')
    with pytest.raises(HavirtError, match="node node3 is not in the live CIB, and its id 3"):
        merge(live, _generated(lab_dir))


def _record(lab_dir, runner_queue, epoch: int = 7) -> None:
    runner_queue.expect(["cibadmin", "--query"], stdout=LIVE.format(epoch=epoch))
    cmp = record_live(lab_dir, Pacemaker(runner_queue))
    assert "resource vm2" in cmp.merge.added and "+    <primitive" in cmp.diff


def test_apply_pushes_one_diff_after_crm_verify(lab_dir, runner_queue) -> None:
    _record(lab_dir, runner_queue)
    pushed = {}

    def look(argv) -> None:
        pushed["new"] = parse(Path(argv[3]).read_bytes())
        pushed["original"] = Path(argv[4].split("=", 1)[1]).read_text()

    runner_queue.expect(["cibadmin", "--query"], stdout=LIVE.format(epoch=7))
    runner_queue.expect(["crm_verify", "-VV", "--xml-file", ANY])
    runner_queue.expect(["pcs", "cluster", "cib-push", ANY, ANY], effect=look)
    report = apply_directory(lab_dir, Pacemaker(runner_queue))
    assert report.pushed and report.live_version == "0.7.4"
    assert pushed["original"] == LIVE.format(epoch=7)
    assert pushed["new"].find(".//primitive[@id='vm3']") is not None
    assert not [n for n in os.listdir(lab_dir) if n.startswith(".apply-")]  # cleaned up


def test_apply_refuses_when_the_live_cib_changed(lab_dir, runner_queue) -> None:
    _record(lab_dir, runner_queue, epoch=7)
    runner_queue.expect(["cibadmin", "--query"], stdout=LIVE.format(epoch=8))
    with pytest.raises(LiveCibChanged) as caught:
        apply_directory(lab_dir, Pacemaker(runner_queue))  # no push queued: none may happen
    assert exit_code_for(caught.value) == 3  # what `havirt apply` exits with
    assert "configuration version 0.7 then, 0.8 now" in caught.value.message


def test_apply_refuses_without_comparison(lab_dir, runner_queue) -> None:
    with pytest.raises(HavirtError, match="was never compared with the live CIB"):
        apply_directory(lab_dir, Pacemaker(runner_queue))


def test_apply_refuses_an_edited_cib(lab_dir, runner_queue) -> None:
    _record(lab_dir, runner_queue)
    with open(os.path.join(lab_dir, "cib.xml"), "a") as handle:
        handle.write("<!-- edited -->\n")
    with pytest.raises(HavirtError, match="changed since havirt generate wrote it"):
        apply_directory(lab_dir, Pacemaker(runner_queue))


def test_apply_pushes_nothing_when_crm_verify_objects(lab_dir, runner_queue) -> None:
    _record(lab_dir, runner_queue)
    runner_queue.expect(["cibadmin", "--query"], stdout=LIVE.format(epoch=7))
    runner_queue.expect(
        ["crm_verify", "-VV", "--xml-file", ANY],
        returncode=78,
        stderr="(unpack_config) \terror: something is wrong\n",
    )
    with pytest.raises(HavirtError, match="crm_verify rejects the merged CIB, nothing was pushed"):
        apply_directory(lab_dir, Pacemaker(runner_queue))


def test_apply_with_nothing_to_change_pushes_nothing(lab_dir, runner_queue) -> None:
    current = merge(LIVE.format(epoch=7), _generated(lab_dir)).xml()
    runner_queue.expect(["cibadmin", "--query"], stdout=current)
    record_live(lab_dir, Pacemaker(runner_queue))
    runner_queue.expect(["cibadmin", "--query"], stdout=current)
    report = apply_directory(lab_dir, Pacemaker(runner_queue))
    assert not report.pushed
