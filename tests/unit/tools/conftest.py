from __future__ import annotations

from pathlib import Path

import pytest
from runner_queue import QueueRunner

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "cluster-templates"
DATA = Path(__file__).parent / "data"


@pytest.fixture
def runner_queue():
    """A QueueRunner whose unused expected calls fail the test."""
    runner = QueueRunner()
    yield runner
    runner.check_all_used()
