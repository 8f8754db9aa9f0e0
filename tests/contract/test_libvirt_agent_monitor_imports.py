"""The guest agent's monitor never loads the storage lease check (it costs every monitor
its import, and a monitor has no use for it).

Asked of a fresh interpreter: in the unit suite's, another test has long loaded the
module, and making the interpreter forget it would mean patching ``sys.modules``. The
child runs the agent as the unit tests do, with their harness (the fake libvirt, host
and clock of tests/unit/agents), in a temporary directory: it reads nothing of this
host. It then starts the guest, which does load the check: the question the test asks
can be answered.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
LEASE_CHECK = "havirt.agents.guest.storage_lease"

CHILD = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path

    from conftest import Harness  # tests/unit/agents' harness (the ``h`` fixture's)

    h = Harness(Path(sys.argv[1]))
    guest = h.hv.add()
    for out in (h.run("monitor"), h.run("monitor", interval=0)):
        assert out.rc == 0, out
    print("after the monitors:", {LEASE_CHECK!r} in sys.modules)
    guest.destroy()
    out = h.run("start")
    assert out.rc == 0, out
    print("after a start:", {LEASE_CHECK!r} in sys.modules)
    """
)


def test_the_monitor_never_loads_the_lease_check(tmp_path: Path) -> None:
    path = [str(TESTS / "unit" / "agents"), str(TESTS)]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        env={"PYTHONPATH": ":".join(path), "PATH": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["after the monitors: False", "after a start: True"]
