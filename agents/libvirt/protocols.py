"""What the agents use of the libvirt boundary, as Protocols.

The agents name these in their type hints, never ``boundary``'s classes: the real
boundary (``boundary.Hypervisor``, ``Domain``, ``StoragePool``, ``MigrationJob``) and the
tests' fake (``tests/fakes/libvirt.py``) both implement them, and mypy checks both
(``LibvirtEnv.hypervisor`` returns the real one as a ``Hypervisor``; the fake's module
asserts its own classes are these). What the fake does is checked against libvirt's
test driver by tests/contract/test_libvirt_fake_conformance.py.

Type-checking only: the agents import this module under ``TYPE_CHECKING`` (it imports
``typing``, which the monitor must not pay for).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt.boundary import DomainInfo, JobProgress


class MigrationJob(Protocol):
    """A live migration running on its own: follow it with ``wait``."""

    @property
    def error(self) -> BaseException | None:
        """Why the migration failed, once it ended (None: it did not fail)."""

    def wait(self, seconds: float) -> bool:
        """True once the migration ended; waits at most ``seconds`` for that."""


class Domain(Protocol):
    """One guest, seen through one connection."""

    @property
    def name(self) -> str: ...

    @property
    def uuid(self) -> str: ...

    def state(self, limit: float | None = None) -> DomainState: ...

    def is_persistent(self) -> bool: ...

    def xml(self, inactive: bool = False, secure: bool = True) -> str: ...

    def vcpus_and_memory(self) -> tuple[int, int]: ...

    def shutdown(self, modes: list[str]) -> None: ...

    def destroy(self, graceful: bool = False) -> None: ...

    def undefine(self) -> None: ...

    def start(self) -> None: ...

    def save(self, path: str) -> None: ...

    def set_migration_speed(self, mib_per_s: int) -> None: ...

    def set_migration_downtime(self, ms: int) -> None: ...

    def job_progress(self, limit: float | None = None) -> JobProgress: ...

    def abort_job(self, seconds: float) -> None: ...

    def start_migration(
        self, dest_uri: str, migrate_uri: str | None, flags: int, bandwidth: int, seconds: float
    ) -> MigrationJob: ...

    def agent_ping(self, seconds: int) -> None: ...


class StoragePool(Protocol):
    """One storage pool, seen through one connection."""

    @property
    def name(self) -> str: ...

    @property
    def uuid(self) -> str: ...

    def is_active(self) -> bool: ...

    def is_persistent(self) -> bool: ...

    def autostart(self) -> bool: ...

    def xml(self, inactive: bool = False) -> str: ...

    def build(self) -> None: ...

    def start(self) -> None: ...

    def destroy(self) -> None: ...

    def volume_paths(self) -> list[str]: ...


class Hypervisor(Protocol):
    """A connection to one libvirt daemon, opened lazily: ``uri`` as given (None:
    libvirt's default); ``reserve`` is the time kept back from every call's deadline."""

    uri: str | None
    reserve: float

    @property
    def actual_uri(self) -> str: ...

    def connect(self) -> None: ...

    def lookup(self, name: str | None = None, uuid: str | None = None) -> Domain | None: ...

    def domains(self) -> list[DomainInfo]: ...

    def running_domains(self) -> Sequence[Domain]: ...

    def create(self, xml: str) -> Domain: ...

    def define(self, xml: str) -> Domain: ...

    def restore(self, path: str) -> None: ...

    def ensure_pool_active(self, name: str) -> bool: ...

    def ensure_network_active(self, name: str) -> bool: ...

    def lookup_pool(self, name: str) -> StoragePool | None: ...

    def define_pool(self, xml: str) -> StoragePool: ...

    def close(self) -> None: ...
