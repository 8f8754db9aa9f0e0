"""The `havirt` command: parses arguments and renders results, nothing more."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

import click

from .errors import HavirtError


def _emit(data: Any, as_json: bool, human: str) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        click.echo(human)


class HavirtGroup(click.Group):
    """Turns HavirtError into a clear message and a non-zero exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HavirtError as exc:
            click.echo(f"havirt: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=HavirtGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="havirt")
def main() -> None:
    """High availability for libvirt/KVM guests on Pacemaker/Corosync."""


@main.command("install-agents")
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
    from . import install

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
    _emit(asdict(report), as_json, human)
