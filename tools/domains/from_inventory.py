"""The domain XML of a guest the inventory declares, for ``havirt domain add NAME
--from-inventory``: rendered from its ``[[guests]]`` entry (pure: the new UUID comes
from a passed-in function).

What the rendering chooses, since the inventory does not say:

- the domain type is the caller's (``kvm`` unless told ``qemu``: the inventory has no
  setting for it); the guest is an x86_64 ``hvm`` guest of machine type ``pc`` (the
  alias every QEMU has), with ACPI, so that a shutdown reaches it;
- its memory is the inventory's ``memory`` (in KiB, rounded up), and its vCPUs its
  ``vcpus``;
- its one disk is a qcow2 file on virtio, ``NAME.qcow2`` in the target directory of
  its storage: ``disk.pool``, else the first storage the guest is ordered after, else
  the inventory's first ``[[storage]]``. The disk is not created here
  (:func:`create_command` says how);
- its one interface (virtio) is on its network (``network``, else the first
  ``[[networks]]``): the host bridge of a ``forward = "bridge"`` network, the libvirt
  network itself otherwise; with its ``mac`` when given. No network: no interface;
- a serial console (a pty), which ``virsh console`` reaches.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from havirt.tools.domains.add import Wishes
from havirt.tools.errors import BadRequest
from havirt.tools.generate.cib_plan import anti_affinity, guest_constraints
from havirt.tools.inventory import Guest, Inventory, Storage
from lxml import etree

DOMAIN_TYPES = ("kvm", "qemu")
ARCH = "x86_64"
MACHINE = "pc"
FEW = 5  # guest names an unknown one's refusal lists


def guest_of(inv: Inventory, name: str) -> Guest:
    """The inventory's guest ``name``; BadRequest naming a few of its guests otherwise."""
    for guest in inv.guests:
        if guest.name == name:
            return guest
    names = [g.name for g in inv.guests]
    known = ", ".join(names[:FEW]) + (f" and {len(names) - FEW} more" if len(names) > FEW else "")
    raise BadRequest(
        f"{name} is not a guest of the inventory {inv.source} (its guests: {known or 'none'})",
        f"declare it in a [[guests]] table (name = {name!r}, vcpus, memory, disk), "
        "or check the name",
    )


def disk_storage(inv: Inventory, guest: Guest) -> Storage:
    """The storage the guest's disk is on (see the module doc)."""
    chosen = guest.disk.pool if guest.disk is not None and guest.disk.pool else None
    if chosen is None:
        chosen = guest.storage[0] if guest.storage else None
    for storage in inv.storage:
        if chosen is None or storage.name == chosen:
            return storage
    raise BadRequest(
        f"guest {guest.name}: the inventory has no storage for its disk "
        f"({chosen or 'no [[storage]] at all'})",
        "declare the shared storage in a [[storage]] table and name it in the guest's disk.pool",
    )


def disk_path(inv: Inventory, guest: Guest) -> str:
    """Where the guest's disk is on every node: NAME.qcow2 in its storage's target."""
    return os.path.join(disk_storage(inv, guest).target, f"{guest.name}.qcow2")


def create_command(inv: Inventory, guest: Guest) -> str:
    """The command that creates the guest's disk where the rendering expects it: a
    qcow2 overlay on ``disk.base_image`` (a path, or a file in the disk's storage),
    else an empty qcow2 of ``disk.size`` (SIZE when the inventory gives none)."""
    path = disk_path(inv, guest)
    disk = guest.disk
    size = _qemu_size(disk.size) if disk is not None and disk.size is not None else None
    if disk is not None and disk.base_image:
        base = os.path.join(disk_storage(inv, guest).target, disk.base_image)
        words = ["qemu-img create -f qcow2 -b", base, "-F qcow2", path]
        return " ".join([*words, size] if size else words)
    return f"qemu-img create -f qcow2 {path} {size or 'SIZE'}"


def _qemu_size(size: int) -> str:
    """Bytes as qemu-img reads a size: the largest binary suffix that divides it."""
    for suffix, factor in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def render(
    inv: Inventory, guest: Guest, new_uuid: Callable[[], str], domain_type: str = "kvm"
) -> str:
    """The guest's domain XML (see the module doc), with the UUID ``new_uuid()`` gives."""
    if domain_type not in DOMAIN_TYPES:
        raise BadRequest(
            f"domain type {domain_type!r} is not one havirt renders",
            f"choose one of: {', '.join(DOMAIN_TYPES)}",
        )
    root = etree.Element("domain", type=domain_type)
    etree.SubElement(root, "name").text = guest.name
    etree.SubElement(root, "uuid").text = new_uuid()
    kib = str(-(-guest.memory // 1024))
    etree.SubElement(root, "memory", unit="KiB").text = kib
    etree.SubElement(root, "currentMemory", unit="KiB").text = kib
    etree.SubElement(root, "vcpu", placement="static").text = str(guest.vcpus)
    os_ = etree.SubElement(root, "os")
    etree.SubElement(os_, "type", arch=ARCH, machine=MACHINE).text = "hvm"
    etree.SubElement(os_, "boot", dev="hd")
    features = etree.SubElement(root, "features")
    etree.SubElement(features, "acpi")
    etree.SubElement(features, "apic")
    devices = etree.SubElement(root, "devices")
    disk = etree.SubElement(devices, "disk", type="file", device="disk")
    etree.SubElement(disk, "driver", name="qemu", type="qcow2")
    etree.SubElement(disk, "source", file=disk_path(inv, guest))
    etree.SubElement(disk, "target", dev="vda", bus="virtio")
    _interface(inv, guest, devices)
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    console = etree.SubElement(devices, "console", type="pty")
    etree.SubElement(console, "target", type="serial", port="0")
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="unicode") + "\n"


def _interface(inv: Inventory, guest: Guest, devices: etree._Element) -> None:
    """The guest's interface on its network, when the inventory has one."""
    name = guest.network or (inv.networks[0].name if inv.networks else None)
    if name is None:
        return
    network = inv.network(name)
    bridged = network.forward == "bridge"
    interface = etree.SubElement(devices, "interface", type="bridge" if bridged else "network")
    if guest.mac:
        etree.SubElement(interface, "mac", address=guest.mac)
    if bridged:
        etree.SubElement(interface, "source", bridge=network.bridge)
    else:
        etree.SubElement(interface, "source", network=network.name)
    etree.SubElement(interface, "model", type="virtio")


def wishes(inv: Inventory, guest: Guest) -> Wishes:
    """What the guest's resource carries, as ``havirt generate`` renders it for the same
    inventory: its parameters, live migration or not, its order and colocation after its
    storage, its preferred nodes and its anti-affinity with the guests of its groups."""
    pairs = anti_affinity(inv)
    return Wishes(
        hypervisor=guest.hypervisor,
        params=guest.params,
        migrate=guest.migrate,
        constraints=tuple(guest_constraints(inv, guest)),
        apart=tuple(c for c in pairs if guest.name in (c.rsc, c.with_rsc)),
        fixes={
            f"disk {disk_path(inv, guest)}": "create it (havirt does not create disks): "
            + create_command(inv, guest),
            "domain type kvm": "enable KVM there, or add the guest with domain type qemu "
            "(emulated, slower)",
        },
        config=guest.config,
    )
