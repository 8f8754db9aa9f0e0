"""Collecting one node's facts over an open SSH session, in few round trips.

Each round trip is one POSIX ``sh`` script that runs several commands and frames
their output between lines carrying a random boundary, so that one SSH channel
returns many results (stdout, exit code, stderr of each). libvirt is asked in
``virsh`` batch mode (one process and one connection for many commands, each
answer again framed by ``echo`` lines):

1. facts: lists of networks, pools and guests, capabilities, the guest CPUs of each
   domain type (domcapabilities), hostname, versions, running guests' memory (one
   virsh), the bridges, the paths asked about (a new guest's disks), name resolution
   of every node, /proc/meminfo, the lock manager's configuration, Pacemaker and Corosync;
2. the XML of every network and pool, and of every persistent guest definition
   (one virsh);
2b. on a node with active iSCSI pools, the LUNs each pool sees (:mod:`.lun_probe`);
3. the clock (``date``, alone, so that the round trip bounds the offset);
4. SSH trust: ``virsh -c qemu+ssh://PEER/system hostname`` to every other node,
   a few at a time, and ``ssh -o BatchMode=yes PEER true`` when it fails, to
   tell an SSH problem from a libvirt one.

The framing of many results in one answer is :mod:`.framing`, the trust probe's
script and the reading of its answer :mod:`.trust_probe`, the parsing of each
command's output :mod:`.facts`. The session is the seam: anything with
``run(command, timeout) -> CommandResult`` (the SSH adapter, or a fake in tests).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate import facts as F
from havirt.tools.validate import lun_probe
from havirt.tools.validate.framing import (
    Section,
    answer,
    bounded,
    new_boundary,
    parse_sections,
    sections_script,
    sh_command,
    split_marked,
    virsh_batch,
    virsh_word,
)
from havirt.tools.validate.framing import Session as Session  # the seam, as it was defined here
from havirt.tools.validate.targets import Target
from havirt.tools.validate.trust_probe import (
    parse_trust,
    trust_peers,
    trust_script,
    trust_timeout,
)

T = TypeVar("T")
# Each node's own libvirt: what the probe asks, and the hypervisor of the guest resources
# `havirt domain add` creates (tools/domains/add.py).
LOCAL_URI = "qemu:///system"
CONF = {
    "qemu.conf": "/etc/libvirt/qemu.conf",
    "lockd.conf": "/etc/libvirt/qemu-lockd.conf",
    "sanlock.conf": "/etc/libvirt/qemu-sanlock.conf",
}
VIRSH_BATCH = (
    ("net-all", "net-list --all --name"),
    ("net-active", "net-list --name"),
    ("net-autostart", "net-list --all --autostart --name"),
    ("pool-all", "pool-list --all --name"),
    ("pool-active", "pool-list --name"),
    ("pool-autostart", "pool-list --all --autostart --name"),
    ("capabilities", "capabilities"),
    # The host's architecture; a type the node lacks (kvm without KVM) answers nothing.
    ("domcaps-kvm", "domcapabilities --virttype kvm"),
    ("domcaps-qemu", "domcapabilities --virttype qemu"),
    ("hostname", "hostname"),
    ("version", "version"),
    ("domstats", "domstats --balloon --list-active"),
    ("dom-persistent", "list --all --persistent --name"),
    ("dom-active", "list --uuid --name"),
)
# The network bridges of a node (for guests' <interface type='bridge'>).
BRIDGES = 'cd /sys/class/net && for n in *; do [ -d "$n/bridge" ] && echo "$n"; done; true'


def path_test(paths: Sequence[str]) -> str:
    """A snippet printing ``y PATH`` or ``n PATH`` for each path (does it exist?)."""
    words = " ".join(shlex.quote(p) for p in paths)
    return f'for p in {words}; do if [ -e "$p" ]; then echo "y $p"; else echo "n $p"; fi; done'


@dataclass
class ProbeOptions:
    """What to collect, and the limits."""

    trust: bool = True  # probe SSH trust to the other nodes
    migration_user: str | None = None  # user@ in the qemu+ssh:// URIs (None: the login user)
    command_timeout: float = 20.0  # each remote command
    paths: tuple[str, ...] = ()  # files and devices whose existence is asked (a guest's disks)
    # This machine's wall clock, against which each node's clock is compared (None:
    # time.time, looked up when used so that a test's fake is never bypassed).
    clock: Callable[[], float] | None = None


# ---------------------------------------------------------------- collecting


def libvirt_fix(target: Target) -> str:
    who = target.user or "the SSH user"
    return (
        f"make sure libvirtd runs on {target.name} and that {who} may use {LOCAL_URI} there "
        "(root, or a member of the 'libvirt' group)"
    )


class Collector:
    """Collects one node's facts through ``session``; never raises for a node's state."""

    def __init__(
        self,
        session: Session,
        target: Target,
        everyone: Sequence[Target],
        options: ProbeOptions,
        login_user: str | None,
    ) -> None:
        self.session = session
        self.target = target
        self.everyone = list(everyone)
        self.options = options
        self.login_user = login_user
        self.facts = F.NodeFacts(target.name)
        self.guests: tuple[tuple[str, int], ...] = ()  # running guests' memory, from virsh

    def problem(self, check: str, item: str, message: str, fix: str, severity: str = ERROR) -> None:
        self.facts.problems.append(Finding(check, severity, message, fix, item=item))

    def run_sections(self, sections: Sequence[tuple[str, str]]) -> dict[str, Section] | None:
        boundary = new_boundary()
        script = sections_script(boundary, sections)
        budget = self.options.command_timeout * 2 + 10  # sections run one after another
        result = self.session.run(sh_command(script), timeout=budget * max(1, len(sections)))
        found = parse_sections(boundary, result.stdout)
        if not found and not result.ok:
            return None
        return found

    def collect(self) -> F.NodeFacts:
        self.collect_facts()
        self.collect_luns()
        # Not first: a connection's first channel waits ~40 ms for sshd's post-login
        # messages to be acknowledged, which would widen the clock's round trip.
        self.collect_clock()
        if self.options.trust and len(self.everyone) > 1:
            self.collect_trust()
        return self.facts

    # -- clock

    def collect_clock(self) -> None:
        clock = self.options.clock or time.time
        before = clock()
        result = self.session.run("date +%s.%N", timeout=self.options.command_timeout)
        after = clock()
        try:
            remote = float(result.stdout.strip())
        except ValueError:
            self.problem(
                "clock",
                "clock",
                f"could not read the clock: {result.describe()}",
                f"check that 'date' works for the SSH user on {self.target.name}",
            )
            return
        self.facts.clock_offset = remote - (before + after) / 2
        self.facts.clock_uncertainty = (after - before) / 2

    # -- facts

    def collect_facts(self) -> None:
        boundary = new_boundary()
        batch = virsh_batch(boundary, VIRSH_BATCH)
        limit = self.options.command_timeout
        sections = [("virsh", bounded(f"virsh -c {LOCAL_URI} {shlex.quote(batch)}", limit))]
        named = [t.name for t in self.everyone if not t.name_is_address]
        if named:
            # One getent for all names, not one per name: n processes per node, not n².
            keys = " ".join(shlex.quote(k) for k in F.getent_keys(named))
            sections.append(("resolve", bounded(f"getent ahosts {keys}", limit)))
        sections.append(("meminfo", "cat /proc/meminfo"))
        sections.append(("bridges", BRIDGES))
        if self.options.paths:
            sections.append(("paths", path_test(self.options.paths)))
        for key, path in CONF.items():
            quoted = shlex.quote(path)
            # qemu.conf is root's alone (0600) on Debian: a non-root user may have sudo for it.
            fallback = f' || {{ [ "$(id -u)" -ne 0 ] && sudo -n cat {quoted}; }}'
            sections.append((key, f"cat {quoted}" + (fallback if key == "qemu.conf" else "")))
        sections.append(("pacemaker", "pacemakerd --version --output-as=xml"))
        sections.append(("corosync", "corosync -v"))
        found = self.run_sections(sections)
        if found is None:
            self.problem(
                "connect",
                "commands",
                "could not run commands over SSH",
                f"check that the SSH user may run a shell on {self.target.name}",
            )
            return
        self.parse_virsh(boundary, found.get("virsh"))
        self.parse_resolution(found.get("resolve"), named)
        self.parse_memory(found.get("meminfo"))
        self.parse_node_lists(found)
        self.parse_lock(found)
        self.parse_cluster_versions(found)

    def parse_virsh(self, boundary: str, section: Section | None) -> None:
        answers = split_marked(boundary, section.stdout) if section else {}
        if not answers.get("capabilities"):
            reason = section.error() if section else "no answer"
            for check, item in (
                ("networks", "libvirt networks"),
                ("pools", "storage pools"),
                ("host-uuid", "host UUID"),
                ("cpu", "host CPU"),
                ("versions", "libvirt/QEMU versions"),
                ("hostnames", "hostname"),
            ):
                self.problem(
                    check, item, f"libvirt did not answer: {reason}", libvirt_fix(self.target)
                )
            return
        facts = self.facts
        try:
            facts.host_uuid, facts.cpu = F.parse_capabilities(answers["capabilities"])
        except ValueError as exc:
            self.problem("cpu", "capabilities", f"unreadable capabilities: {exc}", "report a bug")
        facts.hostname = answers.get("hostname", "").strip() or None
        facts.versions = F.parse_virsh_version(answers.get("version", ""))
        self.guests = F.parse_domstats_balloon(answers.get("domstats", ""))
        facts.running = F.parse_uuid_names(answers.get("dom-active", ""))
        try:
            facts.guest_arches = F.parse_guest_arches(answers["capabilities"])
        except ValueError:
            pass  # reported above, as the host CPU's
        self.parse_guest_cpus(answers)
        self.collect_definitions(answers)

    def parse_guest_cpus(self, answers: dict[str, str]) -> None:
        """The guest CPUs each domain type gives (a type without an answer: none)."""
        cpus: dict[str, F.GuestCpus] = {}
        for kind in ("kvm", "qemu"):
            text = answers.get(f"domcaps-{kind}", "").strip()
            if not text:
                continue
            try:
                domain, found = F.parse_domcapabilities(text)
            except ValueError as exc:
                item = f"{kind} guest CPUs"
                self.problem(
                    "cpu", item, f"unreadable domcapabilities: {exc}", "report a bug", WARNING
                )
                continue
            cpus[domain or kind] = found
        self.facts.guest_cpus = cpus

    def collect_definitions(self, answers: dict[str, str]) -> None:
        """The XML of every network, pool and persistent guest (one virsh); networks
        and pools parsed, guests kept as text (the store judges them)."""
        listed = {verb: F.names(answers.get(f"{verb}-all", "")) for verb in ("net", "pool")}
        guests = F.names(answers.get("dom-persistent", ""))
        if not any(listed.values()) and not guests:
            self.facts.networks, self.facts.pools, self.facts.definitions = {}, {}, {}
            return
        boundary = new_boundary()
        commands = [
            (f"{verb}{i}", f"{verb}-dumpxml {virsh_word(name)}")
            for verb, names in listed.items()
            for i, name in enumerate(names)
        ]
        commands += [
            (f"dom{i}", f"dumpxml --inactive {virsh_word(name)}") for i, name in enumerate(guests)
        ]
        batch = virsh_batch(boundary, commands)
        virsh = f"virsh -c {LOCAL_URI} {shlex.quote(batch)}"
        found = self.run_sections([("dump", bounded(virsh, self.options.command_timeout))])
        section = (found or {}).get("dump")
        dumps = split_marked(boundary, section.stdout) if section else {}
        self.facts.networks = self.parse_each(
            "networks", "network", "net", listed["net"], answers, dumps, F.parse_network
        )
        self.facts.pools = self.parse_each(
            "pools", "pool", "pool", listed["pool"], answers, dumps, F.parse_pool
        )
        self.facts.definitions = {}
        for i, name in enumerate(guests):
            text = dumps.get(f"dom{i}", "").strip()
            if text:
                self.facts.definitions[name] = text
            else:
                self.problem(
                    "definitions",
                    f"guest '{name}'",
                    "could not read its persistent definition (virsh dumpxml --inactive)",
                    libvirt_fix(self.target),
                )

    def parse_each(
        self,
        check: str,
        kind: str,
        verb: str,
        names: list[str],
        answers: dict[str, str],
        dumps: dict[str, str],
        parse: Callable[[str, bool, bool], T],
    ) -> dict[str, T]:
        """Parse each object's XML (``dumps``, by ``VERBi``), whether it is active and
        autostarted (``answers`` of ``VERB-list``); an unreadable one is a problem, not a
        crash."""
        active = set(F.names(answers.get(f"{verb}-active", "")))
        autostart = set(F.names(answers.get(f"{verb}-autostart", "")))
        parsed: dict[str, T] = {}
        for i, name in enumerate(names):
            try:
                parsed[name] = parse(dumps.get(f"{verb}{i}", ""), name in active, name in autostart)
            except ValueError as exc:
                self.problem(
                    check,
                    f"{kind} '{name}'",
                    f"could not read its XML: {exc}",
                    libvirt_fix(self.target),
                )
        return parsed

    def parse_resolution(self, section: Section | None, named: list[str]) -> None:
        if not named:
            self.facts.resolution = {}
            return
        try:
            getent = answer(section, (0, 2))  # 2: some name not found
            self.facts.resolution = F.parse_getent_keys(getent.stdout, named)
        except ValueError as exc:
            self.problem(
                "hostnames",
                "name resolution",
                f"could not resolve the node names: {exc}",
                f"check that 'getent ahosts {named[0]}' answers on {self.target.name}",
            )

    def parse_node_lists(self, found: dict[str, Section]) -> None:
        """The node's bridges, and which asked-for paths exist (none: not asked)."""
        bridges = found.get("bridges")
        if bridges is not None and bridges.ok:
            self.facts.bridges = frozenset(F.names(bridges.stdout))
        paths = found.get("paths")
        if paths is not None and paths.ok:
            self.facts.paths = F.parse_present(paths.stdout)

    def parse_memory(self, section: Section | None) -> None:
        try:
            total, available = F.parse_meminfo(answer(section).stdout)
        except ValueError as exc:
            self.facts.memory = None
            self.problem(
                "memory",
                "memory",
                f"could not read /proc/meminfo: {exc}",
                f"check /proc on {self.target.name}",
            )
            return
        self.facts.memory = F.Memory(total, available, self.guests)

    def parse_lock(self, found: dict[str, Section]) -> None:
        qemu = found.get("qemu.conf")
        if qemu is None or not qemu.ok:
            reason = qemu.error() if qemu else "no answer"
            denied = qemu is not None and "denied" in qemu.stderr.lower()
            who = self.login_user or "the SSH user"
            fix = (
                f"run validate as root, or let {who} read {CONF['qemu.conf']} on "
                f"{self.target.name} (e.g. sudo rule for 'cat {CONF['qemu.conf']}')"
                if denied
                else f"check that libvirt's QEMU driver is installed on {self.target.name}"
            )
            self.problem(
                "lock-manager",
                "qemu.conf",
                f"could not read {CONF['qemu.conf']}: {reason}",
                fix,
                severity=WARNING if denied else ERROR,
            )
            return
        manager = F.parse_libvirt_conf(qemu.stdout).get("lock_manager", "") or "none"
        driver = found.get(f"{manager}.conf")
        self.facts.lock = F.lock_config(qemu.stdout, driver.stdout if driver else None)

    def parse_cluster_versions(self, found: dict[str, Section]) -> None:
        versions = dict(self.facts.versions or {})
        for key, parse in (
            ("pacemaker", F.parse_pacemaker_version),
            ("corosync", F.parse_corosync_version),
        ):
            section = found.get(key)
            if section is None or section.rc == 127:
                versions[key] = None  # not installed
                continue
            versions[key] = parse(section.stdout) or parse(section.stderr) or "unknown"
        self.facts.versions = versions

    # -- iSCSI LUNs

    def collect_luns(self) -> None:
        """The data LUNs of each active iSCSI pool (one more round trip, only on a node
        that has such pools)."""
        if self.facts.pools is None:
            return  # unread: said already
        pools = lun_probe.iscsi_pools(self.facts.pools)
        answers = lun_probe.read_luns(self.session, pools, self.options.command_timeout)
        self.facts.luns = {}
        for name, luns in answers.items():
            if isinstance(luns, str):
                self.problem(
                    "luns",
                    f"pool '{name}'",
                    f"could not list the LUNs of pool {name}: {luns}",
                    f"on {self.target.name}: virsh pool-refresh {name}, and check that the "
                    "target admits the pool's initiator IQN",
                )
            else:
                self.facts.luns[name] = luns

    # -- SSH trust

    def collect_trust(self) -> None:
        peers = trust_peers(self.everyone, self.target.name)
        boundary = new_boundary()
        timeout = self.options.command_timeout
        script = trust_script(boundary, peers, self.options.migration_user, timeout)
        result = self.session.run(sh_command(script), timeout=trust_timeout(peers, timeout))
        self.facts.trust = parse_trust(boundary, peers, result)


def cpu_baseline(session: Session, cpu_xmls: Sequence[str], timeout: float) -> str | None:
    """A <cpu> every one of these host CPUs runs (``virsh cpu-baseline``), or None."""
    end = new_boundary()  # the here-document's delimiter; quoted, so nothing is expanded
    document = "\n".join(cpu_xmls)  # virsh's format: <cpu> elements one after another
    script = f"virsh -c {LOCAL_URI} cpu-baseline /dev/stdin <<'{end}'\n{document}\n{end}\n"
    result = session.run(sh_command("LC_ALL=C; export LC_ALL\n" + script), timeout=timeout)
    text = result.stdout.strip()
    return text if result.ok and text.startswith("<cpu") else None
