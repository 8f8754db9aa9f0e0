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

POOL_TYPES = ("netfs", "fs", "dir", "logical")
# Pools that libvirt mounts on start and unmounts on destroy.
MOUNTED_TYPES = frozenset({"netfs", "fs"})
FS_NS = "http://libvirt.org/schemas/storagepool/fs/1.0"

# type -> (fields it needs, further fields it accepts)
FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "netfs": (("source_host", "source_path", "target_path"), ("source_format", "mount_options")),
    "fs": (("source_path", "target_path"), ("source_format", "mount_options")),
    "dir": (("target_path",), ()),
    "logical": (("source_name",), ("source_format", "target_path")),
}
DEFINITION_FIELDS = (
    "source_host",
    "source_path",
    "source_name",
    "source_format",
    "target_path",
    "mount_options",
)
# What each field means for each type, for error messages and the docs.
FIELD_MEANING = {
    "source_host": "the NFS/CIFS/Gluster server",
    "source_path": "the exported directory (netfs) or the block device (fs)",
    "source_name": "the LVM volume group (logical)",
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
        "source_format": None,
        "mount_options": (),
    }
    name: str
    type: str
    target: str  # both parsers refuse a definition without one (logical: /dev/<vg>)
    source_host: str | None
    source_path: str | None
    source_name: str | None
    source_format: str | None  # None: the type's default, and not compared
    mount_options: tuple[str, ...]

    @property
    def mounted(self) -> bool:
        return self.type in MOUNTED_TYPES

    @property
    def source(self) -> str:
        """The source as an admin would name it (for messages)."""
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
    assert target is not None
    if not target.startswith("/"):
        raise DefinitionError(f"parameter 'target_path': {shown(target)} is not an absolute path")
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
        ET.SubElement(source, "format", type=spec.source_format or DEFAULT_FORMAT[spec.type])
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
