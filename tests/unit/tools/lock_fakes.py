"""A CIB store for the cluster lock's unit tests: the three operations the lock uses,
with cibadmin's meaning (create refuses an existing id, delete by XPath removes what
matches and is silent when nothing does). tests/contract/test_cluster_lock_pacemaker.py
runs the same script of operations on real cibadmin with a file-backed CIB and on
this fake, and requires the same answers and the same CIB."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from havirt.tools.cluster.env import ClusterEnv
from havirt.tools.cluster.lock import Holder, LockEnv, LockRecord
from lxml import etree

EMPTY = "<cib><configuration><crm_config/><nodes/><resources/><constraints/></configuration></cib>"


class FakeCibStore:
    def __init__(self, xml: str = EMPTY) -> None:
        self.root = etree.fromstring(xml)
        self.calls: list[str] = []

    def cib_xml(self, scope: str | None = None, *, timeout: float | None = None) -> str:
        self.calls.append(f"query {scope}")
        el = self.root if scope is None else self.root.find(f".//{scope}")
        return etree.tostring(el, encoding="unicode")

    def create_element(self, scope: str, xml: str, *, timeout: float | None = None) -> bool:
        self.calls.append(f"create {scope}")
        new = etree.fromstring(xml)
        ids = {el.get("id") for el in new.iter() if el.get("id")}
        if any(el.get("id") in ids for el in self.root.iter()):
            return False
        self.root.find(f".//{scope}").append(new)
        return True

    def delete_where(self, xpath: str, *, timeout: float | None = None) -> None:
        self.calls.append("delete")
        for el in self.root.xpath(xpath):
            el.getparent().remove(el)

    def crm_config(self) -> str:
        return etree.tostring(self.root.find(".//crm_config"), encoding="unicode")


T0 = dt.datetime(2026, 12, 3, 14, 0, 0, tzinfo=dt.UTC)


@dataclass
class World:
    """A virtual clock shared by all admins, with events due at given seconds (another
    admin's command ending, say) that happen while someone sleeps past them."""

    seconds: float = 0.0
    events: list[tuple[float, Callable[[], object]]] = field(default_factory=list)
    origin: dt.datetime = T0  # the wall clock at second 0

    def at(self, second: float, event: Callable[[], object]) -> None:
        self.events.append((second, event))
        self.events.sort(key=lambda e: e[0])

    def advance(self, seconds: float) -> None:
        end = self.seconds + seconds
        while self.events and self.events[0][0] <= end:
            when, event = self.events.pop(0)
            self.seconds = max(self.seconds, when)
            event()
        self.seconds = end

    def now(self) -> dt.datetime:
        return self.origin + dt.timedelta(seconds=self.seconds)


@dataclass
class Admin:
    """One admin's havirt process: who it is, and the lock's world as it sees it."""

    world: World
    host: str = "node2"
    pid: int = 4242
    user: str = "root"
    process_start: int = 1_800_000_000
    gone: set[int] = field(default_factory=set)  # PIDs no longer running on this host
    tokens: int = 0
    log: list[str] = field(default_factory=list)

    def env(self) -> LockEnv:
        def sleep(seconds: float) -> None:
            self.log.append(f"sleep {seconds:g}")
            self.world.advance(seconds)

        def token() -> str:
            self.tokens += 1
            return f"{self.host}p{self.pid}t{self.tokens}"

        def waiting(record: LockRecord) -> None:
            self.log.append(f"waiting for {record.holder.command}")

        return LockEnv(
            me=Holder("", self.user, self.host, self.pid, self.process_start),
            now=self.world.now,
            monotonic=lambda: self.world.seconds,
            sleep=sleep,
            alive=lambda pid, start: pid not in self.gone,
            new_token=token,
            waiting=waiting,
        )

    def cluster_env(
        self, pacemaker: object, progress: Callable[..., None] | None = None
    ) -> ClusterEnv:
        """A command's whole environment on this world's virtual clock, with ``pacemaker``
        (a fake adapter) as the cluster."""
        lock = self.env()
        env = ClusterEnv(
            pacemaker=pacemaker,  # type: ignore[arg-type]
            monotonic=lock.monotonic,
            now=lock.now,
            sleep=lock.sleep,
            lock=lock,
        )
        return env.reporting(progress) if progress is not None else env
