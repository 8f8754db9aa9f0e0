"""A libvirt storage pool's definition: from the agent's parameters, from pool XML,
and back to pool XML, with the differences that matter between two of them.

Only what decides where and what is mounted is compared (type, source, target,
mount options); libvirt adds its own details (UUID, permissions, capacity) to a
definition, and those never count as a difference.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

from havirt.ocf.params import shown
from havirt.ocf.record import Record

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Mapping

POOL_TYPES = ("netfs", "fs", "dir", "logical", "iscsi-direct", "iscsi")
# Pools that libvirt mounts on start and unmounts on destroy.
MOUNTED_TYPES = frozenset({"netfs", "fs"})
# Pools of an iSCSI target's LUNs: iscsi logs the node's kernel initiator in (open-iscsi;
# the LUNs appear as block devices under the target path), iscsi-direct only lists them
# through libiscsi (nothing on the node: QEMU logs in itself).
ISCSI_TYPES = frozenset({"iscsi", "iscsi-direct"})
# Pools with a filesystem the depth-20 check may write a status file into.
WRITABLE_TYPES = frozenset({"netfs", "fs", "dir"})
ISCSI_PORT = 3260
ISCSI_TARGET_PATH = "/dev/disk/by-path"  # where the kernel initiator's LUNs appear
HEX_NAME_LENGTHS = {"eui.": (20,), "naa.": (20, 36)}  # iSCSI names other than iqn.
FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"

# type -> (fields it needs, further fields it accepts)
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "netfs": (("source_host", "source_path", "target_path"), ("source_format", "mount_options")),
    "fs": (("source_path", "target_path"), ("source_format", "mount_options")),
    "dir": (("target_path",), ()),
    "logical": (("source_name",), ("source_format", "target_path")),
    "iscsi-direct": (("source_host", "source_device", "initiator_iqn"), ()),
    "iscsi": (("source_host", "source_device"), ("initiator_iqn", "target_path")),
}
DEFINITION_FIELDS = (
    "source_host",
    "source_path",
    "source_name",
    "source_device",
    "initiator_iqn",
    "source_format",
    "target_path",
    "mount_options",
)
# What each field means for each type, for error messages and the docs.
FIELD_MEANING = {
    "source_host": "the NFS/CIFS/Gluster server, or the iSCSI portal as host[:port]",
    "source_path": "the exported directory (netfs) or the block device (fs)",
    "source_name": "the LVM volume group (logical)",
    "source_device": "the iSCSI target's IQN",
    "initiator_iqn": "the IQN this node logs in with, which the target's ACL admits",
    "source_format": "the filesystem or protocol",
    "target_path": "where the pool appears on this node",
    "mount_options": "extra mount options",
}
FORMATS: dict[str, tuple[str, ...]] = {
    "netfs": ("auto", "nfs", "glusterfs", "cifs"),
    "fs": (
        "auto",
        "ext2",
        "ext3",
        "ext4",
        "ufs",
        "iso9660",
        "udf",
        "gfs",
        "gfs2",
        "vfat",
        "hfs+",
        "xfs",
        "ocfs2",
        "vmfs",
    ),
    "logical": ("auto", "lvm2"),
    "dir": (),
    "iscsi-direct": (),
    "iscsi": (),
}
# NFS is the first-class case: a netfs pool mounts with -t nfs unless told otherwise.
DEFAULT_FORMAT = {"netfs": "nfs", "fs": "auto", "logical": "lvm2"}
# The mount helper each network format needs on the node.
MOUNT_HELPERS = {"nfs": "mount.nfs", "cifs": "mount.cifs", "glusterfs": "mount.glusterfs"}


class DefinitionError(ValueError):
    """A definition that cannot work; the message names the parameter and the fix."""


class PoolSpec(Record):
    _defaults = {
        "source_host": None,
        "source_path": None,
        "source_name": None,
        "source_device": None,
        "initiator_iqn": None,
        "source_format": None,
        "mount_options": (),
    }
    name: str
    type: str
    # Both parsers refuse a definition without one (logical: /dev/<vg>), but for
    # iscsi-direct, which has none on the node: "".
    target: str
    source_host: str | None  # iSCSI: host:port
    source_path: str | None
    source_name: str | None
    source_device: str | None  # iSCSI: the target's IQN
    initiator_iqn: str | None
    source_format: str | None  # None: the type's default, and not compared
    mount_options: tuple[str, ...]

    @property
    def mounted(self) -> bool:
        return self.type in MOUNTED_TYPES

    @property
    def luns(self) -> bool:
        """A pool whose volumes are the LUNs of an iSCSI target."""
        return self.type in ISCSI_TYPES

    @property
    def where(self) -> str:
        """Where the pool appears on the node (for messages)."""
        return f"at {self.target}" if self.target else "through libiscsi"

    @property
    def source(self) -> str:
        """The source as an admin would name it (for messages)."""
        if self.luns:
            return f"iscsi://{self.source_host}/{self.source_device}"
        if self.type == "netfs":
            return f"{self.source_host}:{self.source_path}"
        if self.type == "logical":
            return f"volume group {self.source_name}"
        return self.source_path or self.target or ""


def _clean(value: object) -> str | None:
    text = value.strip() if isinstance(value, str) else None
    return text or None


def split_options(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())


def check_options(text: str) -> str | None:
    """An error text for malformed mount options, None when they are fine."""
    for option in text.split(","):
        option = option.strip()
        if not option:
            return "empty option (use a comma-separated list such as 'vers=4.2,noatime')"
        if any(c.isspace() for c in option) or "'" in option or '"' in option:
            return f"option {shown(option)} contains white space or quotes"
    return None


def check_iqn(text: str) -> str | None:
    """An error text for something that is not an iSCSI name (iqn., eui. or naa.)."""
    lower = text.lower()
    if lower.startswith("iqn."):
        date, _, rest = text[4:].partition(".")
        year, _, month = date.partition("-")
        ok = (
            len(year) == 4
            and year.isdigit()
            and len(month) == 2
            and month.isdigit()
            and bool(rest)
            and not any(c.isspace() or ord(c) < 32 or c == "/" for c in rest)
            and len(text) <= 223
        )
    else:
        ok = len(text) in HEX_NAME_LENGTHS.get(lower[:4], ()) and all(
            c in "0123456789abcdef" for c in lower[4:]
        )
    if ok:
        return None
    return (
        f"{shown(text)} is not an iSCSI name: use iqn.YYYY-MM.reversed.domain[:name] "
        "(e.g. iqn.2026-01.com.example:storage1), eui.<16 hex digits> or naa.<hex>"
    )


def split_portal(text: str) -> tuple[str, int]:
    """``host[:port]`` (``[v6]:port`` for IPv6) as (host, port); raises DefinitionError."""
    port: str | None = None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ("" if rest else None)
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host = text  # a name, an IPv4 address or a bare IPv6 address: the default port
    bad_host = not host or any(c.isspace() or c in "/'\"[]" for c in host)
    if bad_host or (port is not None and not (port.isdigit() and 0 < int(port) < 65536)):
        raise DefinitionError(
            f"parameter 'source_host': {shown(text)} is not an iSCSI portal "
            "(host, host:port or [IPv6]:port with a port from 1 to 65535, e.g. storage1:3260)"
        )
    return host, int(port) if port else ISCSI_PORT


def join_portal(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def from_params(values: Mapping[str, object]) -> PoolSpec | None:
    """The pool the parameters describe; None when they leave the definition to libvirt.

    Raises DefinitionError for a combination of fields that cannot work."""
    pool_type = _clean(values.get("type"))
    given = [f for f in DEFINITION_FIELDS if _clean(values.get(f))]
    if pool_type is None:
        if given:
            raise DefinitionError(
                f"parameter '{given[0]}' needs 'type' (one of {', '.join(POOL_TYPES)}) "
                "so the agent can define the pool; or leave the definition to an existing "
                "libvirt pool or to pool_xml"
            )
        return None
    required, optional = FIELDS[pool_type]
    for field in required:
        if field == "target_path" and pool_type == "logical":
            continue
        if field not in given:
            raise DefinitionError(
                f"type={pool_type} needs parameter '{field}' ({FIELD_MEANING[field]})"
            )
    for field in given:
        if field not in required and field not in optional:
            raise DefinitionError(
                f"parameter '{field}' does not apply to type={pool_type}: remove it "
                f"(type={pool_type} uses {', '.join((*required, *optional))})"
            )
    fmt = _clean(values.get("source_format"))
    if fmt is not None and fmt not in FORMATS[pool_type]:
        raise DefinitionError(
            f"parameter 'source_format': {shown(fmt)} is not a format of type={pool_type} "
            f"(one of {', '.join(FORMATS[pool_type])})"
        )
    name = _clean(values.get("source_name"))
    target = _clean(values.get("target_path"))
    if target is None and pool_type == "logical":
        target = f"/dev/{name}"
    if target is None and pool_type == "iscsi":
        target = ISCSI_TARGET_PATH
    if pool_type == "iscsi-direct":
        return _iscsi_spec(values, pool_type, "")
    assert target is not None
    if not target.startswith("/"):
        raise DefinitionError(f"parameter 'target_path': {shown(target)} is not an absolute path")
    if pool_type == "iscsi":
        return _iscsi_spec(values, pool_type, os.path.normpath(target))
    source_path = _clean(values.get("source_path"))
    if (
        source_path is not None
        and not source_path.startswith("/")
        and (pool_type == "fs" or (fmt or DEFAULT_FORMAT.get(pool_type)) == "nfs")
    ):
        what = "a block device path" if pool_type == "fs" else "an absolute export path"
        raise DefinitionError(f"parameter 'source_path': {shown(source_path)} is not {what}")
    options = str(values.get("mount_options") or "")
    if options.strip():
        problem = check_options(options)
        if problem:
            raise DefinitionError(f"parameter 'mount_options': {problem}")
    return PoolSpec(
        name=str(values.get("pool") or ""),
        type=pool_type,
        target=os.path.normpath(target),
        source_host=_clean(values.get("source_host")),
        source_path=source_path,
        source_name=name,
        source_format=fmt,
        mount_options=split_options(options),
    )


def _iscsi_spec(values: Mapping[str, object], pool_type: str, target: str) -> PoolSpec:
    for field in ("source_device", "initiator_iqn"):
        iqn = _clean(values.get(field))
        problem = check_iqn(iqn) if iqn else None
        if problem:
            raise DefinitionError(f"parameter '{field}': {problem}")
    host = _clean(values.get("source_host")) or ""
    return PoolSpec(
        name=str(values.get("pool") or ""),
        type=pool_type,
        target=target,
        source_host=join_portal(*split_portal(host)),
        source_device=_clean(values.get("source_device")),
        initiator_iqn=_clean(values.get("initiator_iqn")),
    )


def _attr(root: ET.Element, path: str, attr: str) -> str | None:
    el = root.find(path)
    return _clean(el.get(attr)) if el is not None else None


def from_xml(xml: str) -> PoolSpec:
    """The parts of a pool XML definition that matter; raises DefinitionError."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise DefinitionError(f"not well-formed XML ({exc})") from None
    if root.tag != "pool":
        raise DefinitionError(f"the root element is <{root.tag[:40]}>, not <pool>")
    pool_type = root.get("type") or ""
    if pool_type not in POOL_TYPES:
        raise DefinitionError(
            f"pool type {shown(pool_type)} is not managed by this agent "
            f"(supported: {', '.join(POOL_TYPES)})"
        )
    name = _clean(root.findtext("name"))
    if name is None:
        raise DefinitionError("the definition has no <name>")
    if pool_type in ISCSI_TYPES:
        return _iscsi_from_xml(root, name, pool_type)
    target = _clean(root.findtext("target/path"))
    if target is None and pool_type == "logical":
        vg = _clean(root.findtext("source/name"))
        target = f"/dev/{vg}" if vg else None
    if target is None:
        raise DefinitionError("the definition has no <target><path>")
    if pool_type == "netfs":
        source_path = _attr(root, "source/dir", "path")
    elif pool_type == "fs":
        source_path = _attr(root, "source/device", "path")
    else:
        source_path = None
    options = tuple(
        el.get("name", "")
        for el in root.findall(f"{{{FS_NS}}}mount_opts/{{{FS_NS}}}option")
        if el.get("name")
    )
    return PoolSpec(
        name=name,
        type=pool_type,
        target=os.path.normpath(target),
        source_host=_attr(root, "source/host", "name") if pool_type == "netfs" else None,
        source_path=source_path,
        source_name=_clean(root.findtext("source/name")) if pool_type == "logical" else None,
        source_format=_attr(root, "source/format", "type"),
        mount_options=options,
    )


def _iscsi_from_xml(root: ET.Element, name: str, pool_type: str) -> PoolSpec:
    host = _attr(root, "source/host", "name")
    device = _attr(root, "source/device", "path")
    if host is None or device is None:
        raise DefinitionError(
            "the definition has no <source><host name=...> and <device path=...> "
            "(the iSCSI portal and target IQN)"
        )
    port = _attr(root, "source/host", "port")
    target = ""
    if pool_type == "iscsi":
        target = os.path.normpath(_clean(root.findtext("target/path")) or ISCSI_TARGET_PATH)
    return PoolSpec(
        name=name,
        type=pool_type,
        target=target,
        source_host=join_portal(host, int(port) if port and port.isdigit() else ISCSI_PORT),
        source_device=device,
        initiator_iqn=_attr(root, "source/initiator/iqn", "name"),
    )


def _iscsi_source(source: ET.Element, spec: PoolSpec) -> None:
    host, port = split_portal(spec.source_host or "")
    ET.SubElement(source, "host", name=host, port=str(port))
    ET.SubElement(source, "device", path=spec.source_device or "")
    if spec.initiator_iqn:
        initiator = ET.SubElement(source, "initiator")
        ET.SubElement(initiator, "iqn", name=spec.initiator_iqn)


def to_xml(spec: PoolSpec, uuid: str | None = None) -> str:
    """Pool XML for ``virStoragePoolDefineXML``."""
    ET.register_namespace("fs", FS_NS)
    root = ET.Element("pool", type=spec.type)
    ET.SubElement(root, "name").text = spec.name
    if uuid:
        ET.SubElement(root, "uuid").text = uuid
    if spec.type != "dir":
        source = ET.SubElement(root, "source")
        if spec.type == "netfs":
            ET.SubElement(source, "host", name=spec.source_host or "")
            ET.SubElement(source, "dir", path=spec.source_path or "")
        elif spec.type == "fs":
            ET.SubElement(source, "device", path=spec.source_path or "")
        elif spec.type == "logical":
            ET.SubElement(source, "name").text = spec.source_name
        if spec.luns:
            _iscsi_source(source, spec)
        else:
            ET.SubElement(source, "format", type=spec.source_format or DEFAULT_FORMAT[spec.type])
    if spec.target:
        target = ET.SubElement(root, "target")
        ET.SubElement(target, "path").text = spec.target
    if spec.mount_options:
        opts = ET.SubElement(root, f"{{{FS_NS}}}mount_opts")
        for option in spec.mount_options:
            ET.SubElement(opts, f"{{{FS_NS}}}option", name=option)
    return ET.tostring(root, encoding="unicode") + "\n"


def with_uuid(xml: str, uuid: str) -> str:
    """``xml`` carrying ``uuid`` (libvirt refuses to redefine a pool under a new UUID)."""
    ET.register_namespace("fs", FS_NS)
    root = ET.fromstring(xml)
    el = root.find("uuid")
    if el is None:
        el = ET.Element("uuid")
        root.insert(1, el)
    el.text = uuid
    return ET.tostring(root, encoding="unicode") + "\n"


_COMPARED = (
    ("type", "type"),
    ("target", "target_path"),
    ("source_host", "source_host"),
    ("source_path", "source_path"),
    ("source_name", "source_name"),
    ("source_device", "source_device"),
    ("initiator_iqn", "initiator_iqn"),
)


def differences(wanted: PoolSpec, actual: PoolSpec) -> list[str]:
    """What differs between the wanted and the defined pool, as 'field: defined X, wanted Y'."""
    found = []
    for attr, label in _COMPARED:
        want, have = getattr(wanted, attr), getattr(actual, attr)
        if want is not None and want != have:
            found.append(f"{label}: defined {have or '(none)'}, wanted {want}")
    if wanted.source_format is not None and wanted.source_format != actual.source_format:
        found.append(
            f"source_format: defined {actual.source_format or '(none)'}, "
            f"wanted {wanted.source_format}"
        )
    if wanted.mount_options != actual.mount_options:
        found.append(
            f"mount_options: defined {','.join(actual.mount_options) or '(none)'}, "
            f"wanted {','.join(wanted.mount_options) or '(none)'}"
        )
    return found
