"""``havirt install-agents``: the resource agents into Pacemaker's OCF root."""

from __future__ import annotations

from dataclasses import asdict

import click
from havirt.tools.cli.common import emit


@click.command("install-agents")
@click.option(
    "--ocf-root", metavar="DIR", help="OCF root (default: from pkg-config, else /usr/lib/ocf)."
)
@click.option(
    "--fence-dir",
    metavar="DIR",
    default="/usr/sbin",
    show_default=True,
    help="Where Pacemaker looks for fence agents.",
)
@click.option(
    "--uninstall", is_flag=True, help="Remove exactly the files a previous install wrote."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def install_agents(ocf_root: str | None, fence_dir: str, uninstall: bool, as_json: bool) -> None:
    """Install the resource agents into $OCF_ROOT/resource.d/havirt/."""
    from havirt.tools import install

    root = ocf_root or install.default_ocf_root()
    if uninstall:
        report = install.uninstall(root)
        lines = [f"removed {p}" for p in report.removed] + [
            f"kept {p} (changed since it was installed)" for p in report.kept
        ]
        human = "\n".join(lines) or f"nothing of havirt's is installed under {root}"
    else:
        report = install.install(root, fence_dir)
        human = "\n".join(f"installed {f.path}" for f in report.written)
    emit(asdict(report), as_json, human)
