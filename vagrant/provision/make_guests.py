"""Create the Vagrant lab's test guests on the shared pool (run once, on one KVM host).

usage: make_guests.py INVENTORY

The inventory is read with havirt's own loader (the checked model, defaults filled
in). For each guest whose domain XML (``config``) does not exist yet: the project's lab
guest (a Debian kernel + busybox initramfs, see havirt.tools.lab.guest_image), and in
the XML's folder a qcow2 disk ``disk.qcow2`` of the guest's ``disk.size``, a console
log, and the XML itself, which differs from the namespace lab's in two ways: the domain
runs under KVM when the host has it (nested KVM), and it has a NIC with the guest's
MAC on its network. The kernel and initramfs are shared by all guests, in ``.assets``
beside the guests' folders, copied from the ones the lab's box was built with
(vagrant/box/customize.sh: unpacking the kernel's package under TCG took most of a
minute) and rebuilt only when they are missing or stale. Existing guests are left
alone, so it is idempotent.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from havirt.tools.inventory import Guest, load
from havirt.tools.inventory.model import MIB
from havirt.tools.lab.guest_image import (
    DEFAULT_CACHE_DIR,
    GuestAssets,
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


def shared_assets(
    folder: Path,
    prebuilt: Path = DEFAULT_CACHE_DIR,
    check: Callable[[Path], GuestAssets] = build_guest_assets,
) -> GuestAssets:
    """The guests' kernel and initramfs in ``folder`` (on the shared pool): a copy of
    ``prebuilt`` (the box's) when ``folder`` has none yet, then checked and, when
    stale, rebuilt by ``check`` (build_guest_assets)."""
    if not folder.exists() and (prebuilt / "assets.json").exists():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(prebuilt, tmp, ignore=shutil.ignore_patterns(".lock", "*.tmp"))
        tmp.rename(folder)
    return check(folder)


def make_guest(
    guest: Guest,
    kvm: bool,
    build_assets: Callable[[Path], GuestAssets] = shared_assets,
) -> bool:
    """Write one guest's files; False when its XML already exists. ``build_assets``
    builds (or reuses) the shared kernel and initramfs in the folder it is given."""
    config = Path(guest.config)
    if config.exists():
        return False
    if guest.mac is None or guest.network is None:
        raise SystemExit(f"make_guests: {guest.name}: the lab's guests need a mac and a network")
    assets = build_assets(config.parent.parent / ".assets")
    size = guest.disk.size if guest.disk and guest.disk.size else 64 * MIB
    disk = create_disk(config.parent / "disk.qcow2", size_mib=-(-size // MIB))
    console_log = config.parent / "console.log"
    console_log.touch()
    base = domain_xml(
        name=guest.name,
        uuid=str(uuid.uuid4()),
        assets=assets,
        disk=disk,
        console_log=console_log,
        cmdline=guest_cmdline(guest.name),
        memory_mib=guest.memory_mib,
    )
    xml = lab_domain_xml(base, vcpus=guest.vcpus, mac=guest.mac, network=guest.network, kvm=kvm)
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text(xml)
    tmp.replace(config)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    kvm = kvm_usable()
    for guest in load(argv[1]).guests:
        state = "created" if make_guest(guest, kvm) else "exists"
        print(f"make_guests: {guest.name}: {state} ({guest.config})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
