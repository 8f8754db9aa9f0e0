"""What the agent needs to know from a guest's libvirt XML configuration file."""

from __future__ import annotations

import binascii
import os

from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.files import FileProblem, read_text
from havirt.ocf.params import shown
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from havirt.agents.guest.resource_state import ResourceState

GUEST_AGENT_CHANNEL = "org.qemu.guest_agent.0"


class DomainConfig(Record):
    _defaults = {
        "vcpus": None,
        "memory_kib": None,
        "disks": (),
        "pools": (),
        "networks": (),
        "has_guest_agent": False,
        "block_disks": (),
        "has_leases": False,
    }
    path: str
    xml: str
    name: str
    uuid: str | None
    domain_type: str
    vcpus: int | None
    memory_kib: int | None
    disks: tuple[str, ...]
    pools: tuple[str, ...]
    networks: tuple[str, ...]
    has_guest_agent: bool
    block_disks: tuple[str, ...]  # writable, unshared block devices (for storage leases)
    has_leases: bool  # the definition declares <lease> elements


_UNITS = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "k": 1,
    "kib": 1,
    "kb": 1000 / 1024,
    "m": 1024,
    "mib": 1024,
    "mb": 1000**2 / 1024,
    "g": 1024**2,
    "gib": 1024**2,
    "gb": 1000**3 / 1024,
    "t": 1024**3,
    "tib": 1024**3,
    "tb": 1000**4 / 1024,
}


def _kib(el: ET.Element | None) -> int | None:
    if el is None or not (el.text or "").strip():
        return None
    unit = (el.get("unit") or "KiB").lower()
    text = (el.text or "").strip()  # not empty: checked above
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        return None  # not a size libvirt would take either
    return int(int(text) * _UNITS.get(unit, 1))


def parse(path: str, text: str) -> DomainConfig:
    import xml.etree.ElementTree as ET  # only when the file changed (see load)

    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise FileProblem(
            OcfExit.ERR_CONFIGURED, f"config {path} is not valid XML ({exc}): fix the file", path
        ) from None
    if root.tag != "domain":
        raise FileProblem(
            OcfExit.ERR_CONFIGURED,
            f"config {path} is not a libvirt domain definition (root element <{root.tag[:40]}>)",
            path,
        )
    name = (root.findtext("name") or "").strip()
    if not name:
        raise FileProblem(OcfExit.ERR_CONFIGURED, f"config {path} has no <name>: add one", path)
    uuid = (root.findtext("uuid") or "").strip().lower() or None
    vcpu_text = (root.findtext("vcpu") or "").strip()
    disks: list[str] = []
    pools: list[str] = []
    for source in root.iterfind("devices/disk/source"):
        if source.get("file"):
            disks.append(source.get("file", ""))
        elif source.get("dev"):
            disks.append(source.get("dev", ""))
        if source.get("pool"):
            pools.append(source.get("pool", ""))
    block_disks = [
        block.get("dev", "")
        for disk in root.iterfind("devices/disk")
        if disk.get("type") == "block"
        and disk.find("readonly") is None
        and disk.find("shareable") is None
        and (block := disk.find("source")) is not None  # own name: a walrus binds in load
        and block.get("dev")
    ]
    networks = [
        s.get("network", "") for s in root.iterfind("devices/interface/source") if s.get("network")
    ]
    has_agent = any(
        t.get("name") == GUEST_AGENT_CHANNEL for t in root.iterfind("devices/channel/target")
    )
    return DomainConfig(
        path=path,
        xml=text,
        name=name,
        uuid=uuid,
        domain_type=root.get("type", ""),
        vcpus=int(vcpu_text)
        if vcpu_text.isascii() and vcpu_text.isdigit() and len(vcpu_text) <= 9
        else None,
        memory_kib=_kib(root.find("memory")),
        disks=tuple(disks),
        pools=tuple(dict.fromkeys(pools)),
        networks=tuple(dict.fromkeys(networks)),
        has_guest_agent=has_agent,
        block_disks=tuple(block_disks),
        has_leases=root.find("devices/lease") is not None,
    )


def load(path: str, cache: ResourceState | None = None) -> DomainConfig:
    """Read and parse a config file; a missing file is ERR_INSTALLED (not on this node).

    With ``cache``, what was parsed is remembered by the file's content checksum, so
    the monitor of an unchanged file does not load an XML parser at all."""
    if not os.path.isabs(path):
        raise OcfError(
            OcfExit.ERR_CONFIGURED, f"parameter 'config': {shown(path)} is not an absolute path"
        )
    text = read_text(path, "config file")
    key = (path, len(text), binascii.crc32(text.encode("utf-8")))
    if cache is not None:
        entry = cache.get("parsed_config")
        if isinstance(entry, tuple) and len(entry) == 2 and entry[0] == key:
            try:
                return DomainConfig(path=path, xml=text, **entry[1])
            except TypeError:
                pass  # written by another version of havirt: parse again
    config = parse(path, text)
    if cache is not None:
        fields = config._asdict()
        del fields["path"], fields["xml"]
        cache.update(parsed_config=(key, fields))
    return config
