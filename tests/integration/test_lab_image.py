"""The cached guest assets and the domain XML built from them."""

from __future__ import annotations

import gzip
import subprocess
import uuid

import pytest
from havirt.tools.lab import GuestAssets, domain_xml
from havirt.tools.lab.guest_image import guest_cmdline
from lxml import etree

pytestmark = pytest.mark.integration


def test_initramfs_holds_init_static_busybox_and_modules(guest_assets: GuestAssets) -> None:
    archive = gzip.decompress(guest_assets.initrd.read_bytes())
    listing = subprocess.run(
        ["busybox", "cpio", "-t"], input=archive, capture_output=True, timeout=30, check=True
    ).stdout.decode()
    names = set(listing.split())
    assert {"init", "bin/busybox", "dev/console", "etc/havirt/modules"} <= names
    for module in ("button", "evdev", "virtio_console", "virtio_pci"):
        assert f"lib/modules/{module}.ko" in names
    assert guest_assets.kernel.stat().st_size > 1_000_000


def test_domain_xml_is_a_tcg_guest_with_acpi_and_a_console_file(
    guest_assets: GuestAssets,
) -> None:
    guest_uuid = str(uuid.uuid4())
    xml = domain_xml(
        name="demo",
        uuid=guest_uuid,
        assets=guest_assets,
        disk="/srv/havirt-shared/demo.qcow2",
        console_log="/srv/havirt-shared/demo.log",
        cmdline=guest_cmdline("demo", ignore_acpi=True),
    )
    dom = etree.fromstring(xml.encode())
    assert dom.get("type") == "qemu"
    assert dom.findtext("uuid") == guest_uuid
    assert dom.find("features/acpi") is not None
    assert dom.findtext("os/kernel") == str(guest_assets.kernel)
    assert "console=ttyS0" in dom.findtext("os/cmdline", "")
    assert "havirt.ignore_acpi=1" in dom.findtext("os/cmdline", "")
    assert dom.find("devices/serial/source").get("path") == "/srv/havirt-shared/demo.log"
    assert dom.find("devices/channel/target").get("name") == "org.qemu.guest_agent.0"
    assert dom.find("devices/interface") is None
    with pytest.raises(ValueError):
        domain_xml(name="x", uuid="nope", assets=guest_assets, disk="d", console_log="c")
