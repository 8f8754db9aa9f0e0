"""A Pacemaker/Corosync cluster of lab nodes, on one machine.

A :class:`ClusterLab` is a :class:`~.node.Lab` whose nodes
(:class:`ClusterNode`) also run Corosync and Pacemaker, with node-private
/etc/corosync, /var/lib/corosync, /var/lib/pacemaker and /var/lib/pcsd, and
a lab fence agent (``fence_havirt_lab``, see :mod:`.fence_lab`) added to
each node's /usr/sbin by an overlay mount: Pacemaker finds fence agents only
as regular files there, and the host's /usr/sbin stays untouched.

Bring-up is fast because nothing waits for a round trip it can avoid: every
node starts with the same corosync.conf and the same seeded CIB (cluster
options, fence devices, guests), so the first transition already places the
guests. ``dc-deadtime`` and Corosync's ``token`` are tuned for a lab on one
machine (see ``cluster-templates/lab.toml``).

"Powering off" a node SIGKILLs every process of it (QEMU guests included);
"powering on" starts its daemons again -- libvirt, Corosync, Pacemaker --
like a host whose cluster services start at boot.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import time
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from havirt.tools import install
from havirt.tools.lab.guest import LabGuest, create_guest
from havirt.tools.lab.guest_image import GuestAssets, build_guest_assets
from havirt.tools.lab.lab import DEFAULT_BASE_DIR, Lab, missing_requirements
from havirt.tools.lab.node import LibvirtNode
from havirt.tools.lab.proc import LabError, Result, checked, run
from havirt.tools.pacemaker import ClusterStatus, ResourceStatus, parse_status
from havirt.tools.pacemaker.cib import configuration as configuration_of
from lxml import etree

FENCE_AGENT = "fence_havirt_lab"
FENCE_MODULE = "havirt.tools.lab.fence_lab"
# The lab's configuration comes from this example inventory, through `havirt generate`:
# cluster-templates/lab.toml, the data package havirt.cluster_templates (see pyproject.toml),
# so a checkout and an installed wheel find it the same way.
TEMPLATES_PACKAGE = "havirt.cluster_templates"
LAB_TEMPLATE = "lab.toml"
CLUSTER_TOOLS = ("corosync", "pacemakerd", "crm_mon", "cibadmin", "crm_resource", "pcs")
PACEMAKER_DIRS = ("cib", "pengine", "blackbox", "cores")
DAEMON_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
CRM_MON_TIMEOUT = 15.0
OCF_ROOT = install.DEFAULT_OCF_ROOT


# ---------------------------------------------------------------- nodes


class ClusterNode(LibvirtNode):
    """A lab node that also runs Corosync and Pacemaker."""

    lab: ClusterLab
    private_dirs = (
        *LibvirtNode.private_dirs,
        ("etc-corosync", "/etc/corosync"),
        ("var-lib-corosync", "/var/lib/corosync"),
        ("var-lib-pacemaker", "/var/lib/pacemaker"),
        ("var-lib-pcsd", "/var/lib/pcsd"),
    )
    skeleton = (
        *LibvirtNode.skeleton,
        "etc-corosync",
        "var-lib-corosync",
        "var-lib-pcsd",
        "var-log/corosync",
        "var-log/pacemaker",
        *(f"var-lib-pacemaker/{sub}" for sub in PACEMAKER_DIRS),
        "usr-sbin/upper",
        "usr-sbin/work",
        "ocf-work",
    )

    # ------------------------------------------------------------ processes

    def cluster_pids(self) -> list[int]:
        return self._pids_named("corosync") + self._pids_named("pacemakerd")

    def is_powered_on(self) -> bool:
        """True if anything but the namespace holder runs (a fenced node has nothing)."""
        return any(pid != self.holder_pid for pid in self.pids())

    # ------------------------------------------------------------ power

    def power_on(self, wait: bool = True) -> None:
        """Start libvirt, sshd, Corosync and Pacemaker, as a host does at boot.

        ``wait=False`` (what the lab fence agent does) returns once the daemons are
        started: a fence "on" is done when the power is on, not when the host is up.
        A node found dead (no process but the holder: killed outside the lab, or
        fenced "off" while already off, which skips :meth:`power_off`) gets its /run
        and /dev/shm emptied first, as a real power cycle does.
        """
        if not self.is_powered_on():
            self.wipe_volatile()
        self.start_daemons()
        self.start_sshd()
        if self.lab.start_cluster:
            self.start_cluster_stack()
        if wait:
            self.wait_libvirtd()

    def start_cluster_stack(self) -> None:
        """corosync, then pacemakerd in its own session; each only if not running."""
        # Started in the foreground, in sessions of their own, output to their log files:
        # a daemon that forks would keep the runner's output pipes open.
        env = ["env", "-i", *self._daemon_env()]
        if not self._pids_named("corosync"):
            self.popen([*env, "corosync", "-f"])
        if not self._pids_named("pacemakerd"):
            self.popen([*env, "pacemakerd"])

    def _daemon_env(self) -> list[str]:
        # A clean environment: the fence agent that powers a node on runs under another
        # node's pacemaker-fenced, whose PCMK_* variables must not leak into this node.
        return [
            f"PATH={DAEMON_PATH}",
            "LC_ALL=C",
            "PCMK_logfile=/var/log/pacemaker/pacemaker.log",
            "PCMK_logfacility=none",
            "HA_LOGFACILITY=none",
        ]

    # ------------------------------------------------------------ status

    def crm_mon(self, timeout: float = CRM_MON_TIMEOUT) -> ClusterStatus:
        """The cluster as this node's Pacemaker sees it (raises if it does not answer)."""
        result = checked(self.exec(["crm_mon", "-1", "--output-as", "xml"], timeout=timeout))
        return parse_status(result.stdout)

    def try_crm_mon(self) -> ClusterStatus | None:
        result = self.exec(["crm_mon", "-1", "--output-as", "xml"], timeout=CRM_MON_TIMEOUT)
        if not result.ok:
            return None
        try:
            return parse_status(result.stdout)
        except etree.XMLSyntaxError:
            return None

    def pcs(self, *args: str, timeout: float = 60.0, check: bool = True) -> Result:
        """``pcs ARGS`` inside the node (CIB work only: there is no pcsd)."""
        return self.exec(["pcs", *args], timeout=timeout, check=check)

    # ------------------------------------------------------------ bring-up

    def _prepare_files(self, hosts: str, caps_seed: Path | None) -> None:
        super()._prepare_files(hosts, caps_seed)
        uid, gid = pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
        base = self.dir / "var-lib-pacemaker"
        for sub in PACEMAKER_DIRS:
            os.chown(base / sub, uid, gid)
            os.chmod(base / sub, 0o750)
        os.chown(self.dir / "var-log/pacemaker", uid, gid)
        etc = self.dir / "etc-corosync"
        (etc / "corosync.conf").write_text(self.lab.corosync_conf)
        authkey = etc / "authkey"
        authkey.write_bytes(self.lab.authkey)
        authkey.chmod(0o400)
        cib = base / "cib" / "cib.xml"
        cib.write_text(self.lab.seed_cib)
        os.chown(cib, uid, gid)
        os.chmod(cib, 0o600)
        launcher = self.dir / "usr-sbin/upper" / FENCE_AGENT
        launcher.write_text(self.lab.fence_launcher)
        launcher.chmod(0o755)
        # The product's own installer, into node-private overlays: the lab runs the agents
        # of the tree that built it, whatever the host has installed.
        (self.dir / "ocf").mkdir(exist_ok=True)
        install.install(str(self.dir / "ocf"), str(self.dir / "usr-sbin/upper"))

    def _mount_all(self, shared_dir: Path, shared_mount: str) -> None:
        super()._mount_all(shared_dir, shared_mount)
        command = ["nsenter", "-t", str(self.holder_pid), "-m", "--"]
        for lower, upper, work in (
            ("/usr/sbin", "usr-sbin/upper", "usr-sbin/work"),
            (f"{OCF_ROOT}/resource.d", "ocf/resource.d", "ocf-work"),
        ):
            options = f"lowerdir={lower},upperdir={self.dir / upper},workdir={self.dir / work}"
            checked(run([*command, "mount", "-t", "overlay", "overlay", "-o", options, lower]))


# ---------------------------------------------------------------- the lab


class ClusterLab(Lab):
    """A :class:`Lab` whose nodes form a Pacemaker cluster (default: 3 nodes).

    ``seed_cib`` is the CIB every node starts with (see :func:`seed_cib`);
    ``cluster_lab.up()`` returns once every node is online in ``crm_mon``.
    """

    node_class = ClusterNode
    # Built from node_class, so all are ClusterNodes; a dict is invariant in its values,
    # so mypy refuses the narrower declaration of Lab's attribute.
    nodes: dict[str, ClusterNode]  # type: ignore[assignment]

    def __init__(
        self,
        name: str = "lab",
        base_dir: Path | str = DEFAULT_BASE_DIR,
        nodes: Iterable[str] = ("node1", "node2", "node3"),
        *,
        guests: int | Sequence[str] = 3,
        guest_assets: GuestAssets | None = None,
        seed_cib: str | None = None,
        start_cluster: bool = True,
        provider: str = "havirt",
        **options: Any,
    ) -> None:
        super().__init__(name, base_dir, nodes=nodes, **options)
        # False: nodes come up with libvirt only; start_cluster_stack() starts the cluster
        # (a cluster start with guests already running, for instance).
        self.start_cluster = start_cluster
        self.provider = provider  # of the guests' VirtualDomain agent ("heartbeat": stock)
        self.guest_names = (
            [f"vm{i}" for i in range(1, guests + 1)] if isinstance(guests, int) else list(guests)
        )
        self.guest_assets = guest_assets
        self.guests: dict[str, LabGuest] = {}
        self.authkey = secrets.token_bytes(256)
        self._seed_cib = seed_cib
        self.fence_launcher = install.launcher(FENCE_MODULE)

    @property
    def inventory(self) -> str:
        """The lab's inventory (TOML): what ``havirt generate`` renders its configuration from."""
        return lab_inventory(self, self.guest_names)

    @cached_property
    def _generated(self) -> tuple[str, str]:
        """corosync.conf and the CIB as ``havirt generate`` renders them from the inventory."""
        return generated_configuration(self.inventory, self.provider)

    @property
    def seed_cib(self) -> str:
        return self._seed_cib if self._seed_cib is not None else self._generated[1]

    @property
    def corosync_conf(self) -> str:
        return self._generated[0]

    @property
    def token_ms(self) -> int:
        """Corosync's token timeout, as the generated corosync.conf sets it."""
        for line in self.corosync_conf.splitlines():
            key, _, value = line.strip().partition(":")
            if key == "token":
                return int(value)
        return 3000  # corosync's default

    def _before_power_on(self) -> None:
        # The guests' files, before any Pacemaker starts the resources that use them.
        assets = self.guest_assets = self.guest_assets or build_guest_assets()
        for name in self.guest_names:
            self.guests[name] = create_guest(self, name, assets=assets)

    def _up(self) -> None:
        super()._up()
        if self.start_cluster:
            self.wait_online()
            self.wait_started(self.guest_names)

    def start_cluster_stack(self) -> None:
        """Start Corosync and Pacemaker on every node (after ``start_cluster=False``)."""
        self.start_cluster = True
        for node in self.nodes.values():
            node.start_cluster_stack()

    # ------------------------------------------------------------ faults

    def partition(self, node: str) -> None:
        """Cut ``node`` off the lab network (its switch port goes down)."""
        checked(run(["ip", "-n", self.switch_netns, "link", "set", self.nodes[node].name, "down"]))

    def heal(self, node: str) -> None:
        checked(run(["ip", "-n", self.switch_netns, "link", "set", self.nodes[node].name, "up"]))

    def restore(self, timeout: float = 120.0) -> ClusterStatus:
        """Back to a healthy cluster after a scenario: every node on, linked, online and
        active, no failures or leftover move constraints, every guest started."""
        for name, node in self.nodes.items():
            self.heal(name)
            node.resume_libvirtd()
            node.power_on()
        self.wait_online(timeout)
        admin = self.first_node()
        admin.pcs("node", "unstandby", "--all")
        for guest in self.guest_names:  # leftover move constraints of a failed scenario
            admin.exec(["crm_resource", "--clear", "-r", guest], timeout=30)
        checked(admin.exec(["crm_resource", "--cleanup"], timeout=60))
        return self.wait_started(self.guest_names, timeout)

    def wait_started(self, resources: Iterable[str], timeout: float = 120.0) -> ClusterStatus:
        """Wait until each of ``resources`` is Started on exactly one node."""
        want = list(resources)
        deadline = time.monotonic() + timeout
        while True:
            try:
                status = self.status()
            except LabError:
                status = None
            if status is not None and all(_started_once(status.resource(r)) for r in want):
                return status
            if time.monotonic() >= deadline:
                seen = {r: status.resource(r) for r in want} if status else "no status"
                raise LabError(f"resources not started after {timeout:.0f} s: {seen}")
            time.sleep(0.25)

    def diagnose(self, via: str | None = None) -> str:
        """What a human needs to see when a scenario went wrong: crm_mon with failures,
        fencing history and constraints, and each node's QEMU processes (from the first
        node that answers, or ``via``)."""
        lines = []
        candidates = [self.nodes[via]] if via else list(self.nodes.values())
        for node in candidates:
            if not node.is_powered_on():
                continue
            mon = node.exec(["crm_mon", "-1", "--include=all", "--exclude=options"], timeout=30)
            lines.append(f"crm_mon on {node.name} (rc {mon.returncode}):\n{mon.stdout[-6000:]}")
            lines.append(mon.stderr[-1000:])
            fenced = node.exec(["stonith_admin", "--history", "*", "--verbose"], timeout=30)
            lines.append(f"fence history:\n{fenced.stdout[-3000:]}{fenced.stderr[-500:]}")
            break
        for name, node in self.nodes.items():
            power = "on" if node.is_powered_on() else "off"
            lines.append(f"{name}: powered {power}, QEMU processes {node.qemu_pids()}")
        return "\n".join(lines)

    def first_node(self) -> ClusterNode:
        return next(iter(self.nodes.values()))

    def status(self, via: str | None = None) -> ClusterStatus:
        """crm_mon from ``via`` or from the first node that answers."""
        candidates = [self.nodes[via]] if via else list(self.nodes.values())
        for node in candidates:
            if node.is_powered_on():
                status = node.try_crm_mon()
                if status is not None:
                    return status
        raise LabError("no node's Pacemaker answers crm_mon")

    def wait_online(self, timeout: float = 90.0, nodes: Iterable[str] | None = None) -> float:
        """Wait until ``nodes`` (default all) are online in crm_mon with quorum."""
        want = set(nodes or self.nodes)
        start = time.monotonic()
        last = None
        while time.monotonic() - start < timeout:
            try:
                last = self.status()
            except LabError:
                last = None
            if last is not None and last.quorum and want <= set(last.online):
                return time.monotonic() - start
            time.sleep(0.25)
        online = list(last.online) if last else []
        raise LabError(f"nodes {sorted(want)} not all online after {timeout:.0f} s: {online}")


def _started_once(resource: ResourceStatus | None) -> bool:
    return resource is not None and resource.role == "Started" and len(resource.nodes) == 1


def cluster_missing_requirements() -> list[str]:
    """Why this machine cannot run a cluster lab (empty if it can)."""
    problems = missing_requirements()
    problems += [f"{tool} not found in PATH" for tool in CLUSTER_TOOLS if not shutil.which(tool)]
    try:
        pwd.getpwnam("hacluster")
    except KeyError:
        problems.append("no hacluster user (install pacemaker)")
    if not os.path.isdir(f"{OCF_ROOT}/resource.d"):
        problems.append(f"no {OCF_ROOT}/resource.d (install resource-agents)")
    return problems


# ---------------------------------------------------------------- configuration


def lab_inventory(lab: Lab, guests: Sequence[str]) -> str:
    """The lab's inventory: ``cluster-templates/lab.toml`` fitted to this lab.

    Its nodes, guests and fence options are the lab's own (names, addresses, the
    lab's name); everything else (policies, token, properties) is the template's.
    """
    template = tomllib.loads(resources.files(TEMPLATES_PACKAGE).joinpath(LAB_TEMPLATE).read_text())
    node_proto, guest_proto = template["nodes"][0], template["guests"][0]
    fence = node_proto["fence"]
    template["nodes"] = [
        {
            **node_proto,
            "name": node.name,
            "addresses": [f"{node.address}/{node.prefixlen}"],
            "fence": {**fence, "options": {**fence["options"], "lab": lab.name, "plug": node.name}},
        }
        for node in lab.nodes.values()
    ]
    template["guests"] = [{**guest_proto, "name": name} for name in guests]
    return toml_text(template)


def generated_configuration(inventory_text: str, provider: str = "havirt") -> tuple[str, str]:
    """(corosync.conf, the CIB every node starts with) by ``havirt generate``'s code.

    The CIB is the installed Pacemaker's empty one (its schema and feature set: a newer
    feature set is refused by the daemons) holding the generated configuration;
    ``provider="heartbeat"`` swaps in the stock VirtualDomain agent, same parameters.
    """
    from havirt.tools.generate import render
    from havirt.tools.inventory import loader

    files = render(loader.load_text(inventory_text, "lab inventory"))
    generated = etree.fromstring(files["cib.xml"].encode())
    configuration = configuration_of(generated)
    for primitive in configuration.iterfind("resources//primitive[@type='VirtualDomain']"):
        primitive.set("provider", provider)
        if provider == "heartbeat":
            _stock_without_autoset(primitive)
    empty = checked(run(["cibadmin", "--empty"], timeout=15)).stdout
    cib = etree.fromstring(empty.encode(), etree.XMLParser(remove_blank_text=True))
    cib.replace(configuration_of(cib), configuration)
    return files["corosync.conf"], etree.tostring(cib, pretty_print=True, encoding="unicode")


# The stock agent sets utilization from the guest by default (resource-agents#1220),
# host_memory included, which the nodes do not declare: with placement-strategy=balanced
# Pacemaker then finds no node for the guest and stops it.
STOCK_AUTOSET = (
    "autoset_utilization_cpu",
    "autoset_utilization_hv_memory",
    "autoset_utilization_host_memory",
)


def _stock_without_autoset(primitive: etree._Element) -> None:
    attrs = primitive.find("instance_attributes")
    if attrs is None:  # havirt generate gives every guest its parameters
        raise LabError(f"primitive {primitive.get('id')} has no instance_attributes")
    set_id = attrs.get("id")
    for name in STOCK_AUTOSET:
        etree.SubElement(
            attrs, "nvpair", {"id": f"{set_id}-{name}", "name": name, "value": "false"}
        )


def toml_text(data: Mapping[str, Any]) -> str:
    """TOML for an inventory-shaped document: top-level tables and arrays of tables,
    everything below them as inline values."""
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            tables = [(f"[[{key}]]", item) for item in value]
        elif isinstance(value, dict):
            tables = [(f"[{key}]", value)]
        else:
            lines.insert(0, f"{_toml_key(key)} = {_toml_value(value)}")
            continue
        for header, table in tables:
            lines += ["", header]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines).lstrip() + "\n"


def _toml_key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }"
    return json.dumps(str(value))
