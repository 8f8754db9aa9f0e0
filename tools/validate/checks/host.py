"""The hosts themselves: CPUs a guest can migrate between, the same software
versions, distinct host UUIDs, clocks in step."""

from __future__ import annotations

from havirt.tools.findings import ERROR, Finding
from havirt.tools.validate.checks.context import Context, nodes_text, outliers, show
from havirt.tools.validate.facts import Cpu


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
                parts.append(f"{label} {show(mine)} vs {show(theirs)}")
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
