"""A typed view of what Pacemaker hands an agent in its environment."""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

RESKEY_PREFIX = "OCF_RESKEY_"
META_PREFIX = "OCF_RESKEY_CRM_meta_"


def _ms(text: str | None) -> int | None:
    """Pacemaker passes times in milliseconds; tolerate junk by ignoring it."""
    if text is None or text.strip() == "":
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


class Deadline:
    """A point in monotonic time an action must answer by."""

    def __init__(self, seconds: float, clock: Callable[[], float] | None = None) -> None:
        # The host's clock (``Host.monotonic``) in an agent; a fake one in a test.
        self._clock = clock = time.monotonic if clock is None else clock
        self.total = seconds
        self.end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def sooner(self, margin: float) -> Deadline:
        """A deadline ``margin`` seconds before this one (never in the past)."""
        child = Deadline(0.0, self._clock)
        child.end = max(self._clock(), self.end - margin)
        child.total = self.total - margin
        return child

    def within(self, seconds: float) -> Deadline:
        """A deadline at most ``seconds`` from now, never later than this one."""
        child = Deadline(0.0, self._clock)
        child.end = min(self.end, self._clock() + seconds)
        child.total = seconds
        return child


class OcfEnvironment:
    def __init__(
        self,
        action: str,
        resource: str,
        reskeys: dict[str, str] | None = None,
        meta: dict[str, str] | None = None,
        raw: Mapping[str, str] | None = None,
    ) -> None:
        self.action = action
        self.resource = resource
        self.reskeys = {} if reskeys is None else reskeys  # OCF_RESKEY_* without prefix
        self.meta = {} if meta is None else meta  # OCF_RESKEY_CRM_meta_* without prefix
        self.raw: Mapping[str, str] = {} if raw is None else raw

    @classmethod
    def from_environ(cls, action: str, environ: Mapping[str, str] | None = None) -> OcfEnvironment:
        environ = os.environ if environ is None else environ
        reskeys: dict[str, str] = {}
        meta: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith(META_PREFIX):
                meta[key[len(META_PREFIX) :]] = value
            elif key.startswith(RESKEY_PREFIX):
                reskeys[key[len(RESKEY_PREFIX) :]] = value
        resource = environ.get("OCF_RESOURCE_INSTANCE") or "undef"
        return cls(action=action, resource=resource, reskeys=reskeys, meta=meta, raw=environ)

    @property
    def interval_ms(self) -> int:
        return _ms(self.meta.get("interval")) or 0

    @property
    def timeout_ms(self) -> int | None:
        return _ms(self.meta.get("timeout"))

    @property
    def is_monitor(self) -> bool:
        return self.action in ("monitor", "status")

    @property
    def is_probe(self) -> bool:
        # Pacemaker runs probes as monitors with interval 0. A hand-run monitor
        # without any interval is treated as a probe too: both must answer
        # "not running" only when that is known to be true.
        return self.is_monitor and self.interval_ms == 0

    @property
    def check_level(self) -> int:
        text = self.raw.get("OCF_CHECK_LEVEL") or self.meta.get("depth") or "0"
        try:
            return int(text)
        except ValueError:
            return 0

    @property
    def node_name(self) -> str | None:
        return self.meta.get("on_node") or self.raw.get("HA_node_name") or None

    @property
    def migrate_source(self) -> str | None:
        return self.meta.get("migrate_source") or None

    @property
    def migrate_target(self) -> str | None:
        return self.meta.get("migrate_target") or None

    @property
    def state_dir(self) -> str:
        """Where an agent keeps small per-resource state; emptied at boot."""
        return self.raw.get("HA_RSCTMP") or "/run/resource-agents"

    @property
    def ocf_version(self) -> tuple[int, int]:
        """The OCF version the caller speaks; (1, 0) when it does not say."""
        try:
            return (
                int(self.raw.get("OCF_RA_VERSION_MAJOR", "1")),
                int(self.raw.get("OCF_RA_VERSION_MINOR", "0")),
            )
        except ValueError:
            return (1, 0)

    def deadline(
        self, default_seconds: float, clock: Callable[[], float] | None = None
    ) -> Deadline:
        timeout_ms = self.timeout_ms
        seconds = timeout_ms / 1000.0 if timeout_ms and timeout_ms > 0 else default_seconds
        return Deadline(seconds, clock)
