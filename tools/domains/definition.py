"""What a guest's domain XML must be before the definition store keeps it.

Well-formed XML (read through :func:`havirt.tools.userinput.parse_xml`: no entities,
no DTD, no network), a ``<domain>`` root, a ``<name>`` equal to the guest's name and a
``<uuid>``. Every refusal is a :class:`~havirt.tools.errors.BadRequest` of one line
that names the field and the fix; nothing is stored.
"""

from __future__ import annotations

import re
import uuid as uuid_module
from dataclasses import dataclass

from havirt.tools.errors import BadRequest, HavirtError
from havirt.tools.userinput import parse_xml, quote

# A guest's name is a Pacemaker id and a directory of the store: a letter first, no "/".
GUEST_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Definition:
    """A checked domain XML: its text as given, and the identity libvirt knows it by."""

    name: str
    uuid: str  # lower case, with dashes
    text: str


def check_guest_name(name: str) -> str:
    if not GUEST_NAME.fullmatch(name):
        raise BadRequest(
            f"guest name {quote(name)} is not usable",
            "name the guest with a letter first, then letters, digits, . _ - (at most 64)",
        )
    return name


def check_definition(name: str, text: str, what: str) -> Definition:
    """``text`` as the definition of guest ``name``; ``what`` names it in errors
    ("the XML of web1 in /tmp/web1.xml")."""
    check_guest_name(name)
    try:
        root = parse_xml(text, what)
    except BadRequest:
        raise
    except HavirtError as exc:
        raise BadRequest(exc.message, "fix the XML and try again") from None
    if root.tag != "domain":
        raise BadRequest(
            f"{what} has the root element <{quote(root.tag, 30)[1:-1]}>, not <domain>",
            "give a libvirt domain definition (virsh dumpxml --inactive NAME)",
        )
    names = root.findall("name")
    if len(names) != 1 or not (names[0].text or "").strip():
        raise BadRequest(
            f"{what} has {'no' if not names else 'more than one'} <name>",
            f"write <name>{name}</name> under <domain>",
        )
    given = (names[0].text or "").strip()
    if given != name:
        raise BadRequest(
            f"{what} names the guest {quote(given)}, not {quote(name)}",
            f"write <name>{name}</name> (a guest is renamed by removing and adding it)",
        )
    uuids = root.findall("uuid")
    if len(uuids) != 1 or not (uuids[0].text or "").strip():
        raise BadRequest(
            f"{what} has {'no' if not uuids else 'more than one'} <uuid>",
            "write the guest's <uuid> under <domain> (virsh domuuid NAME; uuidgen for a new guest)",
        )
    raw = (uuids[0].text or "").strip()
    try:
        uuid = str(uuid_module.UUID(raw))
    except ValueError:
        raise BadRequest(
            f"{what} has the <uuid> {quote(raw)}, which is not a UUID",
            "write a UUID like 4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
        ) from None
    return Definition(name=name, uuid=uuid, text=text)


def check_same_uuid(new: Definition, old: Definition, what: str, base: int) -> None:
    """An edit keeps the guest's identity: refused when ``new`` changes the UUID that
    revision ``base`` (``old``) has."""
    if new.uuid != old.uuid:
        raise BadRequest(
            f"{what} changes the <uuid> of {new.name} from {old.uuid} "
            f"(revision {base}) to {new.uuid}",
            f"keep <uuid>{old.uuid}</uuid>; a guest's UUID never changes",
        )
