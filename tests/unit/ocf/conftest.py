from __future__ import annotations

import syslog

import pytest
from ocf_toy import ToyAgent


@pytest.fixture(autouse=True)
def fake_syslog(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """No test writes to the real syslog; what would have been sent is recorded."""
    sent: list[tuple] = []
    monkeypatch.setattr(syslog, "openlog", lambda *a, **k: sent.append(("openlog", *a)))
    monkeypatch.setattr(syslog, "syslog", lambda *a: sent.append(("syslog", *a)))
    return sent


@pytest.fixture
def toy() -> ToyAgent:
    return ToyAgent()
