"""Small per-resource state kept between agent runs, in HA_RSCTMP (emptied at boot).

It remembers the guest's identity (name and UUID) so a probe or stop can still
find a running copy when the configuration file has vanished from this node,
and the utilization last written to the CIB, so monitor writes only changes.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any


class ResourceState:
    def __init__(self, state_dir: str, agent: str, resource: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_.:-]", "_", resource)
        self.path = os.path.join(state_dir, f"havirt-{agent}-{safe}.json")
        self._data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any]:
        if self._data is None:
            try:
                with open(self.path, encoding="utf-8") as handle:
                    self._data = json.load(handle)
            except (OSError, ValueError):
                self._data = {}
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
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache we cannot write only costs speed, never correctness
