"""Small per-resource state kept between agent runs, in HA_RSCTMP (emptied at boot).

Stored with ``marshal`` (a cache cleared at boot; an unreadable file is a miss).
It remembers the guest's identity (name and UUID) so a probe or stop can still
find a running copy when the configuration file has vanished from this node,
and the utilization last written to the CIB, so monitor writes only changes.
"""

from __future__ import annotations

import marshal  # built in: json would import re, and this runs at every monitor
import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from typing import Any


class ResourceState:
    def __init__(self, state_dir: str, agent: str, resource: str) -> None:
        safe = "".join(c if c.isascii() and (c.isalnum() or c in "_.:-") else "_" for c in resource)
        self.path = os.path.join(state_dir, f"havirt-{agent}-{safe}.state")
        self._data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any]:
        if self._data is None:
            try:
                with open(self.path, "rb") as handle:
                    data = marshal.load(handle)
                self._data = data if isinstance(data, dict) else {}
            except (OSError, ValueError, EOFError, TypeError):
                self._data = {}  # missing, damaged or from another Python: start afresh
        return self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self.load().get(key, default)

    def update(self, **values: Any) -> None:
        data = self.load()
        if all(data.get(k) == v for k, v in values.items()):
            return
        data.update(values)
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            tmp = f"{self.path}.{os.getpid()}"
            with open(tmp, "wb") as handle:
                marshal.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache we cannot write only costs speed, never correctness
