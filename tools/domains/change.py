"""What a change of a guest's definition needs before the guest runs it: nothing, its
next start, a live change, or a restart. Pure: two domain XMLs in, data out.

Conservative: only what is positively known to be changeable on a running guest
through libvirt is called live; everything else needs a restart:

- ``<currentMemory>`` within an unchanged ``<memory>`` (the balloon: ``virsh setmem``);
- ``<vcpu current='N'>`` within an unchanged maximum (``virsh setvcpus``);
- an ``<interface>`` with a ``<mac address>`` added or removed, a ``<disk
  device='disk'>`` on a virtio or SCSI bus added or removed (``virsh attach-device``,
  ``detach-device``), each one as a whole: a device that stays but changes needs a
  restart, and so do devices that change order;
- ``<title>`` and ``<description>`` (``virsh desc``).

``<metadata>`` is libvirt's alone (the guest never sees it): it takes effect at the
next start. Comments and whitespace between elements do not matter.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

from havirt.tools.domains.fit import memory_kib
from havirt.tools.json_fields import fields_dict
from havirt.tools.userinput import parse_xml
from lxml import etree

NOTHING = "nothing"  # no change that matters: only whitespace or comments
NEXT_START = "next start"  # takes effect at the guest's next start; nothing to apply
LIVE = "live"  # can be applied to the running guest
RESTART = "restart"  # the running guest must be stopped and started again
_ORDER = (NOTHING, NEXT_START, LIVE, RESTART)

# the live operations (Item.op), and what their value is
SET_MEMORY = "set memory"  # KiB
SET_VCPUS = "set vcpus"  # a count
ATTACH = "attach"  # the device's XML
DETACH = "detach"  # the device's XML
SET_TITLE = "set title"  # the text ("" clears it)
SET_DESCRIPTION = "set description"  # the text

_HOTPLUG_BUSES = ("virtio", "scsi")


@dataclass(frozen=True)
class Item:
    """One thing the change does: in plain words, its kind, and for a live one the
    operation that applies it."""

    kind: str  # NEXT_START, LIVE or RESTART
    what: str
    op: str = ""  # live only: one of the operations above
    value: str = ""

    def to_dict(self) -> dict[str, object]:
        return fields_dict(self)


def overall(items: Iterable[Item]) -> str:
    """What the whole change needs: the most any of its items needs."""
    return max((i.kind for i in items), key=_ORDER.index, default=NOTHING)


def classify(old: str, new: str) -> list[Item]:
    """What changing a guest's definition from ``old`` to ``new`` needs, item by item
    (empty: nothing that matters). Both are domain XMLs already checked."""
    before = _canonical(parse_xml(old, "the old definition"))
    after = _canonical(parse_xml(new, "the new definition"))
    items: list[Item] = []
    items += _texts(before, after)
    items += _metadata(before, after)
    items += _memory(before, after)
    items += _vcpus(before, after)
    items += _devices(before, after)
    items += _the_rest(before, after)
    return items


# -- each part ------------------------------------------------------------------------


def _canonical(root: etree._Element) -> etree._Element:
    """A copy without comments, processing instructions and whitespace-only text."""
    root = copy.deepcopy(root)
    for node in root.xpath("//comment() | //processing-instruction()"):
        _drop(node)
    for element in root.iter():
        if element.text is not None and not element.text.strip() and len(element):
            element.text = None
        if element.tail is not None and not element.tail.strip():
            element.tail = None
    return root


def _drop(element: etree._Element) -> None:
    """Remove ``element`` and keep its tail text (lxml removes the tail with it)."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    previous = element.getprevious()
    if tail and tail.strip():
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _same(a: etree._Element | None, b: etree._Element | None) -> bool:
    return _text(a) == _text(b)


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return bytes(etree.tostring(element, method="c14n")).decode()  # never the tail


def _take(root: etree._Element, tag: str) -> list[etree._Element]:
    """Remove the top-level ``tag`` elements of ``root`` (so that what is left is compared
    as a whole afterwards); the removed ones."""
    found = root.findall(tag)
    for element in found:
        _drop(element)
    return found


def _one(elements: list[etree._Element]) -> etree._Element | None:
    return elements[0] if len(elements) == 1 else None


def _texts(before: etree._Element, after: etree._Element) -> list[Item]:
    items = []
    for tag, op in (("title", SET_TITLE), ("description", SET_DESCRIPTION)):
        old, new = _take(before, tag), _take(after, tag)
        if [_text(e) for e in old] == [_text(e) for e in new]:
            continue
        if len(old) > 1 or len(new) > 1 or any(len(e) or e.attrib for e in old + new):
            items.append(Item(RESTART, f"the <{tag}> (not a plain text)"))
            continue
        text = (new[0].text or "") if new else ""
        items.append(Item(LIVE, f"the {tag}", op, text))
    return items


def _metadata(before: etree._Element, after: etree._Element) -> list[Item]:
    old, new = _take(before, "metadata"), _take(after, "metadata")
    if [_text(e) for e in old] == [_text(e) for e in new]:
        return []
    return [Item(NEXT_START, "the <metadata> (libvirt's only; the guest does not see it)")]


def _memory(before: etree._Element, after: etree._Element) -> list[Item]:
    old_max, new_max = _take(before, "memory"), _take(after, "memory")
    old_now, new_now = _take(before, "currentMemory"), _take(after, "currentMemory")
    if not _same(_one(old_max), _one(new_max)) or len(old_max) != len(new_max):
        return [Item(RESTART, "the maximum memory (<memory>)")]
    if [_text(e) for e in old_now] == [_text(e) for e in new_now]:
        return []
    try:
        limit = memory_kib(_one(new_max))
        current = memory_kib(_one(new_now)) if new_now else limit
    except ValueError:
        return [Item(RESTART, "the memory (<currentMemory>, unreadable)")]
    if len(new_now) > 1 or not 0 < current <= limit:
        return [Item(RESTART, "the current memory (<currentMemory>, beyond <memory>)")]
    previous = _kib_or_none(_one(old_now)) if old_now else limit
    if previous == current:
        return []  # the same amount, written otherwise (another unit)
    return [Item(LIVE, f"the current memory, to {_mib(current)}", SET_MEMORY, str(current))]


def _kib_or_none(element: etree._Element | None) -> int | None:
    try:
        return memory_kib(element)
    except ValueError:
        return None


def _mib(kib: int) -> str:
    return f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib} KiB"


def _vcpus(before: etree._Element, after: etree._Element) -> list[Item]:
    old, new = _one(_take(before, "vcpu")), _one(_take(after, "vcpu"))
    if _same(old, new):
        return []
    if old is None or new is None:
        return [Item(RESTART, "the number of vCPUs (<vcpu>)")]
    rest_old, rest_new = dict(old.attrib), dict(new.attrib)
    old_current, new_current = rest_old.pop("current", None), rest_new.pop("current", None)
    maximum = (new.text or "").strip()
    if rest_old != rest_new or (old.text or "").strip() != maximum or not maximum.isdigit():
        return [Item(RESTART, "the maximum number of vCPUs (<vcpu>)")]
    count = new_current if new_current is not None else maximum
    if not count.isdigit() or not 1 <= int(count) <= int(maximum):
        return [Item(RESTART, "the number of vCPUs (<vcpu current>, beyond the maximum)")]
    if (old_current or maximum) == count:
        return []
    return [Item(LIVE, f"the vCPUs in use, to {count} of {maximum}", SET_VCPUS, count)]


def _hotplug_key(device: etree._Element) -> str | None:
    """The identity a hot-pluggable device keeps: an interface's MAC address, a disk's
    target; None for a device havirt does not change live."""
    if device.tag == "interface":
        mac = device.find("mac")
        address = mac.get("address") if mac is not None else None
        return f"interface {address.lower()}" if address else None
    if device.tag == "disk" and device.get("device", "disk") == "disk":
        target = device.find("target")
        if target is None or not target.get("dev"):
            return None
        if target.get("bus") not in _HOTPLUG_BUSES:
            return None
        return f"disk {target.get('dev')}"
    return None


def _devices(before: etree._Element, after: etree._Element) -> list[Item]:
    old_devices, new_devices = before.find("devices"), after.find("devices")
    if old_devices is None or new_devices is None or _same(old_devices, new_devices):
        return []
    old = {k: d for d in old_devices if (k := _hotplug_key(d)) is not None}
    new = {k: d for d in new_devices if (k := _hotplug_key(d)) is not None}
    if any(
        len(found) != sum(_hotplug_key(d) is not None for d in devices)
        for found, devices in ((old, old_devices), (new, new_devices))
    ):
        return [Item(RESTART, "the devices (two disks or interfaces share a target or MAC)")]
    kept = [k for k in old if k in new]
    items = []
    if [k for k in new if k in old] != kept:
        items.append(Item(RESTART, "the order of the disks and interfaces"))
    for key in kept:
        if not _same(old[key], new[key]):
            items.append(Item(RESTART, f"the {key} (changed: libvirt cannot change it live)"))
    for key, device in old.items():
        if key not in new:
            items.append(Item(LIVE, f"the {key} removed", DETACH, _xml(device)))
    for key, device in new.items():
        if key not in old:
            items.append(Item(LIVE, f"the {key} added", ATTACH, _xml(device)))
    for devices, chosen in ((old_devices, old), (new_devices, new)):
        for device in [d for d in devices if _hotplug_key(d) in chosen]:
            _drop(device)
    if not _same(old_devices, new_devices):
        items.append(Item(RESTART, "other devices (<devices>)"))
    for devices in (old_devices, new_devices):
        _drop(devices)
    return items


def _xml(element: etree._Element) -> str:
    return etree.tostring(element, encoding="unicode", with_tail=False)


def _the_rest(before: etree._Element, after: etree._Element) -> list[Item]:
    """Everything left, top-level element by element: each one that differs needs a
    restart."""
    items = []
    if dict(before.attrib) != dict(after.attrib):
        items.append(Item(RESTART, "the domain's attributes (<domain type>)"))
    tags = list(dict.fromkeys([e.tag for e in before] + [e.tag for e in after]))
    for tag in tags:
        if not isinstance(tag, str):
            continue
        old = [_text(e) for e in before.findall(tag)]
        new = [_text(e) for e in after.findall(tag)]
        if old != new:
            items.append(Item(RESTART, f"<{tag}>"))
    return items
