"""validate(): connect to every node in parallel, collect, compare, report.

The library layer: takes targets and a connector (the SSH adapter, or a fake),
returns a :class:`~.report.Report`; it never prints and never exits. Invalid
input raises :class:`~havirt.tools.errors.HavirtError`; a node's problems,
unreachable nodes included, are findings.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol

from havirt.tools.domains.drift import Stored
from havirt.tools.errors import BadRequest
from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.catalog import CONNECT, SKIPPABLE
from havirt.tools.validate.checks import CHECKS
from havirt.tools.validate.checks.context import CheckOptions, Context
from havirt.tools.validate.facts import NodeFacts
from havirt.tools.validate.probe import Collector, ProbeOptions, Session, cpu_baseline
from havirt.tools.validate.report import CheckOutcome, NodeSummary, Report
from havirt.tools.validate.targets import Target, check_distinct

MAX_PARALLEL = 32  # connections at once


class ConnectFailure(Protocol):
    kind: str
    message: str
    fix: str


class Connector(Protocol):
    """Opens a session to a target; raises an exception with kind/message/fix on failure."""

    def connect(self, target: Target) -> Session: ...


@dataclass
class Options:
    skip: tuple[str, ...] = ()
    checks: CheckOptions = field(default_factory=CheckOptions)
    command_timeout: float = 20.0
    parallel: int = MAX_PARALLEL
    # guest -> its current definition in the store (None: no store, the check is skipped)
    definitions: Mapping[str, Stored] | None = None
    no_store: str = "no definition store given"  # the note of the skipped check


@dataclass
class _Node:
    target: Target
    role: str
    facts: NodeFacts | None = None
    session: Session | None = None
    login_user: str | None = None
    port: int | None = None  # the port the connection used
    failure: Finding | None = None
    seconds: float | None = None


def validate(
    targets: Sequence[Target],
    connector: Connector,
    options: Options | None = None,
    new_host: Target | None = None,
    connect_errors: tuple[type[BaseException], ...] = (),
    clock: Callable[[], float] | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> Report:
    """Validate ``targets`` (and ``new_host`` against them); return the report.

    ``connect_errors``: the exception types ``connector.connect`` raises for an
    unreachable node (they carry ``kind``, ``message`` and ``fix``). ``clock``
    times the run and each node, ``wall_clock`` is what the nodes' clocks are
    compared with: the connector's ``clock``/``wall_clock`` when it brings them
    (a test's fake connector does), else this machine's clocks.
    """
    clock = clock or getattr(connector, "clock", None) or time.monotonic
    wall_clock = wall_clock or getattr(connector, "wall_clock", None) or time.time
    options = options or Options()
    unknown = sorted(set(options.skip) - set(SKIPPABLE))
    if unknown:
        raise BadRequest(
            f"unknown check(s) to skip: {', '.join(unknown)}",
            hint=f"one of: {', '.join(SKIPPABLE)}",
        )
    everyone = [*targets, *([new_host] if new_host else [])]
    if not targets:
        raise BadRequest("no nodes to validate", hint="give validate the cluster's nodes")
    check_distinct(everyone)
    started = clock()
    nodes = [_Node(t, "new-host" if t is new_host else "member") for t in everyone]
    probe = ProbeOptions(
        trust="ssh-trust" not in options.skip,
        migration_user=options.checks.migration_user,
        command_timeout=options.command_timeout,
        clock=wall_clock,
    )

    def work(node: _Node) -> None:
        begin = clock()
        _probe(node, connector, everyone, probe, connect_errors)
        if node.facts is not None:
            node.seconds = clock() - begin

    try:
        _in_parallel(work, nodes, options.parallel)
        ctx = Context(
            targets=everyone,
            facts={n.target.name: n.facts for n in nodes if n.facts is not None},
            new_host=new_host.name if new_host else None,
            options=options.checks,
            login_users={n.target.name: n.login_user for n in nodes if n.login_user},
            definitions=options.definitions,
        )
        if "cpu" not in options.skip:
            ctx.cpu_baseline = _cpu_baseline(ctx, nodes, options.command_timeout)
    finally:
        _close(nodes)
    outcomes = _run_checks(ctx, nodes, options.skip, options.no_store)
    return Report(
        mode="new-host" if new_host else "cluster",
        new_host=new_host.name if new_host else None,
        nodes=[_summary(n) for n in nodes],
        checks=outcomes,
        seconds=clock() - started,
    )


def _probe(
    node: _Node,
    connector: Connector,
    everyone: Sequence[Target],
    probe: ProbeOptions,
    connect_errors: tuple[type[BaseException], ...],
) -> None:
    """Connect to ``node`` and collect its facts; a node that cannot be reached gets its
    connect finding instead."""
    try:
        node.session = connector.connect(node.target)
    except connect_errors as exc:
        # connect_errors' types carry kind, message and fix (validate's contract)
        node.failure = _connect_finding(node.target, exc)  # type: ignore[arg-type]
        return
    node.login_user = getattr(node.session, "user", None) or node.target.user
    node.port = getattr(node.session, "port", None)
    node.facts = Collector(node.session, node.target, everyone, probe, node.login_user).collect()


def gather(
    targets: Sequence[Target],
    connector: Connector,
    probe: ProbeOptions,
    connect_errors: tuple[type[BaseException], ...] = (),
    parallel: int = MAX_PARALLEL,
) -> tuple[dict[str, NodeFacts], list[Finding]]:
    """Every node's facts, without judging them (for a caller with its own judges):
    (facts of the nodes reached, the findings of those that were not or whose facts
    could not all be read)."""
    nodes = [_Node(t, "member") for t in targets]
    # The nodes' clocks are compared with the connector's wall clock when it brings one.
    probe = replace(probe, clock=probe.clock or getattr(connector, "wall_clock", None))
    try:
        _in_parallel(
            lambda n: _probe(n, connector, targets, probe, connect_errors), nodes, parallel
        )
    finally:
        _close(nodes)
    failures = [n.failure for n in nodes if n.failure is not None]
    for n in nodes:
        failures += [replace(p, node=n.target.name) for p in (n.facts.problems if n.facts else [])]
    return {n.target.name: n.facts for n in nodes if n.facts is not None}, failures


def _close(nodes: list[_Node]) -> None:
    for node in nodes:
        if node.session is not None:
            close = getattr(node.session, "close", None)
            if close:
                close()


def _in_parallel(work: Callable[[_Node], None], nodes: list[_Node], parallel: int) -> None:
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(nodes)))) as pool:
        for future in [pool.submit(work, node) for node in nodes]:
            future.result()  # a bug in our code surfaces here, not as a silent gap


def _connect_finding(target: Target, exc: ConnectFailure) -> Finding:
    return Finding(
        CONNECT,
        ERROR,
        exc.message,
        exc.fix,
        node=target.name,
        item=f"ssh {target.describe()}",
        actual=exc.kind,
    )


def _cpu_baseline(ctx: Context, nodes: list[_Node], timeout: float) -> str | None:
    """When host CPUs differ, ask libvirt on a member for a CPU all of them run."""
    cpus = [f.cpu for f in ctx.facts.values() if f.cpu is not None]
    if len({cpu.signature for cpu in cpus}) < 2:
        return None
    node = next((n for n in nodes if n.session is not None and n.role == "member"), None)
    if node is None or node.session is None:
        return None
    return cpu_baseline(node.session, [cpu.xml for cpu in cpus], timeout)


def _run_checks(
    ctx: Context, nodes: list[_Node], skip: Iterable[str], no_store: str
) -> list[CheckOutcome]:
    problems: dict[str, list[Finding]] = {}
    for node in nodes:
        if node.facts is None:
            continue
        for p in node.facts.problems:
            problems.setdefault(p.code, []).append(replace(p, node=node.target.name))
    outcomes = []
    for check in CHECKS:
        if check.id in skip:
            outcomes.append(CheckOutcome(check.id, check.title, "skipped", note="--skip"))
            continue
        if check.id == "definitions" and ctx.definitions is None:
            outcomes.append(CheckOutcome(check.id, check.title, "skipped", note=no_store))
            continue
        if check.id == CONNECT:
            found = [n.failure for n in nodes if n.failure is not None]
        elif not ctx.facts:
            outcomes.append(
                CheckOutcome(check.id, check.title, "skipped", note="no node reachable")
            )
            continue
        else:
            assert check.run is not None
            found = check.run(ctx)
        found = problems.get(check.id, []) + found
        status = ERROR if any(f.severity == ERROR for f in found) else WARNING if found else "ok"
        note = ""
        if check.id == "ssh-trust" and len(ctx.facts) < 2:
            note = "one node: nothing to reach"
        outcomes.append(CheckOutcome(check.id, check.title, status, found, note))
    return outcomes


def _summary(node: _Node) -> NodeSummary:
    facts = node.facts
    versions = (facts.versions or {}) if facts else {}
    return NodeSummary(
        name=node.target.name,
        address=node.target.address,
        user=node.login_user or node.target.user,
        port=node.port or node.target.port,
        reachable=facts is not None,
        role=node.role,
        hostname=facts.hostname if facts else None,
        libvirt=versions.get("libvirt"),
        qemu=versions.get("qemu"),
        seconds=round(node.seconds, 3) if node.seconds is not None else None,
    )
