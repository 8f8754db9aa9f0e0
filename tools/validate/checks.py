"""The checks, declared as data, and the comparisons behind them (pure: facts in,
findings out).

Most checks compare one value across nodes against a **reference**: the value
most nodes have (a tie goes to the node listed first); with ``--new-host`` only
the existing members vote, so the members are the reference and the host about
to join is measured against them. Every finding names the node, the item, what
differs, and the command or edit that fixes it.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate.catalog import CATALOG
from havirt.tools.validate.facts import Cpu, NodeFacts, Trust
from havirt.tools.validate.targets import Target

V = TypeVar("V", bound=Hashable)
ALL_NODES = "*"  # the node of a finding about the whole cluster


@dataclass
class CheckOptions:
    max_clock_offset: float = 1.0  # seconds between any node and the others' median
    memory_reserve_mib: int = 1024  # kept free on every node for the host itself
    migration_user: str | None = None  # user@ of qemu+ssh:// (None: the SSH login user)


@dataclass
class Context:
    """What the checks see: the nodes in order, their facts, the mode, the options."""

    targets: list[Target]
    facts: dict[str, NodeFacts]  # reachable nodes only
    new_host: str | None = None
    options: CheckOptions = field(default_factory=CheckOptions)
    login_users: dict[str, str] = field(default_factory=dict)  # node -> SSH user
    cpu_baseline: str | None = None  # <cpu> every node can run, when CPUs differ

    @property
    def order(self) -> list[str]:
        return [t.name for t in self.targets if t.name in self.facts]

    def target(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)

    def voters(self, nodes: Sequence[str]) -> list[str]:
        """Who sets the reference: the members (not the new host) when there are any."""
        members = [n for n in nodes if n != self.new_host]
        return members or list(nodes)

    def migration_user(self, node: str) -> str:
        return self.options.migration_user or self.login_users.get(node) or "root"


def reference(ctx: Context, values: Mapping[str, V]) -> V | None:
    """The value most voting nodes have; a tie goes to the first such node in order."""
    voters = [n for n in ctx.voters(list(values)) if n in values]
    if not voters:
        return None
    counts = Counter(values[n] for n in voters)
    best = max(counts.values())
    return next(values[n] for n in voters if counts[values[n]] == best)


def outliers(ctx: Context, values: Mapping[str, V]) -> tuple[V | None, list[str], list[str]]:
    """(reference, nodes that have it, nodes that differ), nodes in order."""
    ref = reference(ctx, values)
    order = [n for n in ctx.order if n in values]
    same = [n for n in order if values[n] == ref]
    return ref, same, [n for n in order if values[n] != ref]


def nodes_text(nodes: Sequence[str]) -> str:
    return ", ".join(nodes) if nodes else "no other node"


def short(name: str) -> str:
    return name.split(".", 1)[0].lower()


# ---------------------------------------------------------------- libvirt objects


@dataclass(frozen=True)
class Field:
    """One compared property of a network or pool, and how to fix a difference."""

    attr: str
    label: str
    fix: Callable[[str, str, Any], str]  # (node, object name, reference value) -> fix


def _net_fields() -> tuple[Field, ...]:
    return (
        Field(
            "bridge",
            "bridge",
            lambda n, name, ref: (
                f"on {n}: virsh net-edit {name}, set <bridge name='{ref}'/>, "
                f"then virsh net-destroy {name}; virsh net-start {name}"
            ),
        ),
        Field(
            "forward",
            "forward mode",
            lambda n, name, ref: (
                f"on {n}: virsh net-edit {name} and set "
                + ("no <forward> element" if ref == "isolated" else f"<forward mode='{ref}'/>")
            ),
        ),
        Field("active", "active", lambda n, name, ref: _activate("net", n, name, ref)),
        Field("autostart", "autostart", lambda n, name, ref: _autostart("net", n, name, ref)),
    )


def _pool_fields() -> tuple[Field, ...]:
    return (
        Field(
            "type",
            "type",
            lambda n, name, ref: (
                f"on {n}: redefine pool {name} as type '{ref}' "
                "(virsh pool-dumpxml on a node that has it right, then virsh pool-define)"
            ),
        ),
        Field(
            "source",
            "source",
            lambda n, name, ref: (
                f"on {n}: virsh pool-edit {name} and make <source> "
                f"({_source_text(ref)}) as on the others, then virsh pool-destroy {name}; "
                f"virsh pool-start {name}"
            ),
        ),
        Field(
            "target",
            "target path",
            lambda n, name, ref: (
                f"on {n}: virsh pool-edit {name} and set "
                f"<target><path>{ref}</path></target> (guests' disk paths must be the same on "
                f"every node), then virsh pool-destroy {name}; virsh pool-start {name}"
            ),
        ),
        Field("active", "active", lambda n, name, ref: _activate("pool", n, name, ref)),
        Field("autostart", "autostart", lambda n, name, ref: _autostart("pool", n, name, ref)),
    )


def _activate(kind: str, node: str, name: str, ref: bool) -> str:
    if ref:
        return f"on {node}: virsh {kind}-start {name}"
    return f"on {node}: virsh {kind}-destroy {name} (or start it on every node)"


def _autostart(kind: str, node: str, name: str, ref: bool) -> str:
    if ref:
        return f"on {node}: virsh {kind}-autostart {name}"
    return f"on {node}: virsh {kind}-autostart --disable {name} (or enable it everywhere)"


def _source_text(source: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in source) if source else "none"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return _source_text(value)
    return "none" if value is None else f"'{value}'"


def compare_objects(
    ctx: Context,
    check: str,
    kind: str,
    verbs: str,
    per_node: Mapping[str, Mapping[str, Any]],
    fields: Sequence[Field],
) -> list[Finding]:
    """Compare named libvirt objects (networks, pools): presence, then each field."""
    found: list[Finding] = []
    order = [n for n in ctx.order if n in per_node]
    names: list[str] = []
    for node in order:
        names += [name for name in per_node[node] if name not in names]
    for name in names:
        item = f"{kind} '{name}'"
        presence = {n: name in per_node[n] for n in order}
        ref, _, odd = outliers(ctx, presence)
        voters = ctx.voters(order)
        if sum(presence[n] for n in voters) * 2 == len(voters):
            ref, odd = True, [n for n in order if not presence[n]]  # a tie: it is missing
        have = [n for n in order if presence[n]]
        lack = [n for n in order if not presence[n]]
        if ref is False and have:  # only a minority (or only the new host) has it
            for node in odd:
                severity = WARNING if node == ctx.new_host else ERROR
                found.append(
                    Finding(
                        check,
                        severity,
                        f"defined on {node} only, not on {nodes_text(lack)}",
                        f"define it on the other nodes too (from {node}: virsh {verbs}-dumpxml "
                        f"{name} > {name}.xml, then on each: virsh {verbs}-define {name}.xml), or "
                        f"remove it from {node}: virsh {verbs}-destroy {name}; "
                        f"virsh {verbs}-undefine {name}",
                        node=node,
                        item=item,
                        expected="absent",
                        actual="present",
                    )
                )
        else:
            for node in lack:
                source = have[0]
                found.append(
                    Finding(
                        check,
                        ERROR,
                        f"missing on {node}; defined on {nodes_text(have)}",
                        f"copy it from {source}: (on {source}) virsh {verbs}-dumpxml {name} > "
                        f"{name}.xml; (on {node}) virsh {verbs}-define {name}.xml; "
                        f"virsh {verbs}-start {name}; virsh {verbs}-autostart {name}",
                        node=node,
                        item=item,
                        expected="present",
                        actual="absent",
                    )
                )
        for spec in fields:
            values = {n: getattr(per_node[n][name], spec.attr) for n in have}
            ref_value, same, differ = outliers(ctx, values)
            for node in differ:
                found.append(
                    Finding(
                        check,
                        ERROR,
                        f"{spec.label} is {_show(values[node])} on {node}; "
                        f"{nodes_text(same)} {'has' if len(same) == 1 else 'have'} "
                        f"{_show(ref_value)}",
                        spec.fix(node, name, ref_value),
                        node=node,
                        item=item,
                        expected=_jsonable(ref_value),
                        actual=_jsonable(values[node]),
                    )
                )
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple) and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return dict(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    return value


def check_networks(ctx: Context) -> list[Finding]:
    per_node = {n: f.networks for n, f in ctx.facts.items() if f.networks is not None}
    return compare_objects(ctx, "networks", "network", "net", per_node, _net_fields())


def check_pools(ctx: Context) -> list[Finding]:
    per_node = {n: f.pools for n, f in ctx.facts.items() if f.pools is not None}
    return compare_objects(ctx, "pools", "pool", "pool", per_node, _pool_fields())


# ---------------------------------------------------------------- SSH trust


def _trust_fix(ctx: Context, node: str, peer: str, trust: Trust) -> tuple[str, str]:
    """(reason, fix) for a failed probe from ``node`` to ``peer``."""
    login = ctx.login_users.get(node, "the SSH user")
    user = ctx.migration_user(node)
    if trust.ssh_ok is False:
        error = trust.ssh_error or "ssh failed"
        lowered = error.lower()
        if "host key verification failed" in lowered or "host key for" in lowered:
            return error, (
                f"on {node}, as {login}: add {peer}'s host key as {peer} itself has it "
                f"(/etc/ssh/ssh_host_ed25519_key.pub on {peer}, copied over a trusted channel, "
                f"never fetched with ssh-keyscan) to ~/.ssh/known_hosts, as '{peer} <type> <key>'"
            )
        if "permission denied" in lowered:
            return error, (
                f"on {node}, as {login}: ssh-copy-id {user}@{peer} (puts {node}'s public key "
                f"into ~{user}/.ssh/authorized_keys on {peer})"
            )
        if "resolve" in lowered:
            return error, f"make {peer} resolvable on {node} (/etc/hosts or DNS)"
        if "refused" in lowered or "timed out" in lowered or "no route" in lowered:
            return error, f"start sshd on {peer} and let {node} reach its port 22"
        return error, f"on {node}, as {login}: run ssh -v {user}@{peer} true to see why"
    error = trust.libvirt_error or "failed"
    if trust.ssh_ok:
        return f"SSH works, libvirt over SSH does not: {error}", (
            f"make sure libvirtd runs on {peer} and that {user} may use qemu:///system there "
            "(root or the 'libvirt' group); virt-ssh-helper (libvirt-clients) must be installed"
        )
    return error, f"on {node}, as {login}: run virsh -c qemu+ssh://{user}@{peer}/system hostname"


def check_ssh_trust(ctx: Context) -> list[Finding]:
    found = []
    for node in ctx.order:
        trust = ctx.facts[node].trust
        if not trust:
            continue
        user = ctx.migration_user(node)
        for peer in [n for n in (t.name for t in ctx.targets) if n in trust]:
            result = trust[peer]
            item = f"{node} -> {peer}"
            if result.ok:
                peer_facts = ctx.facts.get(peer)
                expected = peer_facts.hostname if peer_facts else None
                if result.answered and expected and short(result.answered) != short(expected):
                    found.append(
                        Finding(
                            "ssh-trust",
                            ERROR,
                            f"qemu+ssh://{peer} from {node} reaches a host that calls itself "
                            f"'{result.answered}', not {peer} ('{expected}')",
                            f"on {node}: make '{peer}' resolve to {peer}'s address "
                            "(/etc/hosts or DNS)",
                            node=node,
                            item=item,
                            expected=expected,
                            actual=result.answered,
                        )
                    )
                continue
            reason, fix = _trust_fix(ctx, node, peer, result)
            found.append(
                Finding(
                    "ssh-trust",
                    ERROR,
                    f"{node} cannot reach {peer} as {user} without a prompt "
                    f"(qemu+ssh://{user}@{peer}/system): {reason}",
                    fix,
                    node=node,
                    item=item,
                )
            )
    return found


# ---------------------------------------------------------------- host


def check_cpu(ctx: Context) -> list[Finding]:
    cpus: dict[str, Cpu] = {n: f.cpu for n, f in ctx.facts.items() if f.cpu is not None}
    signatures = {n: cpu.signature for n, cpu in cpus.items()}
    ref, same, differ = outliers(ctx, signatures)
    if ref is None:
        return []
    ref_cpu = cpus[same[0]]
    found = []
    baseline = _baseline_fix(ctx.cpu_baseline)
    for node in differ:
        cpu = cpus[node]
        parts = []
        for label, mine, theirs in (
            ("architecture", cpu.arch, ref_cpu.arch),
            ("vendor", cpu.vendor, ref_cpu.vendor),
            ("model", cpu.model, ref_cpu.model),
        ):
            if mine != theirs:
                parts.append(f"{label} {_show(mine)} vs {_show(theirs)}")
        lacking = sorted(ref_cpu.features - cpu.features)
        extra = sorted(cpu.features - ref_cpu.features)
        if lacking:
            parts.append("lacks " + ", ".join(lacking))
        if extra:
            parts.append("has extra " + ", ".join(extra))
        found.append(
            Finding(
                "cpu",
                ERROR,
                f"host CPU of {node} differs from {nodes_text(same)}'s: {'; '.join(parts)}; "
                "guests with host-model or host-passthrough CPUs cannot live-migrate between them",
                baseline,
                node=node,
                item="host CPU",
                expected={
                    "model": ref_cpu.model,
                    "vendor": ref_cpu.vendor,
                    "baseline": ctx.cpu_baseline,
                },
                actual={"model": cpu.model, "vendor": cpu.vendor, "lacks": lacking},
            )
        )
    return found


def _baseline_fix(baseline: str | None) -> str:
    """The CPU to give guests, from virsh cpu-baseline's answer (if there is one)."""
    general = (
        "give guests a CPU every node runs (<cpu mode='custom' match='exact'>), not "
        "host-model or host-passthrough"
    )
    if not baseline:
        return general + ": virsh cpu-baseline over all nodes' host CPUs computes it"
    from havirt.tools.validate.facts import xml

    try:
        root = xml(baseline)
    except ValueError:
        return general
    model = root.findtext("model") or "?"
    features = len(root.findall("feature"))
    return (
        f"{general}: model '{model}' with the {features} features virsh cpu-baseline lists "
        "(the whole <cpu> element is 'baseline' in --json)"
    )


VERSION_ITEMS = (
    ("libvirt", "libvirt", "libvirt-daemon-system"),
    ("qemu", "QEMU", "qemu-system-x86"),
    ("pacemaker", "Pacemaker", "pacemaker"),
    ("corosync", "Corosync", "corosync"),
)


def check_versions(ctx: Context) -> list[Finding]:
    found = []
    for key, label, package in VERSION_ITEMS:
        values = {
            n: (f.versions or {}).get(key) for n, f in ctx.facts.items() if f.versions is not None
        }
        ref, same, differ = outliers(ctx, values)
        if ref is None:
            continue  # most nodes do not have it: nothing to agree on (yet)
        for node in differ:
            mine = values[node]
            if mine is None:
                message = f"{label} is not installed on {node}; {nodes_text(same)}: {ref}"
                fix = f"on {node}: apt-get install {package} (version {ref})"
            else:
                message = f"{label} {mine} on {node}; {nodes_text(same)}: {ref}"
                fix = (
                    f"upgrade or downgrade {package} on {node} to {ref} (a guest migrated from a "
                    "newer QEMU or libvirt to an older one can fail to start)"
                )
            found.append(
                Finding(
                    "versions",
                    ERROR,
                    message,
                    fix,
                    node=node,
                    item=label,
                    expected=ref,
                    actual=mine,
                )
            )
    return found


def check_host_uuid(ctx: Context) -> list[Finding]:
    owners: dict[str, list[str]] = {}
    for node in ctx.order:
        uuid = ctx.facts[node].host_uuid
        if uuid:
            owners.setdefault(uuid.lower(), []).append(node)
    found = []
    for uuid, nodes in owners.items():
        if len(nodes) < 2:
            continue
        keep = next((n for n in nodes if n != ctx.new_host), nodes[0])
        for node in [n for n in nodes if n != keep]:
            found.append(
                Finding(
                    "host-uuid",
                    ERROR,
                    f"{node} has the same host UUID as {keep} ({uuid}): libvirt refuses to "
                    "migrate between hosts it believes are the same",
                    f'on {node}: set host_uuid = "<output of uuidgen>" in '
                    "/etc/libvirt/libvirtd.conf and restart libvirtd (or fix a cloned "
                    "/etc/machine-id or SMBIOS UUID)",
                    node=node,
                    item="host UUID",
                    actual=uuid,
                )
            )
    return found


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def check_hostnames(ctx: Context) -> list[Finding]:
    found = []
    for node in ctx.order:
        target, hostname = ctx.target(node), ctx.facts[node].hostname
        if hostname and not target.name_is_address and short(hostname) != short(node):
            found.append(
                Finding(
                    "hostnames",
                    ERROR,
                    f"{node} calls itself '{hostname}'",
                    f"on {node}: hostnamectl set-hostname {node} (or name the node "
                    f"'{hostname}' here): Pacemaker node names and migration targets use it",
                    node=node,
                    item="hostname",
                    expected=node,
                    actual=hostname,
                )
            )
    names = [t.name for t in ctx.targets if not t.name_is_address]
    for name in names:
        values = {
            n: frozenset(f.resolution.get(name, ()))
            for n, f in ctx.facts.items()
            if f.resolution is not None
        }
        loop = {n for n, addrs in values.items() if any(_loopback(a) for a in addrs)}
        for node in [n for n in ctx.order if n in loop]:
            addrs = ", ".join(sorted(values[node]))
            found.append(
                Finding(
                    "hostnames",
                    ERROR,
                    f"{node} resolves {name} to a loopback address ({addrs})",
                    f"on {node}: map {name} to its cluster address in /etc/hosts (remove "
                    f"'127.0.1.1 {name}'): Corosync and migrations would use loopback",
                    node=node,
                    item=f"name {name}",
                    actual=sorted(values[node]),
                )
            )
        usable = {n: v for n, v in values.items() if n not in loop}
        ref, same, differ = outliers(ctx, usable)
        for node in differ:
            mine = sorted(usable[node])
            wanted = ", ".join(sorted(ref)) if ref else "nothing"
            if not mine:
                message = f"{node} cannot resolve {name}; {nodes_text(same)}: {wanted}"
            else:
                message = (
                    f"{node} resolves {name} to {', '.join(mine)}; {nodes_text(same)}: {wanted}"
                )
            found.append(
                Finding(
                    "hostnames",
                    ERROR,
                    message,
                    f"on {node}: make {name} resolve to {wanted} (/etc/hosts or DNS), as on "
                    "the other nodes",
                    node=node,
                    item=f"name {name}",
                    expected=sorted(ref) if ref else [],
                    actual=mine,
                )
            )
    return found


def check_clock(ctx: Context) -> list[Finding]:
    offsets = {n: f.clock_offset for n, f in ctx.facts.items() if f.clock_offset is not None}
    if len(offsets) < 2:
        return []
    import statistics  # only here: it is slow to import and --help imports this module

    voters = ctx.voters(list(offsets))
    middle = statistics.median(offsets[n] for n in voters)
    found = []
    for node in [n for n in ctx.order if n in offsets]:
        delta = offsets[node] - middle
        if abs(delta) <= ctx.options.max_clock_offset:
            continue
        uncertainty = ctx.facts[node].clock_uncertainty or 0.0
        found.append(
            Finding(
                "clock",
                ERROR,
                f"clock of {node} is {delta:+.2f} s (±{uncertainty:.2f} s) off the other nodes "
                f"(limit {ctx.options.max_clock_offset:g} s)",
                f"on {node}: enable time synchronisation (chrony or systemd-timesyncd) with the "
                "same NTP servers as the other nodes",
                node=node,
                item="clock",
                expected=0.0,
                actual=round(delta, 3),
            )
        )
    return found


def check_lock_manager(ctx: Context) -> list[Finding]:
    locks = {n: f.lock for n, f in ctx.facts.items() if f.lock is not None}
    if not locks:
        return []
    found = []
    managers = {n: lock.manager for n, lock in locks.items()}
    ref, same, differ = outliers(ctx, managers)
    for node in differ:
        if ref != "none":
            fix = (
                f'on {node}: set lock_manager = "{ref}" in /etc/libvirt/qemu.conf'
                + (" (and start virtlockd)" if ref == "lockd" else "")
                + ", then restart libvirtd; a guest's disks are only protected when every "
                "node uses the same lock manager"
            )
        else:
            fix = (
                f'use the same lock manager everywhere: set lock_manager = "{managers[node]}" '
                f"on the other nodes too, or remove it from {node}"
            )
        found.append(
            Finding(
                "lock-manager",
                ERROR,
                f"lock manager is '{managers[node]}' on {node}; {nodes_text(same)}: '{ref}'",
                fix,
                node=node,
                item="lock_manager",
                expected=ref,
                actual=managers[node],
            )
        )
    agreeing = list(same)
    settings = {n: dict(locks[n].settings) for n in agreeing}
    keys = sorted({k for s in settings.values() for k in s})
    conf = {"lockd": "qemu-lockd.conf", "sanlock": "qemu-sanlock.conf"}.get(str(ref), "")
    for key in keys:
        values = {n: settings[n].get(key) for n in agreeing}
        ref_value, holders, odd = outliers(ctx, values)
        for node in odd:
            found.append(
                Finding(
                    "lock-manager",
                    ERROR,
                    f"{key} is {_show(values[node])} on {node}; {nodes_text(holders)}: "
                    f"{_show(ref_value)}",
                    f"on {node}: set {key} = {ref_value} in /etc/libvirt/{conf} and restart "
                    "libvirtd",
                    node=node,
                    item=key,
                    expected=ref_value,
                    actual=values[node],
                )
            )
    if ref == "sanlock":
        seen: dict[str, str] = {}
        for node in agreeing:
            host_id = locks[node].host_id
            if host_id is None:
                continue
            if host_id in seen:
                found.append(
                    Finding(
                        "lock-manager",
                        ERROR,
                        f"sanlock host_id {host_id} on {node} is also {seen[host_id]}'s",
                        f"on {node}: give host_id in /etc/libvirt/qemu-sanlock.conf a number no "
                        "other node uses, then restart libvirtd",
                        node=node,
                        item="host_id",
                        actual=host_id,
                    )
                )
            seen.setdefault(host_id, node)
    if ref == "none" and not differ:
        found.append(
            Finding(
                "lock-manager",
                WARNING,
                "no node uses a lock manager: nothing in libvirt stops a guest's disks from "
                "being used on two nodes at once (Pacemaker and fencing are the only guard)",
                'on every node: set lock_manager = "lockd" in /etc/libvirt/qemu.conf, '
                "run virtlockd, restart libvirtd",
                node=ALL_NODES,
                item="lock_manager",
                actual="none",
            )
        )
    return found


def check_memory(ctx: Context) -> list[Finding]:
    memory = {n: f.memory for n, f in ctx.facts.items() if f.memory is not None}
    reserve = ctx.options.memory_reserve_mib * 1024
    found = []
    for node in [n for n in ctx.order if n in memory]:
        guests = memory[node].guests_kib
        need = memory[node].guests_total_kib
        if not guests:
            continue
        others = {n: max(0, m.available_kib - reserve) for n, m in memory.items() if n != node}
        if not others:
            found.append(
                Finding(
                    "memory",
                    WARNING,
                    f"{node} runs {len(guests)} guest(s) ({need // 1024} MiB) and no other "
                    "node could take them over",
                    "add a node to the cluster",
                    node=node,
                    item="N+1 memory",
                )
            )
            continue
        free = sum(others.values())
        biggest_name, biggest = max(guests, key=lambda g: g[1])
        if need > free:
            message = (
                f"if {node} fails, its running guests need {need // 1024} MiB but the other "
                f"nodes have {free // 1024} MiB available (after a {reserve // 1048576} GiB "
                "reserve each)"
                if reserve % 1048576 == 0
                else f"if {node} fails, its running guests need {need // 1024} MiB but the "
                f"other nodes have {free // 1024} MiB available"
            )
        elif biggest > max(others.values()):
            message = (
                f"if {node} fails, its guest {biggest_name} ({biggest // 1024} MiB) fits on "
                f"no other node (largest available: {max(others.values()) // 1024} MiB)"
            )
        else:
            continue
        found.append(
            Finding(
                "memory",
                ERROR,
                message,
                f"free memory on the other nodes, add a node, or run fewer or smaller guests "
                f"on {node}",
                node=node,
                item="N+1 memory",
                expected=need // 1024,
                actual=free // 1024,
            )
        )
    return found


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    compares: str  # what is compared, for --help and the docs
    run: Callable[[Context], list[Finding]] | None  # None: made by the engine (connect)


_RUN: dict[str, Callable[[Context], list[Finding]]] = {
    "networks": check_networks,
    "pools": check_pools,
    "ssh-trust": check_ssh_trust,
    "cpu": check_cpu,
    "versions": check_versions,
    "host-uuid": check_host_uuid,
    "hostnames": check_hostnames,
    "clock": check_clock,
    "lock-manager": check_lock_manager,
    "memory": check_memory,
}
CHECKS: tuple[Check, ...] = tuple(
    Check(info.id, info.title, info.compares, _RUN.get(info.id)) for info in CATALOG
)
