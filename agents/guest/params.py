"""The parameters and actions of ocf:havirt:VirtualDomain, declared once.

Names and meanings match ocf:heartbeat:VirtualDomain so a resource can switch
agents by changing only its type. Where the stock default is a trap, the
default differs and docs/migrating-from-heartbeat.md says why.
"""

from __future__ import annotations

from havirt.agents.guest import migration
from havirt.ocf.agent import ActionSpec, admin_actions, monitor_actions
from havirt.ocf.params import Parameter, parse_bool, shown

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from collections.abc import Callable

SHUTDOWN_MODE_NAMES = ("acpi", "agent", "initctl", "signal", "paravirt")
_SUFFIX_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def _check_uri(what: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value == "":
            return None
        return migration.check_uri(value.replace("%n", "node"), what)

    return check


def _check_shutdown_mode(value: str) -> str | None:
    if value == "":
        return None
    modes = [m.strip() for m in value.split(",")]
    bad = [m for m in modes if m not in SHUTDOWN_MODE_NAMES]
    if bad:
        return (
            f"unknown shutdown mode '{','.join(bad)}' "
            f"(use one or more of {', '.join(SHUTDOWN_MODE_NAMES)}, comma-separated)"
        )
    return None


def _check_user(value: str) -> str | None:
    if value and not migration.valid_user(value):
        return f"{shown(value)} is not a valid user name"
    return None


def _check_transport(value: str) -> str | None:
    if value not in migration.TRANSPORTS:
        return f"unknown transport {shown(value)} (one of: {', '.join(migration.TRANSPORTS[1:])})"
    return None


def _check_options(value: str) -> str | None:
    try:
        migration.parse_migrate_options(value)
    except migration.MigrationConfigError as exc:
        return str(exc)
    return None


def lease_requirement(value: str | None) -> str | None:
    """require_storage_lease as "auto", "true" or "false"; None when malformed."""
    word = (value or "").strip().lower()
    if word in ("", "auto"):
        return "auto"
    flag = parse_bool(word)
    return None if flag is None else str(flag).lower()


def _check_lease_requirement(value: str) -> str | None:
    if lease_requirement(value) is None:
        return f"{shown(value)} is not auto, true or false"
    return None


def _check_port(value: int) -> str | None:
    if not 1 <= value <= 65535:
        return f"{value} is not a TCP port (1-65535)"
    return None


def _check_suffix(value: str) -> str | None:
    if value and not set(value) <= _SUFFIX_CHARS:
        return f"{shown(value)} is not a host name suffix (letters, digits and '-' only)"
    return None


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "config",
        "Virtual domain configuration file",
        "Absolute path to the guest's libvirt XML definition. It must exist on every node "
        "that may run the guest (shared storage or copied by configuration management). "
        "The guest is started from this file as a transient domain, so libvirt never "
        "autostarts it behind Pacemaker's back.",
        required=True,
        unique=True,
    ),
    Parameter(
        "hypervisor",
        "Hypervisor URI",
        "libvirt URI of the local hypervisor, e.g. qemu:///system. Empty means libvirt's "
        "default URI (see 'virsh uri'). Shell characters (; | $ ...) and, for qemu, a path "
        "other than /system or /session are refused.",
        check=_check_uri("hypervisor"),
    ),
    Parameter(
        "force_stop",
        "Always force shutdown on stop",
        "Destroy the guest on stop instead of asking it to shut down first. Use it only for "
        "guests that cannot shut down gracefully.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "migration_transport",
        "Remote hypervisor transport",
        "Transport used to reach the target node's libvirt when migrating (ssh, tcp, tls, "
        "...). Empty uses the transport of the hypervisor URI.",
        default="",
        reloadable=True,
        check=_check_transport,
    ),
    Parameter(
        "migration_user",
        "Remote username for the remoteuri",
        "User in the remote URI for migration (e.g. a non-root user in the libvirt group). "
        "Ignored when remoteuri is set.",
        reloadable=True,
        check=_check_user,
    ),
    Parameter(
        "migration_downtime",
        "Live migration downtime",
        "Maximum tolerated downtime of the guest at the end of a live migration. Set before "
        "the migration starts (the stock agent sets it two seconds into the migration). "
        "0 keeps libvirt's default; at most 600000 (ten minutes).",
        type="integer",
        default="0",
        minimum=0,
        maximum=600000,  # ten minutes of a paused guest is an outage, not a migration
        unit="milliseconds",
        reloadable=True,
    ),
    Parameter(
        "migration_speed",
        "Live migration speed",
        "Bandwidth limit of a live migration. Set before the migration starts. 0 means no "
        "limit; at most 1048576.",
        type="integer",
        default="0",
        minimum=0,
        maximum=1 << 20,  # 1 TiB/s; libvirt takes an unsigned long of MiB/s
        unit="MiB/s",
        reloadable=True,
    ),
    Parameter(
        "migration_network_suffix",
        "Migration network host name suffix",
        "Migrate over a dedicated network: this suffix is appended to the target node name "
        "(before the first dot of an FQDN), e.g. 'node2' becomes 'node2-mig'. The resulting "
        "name must resolve to the target's address on that network. Applies to the remote "
        "URI and to the migration URI.",
        default="",
        reloadable=True,
        check=_check_suffix,
    ),
    Parameter(
        "migrateuri",
        "Custom migrateuri for migration state transfer",
        "URI for the migration data stream, when the computed one does not fit. '%n' stands "
        "for the target node name. Overrides migration_network_suffix, migrateport and "
        "--migrateuri in migrate_options.",
        reloadable=True,
        # libvirt accepts more here than URIs (tcp:host:port, a bare host for Xen).
        check=lambda v: None if v == "" else migration.check_migrateuri(v),
    ),
    Parameter(
        "migrate_options",
        "live migrate options",
        "Extra 'virsh migrate' switches, e.g. '--p2p --tunnelled' or '--unsafe'. They are "
        "parsed and checked (an unknown switch is a configuration error, not a failed "
        "migration) and applied as libvirt flags. '--migrateuri=URI' is accepted; '%n' "
        "stands for the target node name.",
        reloadable=True,
        check=_check_options,
    ),
    Parameter(
        "monitor_scripts",
        "space-separated list of monitor scripts",
        "Executables run at every monitor of a running guest (as with the stock agent); "
        "any non-zero exit fails the monitor. start and migrate_from wait until they all "
        "pass, so give those operations enough timeout.",
        default="",
        reloadable=True,
    ),
    Parameter(
        "autoset_utilization_cpu",
        "Enable auto-setting the CPU utilization of the resource",
        "Put the guest's vCPU count into the resource's 'cpu' utilization. Off by default "
        "(the stock agent defaults to on, which makes guests unplaceable when nodes have no "
        "capacity set and a utilization placement strategy is used).",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "autoset_utilization_host_memory",
        "Enable auto-setting the host_memory utilization of the resource",
        "Put the guest's maximum memory (MiB) into the resource's 'host_memory' utilization. "
        "Off by default, see autoset_utilization_cpu.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "autoset_utilization_hv_memory",
        "Enable auto-setting the hv_memory utilization of the resource",
        "Put the guest's maximum memory (MiB) into the resource's 'hv_memory' utilization. "
        "Off by default, see autoset_utilization_cpu.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "unset_utilization_cpu",
        "Enable auto-removing the CPU utilization of the resource",
        "Remove the resource's 'cpu' utilization at monitor.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "unset_utilization_host_memory",
        "Enable auto-removing the host_memory utilization of the resource",
        "Remove the resource's 'host_memory' utilization at monitor.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "unset_utilization_hv_memory",
        "Enable auto-removing the hv_memory utilization of the resource",
        "Remove the resource's 'hv_memory' utilization at monitor.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "migrateport",
        "Port for migrateuri",
        "Port of the migration data stream in the computed migration URI. Unset lets "
        "libvirt pick a port.",
        type="integer",
        reloadable=True,
        check=_check_port,
    ),
    Parameter(
        "remoteuri",
        "Custom remoteuri to communicate with a remote hypervisor",
        "libvirt URI of the target node's hypervisor for migration; '%n' stands for the "
        "target node name. Overrides migration_transport, migration_user and "
        "migration_network_suffix for that URI.",
        reloadable=True,
        check=_check_uri("remoteuri"),
    ),
    Parameter(
        "save_config_on_stop",
        "Save running VM's config back to its config file",
        "On stop and before migration, write the running guest's definition back to the "
        "config file (atomically, keeping the previous file as config.bak).",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "sync_config_on_stop",
        "Save running VM's config back to its config file and sync it",
        "Like save_config_on_stop, then run 'csync2 -x' to copy the file to all nodes "
        "(csync2 must be set up).",
        type="boolean",
        default="false",
        reloadable=True,
    ),
    Parameter(
        "snapshot",
        "Restore state on start/stop",
        "Directory for RAM state files: stop saves the guest's memory to "
        "DIR/<name>.state instead of shutting it down, start restores it from there. "
        "Not compatible with force_stop.",
        default="",
    ),
    Parameter(
        "backingfile",
        "If the VM is wanted to work with Copy-On-Write mode, this is the backing file to use "
        "(with its full path)",
        "Copy-on-write mode: the guest's disk <config without extension>.qcow2 is created "
        "on top of this backing file, which is never changed. The guest still runs "
        "transient: the definition made for its start is undefined once it started.",
        default="",
    ),
    Parameter(
        "stateless",
        "If set to true, the (<vmname>.qcow2) file will be re-created at each start, based on "
        "the backing file (if defined)",
        "With backingfile: recreate the copy-on-write disk at every start, so the guest "
        "always starts from the backing file's content.",
        type="boolean",
        default="false",
    ),
    Parameter(
        "copyindirs",
        "List of directories for the virt-copy-in before booting the VM stateless mode.",
        "Directories copied into the guest with virt-copy-in before it boots (stateless "
        "mode only; needs libguestfs-tools).",
        default="",
    ),
    Parameter(
        "shutdown_mode",
        "Instruct virsh to use specific shutdown mode",
        "How stop asks the guest to shut down: one or more of acpi, agent, initctl, signal, "
        "paravirt, comma-separated. Empty lets libvirt choose. (The stock agent declares "
        "this parameter but never applies it.)",
        default="",
        reloadable=True,
        check=_check_shutdown_mode,
    ),
    Parameter(
        "require_storage_lease",
        "Refuse to start the guest without storage leases",
        "Whether the guest may run only where libvirt's lock manager (virtlockd: "
        'lock_manager = "lockd" in qemu.conf, its lockspace on storage all nodes share) '
        "holds a lease on its disks, so that a second copy of the guest on another node "
        "fails with 'resource busy' even if the cluster were wrong about where it runs. "
        "'auto': required on a node whose libvirt names a lock manager (start then also "
        "refuses when the lock daemon does not answer or the guest's disks would get no "
        "lease), not required elsewhere (start and validate-all warn). 'true': required on "
        "every node: start, and migrate_from after libvirt moved the guest to such a node, "
        "fail with OCF_ERR_INSTALLED on a node without a working lock manager, so Pacemaker "
        "moves the guest to a node that has one. 'false': not checked. Set it to true once "
        "every node is set up (see havirt's docs/storage-leases.md).",
        default="auto",
        reloadable=True,
        check=_check_lease_requirement,
    ),
    Parameter(
        "start_resources",
        "Ensure the needed virtual storage pools and networks are started",
        "Before start and migration, start the libvirt storage pools and networks the "
        "guest's definition refers to, if they are inactive.",
        type="boolean",
        default="false",
        reloadable=True,
    ),
)

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("start", 90),
    ActionSpec("stop", 90),
    *monitor_actions(30, interval=10, deep_timeout=30),
    ActionSpec("migrate_from", 60),
    ActionSpec("migrate_to", 120),
    # A reloaded parameter takes effect at the next action that reads it.
    *admin_actions(5),
)
