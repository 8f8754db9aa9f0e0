"""``havirt lab vagrant-host up|status|down``: the Vagrant lab's outer host in namespaces."""

from __future__ import annotations

import sys

import click
from havirt.tools.cli.common import emit


@click.group("vagrant-host")
def vagrant_host_group() -> None:
    """The Vagrant lab's outer host on a machine without a libvirtd of its own.

    A set of namespaces with its own libvirtd, storage pool and networks, where
    vagrant-libvirt puts the lab's machines; the Vagrantfile starts it before
    'vagrant up' and takes it down after the last 'vagrant destroy'
    (docs/vagrant-lab.md). Needs root.
    """


def _render(view: object) -> str:
    from havirt.tools.lab.vagrant_host import VagrantHost

    assert isinstance(view, VagrantHost)
    if not view.up:
        return "Vagrant lab outer host: down"
    machines = ", ".join(view.domains) or "none"
    return "\n".join(
        [
            "Vagrant lab outer host: up",
            f"  libvirt:   {view.uri}",
            f"  namespace: {view.netns} (ip netns exec {view.netns} COMMAND)",
            f"  machines:  {machines}",
        ]
    )


@vagrant_host_group.command("up")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def vagrant_host_up(as_json: bool) -> None:
    """Start the outer host unless it is up (idempotent)."""
    from havirt.tools.lab import vagrant_host

    view = vagrant_host.up()
    emit(view.to_dict(), as_json, _render(view))


@vagrant_host_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def vagrant_host_status(as_json: bool) -> None:
    """Whether the outer host is up, and the machines it holds (exit 3: down)."""
    from havirt.tools.lab import vagrant_host

    view = vagrant_host.status()
    emit(view.to_dict(), as_json, _render(view))
    if not view.up:
        sys.exit(3)


@vagrant_host_group.command("authorize")
@click.argument("public_key", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def vagrant_host_authorize(public_key: str, as_json: bool) -> None:
    """Let PUBLIC_KEY log in as root on the outer host (restricted: no terminal, no
    forwarding), as fence_havirt on the lab's machines does. Idempotent."""
    from havirt.tools.lab import vagrant_host

    added = vagrant_host.authorize(public_key)
    text = f"{public_key}: {'authorized' if added else 'already authorized'} on the outer host"
    emit({"key": public_key, "added": added}, as_json, text)


@vagrant_host_group.command("down")
@click.option(
    "--if-empty", is_flag=True, help="Only when no machine is left in it (after vagrant destroy)."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def vagrant_host_down(if_empty: bool, as_json: bool) -> None:
    """Take the outer host down: every machine, network, volume and process in it."""
    from havirt.tools.lab import vagrant_host

    gone = vagrant_host.down(only_if_empty=if_empty)
    text = "Vagrant lab outer host taken down" if gone else "Vagrant lab outer host left as it is"
    emit({"taken_down": gone}, as_json, text)
