"""The definition store: every guest's domain XML, versioned, on the cluster's shared
storage.

Layout under the store's root (docs/domains.md)::

    ROOT/NAME/domain.xml             the current definition (what the guest resource's
                                     ``config`` points at), replaced atomically
    ROOT/NAME/revisions/000001.xml   each revision's XML, never changed once written
    ROOT/NAME/revisions/000001.json  who, when (UTC), why, the revision it was based on,
                                     the XML's sha256

Every change is a new revision. Making revision N+1 is a compare-and-set: its XML is
written to a temporary file and hard-linked to ``N+1.xml``, which fails when that
name exists; so of two admins who both started from revision N, the second is refused
(:class:`~havirt.tools.errors.Conflict`) and told who made N+1. A revision file is
never half-written (the link makes it appear whole), and ``domain.xml`` is replaced
through a temporary file, fsync and rename, then the directory is synced, so an agent
never reads half a definition. Nothing is deleted except by :meth:`DefinitionStore.purge`.

The store gets who changes what, and when, from its caller (:class:`Change`); it
never asks the machine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

from havirt.tools.domains.definition import (
    Definition,
    check_definition,
    check_guest_name,
    check_same_uuid,
)
from havirt.tools.domains.drift import Stored
from havirt.tools.errors import BadRequest, Conflict, HavirtError, Refused
from havirt.tools.userinput import read_bytes

DEFINITION_LIMIT = 4 << 20  # a domain XML is a few KiB; a bigger file is not one
RECORD_LIMIT = 64 << 10
CURRENT = "domain.xml"
REVISIONS = "revisions"
_REVISION_FILE = re.compile(r"(\d{6,})\.xml")


@dataclass(frozen=True)
class Change:
    """Who makes a change, when (an aware datetime) and why: the caller's to say."""

    who: str
    when: dt.datetime
    why: str


@dataclass(frozen=True)
class Revision:
    """One revision's record."""

    number: int
    who: str
    when: str  # UTC, ISO 8601
    why: str
    base: int | None  # the revision it was made from; None for the first
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return (
            f"revision {self.number} by {self.who} at {self.when} ({self.why or 'no reason given'})"
        )


def read_definition(path: str, what: str) -> str:
    """A definition file an admin names (or an editor left): bounded, regular files
    only, UTF-8; a refusal is a BadRequest naming the file."""
    try:
        data = read_bytes(path, what, DEFINITION_LIMIT)
    except HavirtError as exc:
        raise BadRequest(exc.message, exc.hint) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"{what} {path} is not UTF-8 text (byte {exc.start})", "save the XML as UTF-8"
        ) from None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_with(directory: str, prefix: str, data: bytes) -> str:
    """A synced temporary file in ``directory`` holding ``data``; its path."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{prefix}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def _write_new(path: str, data: bytes) -> bool:
    """Make ``path`` appear whole with ``data``, only if it does not exist yet (the
    compare-and-set); False when it does."""
    directory, base = os.path.split(path)
    tmp = _temp_with(directory, base, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _sync_dir(directory)
    return True


def _replace(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data``: no reader ever sees half of it."""
    directory, base = os.path.split(path)
    tmp = _temp_with(directory, base, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_dir(directory)


class DefinitionStore:
    """The store rooted at ``root`` (a directory on the cluster's shared storage)."""

    def __init__(self, root: str) -> None:
        self.root = root

    # -- where things are -------------------------------------------------------------

    def guest_dir(self, name: str) -> str:
        return os.path.join(self.root, check_guest_name(name))

    def current_path(self, name: str) -> str:
        """The file the guest resource's ``config`` points at."""
        return os.path.join(self.guest_dir(name), CURRENT)

    def _revisions_dir(self, name: str) -> str:
        return os.path.join(self.guest_dir(name), REVISIONS)

    def _xml_path(self, name: str, number: int) -> str:
        return os.path.join(self._revisions_dir(name), f"{number:06d}.xml")

    def _record_path(self, name: str, number: int) -> str:
        return os.path.join(self._revisions_dir(name), f"{number:06d}.json")

    def _check_root(self) -> None:
        if not os.path.isdir(self.root):
            raise BadRequest(
                f"the definition store {self.root} does not exist or is not a directory",
                "mount the cluster's shared storage, create the directory there, or name "
                "another store",
            )

    # -- reading ----------------------------------------------------------------------

    def guests(self) -> list[str]:
        """The guests the store knows, sorted."""
        self._check_root()
        return sorted(
            entry
            for entry in os.listdir(self.root)
            if not entry.startswith(".")
            and os.path.isdir(os.path.join(self.root, entry, REVISIONS))
        )

    def numbers(self, name: str) -> list[int]:
        """The revision numbers of ``name``, oldest first; empty when it is not stored."""
        self._check_root()
        try:
            entries = os.listdir(self._revisions_dir(name))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(int(m.group(1)) for e in entries if (m := _REVISION_FILE.fullmatch(e)))

    def latest(self, name: str) -> int:
        """The number of the current revision of ``name``."""
        numbers = self.numbers(name)
        if not numbers:
            raise BadRequest(
                f"{name} is not in the definition store {self.root}",
                "check the name, or import the guest's XML first",
            )
        return numbers[-1]

    def _check_number(self, name: str, number: int) -> None:
        numbers = self.numbers(name)
        if not numbers:
            self.latest(name)  # raises: not stored
        if number not in numbers:
            raise BadRequest(
                f"{name} has no revision {number}",
                f"name a revision from 1 to {numbers[-1]} (see its history)",
            )

    def record(self, name: str, number: int) -> Revision:
        """Revision ``number``'s record; a revision whose record is missing (its change
        was interrupted, or is being written now) says so."""
        path = self._record_path(name, number)
        try:
            data = json.loads(read_bytes(path, "revision record", RECORD_LIMIT))
            return Revision(
                number=number,
                who=str(data["who"]),
                when=str(data["when"]),
                why=str(data["why"]),
                base=None if data["base"] is None else int(data["base"]),
                sha256=str(data["sha256"]),
            )
        except HavirtError:
            return Revision(
                number, "?", "?", "(no record: being written, or interrupted)", None, ""
            )
        except (ValueError, KeyError, TypeError):
            raise HavirtError(
                f"the record {path} is damaged",
                "restore it from a backup; the store's other revisions are untouched",
            ) from None

    def history(self, name: str) -> list[Revision]:
        """Every revision of ``name``, oldest first."""
        numbers = self.numbers(name)
        if not numbers:
            self.latest(name)  # raises: not stored
        return [self.record(name, n) for n in numbers]

    def get(self, name: str, number: int | None = None) -> str:
        """The XML of revision ``number`` (None: the current one), checked against the
        sha256 its record holds."""
        number = self.latest(name) if number is None else number
        self._check_number(name, number)
        path = self._xml_path(name, number)
        try:
            text = read_bytes(path, "revision", DEFINITION_LIMIT).decode("utf-8")
        except UnicodeDecodeError:
            raise HavirtError(f"revision {path} is not UTF-8", "restore it from a backup") from None
        record = self.record(name, number)
        if record.sha256 and record.sha256 != _sha256(text):
            raise HavirtError(
                f"revision {path} does not match its record's sha256 (changed by hand?)",
                "restore it from a backup; revisions are never edited in place",
            )
        return text

    def current(self) -> dict[str, Stored]:
        """Every guest's current definition, by name (what nodes are compared with)."""
        found = {}
        for name in self.guests():
            number = self.latest(name)
            text = self.get(name, number)
            found[name] = Stored(name, number, text, _sha256(text))
        return found

    def diff(self, name: str, old: int, new: int) -> str:
        """The unified diff from revision ``old`` to revision ``new`` ("" when equal)."""
        before, after = self.get(name, old), self.get(name, new)
        return "".join(
            difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile=f"{name} revision {old}",
                tofile=f"{name} revision {new}",
            )
        )

    # -- changing ---------------------------------------------------------------------

    def create(self, name: str, text: str, change: Change, what: str | None = None) -> Revision:
        """Store ``text`` as revision 1 of a guest the store does not know yet."""
        definition = check_definition(name, text, what or f"the XML of {name}")
        numbers = self.numbers(name)
        if numbers:
            raise Refused(
                f"{name} is already in the definition store (revision {numbers[-1]})",
                "edit it instead; to start its history again, purge it first",
            )
        self._check_uuid_unique(definition)
        os.makedirs(self._revisions_dir(name), exist_ok=True)
        return self._store(definition, None, change)

    def commit(
        self, name: str, text: str, base: int, change: Change, what: str | None = None
    ) -> Revision:
        """Store ``text`` as the revision after ``base``, if ``base`` is still the
        current one (else Conflict, naming who changed it meanwhile)."""
        what = what or f"the new XML of {name}"
        latest = self.latest(name)
        self._check_number(name, base)
        if base != latest:
            raise self._conflict(name, base, latest)
        definition = check_definition(name, text, what)
        old = check_definition(name, self.get(name, base), f"revision {base} of {name}")
        check_same_uuid(definition, old, what, base)
        if definition.text == old.text:
            raise BadRequest(f"{what} is the same as revision {base}", "there is nothing to store")
        return self._store(definition, base, change)

    def revert(self, name: str, number: int, change: Change, base: int | None = None) -> Revision:
        """A new revision whose XML is revision ``number``'s, made from ``base`` (None:
        the current revision)."""
        text = self.get(name, number)
        base = self.latest(name) if base is None else base
        if number == base or text == self.get(name, base):
            raise BadRequest(
                f"revision {number} of {name} is already the current definition",
                "there is nothing to revert",
            )
        why = change.why or f"revert to {number}"
        return self.commit(
            name, text, base, Change(change.who, change.when, why), f"revision {number} of {name}"
        )

    def purge(self, name: str) -> int:
        """Delete ``name``'s history and current definition; how many revisions it had.
        The directory is first renamed away, so nothing is left half-deleted under
        the guest's name."""
        count = len(self.numbers(name))
        if not count:
            self.latest(name)  # raises: not stored
        gone = tempfile.mkdtemp(dir=self.root, prefix=f".purged-{name}.")
        os.rename(self.guest_dir(name), os.path.join(gone, name))
        _sync_dir(self.root)
        shutil.rmtree(gone)
        return count

    # -- inside -----------------------------------------------------------------------

    def _check_uuid_unique(self, definition: Definition) -> None:
        """No two guests of the store share a UUID (libvirt would take them for one)."""
        for other in self.guests():
            if other == definition.name:
                continue
            try:
                theirs = check_definition(other, self.get(other), f"the XML of {other}")
            except HavirtError:
                continue  # a damaged guest is reported by its own commands
            if theirs.uuid == definition.uuid:
                raise Refused(
                    f"the UUID {definition.uuid} of {definition.name} is already that of "
                    f"{other} in the definition store",
                    "give the new guest its own <uuid> (uuidgen), or edit the existing one",
                )

    def _conflict(self, name: str, base: int, newer: int) -> Conflict:
        made = self.record(name, newer)
        return Conflict(
            f"{name} changed since revision {base}, which this change started from: "
            f"{made.describe()}",
            f"look at what changed (diff {base} {newer}) and make the change again on "
            f"revision {newer}",
        )

    def _store(self, definition: Definition, base: int | None, change: Change) -> Revision:
        name = definition.name
        if change.when.tzinfo is None:
            raise ValueError("a change's time must be timezone-aware")
        number = 1 if base is None else base + 1
        data = definition.text.encode("utf-8")
        if not _write_new(self._xml_path(name, number), data):
            raise (
                self._conflict(name, number - 1, number)
                if base
                else Refused(
                    f"{name} was just added to the definition store by someone else",
                    "look at its history, then edit it",
                )
            )
        revision = Revision(
            number=number,
            who=change.who,
            when=change.when.astimezone(dt.UTC).isoformat(timespec="seconds"),
            why=change.why,
            base=base,
            sha256=_sha256(definition.text),
        )
        record = json.dumps(revision.to_dict(), indent=2, sort_keys=True) + "\n"
        _write_new(self._record_path(name, number), record.encode("utf-8"))
        self._publish(name)
        return revision

    def _publish(self, name: str) -> None:
        """Make ``domain.xml`` the latest revision's XML. Whoever writes it last checks
        afterwards that no newer revision appeared meanwhile, and writes again if one
        did: two admins committing one after the other end with the newer XML."""
        while True:
            latest = self.latest(name)
            _replace(self.current_path(name), self.get(name, latest).encode("utf-8"))
            if self.latest(name) == latest:
                return
