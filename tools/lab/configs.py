"""The node-private config files a lab node's daemons read, rendered as text: libvirtd's,
QEMU's and its lock manager's (libvirt-style ``key = value``), and /etc/hosts."""

from __future__ import annotations

import json
from collections.abc import Mapping

from havirt.tools.lab.ssh import LIBVIRT_GROUP


def _conf_value(value: str | int) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value)


def render_conf(settings: Mapping[str, str | int | list[str]]) -> str:
    """A libvirt-style ``key = value`` config file."""
    lines = ["# Written by havirt.tools.lab; node-private copy."]
    for key, value in settings.items():
        if isinstance(value, list):
            text = "[ " + ", ".join(_conf_value(v) for v in value) + " ]"
        else:
            text = _conf_value(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def libvirtd_conf(address: str, host_uuid: str) -> str:
    return render_conf(
        {
            "listen_tls": 0,
            "listen_tcp": 1,
            "listen_addr": address,
            "auth_tcp": "none",
            "auth_unix_ro": "none",
            "auth_unix_rw": "none",
            # A non-root user in the libvirt group manages libvirt, as on Debian hosts.
            "unix_sock_group": LIBVIRT_GROUP,
            "unix_sock_rw_perms": "0770",
            "host_uuid": host_uuid,
            "log_outputs": "3:file:/var/log/libvirt/libvirtd.log",
        }
    )


def qemu_conf(lock_manager: bool = False) -> str:
    settings: dict[str, str | int | list[str]] = {
        "namespaces": [],  # /dev/kvm is hidden: a per-guest /dev would fail to set up
        "user": "root",
        "group": "root",
        "dynamic_ownership": 0,
        "remember_owner": 0,
        "security_driver": "none",
    }
    if lock_manager:
        settings["lock_manager"] = "lockd"
    return render_conf(settings)


def qemu_lockd_conf(lockspace_dir: str) -> str:
    """Leases for every disk, taken on hash-named files in a directory all nodes share."""
    return render_conf(
        {
            "auto_disk_leases": 1,
            "require_lease_for_disks": 1,
            "file_lockspace_dir": lockspace_dir,
        }
    )


def hosts_file(addresses: Mapping[str, str]) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{name}" for name, address in addresses.items()]
    return "\n".join(lines) + "\n"
