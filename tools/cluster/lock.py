"""One admin at a time: the cluster-wide lock of havirt's commands that move guests.

``node standby``, ``node unstandby``, ``balance``, ``place`` and ``cluster
maintenance`` each check the cluster (is there room? what would the scheduler
do?) and then act. Two of them at once, from two admins or two nodes, can each
pass its check and together stop a guest. So each takes this lock first, reads
the cluster under it, and releases it when it has followed its guests.

The lock is one element of the CIB (``crm_config``, a property set with the id
``havirt-lock`` that Pacemaker ignores), so every node sees the same one:

* taken with ``cibadmin --create``: the CIB manager refuses a second element
  with the same id, so of two admins exactly one gets it;
* released with a delete that matches the holder's random token, so a command
  never removes a lock it no longer holds;
* it names its holder (command, user, node, PID) and says when it was taken and
  when it expires. A command killed with SIGKILL cannot release it: the next
  one takes it over once it has expired, or at once when the holder ran on the
  same node and its process is gone. ``havirt cluster unlock`` removes it by
  hand.

A command that finds the lock held refuses (nothing changed), naming the holder,
or waits for it up to ``--wait-lock`` seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from havirt.tools.errors import HavirtError, Refused

# lxml (and userinput, which uses it) are imported where the CIB is read or written:
# `havirt --help` loads this module through the commands and must stay light.

LOCK_ID = "havirt-lock"
SCOPE = "crm_config"
LOCK_POLL = 2.0  # seconds between attempts while waiting for the lock
# The lock outlives the command's own timeout by this much: reading the cluster and
# asking the scheduler come on top of the wait for the guests.
LOCK_MARGIN = 300.0
FIELDS = ("token", "command", "user", "host", "pid", "process-start", "since", "expires")


class LockStore(Protocol):
    """The CIB operations the lock needs (the Pacemaker adapter has them)."""

    def cib_xml(self, scope: str | None = None, *, timeout: float | None = None) -> str: ...

    def create_element(self, scope: str, xml: str, *, timeout: float | None = None) -> bool: ...

    def delete_where(self, xpath: str, *, timeout: float | None = None) -> None: ...


@dataclass(frozen=True)
class Holder:
    """Who runs a command: what a second admin is told, and how a dead holder is known."""

    command: str  # e.g. "node standby node1"
    user: str
    host: str
    pid: int
    process_start: int = 0  # when the process started (epoch seconds): a reused PID is not it


@dataclass(frozen=True)
class LockRecord:
    token: str
    holder: Holder
    since: dt.datetime | None
    expires: dt.datetime | None  # None: unreadable, never expires by itself

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and now >= self.expires

    def describe(self, now: dt.datetime) -> str:
        """``'havirt node standby node1' by root on node2 (pid 4242), taken 14:02:11 UTC
        (95 s ago), expires 14:12:11 UTC``."""
        h = self.holder
        text = f"'havirt {h.command}' by {h.user} on {h.host} (pid {h.pid})"
        if self.since is not None:
            ago = max(0, int((now - self.since).total_seconds()))
            text += f", taken {_clock(self.since)} ({ago} s ago)"
        if self.expires is None:
            text += ", with no readable expiry"
        else:
            text += f", {'expired' if self.expired(now) else 'expires'} {_clock(self.expires)}"
        return text

    def to_dict(self) -> dict[str, Any]:
        h = self.holder
        return {
            "command": h.command,
            "user": h.user,
            "host": h.host,
            "pid": h.pid,
            "since": _iso(self.since) if self.since else None,
            "expires": _iso(self.expires) if self.expires else None,
        }


@dataclass
class LockEnv:
    """What the lock needs from the world, passed in (the CLI gives the real one)."""

    me: Holder  # this process (its command is set by acquire)
    now: Callable[[], dt.datetime]  # wall clock, UTC: the lock's times are read on every node
    monotonic: Callable[[], float]
    sleep: Callable[[float], None]
    alive: Callable[[int, int], bool]  # (pid, process start) still runs on this node
    new_token: Callable[[], str]
    waiting: Callable[[LockRecord], None] = lambda record: None  # progress while waiting


class LockHeld(Refused):
    """The lock is held by another command; nothing was changed."""

    def __init__(self, record: LockRecord, now: dt.datetime, waited: float) -> None:
        waited_text = f" (waited {waited:.0f} s)" if waited else ""
        super().__init__(
            f"another havirt command holds the cluster lock{waited_text}: "
            f"{record.describe(now)}; nothing was changed",
            "wait for it to finish (--wait-lock SECONDS waits for you); if that command "
            "is gone for good, 'havirt cluster unlock' removes its lock",
        )
        self.record = record


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%H:%M:%S UTC")


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return when.replace(tzinfo=dt.UTC)


def _int(text: str | None) -> int:
    try:
        return int(text or "0")
    except ValueError:
        return 0


def _token_xpath(token: str | None) -> str:
    path = f"//{SCOPE}/cluster_property_set[@id='{LOCK_ID}']"
    if token is not None:
        if not token.isalnum():  # ours are hex; anything else cannot be quoted in XPath
            raise HavirtError(f"the cluster lock's token {token!r} is not usable")
        path += f"[nvpair[@name='{LOCK_ID}-token'][@value='{token}']]"
    return path


def read_lock(store: LockStore) -> LockRecord | None:
    """The lock as the CIB holds it now, or None when nobody holds it."""
    from havirt.tools.userinput import parse_xml

    crm_config = parse_xml(store.cib_xml(SCOPE), "the CIB's crm_config")
    found = crm_config.find(f".//cluster_property_set[@id='{LOCK_ID}']")
    if found is None:
        return None
    values = {
        (nv.get("name") or "").removeprefix(f"{LOCK_ID}-"): nv.get("value") or ""
        for nv in found.iterfind("nvpair")
    }
    holder = Holder(
        command=values.get("command") or "?",
        user=values.get("user") or "?",
        host=values.get("host") or "?",
        pid=_int(values.get("pid")),
        process_start=_int(values.get("process-start")),
    )
    return LockRecord(
        token=values.get("token", ""),
        holder=holder,
        since=_time(values.get("since")),
        expires=_time(values.get("expires")),
    )


def _element(record: LockRecord) -> str:
    from lxml import etree

    h = record.holder
    values = {
        "token": record.token,
        "command": h.command,
        "user": h.user,
        "host": h.host,
        "pid": str(h.pid),
        "process-start": str(h.process_start),
        "since": _iso(record.since) if record.since else "",
        "expires": _iso(record.expires) if record.expires else "",
    }
    el = etree.Element("cluster_property_set", id=LOCK_ID)
    for name in FIELDS:
        pair = f"{LOCK_ID}-{name}"
        etree.SubElement(el, "nvpair", id=pair, name=pair, value=values[name])
    return etree.tostring(el, encoding="unicode")


def _abandoned(record: LockRecord, env: LockEnv, now: dt.datetime) -> str | None:
    """Why the holder can no longer release its lock (None: it may still)."""
    if record.expired(now):
        return "it expired"
    h = record.holder
    if h.host == env.me.host and h.pid > 0 and not env.alive(h.pid, h.process_start):
        return f"its process (pid {h.pid} on {h.host}) is gone"
    return None


class ClusterLock:
    """A lock this process holds; release it once (a context manager releases on exit)."""

    def __init__(self, store: LockStore, record: LockRecord, taken_over: str | None = None) -> None:
        self.store = store
        self.record = record
        self.taken_over = taken_over  # what was said of the previous holder, if any
        self.released = False

    def release(self) -> None:
        """Remove the lock if it is still ours (a compare-and-delete on the token)."""
        if not self.released:
            self.store.delete_where(_token_xpath(self.record.token))
            self.released = True

    def held(self) -> bool:
        """Whether the CIB still holds this lock (not expired and taken over)."""
        current = read_lock(self.store)
        return current is not None and current.token == self.record.token

    def __enter__(self) -> ClusterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(
    store: LockStore, command: str, env: LockEnv, *, ttl: float, wait: float = 0.0
) -> ClusterLock:
    """Take the cluster lock for ``command`` (e.g. ``"node standby node1"``), waiting up to
    ``wait`` seconds for another holder; raise :class:`LockHeld` when it stays held."""
    if not ttl > 0:
        raise HavirtError(f"the cluster lock's lifetime must be positive, not {ttl!r}")
    start = env.monotonic()
    last_seen: str | None = None
    taken_over: str | None = None
    while True:
        now = env.now().astimezone(dt.UTC).replace(microsecond=0)
        mine = LockRecord(
            token=env.new_token(),
            holder=replace(env.me, command=command),
            since=now,
            expires=now + dt.timedelta(seconds=ttl),
        )
        if store.create_element(SCOPE, _element(mine)):
            return ClusterLock(store, mine, taken_over)
        current = read_lock(store)
        if current is None:  # released between our attempt and our look: try again
            continue
        why = _abandoned(current, env, now)
        if why is not None:
            # Only this holder's lock goes: if another admin took it over meanwhile,
            # the token differs and nothing is deleted.
            store.delete_where(_token_xpath(current.token or None))
            taken_over = f"took over the lock of {current.describe(now)}: {why}"
            continue
        waited = env.monotonic() - start
        if waited >= wait:
            raise LockHeld(current, now, waited)
        if current.token != last_seen:
            env.waiting(current)
            last_seen = current.token
        env.sleep(min(LOCK_POLL, max(0.0, wait - waited)))


def break_lock(store: LockStore, token: str | None = None) -> LockRecord | None:
    """Remove the lock whoever holds it (``token``: only if it is still that one).
    Returns what was removed, None when there was no lock."""
    current = read_lock(store)
    if current is None or (token is not None and current.token != token):
        return None
    store.delete_where(_token_xpath(current.token or None))
    return current


__all__ = [
    "LOCK_ID",
    "LOCK_MARGIN",
    "ClusterLock",
    "Holder",
    "LockEnv",
    "LockHeld",
    "LockRecord",
    "LockStore",
    "acquire",
    "break_lock",
    "read_lock",
]
