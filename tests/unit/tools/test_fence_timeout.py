"""[policies] fence_timeout: the fence devices' start and monitor timeouts in the CIB."""

from __future__ import annotations

from havirt.tools.generate import cib_plan as cibgen
from havirt.tools.inventory import load_text
from test_inventory_loader import BASE


def _fence_ops(policies: str) -> set[tuple[str, str, str | None]]:
    text = BASE.replace("[guest_defaults]", policies + "\n[guest_defaults]")
    plan = cibgen.plan(load_text(text, "c.toml"))
    fences = [r for r in plan.resources if getattr(r, "standard", None) == "stonith"]
    assert fences
    ops = {tuple((op.name, op.interval, op.timeout) for op in f.ops) for f in fences}
    (only,) = ops  # every device alike
    return set(only)


def test_unset_leaves_pacemakers_default() -> None:
    assert _fence_ops("") == {("monitor", cibgen.FENCE_MONITOR, None)}


def test_set_times_the_start_and_the_monitor() -> None:
    assert _fence_ops('[policies]\nfence_timeout = "90s"\n') == {
        ("start", "0s", "90s"),
        ("monitor", cibgen.FENCE_MONITOR, "90s"),
    }
