"""Create the Vagrant lab's test guests on the shared pool (run once, on one KVM host).

usage: make_guests.py INVENTORY

For each ``[[guests]]`` entry of the rendered inventory whose domain XML (``config``)
does not exist yet: the project's lab guest (a Debian kernel + busybox initramfs, see
havirt.tools.lab.guest_image), a qcow2 disk at ``disk``, a console log beside the XML,
and the XML itself, which differs from the namespace lab's in two ways: the domain
runs under KVM when the host has it (nested KVM), and it has a NIC with the guest's
MAC on the guests' network. Existing guests are left alone, so it is idempotent.
"""

from __future__ import annotations

import os
import sys
import tomllib
import uuid
from pathlib import Path
from typing import Any

from havirt.tools.lab.guest_image import (
    build_guest_assets,
    create_disk,
    domain_xml,
    guest_cmdline,
)
from lxml import etree


def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def lab_domain_xml(base_xml: str, *, vcpus: int, mac: str, network: str, kvm: bool) -> str:
    """The lab guest's XML adapted to a real host: KVM if usable, vCPUs, a bridged NIC."""
    domain = etree.fromstring(base_xml.encode())
    if kvm:
        domain.set("type", "kvm")
    domain.find("vcpu").text = str(vcpus)
    devices = domain.find("devices")
    nic = etree.SubElement(devices, "interface", type="network")
    etree.SubElement(nic, "mac", address=mac)
    etree.SubElement(nic, "source", network=network)
    etree.SubElement(nic, "model", type="virtio")
    return etree.tostring(domain, pretty_print=True, encoding="unicode")


def make_guest(guest: dict[str, Any], assets_dir: Path, kvm: bool) -> bool:
    """Write one guest's files; False when its XML already exists."""
    config = Path(guest["config"])
    if config.exists():
        return False
    assets = build_guest_assets(assets_dir)
    disk = create_disk(guest["disk"])
    console_log = config.parent / "console.log"
    console_log.touch()
    base = domain_xml(
        name=guest["name"],
        uuid=str(uuid.uuid4()),
        assets=assets,
        disk=disk,
        console_log=console_log,
        cmdline=guest_cmdline(guest["name"]),
        memory_mib=int(guest["memory"]),
    )
    xml = lab_domain_xml(
        base,
        vcpus=int(guest.get("vcpus", 1)),
        mac=guest["mac"],
        network=guest["network"],
        kvm=kvm,
    )
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text(xml)
    tmp.replace(config)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    inventory = tomllib.loads(Path(argv[1]).read_text())
    assets_dir = Path(inventory["storage"]["target"]) / "guests" / ".assets"
    kvm = kvm_usable()
    for guest in inventory.get("guests", []):
        created = make_guest(guest, assets_dir, kvm)
        state = "created" if created else "exists"
        print(f"make_guests: {guest['name']}: {state} ({guest['config']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
