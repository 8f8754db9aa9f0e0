"""The Vagrant lab's cluster, as its scenarios and its bench drive it from the outer host.

:class:`VagrantCluster`: the cluster the machines (:class:`~.vagrant_lab.VagrantLab`)
form: its status (``crm_mon`` from the first host that answers), waiting for a
condition with a diagnosis when it does not come, the admin's ``havirt`` on a host,
and :meth:`~VagrantCluster.restore` after a scenario. The scenarios themselves, timed:
:func:`power_cut` (a host's power pulled: detection, fencing, the guests running
elsewhere) and :func:`nfs_outage` (the storage host's address gone: each host's
StoragePool monitor at the depths asked). They return what they measured; the tests
judge it, the bench prints it.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from havirt.tools.lab.auditor import Auditor
from havirt.tools.lab.proc import LabError, Result
from havirt.tools.lab.remote_audit import SKEW
from havirt.tools.lab.vagrant_lab import KVM_HOSTS, VagrantLab
from havirt.tools.pacemaker.status import ClusterStatus, parse_status
from havirt.tools.userinput import parse_xml

GUEST_AGENT = "ocf:havirt:VirtualDomain"
POOL = "pool-shared"  # the StoragePool primitive the lab's inventory makes
POOL_CLONE = f"{POOL}-clone"
STORAGE = "storage"
SAVED_DEVICE = "/run/havirt-lab-nfs-device"  # on the storage host, while its address is gone


class ClusterView:
    """One ``crm_mon`` picture, with the questions the scenarios ask of it."""

    def __init__(self, status: ClusterStatus) -> None:
        self.status = status

    def guests(self) -> list[str]:
        return sorted({r.id for r in self.status.resources if r.agent == GUEST_AGENT})

    def started_once(self, guest: str) -> bool:
        return len(self.status.where(guest)) == 1 and not any(
            r.failed or r.pending for r in self.status.instances(guest)
        )

    def healthy(self) -> bool:
        nodes_ok = all(
            (n := self.status.node(h)) is not None and n.online and not n.standby for h in KVM_HOSTS
        )
        pool_ok = len(self.status.where(POOL_CLONE)) == len(KVM_HOSTS)
        guests = self.guests()
        return nodes_ok and pool_ok and bool(guests) and all(self.started_once(g) for g in guests)


class VagrantCluster:
    """The machines (:class:`VagrantLab`) and the cluster they form."""

    def __init__(self, machines: VagrantLab) -> None:
        self.machines = machines
        self._guests: list[str] = []
        self.blind: dict[str, float] = {}  # the last auditor's (RemoteScanner.blind)

    # ------------------------------------------------------------ asking

    def status(self, via: tuple[str, ...] = KVM_HOSTS) -> ClusterView:
        """crm_mon from the first KVM host that answers."""
        problems = []
        for node in via:
            if not self.machines.powered(node):
                continue
            result = self.machines.root(node, "crm_mon -1 --output-as xml", timeout=60)
            if result.ok:
                return ClusterView(parse_status(result.stdout))
            problems.append(f"{node}: {result.describe()}")
        raise LabError("no KVM host gave a status: " + "; ".join(problems))

    def guests(self) -> list[str]:
        if not self._guests:
            self._guests = self.status().guests()
        return self._guests

    def havirt(self, node: str, *args: str, timeout: float = 900.0) -> Result:
        """``havirt ARGS`` as root on ``node`` (the admin's command)."""
        line = " ".join(shlex.quote(a) for a in ("havirt", *args))
        return self.machines.root(node, line, timeout=timeout)

    def diagnose(self) -> str:
        """What a human needs when a scenario went wrong: crm_mon with failures and
        fencing history, from the first host that answers."""
        for node in KVM_HOSTS:
            if not self.machines.powered(node):
                continue
            result = self.machines.root(
                node, "crm_mon -1 --include=all --exclude=options; pcs constraint", timeout=60
            )
            if result.ok:
                return f"(crm_mon on {node})\n{result.stdout}"
        return "(no KVM host answered)"

    # ------------------------------------------------------------ waiting

    def wait_for(
        self, what: str, condition: Callable[[ClusterView], bool], timeout: float, poll: float = 3.0
    ) -> ClusterView:
        deadline = time.monotonic() + timeout
        last = "no status"
        while True:
            try:
                view = self.status()
                if condition(view):
                    return view
                last = "not yet"
            except LabError as exc:
                last = str(exc)
            if time.monotonic() >= deadline:
                raise LabError(
                    f"timed out after {timeout:.0f} s waiting for {what} ({last})\n"
                    + self.diagnose()
                )
            time.sleep(poll)

    def wait_healthy(self, timeout: float) -> ClusterView:
        view = self.wait_for("a healthy cluster", ClusterView.healthy, timeout)
        self._guests = view.guests()
        return view

    # ------------------------------------------------------------ restoring

    def restore(self, timeout: float = 900.0) -> ClusterView:
        """Back to a healthy cluster after a scenario: every host on and online, no
        standby, maintenance off, no failures or leftover move constraints."""
        for node in KVM_HOSTS:
            if not self.machines.powered(node, max_age=0):
                self.machines.virsh("start", self.machines.domain(node))
            else:
                # A node that learns it was fenced while it ran stops its cluster
                # stack ("staying down after fatal error"): start it again.
                self.machines.root(
                    node,
                    "systemctl is-active -q pacemaker || "
                    "{ systemctl reset-failed; systemctl start corosync pacemaker; }",
                    timeout=300,
                )
        view = self.wait_for(
            "every KVM host online",
            lambda v: all((n := v.status.node(h)) is not None and n.online for h in KVM_HOSTS),
            timeout,
        )
        if view.healthy() and not view.status.failed_actions:
            return view
        admin = KVM_HOSTS[0]
        script = "pcs node unstandby --all; pcs property set maintenance-mode=false; "
        script += "".join(f"crm_resource --clear -r {g} >/dev/null 2>&1; " for g in self.guests())
        script += "crm_resource --cleanup >/dev/null"
        self.machines.root(admin, script, timeout=120)
        return self.wait_healthy(timeout)

    @contextlib.contextmanager
    def auditor(self, ready_timeout: float = 120.0) -> Iterator[Auditor]:
        """An auditor of the cluster's guests whose eyes are the KVM hosts' own /proc
        (:meth:`VagrantLab.scanner`), allowing the hosts' :data:`SKEW` of apparent
        outage; it is checked once more when the block ends without an error."""
        with self.machines.scanner() as scanner:
            try:
                if not scanner.wait_ready(ready_timeout):
                    raise LabError(
                        f"the auditor could not see every KVM host's processes within "
                        f"{ready_timeout:.0f} s"
                    )
                with Auditor(
                    None, self.guests(), scanner=scanner, interval=0.25, max_outage=SKEW
                ) as auditor:
                    yield auditor
                    auditor.check()
            finally:
                self.blind = dict(scanner.blind)

    def fences(self, via: str, node: str) -> int:
        """How many successful fencing actions against ``node`` the cluster remembers."""
        result = self.machines.root(via, f"stonith_admin --history {node} --verbose", timeout=60)
        return sum("successful" in line for line in result.stdout.splitlines())

    def down(self, log: Path) -> None:
        with contextlib.suppress(Exception):
            self.machines.destroy(log)
        with contextlib.suppress(Exception):
            self.machines.ssh_config.unlink(missing_ok=True)


# ---------------------------------------------------------------- the scenarios, timed


@dataclass(frozen=True)
class CrashTimes:
    """A power cut of ``node``, from the outside, in seconds since the cut: until a
    survivor's Pacemaker no longer counted it online (``detection``, polled about
    every second over SSH), until its VM was powered on again by the fence's reboot
    (``fenced``), until each of its ``guests`` had a QEMU on another host (``total``,
    the auditor's samples)."""

    node: str
    guests: tuple[str, ...]
    detection: float
    fenced: float
    total: float

    @property
    def fencing(self) -> float:
        return max(0.0, self.fenced - self.detection)

    @property
    def start(self) -> float:
        """Scheduling and start on the survivors (after the fence)."""
        return max(0.0, self.total - self.fenced)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "fencing": self.fencing, "start": self.start}


def power_cut(
    cluster: VagrantCluster, auditor: Auditor, victim: str, timeout: float = 1200.0
) -> CrashTimes:
    """Pull ``victim``'s plug and follow the recovery until every guest it ran runs on
    another host (see :class:`CrashTimes`). The auditor allows the outage meanwhile and
    still fails a double start; afterwards it allows none beyond its usual skew again."""
    machines = cluster.machines
    lost = tuple(g for g in cluster.guests() if auditor.where(g) == [victim])
    survivor = next(n for n in KVM_HOSTS if n != victim)
    skew = auditor.max_outage
    auditor.allow_outage(timeout)
    start = time.monotonic()
    machines.power_cut(victim)
    detected = fenced = None
    while True:
        now = time.monotonic() - start
        auditor.check()
        if fenced is None and machines.power_id(victim, max_age=0) is not None:
            fenced = now
        if detected is None:
            with contextlib.suppress(LabError):
                node = cluster.status(via=(survivor,)).status.node(victim)
                if node is not None and not node.online:
                    detected = time.monotonic() - start
        if all(any(n != victim for n in auditor.where(g)) for g in lost):
            break
        if now > timeout:
            raise LabError(
                f"the guests of {victim} ({', '.join(lost)}) were not running elsewhere "
                f"{timeout:.0f} s after its power cut\n" + cluster.diagnose()
            )
        time.sleep(0.5)
    total = time.monotonic() - start
    auditor.allow_outage(skew)
    return CrashTimes(
        victim,
        lost,
        detected if detected is not None else total,
        fenced if fenced is not None else total,
        total,
    )


@dataclass(frozen=True)
class MonitorAnswer:
    """One StoragePool monitor, run by hand as Pacemaker runs a recurring one."""

    node: str
    depth: str
    seconds: float  # as the host timed it (the SSH round trip's when it did not say)
    returncode: int
    timed_out: bool
    output: str
    host_answers: bool  # the host ran a command at once afterwards (it does not hang)


@dataclass(frozen=True)
class PoolResource:
    """What the agent gets from Pacemaker for the pool: its parameters, and the
    longest timeout of its monitors (in seconds)."""

    params: tuple[tuple[str, str], ...]
    monitor_timeout: int

    @classmethod
    def from_cib(cls, cluster: VagrantCluster, node: str = KVM_HOSTS[0]) -> PoolResource:
        out = cluster.machines.root(node, f"crm_resource --query-xml -r {POOL}", check=True)
        text = out.stdout[out.stdout.find("<primitive") :]
        primitive = parse_xml(text, f"the CIB's {POOL}")
        params = tuple(
            (nv.get("name", ""), nv.get("value", ""))
            for nv in primitive.iterfind("instance_attributes/nvpair")
        )
        timeouts = [
            int(match.group(1))
            for op in primitive.iterfind("operations/op[@name='monitor']")
            if (match := re.fullmatch(r"(\d+)s?", op.get("timeout", "")))
        ]
        if not timeouts:
            raise LabError(f"no monitor timeout for {POOL} in the CIB: {text.strip()}")
        return cls(params, max(timeouts))

    def monitor_command(self, depth: str) -> str:
        """The agent's recurring monitor at ``depth``, with Pacemaker's environment (a
        monitor with an interval: a probe, interval 0, checks depth 0 only, so that
        no probe ever blocks on the storage)."""
        env = {
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": POOL,
            "OCF_RESOURCE_TYPE": "StoragePool",
            "OCF_RESOURCE_PROVIDER": "havirt",
            "OCF_CHECK_LEVEL": depth,
            "OCF_RESKEY_CRM_meta_interval": "60000",
            "OCF_RESKEY_CRM_meta_timeout": str(self.monitor_timeout * 1000),
            **{f"OCF_RESKEY_{name}": value for name, value in self.params},
        }
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        return f"env {assigns} /usr/lib/ocf/resource.d/havirt/StoragePool monitor"


def nfs_outage(
    cluster: VagrantCluster, depths: Sequence[str] = ("10", "20"), settle: float = 5.0
) -> tuple[int, list[MonitorAnswer]]:
    """Drop the storage host's cluster address (its clients' packets go nowhere, as
    when the server dies) and run the StoragePool monitor at each depth on every KVM
    host, all at once, as Pacemaker runs recurring monitors of different depths (their
    intervals overlap), with the resource's parameters; then put the address back and
    wait until every host's monitor passes again. Maintenance mode keeps Pacemaker's
    own monitors from acting on the failure meanwhile (what it would do is a scenario
    of its own). Returns (the longest monitor timeout in the CIB, the answers, by
    depth then host)."""
    machines = cluster.machines
    admin = KVM_HOSTS[0]
    address = f"{machines.address(STORAGE)}/24"
    pool = PoolResource.from_cib(cluster, admin)
    runs = [(depth, node) for depth in depths for node in KVM_HOSTS]
    machines.root(admin, "pcs property set maintenance-mode=true", timeout=300, check=True)
    try:
        machines.root(
            STORAGE,
            f"dev=$(ip -o addr show | awk '$4 == \"{address}\" {{print $2}}'); "
            f'[ -n "$dev" ]; echo $dev > {SAVED_DEVICE}; ip addr del {address} dev $dev',
            check=True,
        )
        try:
            time.sleep(settle)  # the clients' next requests go unanswered
            with ThreadPoolExecutor(len(runs)) as monitors:
                answers = list(monitors.map(lambda r: _monitor(cluster, r[1], r[0], pool), runs))
        finally:
            machines.root(STORAGE, f"ip addr add {address} dev $(cat {SAVED_DEVICE})", check=True)

        def passes_again(node: str) -> None:
            def passes(_view: ClusterView) -> bool:
                return _monitor(cluster, node, depths[-1], pool).returncode == 0

            cluster.wait_for(f"the pool's monitor on {node} to pass again", passes, 600, poll=5)

        with ThreadPoolExecutor(len(KVM_HOSTS)) as hosts:
            list(hosts.map(passes_again, KVM_HOSTS))
    finally:
        machines.root(admin, "pcs property set maintenance-mode=false", timeout=300, check=True)
    return pool.monitor_timeout, answers


ELAPSED = "havirt-lab-elapsed-ns:"  # the host's own measure of the agent's run


def _monitor(cluster: VagrantCluster, node: str, depth: str, pool: PoolResource) -> MonitorAnswer:
    """The agent's monitor on ``node``, timed by the host itself, as Pacemaker's
    executor there times it against the operation's timeout (not the SSH round trip
    to an emulated host, which a busy outer host stretches)."""
    timed = (
        f"s=$(date +%s%N); {pool.monitor_command(depth)}; rc=$?; "
        f'echo "{ELAPSED}$(($(date +%s%N) - s))" >&2; exit $rc'
    )
    start = time.monotonic()
    result = cluster.machines.root(node, timed, timeout=pool.monitor_timeout + 60)
    seconds = time.monotonic() - start
    alive = cluster.machines.root(node, "true", timeout=30).ok
    lines = []
    for line in (result.stdout + result.stderr).strip().splitlines():
        if line.startswith(ELAPSED) and line[len(ELAPSED) :].isdigit():
            seconds = int(line[len(ELAPSED) :]) / 1e9
        else:
            lines.append(line)
    output = "\n".join(lines)
    return MonitorAnswer(node, depth, seconds, result.returncode, result.timed_out, output, alive)
