from __future__ import annotations

import pytest
from runner_queue import QueueRunner


@pytest.fixture
def runner_queue():
    """A QueueRunner whose unused expected calls fail the test."""
    runner = QueueRunner()
    yield runner
    runner.check_all_used()
