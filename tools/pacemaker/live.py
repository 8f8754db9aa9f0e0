"""The one place the havirt CLI runs Pacemaker's tools and pcs.

Every call goes through :class:`havirt.ocf.runner.CommandRunner` (argv lists,
no shell, ``LC_ALL=C``, a timeout on each call) and asks for machine-readable
output: ``crm_mon --output-as xml``, ``crm_simulate --output-as xml``,
``pcs ... --output-format=json``, CIB XML from ``cibadmin``. The XML is parsed
by the pure parsers next to this module (status, history, simulation, verify,
version) into small immutable values; callers never see tool text.

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

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from havirt.ocf.runner import CommandResult, CommandRunner
from havirt.tools.errors import HavirtError
from havirt.tools.pacemaker.errors import CrmExit, PacemakerError, PacemakerTimeout
from havirt.tools.pacemaker.history import OperationHistory, parse_history
from havirt.tools.pacemaker.simulation import Simulation, parse_simulation
from havirt.tools.pacemaker.status import ClusterStatus, parse_status
from havirt.tools.pacemaker.verify import VerifyResult, parse_verify
from havirt.tools.pacemaker.version import CibVersion
from havirt.tools.userinput import parse_xml, read_bytes

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
    commands must be visible at the same path there. A result's ``argv`` is the
    command without the prefix."""

    def __init__(self, prefix: Sequence[str]) -> None:
        super().__init__()
        self.prefix = tuple(prefix)

    def command_line(
        self, argv: Sequence[str], env: Mapping[str, str] | None
    ) -> tuple[tuple[str, ...], dict[str, str]]:
        if env:
            # An environment does not cross ssh (nor sudo): pass it as `env NAME=VALUE`.
            argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
        return tuple(argv), dict(self.env)


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
        return parse_verify(result)

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

    def set_resource_meta(
        self, resource: str, name: str, value: str, *, timeout: float | None = None
    ) -> None:
        """Set one meta attribute of a resource in one CIB change (``crm_resource --meta
        --set-parameter``; ``target-role`` is how ``pcs resource enable|disable`` start
        and stop one)."""
        meta = ["crm_resource", "--resource", resource, "--meta"]
        self.run(
            [*meta, "--set-parameter", name, "--parameter-value", value],
            timeout=timeout,
            what=f"setting {name} of {resource}",
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
