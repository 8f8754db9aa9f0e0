"""What a change of a guest's definition needs (tools/domains/change.py): small pairs of
domain XML, one class of change each."""

from __future__ import annotations

import pytest
from havirt.tools.domains.change import (
    ATTACH,
    DETACH,
    LIVE,
    NEXT_START,
    NOTHING,
    RESTART,
    SET_DESCRIPTION,
    SET_MEMORY,
    SET_TITLE,
    SET_VCPUS,
    Item,
    classify,
    overall,
)

DISK = (
    "<disk type='file' device='disk'><source file='/srv/pool/{dev}.qcow2'/>"
    "<target dev='{dev}' bus='{bus}'/></disk>"
)
NIC = "<interface type='bridge'><mac address='{mac}'/><source bridge='br0'/></interface>"


def domain(
    *,
    memory: str = "<memory unit='MiB'>2048</memory>",
    current: str = "<currentMemory unit='MiB'>1024</currentMemory>",
    vcpu: str = "<vcpu current='1'>4</vcpu>",
    extra: str = "",
    devices: str = DISK.format(dev="vda", bus="virtio"),
    machine: str = "pc-q35-7.2",
) -> str:
    return (
        "<domain type='kvm'>\n  <name>web1</name>\n"
        "  <uuid>4dea22b3-1d52-d8f3-2516-782e98ab3fa0</uuid>\n"
        f"  {extra}{memory}{current}{vcpu}\n"
        f"  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>\n"
        f"  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>{devices}</devices>\n"
        "</domain>\n"
    )


def kinds(items: list[Item]) -> list[tuple[str, str]]:
    return [(i.kind, i.what) for i in items]


def test_whitespace_and_comments_are_nothing_that_matters() -> None:
    old = domain()
    new = old.replace("<os>", "<!-- the OS -->\n\n     <os>").replace("</devices>", "\n</devices>")
    assert classify(old, new) == []
    assert overall(classify(old, new)) == NOTHING


def test_metadata_takes_effect_at_the_next_start() -> None:
    new = domain(extra="<metadata><app:x xmlns:app='urn:app'>1</app:x></metadata>")
    items = classify(domain(), new)
    assert [i.kind for i in items] == [NEXT_START]
    assert overall(items) == NEXT_START


def test_current_memory_within_the_maximum_is_live_through_the_balloon() -> None:
    new = domain(current="<currentMemory unit='MiB'>1536</currentMemory>")
    assert classify(domain(), new) == [
        Item(LIVE, "the current memory, to 1536 MiB", SET_MEMORY, str(1536 * 1024))
    ]
    # no <currentMemory> means all of <memory>
    assert classify(domain(), domain(current=""))[0].value == str(2048 * 1024)
    # the same amount in another unit is no change
    assert classify(domain(), domain(current="<currentMemory>1048576</currentMemory>")) == []


def test_current_memory_beyond_the_maximum_or_a_new_maximum_needs_a_restart() -> None:
    beyond = domain(current="<currentMemory unit='MiB'>4096</currentMemory>")
    assert [i.kind for i in classify(domain(), beyond)] == [RESTART]
    bigger = domain(memory="<memory unit='MiB'>4096</memory>")
    assert kinds(classify(domain(), bigger)) == [(RESTART, "the maximum memory (<memory>)")]


def test_vcpus_in_use_up_to_the_maximum_are_live() -> None:
    new = domain(vcpu="<vcpu current='3'>4</vcpu>")
    assert classify(domain(), new) == [Item(LIVE, "the vCPUs in use, to 3 of 4", SET_VCPUS, "3")]
    # without current, all of them are in use
    assert classify(domain(), domain(vcpu="<vcpu>4</vcpu>"))[0].value == "4"


def test_a_new_vcpu_maximum_or_placement_needs_a_restart() -> None:
    for vcpu in ("<vcpu current='1'>8</vcpu>", "<vcpu placement='auto' current='1'>4</vcpu>"):
        assert overall(classify(domain(), domain(vcpu=vcpu))) == RESTART


def test_hot_pluggable_disks_and_interfaces_added_or_removed_are_live() -> None:
    nic = NIC.format(mac="52:54:00:aa:bb:cc")
    second = DISK.format(dev="vdb", bus="virtio")
    old = domain(devices=DISK.format(dev="vda", bus="virtio") + nic)
    new = domain(devices=DISK.format(dev="vda", bus="virtio") + second)
    items = classify(old, new)
    assert [(i.kind, i.op, i.what) for i in items] == [
        (LIVE, DETACH, "the interface 52:54:00:aa:bb:cc removed"),
        (LIVE, ATTACH, "the disk vdb added"),
    ]
    assert "<target dev='vdb'" in items[1].value.replace('"', "'")
    assert "52:54:00:aa:bb:cc" in items[0].value


def test_devices_libvirt_cannot_plug_or_change_live_need_a_restart() -> None:
    old = domain()
    cases = {
        "an IDE disk": domain(
            devices=DISK.format(dev="vda", bus="virtio") + DISK.format(dev="hdb", bus="ide")
        ),
        "an interface without a MAC": domain(
            devices=DISK.format(dev="vda", bus="virtio")
            + "<interface type='bridge'><source bridge='br0'/></interface>"
        ),
        "a changed disk": domain(
            devices=DISK.format(dev="vda", bus="virtio").replace("vda.qcow2", "other.qcow2")
        ),
        "a serial console": domain(
            devices=DISK.format(dev="vda", bus="virtio") + "<serial type='pty'/>"
        ),
    }
    for what, new in cases.items():
        assert overall(classify(old, new)) == RESTART, what


def test_disks_that_change_order_need_a_restart() -> None:
    a, b = DISK.format(dev="vda", bus="virtio"), DISK.format(dev="vdb", bus="virtio")
    items = classify(domain(devices=a + b), domain(devices=b + a))
    assert kinds(items) == [(RESTART, "the order of the disks and interfaces")]


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        (domain(), domain(machine="pc-q35-8.0"), "<os>"),
        (domain(), domain(extra="<features><acpi/></features>"), "<features>"),
        (domain(), domain(extra="<cpu mode='host-passthrough'/>"), "<cpu>"),
        (domain(), domain().replace("type='kvm'", "type='qemu'"), "the domain's attributes"),
        (
            domain(),
            domain().replace("qemu-system-x86_64<", "qemu-kvm<"),
            "other devices (<devices>)",
        ),
    ],
)
def test_everything_else_needs_a_restart(old: str, new: str, what: str) -> None:
    items = classify(old, new)
    assert overall(items) == RESTART
    assert any(i.what.startswith(what) for i in items), items


def test_title_and_description_are_live_and_mixed_changes_need_the_most() -> None:
    old = domain(extra="<title>old</title>")
    new = domain(
        extra="<description>the shop</description>",
        current="<currentMemory unit='MiB'>512</currentMemory>",
    )
    items = classify(old, new)
    assert [(i.op, i.value) for i in items] == [
        (SET_TITLE, ""),
        (SET_DESCRIPTION, "the shop"),
        (SET_MEMORY, str(512 * 1024)),
    ]
    assert overall(items) == LIVE
    worse = new.replace("pc-q35-7.2", "pc-q35-8.0")
    assert overall(classify(old, worse)) == RESTART
    assert classify(old, worse)[-1].to_dict() == {
        "kind": RESTART,
        "what": "<os>",
        "op": "",
        "value": "",
    }


def test_two_devices_of_one_identity_are_never_plugged_live() -> None:
    nic = NIC.format(mac="52:54:00:aa:bb:cc")
    old = domain(devices=DISK.format(dev="vda", bus="virtio") + nic)
    new = domain(devices=DISK.format(dev="vda", bus="virtio") + nic + nic.replace("br0", "br1"))
    items = classify(old, new)
    assert overall(items) == RESTART
    assert all(i.kind == RESTART for i in items)
