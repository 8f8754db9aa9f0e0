"""The one place the havirt CLI runs Pacemaker's tools and pcs.

Every call goes through :class:`havirt.ocf.runner.CommandRunner` (argv lists,
no shell, ``LC_ALL=C``, a timeout on each call) and asks for machine-readable
output: ``crm_mon --output-as xml``, ``crm_simulate --output-as xml``,
``pcs ... --output-format=json``, CIB XML from ``cibadmin``. The XML is parsed
with lxml into the small immutable values below; callers never see tool text.

Work on a CIB file instead of the live cluster: ``Pacemaker(cib_file=PATH)``
sets ``CIB_file`` for the Pacemaker tools (and ``-f`` for pcs), which is how the
tests exercise the real tools without a running cluster. To run inside a lab
node, pass a runner that prefixes ``nsenter ...``.

crmsh equivalents of each call are listed in docs/generate.md.

Failures raise :class:`PacemakerError` (a HavirtError) carrying the tool's
result and its exit code as a :class:`CrmExit` when Pacemaker defines it;
``crm_resource --wait`` running out of time raises :class:`PacemakerTimeout`.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from havirt.ocf.runner import CommandResult, CommandRunner
from lxml import etree

from .errors import HavirtError
from .userinput import parse_xml, quote, read_bytes

DEFAULT_TIMEOUT = 30.0

# Debian package providing each tool, for the "not installed" hint.
PACKAGES = {
    "crm_mon": "pacemaker-cli-utils",
    "cibadmin": "pacemaker-cli-utils",
    "crm_verify": "pacemaker-cli-utils",
    "crm_simulate": "pacemaker-cli-utils",
    "crm_resource": "pacemaker-cli-utils",
    "crm_attribute": "pacemaker-cli-utils",
    "pcs": "pcs",
}


class CrmExit(IntEnum):
    """Pacemaker's exit codes (crm_exit_t, include/crm/common/results.h)."""

    OK = 0
    ERROR = 1
    INVALID_PARAM = 2
    UNIMPLEMENT_FEATURE = 3
    INSUFFICIENT_PRIV = 4
    NOT_INSTALLED = 5
    NOT_CONFIGURED = 6
    NOT_RUNNING = 7
    USAGE = 64
    DATAERR = 65
    NOINPUT = 66
    NOUSER = 67
    NOHOST = 68
    UNAVAILABLE = 69
    SOFTWARE = 70
    OSERR = 71
    OSFILE = 72
    CANTCREAT = 73
    IOERR = 74
    TEMPFAIL = 75
    PROTOCOL = 76
    NOPERM = 77
    CONFIG = 78
    FATAL = 100
    PANIC = 101
    DISCONNECT = 102
    OLD = 103
    DIGEST = 104
    NOSUCH = 105
    QUORUM = 106
    UNSAFE = 107
    EXISTS = 108
    MULTIPLE = 109
    EXPIRED = 110
    NOT_YET_IN_EFFECT = 111
    INDETERMINATE = 112
    UNSATISFIED = 113
    TIMEOUT = 124  # crm_resource --wait ran out of time
    NOT_FOUND = 127  # not Pacemaker's: the runner could not start the tool


def crm_exit(code: int) -> CrmExit | int:
    try:
        return CrmExit(code)
    except ValueError:
        return code


class PacemakerError(HavirtError):
    """A Pacemaker tool or pcs failed; ``result`` is what it said, ``code`` its exit code."""

    def __init__(
        self, message: str, result: CommandResult | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.result = result
        self.code: CrmExit | int | None = crm_exit(result.returncode) if result else None


class PacemakerTimeout(PacemakerError):
    """The cluster did not settle within the time given (crm_resource --wait: 124)."""


# -- values -------------------------------------------------------------------------------


def _bool(el: etree._Element, name: str) -> bool:
    return el.get(name) == "true"


@dataclass(frozen=True)
class NodeStatus:
    name: str
    id: str
    online: bool
    standby: bool
    standby_onfail: bool
    maintenance: bool
    pending: bool
    unclean: bool
    shutdown: bool
    is_dc: bool
    resources_running: int
    type: str  # member | remote | ping

    @classmethod
    def from_xml(cls, el: etree._Element) -> NodeStatus:
        return cls(
            name=el.get("name", ""),
            id=el.get("id", ""),
            online=_bool(el, "online"),
            standby=_bool(el, "standby"),
            standby_onfail=_bool(el, "standby_onfail"),
            maintenance=_bool(el, "maintenance"),
            pending=_bool(el, "pending"),
            unclean=_bool(el, "unclean"),
            shutdown=_bool(el, "shutdown"),
            is_dc=_bool(el, "is_dc"),
            resources_running=int(el.get("resources_running", "0")),
            type=el.get("type", "member"),
        )


@dataclass(frozen=True)
class ResourceStatus:
    """One resource instance: a primitive, or one instance of a clone (``parent``)."""

    id: str
    agent: str  # ocf:havirt:VirtualDomain, stonith:fence_xvm
    role: str  # Started, Stopped, Promoted, Unpromoted, Starting, Migrating, ...
    active: bool
    managed: bool
    failed: bool
    blocked: bool
    orphaned: bool
    nodes: tuple[str, ...]  # where it runs (more than one is a problem for a guest)
    parent: str | None = None  # the clone or group it belongs to
    pending: str | None = None  # an action in flight (record-pending): Migrating, Starting, ...

    @classmethod
    def from_xml(cls, el: etree._Element, parent: str | None) -> ResourceStatus:
        return cls(
            id=el.get("id", ""),
            agent=el.get("resource_agent", ""),
            role=el.get("role", ""),
            active=_bool(el, "active"),
            managed=_bool(el, "managed"),
            failed=_bool(el, "failed"),
            blocked=_bool(el, "blocked"),
            orphaned=_bool(el, "orphaned"),
            nodes=tuple(n.get("name", "") for n in el.findall("node")),
            parent=parent,
            pending=el.get("pending") or None,
        )


@dataclass(frozen=True)
class FailedAction:
    resource: str
    task: str  # start, stop, monitor, migrate_to, ...
    node: str
    interval_ms: int
    exitcode: int
    exitstatus: str  # "not running", "error", ...
    exitreason: str
    status: str  # complete, Timed Out, ...
    last_rc_change: str

    @classmethod
    def from_xml(cls, el: etree._Element) -> FailedAction:
        op_key = el.get("op_key", "")
        task = el.get("task", "")
        interval = int(el.get("interval", "0") or 0)
        # op_key is RESOURCE_TASK_INTERVAL; resource ids may contain "_".
        suffix = f"_{task}_{interval}"
        resource = op_key[: -len(suffix)] if op_key.endswith(suffix) else op_key
        return cls(
            resource=resource,
            task=task,
            node=el.get("node", ""),
            interval_ms=interval,
            exitcode=int(el.get("exitcode", "0") or 0),
            exitstatus=el.get("exitstatus", ""),
            exitreason=html.unescape(el.get("exitreason", "")),  # crm_mon escapes it twice
            status=el.get("status", ""),
            last_rc_change=el.get("last-rc-change", ""),
        )


@dataclass(frozen=True)
class ClusterStatus:
    nodes: tuple[NodeStatus, ...]
    resources: tuple[ResourceStatus, ...]
    failed_actions: tuple[FailedAction, ...]
    dc: str | None  # the designated controller's name, None when there is none
    quorum: bool | None  # None when crm_mon does not say (no DC)
    stonith_enabled: bool
    maintenance_mode: bool

    def node(self, name: str) -> NodeStatus | None:
        return next((n for n in self.nodes if n.name == name), None)

    @property
    def online(self) -> tuple[str, ...]:
        """The names of the nodes online."""
        return tuple(n.name for n in self.nodes if n.online)

    def resource(self, resource_id: str) -> ResourceStatus | None:
        """A primitive's status (its first instance), None if crm_mon does not list it."""
        return next(iter(self.instances(resource_id)), None)

    def instances(self, resource_id: str) -> tuple[ResourceStatus, ...]:
        """Every instance of a primitive or clone (by the primitive's or the clone's id)."""
        return tuple(r for r in self.resources if resource_id in (r.id, r.parent))

    def where(self, resource_id: str) -> tuple[str, ...]:
        """The nodes a resource (every instance of it) is active on, sorted."""
        nodes = {n for r in self.instances(resource_id) if r.active for n in r.nodes}
        return tuple(sorted(nodes))

    def running_on(self, node: str) -> tuple[ResourceStatus, ...]:
        return tuple(r for r in self.resources if r.active and node in r.nodes)


def _resources(parent_el: etree._Element) -> list[ResourceStatus]:
    out: list[ResourceStatus] = []
    for el in parent_el:
        if el.tag == "resource":
            out.append(ResourceStatus.from_xml(el, None))
        elif el.tag in ("clone", "group", "bundle"):
            out += [ResourceStatus.from_xml(r, el.get("id")) for r in el.iter("resource")]
    return out


def parse_status(xml: str) -> ClusterStatus:
    """A ClusterStatus from ``crm_mon --output-as xml`` (or crm_simulate's cluster_status)."""
    root = parse_xml(xml, "crm_mon's status")
    return _status_from(root, root.find("summary"))


def _status_from(section: etree._Element, summary: etree._Element | None) -> ClusterStatus:
    dc = summary.find("current_dc") if summary is not None else None
    options = summary.find("cluster_options") if summary is not None else None
    nodes_el = section.find("nodes")
    resources_el = section.find("resources")
    failures_el = section.find("failures")
    present = dc is not None and dc.get("present") == "true"
    return ClusterStatus(
        nodes=tuple(NodeStatus.from_xml(n) for n in (nodes_el if nodes_el is not None else [])),
        resources=tuple(_resources(resources_el) if resources_el is not None else []),
        failed_actions=tuple(
            FailedAction.from_xml(f) for f in (failures_el if failures_el is not None else [])
        ),
        dc=dc.get("name") if present and dc is not None else None,
        quorum=(dc.get("with_quorum") == "true") if present and dc is not None else None,
        stonith_enabled=options is not None and options.get("stonith-enabled") == "true",
        maintenance_mode=options is not None and options.get("maintenance-mode") == "true",
    )


@dataclass(frozen=True)
class Operation:
    """One entry of a resource's operation history on a node: an ``lrm_rsc_op`` of the
    CIB status section. Pacemaker keeps per resource and node the last non-recurring
    operation (id ``RSC_last_0``), the last failure (``RSC_last_failure_0``), the last
    ``migrate_to``/``migrate_from`` (``RSC_migrate_to_0``, ...) and each recurring
    monitor; a fenced node's history is erased."""

    resource: str
    node: str
    id: str  # vm1_last_0, vm1_migrate_from_0, vm1_monitor_10000, vm1_last_failure_0
    task: str  # start, stop, migrate_to, migrate_from, monitor, ...
    call_id: int  # increases with every operation on the node (-1 while pending)
    rc_code: int  # the agent's OCF exit code
    op_status: int  # 0 complete; -1 pending (record-pending), others: cancelled, timed out ...
    interval_ms: int
    last_rc_change: int  # when it began (a recurring monitor: its result changed), epoch s
    exec_ms: int  # how long the agent ran
    migrate_source: str | None = None
    migrate_target: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.op_status == 0 and self.rc_code == 0

    @property
    def began(self) -> float:
        """When the executor ran it (epoch seconds, whole: Pacemaker's last-rc-change of a
        non-recurring operation is its start; a pending entry has the same)."""
        return float(self.last_rc_change)

    @property
    def ended(self) -> float:
        return self.last_rc_change + self.exec_ms / 1000

    @property
    def identity(self) -> tuple[str, str, str, int, int]:
        return (self.node, self.id, self.task, self.call_id, self.last_rc_change)

    @classmethod
    def from_xml(cls, el: etree._Element, resource: str, node: str) -> Operation:
        def number(name: str) -> int:
            try:
                return int(el.get(name, "0") or 0)
            except ValueError:
                return 0

        return cls(
            resource=resource,
            node=node,
            id=el.get("id", ""),
            task=el.get("operation", ""),
            call_id=number("call-id"),
            rc_code=number("rc-code"),
            op_status=number("op-status"),
            interval_ms=number("interval"),
            last_rc_change=number("last-rc-change"),
            exec_ms=number("exec-time"),
            migrate_source=el.get("migrate_source"),
            migrate_target=el.get("migrate_target"),
        )


@dataclass(frozen=True)
class OperationHistory:
    """Every node's operation history (``cibadmin --query --scope status``)."""

    nodes: tuple[str, ...]  # the nodes with a node_state entry
    operations: tuple[Operation, ...]

    def of(self, resource: str, node: str | None = None) -> tuple[Operation, ...]:
        return tuple(
            o
            for o in self.operations
            if o.resource == resource and (node is None or o.node == node)
        )

    def since(self, baseline: OperationHistory) -> OperationHistory:
        """The entries that are not in ``baseline``: what happened since it was read."""
        old = {o.identity for o in baseline.operations}
        return OperationHistory(
            self.nodes, tuple(o for o in self.operations if o.identity not in old)
        )


def parse_history(xml: str) -> OperationHistory:
    """An OperationHistory from the CIB status section (or a whole CIB)."""
    root = etree.fromstring(xml.encode())
    nodes, operations = [], []
    for state in root.iter("node_state"):
        node = state.get("uname", "")
        nodes.append(node)
        for rsc in state.iterfind("lrm/lrm_resources/lrm_resource"):
            operations += [
                Operation.from_xml(op, rsc.get("id", ""), node) for op in rsc.iterfind("lrm_rsc_op")
            ]
    return OperationHistory(tuple(nodes), tuple(operations))


@dataclass(frozen=True)
class CibVersion:
    """A CIB's version. (admin_epoch, epoch) changes with every configuration change;
    num_updates only with status updates."""

    admin_epoch: int
    epoch: int
    num_updates: int

    @classmethod
    def of(cls, cib_xml: str | bytes) -> CibVersion:
        root = parse_xml(cib_xml, "the CIB")
        numbers = []
        for name in ("admin_epoch", "epoch", "num_updates"):
            text = root.get(name, "0")
            if not (text.isascii() and text.isdigit() and len(text) <= 18):
                raise HavirtError(
                    f"the CIB's {name} is {quote(text)}, not a whole number",
                    "check the CIB (cibadmin --query)",
                )
            numbers.append(int(text))
        return cls(*numbers)

    @property
    def configuration(self) -> tuple[int, int]:
        return (self.admin_epoch, self.epoch)

    def __str__(self) -> str:
        return f"{self.admin_epoch}.{self.epoch}.{self.num_updates}"


_DUMP_LINE = re.compile(r"^\s*\d+\s*[:|]?\s*<")
VERIFY_LINES = 10
VERIFY_LINE_WIDTH = 200


def verify_lines(lines: Sequence[str]) -> list[str]:
    """crm_verify's findings for one error message: each line capped, at most
    VERIFY_LINES of them and a count of the rest."""
    shown = [
        line if len(line) <= VERIFY_LINE_WIDTH else line[:VERIFY_LINE_WIDTH] + "..."
        for line in lines[:VERIFY_LINES]
    ]
    if len(lines) > VERIFY_LINES:
        shown.append(f"... and {len(lines) - VERIFY_LINES} more (run crm_verify -VV yourself)")
    return shown


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    errors: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class PlannedAction:
    """One action of a transition crm_simulate computed."""

    action: str  # start, stop, migrate, move, recover, promote, ...
    resource: str
    node: str | None = None  # for start/stop/...
    source: str | None = None  # for migrate/move
    dest: str | None = None
    reason: str | None = None
    blocked: bool = False  # it cannot run yet (the reason says what it waits for)


@dataclass(frozen=True)
class Simulation:
    actions: tuple[PlannedAction, ...]
    before: ClusterStatus
    after: ClusterStatus | None  # with --simulate only


def parse_simulation(xml: str) -> Simulation:
    root = parse_xml(xml, "crm_simulate's result")
    actions = tuple(
        PlannedAction(
            action=a.get("action", ""),
            resource=a.get("resource", ""),
            node=a.get("node"),
            source=a.get("source"),
            dest=a.get("dest"),
            reason=a.get("reason"),
            blocked=a.get("blocked") == "true",
        )
        for a in root.iterfind("actions/rsc_action")
    )
    status = root.find("cluster_status")
    if status is None:  # was an AttributeError deep in _status_from
        raise PacemakerError("crm_simulate's result has no cluster_status")
    before = _status_from(status, None)
    revised = root.find("revised_cluster_status")
    after = _status_from(revised, None) if revised is not None else None
    return Simulation(actions, before, after)


def _xml_errors(stdout: str) -> str | None:
    """The status and errors of a tool's --output-as xml result, as one line."""
    if "<pacemaker-result" not in stdout:
        return None
    try:
        status = parse_xml(stdout, "the tool's result").find("status")
    except HavirtError:
        return None
    if status is None:
        return None
    errors = [e.text.strip() for e in status.iterfind("errors/error") if e.text]
    message = f"{status.get('message', '')} ({status.get('code', '?')})"
    return "; ".join([message, *errors])


# -- the adapter --------------------------------------------------------------------------


class PrefixRunner(CommandRunner):
    """Runs every command behind a fixed prefix, e.g. inside a lab node:
    ``PrefixRunner(["nsenter", "--target", PID, "--mount", "--net", "--uts", "--"])``
    (or ``["ssh", "root@node1", "--"]`` for a remote node). Files named in the
    commands must be visible at the same path there."""

    def __init__(self, prefix: Sequence[str], inner: CommandRunner | None = None) -> None:
        super().__init__()
        self.prefix = tuple(prefix)
        self.inner = inner or CommandRunner()

    def run(
        self,
        argv: Sequence[str],
        timeout: float,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> CommandResult:
        if env:
            # An environment does not cross ssh (nor sudo): pass it as `env NAME=VALUE`.
            argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
        result = self.inner.run([*self.prefix, *argv], timeout, stdin=stdin, cwd=cwd)
        return CommandResult(
            tuple(argv), result.returncode, result.stdout, result.stderr, result.timed_out
        )


class Pacemaker:
    """Pacemaker and pcs, through one runner. See the module docstring."""

    def __init__(
        self,
        runner: CommandRunner | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cib_file: str | None = None,
    ) -> None:
        self.runner = runner or CommandRunner()
        self.timeout = timeout
        self.cib_file = cib_file

    # -- plumbing -------------------------------------------------------------------------

    def _env(self) -> dict[str, str] | None:
        return {"CIB_file": self.cib_file} if self.cib_file else None

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        ok_codes: Iterable[int] = (0,),
        stdin: str | None = None,
        what: str | None = None,
    ) -> CommandResult:
        """Run one tool; raise PacemakerError unless its exit code is in ``ok_codes``."""
        result = self.runner.run(
            list(argv), timeout=timeout or self.timeout, stdin=stdin, env=self._env()
        )
        if result.timed_out:
            raise PacemakerError(
                f"{what or argv[0]}: {result.describe()} (after {timeout or self.timeout:g} s)",
                result,
            )
        if result.returncode == CrmExit.NOT_FOUND:
            package = PACKAGES.get(argv[0], "pacemaker")
            raise PacemakerError(
                f"{argv[0]} is not installed", result, hint=f"apt-get install {package}"
            )
        if result.returncode not in tuple(ok_codes):
            detail = _xml_errors(result.stdout) or result.describe()
            hint = None
            if result.returncode == CrmExit.DISCONNECT:
                hint = (
                    "Pacemaker is not running here: run this on a cluster node, "
                    "or set CIB_file=FILE to work on a CIB file"
                )
            raise PacemakerError(f"{what or argv[0]} failed: {detail}", result, hint=hint)
        return result

    def _pcs(self, args: Sequence[str]) -> list[str]:
        return ["pcs", *(["-f", self.cib_file] if self.cib_file else []), *args]

    # -- reading state --------------------------------------------------------------------

    def status(self, *, timeout: float | None = None) -> ClusterStatus:
        """Nodes, every resource instance and failed actions (``crm_mon --output-as xml``)."""
        result = self.run(
            ["crm_mon", "--output-as", "xml", "--one-shot", "--inactive"],
            timeout=timeout,
            what="reading the cluster status",
        )
        return parse_status(result.stdout)

    def cib_xml(self, scope: str | None = None, *, timeout: float | None = None) -> str:
        """The CIB (or one section: configuration, resources, constraints, nodes, status)."""
        cib_file = self.cib_file or os.environ.get("CIB_file")  # noqa: SIM112 - Pacemaker spells it so
        if cib_file and os.path.lexists(cib_file):  # a missing one: cibadmin says so
            # cibadmin reads a CIB file with entities expanded or dropped and no size
            # limit: check it the safe way first, as havirt reads every outside XML.
            parse_xml(read_bytes(cib_file, "CIB_file"), f"CIB_file {cib_file}")
        argv = ["cibadmin", "--query"]
        if scope:
            argv += ["--scope", scope]
        return self.run(argv, timeout=timeout, what="reading the CIB").stdout

    def history(self, *, timeout: float | None = None) -> OperationHistory:
        """Every resource's operation history on every node (the CIB status section)."""
        return parse_history(self.cib_xml("status", timeout=timeout))

    def cib_version(self, *, timeout: float | None = None) -> CibVersion:
        return CibVersion.of(self.cib_xml(timeout=timeout))

    def pcs_json(self, *args: str, timeout: float | None = None) -> Any:
        """``pcs ARGS --output-format=json``, parsed (pcs 0.11: resource/stonith config)."""
        result = self.run(
            self._pcs([*args, "--output-format=json"]),
            timeout=timeout,
            what=f"pcs {' '.join(args)}",
        )
        try:
            return json.loads(result.stdout)
        except ValueError as exc:
            raise PacemakerError(
                f"pcs {' '.join(args)}: output is not JSON ({exc})", result
            ) from None

    def resource_config(self, *, timeout: float | None = None) -> dict[str, Any]:
        """Resources as pcs describes them: {"primitives": [...], "clones": [...], ...}."""
        config: dict[str, Any] = self.pcs_json("resource", "config", timeout=timeout)
        return config

    # -- checking -------------------------------------------------------------------------

    def verify(self, xml_file: str | None = None, *, timeout: float | None = None) -> VerifyResult:
        """``crm_verify`` on a CIB file (or on the live CIB): errors and warnings.

        ``ok`` means no errors: crm_verify exits 78 for warnings alone too."""
        argv = ["crm_verify", "-VV"] + (["--xml-file", xml_file] if xml_file else ["--live-check"])
        result = self.run(
            argv,
            timeout=timeout,
            ok_codes=(CrmExit.OK, CrmExit.CONFIG, CrmExit.DATAERR),
            what="crm_verify",
        )
        errors: list[str] = []
        warnings: list[str] = []
        for line in (result.stderr + result.stdout).splitlines():
            # "(unpack_resources) \terror: Resource start-up disabled since ..."
            if line.startswith("crm_verify:") or "-V may provide" in line:
                continue
            if _DUMP_LINE.match(line):  # the CIB itself, line by line: never an error
                continue
            if "validity error :" in line:  # "FILE:1: element x: Relax-NG validity error : ..."
                errors.append(line.split("validity error :", 1)[1].strip())
            elif "error:" in line:
                errors.append(line.split("error:", 1)[1].strip())
            elif "warning:" in line:
                warnings.append(line.split("warning:", 1)[1].strip())
        if result.returncode != 0 and not errors and not warnings:
            errors.append(result.describe())
        return VerifyResult(not errors, tuple(errors), tuple(warnings))

    def simulate(
        self,
        xml_file: str | None = None,
        *,
        node_up: Iterable[str] = (),
        node_down: Iterable[str] = (),
        node_fail: Iterable[str] = (),
        op_inject: Iterable[str] = (),
        quorum: bool | None = None,
        run: bool = True,
        save_output: str | None = None,
        timeout: float | None = None,
    ) -> Simulation:
        """What the scheduler would do (``crm_simulate --output-as xml``) on a CIB file
        (or the live CIB); ``run`` also simulates executing it (``--simulate``).
        ``op_inject`` entries are crm_simulate OPSPECs: ``vm1_monitor_10000@node1=7``."""
        argv = ["crm_simulate", "--output-as", "xml"]
        argv += ["--xml-file", xml_file] if xml_file else ["--live-check"]
        argv += ["--simulate"] if run else ["--run"]
        for flag, values in (
            ("--node-up", node_up),
            ("--node-down", node_down),
            ("--node-fail", node_fail),
            ("--op-inject", op_inject),
        ):
            for value in values:
                argv += [flag, value]
        if quorum is not None:
            argv += ["--quorum", "true" if quorum else "false"]
        if save_output:
            argv += ["--save-output", save_output]
        result = self.run(argv, timeout=timeout, what="crm_simulate")
        return parse_simulation(result.stdout)

    # -- changing -------------------------------------------------------------------------

    def push_cib(self, new_file: str, original_file: str, *, timeout: float | None = None) -> None:
        """Push the difference between two CIB files as one transaction
        (``pcs cluster cib-push NEW diff-against=ORIGINAL``)."""
        self.run(
            ["pcs", "cluster", "cib-push", new_file, f"diff-against={original_file}"],
            timeout=timeout,
            what="pushing the CIB",
        )

    def wait(self, timeout: float) -> None:
        """Wait until the cluster has no pending actions (``crm_resource --wait``)."""
        seconds = max(1, int(timeout))
        result = self.run(
            ["crm_resource", "--wait", f"--timeout={seconds}s"],
            timeout=seconds + 10,
            ok_codes=(CrmExit.OK, CrmExit.TIMEOUT),
            what="waiting for the cluster",
        )
        if result.returncode == CrmExit.TIMEOUT:
            raise PacemakerTimeout(
                f"the cluster did not settle within {seconds} s",
                result,
                hint="see crm_mon for what is still pending",
            )

    def set_property(self, name: str, value: str, *, timeout: float | None = None) -> None:
        """Set one cluster property (what ``pcs property set NAME=VALUE`` does; crm_attribute
        also honours CIB_file from the environment, and costs no pcs start-up)."""
        self.run(
            ["crm_attribute", "--type", "crm_config", "--name", name, "--update", value],
            timeout=timeout,
            what=f"setting the cluster property {name}",
        )

    def maintenance_mode(self, on: bool, *, timeout: float | None = None) -> None:
        """Cluster-wide maintenance: Pacemaker stops managing (and monitoring) resources."""
        self.set_property("maintenance-mode", "true" if on else "false", timeout=timeout)

    def node_attribute(self, node: str, name: str, *, timeout: float | None = None) -> str | None:
        """A permanent node attribute (``crm_attribute --query``); None when it is not set."""
        result = self.run(
            ["crm_attribute", "--node", node, "--name", name, "--query", "--quiet"],
            timeout=timeout,
            ok_codes=(CrmExit.OK, CrmExit.NOSUCH),
            what=f"reading attribute {name} of node {node}",
        )
        return result.stdout.strip() if result.returncode == CrmExit.OK else None

    def set_node_attribute(
        self, node: str, name: str, value: str | None, *, timeout: float | None = None
    ) -> None:
        """Set a permanent node attribute, or delete it (``value`` None; absent is fine).
        ``standby`` is one: ``crm_attribute`` is what ``pcs node standby`` runs."""
        change = ["--update", value] if value is not None else ["--delete"]
        self.run(
            ["crm_attribute", "--node", node, "--name", name, *change],
            timeout=timeout,
            what=f"{'setting' if value is not None else 'deleting'} attribute {name} of {node}",
        )

    def add_constraints(self, constraints_xml: str, *, timeout: float | None = None) -> None:
        """Add every constraint of a ``<constraints>`` fragment in one CIB transaction."""
        modify = ["cibadmin", "--modify", "--allow-create", "--scope", "constraints"]
        self.run(
            [*modify, "--xml-text", constraints_xml],
            timeout=timeout,
            what="adding constraints",
        )

    def delete_constraints(self, ids: Iterable[str], *, timeout: float | None = None) -> None:
        """Delete the constraints with these ids in one CIB transaction (absent ones are fine)."""
        wanted = sorted(set(ids))
        if not wanted:
            return
        for cid in wanted:
            if "'" in cid:
                raise PacemakerError(f"constraint id {cid!r} cannot be quoted in XPath")
        match = " or ".join(f"@id='{cid}'" for cid in wanted)
        self.run(
            ["cibadmin", "--delete-all", "--force", "--xpath", f"//constraints/*[{match}]"],
            timeout=timeout,
            what="deleting constraints",
        )

    def create_element(self, scope: str, xml: str, *, timeout: float | None = None) -> bool:
        """Add one element to a CIB section, only if no element has its id: True when it
        was added, False when one existed (``cibadmin --create``: the CIB manager
        checks and adds in one step, so of two creators exactly one wins)."""
        result = self.run(
            ["cibadmin", "--create", "--scope", scope, "--xml-text", xml],
            timeout=timeout,
            ok_codes=(CrmExit.OK, CrmExit.EXISTS),
            what=f"adding to the CIB's {scope}",
        )
        return result.returncode == CrmExit.OK

    def delete_where(self, xpath: str, *, timeout: float | None = None) -> None:
        """Delete the CIB elements ``xpath`` matches, in one step (none: nothing happens).
        A condition in the XPath makes it a compare-and-delete."""
        self.run(
            ["cibadmin", "--delete-all", "--force", "--xpath", xpath],
            timeout=timeout,
            ok_codes=(CrmExit.OK, CrmExit.NOSUCH),
            what="deleting from the CIB",
        )

    def refresh(self, *, timeout: float | None = None) -> None:
        """Forget the recorded state of every resource and re-probe it on every node
        (``crm_resource --refresh``): Pacemaker learns what really runs where."""
        self.run(["crm_resource", "--refresh"], timeout=timeout, what="re-probing the resources")
