from __future__ import annotations

import pytest
from ocf_toy import ToyAgent


@pytest.fixture
def toy() -> ToyAgent:
    return ToyAgent()
